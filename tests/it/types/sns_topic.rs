//! `sns.topic` on the emulator: every attribute read back with the SDK, in-place changes,
//! replacement, drift, import by name and by ARN, takeover refusal, destroy and policy.

use std::collections::HashMap;

use serde_json::json;

use super::sns_kit::{Lifecycle, assert_invalid};

const ARN: &str = "arn:aws:sns:us-east-1:000000000000:orders";

fn topic(display_name: &str, name: &str) -> String {
    format!(
        r#"
[resources.orders]
type = "sns.topic"
name = "{name}"
display_name = "{display_name}"
kms_master_key_id = "alias/aws/sns"
tags = {{ team = "core", stage = "dev" }}
policy = {{ Version = "2012-10-17", Statement = [
  {{ Sid = "S3Publishes", Effect = "Allow", Principal = {{ Service = "s3.amazonaws.com" }}, Action = "sns:Publish", Resource = "arn:${{aws.partition}}:sns:${{aws.region}}:${{aws.account_id}}:{name}" }},
] }}
"#
    )
}

async fn attributes(t: &Lifecycle, arn: &str) -> Option<HashMap<String, String>> {
    match t.aws.sns.get_topic_attributes().topic_arn(arn).send().await {
        Ok(out) => Some(out.attributes.unwrap_or_default()),
        Err(e) => {
            let e = strata::aws::sdk("GetTopicAttributes")(e);
            assert!(e.is_not_found(), "{e}");
            None
        }
    }
}

