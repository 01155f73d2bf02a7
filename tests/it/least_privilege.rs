//! Least privilege, proven on the emulator that evaluates IAM for every call (`AUTH=true`):
//! an IAM user holding exactly what `strata policy` generates plans, applies, plans with no
//! change and destroys the whole producer-consumer stack; without any one statement it fails
//! at the step that needs it, with a message naming the action and `strata policy`; it cannot
//! touch a bucket or role outside the stack; and every call a run makes, as recorded by the
//! counting proxy, is an action the generated policy grants for that command.
//!
//! Every call goes through `scripts/aws-proxy --secure-transport`, which tells the emulator
//! the call came over TLS (X-Forwarded-Proto: https), as every SDK call to AWS does: the
//! stack's buckets deny `aws:SecureTransport = false`, and the emulator only speaks plain
//! HTTP on the loopback.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{Value as Json, json};

use crate::common::{
    Proxy, Workspace, assert_exit, assert_plan, clients_at, live_ids, stderr, strata_command,
    without_endpoint,
};

const STACK: &str = "stacks/producer-consumer.toml";
const REGION: &str = "us-east-1";

/// What the emulator cannot scope to a resource, where AWS does: it evaluates these actions
/// against the resource `*` (lambda:CreateFunction: its request names the function only in
/// the body, which the emulator does not read; CloudTrail's tag calls name the trail in
/// `ResourceId`/`ResourceIdList`, which it does not read either). On AWS all four are
/// authorized against the function or trail ARN, which the generated policy grants. The
/// emulator-only statement allows them on the resource `?`: a pattern that matches only a
/// one-character resource, i.e. the emulator's unscoped `*`, and no ARN at all on AWS. The
/// generated policy itself is not widened.
const EMULATOR_UNSCOPED: &[&str] = &[
    "lambda:CreateFunction",
    "cloudtrail:AddTags",
    "cloudtrail:RemoveTags",
    "cloudtrail:ListTags",
];

fn emulator_only_statement() -> Json {
    json!({
        "Sid": "EmulatorUnscopedCalls",
        "Effect": "Allow",
        "Action": EMULATOR_UNSCOPED,
        "Resource": "?",
    })
}

/// A strict emulator and the proxy in front of it, which presents every call as over TLS
/// and checks iam:PassRole (the emulator evaluates every call's own action, but not the
/// PassRole a function's role needs).
struct Strict {
    /// On the strict emulator, with copied stacks.
    ws: Workspace,
    proxy: Proxy,
}

impl Strict {
    fn start() -> Strict {
        let ws = Workspace::strict().with_stacks();
        let proxy = ws.proxy(&["--secure-transport", "--enforce-pass-role"]);
        Strict { ws, proxy }
    }

    /// A strict emulator, the account root's clients through its proxy, and its account.
    async fn with_root() -> (Strict, strata::aws::Clients, String) {
        let strict = Strict::start();
        let root = strict.root().await;
        let account = root.identity().await.unwrap().account_id.clone();
        (strict, root, account)
    }

    /// The account root's clients (keys test/test), through the proxy.
    async fn root(&self) -> strata::aws::Clients {
        clients_at(&self.proxy.url, REGION).await
    }
}

/// Access keys of an IAM user.
#[derive(Clone)]
pub(crate) struct Keys {
    pub(crate) id: String,
    pub(crate) secret: String,
}

impl Keys {
    fn root() -> Keys {
        Keys {
            id: "test".into(),
            secret: "test".into(),
        }
    }
}

/// `strata ARGS --endpoint-url URL` with `keys`.
pub(crate) fn strata_as(dir: &Path, keys: &Keys, url: &str, args: &[&str]) -> Output {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--endpoint-url", url]);
    strata_command(dir, &full)
        .env("AWS_ACCESS_KEY_ID", &keys.id)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
        .output()
        .expect("strata runs")
}

/// `strata policy STACK --json` for `stage`, as root (the caller's account), optionally
/// `--for` one command.
fn generated_policy(dir: &Path, url: &str, stage: &str, command: Option<&str>) -> Json {
    let stage = format!("stage={stage}");
    let mut args = vec!["policy", STACK, "--json", "--var", &stage];
    if let Some(c) = command {
        args.extend(["--for", c]);
    }
    let out = strata_as(dir, &Keys::root(), url, &args);
    assert_exit(&out, 0);
    serde_json::from_slice(&out.stdout).expect("policy --json is JSON")
}

/// An IAM user `name` holding `policy` (a managed policy: the document is larger than the
/// 2,048 characters an inline user policy may have), and its access keys.
pub(crate) async fn user_with(root: &strata::aws::Clients, name: &str, policy: &Json) -> Keys {
    root.iam.create_user().user_name(name).send().await.unwrap();
    let arn = root
        .iam
        .create_policy()
        .policy_name(name)
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    root.iam
        .attach_user_policy()
        .user_name(name)
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
    let key = root
        .iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    Keys {
        id: key.access_key_id,
        secret: key.secret_access_key,
    }
}

/// `policy` plus the emulator-only statement (see [`EMULATOR_UNSCOPED`]).
fn for_the_emulator(policy: &Json) -> Json {
    let mut policy = policy.clone();
    policy["Statement"]
        .as_array_mut()
        .unwrap()
        .push(emulator_only_statement());
    policy
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        _ => panic!("not a string or list: {v}"),
    }
}

/// Every (action, resource) a policy document allows.
fn grants(policy: &Json) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in policy["Statement"].as_array().unwrap() {
        for a in strings(&s["Action"]) {
            for r in strings(&s["Resource"]) {
                out.insert((a.clone(), r));
            }
        }
    }
    out
}

fn sdk_config_as(keys: &Keys, url: &str) -> (aws_sdk_s3::Client, aws_sdk_iam::Client) {
    let credentials =
        aws_credential_types::Credentials::new(&keys.id, &keys.secret, None, None, "test");
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new(REGION))
        .endpoint_url(url)
        .force_path_style(true)
        .credentials_provider(credentials.clone())
        .build();
    let iam = aws_sdk_iam::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_iam::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(credentials)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_iam::Client::from_conf(iam),
    )
}

