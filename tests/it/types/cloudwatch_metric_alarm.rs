//! `cloudwatch.metric_alarm`: an alarm on a queue's depth that notifies an SNS topic, through
//! its whole life; and the counting proxy recognises CloudWatch's CBOR calls.

use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, Tag};

use super::rules_kit::{Lifecycle, assert_replaced_by};
use crate::common::assert_exit;

fn stack(topic: &str, alarm: &str, threshold: &str, description: &str, tags: &str) -> String {
    format!(
        r#"
[resources.jobs]
type = "sqs.queue"
name = "alarm-jobs"

[resources.backlog]
type = "cloudwatch.metric_alarm"
name = "{alarm}"
namespace = "AWS/SQS"
metric_name = "ApproximateNumberOfMessagesVisible"
dimensions = {{ QueueName = "${{jobs.name}}" }}
statistic = "Maximum"
period = 60
evaluation_periods = 3
datapoints_to_alarm = 2
threshold = {threshold}
comparison_operator = "GreaterThanOrEqualToThreshold"
treat_missing_data = "notBreaching"
alarm_actions = ["{topic}"]
ok_actions = ["{topic}"]
insufficient_data_actions = []
actions_enabled = true
alarm_description = "{description}"
tags = {tags}
"#
    )
}

async fn alarm(aws: &strata::aws::Clients, name: &str) -> Option<MetricAlarm> {
    let out = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .unwrap();
    out.metric_alarms().first().cloned()
}

