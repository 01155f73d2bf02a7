//! CloudFormation types through the Cloud Control API, on the emulator's Cloud Control
//! behind the proxy's `--cloudcontrol` mode (read-only properties such as `TopicArn`,
//! client-token idempotency, requests that stay IN_PROGRESS, FAILED requests): a stack
//! mixing a native queue with an SNS topic and subscription applies, reads back, plans
//! empty, updates in place with a patch, replaces on a create-only change, survives a kill
//! mid-request and a lost reply without a duplicate, reports FAILED requests with AWS's
//! code and message, and destroys to nothing.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::common::{
    Proxy, Workspace, assert_exit, assert_no_changes, assert_plan, repo, stderr, stdout,
};

const STACK: &str = "stack.toml";

fn schemas() -> PathBuf {
    repo().join("tests/fixtures/cloudformation-schemas")
}

/// A workspace whose cache holds the vendored schemas (imported with `strata schemas
/// import`, as an air-gapped user would).
fn workspace() -> Workspace {
    let ws = Workspace::new();
    let cache = ws.dir().join("cache").display().to_string();
    let ws = ws.env("XDG_CACHE_HOME", &cache);
    let out = ws.ok_offline(&["schemas", "import", &schemas().display().to_string()]);
    assert_eq!(
        stdout(&out),
        "AWS::SNS::Subscription\nAWS::SNS::Topic\nAWS::SQS::Queue\nAWS::SSM::Parameter\n"
    );
    assert!(
        Path::new(&cache)
            .join("strata/cloudformation-schemas/us-east-1/aws-sns-topic.json")
            .is_file()
    );
    ws
}

fn proxy(ws: &Workspace, extra: &[&str]) -> Proxy {
    let dir = schemas().display().to_string();
    let mut args = vec!["--cloudcontrol", dir.as_str()];
    args.extend(extra);
    ws.proxy(&args)
}

fn stack(ws: &Workspace, display_name: &str, topic_name: &str) {
    ws.write(
        STACK,
        &format!(
            r#"
[stack]
name = "cc"

[resources.queue]
type = "sqs.queue"
name = "${{stack.name}}-inbox"

[resources.alerts]
type = "AWS::SNS::Topic"
properties = {{ TopicName = "{topic_name}", DisplayName = "{display_name}" }}

[resources.sub]
type = "AWS::SNS::Subscription"
properties = {{ TopicArn = "${{alerts.TopicArn}}", Protocol = "sqs", Endpoint = "${{queue.arn}}" }}
"#
        ),
    );
}

/// Every object of `type_name` the emulator's Cloud Control holds: (identifier, model).
async fn objects(ws: &Workspace, type_name: &str) -> Vec<(String, Json)> {
    let aws = ws.clients().await;
    let out = aws
        .cloudcontrol
        .list_resources()
        .type_name(type_name)
        .send()
        .await
        .unwrap();
    out.resource_descriptions()
        .iter()
        .map(|d| {
            (
                d.identifier().unwrap().to_string(),
                serde_json::from_str(d.properties().unwrap()).unwrap(),
            )
        })
        .collect()
}

