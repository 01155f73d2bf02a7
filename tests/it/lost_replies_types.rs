//! AWS did it, but the reply was lost, for the resource types beyond the seed system's: each
//! test applies a small stack through `scripts/aws-proxy --fault-kinds lost`, which carries
//! out the first create of one type and then resets the connection, so the SDK retries it.
//! The retry meets the object the first attempt made ("already exists", as AWS answers it:
//! `--realism` plays the answers the emulator does not give). strata must take that object
//! as its own: the apply succeeds, exactly one object exists, state records it and the next
//! plan changes nothing.

use serde_json::Value as Json;

use crate::common::{Workspace, assert_exit, assert_no_changes, read_state};

/// With rate 0.5, under this seed the first call of every create faulted in this file loses
/// its reply and the second (the SDK's retry) does not: checked by the proxy's stats.
const SEED: &str = "18490";

/// The `--realism` kinds that make the emulator answer a retried create, or the listing
/// that looks for its object, as AWS does.
const AS_AWS: &str = "event-source-mapping-conflict,secret-version-token,key-listing-lag";

/// Writes `resources` as the stack `lost` and applies it (with `extra` arguments) through a
/// proxy that loses the reply of the first call of each of `operations` (`service:operation`
/// as the proxy names them). Asserts each of them lost exactly one reply, the apply
/// succeeded and the next plan changes nothing; returns the state's resources and the
/// proxy's stats.
fn apply_losing_first_reply(
    ws: &Workspace,
    resources: &str,
    operations: &[&str],
    extra: &[&str],
) -> (Json, Json) {
    ws.write(
        "stack.toml",
        &format!("[stack]\nname = \"lost\"\n\n{resources}"),
    );
    let proxy = ws.proxy(&[
        "--fault-rate",
        "0.5",
        "--seed",
        SEED,
        "--fault-kinds",
        "lost",
        "--fault-operations",
        &operations.join(","),
        "--realism",
        AS_AWS,
    ]);
    let mut apply = vec!["apply", "stack.toml", "--auto-approve"];
    apply.extend(extra);
    assert_exit(&ws.through(&proxy).run(&apply), 0);

    let stats = proxy.stats();
    for operation in operations {
        assert!(
            stats["faults_by_operation"][operation].as_u64() >= Some(1),
            "the first `{operation}` lost its reply under seed {SEED}: {stats:#}"
        );
    }
    // ... and only those (the retries' "already exists" answers that the proxy gives
    // itself count as realism faults).
    assert_eq!(
        stats["faults_by_kind"]["lost"].as_u64(),
        Some(operations.len() as u64),
        "{stats:#}"
    );

    assert_no_changes(&ws.through(&proxy).plan_json("stack.toml", extra));
    let state = read_state(ws.dir(), "lost", "default");
    assert_eq!(
        state["pending"].as_object().map(|p| p.len()).unwrap_or(0),
        0,
        "{state}"
    );
    (state["resources"].clone(), stats)
}

/// The id state records for `name`.
fn id(resources: &Json, name: &str) -> String {
    resources[name]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id for {name}: {resources}"))
        .to_string()
}

/// PutParameter without Overwrite answers ParameterAlreadyExists to the SDK's retry of a
/// put that was carried out: the parameter was not there before, so it is ours.
#[tokio::test(flavor = "multi_thread")]
async fn a_parameter_whose_put_reply_was_lost_is_ours() {
    let ws = Workspace::new();
    let (resources, _) = apply_losing_first_reply(
        &ws,
        r#"
[resources.setting]
type = "ssm.parameter"
name = "/lost/setting"
parameter_type = "String"
value = "blue"
"#,
        &["ssm:PutParameter"],
        &[],
    );
    assert_eq!(id(&resources, "setting"), "/lost/setting");
    let aws = ws.clients().await;
    let listed = aws.ssm.describe_parameters().send().await.unwrap();
    let names: Vec<_> = listed
        .parameters()
        .iter()
        .filter_map(|p| p.name())
        .collect();
    assert_eq!(names, ["/lost/setting"]);
    let live = aws
        .ssm
        .get_parameter()
        .name("/lost/setting")
        .send()
        .await
        .unwrap();
    let live = live.parameter().unwrap();
    assert_eq!(live.value(), Some("blue"));
    assert_eq!(live.version(), 1, "one put was carried out");
}

