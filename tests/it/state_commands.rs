//! The state's place and the state commands on local state (issue 22): a stage or key that
//! is a path is refused before any call; `apply --json` / `destroy --json` end every failure
//! with an `error` and a `summary` event; the local lock's message; `state list` sorted,
//! `state pull` of a stack never applied, `state push` of a file that is not a state; the
//! state directory and backend settings from the environment.

use std::path::Path;

use serde_json::Value as Json;

use crate::common::{Workspace, assert_exit, repo, stderr, stdout, strata};
use crate::observability::events;

/// A copy of the storage stack (no `[backend]`) in `dir`, with `edit` applied to its text.
fn storage_copy(dir: &Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(repo().join("tests/stacks/storage.toml")).unwrap();
    let file = dir.join("storage.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file.display().to_string()
}

/// The 1-based number of the line of `file` that contains `text`.
fn line_of(file: &str, text: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(text))
        .unwrap()
        + 1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_or_state_key_that_is_a_path_is_refused_before_any_call() {
    let ws = Workspace::new();
    let proxy = ws.proxy(&[]);
    let d = ws.dir();
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    let stack = storage_copy(&work, |t| t);
    let refused = |args: &[&str], expected: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &proxy.url]);
        let out = strata(&work, &full);
        assert_exit(&out, 1);
        let err = stderr(&out);
        for e in expected {
            assert!(err.contains(e), "{args:?}: expected {e:?} in\n{err}");
        }
    };
    refused(
        &[
            "apply",
            &stack,
            "--auto-approve",
            "--var",
            "stage=../../../x",
        ],
        &[
            "invalid stage `../../../x`: it contains a path separator",
            "the value was set with --var stage=../../../x",
        ],
    );
    refused(
        &["plan", &stack, "--var", "stage=a/b"],
        &["invalid stage `a/b`: it contains a path separator"],
    );
    refused(
        &["destroy", &stack, "--auto-approve", "--var", "stage=.."],
        &["invalid stage `..`: it contains `..`"],
    );
    refused(
        &["state", "list", &stack, "--var", "stage=a\\b"],
        &["invalid stage `a\\b`: it contains a path separator"],
    );
    // A stage written in the stack file: the error points at it, file:line.
    let in_file = storage_copy(&work, |t| {
        t.replace("default = \"dev\"", "default = \"team/dev\"")
    });
    let line = line_of(&in_file, "default = \"team/dev\"");
    refused(
        &["plan", &in_file],
        &[
            "invalid stage `team/dev`: it contains a path separator",
            &format!("storage.toml:{line}:"),
        ],
    );
    // A state key with `..` in it, in the stack file or given on the command line.
    let with_key = storage_copy(&work, |t| {
        format!(
            "{t}\n[backend]\ns3 = {{ bucket = \"team-state\", key = \"stacks/../../x.json\" }}\n"
        )
    });
    let line = line_of(&with_key, "stacks/../../x.json");
    refused(
        &["plan", &with_key],
        &[
            "invalid state key `stacks/../../x.json`",
            "the key's parts between `/` must be names, not empty, `.` or `..`",
            &format!("storage.toml:{line}:"),
        ],
    );
    let stack = storage_copy(&work, |t| t);
    refused(
        &[
            "plan",
            &stack,
            "--backend-config",
            "bucket=team-state,key=../x.json",
        ],
        &["invalid state key `../x.json`: the key's parts between `/` must be names"],
    );
    assert_eq!(proxy.stats()["total"], 0, "{}", proxy.stats());
    // Nothing was written anywhere: not in the state directory, not above it.
    let mut written: Vec<String> = crate::common::files_under(d)
        .iter()
        .map(|p| p.strip_prefix(d).unwrap().display().to_string())
        .collect();
    written.sort();
    assert_eq!(written, ["work/storage.toml"]);
}

/// Holds the local lock of `storage` (stage dev) in `dir` from this process, as a running
/// apply would, recording this process as the holder.
fn hold_local_lock(dir: &Path) -> std::fs::File {
    let state_dir = dir.join(".strata");
    std::fs::create_dir_all(&state_dir).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(state_dir.join("storage-dev.state.lock"))
        .unwrap();
    file.try_lock().unwrap();
    let info = serde_json::json!({
        "id": "lock-held-by-the-test", "operation": "apply", "who": "tester@here",
        "pid": std::process::id(), "created": 1_700_000_000u64
    });
    std::fs::write(state_dir.join("storage-dev.state.lock"), info.to_string()).unwrap();
    file
}

