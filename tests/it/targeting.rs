//! `--target` and `--exclude`: plans, applies and destroys of part of a stack, with what the
//! selected resources need, and a warning that the run is partial.

use crate::common::{Workspace, assert_exit, stderr, stdout};
use crate::for_each::queue_names;

const STACK: &str = r#"
[stack]
name = "part"

[resources.dlq]
type = "sqs.queue"
name = "part-dlq"

[resources.queue]
type = "sqs.queue"
for_each = ["a", "b"]
name = "part-${each.key}"
redrive_policy = { dead_letter_queue = "${dlq.arn}", max_receive_count = 5 }

[resources.solo]
type = "sqs.queue"
name = "part-solo"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn target_and_exclude_plan_apply_and_destroy_part_of_the_stack() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    ws.write("stack.toml", STACK);

    // An instance brings what it depends on, and nothing else.
    let plan = ws.plan_json("stack.toml", &["--target", "queue[\"a\"]"]);
    assert_eq!(plan["partial"], true);
    assert_eq!(
        planned(&plan),
        [
            ("sqs.queue.dlq", "create"),
            ("sqs.queue.queue[\"a\"]", "create")
        ]
    );
    let out = ws.ok(&["apply", "stack.toml", "--auto-approve", "--target", "queue"]);
    let text = stdout(&out);
    assert!(
        text.contains("Warning: this plan is partial (--target queue): the stack's other resources are left out"),
        "{text}"
    );
    assert_eq!(
        queue_names(&clients).await,
        ["part-a", "part-b", "part-dlq"]
    );

    // An exclusion takes what depends on it along: only `solo` is left to create.
    let plan = ws.plan_json("stack.toml", &["--exclude", "sqs.queue.dlq"]);
    assert_eq!(planned(&plan), [("sqs.queue.solo", "create")]);
    ws.ok(&["apply", "stack.toml", "--auto-approve", "--exclude", "dlq"]);
    assert_eq!(
        queue_names(&clients).await,
        ["part-a", "part-b", "part-dlq", "part-solo"]
    );

    // Destroying a target destroys what depends on it first; the rest stays.
    ws.ok(&["destroy", "stack.toml", "--auto-approve", "--target", "dlq"]);
    assert_eq!(queue_names(&clients).await, ["part-solo"]);
    let state = ws.state("part", "default");
    let names: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["solo"], "{state:#}");

    // A typo is an error, not an empty plan.
    let out = ws.run(&["plan", "stack.toml", "--target", "sollo"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("error: `sollo` matches no resource of the stack or its state"),
        "{}",
        stderr(&out)
    );
}

/// The address and action of every resource a plan (`plan --json`) holds.
fn planned(plan: &serde_json::Value) -> Vec<(&str, &str)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
            )
        })
        .collect()
}
