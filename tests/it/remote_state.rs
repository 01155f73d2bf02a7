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

use crate::common::{Emulator, Proxy, assert_exit, repo, run, stderr, stdout, strata_command};

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

fn bootstrap(dir: &Path, emulator: &Emulator, bucket: &str) {
    let out = run(dir, emulator, &["bootstrap", bucket]);
    assert_exit(&out, 0);
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

#[tokio::test(flavor = "multi_thread")]
async fn two_working_copies_share_one_s3_state_and_the_second_plans_no_change() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    bootstrap(a.path(), &emulator, BUCKET);
    let stack_a = working_copy(a.path(), BUCKET);
    let stack_b = working_copy(b.path(), BUCKET);

    let out = run(
        a.path(),
        &emulator,
        &["apply", &s(&stack_a), "--auto-approve"],
    );
    assert_exit(&out, 0);
    assert!(
        !a.path().join(".strata/storage-dev.state.json").exists(),
        "with an S3 backend no local state file is written"
    );
    let state = remote_state(&clients).await;
    assert_eq!(state["resources"].as_object().unwrap().len(), 8);
    assert!(
        object(&clients, &format!("{KEY}.lock")).await.is_none(),
        "the lock object is deleted when the apply ends"
    );

    let out = run(
        b.path(),
        &emulator,
        &["plan", &s(&stack_b), "--detailed-exitcode"],
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));

    // Outputs come from the shared state too.
    let out = run(b.path(), &emulator, &["output", &s(&stack_b), "queue_url"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("storage-dev-content"),
        "{}",
        stdout(&out)
    );

    // History: one version per write, newest first, with serial and writer.
    let out = run(b.path(), &emulator, &["state", "history", &s(&stack_b)]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let serial = state["serial"].as_u64().unwrap();
    let first_row = text.lines().nth(1).unwrap();
    assert!(
        first_row.starts_with(&format!("{serial}\t")) && first_row.ends_with("(current)"),
        "{text}"
    );
    assert_eq!(text.lines().count() as u64, 1 + serial, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_applies_from_two_copies_one_runs_the_other_names_the_holder() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    bootstrap(a.path(), &emulator, BUCKET);
    let stack_a = working_copy(a.path(), BUCKET);
    let stack_b = working_copy(b.path(), BUCKET);
    // Every call of the first apply is held 300 ms: it holds the lock for seconds.
    let slow = Proxy::start(&emulator.endpoint, &["--latency-ms", "300"]);
    let counted = Proxy::start(&emulator.endpoint, &[]);
    let apply = |dir: &Path, stack: &Path, endpoint: &str| {
        strata_command(
            dir,
            &[
                "apply",
                &s(stack),
                "--auto-approve",
                "--endpoint-url",
                endpoint,
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let mut first = apply(a.path(), &stack_a, &slow.url);
    // Its first call creates the lock object; wait until it exists.
    let start = Instant::now();
    while object(&clients, &format!("{KEY}.lock")).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = apply(b.path(), &stack_b, &counted.url)
        .wait_with_output()
        .unwrap();
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
    assert_eq!(stats["by_service"]["s3"], stats["total"], "{stats}");
    assert!(stats["total"].as_u64().unwrap() <= 2, "{stats}");
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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    bootstrap(a.path(), &emulator, BUCKET);
    let stack_a = working_copy(a.path(), BUCKET);
    let stack_b = working_copy(b.path(), BUCKET);
    let slow = Proxy::start(&emulator.endpoint, &["--latency-ms", "300"]);
    let mut holder = strata_command(
        a.path(),
        &[
            "apply",
            &s(&stack_a),
            "--auto-approve",
            "--endpoint-url",
            &slow.url,
        ],
    )
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

    let out = run(
        b.path(),
        &emulator,
        &["apply", &s(&stack_b), "--auto-approve"],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("(pid {holder_pid})")), "{err}");
    assert!(err.contains(&format!("lock id {id}")), "{err}");
    assert!(err.contains("s ago"), "the age is shown: {err}");

    let out = run(
        b.path(),
        &emulator,
        &["force-unlock", &s(&stack_b), "not-the-id"],
    );
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

    let out = run(b.path(), &emulator, &["force-unlock", &s(&stack_b), &id]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));
    assert!(object(&clients, &lock_key).await.is_none());

    let out = run(
        b.path(),
        &emulator,
        &["apply", &s(&stack_b), "--auto-approve"],
    );
    assert_exit(&out, 0);
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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    bootstrap(dir.path(), &emulator, BUCKET);
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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // No such bucket.
    let stack = working_copy(d, "no-such-state-bucket");
    let out = run(d, &emulator, &["apply", &s(&stack), "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the state bucket `no-such-state-bucket` does not exist")
            && err.contains("strata bootstrap no-such-state-bucket"),
        "{err}"
    );
    assert!(!d.join(".strata").exists(), "nothing written locally");

    bootstrap(d, &emulator, BUCKET);
    let stack = working_copy(d, BUCKET);

    // A key that holds something that is not a state.
    put(&clients, KEY, "<html>not a state</html>").await;
    let out = run(d, &emulator, &["apply", &s(&stack), "--auto-approve"]);
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
    let out = run(d, &emulator, &["apply", &s(&stack), "--auto-approve"]);
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
    let out = run(d, &emulator, &["plan", &s(&stack)]);
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
    let out = run(
        d,
        &emulator,
        &["plan", &s(&stack), "--backend-config", "bucket"],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("`bucket` is not NAME=VALUE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_creates_a_safe_bucket_and_refuses_an_existing_one() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &emulator,
        &["bootstrap", BUCKET, "--expire-versions-after-days", "30"],
    );
    assert_exit(&out, 0);
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
    assert_eq!(rule.id(), Some(strata::state::s3::LIFECYCLE_RULE_ID));
    assert_eq!(
        rule.noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(30)
    );

    let out = run(dir.path(), &emulator, &["bootstrap", BUCKET]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("the bucket `{BUCKET}` already exists")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn state_commands_round_trip_through_s3_and_the_local_directory() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bootstrap(d, &emulator, BUCKET);
    let stack = s(&working_copy(d, BUCKET));
    // Deployed with local state first (the backend overridden), then migrated.
    let out = run(
        d,
        &emulator,
        &[
            "apply",
            &stack,
            "--auto-approve",
            "--backend-config",
            "local",
        ],
    );
    assert_exit(&out, 0);
    let local_path = d.join(".strata/storage-dev.state.json");
    let local: Json = serde_json::from_str(&std::fs::read_to_string(&local_path).unwrap()).unwrap();
    let out = run(
        d,
        &emulator,
        &["state", "history", &stack, "--backend-config", "local"],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("a local state has no history"),
        "{}",
        stderr(&out)
    );

    let out = run(d, &emulator, &["state", "migrate", &stack]);
    assert_exit(&out, 0);
    let remote = remote_state(&clients).await;
    assert_eq!(remote["lineage"], local["lineage"]);
    assert_eq!(remote["serial"], local["serial"]);
    assert!(!local_path.exists(), "the local state is moved aside");
    // Migrating again finds no local state.
    let out = run(d, &emulator, &["state", "migrate", &stack]);
    assert_exit(&out, 1);

    let out = run(d, &emulator, &["state", "list", &stack]);
    assert_exit(&out, 0);
    let list = stdout(&out);
    assert_eq!(list.lines().count(), 8, "{list}");
    assert!(list.contains("sqs.queue.dead_letter_queue\thttp"), "{list}");

    let out = run(
        d,
        &emulator,
        &["state", "show", &stack, "sqs.queue.content_queue"],
    );
    assert_exit(&out, 0);
    let shown: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["type"], "sqs.queue");
    assert_eq!(shown["attributes"]["name"], "storage-dev-content");
    let out = run(d, &emulator, &["state", "show", &stack, "nothing"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("the state has no resource `nothing`"));

    let out = run(d, &emulator, &["state", "pull", &stack]);
    assert_exit(&out, 0);
    let pulled: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(pulled, remote);
    let pulled_file = d.join("pulled.json");
    std::fs::write(&pulled_file, stdout(&out)).unwrap();

    // rm needs a confirmation: without a terminal it refuses.
    let out = run(d, &emulator, &["state", "rm", &stack, "dead_letter_queue"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--auto-approve"), "{}", stderr(&out));
    assert_eq!(remote_state(&clients).await, remote);
    let out = run(
        d,
        &emulator,
        &["state", "rm", &stack, "dead_letter_queue", "--auto-approve"],
    );
    assert_exit(&out, 0);
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
    let out = run(d, &emulator, &["state", "push", &stack, &s(&pulled_file)]);
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
    let out = run(d, &emulator, &["state", "push", &stack, &s(&other_file)]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is another state (lineage another-lineage)"));
    let out = run(
        d,
        &emulator,
        &["state", "push", &stack, &s(&pulled_file), "--force"],
    );
    assert_exit(&out, 0);
    let pushed = remote_state(&clients).await;
    assert_eq!(pushed["serial"], after_rm["serial"].as_u64().unwrap() + 1);
    assert_eq!(pushed["resources"], remote["resources"]);

    // And back to the local directory, keeping lineage and serial.
    let out = run(d, &emulator, &["state", "migrate", &stack, "--to-local"]);
    assert_exit(&out, 0);
    let back: Json = serde_json::from_str(&std::fs::read_to_string(&local_path).unwrap()).unwrap();
    assert_eq!(back["lineage"], local["lineage"]);
    assert_eq!(back["serial"], pushed["serial"]);
    let out = run(
        d,
        &emulator,
        &[
            "plan",
            &stack,
            "--detailed-exitcode",
            "--backend-config",
            "local",
        ],
    );
    assert_exit(&out, 0);
}

/// On an emulator that enforces IAM: credentials without S3 permissions on the state bucket
/// get an error naming the bucket and the permissions strata needs, and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_without_access_to_the_state_bucket_are_told_what_is_needed() {
    let emulator = Emulator::strict();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The account root (test/test) bootstraps the bucket and makes a user that may do
    // everything but S3.
    bootstrap(dir, &emulator, BUCKET);
    let root = emulator.clients().await;
    root.iam
        .create_user()
        .user_name("no-s3")
        .send()
        .await
        .unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "sqs:*"], "Resource": "*"}
        ]
    });
    root.iam
        .put_user_policy()
        .user_name("no-s3")
        .policy_name("no-s3")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = root
        .iam
        .create_access_key()
        .user_name("no-s3")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let stack = working_copy(dir, BUCKET);
    let out = crate::common::strata_command(
        dir,
        &["plan", &s(&stack), "--endpoint-url", &emulator.endpoint],
    )
    .env("AWS_ACCESS_KEY_ID", key.access_key_id())
    .env("AWS_SECRET_ACCESS_KEY", key.secret_access_key())
    .output()
    .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("access denied to the state bucket `{BUCKET}`"))
            && err.contains("s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket"),
        "{err}"
    );
    assert_eq!(object(&root, KEY).await, None, "nothing was written");
}

/// A state of 10,000 resources goes to S3 and comes back whole (`state push`, then
/// `state pull`); the sizes and times are printed for BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_of_ten_thousand_resources_round_trips_through_s3() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bootstrap(d, &emulator, BUCKET);
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
    let out = run(
        d,
        &emulator,
        &["state", "push", &stack, &s(&file), "--force"],
    );
    let push = start.elapsed();
    assert_exit(&out, 0);
    let start = std::time::Instant::now();
    let out = run(d, &emulator, &["state", "pull", &stack]);
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
