//! `strata import` records an object under the id a create would record, whatever form of
//! it the user gives (a queue's name or ARN for its URL, an ARN for a name), and refuses an
//! object that another resource in the state already holds, naming both.

use std::collections::BTreeMap;

use serde_json::json;

use crate::common::{Workspace, assert_exit, assert_plan, read_state, stderr, stdout};

const TWO_QUEUES: &str = r#"
[stack]
name = "imp"

[resources.legacy]
type = "sqs.queue"
name = "imp-legacy"

[resources.other]
type = "sqs.queue"
name = "imp-other"
"#;

/// Issue 22's case: one queue imported by its URL as `legacy`, then by its name as `other`.
/// Recorded twice, the next apply would have replaced `other` and so deleted the queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_queue_imported_by_url_cannot_be_imported_again_by_name_or_arn() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("imp.toml"), TWO_QUEUES).unwrap();
    let url = clients
        .sqs
        .create_queue()
        .queue_name("imp-legacy")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let out = ws.ok(&["import", "imp.toml", "legacy", &url]);
    assert!(
        stdout(&out).contains(&format!("Imported sqs.queue.legacy (id {url}).")),
        "{}",
        stdout(&out)
    );
    let state_path = dir.join(".strata/imp-default.state.json");
    let state_before = std::fs::read_to_string(&state_path).unwrap();
    assert_eq!(
        read_state(dir, "imp", "default")["resources"]["legacy"]["id"],
        url.as_str()
    );

    let arn = "arn:aws:sqs:us-east-1:000000000000:imp-legacy";
    for (resource, given) in [
        ("other", "imp-legacy"),
        ("sqs.queue.other", arn),
        ("other", url.as_str()),
    ] {
        let out = ws.run(&["import", "imp.toml", resource, given]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains(&format!(
                "sqs.queue.legacy already holds this object (`{url}`): importing it as sqs.queue.other would manage one object from two resources. Nothing was imported"
            )),
            "{resource} {given}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&state_path).unwrap(),
            state_before,
            "the state changed after refusing {given}"
        );
    }

    // The queue is intact, and the stack goes on with it: `other` is created beside it.
    let out = ws.ok(&["apply", "imp.toml", "--auto-approve"]);
    assert!(
        stdout(&out).contains("Resources: 1 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );
    let mut queues = clients
        .sqs
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls()
        .to_vec();
    queues.sort();
    let other = url.replace("imp-legacy", "imp-other");
    assert_eq!(queues, [url.clone(), other]);
    assert_eq!(
        read_state(dir, "imp", "default")["resources"]["legacy"]["id"],
        url.as_str()
    );
}

/// Every type, imported back by another form of its id than the one strata records (and
/// by its `type.name` address for some): the state records exactly the ids the apply
/// recorded, and the next plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn every_type_imported_by_another_form_of_its_id_records_the_canonical_id() {
    let ws = Workspace::new().with_stacks();
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let state = read_state(dir, "producer-consumer", "dev");
    let resources = state["resources"].as_object().unwrap();
    let ids: BTreeMap<String, String> = resources
        .iter()
        .map(|(name, r)| (name.clone(), r["id"].as_str().unwrap().to_string()))
        .collect();
    let arn_of = |name: &str| {
        resources[name]["attributes"]["arn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let account = "000000000000";
    std::fs::remove_file(dir.join(".strata/producer-consumer-dev.state.json")).unwrap();

    let function_arn = arn_of("presign");
    let (_, statement) = ids["upload_api_invoke"].split_once('/').unwrap();
    let api = &ids["upload_api"];
    let given: Vec<(&str, String)> = vec![
        ("content_bucket", arn_of("content_bucket")),
        (
            "s3.bucket.trail_bucket",
            format!("s3://{}", ids["trail_bucket"]),
        ),
        ("content_bucket_policy", arn_of("content_bucket")),
        ("trail_bucket_policy", ids["trail_bucket"].clone()),
        ("content_notification", arn_of("content_bucket")),
        (
            "sqs.queue.content_queue",
            "producer-consumer-dev-content".to_string(),
        ),
        ("dead_letter_queue", arn_of("dead_letter_queue")),
        ("content_queue_policy", arn_of("content_queue")),
        (
            "presign_role",
            format!("arn:aws:iam::{account}:role/producer-consumer-dev-presign"),
        ),
        ("lambda.function.presign", function_arn.clone()),
        // A log group's ARN, in the form DescribeLogGroups gives (with `:*`).
        (
            "presign_logs",
            format!(
                "arn:aws:logs:us-east-1:{account}:log-group:/aws/lambda/producer-consumer-dev-presign:*"
            ),
        ),
        ("upload_api_invoke", format!("{function_arn}/{statement}")),
        (
            "upload_api",
            format!("{}/_aws/execute-api/{api}/prod", ws.emulator().endpoint),
        ),
        ("trail", arn_of("trail")),
    ];
    assert_eq!(given.len(), ids.len());
    for (resource, id) in &given {
        let out = ws.ok(&["import", &stack, resource, id]);
        let name = resource.rsplit('.').next().unwrap();
        let recorded = &ids[name];
        let shown = if recorded == id {
            format!("(id {id}).")
        } else {
            format!("(id {recorded}, given as {id}).")
        };
        assert!(
            stdout(&out).contains(&shown),
            "{resource}: {}",
            stdout(&out)
        );
    }
    let imported: BTreeMap<String, String> =
        read_state(dir, "producer-consumer", "dev")["resources"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, r)| (name.clone(), r["id"].as_str().unwrap().to_string()))
            .collect();
    assert_eq!(imported, ids);
    let _out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
}

/// The emulator's Python, with boto3 (what a user's own scripts would create objects with).
fn venv_python() -> std::path::PathBuf {
    let local = std::env::var_os("STRATA_LOCAL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::common::repo().join(".local"));
    local.join("aws-venv/bin/python")
}

const KEPT: &str = r#"
[stack]
name = "kept"

[resources.queue]
type = "sqs.queue"
name = "kept-jobs"

[resources.role]
type = "iam.role"
name = "kept-worker"
assume_role_policy = { service = "lambda.amazonaws.com" }
"#;

/// Issue 22: a queue (and a role) made outside strata with other limits than strata's
/// defaults, imported into a stack that does not mention them, plans nothing: no limit
/// shrinks, no role is replaced for its path. Written in the stack, a limit plans its change.
#[tokio::test(flavor = "multi_thread")]
async fn limits_a_stack_leaves_out_keep_their_values_after_import() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("kept.toml"), KEPT).unwrap();
    let script = r#"
import json, os, boto3
args = dict(endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
url = boto3.client("sqs", **args).create_queue(QueueName="kept-jobs", Attributes={
    "MaximumMessageSize": "131072", "MessageRetentionPeriod": "86400"})["QueueUrl"]
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "lambda.amazonaws.com"}}]}
boto3.client("iam", **args).create_role(RoleName="kept-worker", Path="/workers/",
    MaxSessionDuration=7200, AssumeRolePolicyDocument=json.dumps(trust))