/// Runs `strata COMMAND --json` and checks that the stream is exactly an `error` event whose
/// message contains `expected`, then a `summary` with `exit_code`.
fn ends_with_error_and_summary(ws: &Workspace, args: &[&str], expected: &str, exit_code: i32) {
    let out = ws.run(args);
    assert_exit(&out, exit_code);
    let events = events(&out);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["error", "summary"], "{args:?}: {events:?}");
    assert_eq!(events[0]["operation"], args[0]);
    let message = events[0]["message"].as_str().unwrap();
    assert!(message.contains(expected), "{args:?}: {message}");
    assert_eq!(events[1]["operation"], args[0]);
    assert_eq!(events[1]["success"], false);
    assert_eq!(events[1]["exit_code"], exit_code);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_and_destroy_json_end_every_early_failure_with_an_error_and_a_summary() {
    let ws = Workspace::new();
    let d = ws.dir();
    let stack = storage_copy(d, |t| t);

    // A stack that does not validate.
    let broken = d.join("broken.toml");
    std::fs::write(&broken, "[stack]\nname = \"storage\"\ncolour = \"red\"\n").unwrap();
    let broken = broken.display().to_string();
    ends_with_error_and_summary(
        &ws,
        &["apply", &broken, "--auto-approve", "--json"],
        "unknown key `colour` in `[stack]`",
        1,
    );
    // --json with nobody to answer the confirmation.
    ends_with_error_and_summary(
        &ws,
        &["destroy", &stack, "--json"],
        "destroy --json cannot ask for confirmation: pass --auto-approve",
        2,
    );

    // The lock held by another run; its message says that run is alive and how it ends.
    let held = hold_local_lock(d);
    for command in ["apply", "destroy"] {
        ends_with_error_and_summary(
            &ws,
            &[command, &stack, "--auto-approve", "--json"],
            &format!(
                "the state is locked by tester@here (pid {}) for `apply`",
                std::process::id()
            ),
            1,
        );
    }
    let out = ws.run(&["apply", &stack, "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "That process is running: wait for it to finish, or stop it (kill {pid}). A local lock is released the moment its process exits, so it never needs `strata force-unlock {stack} lock-held-by-the-test`",
            pid = std::process::id()
        )),
        "{}",
        stderr(&out)
    );
    drop(held);

    // A state that cannot be read.
    let state_file = d.join(".strata/storage-dev.state.json");
    std::fs::write(&state_file, "{\"version\": 1, \"serial\": ").unwrap();
    ends_with_error_and_summary(
        &ws,
        &["apply", &stack, "--auto-approve", "--json"],
        "state file .strata/storage-dev.state.json is corrupted",
        1,
    );
    // A state of another account.
    let other = serde_json::json!({
        "version": 1, "serial": 3, "lineage": "l-1", "stack": "storage", "stage": "dev",
        "placement": { "account_id": "111111111111", "region": "us-east-1", "partition": "aws" },
        "resources": {}, "outputs": {}
    });
    std::fs::write(&state_file, other.to_string()).unwrap();
    ends_with_error_and_summary(
        &ws,
        &["destroy", &stack, "--auto-approve", "--json"],
        "belongs to account 111111111111 in us-east-1, but the credentials and region in use are for account 000000000000",
        1,
    );
}