/// CreateSecret sends a token of the stack's own making as its ClientRequestToken, which
/// becomes the secret's first version: the retry's "already exists" names a secret whose
/// version is that token, so it is ours.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_whose_create_reply_was_lost_is_known_by_its_request_token() {
    let ws = Workspace::new();
    let (resources, _) = apply_losing_first_reply(
        &ws,
        r#"
[variables.api_key]
sensitive = true

[resources.api]
type = "secretsmanager.secret"
name = "lost/api-key"
secret_string = "${var.api_key}"
recovery_window_in_days = 7
"#,
        &["secretsmanager:CreateSecret"],
        &["--var", "api_key=lost-reply-secret-value"],
    );
    let aws = ws.clients().await;
    let listed = aws.secretsmanager.list_secrets().send().await.unwrap();
    let arns: Vec<_> = listed
        .secret_list()
        .iter()
        .filter_map(|s| s.arn())
        .collect();
    assert_eq!(arns, [id(&resources, "api").as_str()]);
    let live = aws
        .secretsmanager
        .describe_secret()
        .secret_id("lost/api-key")
        .send()
        .await
        .unwrap();
    let versions: Vec<_> = live
        .version_ids_to_stages()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let token = strata::resources::secretsmanager_secret::create_token("lost/api-key");
    assert_eq!(versions, [token], "one version: the create's");
    let value = aws
        .secretsmanager
        .get_secret_value()
        .secret_id("lost/api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("lost-reply-secret-value"));
}

/// CreateAlias answers AlreadyExistsException to the retry; CreateKey has no name and is
/// not idempotent, so strata tags each key with a create token and looks for it before
/// sending CreateKey again: one key, not two. ListKeys leaves the new key out for a while
/// (`key-listing-lag`): before the fix, strata looked once, did not find it and made a
/// second key.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_and_an_alias_whose_create_replies_were_lost_are_made_once() {
    let ws = Workspace::new();
    let (resources, stats) = apply_losing_first_reply(
        &ws,
        r#"
[resources.key]
type = "kms.key"
description = "lost replies"
deletion_window_in_days = 7

[resources.alias]
type = "kms.alias"
name = "alias/lost-replies"
target_key_id = "${key.arn}"
"#,
        &["kms:CreateKey", "kms:CreateAlias"],
        &[],
    );
    let key = id(&resources, "key");
    assert_eq!(id(&resources, "alias"), "alias/lost-replies");
    let aws = ws.clients().await;
    let keys = aws.kms.list_keys().send().await.unwrap();
    let keys: Vec<_> = keys.keys().iter().filter_map(|k| k.key_id()).collect();
    assert_eq!(keys, [key.as_str()], "one key, not one per attempt");
    assert!(
        stats["faults_by_operation"]["kms:ListKeys"].as_u64() >= Some(1),
        "a listing left the new key out: {stats:#}"
    );
    let aliases = aws.kms.list_aliases().send().await.unwrap();
    let ours: Vec<_> = aliases
        .aliases()
        .iter()
        .filter(|a| a.alias_name() == Some("alias/lost-replies"))
        .map(|a| a.target_key_id().unwrap_or_default())
        .collect();
    assert_eq!(ours, [key.as_str()]);
}

/// A mapping has no name: strata finds it by its function and event source, which Lambda
/// allows one mapping of (the retry's ResourceConflictException names the existing UUID).
#[tokio::test(flavor = "multi_thread")]
async fn an_event_source_mapping_whose_create_reply_was_lost_is_found_by_function_and_queue() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.dir().join("worker")).unwrap();
    ws.write(
        "worker/index.py",
        "def handler(event, context):\n    return {}\n",
    );
    let (resources, stats) = apply_losing_first_reply(
        &ws,
        r#"
[resources.jobs]
type = "sqs.queue"
name = "lost-jobs"

[resources.worker_role]
type = "iam.role"
name = "lost-worker"
assume_role_policy = { service = "lambda.amazonaws.com" }

[resources.worker_role.inline_policies.read-jobs]
Version = "2012-10-17"
Statement = [
  { Effect = "Allow", Action = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], Resource = "${jobs.arn}" },
]

