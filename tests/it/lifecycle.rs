//! `lifecycle`: `prevent_destroy` refuses a destroy and a replacement, `ignore_changes`
//! hides drift made outside strata, `create_before_destroy` creates the replacement first
//! (and refuses when the new object would take the old one's name).

use crate::common::{
    Workspace, assert_exit, assert_no_changes, assert_plan, queue_attribute, stderr, stdout,
};

const PROTECTED: &str = r#"
[stack]
name = "keep"

[resources.jobs]
type = "sqs.queue"
name = "keep-jobs"
delay_seconds = 5
tags = { team = "a" }
lifecycle = { prevent_destroy = true, ignore_changes = ["tags", "delay_seconds"] }
"#;

async fn queue_names(clients: &strata::aws::Clients) -> Vec<String> {
    crate::for_each::queue_names(clients).await
}

#[tokio::test(flavor = "multi_thread")]
async fn prevent_destroy_refuses_a_destroy_and_a_replacement() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    ws.write("stack.toml", PROTECTED);
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);

    for args in [
        &["destroy", "stack.toml", "--auto-approve"][..],
        &["plan", "stack.toml", "--destroy"][..],
    ] {
        let out = ws.run(args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(
                "error: sqs.queue.jobs has `prevent_destroy`, and this plan would destroy it"
            ),
            "{err}"
        );
        assert!(err.contains("stack.toml:10:"), "{err}");
    }
    // A new name forces a replacement: refused too.
    ws.write("stack.toml", &PROTECTED.replace("keep-jobs", "keep-jobs-2"));
    let out = ws.run(&["apply", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out)
            .contains("sqs.queue.jobs has `prevent_destroy`, and this plan would replace it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(queue_names(&clients).await, ["keep-jobs"]);

    // Without it, the destroy goes ahead.
    ws.write(
        "stack.toml",
        &PROTECTED.replace("prevent_destroy = true, ", ""),
    );
    ws.ok(&["destroy", "stack.toml", "--auto-approve"]);
    assert_eq!(queue_names(&clients).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_changes_hides_drift_made_outside_strata() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    ws.write(
        "stack.toml",
        &PROTECTED.replace("prevent_destroy = true, ", ""),
    );
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    let url = ws.state("keep", "default")["resources"]["jobs"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Drift in both ignored attributes, and in one that is not.
    clients
        .sqs
        .tag_queue()
        .queue_url(&url)
        .tags("team", "b")
        .tags("owner", "ops")
        .send()
        .await
        .unwrap();
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::DelaySeconds, "9")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "60",
        )
        .send()
        .await
        .unwrap();
    let plan = ws.plan_json("stack.toml", &[]);
    assert_plan(
        &plan,
        &[("sqs.queue.jobs", "update", &["visibility_timeout_seconds"])],
    );
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    assert_no_changes(&ws.plan_json("stack.toml", &[]));
    // The update left the ignored attributes as they were made outside strata.
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    let attribute = |name| queue_attribute(&clients, &url, name);
    assert_eq!(attribute(Q::DelaySeconds).await.as_deref(), Some("9"));
    assert_eq!(attribute(Q::VisibilityTimeout).await.as_deref(), Some("30"));
    let tags = clients
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap()["team"], "b");

    // An attribute the type does not have is refused before any call.
    ws.write(
        "bad.toml",
        &PROTECTED.replace("\"delay_seconds\"]", "\"delay_second\"]"),
    );
    let out = ws.strata(&["validate", "bad.toml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("error: `ignore_changes` of `jobs` names unknown attribute `delay_second`"),
        "{err}"
    );
    assert!(err.contains("bad.toml:10:"), "{err}");
    assert!(err.contains("did you mean `delay_seconds`?"), "{err}");
}

const PARAMETER: &str = r#"
[stack]
name = "cbd"

[resources.jobs]
type = "sqs.queue"
name = "cbd-jobs-1"
lifecycle = { create_before_destroy = true }

[resources.setting]
type = "ssm.parameter"
name = "/cbd/setting"
parameter_type = "String"
value = "a,b"
lifecycle = { create_before_destroy = true }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn create_before_destroy_creates_the_replacement_first() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    ws.write("stack.toml", PARAMETER);
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);

    // A new name: the new queue is created, then the old one deleted.
    ws.write("stack.toml", &PARAMETER.replace("cbd-jobs-1", "cbd-jobs-2"));
    let out = ws.ok(&["plan", "stack.toml"]);
    let text = stdout(&out);
    assert!(text.contains("# sqs.queue.jobs must be replaced"), "{text}");
    assert!(
        text.contains(
            "create before destroy: the new object is created first, then the old one deleted"
        ),
        "{text}"
    );
    let plan = ws.plan_json("stack.toml", &[]);
    assert_eq!(
        plan["resources"][0]["create_before_destroy"], true,
        "{plan}"
    );
    ws.ok(&["apply", "stack.toml", "--auto-approve"]);
    assert_eq!(queue_names(&clients).await, ["cbd-jobs-2"]);
    let state = ws.state("cbd", "default");
    let mut names: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["jobs", "setting"], "{state:#}");
    assert!(
        state["resources"]["jobs"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/cbd-jobs-2")
    );

    // The same name for a replacement made first: refused, nothing changed.
    ws.write(
        "stack.toml",
        &PARAMETER
            .replace("cbd-jobs-1", "cbd-jobs-2")
            .replace("\"String\"", "\"StringList\""),
    );
    let out = ws.run(&["apply", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("error: ssm.parameter.setting cannot be created before it is destroyed: the new ssm.parameter would be named `/cbd/setting`, as the old one is"),
        "{err}"
    );
    assert!(err.contains("stack.toml:15:"), "{err}");
    let parameter = clients
        .ssm
        .get_parameter()
        .name("/cbd/setting")
        .send()
        .await
        .unwrap();
    assert_eq!(
        parameter.parameter().unwrap().r#type().unwrap().as_str(),
        "String"
    );
}
