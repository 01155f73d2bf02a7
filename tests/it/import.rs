//! `strata import` records an object under the id a create would record, whatever form of
//! it the user gives (a queue's name or ARN for its URL, an ARN for a name), and refuses an
//! object that another resource in the state already holds, naming both.

use std::collections::BTreeMap;

use crate::common::{Emulator, assert_exit, copy_stacks, read_state, run, stderr, stdout};

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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
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

    let out = run(dir, &emulator, &["import", "imp.toml", "legacy", &url]);
    assert_exit(&out, 0);
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
        let out = run(dir, &emulator, &["import", "imp.toml", resource, given]);
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
    let out = run(dir, &emulator, &["apply", "imp.toml", "--auto-approve"]);
    assert_exit(&out, 0);
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
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stacks = copy_stacks(dir);
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    assert_exit(
        &run(dir, &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
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
        ("upload_api_invoke", format!("{function_arn}/{statement}")),
        (
            "upload_api",
            format!("{}/_aws/execute-api/{api}/prod", emulator.endpoint),
        ),
        ("trail", arn_of("trail")),
    ];
    assert_eq!(given.len(), ids.len());
    for (resource, id) in &given {
        let out = run(dir, &emulator, &["import", &stack, resource, id]);
        assert_exit(&out, 0);
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
    let out = run(dir, &emulator, &["plan", &stack, "--detailed-exitcode"]);
    assert_exit(&out, 0);
}
