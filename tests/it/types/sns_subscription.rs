//! `sns.subscription` on the emulator: a queue subscribed to a topic receives what is
//! published (filtered, raw or wrapped), every attribute read back with the SDK, in-place
//! changes, replacement, drift, import, takeover refusal, a pending HTTPS subscription,
//! destroy and policy.

use std::collections::HashMap;

use aws_sdk_sns::types::MessageAttributeValue;

use super::sns_kit::{Lifecycle, assert_invalid};
use crate::common::assert_exit;

const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:orders";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:inbox";

/// A topic, a queue whose policy lets the topic send to it, and the queue's subscription
/// with `settings`.
fn stack(endpoint: &str, settings: &str) -> String {
    format!(
        r#"
[resources.orders]
type = "sns.topic"
name = "orders"

[resources.inbox]
type = "sqs.queue"
name = "inbox"

[resources.other]
type = "sqs.queue"
name = "other"

[resources.inbox_policy]
type = "sqs.queue_policy"
queue_url = "${{inbox.url}}"
policy = {{ Version = "2012-10-17", Statement = [
  {{ Sid = "TopicSends", Effect = "Allow", Principal = {{ Service = "sns.amazonaws.com" }}, Action = "sqs:SendMessage", Resource = "${{inbox.arn}}", Condition = {{ ArnEquals = {{ "aws:SourceArn" = "${{orders.arn}}" }} }} }},
] }}

[resources.to_inbox]
type = "sns.subscription"
topic_arn = "${{orders.arn}}"
protocol = "sqs"
endpoint = "${{{endpoint}.arn}}"
{settings}
"#
    )
}

async fn subscription(t: &Lifecycle, arn: &str) -> Option<HashMap<String, String>> {
    match t
        .aws
        .sns
        .get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
    {
        Ok(out) => Some(out.attributes.unwrap_or_default()),
        Err(e) => {
            let e = strata::aws::sdk("GetSubscriptionAttributes")(e);
            assert!(e.is_not_found(), "{e}");
            None
        }
    }
}