/// The stack's top-level objects for `stage`, as the root sees them.
fn stack_objects(stage: &str, account: &str) -> BTreeSet<String> {
    [
        format!("producer-consumer-{stage}-content-{account}"),
        format!("producer-consumer-{stage}-trail-{account}"),
        format!("producer-consumer-{stage}-presign"),
        format!("/aws/lambda/producer-consumer-{stage}-presign"),
        format!("{account}/producer-consumer-{stage}-content"),
        format!("{account}/producer-consumer-{stage}-content-dlq"),
        format!("producer-consumer-{stage}-trail"),
    ]
    .into_iter()
    .collect()
}

/// Live ids, without endpoints and without API ids (random: checked by count instead).
async fn live(root: &strata::aws::Clients) -> (BTreeSet<String>, usize) {
    let apis = root
        .apigateway
        .get_rest_apis()
        .send()
        .await
        .unwrap()
        .items()
        .len();
    let mut ids = without_endpoint(live_ids(root).await);
    ids.retain(|id| !(id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit())));
    (ids, apis)
}

async fn put_object(root: &strata::aws::Clients, bucket: &str) {
    root.s3
        .put_object()
        .bucket(bucket)
        .key("input/left-behind.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_holding_exactly_the_generated_policy_deploys_and_destroys_the_whole_stack() {
    let (strict, root, account) = Strict::with_root().await;
    let url = strict.proxy.url.clone();
    let dir = strict.ws.dir();

    let policy = generated_policy(dir, &url, "dev", None);
    let deployer = user_with(&root, "deployer", &for_the_emulator(&policy)).await;
    let expected = stack_objects("dev", &account);

    // iam:PassRole: one statement, the function's own role only, passed to Lambda only;
    // needed by apply (CreateFunction, UpdateFunctionConfiguration), by nothing else.
    let passing: Vec<&Json> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == "iam:PassRole"))
        .collect();
    assert_eq!(
        passing,
        [&json!({
            "Sid": passing[0]["Sid"],
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": format!("arn:aws:iam::{account}:role/producer-consumer-dev-presign"),
            "Condition": { "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } },
        })],
        "{policy:#}"
    );
    for (command, grants_it) in [("plan", false), ("apply", true), ("destroy", false)] {
        let passes = grants(&generated_policy(dir, &url, "dev", Some(command)))
            .iter()
            .any(|(action, _)| action == "iam:PassRole");
        assert_eq!(passes, grants_it, "--for {command}");
    }

    let out = strata_as(
        dir,
        &deployer,
        &url,
        &["plan", STACK, "--detailed-exitcode"],
    );
    assert_exit(&out, 2);
    let out = strata_as(dir, &deployer, &url, &["apply", STACK, "--auto-approve"]);
    assert_exit(&out, 0);
    let (ids, apis) = live(&root).await;
    assert_eq!(ids, expected, "what exists after apply");
    assert_eq!(apis, 1, "REST APIs after apply");
    let out = strata_as(
        dir,
        &deployer,
        &url,
        &["plan", STACK, "--detailed-exitcode"],
    );
    assert_exit(&out, 0);

    // An object left in the content bucket: destroy empties it (force_destroy) first.
    put_object(&root, &format!("producer-consumer-dev-content-{account}")).await;
    let out = strata_as(dir, &deployer, &url, &["destroy", STACK, "--auto-approve"]);
    assert_exit(&out, 0);
    let (ids, apis) = live(&root).await;
    assert_eq!(ids, BTreeSet::new(), "what is left after destroy");
    assert_eq!(apis, 0, "REST APIs after destroy");
}

/// The stack of every type added after the seed system (with a queue, a function and the
/// targets' roles around them).
const EVERY_TYPE: &str = "tests/stacks/every-type.toml";

/// What the emulator evaluates against `*` for the new types, where AWS authorizes the call
/// on the object, which the generated policy grants (granted on `?` as in
/// [`EMULATOR_UNSCOPED`]):
/// - lambda:CreateEventSourceMapping has no resource on AWS either: AWS evaluates the
///   generated statement's condition on `lambda:FunctionArn`, a key the emulator does not set,
///   so that condition never holds there;
/// - logs:DescribeLogGroups names a prefix, not a group: AWS authorizes it on the account's
///   `log-group:*`;
/// - the tag reads name their object in `ResourceArn`/`ResourceARN`, and kms:CreateAlias and
///   kms:DeleteAlias their alias in `AliasName`, which the emulator does not read.
const EMULATOR_UNSCOPED_NEW_TYPES: &[&str] = &[
    "lambda:CreateEventSourceMapping",
    "logs:DescribeLogGroups",
    "sns:ListTagsForResource",
    "dynamodb:ListTagsOfResource",
    "events:ListTagsForResource",
    "kms:CreateAlias",
    "kms:DeleteAlias",
];

/// The rule's target calls name the rule in `Rule`, which the emulator does not read: it
/// evaluates them against the event bus the request names. On AWS their one resource is the
/// rule (which the generated policy grants), so this grant on the bus gives nothing there.
const EMULATOR_ON_THE_BUS: &[&str] = &[
    "events:ListTargetsByRule",
    "events:PutTargets",
    "events:RemoveTargets",
];

