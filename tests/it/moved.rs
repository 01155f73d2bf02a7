//! A resource renamed in the stack with `moved_from` keeps its object: the state follows
//! the new name, nothing in AWS is replaced.

use crate::common::{Workspace, assert_exit, read_state, stderr, stdout};

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
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("stack.toml"), BEFORE).unwrap();
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    let dlq_url = read_state(dir, "renames", "default")["resources"]["dlq"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    std::fs::write(dir.join("stack.toml"), AFTER).unwrap();
    let out = ws.run(&["plan", "stack.toml", "--detailed-exitcode"]);
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
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
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
    let _out = ws.ok(&["plan", "stack.toml", "--detailed-exitcode"]);

    // A former name the stack still declares is refused.
    std::fs::write(
        dir.join("bad.toml"),
        AFTER.replace("moved_from = \"dlq\"", "moved_from = \"queue\""),
    )
    .unwrap();
    let out = ws.strata(&["validate", "bad.toml"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("`dead_letters` moves from `queue`, which the stack still declares"),
        "{}",
        stderr(&out)
    );
}