/// Every subscription of `topic`: (ARN, protocol, endpoint).
async fn subscriptions(t: &Lifecycle, topic: &str) -> Vec<(String, String, String)> {
    let out = t
        .aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap();
    out.subscriptions()
        .iter()
        .map(|s| {
            (
                s.subscription_arn().unwrap_or_default().to_string(),
                s.protocol().unwrap_or_default().to_string(),
                s.endpoint().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn publish(t: &Lifecycle, message: &str, event: &str) {
    let attribute = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(event)
        .build()
        .unwrap();
    t.aws
        .sns
        .publish()
        .topic_arn(TOPIC)
        .message(message)
        .message_attributes("event", attribute)
        .send()
        .await
        .unwrap();
}

/// The bodies of the messages in the queue `name` (received and deleted).
async fn received(t: &Lifecycle, name: &str) -> Vec<String> {
    let url = t
        .aws
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let out = t
        .aws
        .sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for message in out.messages() {
        bodies.push(message.body().unwrap_or_default().to_string());
        t.aws
            .sqs
            .delete_message()
            .queue_url(&url)
            .receipt_handle(message.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    bodies
}

const FILTERED_RAW: &str = r#"raw_message_delivery = true
filter_policy = '{ "event": ["order_placed"] }'
filter_policy_scope = "MessageAttributes"
redrive_policy = { dead_letter_queue = "${other.arn}" }"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribed_queue_receives_what_the_topic_publishes_through_the_lifecycle() {
    let t = Lifecycle::start().await;
    t.write(&stack("inbox", FILTERED_RAW));
    t.apply();
    let arn = t.id("to_inbox");
    assert!(arn.starts_with(&format!("{TOPIC}:")), "{arn}");
    assert_eq!(
        t.state()["resources"]["to_inbox"]["attributes"]["arn"],
        arn.as_str()
    );

    let live = subscription(&t, &arn)
        .await
        .expect("the subscription exists");
    assert_eq!(live["TopicArn"], TOPIC);
    assert_eq!(live["Protocol"], "sqs");
    assert_eq!(live["Endpoint"], QUEUE_ARN);
    assert_eq!(live["RawMessageDelivery"], "true");
    assert_eq!(live["FilterPolicyScope"], "MessageAttributes");
    assert_eq!(live["PendingConfirmation"], "false");
    let filter: serde_json::Value = serde_json::from_str(&live["FilterPolicy"]).unwrap();
    assert_eq!(filter, serde_json::json!({ "event": ["order_placed"] }));
    let redrive: serde_json::Value = serde_json::from_str(&live["RedrivePolicy"]).unwrap();
    assert_eq!(
        redrive,
        serde_json::json!({ "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:other" })
    );
    // The filter policy written in another layout is no change.
    t.assert_no_changes();

    // Raw delivery: the body is the message itself; the filter keeps other events out.
    publish(&t, "order 1 placed", "order_placed").await;
    publish(&t, "order 1 shipped", "order_shipped").await;
    assert_eq!(received(&t, "inbox").await, ["order 1 placed"]);

    // In place: wrapped delivery and another filter; the subscription keeps its ARN.
    t.write(&stack(
        "inbox",
        r#"raw_message_delivery = false
filter_policy = '{"event": ["order_shipped"]}'"#,
    ));
    assert_eq!(
        t.changes(),
        [(
            "sns.subscription.to_inbox".to_string(),
            "update".to_string(),
            vec![
                "raw_message_delivery".to_string(),
                "filter_policy".to_string()
            ]
        )]
    );
    t.apply();
    assert_eq!(t.id("to_inbox"), arn);
    let live = subscription(&t, &arn).await.unwrap();
    assert_eq!(live["RawMessageDelivery"], "false");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&live["FilterPolicy"]).unwrap(),
        serde_json::json!({ "event": ["order_shipped"] })
    );
    publish(&t, "order 2 placed", "order_placed").await;
    publish(&t, "order 2 shipped", "order_shipped").await;
    let bodies = received(&t, "inbox").await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], TOPIC);
    assert_eq!(envelope["Message"], "order 2 shipped");
    t.assert_no_changes();

    // Drift made with the SDK shows in the plan, and apply puts it back.
    t.aws
        .sns
        .set_subscription_attributes()
        .subscription_arn(&arn)
        .attribute_name("RawMessageDelivery")
        .attribute_value("true")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "sns.subscription.to_inbox".to_string(),
            "update".to_string(),
            vec!["raw_message_delivery".to_string()]
        )]
    );
    t.apply();
    assert_eq!(
        subscription(&t, &arn).await.unwrap()["RawMessageDelivery"],
        "false"
    );

    // Without its state, every resource is imported and the plan is empty.
    t.forget();
    t.import("orders", "orders");
    t.import("inbox", "inbox");
    t.import("other", "other");
    t.import("inbox_policy", "inbox");
    assert_eq!(t.import("to_inbox", &arn), arn);
    t.assert_no_changes();

    // Another endpoint replaces the subscription.
    t.write(&stack("other", ""));
    assert_eq!(
        t.reason("to_inbox"),
        "`endpoint` cannot change in place: the resource is replaced"
    );
    t.apply();
    let replaced = t.id("to_inbox");
    assert_ne!(replaced, arn);
    assert_eq!(subscription(&t, &arn).await, None);
    assert_eq!(
        subscriptions(&t, TOPIC).await,
        [(
            replaced.clone(),
            "sqs".to_string(),
            "arn:aws:sqs:us-east-1:000000000000:other".to_string()
        )]
    );

    let actions = t.policy_actions();
    for action in [
        "sns:Subscribe",
        "sns:ListSubscriptionsByTopic",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
        "sns:Unsubscribe",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }

    t.destroy();
    assert_eq!(subscription(&t, &replaced).await, None);
    let topics = t.aws.sns.list_topics().send().await.unwrap();
    assert_eq!(topics.topics().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_subscription_of_the_same_endpoint_is_not_taken_over() {
    let t = Lifecycle::start().await;
    t.aws
        .sns
        .create_topic()
        .name("orders")
        .send()
        .await
        .unwrap();
    t.aws
        .sqs
        .create_queue()
        .queue_name("inbox")
        .send()
        .await
        .unwrap();
    let theirs = t
        .aws
        .sns
        .subscribe()
        .topic_arn(TOPIC)
        .protocol("sqs")
        .endpoint(QUEUE_ARN)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    t.write(&format!(
        r#"
[resources.to_inbox]
type = "sns.subscription"
topic_arn = "{TOPIC}"
protocol = "sqs"
endpoint = "{QUEUE_ARN}"
raw_message_delivery = true
"#
    ));
    t.assert_takeover_refused(
        "sns.subscription",
        &format!("`sqs` subscription of `{QUEUE_ARN}`"),
        &theirs,
    );
    let live = subscription(&t, &theirs).await.unwrap();
    assert_eq!(
        live["RawMessageDelivery"], "false",
        "the subscription is untouched"
    );
    assert_eq!(subscriptions(&t, TOPIC).await.len(), 1);
}

/// An HTTPS subscription waits for its endpoint to confirm it: strata records its ARN (the
/// emulator answers "pending confirmation", and lists the ARN) and shows it pending.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_https_subscription_is_recorded_with_its_arn() {
    let t = Lifecycle::start().await;
    t.write(
        r#"
[resources.orders]
type = "sns.topic"
name = "orders"

[resources.hook]
type = "sns.subscription"
topic_arn = "${orders.arn}"
protocol = "https"
endpoint = "https://127.0.0.1:9/hook"
"#,
    );
    t.apply();
    let arn = t.id("hook");
    assert!(arn.starts_with(&format!("{TOPIC}:")), "{arn}");
    let live = subscription(&t, &arn).await.unwrap();
    assert_eq!(live["PendingConfirmation"], "true");
    assert_eq!(live["Endpoint"], "https://127.0.0.1:9/hook");
    assert_eq!(
        t.state()["resources"]["hook"]["attributes"]["pending_confirmation"],
        true
    );
    t.assert_no_changes();
    t.destroy();
    assert_eq!(subscription(&t, &arn).await, None);
}