/// The objects of every-type.toml that exist, by kind and name, as the root sees them (a
/// key scheduled for deletion and a secret in its recovery window are gone).
async fn every_type_objects(root: &strata::aws::Clients) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, names: Vec<String>| {
        out.extend(
            names
                .into_iter()
                .filter(|n| n.contains("every-type"))
                .map(|n| format!("{kind} {n}")),
        );
    };
    let queues = root.sqs.list_queues().send().await.unwrap();
    add(
        "queue",
        queues
            .queue_urls()
            .iter()
            .filter_map(|u| Some(u.rsplit_once('/')?.1.to_string()))
            .collect(),
    );
    let roles = root.iam.list_roles().send().await.unwrap();
    add(
        "role",
        roles.roles().iter().map(|r| r.role_name.clone()).collect(),
    );
    let functions = root.lambda.list_functions().send().await.unwrap();
    add(
        "function",
        functions
            .functions()
            .iter()
            .filter_map(|f| f.function_name.clone())
            .collect(),
    );
    let mappings = root
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .unwrap();
    add(
        "mapping",
        mappings
            .event_source_mappings()
            .iter()
            .filter_map(|m| m.function_arn.clone())
            .collect(),
    );
    let groups = root.logs.describe_log_groups().send().await.unwrap();
    add(
        "log group",
        groups
            .log_groups()
            .iter()
            .filter_map(|g| g.log_group_name.clone())
            .collect(),
    );
    let tables = root.dynamodb.list_tables().send().await.unwrap();
    add("table", tables.table_names().to_vec());
    let topics = root.sns.list_topics().send().await.unwrap();
    add(
        "topic",
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn.clone())
            .collect(),
    );
    let subscriptions = root.sns.list_subscriptions().send().await.unwrap();
    add(
        "subscription",
        subscriptions
            .subscriptions()
            .iter()
            .filter_map(|s| Some(format!("{} -> {}", s.topic_arn()?, s.endpoint()?)))
            .collect(),
    );
    let alarms = root.cloudwatch.describe_alarms().send().await.unwrap();
    add(
        "alarm",
        alarms
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name.clone())
            .collect(),
    );
    let rules = root.events.list_rules().send().await.unwrap();
    add(
        "rule",
        rules
            .rules()
            .iter()
            .filter_map(|r| r.name.clone())
            .collect(),
    );
    let schedules = root.scheduler.list_schedules().send().await.unwrap();
    add(
        "schedule",
        schedules
            .schedules()
            .iter()
            .filter_map(|s| s.name.clone())
            .collect(),
    );
    let aliases = root.kms.list_aliases().send().await.unwrap();
    let aliases = aliases.aliases();
    add(
        "alias",
        aliases
            .iter()
            .filter_map(|a| a.alias_name.clone())
            .collect(),
    );
    let mut keys = Vec::new();
    for key in root.kms.list_keys().send().await.unwrap().keys() {
        let key_id = key.key_id().unwrap();
        let described = root.kms.describe_key().key_id(key_id).send().await.unwrap();
        let metadata = described.key_metadata().unwrap();
        if metadata.key_state().map(|s| s.as_str()) == Some("Enabled") {
            keys.push(metadata.description().unwrap_or_default().to_string());
        }
    }
    add("key", keys);
    let parameters = root.ssm.describe_parameters().send().await.unwrap();
    add(
        "parameter",
        parameters
            .parameters()
            .iter()
            .filter_map(|p| p.name.clone())
            .collect(),
    );
    let secrets = root.secretsmanager.list_secrets().send().await.unwrap();
    add(
        "secret",
        secrets
            .secret_list()
            .iter()
            .filter_map(|s| s.name.clone())
            .collect(),
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_deploys_and_destroys_every_new_type() {
    let (strict, root, account) = Strict::with_root().await;
    let url = strict.proxy.url.clone();
    let dir = strict.ws.dir();
    let stack = crate::common::repo().join(EVERY_TYPE);
    let stack = stack.to_str().unwrap();

    let out = strata_as(dir, &Keys::root(), &url, &["policy", stack, "--json"]);
    assert_exit(&out, 0);
    let policy: Json = serde_json::from_slice(&out.stdout).unwrap();
    // The generated policy is not widened: only statements of the emulator's own are added.
    let mut for_emulator = for_the_emulator(&policy);
    let statements = for_emulator["Statement"].as_array_mut().unwrap();
    statements.push(json!({
        "Sid": "EmulatorUnscopedNewTypes",
        "Effect": "Allow",
        "Action": EMULATOR_UNSCOPED_NEW_TYPES,
        "Resource": "?",
    }));
    statements.push(json!({
        "Sid": "EmulatorRuleTargetsOnTheBus",
        "Effect": "Allow",
        "Action": EMULATOR_ON_THE_BUS,
        "Resource": format!("arn:aws:events:{REGION}:{account}:event-bus/default"),
    }));
    let deployer = user_with(&root, "deployer", &for_emulator).await;

    let run = |args: &[&str]| strata_as(dir, &deployer, &url, args);
    assert_exit(&run(&["plan", stack, "--detailed-exitcode"]), 2);
    assert_exit(&run(&["apply", stack, "--auto-approve"]), 0);
    let topic = format!("arn:aws:sns:{REGION}:{account}:every-type-alerts");
    let expected: BTreeSet<String> = [
        "queue every-type-jobs".into(),
        "role every-type-worker".into(),
        "role every-type-events".into(),
        "role every-type-scheduler".into(),
        "function every-type-worker".into(),
        format!("mapping arn:aws:lambda:{REGION}:{account}:function:every-type-worker"),
        "log group /aws/lambda/every-type-worker".into(),
        "table every-type-records".into(),
        format!("topic {topic}"),
        format!("subscription {topic} -> arn:aws:sqs:{REGION}:{account}:every-type-jobs"),
        "alarm every-type-depth".into(),
        "rule every-type-nightly".into(),
        "schedule every-type-report".into(),
        "alias alias/every-type".into(),
        "key every-type key".into(),
        "parameter /every-type/plain".into(),
        "parameter /every-type/password".into(),
        "secret every-type-api-key".into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(every_type_objects(&root).await, expected, "after apply");
    assert_exit(&run(&["plan", stack, "--detailed-exitcode"]), 0);
    assert_exit(&run(&["destroy", stack, "--auto-approve"]), 0);
    assert_eq!(
        every_type_objects(&root).await,
        BTreeSet::new(),
        "after destroy"
    );
}

/// The lifecycle each case runs, in order, until a command fails.
const LIFECYCLE: [(&str, &[&str]); 4] = [
    ("plan", &["plan", STACK, "--detailed-exitcode"]),
    ("apply", &["apply", STACK, "--auto-approve"]),
    ("plan", &["plan", STACK, "--detailed-exitcode"]),
    ("destroy", &["destroy", STACK, "--auto-approve"]),
];

#[tokio::test(flavor = "multi_thread")]
async fn without_any_one_statement_the_step_that_needs_it_fails_naming_the_action() {
    let (strict, root, account) = Strict::with_root().await;
    let url = strict.proxy.url.clone();
    let dir = strict.ws.dir();

    let statements = generated_policy(dir, &url, "dev", None)["Statement"]
        .as_array()
        .unwrap()
        .len();
    let mut cases = Vec::new();
    for i in 0..statements {
        // Each case deploys its own stage: its own names, its own state, its own policy.
        let stage = format!("s{i}");
        let full = generated_policy(dir, &url, &stage, None);
        let mut without = full.clone();
        let removed = without["Statement"].as_array_mut().unwrap().remove(i);
        let keys = user_with(
            &root,
            &format!("without-{}-{i}", removed["Sid"].as_str().unwrap()),
            &for_the_emulator(&without),
        )
        .await;
        cases.push((stage, removed, keys));
    }

    let mut report = Vec::new();
    for (stage, removed, keys) in &cases {
        let actions = strings(&removed["Action"]);
        let removed_grants = grants(&json!({ "Statement": [removed] }));
        let var = format!("stage={stage}");
        let mut failed = None;
        for (command, args) in LIFECYCLE {
            if command == "destroy" {
                // Something for destroy to empty out of the bucket first.
                put_object(
                    &root,
                    &format!("producer-consumer-{stage}-content-{account}"),
                )
                .await;
            }
            let mut args = args.to_vec();
            args.extend(["--var", &var]);
            let out = strata_as(dir, keys, &url, &args);
            let ok = matches!(
                (command, out.status.code()),
                ("plan", Some(0 | 2)) | (_, Some(0))
            );
            if !ok {
                failed = Some((command, out));
                break;
            }
        }
        let sid = removed["Sid"].as_str().unwrap();
        let Some((command, out)) = failed else {
            panic!(
                "without statement {sid} ({removed}) plan, apply, plan and destroy all succeeded: the statement is not needed"
            );
        };
        assert_exit(&out, 1);
        let err = stderr(&out);
        let named: Vec<&String> = actions
            .iter()
            .filter(|a| err.contains(a.as_str()))
            .collect();
        assert!(
            !named.is_empty(),
            "without statement {sid}, {command} failed without naming any of {actions:?}:\n{err}"
        );
        assert!(
            err.contains("`strata policy STACK_FILE` lists the IAM permissions the stack needs"),
            "without statement {sid}, {command} failed without pointing to strata policy:\n{err}"
        );
        // The command that failed is one the policy says needs the statement, as the policy
        // for it is generated at that point (with the state as it is then).
        let needed_by = &grants(&generated_policy(dir, &url, stage, Some(command)));
        assert!(
            removed_grants.iter().any(|g| needed_by.contains(g)),
            "without statement {sid}, {command} failed (on {named:?}), but `strata policy --for {command}` \
             grants none of it:\n{err}"
        );
        report.push(format!("{sid}: {command} fails on {named:?}"));
    }
    eprintln!("{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployer_cannot_touch_a_bucket_or_role_outside_the_stack() {
    let (strict, root, account) = Strict::with_root().await;
    let url = strict.proxy.url.clone();
    let dir = strict.ws.dir();
    let policy = generated_policy(dir, &url, "dev", None);
    let deployer = user_with(&root, "deployer", &for_the_emulator(&policy)).await;
    let (s3, iam) = sdk_config_as(&deployer, &url);

    let bucket = format!("someone-elses-bucket-{account}");
    let role = "someone-elses-role";
    root.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    put_object(&root, &bucket).await;
    root.iam
        .create_role()
        .role_name(role)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();

    // The keys work, on the stack's own names.
    let own = format!("producer-consumer-dev-content-{account}");
    s3.create_bucket().bucket(&own).send().await.unwrap();
    s3.delete_bucket().bucket(&own).send().await.unwrap();

    fn denied<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
        what: &str,
        result: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, R>>,
    ) {
        match result {
            Ok(answer) => panic!("{what} was allowed: {answer:?}"),
            Err(e) => assert_eq!(e.code(), Some("AccessDenied"), "{what}: {e:?}"),
        }
    }
    denied(
        "GetBucketPolicy",
        s3.get_bucket_policy().bucket(&bucket).send().await,
    );
    denied(
        "PutBucketPolicy",
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#)
            .send()
            .await,
    );
    denied(
        "PutBucketTagging",
        s3.put_bucket_tagging()
            .bucket(&bucket)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("k")
                            .value("v")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
    );
    denied(
        "ListObjectsV2",
        s3.list_objects_v2().bucket(&bucket).send().await,
    );
    denied(
        "DeleteObject",
        s3.delete_object()
            .bucket(&bucket)
            .key("input/left-behind.json")
            .send()
            .await,
    );
    denied(
        "DeleteBucket",
        s3.delete_bucket().bucket(&bucket).send().await,
    );
    denied(
        "CreateBucket (another name)",
        s3.create_bucket()
            .bucket(format!("another-bucket-{account}"))
            .send()
            .await,
    );
    denied("GetRole", iam.get_role().role_name(role).send().await);
    denied(
        "PutRolePolicy",
        iam.put_role_policy()
            .role_name(role)
            .policy_name("escalate")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
            .send()
            .await,
    );
    denied(
        "AttachRolePolicy",
        iam.attach_role_policy()
            .role_name(role)
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await,
    );
    denied(
        "UpdateAssumeRolePolicy",
        iam.update_assume_role_policy()
            .role_name(role)
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#)
            .send()
            .await,
    );
    denied("DeleteRole", iam.delete_role().role_name(role).send().await);
    denied(
        "CreateRole (another name)",
        iam.create_role()
            .role_name("another-role")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await,
    );

    // Read back as root: all as it was.
    let objects = root
        .s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(1));
    let policy = root.s3.get_bucket_policy().bucket(&bucket).send().await;
    assert_eq!(
        policy.unwrap_err().code(),
        Some("NoSuchBucketPolicy"),
        "the bucket has no policy"
    );
    let policies = root
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    assert!(policies.policy_names().is_empty());
    let attached = root
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let trust = root.iam.get_role().role_name(role).send().await.unwrap();
    let trust = trust.role.unwrap().assume_role_policy_document.unwrap();
    assert!(trust.contains("lambda.amazonaws.com"), "{trust}");
}

/// The operation a proxy key names (`service:operation` as in the proxy's stats), for the
/// REST and S3 calls the proxy records by shape. JSON and query protocols name it already.
fn operation_of(service: &str, key: &str) -> Option<String> {
    let op = |s: &str| Some(s.to_string());
    if !key.contains(' ') {
        return op(key);
    }
    let (method, path) = key.split_once(' ').unwrap();
    match service {
        "s3" => {
            let (shape, sub) = path.split_once('?').unwrap_or((path, ""));
            let object = shape == "/{bucket}/{key+}";
            match (method, sub, object) {
                ("HEAD", "", false) => op("HeadBucket"),
                ("PUT", "", false) => op("CreateBucket"),
                ("DELETE", "", false) => op("DeleteBucket"),
                ("GET", "", false) => op("ListObjects"),
                ("GET", "versions", false) => op("ListObjectVersions"),
                ("POST", "delete", false) => op("DeleteObjects"),
                ("GET", "encryption", false) => op("GetBucketEncryption"),
                ("PUT", "encryption", false) => op("PutBucketEncryption"),
                ("DELETE", "encryption", false) => op("DeleteBucketEncryption"),
                ("GET", "lifecycle", false) => op("GetBucketLifecycleConfiguration"),
                ("PUT", "lifecycle", false) => op("PutBucketLifecycleConfiguration"),
                ("DELETE", "lifecycle", false) => op("DeleteBucketLifecycle"),
                ("GET", "notification", false) => op("GetBucketNotificationConfiguration"),
                ("PUT", "notification", false) => op("PutBucketNotificationConfiguration"),
                ("GET", "policy", false) => op("GetBucketPolicy"),
                ("PUT", "policy", false) => op("PutBucketPolicy"),
                ("DELETE", "policy", false) => op("DeleteBucketPolicy"),
                ("GET", "publicAccessBlock", false) => op("GetPublicAccessBlock"),
                ("PUT", "publicAccessBlock", false) => op("PutPublicAccessBlock"),
                ("DELETE", "publicAccessBlock", false) => op("DeletePublicAccessBlock"),
                ("GET", "tagging", false) => op("GetBucketTagging"),
                ("PUT", "tagging", false) => op("PutBucketTagging"),
                ("DELETE", "tagging", false) => op("DeleteBucketTagging"),
                ("GET", "versioning", false) => op("GetBucketVersioning"),
                ("PUT", "versioning", false) => op("PutBucketVersioning"),
                ("GET", "", true) => op("GetObject"),
                ("HEAD", "", true) => op("HeadObject"),
                ("PUT", "", true) => op("PutObject"),
                ("DELETE", "", true) => op("DeleteObject"),
                _ => None,
            }
        }
        "lambda" => {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match (method, &segments[1..]) {
                ("POST", ["functions"]) => op("CreateFunction"),
                ("GET", ["functions", _]) => op("GetFunction"),
                ("DELETE", ["functions", _]) => op("DeleteFunction"),
                ("GET", ["functions", _, "configuration"]) => op("GetFunctionConfiguration"),
                ("PUT", ["functions", _, "configuration"]) => op("UpdateFunctionConfiguration"),
                ("PUT", ["functions", _, "code"]) => op("UpdateFunctionCode"),
                ("GET", ["functions", _, "policy"]) => op("GetPolicy"),
                ("POST", ["functions", _, "policy"]) => op("AddPermission"),
                ("DELETE", ["functions", _, "policy", _]) => op("RemovePermission"),
                ("GET", ["tags", _]) => op("ListTags"),
                ("POST", ["tags", _]) => op("TagResource"),
                ("DELETE", ["tags", _]) => op("UntagResource"),
                _ => None,
            }
        }
        // API Gateway authorizes the HTTP method itself (on the path as resource).
        "apigateway" => op(method),
        _ => None,
    }
}

/// The IAM actions each call strata makes is authorized as, from AWS's Service
/// Authorization Reference ("Actions, resources, and condition keys" of each service): the
/// operation's own action, an S3 bucket or object action, and the actions AWS checks
/// besides (a function created or reconfigured with a role is a PassRole of that role).
/// Kept here, apart from strata's own declarations, so that the test compares two sources.
/// API Gateway authorizes the HTTP method and is mapped in `actions_of`.
const IAM_ACTIONS: &[(&str, &str, &[&str])] = &[
    ("s3", "CreateBucket", &["s3:CreateBucket"]),
    ("s3", "DeleteBucket", &["s3:DeleteBucket"]),
    ("s3", "HeadBucket", &["s3:ListBucket"]),
    ("s3", "ListBuckets", &["s3:ListAllMyBuckets"]),
    ("s3", "ListObjects", &["s3:ListBucket"]),
    ("s3", "ListObjectsV2", &["s3:ListBucket"]),
    ("s3", "ListObjectVersions", &["s3:ListBucketVersions"]),
    ("s3", "DeleteObjects", &["s3:DeleteObject"]),
    ("s3", "DeleteObject", &["s3:DeleteObject"]),
    ("s3", "GetObject", &["s3:GetObject"]),
    ("s3", "HeadObject", &["s3:GetObject"]),
    ("s3", "PutObject", &["s3:PutObject"]),
    (
        "s3",
        "GetBucketEncryption",
        &["s3:GetEncryptionConfiguration"],
    ),
    (
        "s3",
        "PutBucketEncryption",
        &["s3:PutEncryptionConfiguration"],
    ),
    (
        "s3",
        "DeleteBucketEncryption",
        &["s3:PutEncryptionConfiguration"],
    ),
    (
        "s3",
        "GetBucketLifecycleConfiguration",
        &["s3:GetLifecycleConfiguration"],
    ),
    (
        "s3",
        "PutBucketLifecycleConfiguration",
        &["s3:PutLifecycleConfiguration"],
    ),
    (
        "s3",
        "DeleteBucketLifecycle",
        &["s3:PutLifecycleConfiguration"],
    ),
    (
        "s3",
        "GetBucketNotificationConfiguration",
        &["s3:GetBucketNotification"],
    ),
    (
        "s3",
        "PutBucketNotificationConfiguration",
        &["s3:PutBucketNotification"],
    ),
    ("s3", "GetBucketPolicy", &["s3:GetBucketPolicy"]),
    ("s3", "PutBucketPolicy", &["s3:PutBucketPolicy"]),
    ("s3", "DeleteBucketPolicy", &["s3:DeleteBucketPolicy"]),
    (
        "s3",
        "GetPublicAccessBlock",
        &["s3:GetBucketPublicAccessBlock"],
    ),
    (
        "s3",
        "PutPublicAccessBlock",
        &["s3:PutBucketPublicAccessBlock"],
    ),
    (
        "s3",
        "DeletePublicAccessBlock",
        &["s3:PutBucketPublicAccessBlock"],
    ),
    ("s3", "GetBucketTagging", &["s3:GetBucketTagging"]),
    ("s3", "PutBucketTagging", &["s3:PutBucketTagging"]),
    ("s3", "DeleteBucketTagging", &["s3:PutBucketTagging"]),
    ("s3", "GetBucketVersioning", &["s3:GetBucketVersioning"]),
    ("s3", "PutBucketVersioning", &["s3:PutBucketVersioning"]),
    ("sqs", "CreateQueue", &["sqs:CreateQueue"]),
    ("sqs", "DeleteQueue", &["sqs:DeleteQueue"]),
    ("sqs", "GetQueueUrl", &["sqs:GetQueueUrl"]),
    ("sqs", "GetQueueAttributes", &["sqs:GetQueueAttributes"]),
    ("sqs", "SetQueueAttributes", &["sqs:SetQueueAttributes"]),
    ("sqs", "ListQueues", &["sqs:ListQueues"]),
    ("sqs", "ListQueueTags", &["sqs:ListQueueTags"]),
    ("sqs", "TagQueue", &["sqs:TagQueue"]),
    ("sqs", "UntagQueue", &["sqs:UntagQueue"]),
    ("iam", "CreateRole", &["iam:CreateRole"]),
    ("iam", "GetRole", &["iam:GetRole"]),
    ("iam", "DeleteRole", &["iam:DeleteRole"]),
    ("iam", "UpdateRole", &["iam:UpdateRole"]),
    (
        "iam",
        "UpdateAssumeRolePolicy",
        &["iam:UpdateAssumeRolePolicy"],
    ),
    ("iam", "PutRolePolicy", &["iam:PutRolePolicy"]),
    ("iam", "GetRolePolicy", &["iam:GetRolePolicy"]),
    ("iam", "DeleteRolePolicy", &["iam:DeleteRolePolicy"]),
    ("iam", "ListRolePolicies", &["iam:ListRolePolicies"]),
    ("iam", "AttachRolePolicy", &["iam:AttachRolePolicy"]),
    ("iam", "DetachRolePolicy", &["iam:DetachRolePolicy"]),
    (
        "iam",
        "ListAttachedRolePolicies",
        &["iam:ListAttachedRolePolicies"],
    ),
    ("iam", "TagRole", &["iam:TagRole"]),
    ("iam", "UntagRole", &["iam:UntagRole"]),
    ("iam", "ListRoleTags", &["iam:ListRoleTags"]),
    (
        "lambda",
        "CreateFunction",
        &["lambda:CreateFunction", "iam:PassRole"],
    ),
    (
        "lambda",
        "GetFunction",
        &["lambda:GetFunction", "lambda:ListTags"],
    ),
    ("lambda", "DeleteFunction", &["lambda:DeleteFunction"]),
    (
        "lambda",
        "GetFunctionConfiguration",
        &["lambda:GetFunctionConfiguration"],
    ),
    (
        "lambda",
        "UpdateFunctionConfiguration",
        &["lambda:UpdateFunctionConfiguration", "iam:PassRole"],
    ),
    (
        "lambda",
        "UpdateFunctionCode",
        &["lambda:UpdateFunctionCode"],
    ),
    ("lambda", "GetPolicy", &["lambda:GetPolicy"]),
    ("lambda", "AddPermission", &["lambda:AddPermission"]),
    ("lambda", "RemovePermission", &["lambda:RemovePermission"]),
    ("lambda", "ListTags", &["lambda:ListTags"]),
    ("lambda", "TagResource", &["lambda:TagResource"]),
    ("lambda", "UntagResource", &["lambda:UntagResource"]),
    ("cloudtrail", "CreateTrail", &["cloudtrail:CreateTrail"]),
    ("cloudtrail", "GetTrail", &["cloudtrail:GetTrail"]),
    (
        "cloudtrail",
        "DescribeTrails",
        &["cloudtrail:DescribeTrails"],
    ),
    (
        "cloudtrail",
        "GetTrailStatus",
        &["cloudtrail:GetTrailStatus"],
    ),
    ("cloudtrail", "UpdateTrail", &["cloudtrail:UpdateTrail"]),
    ("cloudtrail", "DeleteTrail", &["cloudtrail:DeleteTrail"]),
    ("cloudtrail", "StartLogging", &["cloudtrail:StartLogging"]),
    ("cloudtrail", "StopLogging", &["cloudtrail:StopLogging"]),
    (
        "cloudtrail",
        "GetEventSelectors",
        &["cloudtrail:GetEventSelectors"],
    ),
    (
        "cloudtrail",
        "PutEventSelectors",
        &["cloudtrail:PutEventSelectors"],
    ),
    ("cloudtrail", "AddTags", &["cloudtrail:AddTags"]),
    ("cloudtrail", "RemoveTags", &["cloudtrail:RemoveTags"]),
    ("cloudtrail", "ListTags", &["cloudtrail:ListTags"]),
    ("sts", "GetCallerIdentity", &["sts:GetCallerIdentity"]),
    ("logs", "CreateLogGroup", &["logs:CreateLogGroup"]),
    ("logs", "DescribeLogGroups", &["logs:DescribeLogGroups"]),
    ("logs", "ListTagsForResource", &["logs:ListTagsForResource"]),
    ("logs", "TagResource", &["logs:TagResource"]),
    ("logs", "UntagResource", &["logs:UntagResource"]),
    ("logs", "PutRetentionPolicy", &["logs:PutRetentionPolicy"]),
    (
        "logs",
        "DeleteRetentionPolicy",
        &["logs:DeleteRetentionPolicy"],
    ),
    ("logs", "DeleteLogGroup", &["logs:DeleteLogGroup"]),
];

/// The IAM actions of `operation` of `service` (see [`IAM_ACTIONS`]); an operation the
/// table lacks as `?service:operation`, so that it fails the comparison by name.
fn actions_of(service: &str, operation: &str) -> Vec<String> {
    if service == "apigateway" {
        return vec![format!("apigateway:{operation}")];
    }
    match IAM_ACTIONS
        .iter()
        .find(|(s, o, _)| *s == service && *o == operation)
    {
        Some((_, _, actions)) => actions.iter().map(|a| a.to_string()).collect(),
        None => vec![format!("?{service}:{operation}")],
    }
}

/// The IAM actions of each call in the proxy's stats (`by_operation`); unmapped calls as
/// `?service:key` so that they fail the comparison by name.
fn actions_called(stats: &Json) -> BTreeSet<String> {
    stats["by_operation"]
        .as_object()
        .unwrap()
        .keys()
        .flat_map(|key| {
            let (service, rest) = key.split_once(':').unwrap();
            match operation_of(service, rest) {
                Some(operation) => actions_of(service, &operation),
                None => vec![format!("?{key}")],
            }
        })
        .collect()
}

fn actions_granted(policy: &Json) -> BTreeSet<String> {
    grants(policy).into_iter().map(|(a, _)| a).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_a_run_makes_is_in_the_generated_policy_for_its_command() {
    let ws = Workspace::new().with_stacks();
    let proxy = ws.proxy(&["--secure-transport"]);
    let root = clients_at(&proxy.url, REGION).await;
    let account = root.identity().await.unwrap().account_id.clone();
    let dir = ws.dir();

    let mut missing = Vec::new();
    let mut called_at_all = BTreeSet::new();
    for (command, args) in LIFECYCLE {
        if command == "destroy" {
            put_object(&root, &format!("producer-consumer-dev-content-{account}")).await;
        }
        let granted = actions_granted(&generated_policy(dir, &proxy.url, "dev", Some(command)));
        proxy.reset();
        let out = strata_as(dir, &Keys::root(), &proxy.url, args);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{command}: {}",
            stderr(&out)
        );
        let called = actions_called(&proxy.stats());
        for action in &called {
            if !granted.contains(action)
                && !strata::resources::iam::NEEDS_NO_PERMISSION.contains(&action.as_str())
            {
                missing.push(format!("{command}: {action}"));
            }
        }
        called_at_all.extend(called);
    }
    assert!(
        missing.is_empty(),
        "calls whose actions the declarations lack (or the test cannot map):\n{}",
        missing.join("\n")
    );
    // The run did exercise every service (the proxy recorded what it should).
    let services: BTreeSet<&str> = called_at_all
        .iter()
        .map(|a| strata::resources::iam::service_of(a))
        .collect();
    assert_eq!(
        services,
        [
            "apigateway",
            "cloudtrail",
            "iam",
            "lambda",
            "logs",
            "s3",
            "sqs",
            "sts"
        ]
        .into_iter()
        .collect(),
        "{called_at_all:?}"
    );
    assert!(
        called_at_all.contains("s3:DeleteObject"),
        "{called_at_all:?}"
    );
}

/// One HTTP/1.1 request sent to `via` (host:port) for `url`, with `url`'s own Host header
/// (what a presigned URL's signature covers): through the proxy, the call reaches the
/// emulator as if over TLS. (status, body)
fn request_via(via: &str, method: &str, url: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(via).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_holds_presigned_urls_to_the_presign_role_and_the_bucket_to_tls() {
    let strict = Strict::start();
    let url = strict.proxy.url.clone();
    let proxy_address = url.strip_prefix("http://").unwrap().to_string();
    let emulator_address = strict
        .ws
        .emulator()
        .endpoint
        .strip_prefix("http://")
        .unwrap();
    let root = strict.root().await;
    let account = root.identity().await.unwrap().account_id.clone();
    let dir = strict.ws.dir();
    let stack = "stacks/upload-form.toml";
    let out = strata_as(
        dir,
        &Keys::root(),
        &url,
        &["apply", stack, "--auto-approve"],
    );
    assert_exit(&out, 0);
    let api = crate::common::output_of(dir, stack, "api_url", &[]);
    let bucket = format!("upload-form-dev-content-{account}");
    let presign = |action: &str, key: &str| {
        let api = api.clone();
        let body = json!({ "action": action, "object_key": key }).to_string();
        let (status, signed) = request_via(
            api.strip_prefix("http://")
                .unwrap()
                .split('/')
                .next()
                .unwrap(),
            "POST",
            &format!("{api}/"),
            body.as_bytes(),
        );
        assert_eq!(status, 200, "presign {action} {key}: {signed}");
        assert!(
            signed.starts_with(&format!("http://{emulator_address}/{bucket}/{key}?")),
            "{signed}"
        );
        signed
    };

    // Signed by the function's role session, over TLS: allowed.
    let put = presign("putObject", "input/a.json");
    assert!(put.contains("X-Amz-Security-Token="), "{put}");
    assert_eq!(request_via(&proxy_address, "PUT", &put, b"hello").0, 200);
    let get = presign("getObject", "input/a.json");
    assert_eq!(
        request_via(&proxy_address, "GET", &get, b""),
        (200, "hello".to_string())
    );

    // The same kind of URL over plain HTTP: the bucket policy's TLS-only deny.
    let put = presign("putObject", "input/plain.json");
    let (status, answer) = request_via(emulator_address, "PUT", &put, b"hello");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    assert!(
        answer.contains("explicit deny in a resource-based policy"),
        "{answer}"
    );

    // The role loses s3:PutObject: the URLs it signs for uploads stop working.
    root.iam
        .put_role_policy()
        .role_name("upload-form-dev-presign")
        .policy_name("presign-objects")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": format!("arn:aws:s3:::{bucket}/input/*")}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let put = presign("putObject", "input/b.json");
    let (status, answer) = request_via(&proxy_address, "PUT", &put, b"hello");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    assert!(answer.contains("s3:PutObject"), "{answer}");
    let get = presign("getObject", "input/a.json");
    assert_eq!(
        request_via(&proxy_address, "GET", &get, b""),
        (200, "hello".to_string())
    );

    // Read back: only the object uploaded while the role allowed it.
    let listed = root
        .s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["input/a.json"]);
}

const QUEUE_A: &str = r#"
[stack]
name = "lp"

[resources.a]
type = "sqs.queue"
name = "lp-a"
"#;

const QUEUE_B: &str = r#"
[stack]
name = "lp"

[resources.b]
type = "sqs.queue"
name = "lp-b"
"#;

/// `strata policy lp.toml --for COMMAND --json`, as root.
fn policy_for(dir: &Path, url: &str, command: &str) -> Json {
    let out = strata_as(
        dir,
        &Keys::root(),
        url,
        &["policy", "lp.toml", "--for", command, "--json"],
    );
    assert_exit(&out, 0);
    serde_json::from_slice(&out.stdout).expect("policy --json is JSON")
}

/// Issue 22: the policy for destroy named the stack's objects, not the state's: it granted
/// DeleteQueue on a queue that did not exist and not on the one `plan --destroy` deletes.
/// Destroy, and the deletions of an apply, are granted on what the state records.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_and_the_deletions_of_apply_are_granted_on_the_objects_in_state() {
    let (strict, root, account) = Strict::with_root().await;
    let url = strict.proxy.url.clone();
    let dir = strict.ws.dir();
    let arn = |name: &str| format!("arn:aws:sqs:{REGION}:{account}:{name}");
    let deploy = |stack: &str| {
        std::fs::write(dir.join("lp.toml"), stack).unwrap();
        let out = strata_as(
            dir,
            &Keys::root(),
            &url,
            &["apply", "lp.toml", "--auto-approve"],
        );
        assert_exit(&out, 0);
    };
    deploy(QUEUE_A);
    // The stack now declares `b` only; the state still records `a`.
    std::fs::write(dir.join("lp.toml"), QUEUE_B).unwrap();

    let out = strata_as(
        dir,
        &Keys::root(),
        &url,
        &["plan", "lp.toml", "--destroy", "--json"],
    );
    assert_exit(&out, 0);
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_plan(&plan, &[("sqs.queue.a", "delete", &[])]);

    let policy = policy_for(dir, &url, "destroy");
    assert_eq!(
        grants(&policy),
        [("sqs:DeleteQueue".to_string(), arn("lp-a"))]
            .into_iter()
            .collect(),
        "{policy:#}"
    );
    let out = strata_as(
        dir,
        &Keys::root(),
        &url,
        &["policy", "lp.toml", "--for", "destroy"],
    );
    assert_exit(&out, 0);
    assert_eq!(
        crate::common::stdout(&out),
        format!(
            "IAM permissions to destroy stack lp (account {account}, region {REGION}; the state at .strata/lp-default.state.json records 1 object(s)):\n\
             \n\
             sqs\n  sqs:DeleteQueue\n    on {}\n\
             \n\
             `strata policy lp.toml --for destroy --json` prints the policy document.\n",
            arn("lp-a")
        )
    );
    let destroyer = user_with(&root, "destroyer", &for_the_emulator(&policy)).await;
    let out = strata_as(
        dir,
        &destroyer,
        &url,
        &["destroy", "lp.toml", "--auto-approve"],
    );
    assert_exit(&out, 0);
    assert_eq!(
        crate::for_each::queue_names(&root).await,
        Vec::<String>::new()
    );

    // Apply deletes what the stack no longer declares: `a` again, while it creates `b`.
    deploy(QUEUE_A);
    std::fs::write(dir.join("lp.toml"), QUEUE_B).unwrap();
    let policy = policy_for(dir, &url, "apply");
    let on_a: BTreeSet<String> = grants(&policy)
        .into_iter()
        .filter(|(_, resource)| *resource == arn("lp-a"))
        .map(|(action, _)| action)
        .collect();
    assert_eq!(
        on_a,
        [
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ListQueueTags"
        ]
        .map(String::from)
        .into_iter()
        .collect(),
        "{policy:#}"
    );
    let deployer = user_with(&root, "deployer", &for_the_emulator(&policy)).await;
    let out = strata_as(
        dir,
        &deployer,
        &url,
        &["apply", "lp.toml", "--auto-approve"],
    );
    assert_exit(&out, 0);
    assert_eq!(crate::for_each::queue_names(&root).await, ["lp-b"]);
}