[resources.worker]
type = "lambda.function"
name = "lost-worker"
runtime = "python3.12"
handler = "index.handler"
role = "${worker_role.arn}"
code = "worker"

[resources.feed]
type = "lambda.event_source_mapping"
function_name = "${worker.name}"
event_source_arn = "${jobs.arn}"
batch_size = 5
"#,
        &["lambda:POST /2015-03-31/event-source-mappings"],
        &[],
    );
    let aws = ws.clients().await;
    let listed = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .unwrap();
    let uuids: Vec<_> = listed
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.uuid())
        .collect();
    assert_eq!(uuids, [id(&resources, "feed").as_str()], "one mapping");
    assert_eq!(
        stats["faults_by_kind"]["realism"].as_u64(),
        Some(1),
        "the retry was answered ResourceConflictException: {stats:#}"
    );
    assert_eq!(listed.event_source_mappings()[0].batch_size(), Some(5));
}

/// The other name-keyed creates: CreateTable, CreateLogGroup and CreateSchedule answer
/// "already exists" to the retry (ResourceInUseException, ResourceAlreadyExistsException,
/// ConflictException), CreateTopic and PutRule are idempotent on the name. One of each.
#[tokio::test(flavor = "multi_thread")]
async fn topics_tables_log_groups_rules_and_schedules_whose_create_replies_were_lost_are_made_once()
{
    let ws = Workspace::new();
    let (resources, _) = apply_losing_first_reply(
        &ws,
        r#"
[resources.alerts]
type = "sns.topic"
name = "lost-alerts"

[resources.orders]
type = "dynamodb.table"
name = "lost-orders"
hash_key = "pk"
attributes = { pk = "S" }
billing_mode = "PAY_PER_REQUEST"

[resources.logs]
type = "logs.log_group"
name = "/lost/logs"
retention_in_days = 7

[resources.nightly]
type = "events.rule"
name = "lost-nightly"
schedule_expression = "rate(1 day)"

[resources.jobs]
type = "sqs.queue"
name = "lost-scheduled-jobs"

[resources.invoker]
type = "iam.role"
name = "lost-invoker"
assume_role_policy = { service = "scheduler.amazonaws.com" }

[resources.report]
type = "scheduler.schedule"
name = "lost-report"
schedule_expression = "rate(1 hour)"
flexible_time_window = { mode = "OFF" }
target = { arn = "${jobs.arn}", role_arn = "${invoker.arn}" }
"#,
        &[
            "sns:CreateTopic",
            "dynamodb:CreateTable",
            "logs:CreateLogGroup",
            "events:PutRule",
            "scheduler:POST /{id}/{id}",
        ],
        &[],
    );
    let aws = ws.clients().await;

    let topics = aws.sns.list_topics().send().await.unwrap();
    let topics: Vec<_> = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .collect();
    assert_eq!(topics, [id(&resources, "alerts").as_str()]);

    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["lost-orders"]);
    assert_eq!(id(&resources, "orders"), "lost-orders");

    let groups = aws.logs.describe_log_groups().send().await.unwrap();
    let groups: Vec<_> = groups
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(groups, ["/lost/logs"]);
    assert_eq!(id(&resources, "logs"), "/lost/logs");

    let rules = aws.events.list_rules().send().await.unwrap();
    let rules: Vec<_> = rules.rules().iter().filter_map(|r| r.name()).collect();
    assert_eq!(rules, ["lost-nightly"]);
    assert_eq!(id(&resources, "nightly"), "lost-nightly");

    let schedules = aws.scheduler.list_schedules().send().await.unwrap();
    let schedules: Vec<_> = schedules
        .schedules()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(schedules, ["lost-report"]);
    assert_eq!(id(&resources, "report"), "default/lost-report");
}