#[test]
fn state_list_is_sorted_pull_of_a_new_stack_prints_nothing_and_push_names_a_non_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stack = storage_copy(d, |t| t);

    // Never applied: nothing on stdout, every time, and stderr says why.
    for _ in 0..2 {
        let out = strata(d, &["state", "pull", &stack]);
        assert_exit(&out, 0);
        assert_eq!(stdout(&out), "");
        assert_eq!(
            stderr(&out),
            "No state: stack `storage` (stage `dev`) has never been applied with the state at .strata/storage-dev.state.json.\n"
        );
    }
    assert!(!d.join(".strata").exists());

    // Recorded in another order than the addresses sort in.
    let resource = |ty: &str, id: &str| serde_json::json!({ "type": ty, "id": id, "attributes": {}, "dependencies": [] });
    let state = serde_json::json!({
        "version": 1, "serial": 4, "lineage": "l-1", "stack": "storage", "stage": "dev",
        "resources": {
            "zeta": resource("sqs.queue", "https://q/zeta"),
            "content": resource("s3.bucket", "content"),
            "alpha": resource("sqs.queue", "https://q/alpha"),
            "content_policy": resource("s3.bucket_policy", "content"),
        },
        "outputs": {}
    });
    std::fs::create_dir_all(d.join(".strata")).unwrap();
    std::fs::write(d.join(".strata/storage-dev.state.json"), state.to_string()).unwrap();
    let out = strata(d, &["state", "list", &stack]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "s3.bucket.content\tcontent\ns3.bucket_policy.content_policy\tcontent\nsqs.queue.alpha\thttps://q/alpha\nsqs.queue.zeta\thttps://q/zeta\n"
    );

    // Files that are not states: said so, with what is wrong, not "corrupted".
    let json = d.join("queues.json");
    std::fs::write(&json, "{\"queues\": []}").unwrap();
    let out = strata(d, &["state", "push", &stack, &json.display().to_string()]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} is not a strata state: it is JSON, but not in the state format (missing field `version` at line 1 column 14); nothing was written\n",
            json.display()
        )
    );
    let html = d.join("page.html");
    std::fs::write(&html, "<html></html>").unwrap();
    let out = strata(d, &["state", "push", &stack, &html.display().to_string()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not a strata state: it is not JSON (expected value"),
        "{}",
        stderr(&out)
    );
    let unchanged: Json = serde_json::from_str(
        &std::fs::read_to_string(d.join(".strata/storage-dev.state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(unchanged, state);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_directory_and_backend_settings_come_from_the_environment_unless_a_flag_says_otherwise()
 {
    const BUCKET: &str = "env-state";
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    ws.ok(&["bootstrap", BUCKET]);
    let stack = storage_copy(d, |t| t);
    let states = d.join("states");
    let with_env = |vars: &[(&str, &str)], args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &ws.emulator().endpoint]);
        ws.offline(&full)
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    };
    let state_dir = states.display().to_string();
    let in_dir = [("STRATA_STATE_DIR", state_dir.as_str())];

    // STRATA_STATE_DIR: the state goes there, and is read from there.
    let out = with_env(&in_dir, &["apply", &stack, "--auto-approve"]);
    assert_exit(&out, 0);
    let written: Json = serde_json::from_str(
        &std::fs::read_to_string(states.join("storage-dev.state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["resources"].as_object().unwrap().len(), 8);
    assert!(!d.join(".strata").exists());
    assert_exit(
        &with_env(&in_dir, &["plan", &stack, "--detailed-exitcode"]),
        0,
    );
    // --state-dir wins over the environment: an empty directory plans every create.
    let out = with_env(
        &in_dir,
        &[
            "plan",
            &stack,
            "--detailed-exitcode",
            "--state-dir",
            "elsewhere",
        ],
    );
    assert_exit(&out, 2);
    assert!(stdout(&out).contains("Plan: 8 to add"), "{}", stdout(&out));

    // STRATA_BACKEND_CONFIG: the state moves to that key and is read from there.
    let to_env_key = format!("bucket={BUCKET},key=env/storage.json");
    let in_s3 = [
        ("STRATA_STATE_DIR", state_dir.as_str()),
        ("STRATA_BACKEND_CONFIG", to_env_key.as_str()),
    ];
    assert_exit(&with_env(&in_s3, &["state", "migrate", &stack]), 0);
    let object = clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key("env/storage.json")
        .send()
        .await
        .unwrap();
    let remote: Json =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(remote["lineage"], written["lineage"]);
    assert_exit(
        &with_env(&in_s3, &["plan", &stack, "--detailed-exitcode"]),
        0,
    );
    // --backend-config wins over the environment: another key, with no state yet.
    let out = with_env(
        &in_s3,
        &[
            "state",
            "pull",
            &stack,
            "--backend-config",
            &format!("bucket={BUCKET},key=flag/storage.json"),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(&format!("at s3://{BUCKET}/flag/storage.json")),
        "{}",
        stderr(&out)
    );
    // A malformed setting in the environment is refused, by the commands that read it
    // themselves (`send`) as by the others, never ignored.
    let payload = d.join("payload.txt");
    std::fs::write(&payload, "x").unwrap();
    for args in [
        vec!["plan", stack.as_str()],
        vec!["send", payload.to_str().unwrap(), "--stack", stack.as_str()],
    ] {
        let out = ws
            .offline(&args)
            .env("STRATA_BACKEND_CONFIG", "bucket")
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&out).contains("`bucket` is not NAME=VALUE"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // And `local` wins too: the local side only holds the marker of the move.
    let out = with_env(&in_s3, &["plan", &stack, "--backend-config", "local"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("moved it to s3://{BUCKET}/env/storage.json")),
        "{}",
        stderr(&out)
    );
}
