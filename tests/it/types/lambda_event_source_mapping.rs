//! `lambda.event_source_mapping`: a queue feeding a function, through its whole life. The
//! emulator polls the queue as Lambda does: a message the function takes leaves the queue,
//! and one it reports as a batch item failure stays.

use aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput;
use aws_sdk_sqs::types::QueueAttributeName as Q;

use super::rules_kit::{Lifecycle, assert_replaced_by, eventually};
use crate::common::assert_exit;

/// Takes every message but those whose body starts with `fail`, which it reports back.
const HANDLER: &str = r#"def handler(event, context):
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]}
        for r in event["Records"] if r["body"].startswith("fail")
    ]}
"#;

const ARN_PREFIX: &str = "arn:aws:sqs:us-east-1:000000000000";

/// The queues, the role, the function and the mapping (its attributes `mapping`).
fn stack(mapping: &str) -> String {
    format!(
        r#"
[resources.jobs]
type = "sqs.queue"
name = "esm-jobs"
visibility_timeout_seconds = 2

[resources.other_jobs]
type = "sqs.queue"
name = "esm-other-jobs"

[resources.worker_role]
type = "iam.role"
name = "esm-worker"
assume_role_policy = {{ service = "lambda.amazonaws.com" }}

[resources.worker_role.inline_policies.read-jobs]
Version = "2012-10-17"
Statement = [
  {{ Effect = "Allow", Action = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], Resource = ["${{jobs.arn}}", "${{other_jobs.arn}}"] }},
]

[resources.worker]
type = "lambda.function"
name = "esm-worker"
runtime = "python3.12"
handler = "index.handler"
role = "${{worker_role.arn}}"
code = "worker"

[resources.feed]
type = "lambda.event_source_mapping"
function_name = "${{worker.name}}"
{mapping}
"#
    )
}

async fn mapping(aws: &strata::aws::Clients, uuid: &str) -> Option<GetEventSourceMappingOutput> {
    aws.lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(strata::aws::sdk("GetEventSourceMapping"))
        .map(Some)
        .or_else(|e| if e.is_not_found() { Ok(None) } else { Err(e) })
        .unwrap()
}

