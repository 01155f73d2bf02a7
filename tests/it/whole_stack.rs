//! The whole producer-consumer stack: both files deployed from nothing, two stages side by
//! side, changes in the child and in the parent, trail drift put back, and destroy.

use crate::common::{
    Workspace, assert_exit, assert_no_changes, assert_plan, planned_changes, stdout,
};
use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};
use serde_json::Value as Json;

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_consumer_from_nothing_two_stages_changes_drift_and_destroy() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    let prod = ["--var", "stage=prod"];

    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 14 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );
    let _out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);

    let out = ws.ok_offline(&["output", &stack, "--json"]);
    let outputs: Json = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&String> = outputs.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api_url",
            "content_bucket",
            "dead_letter_queue_url",
            "queue_url"
        ]
    );
    assert_eq!(
        outputs["content_bucket"]["value"],
        "producer-consumer-dev-content-000000000000"
    );
    assert!(
        outputs["queue_url"]["value"]
            .as_str()
            .unwrap()
            .ends_with("/producer-consumer-dev-content")
    );

    // A second stage beside the first.
    let mut apply_prod = vec!["apply", stack.as_str(), "--auto-approve"];
    apply_prod.extend(prod);
    ws.ok(&apply_prod);
    let mut buckets: Vec<String> = clients
        .s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    buckets.sort();
    assert_eq!(
        buckets,
        [
            "producer-consumer-dev-content-000000000000",
            "producer-consumer-dev-trail-000000000000",
            "producer-consumer-prod-content-000000000000",
            "producer-consumer-prod-trail-000000000000"
        ]
    );

    // A change in the child and one in the parent, each shown with its file.
    edit(
        &stacks.join("producer-consumer.toml"),
        "visibility_timeout_seconds = 360",
        "visibility_timeout_seconds = 400",
    );
    edit(
        &stacks.join("upload-form.toml"),
        "memory_size = 128",
        "memory_size = 256",
    );
    let plan = ws.plan_json(&stack, &[]);
    assert_plan(
        &plan,
        &[
            ("lambda.function.presign", "update", &["memory_size"]),
            (
                "sqs.queue.content_queue",
                "update",
                &["visibility_timeout_seconds"],
            ),
        ],
    );
    let origin = |address: &str| {
        let r = plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap();
        r["changes"][0]["origin"].as_str().unwrap().to_string()
    };
    assert!(
        origin("lambda.function.presign").contains("stacks/upload-form.toml:"),
        "{}",
        origin("lambda.function.presign")
    );
    assert!(
        origin("sqs.queue.content_queue").contains("stacks/producer-consumer.toml:"),
        "{}",
        origin("sqs.queue.content_queue")
    );
    let out = ws.run(&["plan", &stack, "--no-color"]);
    assert!(
        stdout(&out).contains("~ memory_size = 128 -> 256"),
        "{}",
        stdout(&out)
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let function = clients
        .lambda
        .get_function_configuration()
        .function_name("producer-consumer-dev-presign")
        .send()
        .await
        .unwrap();
    assert_eq!(function.memory_size(), Some(256));

    // Trail drift: selectors changed and logging stopped out of band are put back.
    let trail = "producer-consumer-dev-trail";
    let selector = EventSelector::builder()
        .read_write_type(ReadWriteType::ReadOnly)
        .include_management_events(true)
        .build();
    clients
        .cloudtrail
        .put_event_selectors()
        .trail_name(trail)
        .event_selectors(selector)
        .send()
        .await
        .unwrap();
    clients
        .cloudtrail
        .stop_logging()
        .name(trail)
        .send()
        .await
        .unwrap();
    let plan = ws.plan_json(&stack, &[]);
    let changes = planned_changes(&plan);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "cloudtrail.trail.trail");
    assert!(
        changes[0].2.contains(&"enable_logging".to_string()),
        "{changes:?}"
    );
    assert!(
        changes[0]
            .2
            .iter()
            .any(|p| p.starts_with("event_selectors")),
        "{changes:?}"
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let status = clients
        .cloudtrail
        .get_trail_status()
        .name(trail)
        .send()
        .await
        .unwrap();
    assert_eq!(status.is_logging(), Some(true));
    let selectors = clients
        .cloudtrail
        .get_event_selectors()
        .trail_name(trail)
        .send()
        .await
        .unwrap();
    let selector = &selectors.event_selectors()[0];
    assert_eq!(selector.read_write_type(), Some(&ReadWriteType::All));
    assert_eq!(selector.include_management_events(), Some(false));
    let data = &selector.data_resources()[0];
    assert_eq!(data.r#type(), Some("AWS::S3::Object"));
    assert_eq!(
        data.values(),
        ["arn:aws:s3:::producer-consumer-dev-content-000000000000/"]
    );
    assert_no_changes(&ws.plan_json(&stack, &[]));

    // Destroying dev leaves prod untouched.
    ws.ok(&["destroy", &stack, "--auto-approve"]);
    let mut plan_prod = vec!["plan", stack.as_str(), "--detailed-exitcode"];
    plan_prod.extend(prod);
    // prod still has the old memory size and timeout: exactly those two changes, nothing recreated.
    let out = ws.run(&plan_prod);
    assert_exit(&out, 2);
    assert!(
        stdout(&out).contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{}",
        stdout(&out)
    );
    let mut destroy_prod = vec!["destroy", stack.as_str(), "--auto-approve"];
    destroy_prod.extend(prod);
    ws.ok(&destroy_prod);

    // Nothing of either stage is left.
    assert_eq!(
        crate::common::live_ids(&clients).await,
        std::collections::BTreeSet::new()
    );
}

/// Security by default, read from the live resources of the shipped stack.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_stack_is_locked_down_by_default() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("producer-consumer-dev-content-{account}");

    // Content bucket: public access fully blocked, encrypted, TLS only.
    crate::common::assert_locked_down(&clients, &bucket).await;
    let policy: Json = serde_json::from_str(
        clients
            .s3
            .get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    let deny = &policy["Statement"][0];
    assert_eq!(
        (deny["Effect"].as_str(), deny["Principal"].as_str()),
        (Some("Deny"), Some("*"))
    );
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");

    // Queue policy: only S3, only for this bucket and this account (no confused deputy).
    let queue_url = crate::common::output_of(dir, &stack, "queue_url", &[]);
    let attrs = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
        .send()
        .await
        .unwrap();
    let policy: Json = serde_json::from_str(
        &attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::Policy],
    )
    .unwrap();
    let allow = &policy["Statement"][0];
    assert_eq!(allow["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(allow["Action"], "sqs:SendMessage");
    assert_eq!(
        allow["Condition"]["ArnLike"]["aws:SourceArn"],
        format!("arn:aws:s3:::{bucket}").as_str()
    );
    assert_eq!(
        allow["Condition"]["StringEquals"]["aws:SourceAccount"],
        account.as_str()
    );

    // The presign role: PutObject and GetObject on input/* of the content bucket, nothing else.
    let role = "producer-consumer-dev-presign";
    let names = clients
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    // IAM lists names in no documented order.
    let mut names = names.policy_names().to_vec();
    names.sort();
    assert_eq!(names, ["presign-logs", "presign-objects"]);
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let inline = clients
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name("presign-objects")
        .send()
        .await
        .unwrap();
    let inline: Json = serde_json::from_str(&strata::resources::support::percent_decode(
        inline.policy_document(),
    ))
    .unwrap();
    assert_eq!(inline["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(inline["Statement"][0]["Effect"], "Allow");
    // Listing, so that S3 answers 404 (not 403) for an absent key: after a failed
    // completion, the function and `send` look the object up.
    assert_eq!(
        inline["Statement"][1],
        serde_json::json!({ "Effect": "Allow", "Action": "s3:ListBucket",
                            "Resource": format!("arn:aws:s3:::{bucket}") })
    );
    assert_eq!(
        inline["Statement"][0]["Action"],
        serde_json::json!(["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"])
    );
    assert_eq!(
        inline["Statement"][0]["Resource"],
        format!("arn:aws:s3:::{bucket}/input/*").as_str()
    );

    // The state file is private.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join(".strata/producer-consumer-dev.state.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