async fn tags_of(aws: &strata::aws::Clients, arn: &str) -> Vec<(String, String)> {
    let out = aws
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| {
            let key = t.key().unwrap_or_default().to_string();
            (key, t.value().unwrap_or_default().to_string())
        })
        .collect();
    tags.sort();
    tags
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every attribute the stack declares, as CloudWatch describes the alarm.
fn assert_alarm(a: &MetricAlarm, name: &str, topic: &str, threshold: f64, description: &str) {
    assert_eq!(a.alarm_name(), Some(name));
    assert_eq!(a.namespace(), Some("AWS/SQS"));
    assert_eq!(a.metric_name(), Some("ApproximateNumberOfMessagesVisible"));
    let dimensions: Vec<(&str, &str)> = a
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    assert_eq!(dimensions, [("QueueName", "alarm-jobs")]);
    assert_eq!(a.statistic().map(|s| s.as_str()), Some("Maximum"));
    assert_eq!(a.extended_statistic(), None);
    assert_eq!(a.period(), Some(60));
    assert_eq!(a.evaluation_periods(), Some(3));
    assert_eq!(a.datapoints_to_alarm(), Some(2));
    assert_eq!(a.threshold(), Some(threshold));
    assert_eq!(
        a.comparison_operator().map(|c| c.as_str()),
        Some("GreaterThanOrEqualToThreshold")
    );
    assert_eq!(a.treat_missing_data(), Some("notBreaching"));
    assert_eq!(a.alarm_actions(), [topic]);
    assert_eq!(a.ok_actions(), [topic]);
    assert!(a.insufficient_data_actions().is_empty());
    assert_eq!(a.actions_enabled(), Some(true));
    assert_eq!(a.alarm_description(), Some(description));
    assert_eq!(
        a.alarm_arn(),
        Some(format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_on_a_queues_depth_with_an_sns_action_through_its_life() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    let topic = aws
        .sns
        .create_topic()
        .name("alarm-topic")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let tags = r#"{ team = "ops", stage = "dev" }"#;
    // An integer threshold: CloudWatch reads it back as 5.0, and that is no change.
    t.write(&stack(&topic, "jobs-backlog", "5", "Jobs pile up", tags));
    t.apply();
    assert_eq!(t.id("backlog"), "jobs-backlog");
    let live = alarm(aws, "jobs-backlog").await.expect("the alarm exists");
    assert_alarm(&live, "jobs-backlog", &topic, 5.0, "Jobs pile up");
    let arn = live.alarm_arn().unwrap().to_string();
    assert_eq!(
        tags_of(aws, &arn).await,
        pairs(&[("stage", "dev"), ("team", "ops")])
    );
    assert_eq!(t.changes(), []);

    // In place: the threshold, the description and the tags; the alarm keeps its name.
    let tags = r#"{ team = "sre", owner = "me" }"#;
    t.write(&stack(
        &topic,
        "jobs-backlog",
        "10.5",
        "Jobs pile up fast",
        tags,
    ));
    let planned = t.planned("cloudwatch.metric_alarm.backlog");
    assert_eq!(planned["action"], "update", "{planned}");
    t.apply();
    assert_eq!(t.id("backlog"), "jobs-backlog");
    let live = alarm(aws, "jobs-backlog").await.unwrap();
    assert_alarm(&live, "jobs-backlog", &topic, 10.5, "Jobs pile up fast");
    assert_eq!(
        tags_of(aws, &arn).await,
        pairs(&[("owner", "me"), ("team", "sre")])
    );
    assert_eq!(t.changes(), []);

    // Drift made outside strata shows in the plan.
    aws.cloudwatch
        .disable_alarm_actions()
        .alarm_names("jobs-backlog")
        .send()
        .await
        .unwrap();
    aws.cloudwatch
        .tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("extra").value("x").build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "cloudwatch.metric_alarm.backlog".to_string(),
            "update".to_string(),
            vec!["actions_enabled".to_string(), "tags.extra".to_string()]
        )]
    );
    t.apply();
    assert_eq!(
        alarm(aws, "jobs-backlog").await.unwrap().actions_enabled(),
        Some(true)
    );
    assert_eq!(
        tags_of(aws, &arn).await,
        pairs(&[("owner", "me"), ("team", "sre")])
    );

    // Without its state, import by ARN gives back an empty plan.
    t.import_reproduces_an_empty_plan(&[("jobs", "alarm-jobs"), ("backlog", &arn)]);
    assert_eq!(t.id("backlog"), "jobs-backlog");

    // A new name replaces the alarm.
    t.write(&stack(
        &topic,
        "jobs-backlog-2",
        "10.5",
        "Jobs pile up fast",
        tags,
    ));
    assert_replaced_by(&t.planned("cloudwatch.metric_alarm.backlog"), "name");
    t.apply();
    assert!(alarm(aws, "jobs-backlog").await.is_none());
    let live = alarm(aws, "jobs-backlog-2").await.unwrap();
    assert_alarm(&live, "jobs-backlog-2", &topic, 10.5, "Jobs pile up fast");

    t.policy_names(&[
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
        "cloudwatch:DeleteAlarms",
    ]);

    let out = t.run(&["destroy", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(alarm(aws, "jobs-backlog-2").await.is_none());
    let left = aws.cloudwatch.describe_alarms().send().await.unwrap();
    assert!(left.metric_alarms().is_empty(), "{left:?}");
}

/// PutMetricAlarm would silently replace an alarm of the same name: apply refuses it.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_alarm_is_not_taken_over() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name("someone-elses-alarm")
        .namespace("AWS/SQS")
        .metric_name("NumberOfMessagesSent")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .unwrap();
    let topic = "arn:aws:sns:us-east-1:000000000000:nobody";
    let body = stack(topic, "someone-elses-alarm", "5", "mine now", "{}");
    // Only the alarm: the queue it watches is named, not managed.
    t.write(
        &body[body.find("[resources.backlog]").unwrap()..].replace("${jobs.name}", "alarm-jobs"),
    );
    t.apply_is_refused(
        "cloudwatch.metric_alarm",
        "`someone-elses-alarm`",
        "someone-elses-alarm",
    );
    let live = alarm(aws, "someone-elses-alarm").await.unwrap();
    assert_eq!(live.metric_name(), Some("NumberOfMessagesSent"));
    assert_eq!(live.threshold(), Some(1.0));
    assert!(live.alarm_actions().is_empty());
}

/// The counting proxy names CloudWatch's Smithy RPC v2 CBOR calls by operation, and its
/// throttling fault in CBOR is one the SDK reads as throttling and retries.
#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_counts_and_throttles_cloudwatchs_cbor_calls() {
    let t = Lifecycle::start().await;
    let proxy = t.ws.proxy(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        "throttle",
        "--fault-operations",
        "monitoring:PutMetricAlarm",
        "--fault-limit",
        "1",
    ]);
    let topic = "arn:aws:sns:us-east-1:000000000000:ops";
    t.write(&stack(topic, "proxied", "1", "through the proxy", "{}"));
    let out =
        t.ws.through(&proxy)
            .run(&["apply", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    let stats = proxy.stats();
    let by_operation = &stats["by_operation"];
    assert_eq!(by_operation["monitoring:PutMetricAlarm"], 2, "{stats:#}");
    assert!(
        by_operation["monitoring:DescribeAlarms"].as_u64() >= Some(1),
        "{stats:#}"
    );
    assert_eq!(stats["faults_by_kind"]["throttle"], 1, "{stats:#}");
    assert_eq!(
        stats["faults_by_operation"]["monitoring:PutMetricAlarm"], 1,
        "{stats:#}"
    );
    assert!(alarm(&t.aws, "proxied").await.is_some());
}