/// Messages in the queue, visible or in flight.
async fn messages(aws: &strata::aws::Clients, url: &str) -> i64 {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Q::ApproximateNumberOfMessages)
        .attribute_names(Q::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    [
        Q::ApproximateNumberOfMessages,
        Q::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|q| attrs[q].parse::<i64>().unwrap())
    .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_feeds_a_function_through_the_mappings_life() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    std::fs::create_dir(t.dir().join("worker")).unwrap();
    std::fs::write(t.dir().join("worker/index.py"), HANDLER).unwrap();
    t.write(&stack(
        r#"event_source_arn = "${jobs.arn}"
batch_size = 100
maximum_batching_window_in_seconds = 1
function_response_types = ["ReportBatchItemFailures"]
scaling_config = { maximum_concurrency = 2 }
enabled = true
filter_patterns = ['{"body": [{"prefix": "ok"}, {"prefix": "fail"}]}']"#,
    ));
    t.apply();
    let uuid = t.id("feed");
    let live = mapping(aws, &uuid).await.expect("the mapping exists");
    let jobs_arn = format!("{ARN_PREFIX}:esm-jobs");
    assert_eq!(live.uuid(), Some(uuid.as_str()));
    assert_eq!(live.event_source_arn(), Some(jobs_arn.as_str()));
    assert_eq!(
        live.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:esm-worker")
    );
    assert_eq!(live.batch_size(), Some(100));
    assert_eq!(live.maximum_batching_window_in_seconds(), Some(1));
    let types: Vec<&str> = live
        .function_response_types()
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, ["ReportBatchItemFailures"]);
    assert_eq!(
        live.scaling_config().and_then(|s| s.maximum_concurrency()),
        Some(2)
    );
    assert_eq!(live.state(), Some("Enabled"));
    let patterns: Vec<&str> = live
        .filter_criteria()
        .unwrap()
        .filters()
        .iter()
        .map(|f| f.pattern().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [r#"{"body": [{"prefix": "ok"}, {"prefix": "fail"}]}"#]
    );
    assert_eq!(t.changes(), []);

    // The function is fed: a message it takes leaves the queue, one it reports as failed
    // comes back, and one the filter drops never reaches it (and leaves the queue too).
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name("esm-jobs")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for body in ["ok-1", "fail-1", "skip-1"] {
        let sent = aws.sqs.send_message().queue_url(&url).message_body(body);
        sent.send().await.unwrap();
    }
    eventually(60, "only the failed message left in the queue", || async {
        messages(aws, &url).await == 1
    })
    .await;

    // In place: disabled, smaller batches; the mapping keeps its UUID.
    t.write(&stack(
        r#"event_source_arn = "${jobs.arn}"
batch_size = 5
function_response_types = ["ReportBatchItemFailures"]
scaling_config = { maximum_concurrency = 2 }
enabled = false
filter_patterns = ['{"body": [{"prefix": "ok"}, {"prefix": "fail"}]}']"#,
    ));
    let planned = t.planned("lambda.event_source_mapping.feed");
    assert_eq!(planned["action"], "update", "{planned}");
    t.apply();
    assert_eq!(t.id("feed"), uuid);
    let live = mapping(aws, &uuid).await.unwrap();
    assert_eq!(live.batch_size(), Some(5));
    assert_eq!(live.maximum_batching_window_in_seconds(), Some(0));
    assert_eq!(live.state(), Some("Disabled"));
    assert_eq!(t.changes(), []);
    // Disabled, it leaves the failed message to us.
    let mut left: Vec<String> = Vec::new();
    for _ in 0..60 {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(&url)
            .send()
            .await
            .unwrap();
        left.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_string)),
        );
        if !left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(left, ["fail-1"]);

    // Drift made outside strata shows in the plan.
    aws.lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .batch_size(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "lambda.event_source_mapping.feed".to_string(),
            "update".to_string(),
            vec!["batch_size".to_string()]
        )]
    );
    t.apply();
    assert_eq!(mapping(aws, &uuid).await.unwrap().batch_size(), Some(5));

    // Without its state, import by ARN gives back an empty plan.
    let arn = live.event_source_mapping_arn().unwrap().to_string();
    t.import_reproduces_an_empty_plan(&[
        ("jobs", "esm-jobs"),
        ("other_jobs", "esm-other-jobs"),
        ("worker_role", "esm-worker"),
        ("worker", "esm-worker"),
        ("feed", &arn),
    ]);
    assert_eq!(t.id("feed"), uuid);

    // Another queue replaces the mapping.
    t.write(&stack(
        r#"event_source_arn = "${other_jobs.arn}"
batch_size = 5
enabled = false"#,
    ));
    assert_replaced_by(
        &t.planned("lambda.event_source_mapping.feed"),
        "event_source_arn",
    );
    t.apply();
    let replaced = t.id("feed");
    assert_ne!(replaced, uuid);
    assert!(mapping(aws, &uuid).await.is_none());
    let live = mapping(aws, &replaced).await.unwrap();
    let other_arn = format!("{ARN_PREFIX}:esm-other-jobs");
    assert_eq!(live.event_source_arn(), Some(other_arn.as_str()));

    t.policy_names(&[
        "lambda:CreateEventSourceMapping",
        "lambda:ListEventSourceMappings",
        "lambda:GetEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
    ]);

    let out = t.run(&["destroy", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(mapping(aws, &replaced).await.is_none());
    let left = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .unwrap();
    assert!(left.event_source_mappings().is_empty(), "{left:?}");
}

/// AWS allows one mapping per (queue, function): one made outside strata is refused, not
/// adopted, and stays as it was.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_mapping_of_the_same_queue_and_function_is_not_taken_over() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    std::fs::create_dir(t.dir().join("worker")).unwrap();
    std::fs::write(t.dir().join("worker/index.py"), HANDLER).unwrap();
    // The queue, role and function from a first apply; the mapping made outside strata.
    let without_mapping = stack("")
        .split("[resources.feed]")
        .next()
        .unwrap()
        .to_string();
    t.write(&without_mapping);
    t.apply();
    let jobs_arn = format!("{ARN_PREFIX}:esm-jobs");
    let theirs = aws
        .lambda
        .create_event_source_mapping()
        .event_source_arn(&jobs_arn)
        .function_name("esm-worker")
        .batch_size(3)
        .send()
        .await
        .unwrap()
        .uuid
        .unwrap();

    t.write(&format!(
        "{without_mapping}\n[resources.feed]\ntype = \"lambda.event_source_mapping\"\nfunction_name = \"esm-worker\"\nevent_source_arn = \"{jobs_arn}\"\nbatch_size = 10\n"
    ));
    let out = t.run(&["apply", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    let err = crate::common::stderr(&out);
    for expected in [
        format!(
            "lambda.event_source_mapping from `{jobs_arn}` to `esm-worker` already exists (UUID {theirs})"
        ),
        format!("To manage it with this stack, run `strata import STACK_FILE RESOURCE {theirs}`"),
    ] {
        assert!(err.contains(&expected), "expected `{expected}` in:\n{err}");
    }
    let state = crate::common::read_state(t.dir(), "t", "default");
    assert!(state["resources"].get("feed").is_none(), "{state}");
    assert!(
        state["pending"].as_object().is_none_or(|p| p.is_empty()),
        "{state}"
    );
    let live = mapping(aws, &theirs).await.unwrap();
    assert_eq!(live.batch_size(), Some(3));
    let all = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .unwrap();
    assert_eq!(all.event_source_mappings().len(), 1);
}
