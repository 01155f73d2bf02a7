//! A resource renamed in the stack with `moved_from` keeps its object: the state follows
//! the new name, nothing in AWS is replaced.

use crate::common::{Emulator, assert_exit, read_state, run, stderr, stdout, strata};

const BEFORE: &str = r#"
[stack]
name = "renames"

[resources.dlq]
type = "sqs.queue"
name = "renames-dlq"

[resources.queue]
type = "sqs.queue"
name = "renames-jobs"
redrive_policy = { dead_letter_queue = "${dlq.arn}", max_receive_count = 5 }
"#;

const AFTER: &str = r#"
[stack]
name = "renames"

[resources.dead_letters]
type = "sqs.queue"
name = "renames-dlq"
moved_from = "dlq"

[resources.queue]
type = "sqs.queue"
name = "renames-jobs"
redrive_policy = { dead_letter_queue = "${dead_letters.arn}", max_receive_count = 5 }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_renamed_with_moved_from_keeps_its_object() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("stack.toml"), BEFORE).unwrap();
    assert_exit(
        &run(dir, &emulator, &["apply", "stack.toml", "--auto-approve"]),
        0,
    );
    let dlq_url = read_state(dir, "renames", "default")["resources"]["dlq"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    std::fs::write(dir.join("stack.toml"), AFTER).unwrap();
    let out = run(
        dir,
        &emulator,
        &["plan", "stack.toml", "--detailed-exitcode"],
    );
    assert_exit(&out, 2);
    let text = stdout(&out);
    assert!(
        text.contains("# sqs.queue.dead_letters has moved from sqs.queue.dlq"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 0 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    assert_exit(
        &run(dir, &emulator, &["apply", "stack.toml", "--auto-approve"]),
        0,
    );
    let state = read_state(dir, "renames", "default");
    assert_eq!(state["resources"]["dead_letters"]["id"], dlq_url.as_str());
    assert!(state["resources"].get("dlq").is_none(), "{state:#}");
    assert_eq!(
        state["resources"]["queue"]["dependencies"],
        serde_json::json!(["dead_letters"])
    );
    // The same two queues, none replaced.
    let queues = clients.sqs.list_queues().send().await.unwrap();
    let mut urls = queues.queue_urls().to_vec();
    urls.sort();
    assert_eq!(urls.len(), 2);
    assert!(urls.contains(&dlq_url));
    let out = run(
        dir,
        &emulator,
        &["plan", "stack.toml", "--detailed-exitcode"],
    );
    assert_exit(&out, 0);

    // A former name the stack still declares is refused.
    std::fs::write(
        dir.join("bad.toml"),
        AFTER.replace("moved_from = \"dlq\"", "moved_from = \"queue\""),
    )
    .unwrap();
    let out = strata(dir, &["validate", "bad.toml"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("`dead_letters` moves from `queue`, which the stack still declares"),
        "{}",
        stderr(&out)
    );
}