print(url)
"#;
    let out = std::process::Command::new(venv_python())
        .args(["-c", script])
        .env("ENDPOINT", &ws.emulator().endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();

    ws.ok(&["import", "kept.toml", "queue", &url]);
    ws.ok(&["import", "kept.toml", "role", "kept-worker"]);
    let out = ws.ok(&["plan", "kept.toml", "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));

    // Written in the stack, the limit is managed: the plan changes it, apply sets it.
    std::fs::write(
        dir.join("kept.toml"),
        KEPT.replace(
            "name = \"kept-jobs\"",
            "name = \"kept-jobs\"\nmaximum_message_size = 262144",
        ),
    )
    .unwrap();
    let plan = ws.plan_json("kept.toml", &[]);
    assert_plan(
        &plan,
        &[("sqs.queue.queue", "update", &["maximum_message_size"])],
    );
    let change = &plan["resources"][0]["changes"][0];
    assert_eq!(
        (&change["before"], &change["after"]),
        (&json!(131072), &json!(262144))
    );
    ws.ok(&["apply", "kept.toml", "--auto-approve"]);
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let get = |name| attributes[&aws_sdk_sqs::types::QueueAttributeName::from(name)].clone();
    assert_eq!(
        (get("MaximumMessageSize"), get("MessageRetentionPeriod")),
        ("262144".to_string(), "86400".to_string())
    );
    let role = clients
        .iam
        .get_role()
        .role_name("kept-worker")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        (role.path(), role.max_session_duration()),
        ("/workers/", Some(7200))
    );
}