async fn queues(ws: &Workspace) -> Vec<String> {
    let aws = ws.clients().await;
    let out = aws.sqs.list_queues().send().await.unwrap();
    out.queue_urls().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_mixing_native_and_cloud_control_types_applies_updates_replaces_and_destroys() {
    let ws = workspace();
    let proxy = proxy(&ws, &["--cc-in-progress", "2"]);
    let through = ws.through(&proxy);
    stack(&ws, "Alerts", "cc-alerts");
    let out = through.ok(&["apply", STACK, "--auto-approve"]);
    assert!(
        stdout(&out).contains("AWS::SNS::Topic.alerts"),
        "{}",
        stdout(&out)
    );

    // Read back with the SDK: what the stack wrote, the reference resolved.
    let topics = objects(&ws, "AWS::SNS::Topic").await;
    assert_eq!(topics.len(), 1, "{topics:?}");
    let (topic_id, topic) = &topics[0];
    assert_eq!(topic["TopicName"], "cc-alerts");
    assert_eq!(topic["DisplayName"], "Alerts");
    let subscriptions = objects(&ws, "AWS::SNS::Subscription").await;
    assert_eq!(subscriptions.len(), 1);
    let (_, sub) = &subscriptions[0];
    assert_eq!(
        sub["TopicArn"],
        "arn:aws:sns:us-east-1:000000000000:cc-alerts"
    );
    assert_eq!(
        sub["Endpoint"],
        "arn:aws:sqs:us-east-1:000000000000:cc-inbox"
    );
    assert_eq!(sub["Protocol"], "sqs");
    let state = ws.state("cc", "default");
    assert_eq!(state["resources"]["alerts"]["type"], "AWS::SNS::Topic");
    assert_eq!(state["resources"]["alerts"]["id"], topic_id.as_str());
    assert!(state["pending"].is_null(), "{state}");
    // Every request was polled while IN_PROGRESS.
    let stats = proxy.stats();
    assert_eq!(
        stats["by_operation"]["cloudcontrolapi:GetResourceRequestStatus"], 6,
        "{stats}"
    );

    assert_no_changes(&through.plan_json(STACK, &[]));

    // In place: a patch of the one property that changed.
    stack(&ws, "Alarms", "cc-alerts");
    let plan = through.plan_json(STACK, &[]);
    assert_plan(
        &plan,
        &[("AWS::SNS::Topic.alerts", "update", &["DisplayName"])],
    );
    proxy.reset();
    through.ok(&["apply", STACK, "--auto-approve"]);
    assert_eq!(
        proxy.stats()["by_operation"]["cloudcontrolapi:UpdateResource"],
        1
    );
    let topics = objects(&ws, "AWS::SNS::Topic").await;
    assert_eq!(topics.len(), 1);
    assert_eq!(&topics[0].0, topic_id, "updated in place");
    assert_eq!(topics[0].1["DisplayName"], "Alarms");
    assert_no_changes(&through.plan_json(STACK, &[]));

    // TopicName is create-only: a replacement, which the plan attributes to it, and the
    // subscription, whose TopicArn changes, is replaced after it.
    stack(&ws, "Alarms", "cc-alarms");
    let out = through.ok(&["plan", STACK]);
    assert!(
        stdout(&out).contains("`TopicName` cannot change in place"),
        "{}",
        stdout(&out)
    );
    through.ok(&["apply", STACK, "--auto-approve"]);
    let topics = objects(&ws, "AWS::SNS::Topic").await;
    assert_eq!(topics.len(), 1, "the old topic is gone: {topics:?}");
    assert_ne!(&topics[0].0, topic_id);
    assert_eq!(topics[0].1["TopicName"], "cc-alarms");
    let subscriptions = objects(&ws, "AWS::SNS::Subscription").await;
    assert_eq!(subscriptions.len(), 1, "{subscriptions:?}");
    assert_eq!(
        subscriptions[0].1["TopicArn"],
        "arn:aws:sns:us-east-1:000000000000:cc-alarms"
    );
    assert_no_changes(&through.plan_json(STACK, &[]));

    through.ok(&["destroy", STACK, "--auto-approve"]);
    assert!(objects(&ws, "AWS::SNS::Topic").await.is_empty());
    assert!(objects(&ws, "AWS::SNS::Subscription").await.is_empty());
    assert!(queues(&ws).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_a_create_request_runs_is_resumed_without_a_duplicate() {
    let ws = workspace();
    stack(&ws, "Alerts", "cc-alerts");
    // The queue's calls, the topic's CreateResource, then its first status poll is held:
    // the kill lands while the request is IN_PROGRESS, its token recorded.
    let dir = schemas().display().to_string();
    let mut killed_at = None;
    for k in 1..40 {
        let _ = std::fs::remove_dir_all(ws.dir().join(".strata"));
        reset(&ws).await;
        let proxy_args = ["--cloudcontrol", dir.as_str(), "--cc-in-progress", "3"];
        if !crate::common::kill_after_call_through(&ws, STACK, "apply", k, &proxy_args) {
            break;
        }
        // The token is written to the state's journal (one record per entry).
        let journal = std::fs::read_to_string(ws.dir().join(".strata/cc-default.state.journal"))
            .unwrap_or_default();
        let noted = journal.lines().any(|line| {
            let record: Json = serde_json::from_str(line).unwrap();
            record["name"] == "alerts" && record["pending"]["request"].is_string()
        });
        if noted {
            killed_at = Some(k);
            break;
        }
    }
    let k = killed_at.expect("some kill lands while the topic's request runs");
    let proxy = proxy(&ws, &[]);
    let through = ws.through(&proxy);
    let out = through.ok(&["apply", STACK, "--auto-approve"]);
    assert!(
        stdout(&out).contains("alerts") || stderr(&out).contains("alerts"),
        "killed after call {k}"
    );
    assert_eq!(
        objects(&ws, "AWS::SNS::Topic").await.len(),
        1,
        "adopted, not created twice (killed after call {k})"
    );
    assert_eq!(
        proxy.stats()["by_operation"]["cloudcontrolapi:CreateResource"],
        1,
        "only the subscription is created: {}",
        proxy.stats()
    );
    assert_no_changes(&through.plan_json(STACK, &[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_to_create_resource_makes_no_second_object() {
    let ws = workspace();
    stack(&ws, "Alerts", "cc-alerts");
    let proxy = proxy(
        &ws,
        &[
            "--fault-rate",
            "1",
            "--seed",
            "1",
            "--fault-kinds",
            "lost",
            "--fault-operations",
            "cloudcontrolapi:CreateResource",
            "--fault-limit",
            "1",
        ],
    );
    let through = ws.through(&proxy);
    through.ok(&["apply", STACK, "--auto-approve"]);
    assert_eq!(proxy.stats()["faults"], 1);
    let topics = objects(&ws, "AWS::SNS::Topic").await;
    assert_eq!(topics.len(), 1);
    assert_eq!(objects(&ws, "AWS::SNS::Subscription").await.len(), 1);
    assert_no_changes(&through.plan_json(STACK, &[]));

    // A lost state: the topic is imported by its Cloud Control identifier.
    std::fs::remove_dir_all(ws.dir().join(".strata")).unwrap();
    through.ok(&["import", STACK, "alerts", &topics[0].0]);
    let state = ws.state("cc", "default");
    assert_eq!(state["resources"]["alerts"]["id"], topics[0].0.as_str());
    assert_eq!(
        state["resources"]["alerts"]["attributes"]["TopicArn"],
        "arn:aws:sns:us-east-1:000000000000:cc-alerts"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_request_names_the_resource_the_type_and_aws_code_and_message() {
    let ws = workspace();
    stack(&ws, "Alerts", "cc-alerts");
    let proxy = proxy(
        &ws,
        &[
            "--cc-in-progress",
            "1",
            "--cc-fail",
            "CreateResource:AlreadyExists",
        ],
    );
    let through = ws.through(&proxy);
    let out = through.run(&["apply", STACK, "--auto-approve"]);
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("AWS::SNS::Topic.alerts")
            && text.contains(
                "Cloud Control CREATE of AWS::SNS::Topic ended FAILED: AlreadyExists: AlreadyExists (injected by aws-proxy --cc-fail)"
            ),
        "{text}"
    );
    assert!(objects(&ws, "AWS::SNS::Topic").await.is_empty());
    // Nothing was made: the next run creates the topic once.
    through.ok(&["apply", STACK, "--auto-approve"]);
    assert_eq!(objects(&ws, "AWS::SNS::Topic").await.len(), 1);

    // A throttled handler is asked again; a create that did not stabilise is recorded.
    let ws = workspace();
    stack(&ws, "Alerts", "cc-alerts");
    let proxy = crate::cloudcontrol::proxy(
        &ws,
        &[
            "--cc-fail",
            "CreateResource:Throttling",
            "--cc-fail",
            "DeleteResource:NotStabilized",
        ],
    );
    let through = ws.through(&proxy);
    through.ok(&["apply", STACK, "--auto-approve"]);
    assert_eq!(objects(&ws, "AWS::SNS::Topic").await.len(), 1);
    assert_eq!(objects(&ws, "AWS::SNS::Subscription").await.len(), 1);
    let out = through.run(&["destroy", STACK, "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("NotStabilized"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_checks_properties_against_the_cached_schema_and_says_when_there_is_none() {
    let ws = workspace();
    ws.write(
        STACK,
        r#"
[stack]
name = "cc"

[resources.alerts]
type = "AWS::SNS::Topic"
properties = { TopicNam = "x", FifoTopic = "yes" }

[resources.param]
type = "AWS::Lambda::Url"
properties = { TargetFunctionArn = "x" }
"#,
    );
    let out = ws.strata(&["validate", STACK]);
    assert_exit(&out, 1);
    let text = stderr(&out);
    assert!(text.contains("TopicNam"), "{text}");
    assert!(
        text.contains("`alerts.FifoTopic`") || text.contains("FifoTopic"),
        "{text}"
    );
    assert!(
        text.contains("no schema of AWS::Lambda::Url is cached"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_lists_cloud_control_actions_and_the_handlers_permissions() {
    let ws = workspace();
    stack(&ws, "Alerts", "cc-alerts");
    let out = ws.ok(&["policy", STACK, "--json"]);
    let text = stdout(&out);
    for action in [
        "cloudformation:CreateResource",
        "cloudformation:DescribeType",
        "cloudformation:GetResourceRequestStatus",
        "cloudformation:DeleteResource",
        "sns:CreateTopic",
        "sns:Subscribe",
        "sns:DeleteTopic",
    ] {
        assert!(text.contains(action), "{action} in {text}");
    }
}

/// The cached schema of `file` in the workspace's cache, and its version record.
fn cached(cache: &Path, file: &str) -> (PathBuf, PathBuf) {
    let dir = cache.join("strata/cloudformation-schemas/us-east-1");
    (
        dir.join(format!("{file}.json")),
        dir.join(format!("{file}.version.json")),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_fetches_schemas_with_describe_type_caches_them_and_follows_a_new_version() {
    let ws = Workspace::new();
    let cache = ws.dir().join("cache");
    let ws = ws.env("XDG_CACHE_HOME", &cache.display().to_string());
    // The registry the proxy answers DescribeType from: the test changes a type there.
    let registry = ws.dir().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    for name in ["aws-sns-topic.json", "aws-sns-subscription.json"] {
        std::fs::copy(schemas().join(name), registry.join(name)).unwrap();
    }
    let registry_dir = registry.display().to_string();
    let proxy = proxy(&ws, &["--cc-registry", &registry_dir]);
    let through = ws.through(&proxy);
    stack(&ws, "Alerts", "cc-alerts");

    // An empty cache: the plan asks CloudFormation and caches both types' schemas.
    let (topic, topic_version) = cached(&cache, "aws-sns-topic");
    assert!(!topic.exists());
    let plan = through.plan_json(STACK, &[]);
    let actions: Vec<(String, String)> = crate::common::planned_changes(&plan)
        .into_iter()
        .map(|(address, action, _)| (address, action))
        .collect();
    assert_eq!(actions.len(), 3, "{plan}");
    assert!(
        actions.iter().all(|(_, action)| action == "create"),
        "{plan}"
    );
    assert_eq!(
        proxy.stats()["by_operation"]["cloudformation:DescribeType"],
        2
    );
    assert_eq!(
        std::fs::read_to_string(&topic).unwrap(),
        std::fs::read_to_string(registry.join("aws-sns-topic.json")).unwrap()
    );
    let version: Json = serde_json::from_slice(&std::fs::read(&topic_version).unwrap()).unwrap();
    assert!(version["last_updated"].is_string(), "{version}");
    assert_eq!(version["sha256"].as_str().unwrap().len(), 64, "{version}");
    through.ok(&["apply", STACK, "--auto-approve"]);

    // The same version: asked again, the cache is left as it is.
    let written = std::fs::metadata(&topic).unwrap().modified().unwrap();
    proxy.reset();
    assert_no_changes(&through.plan_json(STACK, &[]));
    assert_eq!(
        proxy.stats()["by_operation"]["cloudformation:DescribeType"],
        2
    );
    assert_eq!(
        std::fs::metadata(&topic).unwrap().modified().unwrap(),
        written
    );

    // A new version in which DisplayName became create-only: fetched again, and the plan
    // follows it (a replacement where it was an update).
    let mut schema: Json =
        serde_json::from_slice(&std::fs::read(registry.join("aws-sns-topic.json")).unwrap())
            .unwrap();
    schema["createOnlyProperties"]
        .as_array_mut()
        .unwrap()
        .push(Json::from("/properties/DisplayName"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        registry.join("aws-sns-topic.json"),
        serde_json::to_string_pretty(&schema).unwrap(),
    )
    .unwrap();
    stack(&ws, "Alarms", "cc-alerts");
    let out = through.ok(&["plan", STACK]);
    assert!(
        stdout(&out).contains("`DisplayName` cannot change in place"),
        "{}",
        stdout(&out)
    );
    assert!(
        std::fs::read_to_string(&topic)
            .unwrap()
            .contains("/properties/DisplayName")
    );
    let newer: Json = serde_json::from_slice(&std::fs::read(&topic_version).unwrap()).unwrap();
    assert_ne!(newer, version);

    // A type CloudFormation does not know: an error naming the resource and the type.
    ws.write(
        STACK,
        r#"
[stack]
name = "cc"

[resources.bad]
type = "AWS::SNS::Nope"
properties = { TopicName = "x" }
"#,
    );
    let out = through.run(&["plan", STACK]);
    assert_exit(&out, 1);
    let text = stderr(&out);
    assert!(
        text.contains("resource `bad` (AWS::SNS::Nope): CloudFormation knows no resource type AWS::SNS::Nope in us-east-1"),
        "{text}"
    );
}

async fn reset(ws: &Workspace) {
    let reset = reqwest::Client::new()
        .post(format!("{}/_ministack/reset", ws.emulator().endpoint))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
}
