//! State in S3 (issue 14): two working copies share one state object; the lock object
//! keeps their runs apart and survives a kill -9 until force-unlock; a writer with a stale
//! ETag is refused; bad buckets, keys and lock objects are clear errors; `bootstrap` makes a
//! safe bucket; the `state` commands round-trip through S3 and the local directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use strata::state::s3::S3Store;
use strata::state::store::{StateStore, save};
use strata::state::{State, StateError};

use crate::common::{Proxy, Workspace, assert_exit, repo, stderr, stdout};

const BUCKET: &str = "team-state";
const KEY: &str = "stacks/storage-dev.json";

/// A working copy: the storage stack with an S3 backend, in its own directory.
fn working_copy(dir: &Path, bucket: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("tests/stacks/storage.toml")).unwrap();
    let file = dir.join("storage.toml");
    std::fs::write(
        &file,
        format!(
            "{text}\n[backend]\ns3 = {{ bucket = \"{bucket}\", key = \"stacks/${{stack.name}}-${{var.stage}}.json\" }}\n"
        ),
    )
    .unwrap();
    file
}

fn bootstrap(ws: &Workspace, bucket: &str) {
    ws.ok(&["bootstrap", bucket]);
}

async fn object(clients: &strata::aws::Clients, key: &str) -> Option<Vec<u8>> {
    let out = clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

async fn remote_state(clients: &strata::aws::Clients) -> Json {
    serde_json::from_slice(&object(clients, KEY).await.expect("a state object")).unwrap()
}

async fn put(clients: &strata::aws::Clients, key: &str, body: &str) {
    clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

/// How many versions of the state object the bucket holds.
async fn state_versions(clients: &strata::aws::Clients) -> usize {
    let out = clients
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .prefix(KEY)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(KEY))
        .count()
}

/// The keys of the journal's objects.
async fn journal(clients: &strata::aws::Clients) -> Vec<String> {
    let out = clients
        .s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{KEY}.journal/"))
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_working_copies_share_one_s3_state_and_the_second_plans_no_change() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let (a, b) = (&ws, ws.beside());
    bootstrap(a, BUCKET);
    let stack_a = working_copy(a.dir(), BUCKET);
    let stack_b = working_copy(b.dir(), BUCKET);

    let _out = a.ok(&["apply", &s(&stack_a), "--auto-approve"]);
    assert!(
        !a.dir().join(".strata/storage-dev.state.json").exists(),
        "with an S3 backend no local state file is written"
    );
    let state = remote_state(&clients).await;
    assert_eq!(state["resources"].as_object().unwrap().len(), 8);
    assert!(
        object(&clients, &format!("{KEY}.lock")).await.is_none(),
        "the lock object is deleted when the apply ends"
    );

    let out = b.ok(&["plan", &s(&stack_b), "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));

    // Outputs come from the shared state too.
    let out = b.ok(&["output", &s(&stack_b), "queue_url"]);
    assert!(
        stdout(&out).contains("storage-dev-content"),
        "{}",
        stdout(&out)
    );

    // History: one row per version of the state object (the journal's objects are not
    // state versions), newest first, with serial and writer.
    let out = b.ok(&["state", "history", &s(&stack_b)]);
    let text = stdout(&out);
    let serial = state["serial"].as_u64().unwrap();
    let first_row = text.lines().nth(1).unwrap();
    assert!(
        first_row.starts_with(&format!("{serial}\t")) && first_row.ends_with("(current)"),
        "{text}"
    );
    assert_eq!(
        text.lines().count(),
        1 + state_versions(&clients).await,
        "{text}"
    );
    assert_eq!(
        journal(&clients).await,
        Vec::<String>::new(),
        "the last whole write deleted the journal records it covers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_applies_from_two_copies_one_runs_the_other_names_the_holder() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let (a, b) = (&ws, ws.beside());
    bootstrap(a, BUCKET);
    let stack_a = working_copy(a.dir(), BUCKET);
    let stack_b = working_copy(b.dir(), BUCKET);
    // Every call of the first apply is held 300 ms: it holds the lock for seconds.
    let slow = ws.proxy(&["--latency-ms", "300"]);
    let counted = ws.proxy(&[]);
    let apply = |ws: &Workspace, stack: &Path, proxy: &Proxy| {
        ws.through(proxy)
            .command(&["apply", &s(stack), "--auto-approve"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = apply(a, &stack_a, &slow);
    // Its first call creates the lock object; wait until it exists.
    let start = Instant::now();
    while object(&clients, &format!("{KEY}.lock")).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = apply(&b, &stack_b, &counted).wait_with_output().unwrap();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first apply ended before the second did: they did not overlap"
    );
    let first_pid = first.id();
    let first = first.wait_with_output().unwrap();
    assert_exit(&first, 0);
    assert_exit(&second, 1);
    let err = stderr(&second);
    assert!(err.contains("the state is locked by"), "{err}");
    assert!(err.contains(&format!("(pid {first_pid})")), "{err}");
    assert!(err.contains("for `apply`"), "{err}");
    // The refused apply made one call, the lock's PutObject, and a GetObject to say who
    // holds it: nothing else.
    let stats = counted.stats();
    assert_eq!(
        stats["by_operation"],
        serde_json::json!({ "s3:PutObject": 1, "s3:GetObject": 1 }),
        "{stats}"
    );
    assert_eq!(
        remote_state(&clients).await["resources"]
            .as_object()
            .unwrap()
            .len(),
        8
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_kill_9_is_reported_with_holder_and_age_and_force_unlock_clears_it() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let (a, b) = (&ws, ws.beside());
    bootstrap(a, BUCKET);
    let stack_a = working_copy(a.dir(), BUCKET);
    let stack_b = working_copy(b.dir(), BUCKET);
    let slow = ws.proxy(&["--latency-ms", "300"]);
    let mut holder = a
        .through(&slow)
        .command(&["apply", &s(&stack_a), "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock_key = format!("{KEY}.lock");
    let start = Instant::now();
    while object(&clients, &lock_key).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder_pid = holder.id();
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let lock: Json = serde_json::from_slice(&object(&clients, &lock_key).await.unwrap()).unwrap();
    assert_eq!(lock["pid"], holder_pid);
    assert_eq!(lock["operation"], "apply");
    let id = lock["id"].as_str().unwrap().to_string();

    let out = b.run(&["apply", &s(&stack_b), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("(pid {holder_pid})")), "{err}");
    assert!(err.contains(&format!("lock id {id}")), "{err}");
    assert!(err.contains("s ago"), "the age is shown: {err}");
    // The holder ran on this host and is gone: the message says so, and how to remove it.
    assert!(
        err.contains(&format!(
            "but no process {holder_pid} runs on this host any more: that run was killed or crashed and left its lock. Remove the lock with `strata force-unlock {} {id}`",
            s(&stack_b)
        )),
        "{err}"
    );
    assert!(!err.contains("stop that process"), "{err}");

    // With --json the refusal is an `error` event, then the `summary`: nothing else.
    let out = b.run(&["destroy", &s(&stack_b), "--auto-approve", "--json"]);
    assert_exit(&out, 1);
    let events = crate::observability::events(&out);
    assert_eq!(
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["error", "summary"],
        "{events:?}"
    );
    assert_eq!(events[0]["operation"], "destroy");
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("lock id {id}")),
        "{events:?}"
    );
    assert_eq!(
        (&events[1]["success"], &events[1]["exit_code"]),
        (&Json::Bool(false), &Json::from(1))
    );

    // A holder on another host may still run: the message says both what to wait for and
    // how to remove a lock whose holder is gone.
    let mut elsewhere = lock.clone();
    elsewhere["who"] = "bob@build-7".into();
    put(&clients, &lock_key, &elsewhere.to_string()).await;
    let out = b.run(&["apply", &s(&stack_b), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the state is locked by bob@build-7 (pid {holder_pid}) for `apply`"
        )) && err.contains(&format!(
            "If that run is still going, wait for it to finish. If it is not (it was killed, crashed, or its machine is gone), its lock stays until you remove it with `strata force-unlock {} {id}`",
            s(&stack_b)
        )),
        "{err}"
    );

    let out = b.run(&["force-unlock", &s(&stack_b), "not-the-id"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("no lock with id not-the-id"),
        "{}",
        stderr(&out)
    );
    assert!(
        object(&clients, &lock_key).await.is_some(),
        "a wrong id removes nothing"
    );

    let out = b.ok(&["force-unlock", &s(&stack_b), &id]);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));
    assert!(object(&clients, &lock_key).await.is_none());

    let _out = b.ok(&["apply", &s(&stack_b), "--auto-approve"]);
    assert_eq!(
        remote_state(&clients).await["resources"]
            .as_object()
            .unwrap()
            .len(),
        8
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_with_a_stale_etag_is_refused_even_without_the_lock() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    bootstrap(&ws, BUCKET);
    let store =
        |c: &strata::aws::Clients| S3Store::new(c.s3.clone(), BUCKET, KEY, "storage", "dev");
    let (first, second) = (store(&clients), store(&clients));
    let mut mine = first.read().await.unwrap();
    save(&first, &mut mine).await.unwrap();
    // The second copy reads serial 1, then the first writes serial 2 behind its back.
    let mut stale = second.read().await.unwrap();
    assert_eq!(stale.serial, 1);
    save(&first, &mut mine).await.unwrap();
    stale.outputs.insert(
        "x".into(),
        strata::state::OutputState {
            value: "lost".into(),
            sensitive: false,
        },
    );
    let err = save(&second, &mut stale).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let stored = remote_state(&clients).await;
    assert_eq!(stored["serial"], 2);
    assert!(
        stored["outputs"].get("x").is_none(),
        "nothing of the stale write is stored"
    );

    // A copy that expects no state yet, where another one wrote it, is refused too.
    let fresh = S3Store::new(clients.s3.clone(), BUCKET, KEY, "storage", "dev");
    let err = fresh
        .write(&State::new("storage", "dev"), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::Conflict { found: 2, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_buckets_keys_and_lock_objects_are_clear_errors_and_nothing_is_written() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();

    // No such bucket.
    let stack = working_copy(d, "no-such-state-bucket");
    let out = ws.run(&["apply", &s(&stack), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the state bucket `no-such-state-bucket` does not exist")
            && err.contains("strata bootstrap no-such-state-bucket"),
        "{err}"
    );
    assert!(!d.join(".strata").exists(), "nothing written locally");

    bootstrap(&ws, BUCKET);
    let stack = working_copy(d, BUCKET);

    // A key that holds something that is not a state.
    put(&clients, KEY, "<html>not a state</html>").await;
    let out = ws.run(&["apply", &s(&stack), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("state file s3://{BUCKET}/{KEY} is corrupted")),
        "{err}"
    );
    assert_eq!(
        object(&clients, KEY).await.unwrap(),
        b"<html>not a state</html>"
    );
    assert!(
        object(&clients, &format!("{KEY}.lock")).await.is_none(),
        "lock released"
    );
    clients
        .s3
        .delete_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .unwrap();

    // A lock object with garbage in it.
    put(&clients, &format!("{KEY}.lock"), "garbage").await;
    let out = ws.run(&["apply", &s(&stack), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the lock object s3://{BUCKET}/{KEY}.lock is not a strata lock"
        )),
        "{err}"
    );
    assert!(object(&clients, KEY).await.is_none(), "no state written");

    // Invalid backend settings are diagnostics, before any AWS call.
    let text = std::fs::read_to_string(&stack).unwrap().replace(
        "key = \"stacks/${stack.name}-${var.stage}.json\"",
        "key = \"stacks/${aws.region}.json\", colour = \"red\"",
    );
    std::fs::write(&stack, text).unwrap();
    let out = ws.run(&["plan", &s(&stack)]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `colour` in `backend.s3`"),
        "{err}"
    );
    assert!(
        err.contains("`${aws.region}` cannot be used in a state key"),
        "{err}"
    );

    // A bad --backend-config.
    let out = ws.run(&["plan", &s(&stack), "--backend-config", "bucket"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("`bucket` is not NAME=VALUE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_creates_a_safe_bucket_and_a_second_run_changes_nothing() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let _out = ws.ok(&["bootstrap", BUCKET, "--expire-versions-after-days", "30"]);
    let s3 = &clients.s3;
    let versioning = s3
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let sse = s3
        .get_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let rule = &sse.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let policy = s3.get_bucket_policy().bucket(BUCKET).send().await.unwrap();
    let policy: Json = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(
        statement["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let rule = &lifecycle.rules()[0];
    assert_eq!(rule.id(), Some(strata::state::bootstrap::LIFECYCLE_RULE_ID));
    assert_eq!(
        rule.noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(30)
    );

    // Again on the finished bucket: it reads every setting and writes none.
    let proxy = ws.proxy(&[]);
    let out = ws
        .through(&proxy)
        .ok(&["bootstrap", BUCKET, "--expire-versions-after-days", "30"]);
    assert!(
        stdout(&out).contains(&format!("The bucket `{BUCKET}` is already a state bucket"))
            && stdout(&out).contains("nothing to do"),
        "{}",
        stdout(&out)
    );
    let stats = proxy.stats();
    let writes: Vec<&String> = stats["by_operation"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| {
            k.starts_with("s3:PUT") || k.starts_with("s3:POST") || k.starts_with("s3:DELETE")
        })
        .collect();
    assert_eq!(writes, Vec::<&String>::new(), "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_commands_round_trip_through_s3_and_the_local_directory() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    bootstrap(&ws, BUCKET);
    let stack = s(&working_copy(d, BUCKET));
    // Deployed with local state first (the backend overridden), then migrated.
    let _out = ws.ok(&[
        "apply",
        &stack,
        "--auto-approve",
        "--backend-config",
        "local",
    ]);
    let local_path = d.join(".strata/storage-dev.state.json");
    let local: Json = serde_json::from_str(&std::fs::read_to_string(&local_path).unwrap()).unwrap();
    let out = ws.run(&["state", "history", &stack, "--backend-config", "local"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("a local state has no history"),
        "{}",
        stderr(&out)
    );

    let _out = ws.ok(&["state", "migrate", &stack]);
    let remote = remote_state(&clients).await;
    assert_eq!(remote["lineage"], local["lineage"]);
    assert_eq!(remote["serial"], local["serial"]);
    let marker: Json =
        serde_json::from_str(&std::fs::read_to_string(&local_path).unwrap()).unwrap();
    assert_eq!(
        marker["moved_to"],
        format!("s3://{BUCKET}/{KEY}"),
        "{marker}"
    );
    assert_eq!(marker["lineage"], local["lineage"]);
    assert!(marker.get("resources").is_none(), "{marker}");
    // Migrating again finds no local state: only the marker.
    let out = ws.run(&["state", "migrate", &stack]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("moved it to s3://{BUCKET}/{KEY}")),
        "{}",
        stderr(&out)
    );

    let out = ws.ok(&["state", "list", &stack]);
    let list = stdout(&out);
    assert_eq!(list.lines().count(), 8, "{list}");
    assert!(list.contains("sqs.queue.dead_letter_queue\thttp"), "{list}");

    let out = ws.ok(&["state", "show", &stack, "sqs.queue.content_queue"]);
    let shown: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["type"], "sqs.queue");
    assert_eq!(shown["attributes"]["name"], "storage-dev-content");
    let out = ws.run(&["state", "show", &stack, "nothing"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("the state has no resource `nothing`"));

    let out = ws.ok(&["state", "pull", &stack]);
    let pulled: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(pulled, remote);
    let pulled_file = d.join("pulled.json");
    std::fs::write(&pulled_file, stdout(&out)).unwrap();

    // rm needs a confirmation: without a terminal it refuses.
    let out = ws.run(&["state", "rm", &stack, "dead_letter_queue"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--auto-approve"), "{}", stderr(&out));
    assert_eq!(remote_state(&clients).await, remote);
    let _out = ws.ok(&["state", "rm", &stack, "dead_letter_queue", "--auto-approve"]);
    let after_rm = remote_state(&clients).await;
    assert_eq!(after_rm["serial"], remote["serial"].as_u64().unwrap() + 1);
    assert!(after_rm["resources"].get("dead_letter_queue").is_none());
    let queue_url = remote["resources"]["dead_letter_queue"]["id"]
        .as_str()
        .unwrap();
    assert!(
        clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .send()
            .await
            .is_ok(),
        "the queue itself is left in AWS"
    );

    // Push: the pulled (older) state is refused, then accepted with --force.
    let out = ws.run(&["state", "push", &stack, &s(&pulled_file)]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is older (serial"),
        "{}",
        stderr(&out)
    );
    assert_eq!(remote_state(&clients).await, after_rm);
    let mut other = pulled.clone();
    other["lineage"] = "another-lineage".into();
    other["serial"] = 99.into();
    let other_file = d.join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    let out = ws.run(&["state", "push", &stack, &s(&other_file)]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is another state (lineage another-lineage)"));
    let _out = ws.ok(&["state", "push", &stack, &s(&pulled_file), "--force"]);
    let pushed = remote_state(&clients).await;
    assert_eq!(pushed["serial"], after_rm["serial"].as_u64().unwrap() + 1);
    assert_eq!(pushed["resources"], remote["resources"]);

    // And back to the local directory, keeping lineage and serial.
    let _out = ws.ok(&["state", "migrate", &stack, "--to-local"]);
    let back: Json = serde_json::from_str(&std::fs::read_to_string(&local_path).unwrap()).unwrap();
    assert_eq!(back["lineage"], local["lineage"]);
    assert_eq!(back["serial"], pushed["serial"]);
    // No second live state: the S3 object is now the marker of the move.
    let marker: Json = serde_json::from_slice(&object(&clients, KEY).await.unwrap()).unwrap();
    assert_eq!(
        marker["moved_to"],
        s(&std::path::absolute(&local_path).unwrap()),
        "{marker}"
    );
    assert!(marker.get("resources").is_none(), "{marker}");
    // The stack still declares the S3 backend: a plan there is refused, saying where the
    // state went, and what to pass.
    let out = ws.run(&["plan", &stack]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "is no longer at s3://{BUCKET}/{KEY}: `strata state migrate` moved it to {}",
            s(&std::path::absolute(&local_path).unwrap())
        )) && stderr(&out).contains("--backend-config local"),
        "{}",
        stderr(&out)
    );
    let _out = ws.ok(&[
        "plan",
        &stack,
        "--detailed-exitcode",
        "--backend-config",
        "local",
    ]);
}

/// An IAM user `name` holding the inline policy `policy`, and its access key id and secret.
async fn user_with(root: &strata::aws::Clients, name: &str, policy: &Json) -> (String, String) {
    root.iam.create_user().user_name(name).send().await.unwrap();
    root.iam
        .put_user_policy()
        .user_name(name)
        .policy_name(name)
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = root
        .iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    (key.access_key_id, key.secret_access_key)
}

/// On an emulator that enforces IAM: credentials without S3 permissions on the state bucket
/// get an error naming the bucket and the permissions strata needs, and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_without_access_to_the_state_bucket_are_told_what_is_needed() {
    let ws = Workspace::strict();
    let dir = ws.dir();
    // The account root (test/test) bootstraps the bucket and makes a user that may do
    // everything but S3.
    bootstrap(&ws, BUCKET);
    let root = ws.clients().await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "sqs:*"], "Resource": "*"}
        ]
    });
    let (key_id, secret) = user_with(&root, "no-s3", &policy).await;
    let stack = working_copy(dir, BUCKET);
    let out = ws
        .command(&["plan", &s(&stack)])
        .env("AWS_ACCESS_KEY_ID", &key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("access denied to the state bucket `{BUCKET}`"))
            && err.contains("need s3:ListBucket on the bucket and s3:GetObject, s3:PutObject and s3:DeleteObject on the state's key, its `.lock` and its `.journal/` objects")
            && err.contains("`strata state history` needs s3:ListBucketVersions on the bucket and s3:GetObjectVersion"),
        "{err}"
    );
    assert_eq!(object(&root, KEY).await, None, "nothing was written");
}

/// A state of 10,000 resources goes to S3 and comes back whole (`state push`, then
/// `state pull`); the sizes and times are printed for docs/benchmarks.md.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_of_ten_thousand_resources_round_trips_through_s3() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    bootstrap(&ws, BUCKET);
    let stack = s(&working_copy(d, BUCKET));
    let resources: serde_json::Map<String, Json> = (0..10_000)
        .map(|i| {
            let name = format!("storage-dev-q{i:05}");
            let url = format!("https://sqs.us-east-1.amazonaws.com/000000000000/{name}");
            (
                format!("queue_{i:05}"),
                serde_json::json!({
                    "type": "sqs.queue",
                    "id": url,
                    "attributes": {
                        "name": name, "url": url,
                        "arn": format!("arn:aws:sqs:us-east-1:000000000000:{name}"),
                        "visibility_timeout_seconds": 30, "message_retention_seconds": 345600,
                        "delay_seconds": 0, "maximum_message_size": 262144,
                        "receive_wait_time_seconds": 0, "fifo_queue": false,
                        "tags": {"stack": "storage", "stage": "dev"}
                    },
                    "dependencies": []
                }),
            )
        })
        .collect();
    let state = serde_json::json!({
        "version": 1, "serial": 1, "lineage": "big-state-lineage", "stack": "storage",
        "stage": "dev", "resources": resources, "outputs": {}
    });
    let file = d.join("big.json");
    std::fs::write(&file, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();

    let start = std::time::Instant::now();
    let out = ws.run(&["state", "push", &stack, &s(&file), "--force"]);
    let push = start.elapsed();
    assert_exit(&out, 0);
    let start = std::time::Instant::now();
    let out = ws.run(&["state", "pull", &stack]);
    let pull = start.elapsed();
    assert_exit(&out, 0);
    let pulled: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pulled["resources"], state["resources"]);
    assert_eq!(pulled["lineage"], "big-state-lineage");
    assert_eq!(
        remote_state(&clients).await["resources"],
        state["resources"]
    );
    eprintln!(
        "10,000-resource state: {:.1} MB; push {:.2} s, pull {:.2} s (each a whole strata run)",
        size as f64 / 1e6,
        push.as_secs_f64(),
        pull.as_secs_f64()
    );
}

/// A proxy that answers one call of `operation` with a fault of `kind`: the first one it
/// could fault after skipping `skip` of them.
fn one_fault(ws: &Workspace, kind: &str, operation: &str, skip: &str) -> Proxy {
    ws.proxy(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        kind,
        "--fault-operations",
        operation,
        "--fault-skip",
        skip,
        "--fault-limit",
        "1",
    ])
}

/// S3 answers a conditional write that races another one with 409
/// ConditionalRequestConflict, and says to fetch the ETag and try again (issue 22): the
/// lock's creation, a whole state write and the unlock are each answered 409 once, and the
/// run still ends with the state written and no lock left behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_409_conflict_on_the_lock_a_state_write_or_the_unlock_is_tried_again() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    bootstrap(&ws, BUCKET);
    let stack = s(&working_copy(d, BUCKET));
    let lock_key = format!("{KEY}.lock");
    // Conditional PutObjects of a run come in this order: the lock (If-None-Match), then the
    // first whole write of the state (If-Match); the journal's objects are unconditional.
    // The only conditional DeleteObject is the unlock.
    let cases = [
        ("apply", "the lock's creation", "s3:PutObject", "0", 8),
        ("destroy", "the first state write", "s3:PutObject", "1", 0),
        ("apply", "the unlock", "s3:DeleteObject", "0", 8),
    ];
    for (command, what, operation, skip, resources) in cases {
        let proxy = one_fault(&ws, "conflict", operation, skip);
        let _out = ws.through(&proxy).ok(&[command, &stack, "--auto-approve"]);
        let stats = proxy.stats();
        assert_eq!(
            stats["faults_by_operation"],
            serde_json::json!({ operation: 1 }),
            "{what}: {stats}"
        );
        assert!(
            object(&clients, &lock_key).await.is_none(),
            "{what}: no lock is left behind"
        );
        let state = remote_state(&clients).await;
        assert_eq!(
            state["resources"].as_object().unwrap().len(),
            resources,
            "{what}: {state}"
        );
    }
}

/// A force-unlock whose DeleteObject was carried out but whose answer was lost: the SDK
/// sends it again, S3 answers 404 (the lock is gone), and that is success (issue 22).
#[tokio::test(flavor = "multi_thread")]
async fn a_force_unlock_retried_after_a_lost_answer_and_answered_404_succeeds() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    bootstrap(&ws, BUCKET);
    let stack = s(&working_copy(d, BUCKET));
    let lock_key = format!("{KEY}.lock");
    let lock = serde_json::json!({
        "id": "3d1f-stale", "operation": "apply", "who": "ci@runner-4", "pid": 4242,
        "created": 1_700_000_000u64
    });
    put(&clients, &lock_key, &lock.to_string()).await;
    let proxy = one_fault(&ws, "lost", "s3:DeleteObject", "0");
    let out = ws
        .through(&proxy)
        .ok(&["force-unlock", &stack, "3d1f-stale"]);
    assert!(
        stdout(&out).contains("Removed the lock 3d1f-stale held by ci@runner-4 (pid 4242)"),
        "{}",
        stdout(&out)
    );
    let stats = proxy.stats();
    assert_eq!(stats["faults_by_kind"]["lost"], 1, "{stats}");
    assert_eq!(stats["by_operation"]["s3:DeleteObject"], 2, "{stats}");
    assert_eq!(stats["by_status"]["404"], 1, "{stats}");
    assert!(object(&clients, &lock_key).await.is_none());
}

/// A copy of the storage stack without `[backend]`.
fn plain_copy(dir: &Path) -> String {
    let file = dir.join("storage.toml");
    std::fs::copy(repo().join("tests/stacks/storage.toml"), &file).unwrap();
    s(&file)
}

/// `state migrate` leaves a marker where the state was, and every command pointed at the
/// old place is refused, saying where the state went, before any AWS call (issue 22):
/// after migrating a stack that has no `[backend]`, a plain `plan` must not plan to create
/// everything from an empty local state, and `--to-local` must not leave a second live
/// state in S3.
#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_state_leaves_a_marker_and_the_side_it_left_refuses_to_run() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let d = ws.dir();
    bootstrap(&ws, BUCKET);
    let stack = plain_copy(d);
    let to_s3 = format!("bucket={BUCKET},key={KEY}");
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let out = ws.ok(&["state", "migrate", &stack, "--backend-config", &to_s3]);
    assert!(
        stdout(&out).contains("The stack declares no `[backend]`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        remote_state(&clients).await["resources"]
            .as_object()
            .unwrap()
            .len(),
        8
    );

    // Every command on the local side is refused, with no AWS call at all.
    let proxy = ws.proxy(&[]);
    let refused = format!(
        "the state of stack `storage` (stage `dev`) is no longer at .strata/storage-dev.state.json: `strata state migrate` moved it to s3://{BUCKET}/{KEY}"
    );
    let hint = format!("pass `--backend-config bucket={BUCKET},key={KEY}`");
    let commands: [&[&str]; 6] = [
        &["plan", &stack],
        &["apply", &stack, "--auto-approve"],
        &["destroy", &stack, "--auto-approve"],
        &["import", &stack, "dead_letter_queue", "http://x/q"],
        &["state", "list", &stack],
        &["output", &stack],
    ];
    for command in commands {
        let out = ws.through(&proxy).run(command);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(&refused) && err.contains(&hint),
            "{command:?}: {err}"
        );
    }
    assert_eq!(proxy.stats()["total"], 0, "{}", proxy.stats());

    // Pointed at S3, the stack has nothing to change.
    let _out = ws.ok(&[
        "plan",
        &stack,
        "--detailed-exitcode",
        "--backend-config",
        &to_s3,
    ]);

    // And back: the S3 object becomes the marker; the S3 side refuses, the local one works.
    let _out = ws.ok(&[
        "state",
        "migrate",
        &stack,
        "--to-local",
        "--backend-config",
        &to_s3,
    ]);
    let marker: Json = serde_json::from_slice(&object(&clients, KEY).await.unwrap()).unwrap();
    let local = std::path::absolute(d.join(".strata/storage-dev.state.json")).unwrap();
    assert_eq!(marker["moved_to"], s(&local), "{marker}");
    let out = ws.run(&["plan", &stack, "--backend-config", &to_s3]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "is no longer at s3://{BUCKET}/{KEY}: `strata state migrate` moved it to {}",
            s(&local)
        )),
        "{}",
        stderr(&out)
    );
    let _out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
    // The marker is the newest version of the S3 object; the states before it stay.
    let out = ws.ok(&["state", "history", &stack, "--backend-config", &to_s3]);
    let history = stdout(&out);
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert!(
        rows[0].contains(&format!("(moved to {})", s(&local))) && rows[0].ends_with("(current)"),
        "{history}"
    );
    assert!(rows.len() >= 2, "{history}");
    // Migrating to S3 once more writes over the marker.
    let _out = ws.ok(&["state", "migrate", &stack, "--backend-config", &to_s3]);
    assert_eq!(
        remote_state(&clients).await["resources"]
            .as_object()
            .unwrap()
            .len(),
        8
    );
}

/// Checks every setting of a state bucket, read back from the bucket.
async fn assert_state_bucket(clients: &strata::aws::Clients, bucket: &str, days: i32) {
    let s3 = &clients.s3;
    let versioning = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    crate::common::assert_locked_down(clients, bucket).await;
    let policy = s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
    let policy: Json = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let tls = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "DenyInsecureTransport")
        .unwrap_or_else(|| panic!("no TLS-only statement: {policy}"));
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let rule = lifecycle
        .rules()
        .iter()
        .find(|r| r.id() == Some(strata::state::bootstrap::LIFECYCLE_RULE_ID))
        .expect("strata's lifecycle rule");
    assert_eq!(
        rule.noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(days)
    );
    assert_eq!(
        rule.expiration()
            .and_then(|e| e.expired_object_delete_marker()),
        Some(true),
        "the journal's delete markers are removed"
    );
}

/// A bucket a bootstrap left half configured, with settings of its own: bootstrap finishes
/// it, keeping its own policy statement and lifecycle rule, and says what it set; a third
/// run changes nothing (issue 22).
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_finishes_a_half_configured_bucket_of_its_own_keeping_its_settings() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let s3 = &clients.s3;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let own_statement = serde_json::json!({
        "Sid": "AuditorsRead", "Effect": "Allow",
        "Principal": { "AWS": "arn:aws:iam::000000000000:root" },
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{BUCKET}/*")
    });
    s3.put_bucket_policy()
        .bucket(BUCKET)
        .policy(
            serde_json::json!({ "Version": "2012-10-17", "Statement": [own_statement] })
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let own_rule = aws_sdk_s3::types::LifecycleRule::builder()
        .id("expire-logs")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(
            aws_sdk_s3::types::LifecycleRuleFilter::builder()
                .prefix("logs/")
                .build(),
        )
        .expiration(
            aws_sdk_s3::types::LifecycleExpiration::builder()
                .days(7)
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .rules(own_rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let out = ws.ok(&["bootstrap", BUCKET]);
    let text = stdout(&out);
    // The emulator, like S3 since 2023, encrypts every new bucket with SSE-S3.
    assert!(
        text.starts_with(&format!(
            "Finished the state bucket `{BUCKET}` (yours, in us-east-1): set public access block, TLS-only policy, lifecycle rule; already in place: versioning, default encryption.\n"
        )),
        "{text}"
    );
    assert_state_bucket(&clients, BUCKET, 90).await;
    let policy = s3.get_bucket_policy().bucket(BUCKET).send().await.unwrap();
    let policy: Json = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert!(
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Sid"] == "AuditorsRead"),
        "its own statement is kept: {policy}"
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(
        lifecycle
            .rules()
            .iter()
            .any(|r| r.id() == Some("expire-logs")),
        "its own rule is kept"
    );

    let out = ws.ok(&["bootstrap", BUCKET]);
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
}

/// A bucket of another account is never configured: bootstrap stops at the ownership check
/// (HeadBucket with the caller's account as the expected owner) and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_refuses_a_bucket_another_account_owns_and_writes_nothing() {
    let ws = Workspace::new();
    let _dir = ws.dir();
    // Account 111111111111 owns the bucket.
    let other = ws
        .command(&["bootstrap", BUCKET])
        .env("AWS_ACCESS_KEY_ID", "111111111111")
        .output()
        .unwrap();
    assert_exit(&other, 0);
    let proxy = ws.proxy(&[]);
    let out = ws.through(&proxy).run(&["bootstrap", BUCKET]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "the bucket `{BUCKET}` exists and is not yours (another account owns it, or your credentials may not read it); nothing was changed"
        )),
        "{}",
        stderr(&out)
    );
    let stats = proxy.stats();
    let s3_calls: Vec<&String> = stats["by_operation"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("s3:"))
        .collect();
    assert_eq!(s3_calls, ["s3:HEAD /{bucket}"], "{stats}");
}

/// Right after CreateBucket, S3 may answer NoSuchBucket to the bucket's configuration calls,
/// and a read may show a setting as it was before it was written (the proxy plays both):
/// bootstrap waits each step out and finishes the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_waits_out_a_new_bucket_s_eventually_consistent_configuration() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let proxy = ws.proxy(&[
        "--realism",
        "bucket-config-propagation",
        "--time-scale",
        "0.5",
    ]);
    let _out = ws.through(&proxy).ok(&["bootstrap", BUCKET]);
    let stats = proxy.stats();
    assert!(
        stats["faults_by_kind"]["realism"].as_u64().unwrap() >= 2,
        "the proxy answered NoSuchBucket and a stale read: {stats}"
    );
    assert_state_bucket(&clients, BUCKET, 90).await;
}

/// During a run the S3 store writes each create's pending record as a small object of its
/// own before the create starts, keeps other entry changes in memory, and writes the whole
/// state rarely: a reader after a crash sees every create as pending (adoptable); the whole
/// write at the end holds everything and deletes the records (issue 22).
#[tokio::test(flavor = "multi_thread")]
async fn s3_state_writes_pending_records_at_once_and_the_whole_state_rarely() {
    use strata::state::store::save_entry;
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    bootstrap(&ws, BUCKET);
    let new_store = || S3Store::new(clients.s3.clone(), BUCKET, KEY, "storage", "dev");
    let store = new_store().with_whole_write_every(Duration::from_secs(3600));
    let mut state = store.read().await.unwrap();
    save(&store, &mut state).await.unwrap();
    let pending = |name: &str| strata::state::PendingCreate {
        type_name: "sqs.queue".into(),
        desired: serde_json::json!({ "name": name }),
        dependencies: vec![],
        request: None,
    };
    let queue = |name: &str| strata::state::ResourceState {
        type_name: "sqs.queue".into(),
        id: format!("https://sqs/{name}"),
        attributes: serde_json::json!({ "name": name }),
        dependencies: vec![],
    };
    for i in 0..20 {
        let name = format!("q{i}");
        state.pending.insert(name.clone(), pending(&name));
        save_entry(&store, &mut state, &name)
            .unwrap()
            .await
            .unwrap();
        state.pending.shift_remove(&name);
        state.resources.insert(name.clone(), queue(&name));
        save_entry(&store, &mut state, &name)
            .unwrap()
            .await
            .unwrap();
    }
    // Killed now: one whole write so far, one record per create, and a new reader finds
    // every create pending, none lost.
    assert_eq!(state_versions(&clients).await, 1);
    assert_eq!(journal(&clients).await.len(), 20);
    let after_crash = new_store().read().await.unwrap();
    assert_eq!(after_crash.pending.len(), 20);
    assert!(after_crash.resources.is_empty());
    assert_eq!(
        after_crash.serial,
        state.serial - 1,
        "up to the last pending record"
    );

    // A create refused before anything was made withdraws its pending record durably too.
    state.pending.insert("refused".into(), pending("refused"));
    save_entry(&store, &mut state, "refused")
        .unwrap()
        .await
        .unwrap();
    state.pending.shift_remove("refused");
    save_entry(&store, &mut state, "refused")
        .unwrap()
        .await
        .unwrap();
    assert!(
        !new_store()
            .read()
            .await
            .unwrap()
            .pending
            .contains_key("refused")
    );

    // The end of the run: one whole write holds everything, and the records are deleted.
    save(&store, &mut state).await.unwrap();
    assert_eq!(state_versions(&clients).await, 2);
    assert_eq!(journal(&clients).await, Vec::<String>::new());
    let read = new_store().read().await.unwrap();
    assert_eq!((read.resources.len(), read.pending.len()), (20, 0));
    assert_eq!(read.serial, state.serial);

    // Records of a run whose state another run has since written whole are not replayed
    // on top of that state.
    let other = new_store();
    let mut theirs = other.read().await.unwrap();
    save(&other, &mut theirs).await.unwrap();
    state.pending.insert("late".into(), pending("late"));
    save_entry(&store, &mut state, "late")
        .unwrap()
        .await
        .unwrap();
    assert_eq!(journal(&clients).await.len(), 1);
    assert!(
        !new_store()
            .read()
            .await
            .unwrap()
            .pending
            .contains_key("late")
    );

    // Without batching every entry change is a whole write, and no record is written.
    let eager = new_store().with_whole_write_every(Duration::ZERO);
    let mut state = eager.read().await.unwrap();
    let before = state_versions(&clients).await;
    state.resources.shift_remove("q0");
    save_entry(&eager, &mut state, "q0").unwrap().await.unwrap();
    state.resources.shift_remove("q1");
    save_entry(&eager, &mut state, "q1").unwrap().await.unwrap();
    assert_eq!(state_versions(&clients).await, before + 2);
}

/// On an emulator that enforces IAM, through a proxy that presents every call as TLS (the
/// state bucket's policy denies any other): a user holding only the state's statements of
/// `strata policy` reads the state, changes it under the lock and lists its history; the
/// same user without s3:ListBucketVersions and s3:GetObjectVersion is refused `state
/// history` with a message naming them (issue 22).
#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_covers_the_state_its_lock_and_its_history() {
    let ws = Workspace::strict();
    let proxy = ws.proxy(&["--secure-transport"]);
    let d = ws.dir();
    let as_root = ws.through(&proxy);
    as_root.ok(&["bootstrap", BUCKET]);
    let stack = s(&working_copy(d, BUCKET));
    as_root.ok(&["apply", &stack, "--auto-approve"]);
    let out = as_root.ok(&["policy", &stack, "--json"]);
    let policy: Json = serde_json::from_slice(&out.stdout).unwrap();
    // The statements merge actions of the stack's own buckets with the state's: keep the
    // grants on the state bucket and its objects.
    let bucket = format!("arn:aws:s3:::{BUCKET}");
    let list = |v: &Json| -> Vec<String> {
        match v {
            Json::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect(),
            one => vec![one.as_str().unwrap().to_string()],
        }
    };
    let grants: std::collections::BTreeSet<(String, String)> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| {
            let resources = list(&st["Resource"]);
            list(&st["Action"])
                .into_iter()
                .flat_map(move |a| resources.clone().into_iter().map(move |r| (a.clone(), r)))
        })
        .filter(|(_, r)| *r == bucket || r.starts_with(&format!("{bucket}/")))
        .collect();
    let object = format!("{bucket}/{KEY}");
    let expected: std::collections::BTreeSet<(String, String)> = [
        ("s3:ListBucket", bucket.clone()),
        ("s3:ListBucketVersions", bucket.clone()),
        ("s3:GetObjectVersion", object.clone()),
    ]
    .into_iter()
    .chain(
        ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
            .into_iter()
            .flat_map(|a| {
                [
                    (a, object.clone()),
                    (a, format!("{object}.lock")),
                    (a, format!("{object}.journal/*")),
                ]
            }),
    )
    .map(|(a, r)| (a.to_string(), r))
    .collect();
    assert_eq!(grants, expected);

    let root = crate::common::clients_at(&proxy.url, crate::common::TEST_REGION).await;
    // One statement per resource, holding the actions granted on it.
    let user = |grants: &std::collections::BTreeSet<(String, String)>| {
        let mut by_resource: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (a, r) in grants {
            by_resource.entry(r).or_default().push(a);
        }
        let mut all: Vec<Json> = by_resource
            .into_iter()
            .map(|(r, a)| serde_json::json!({ "Effect": "Allow", "Action": a, "Resource": r }))
            .collect();
        all.push(serde_json::json!({
            "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"
        }));
        serde_json::json!({ "Version": "2012-10-17", "Statement": all })
    };
    let as_user = |keys: &(String, String), args: &[&str]| {
        as_root
            .command(args)
            .env("AWS_ACCESS_KEY_ID", &keys.0)
            .env("AWS_SECRET_ACCESS_KEY", &keys.1)
            .output()
            .unwrap()
    };
    let keys = user_with(&root, "state-only", &user(&grants)).await;
    let out = as_user(&keys, &["state", "pull", &stack]);
    assert_exit(&out, 0);
    let out = as_user(
        &keys,
        &["state", "rm", &stack, "dead_letter_queue", "--auto-approve"],
    );
    assert_exit(&out, 0);
    let out = as_user(&keys, &["state", "history", &stack]);
    assert_exit(&out, 0);
    assert!(stdout(&out).lines().count() > 2, "{}", stdout(&out));

    let without = grants
        .iter()
        .filter(|(a, _)| a != "s3:ListBucketVersions" && a != "s3:GetObjectVersion")
        .cloned()
        .collect();
    let keys = user_with(&root, "no-history", &user(&without)).await;
    assert_exit(&as_user(&keys, &["state", "pull", &stack]), 0);
    let out = as_user(&keys, &["state", "history", &stack]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("`strata state history` needs s3:ListBucketVersions on the bucket and s3:GetObjectVersion"),
        "{}",
        stderr(&out)
    );
}