/// A user holding exactly the generated policy applies, plans and destroys the topic, the
/// queue and its policy, and the subscription, on the emulator that evaluates IAM.
#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_is_enough_to_deploy_and_destroy_a_subscription() {
    let t = Lifecycle::strict().await;
    t.write(&stack("inbox", FILTERED_RAW));
    let keys = t
        .user_with_generated_policy(&[
            "sns:ListTagsForResource",
            "sns:TagResource",
            "sns:UntagResource",
        ])
        .await;
    assert_exit(&t.run_as(&keys, "apply", &["--auto-approve"]), 0);
    assert_exit(&t.run_as(&keys, "plan", &["--detailed-exitcode"]), 0);
    let arn = t.id("to_inbox");
    assert_eq!(subscription(&t, &arn).await.unwrap()["Endpoint"], QUEUE_ARN);
    publish(&t, "delivered", "order_placed").await;
    assert_eq!(received(&t, "inbox").await, ["delivered"]);
    assert_exit(&t.run_as(&keys, "destroy", &["--auto-approve"]), 0);
    assert_eq!(subscription(&t, &arn).await, None);
}

#[test]
fn bad_subscriptions_fail_validation_at_their_line() {
    let head = format!("[resources.s]\ntype = \"sns.subscription\"\ntopic_arn = \"{TOPIC}\"\n");
    assert_invalid(
        &format!(
            "{head}protocol = \"sqs\"\nendpoint = \"https://sqs.us-east-1.amazonaws.com/000000000000/inbox\"\n"
        ),
        7,
        "is not an endpoint of protocol `sqs`",
    );
    assert_invalid(
        &format!("{head}protocol = \"smtp\"\nendpoint = \"a@b.c\"\n"),
        6,
        "smtp",
    );
    assert_invalid(
        &format!(
            "{head}protocol = \"email\"\nendpoint = \"a@b.c\"\nfilter_policy = '{{\"event\": \"x\"}}'\n"
        ),
        8,
        "must be a list of values to match",
    );
    assert_invalid(
        &format!(
            "[resources.s]\ntype = \"sns.subscription\"\ntopic_arn = \"{QUEUE_ARN}\"\nprotocol = \"sqs\"\nendpoint = \"{QUEUE_ARN}\"\n"
        ),
        5,
        "an SNS topic ARN",
    );
}