async fn tags(t: &Lifecycle, arn: &str) -> Vec<(String, String)> {
    let out = t
        .aws
        .sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

async fn topic_arns(t: &Lifecycle) -> Vec<String> {
    let out = t.aws.sns.list_topics().send().await.unwrap();
    out.topics()
        .iter()
        .filter_map(|t| t.topic_arn().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_is_created_changed_replaced_imported_and_destroyed() {
    let t = Lifecycle::start().await;
    t.write(&topic("Orders", "orders"));
    t.apply();
    assert_eq!(t.id("orders"), ARN);
    assert_eq!(t.state()["resources"]["orders"]["attributes"]["arn"], ARN);

    let live = attributes(&t, ARN).await.expect("the topic exists");
    assert_eq!(live["DisplayName"], "Orders");
    assert_eq!(live["KmsMasterKeyId"], "alias/aws/sns");
    assert_eq!(live.get("FifoTopic").map(String::as_str), None);
    let policy: serde_json::Value = serde_json::from_str(&live["Policy"]).unwrap();
    assert_eq!(
        policy,
        json!({ "Version": "2012-10-17", "Statement": [{
            "Sid": "S3Publishes", "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "sns:Publish", "Resource": ARN,
        }] })
    );
    assert_eq!(
        tags(&t, ARN).await,
        [
            ("stage".into(), "dev".into()),
            ("team".into(), "core".into())
        ]
    );
    t.assert_no_changes();

    // In place: the display name and a tag; the topic keeps its ARN.
    t.write(&topic("Orders v2", "orders").replace("stage = \"dev\"", "stage = \"prod\""));
    assert_eq!(
        t.changes(),
        [(
            "sns.topic.orders".to_string(),
            "update".to_string(),
            vec!["display_name".to_string(), "tags.stage".to_string()]
        )]
    );
    t.apply();
    assert_eq!(t.id("orders"), ARN);
    assert_eq!(
        attributes(&t, ARN).await.unwrap()["DisplayName"],
        "Orders v2"
    );
    assert_eq!(
        tags(&t, ARN).await,
        [
            ("stage".into(), "prod".into()),
            ("team".into(), "core".into())
        ]
    );
    t.assert_no_changes();

    // Drift made outside strata shows, and apply puts it back.
    t.aws
        .sns
        .set_topic_attributes()
        .topic_arn(ARN)
        .attribute_name("DisplayName")
        .attribute_value("changed by hand")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "sns.topic.orders".to_string(),
            "update".to_string(),
            vec!["display_name".to_string()]
        )]
    );
    t.apply();
    assert_eq!(
        attributes(&t, ARN).await.unwrap()["DisplayName"],
        "Orders v2"
    );

    // A new name replaces the topic.
    t.write(&topic("Orders v2", "orders-v2"));
    assert_eq!(
        t.reason("orders"),
        "`name` cannot change in place: the resource is replaced"
    );
    t.apply();
    let renamed = "arn:aws:sns:us-east-1:000000000000:orders-v2";
    assert_eq!(t.id("orders"), renamed);
    assert_eq!(topic_arns(&t).await, [renamed]);

    // Without its state, the topic is imported by its name (recorded by its ARN) and the
    // plan is empty; by its ARN as well.
    t.forget();
    assert_eq!(t.import("orders", "orders-v2"), renamed);
    t.assert_no_changes();
    t.forget();
    assert_eq!(t.import("orders", renamed), renamed);
    t.assert_no_changes();

    let actions = t.policy_actions();
    for action in [
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:ListTagsForResource",
        "sns:SetTopicAttributes",
        "sns:TagResource",
        "sns:UntagResource",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let policy = t.policy().to_string();
    assert!(
        policy.contains(&format!("\"{renamed}\"")),
        "the policy is scoped to the topic: {policy}"
    );

    t.destroy();
    assert_eq!(attributes(&t, renamed).await, None);
    assert_eq!(topic_arns(&t).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_topic_keeps_its_deduplication_setting() {
    let t = Lifecycle::start().await;
    t.write(
        r#"
[resources.jobs]
type = "sns.topic"
name = "jobs.fifo"
fifo_topic = true
content_based_deduplication = true
"#,
    );
    t.apply();
    let arn = "arn:aws:sns:us-east-1:000000000000:jobs.fifo";
    let live = attributes(&t, arn).await.unwrap();
    assert_eq!(live["FifoTopic"], "true");
    assert_eq!(live["ContentBasedDeduplication"], "true");
    t.assert_no_changes();
    t.write(
        r#"
[resources.jobs]
type = "sns.topic"
name = "jobs.fifo"
fifo_topic = true
content_based_deduplication = false
"#,
    );
    t.apply();
    assert_eq!(
        attributes(&t, arn).await.unwrap()["ContentBasedDeduplication"],
        "false"
    );
    assert_eq!(t.id("jobs"), arn);
    t.assert_no_changes();
    t.destroy();
    assert_eq!(attributes(&t, arn).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_topic_is_not_taken_over() {
    let t = Lifecycle::start().await;
    t.aws
        .sns
        .create_topic()
        .name("orders")
        .attributes("DisplayName", "Theirs")
        .send()
        .await
        .unwrap();
    t.write(&topic("Ours", "orders"));
    t.assert_takeover_refused("sns.topic", "`orders`", ARN);
    let live = attributes(&t, ARN).await.unwrap();
    assert_eq!(live["DisplayName"], "Theirs", "the topic is untouched");
    assert_eq!(live.get("KmsMasterKeyId"), None);
    assert_eq!(tags(&t, ARN).await, Vec::new());
}

#[test]
fn bad_topics_fail_validation_at_their_line() {
    assert_invalid(
        "[resources.t]\ntype = \"sns.topic\"\nname = \"orders.v2\"\n",
        5,
        "expected letters, digits, `-` and `_`",
    );
    assert_invalid(
        "[resources.t]\ntype = \"sns.topic\"\nname = \"jobs\"\nfifo_topic = true\n",
        5,
        "FIFO topic name `jobs` does not end in `.fifo`",
    );
    assert_invalid(
        &format!(
            "[resources.t]\ntype = \"sns.topic\"\nname = \"{}\"\n",
            "t".repeat(257)
        ),
        5,
        "257 characters long: expected 1 to 256 characters",
    );
    assert_invalid(
        "[resources.t]\ntype = \"sns.topic\"\nname = \"t\"\ndisplay_name = \"x\"\npolicy = { Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"sqs:SendMessage\", Resource = \"*\" }] }\n",
        7,
        "grants only `sns:` actions",
    );
    assert_invalid(
        "[resources.t]\ntype = \"sns.topic\"\nname = \"t\"\ndelivery = 3\n",
        6,
        "delivery",
    );
}
