//! `for_each`: one declaration, one queue per key of a list variable, addressed
//! `queue["key"]` in plans, state and outputs; a key removed with `--var` deletes only its
//! instance.

use std::path::Path;

use crate::common::{Workspace, assert_exit, assert_plan, output_of, read_state, stdout};
use serde_json::Value as Json;

const STACK: &str = r#"
[stack]
name = "fanout"

[variables.stage]
default = "dev"

[variables.queues]
type = "list"
default = ["a", "b", "c"]

[resources.queue]
type = "sqs.queue"
for_each = "${var.queues}"
name = "${stack.name}-${var.stage}-${each.key}"
visibility_timeout_seconds = 45

[outputs]
a_url = '${queue["a"].url}'
"#;

/// The names of the queues `clients` see, sorted.
pub async fn queue_names(clients: &strata::aws::Clients) -> Vec<String> {
    let out = clients.sqs.list_queues().send().await.unwrap();
    let mut names: Vec<String> = out
        .queue_urls()
        .iter()
        .map(|u| u.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// (address, action) of every resource in `plan --json`.
fn actions(ws: &Workspace, stack: &str, extra: &[&str]) -> Vec<(String, String)> {
    let plan: Json = ws.plan_json(stack, extra);
    let mut out: Vec<(String, String)> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The resource names in the state file (none when destroy removed the file).
fn state_names(dir: &Path) -> Vec<String> {
    if !dir.join(".strata/fanout-dev.state.json").exists() {
        return Vec::new();
    }
    let state = read_state(dir, "fanout", "dev");
    let mut names: Vec<String> = state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn for_each_over_a_list_variable_creates_removes_and_destroys_instances_by_key() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = dir.join("fanout.toml");
    std::fs::write(&stack, STACK).unwrap();
    let stack = stack.display().to_string();

    // The plan creates one queue per key, each addressed by its key.
    let q = |k: &str| format!("sqs.queue.queue[\"{k}\"]");
    assert_eq!(
        actions(&ws, &stack, &[]),
        [
            (q("a"), "create".to_string()),
            (q("b"), "create".to_string()),
            (q("c"), "create".to_string()),
        ]
    );
    let out = ws.ok(&["plan", &stack]);
    assert!(
        stdout(&out).contains("sqs.queue.queue[\"b\"]"),
        "{}",
        stdout(&out)
    );

    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Resources: 3 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        queue_names(&clients).await,
        ["fanout-dev-a", "fanout-dev-b", "fanout-dev-c"]
    );
    assert_eq!(
        state_names(dir),
        ["queue[\"a\"]", "queue[\"b\"]", "queue[\"c\"]"]
    );
    // Each instance got the shared attributes.
    let state = read_state(dir, "fanout", "dev");
    let b_url = state["resources"]["queue[\"b\"]"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let attrs = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&b_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout))
            .map(String::as_str),
        Some("45")
    );

    // The output names one instance.
    let a_url = output_of(dir, &stack, "a_url", &[]);
    assert!(a_url.ends_with("/fanout-dev-a"), "{a_url}");
    assert_eq!(
        Some(a_url.as_str()),
        state["resources"]["queue[\"a\"]"]["id"].as_str()
    );

    // Without `b`: the plan deletes only that instance, the others stay as they are.
    let without_b = ["--var", r#"queues=["a", "c"]"#];
    assert_eq!(
        actions(&ws, &stack, &without_b),
        [
            (q("a"), "no_op".to_string()),
            (q("b"), "delete".to_string()),
            (q("c"), "no_op".to_string()),
        ]
    );
    let mut args = vec!["apply", stack.as_str(), "--auto-approve"];
    args.extend(without_b);
    let out = ws.ok(&args);
    assert!(
        stdout(&out).contains("Resources: 0 added, 0 changed, 1 destroyed."),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        queue_names(&clients).await,
        ["fanout-dev-a", "fanout-dev-c"]
    );
    assert_eq!(state_names(dir), ["queue[\"a\"]", "queue[\"c\"]"]);

    // Destroy leaves nothing.
    let mut args = vec!["destroy", stack.as_str(), "--auto-approve"];
    args.extend(without_b);
    let _out = ws.ok(&args);
    assert_eq!(queue_names(&clients).await, Vec::<String>::new());
    assert_eq!(state_names(dir), Vec::<String>::new());
}

const TABLE_STACK: &str = r#"
[stack]
name = "tiers"

[variables.stage]
default = "dev"

[variables.timeouts]
type = "table"
default = { fast = "30", slow = "300" }

[resources.queue]
type = "sqs.queue"
for_each = "${var.timeouts}"
name = "${stack.name}-${each.key}"
visibility_timeout_seconds = "${each.value}"
tags = { tier = "${each.key}", timeout = "${each.value}" }

[resources.dlq]
type = "sqs.queue"
for_each = { fast = 120, slow = 1200 }
name = "${stack.name}-${each.key}-dlq"
message_retention_seconds = "${each.value}"
"#;

/// One attribute of the queue named `name`, read back from the emulator.
async fn named_queue_attribute(
    clients: &strata::aws::Clients,
    name: &str,
    attribute: aws_sdk_sqs::types::QueueAttributeName,
) -> Option<String> {
    let url = clients.sqs.get_queue_url().queue_name(name).send().await;
    crate::common::queue_attribute(clients, &url.unwrap().queue_url.unwrap(), attribute).await
}

#[tokio::test(flavor = "multi_thread")]
async fn for_each_over_a_table_gives_each_instance_its_value() {
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("tiers.toml"), TABLE_STACK).unwrap();
    let _out = ws.ok(&["apply", "tiers.toml", "--auto-approve"]);
    assert_eq!(
        queue_names(&clients).await,
        [
            "tiers-fast",
            "tiers-fast-dlq",
            "tiers-slow",
            "tiers-slow-dlq"
        ]
    );
    // A table variable's values (strings) and a literal table's (integers), each where its
    // key's instance uses it.
    for (name, attribute, value) in [
        ("tiers-fast", Q::VisibilityTimeout, "30"),
        ("tiers-slow", Q::VisibilityTimeout, "300"),
        ("tiers-fast-dlq", Q::MessageRetentionPeriod, "120"),
        ("tiers-slow-dlq", Q::MessageRetentionPeriod, "1200"),
    ] {
        assert_eq!(
            named_queue_attribute(&clients, name, attribute.clone())
                .await
                .as_deref(),
            Some(value),
            "{name} {attribute:?}"
        );
    }
    let state = read_state(dir, "tiers", "dev");
    let slow = &state["resources"]["queue[\"slow\"]"]["attributes"];
    assert_eq!(slow["visibility_timeout_seconds"], 300);
    assert_eq!(
        slow["tags"],
        serde_json::json!({ "tier": "slow", "timeout": "300" })
    );

    // Another value for one key changes that instance only, in place.
    let slower = ["--var", r#"timeouts={ fast = "30", slow = "600" }"#];
    let plan = ws.plan_json("tiers.toml", &slower);
    assert_plan(
        &plan,
        &[(
            "sqs.queue.queue[\"slow\"]",
            "update",
            &["visibility_timeout_seconds", "tags.timeout"],
        )],
    );
    let mut args = vec!["apply", "tiers.toml", "--auto-approve"];
    args.extend(slower);
    ws.ok(&args);
    for (name, value) in [("tiers-slow", "600"), ("tiers-fast", "30")] {
        let read = named_queue_attribute(&clients, name, Q::VisibilityTimeout).await;
        assert_eq!(read.as_deref(), Some(value), "{name}");
    }

    let mut args = vec!["destroy", "tiers.toml", "--auto-approve"];
    args.extend(slower);
    ws.ok(&args);
    assert_eq!(queue_names(&clients).await, Vec::<String>::new());
}

const RENAMED: &str = r#"
[stack]
name = "renamed"

[resources.queue]
type = "sqs.queue"
for_each = { KEY = "renamed-orders", invoices = "renamed-invoices" }
name = "${each.value}"
MOVED
"#;

/// Issue 22: a `for_each` key could not be renamed without replacing its object (the
/// message said to "rename the instances one by one", with nothing to do it with).
/// `moved_from = { "old" = "new" }` renames the instance in state; nothing in AWS changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_for_each_key_renamed_with_moved_from_keeps_its_object() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = |key: &str, moved: &str| {
        let text = RENAMED.replace("KEY", key).replace("MOVED", moved);
        std::fs::write(dir.join("renamed.toml"), text).unwrap();
    };
    stack("orders", "");
    ws.ok(&["apply", "renamed.toml", "--auto-approve"]);
    let before = read_state(dir, "renamed", "default");
    let orders = before["resources"]["queue[\"orders\"]"]["id"].clone();
    let names = queue_names(&clients).await;

    stack("sales", "moved_from = { orders = \"sales\" }");
    let out = ws.run(&["plan", "renamed.toml", "--detailed-exitcode"]);
    assert_exit(&out, 2);
    let text = stdout(&out);
    assert!(
        text.contains("# sqs.queue.queue[\"sales\"] has moved from sqs.queue.queue[\"orders\"]"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 0 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    ws.ok(&["apply", "renamed.toml", "--auto-approve"]);
    let after = read_state(dir, "renamed", "default");
    assert_eq!(after["resources"]["queue[\"sales\"]"]["id"], orders);
    assert!(
        after["resources"].get("queue[\"orders\"]").is_none(),
        "{after:#}"
    );
    assert_eq!(queue_names(&clients).await, names);
    let _out = ws.ok(&["plan", "renamed.toml", "--detailed-exitcode"]);

    // A former name on a for_each resource, and a rename to a key it does not have.
    for (moved, message) in [
        (
            "moved_from = \"orders\"",
            "error: on a `for_each` resource, `moved_from` renames keys",
        ),
        (
            "moved_from = { orders = \"refunds\" }",
            "error: `moved_from` of `queue` renames `orders` to `refunds`, which is not one of its keys",
        ),
    ] {
        stack("sales", moved);
        let out = crate::common::strata(dir, &["validate", "renamed.toml"]);
        assert_exit(&out, 1);
        let err = crate::common::stderr(&out);
        assert!(err.contains(message), "{err}");
    }
    stack("sales", "moved_from = \"orders\"");
    let err = crate::common::stderr(&crate::common::strata(dir, &["validate", "renamed.toml"]));
    assert!(
        err.contains("write the former key of each renamed instance with its new key: `moved_from = { \"old_key\" = \"new_key\" }`"),
        "{err}"
    );
}
