//! `strata apply PLAN` executes exactly the saved plan, or refuses it with nothing changed
//! when what it rests on has moved: the stack files, the state, or the objects it touches.

use std::path::Path;

use aws_sdk_sqs::types::QueueAttributeName as Q;

use crate::common::{Workspace, assert_exit, stderr, stdout};

const STACK: &str = r#"
[stack]
name = "reviewed"

[variables.stage]
default = "dev"

[resources.queue]
type = "sqs.queue"
name = "${stack.name}-${var.stage}-jobs"
visibility_timeout_seconds = 60
"#;

fn write_stack(dir: &Path, visibility: u32) {
    std::fs::write(
        dir.join("stack.toml"),
        STACK.replace(
            "visibility_timeout_seconds = 60",
            &format!("visibility_timeout_seconds = {visibility}"),
        ),
    )
    .unwrap();
}

async fn queue_url(clients: &strata::aws::Clients) -> String {
    clients
        .sqs
        .get_queue_url()
        .queue_name("reviewed-dev-jobs")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn live_visibility(clients: &strata::aws::Clients) -> String {
    let url = queue_url(clients).await;
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Q::VisibilityTimeout)
        .send()
        .await
        .unwrap();
    out.attributes().unwrap()[&Q::VisibilityTimeout].clone()
}

fn state_serial(dir: &Path) -> u64 {
    crate::common::read_state(dir, "reviewed", "dev")["serial"]
        .as_u64()
        .unwrap()
}

/// Applies the stack at 60, then saves a plan that takes it to 90.
fn deployed_with_a_saved_plan_to_90(ws: &Workspace) {
    let dir = ws.dir();
    write_stack(dir, 60);
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    write_stack(dir, 90);
    let out = ws.ok(&["plan", "stack.toml", "--out", "saved.plan"]);
    assert!(
        stdout(&out).contains("~ visibility_timeout_seconds = 60 -> 90"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_after_plan_out_is_never_applied() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    deployed_with_a_saved_plan_to_90(&ws);
    let serial = state_serial(dir);

    // Edited again after the review: the plan is refused and nothing changes.
    write_stack(dir, 120);
    let out = ws.run(&["apply", "saved.plan"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("the saved plan is stale"), "{err}");
    assert!(err.contains("stack.toml was edited"), "{err}");
    assert_eq!(live_visibility(&clients).await, "60");
    assert_eq!(state_serial(dir), serial, "the state was not written");

    // Back to what was reviewed: exactly the reviewed change is applied.
    write_stack(dir, 90);
    let out = ws.ok(&["apply", "saved.plan"]);
    assert!(
        stdout(&out).contains("Resources: 0 added, 1 changed, 0 destroyed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(live_visibility(&clients).await, "90");
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_on_a_touched_resource_after_plan_out_is_refused() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    deployed_with_a_saved_plan_to_90(&ws);

    // Someone changes the queue by hand after the review.
    let url = queue_url(&clients).await;
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(Q::VisibilityTimeout, "45")
        .send()
        .await
        .unwrap();

    let out = ws.run(&["apply", "saved.plan"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("the saved plan is stale"), "{err}");
    assert!(
        err.contains("sqs.queue.queue: `visibility_timeout_seconds` is 45 (the plan read 60)"),
        "{err}"
    );
    assert_eq!(live_visibility(&clients).await, "45", "nothing was changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_whose_state_moved_on_is_refused() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    deployed_with_a_saved_plan_to_90(&ws);
    let planned_from = state_serial(dir);

    // Another apply of the same change (say, from another terminal) moves the state.
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    let serial = state_serial(dir);
    let out = ws.run(&["apply", "saved.plan"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "it was made from state serial {planned_from} and the state is now at serial {serial}"
        )),
        "{err}"
    );
    assert_eq!(state_serial(dir), serial);
    assert_eq!(live_visibility(&clients).await, "90");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_a_typed_record_with_the_values_it_applies() {
    let ws = Workspace::new();
    let dir = ws.dir();
    deployed_with_a_saved_plan_to_90(&ws);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("saved.plan")).unwrap()).unwrap();
    assert_eq!(saved["format"], "strata-saved-plan");
    let queue = &saved["plan"]["resources"][0];
    assert_eq!(queue["action"], "update");
    assert_eq!(
        queue["reason"],
        serde_json::json!({"kind": "attributes_changed", "attributes": ["visibility_timeout_seconds"]})
    );
    assert_eq!(queue["before"]["visibility_timeout_seconds"], 60);
    assert_eq!(queue["after"]["visibility_timeout_seconds"], 90);
    assert!(
        saved["files"][0]["sha256"].as_str().unwrap().len() == 64,
        "{saved}"
    );
}
