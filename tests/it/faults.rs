//! Injected faults: the whole producer-consumer stack applied and destroyed through
//! `scripts/aws-proxy` answering 20% of AWS calls with throttling errors (in each service's
//! own format), plain 500/503s or connection resets. Both converge, and what apply leaves
//! is what a fault-free apply leaves.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Proxy, Workspace, assert_exit, stdout};
use serde_json::Value as Json;

/// Fixed, so the faults are the same from run to run (the proxy draws per operation).
const SEED: &str = "20260807";

/// Top-level objects of the stack's types that exist on an emulator, by kind and name.
async fn inventory(clients: &strata::aws::Clients) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    all.insert(
        "buckets",
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect(),
    );
    let queues = clients.sqs.list_queues().send().await.unwrap();
    all.insert(
        "queues",
        queues
            .queue_urls()
            .iter()
            .map(|url| url.rsplit('/').next().unwrap().to_string())
            .collect(),
    );
    let roles = clients.iam.list_roles().send().await.unwrap();
    all.insert(
        "roles",
        roles
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
    );
    let functions = clients.lambda.list_functions().send().await.unwrap();
    all.insert(
        "functions",
        functions
            .functions()
            .iter()
            .filter_map(|f| f.function_name().map(str::to_string))
            .collect(),
    );
    let apis = clients.apigateway.get_rest_apis().send().await.unwrap();
    all.insert(
        "apis",
        apis.items()
            .iter()
            .filter_map(|a| a.name().map(str::to_string))
            .collect(),
    );
    let trails = clients.cloudtrail.describe_trails().send().await.unwrap();
    all.insert(
        "trails",
        trails
            .trail_list()
            .iter()
            .filter_map(|t| t.name().map(str::to_string))
            .collect(),
    );
    all
}

/// The state's resources and outputs with what differs from one deployment to the next
/// replaced by placeholders: the endpoint in URLs, the REST API's id (also inside its
/// execution ARN, URL and the invoke permission's ARN), its root resource and deployment
/// ids, the role's unique id, and the permission's statement id (a digest of that ARN).
/// Serial and lineage are left out. Everything else must be equal.
fn normalised(state: &Json, endpoint: &str) -> Json {
    let resources = state["resources"].as_object().unwrap();
    let of_type = |type_name: &str| {
        resources
            .values()
            .find(|r| r["type"] == type_name)
            .unwrap_or_else(|| panic!("no {type_name} in state"))
    };
    let api = &of_type("apigateway.rest_api")["attributes"];
    let replacements = [
        (
            of_type("lambda.permission")["attributes"]["statement_id"].clone(),
            "<statement-id>",
        ),
        (api["deployment_id"].clone(), "<deployment-id>"),
        (api["root_resource_id"].clone(), "<root-resource-id>"),
        (api["id"].clone(), "<api-id>"),
        (
            of_type("iam.role")["attributes"]["unique_id"].clone(),
            "<role-unique-id>",
        ),
        (Json::from(endpoint), "<endpoint>"),
    ];
    let replacements: Vec<(String, &str)> = replacements
        .into_iter()
        .map(|(value, placeholder)| {
            let value = value.as_str().unwrap().to_string();
            assert!(!value.is_empty(), "{placeholder} is empty");
            (value, placeholder)
        })
        .collect();
    fn walk(value: &mut Json, replacements: &[(String, &str)]) {
        match value {
            Json::String(text) => {
                for (from, to) in replacements {
                    *text = text.replace(from.as_str(), to);
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|v| walk(v, replacements)),
            Json::Object(map) => map.values_mut().for_each(|v| walk(v, replacements)),
            _ => {}
        }
    }
    let mut kept = serde_json::json!({
        "stack": state["stack"],
        "stage": state["stage"],
        "resources": state["resources"],
        "outputs": state["outputs"],
        "pending": state.get("pending").cloned().unwrap_or(Json::Null),
    });
    walk(&mut kept, &replacements);
    kept
}

fn fault_counts(stats: &Json) -> BTreeMap<String, u64> {
    stats["faults_by_kind"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_stack_converges_through_20_percent_faults_and_equals_a_fault_free_run() {
    let ws = Workspace::new().with_stacks();
    // The reference: no faults, on an emulator of its own (what exists on each is compared),
    // from the same directory (a function's code is recorded by its path from there) with a
    // state directory of its own.
    let clean = Workspace::new();
    let proxy = ws.proxy(&["--fault-rate", "0.2", "--seed", SEED]);
    let faulty_clients = ws.clients().await;
    let clean_clients = clean.clients().await;
    let stack = ws.stack("producer-consumer");
    let through_proxy = |args: &[&str]| ws.through(&proxy).run(args);

    let out = ws
        .offline(&[
            "apply",
            &stack,
            "--auto-approve",
            "--state-dir",
            "clean-state",
        ])
        .args(["--endpoint-url", &clean.emulator().endpoint])
        .output()
        .unwrap();
    assert_exit(&out, 0);

    let out = through_proxy(&["apply", &stack, "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 14 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );
    let stats = proxy.stats();
    let faults = fault_counts(&stats);
    assert_eq!(
        faults.keys().map(String::as_str).collect::<Vec<_>>(),
        ["5xx", "reset", "throttle"],
        "faults of every kind happened during apply: {stats:#}"
    );
    assert!(faults.values().all(|n| *n > 0), "{stats:#}");
    assert_eq!(
        stats["faults"].as_u64().unwrap(),
        faults.values().sum::<u64>()
    );

    // Converged: a plan through the same faults finds nothing to do.
    proxy.reset();
    let out = through_proxy(&["plan", &stack, "--detailed-exitcode"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("No changes. The stack matches what is deployed."),
        "{}",
        stdout(&out)
    );
    assert!(proxy.stats()["faults"].as_u64().unwrap() > 0);

    // What exists and what state records equal the fault-free run's.
    assert_eq!(
        inventory(&faulty_clients).await,
        inventory(&clean_clients).await
    );
    let state = ws.state("producer-consumer", "dev");
    let clean_state: Json = serde_json::from_str(
        &std::fs::read_to_string(
            ws.dir()
                .join("clean-state/producer-consumer-dev.state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 14);
    assert_eq!(
        normalised(&state, &proxy.url),
        normalised(&clean_state, &clean.emulator().endpoint)
    );

    // Destroy converges through faults too, and leaves nothing.
    proxy.reset();
    let out = through_proxy(&["destroy", &stack, "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("Destroy complete! Resources: 0 added, 0 changed, 14 destroyed."),
        "{}",
        stdout(&out)
    );
    assert!(proxy.stats()["faults"].as_u64().unwrap() > 0);
    let nothing: BTreeMap<&str, BTreeSet<String>> =
        ["apis", "buckets", "functions", "queues", "roles", "trails"]
            .into_iter()
            .map(|kind| (kind, BTreeSet::new()))
            .collect();
    assert_eq!(inventory(&faulty_clients).await, nothing);
    let state = ws.state("producer-consumer", "dev");
    assert_eq!(state["resources"], serde_json::json!({}));
    assert_eq!(state["outputs"], serde_json::json!({}));
}

/// Each kind of fault, on every service strata calls, reaches strata's SDK clients as an
/// error the SDK itself retries (all 8 attempts are spent) and strata classifies as
/// transient: the throttling answers are in formats the SDK recognises as throttling.
#[tokio::test(flavor = "multi_thread")]
async fn every_fault_kind_on_every_service_is_retried_by_the_sdk_and_transient() {
    use strata::aws::{AwsError, ErrorKind, sdk};
    let ws = Workspace::new();

    async fn call_each_service(proxy: &Proxy) -> Vec<(&'static str, &'static str, AwsError)> {
        let aws = crate::common::clients_at(&proxy.url, crate::common::TEST_REGION).await;
        let (s3, sqs, iam, sts, lambda, apigateway, cloudtrail) = tokio::join!(
            aws.s3.list_buckets().send(),
            aws.sqs.list_queues().send(),
            aws.iam.list_roles().send(),
            aws.sts.get_caller_identity().send(),
            aws.lambda.list_functions().send(),
            aws.apigateway.get_rest_apis().send(),
            aws.cloudtrail.describe_trails().send(),
        );
        vec![
            (
                "s3:ListBuckets",
                "s3",
                s3.map(|_| ()).map_err(sdk("ListBuckets")).unwrap_err(),
            ),
            (
                "sqs:ListQueues",
                "sqs",
                sqs.map(|_| ()).map_err(sdk("ListQueues")).unwrap_err(),
            ),
            (
                "iam:ListRoles",
                "iam",
                iam.map(|_| ()).map_err(sdk("ListRoles")).unwrap_err(),
            ),
            (
                "sts:GetCallerIdentity",
                "sts",
                sts.map(|_| ())
                    .map_err(sdk("GetCallerIdentity"))
                    .unwrap_err(),
            ),
            (
                "lambda:GET /2015-03-31/functions",
                "lambda",
                lambda
                    .map(|_| ())
                    .map_err(sdk("ListFunctions"))
                    .unwrap_err(),
            ),
            (
                "apigateway:GET /restapis",
                "apigateway",
                apigateway
                    .map(|_| ())
                    .map_err(sdk("GetRestApis"))
                    .unwrap_err(),
            ),
            (
                "cloudtrail:DescribeTrails",
                "cloudtrail",
                cloudtrail
                    .map(|_| ())
                    .map_err(sdk("DescribeTrails"))
                    .unwrap_err(),
            ),
        ]
    }

    // One proxy per kind, all at once (each call spends its backoff: about 3 s).
    let kinds = ["throttle", "5xx", "reset"];
    let proxies: Vec<Proxy> = kinds
        .iter()
        .map(|kind| ws.proxy(&["--fault-rate", "1", "--seed", SEED, "--fault-kinds", kind]))
        .collect();
    let all = futures::future::join_all(proxies.iter().map(call_each_service)).await;
    for ((kind, proxy), results) in kinds.into_iter().zip(&proxies).zip(all) {
        let stats = proxy.stats();
        for (operation, service, err) in &results {
            let seen = (err.kind, err.status, err.code.as_deref());
            match kind {
                "throttle" => {
                    let expected = match *service {
                        "s3" => (503, "SlowDown"),
                        "lambda" | "apigateway" => (429, "TooManyRequestsException"),
                        "cloudtrail" => (400, "ThrottlingException"),
                        _ => (400, "Throttling"),
                    };
                    assert_eq!(
                        seen,
                        (ErrorKind::Transient, Some(expected.0), Some(expected.1)),
                        "{operation}: {err}"
                    );
                }
                "5xx" => assert!(
                    err.kind == ErrorKind::Transient && matches!(err.status, Some(500 | 503)),
                    "{operation}: {err:?}"
                ),
                _ => assert!(
                    err.kind == ErrorKind::Transient
                        && err.status.is_none()
                        && err.message.contains("cannot reach the endpoint"),
                    "{operation}: {err:?}"
                ),
            }
            assert_eq!(
                stats["by_operation"][*operation], 8,
                "{kind} on {operation}: the SDK spends all 8 attempts: {stats:#}"
            );
        }
        assert_eq!(stats["total"], 7 * 8);
        assert_eq!(stats["faults_by_kind"][kind], 7 * 8, "{stats:#}");
    }
}

/// The proxy itself: one seed faults the same calls every time, and a faulted call never
/// reaches the emulator.
#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_faults_the_same_calls_for_a_seed_and_never_forwards_them() {
    let ws = Workspace::new();

    /// Creates queues PREFIX-0..40 one after the other through a fresh proxy, without SDK
    /// retries; the outcome of each call.
    async fn create_queues(ws: &Workspace, prefix: &str) -> Vec<String> {
        let proxy = ws.proxy(&["--fault-rate", "0.5", "--seed", SEED]);
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&proxy.url)
            .region(aws_config::Region::new(crate::common::TEST_REGION))
            .credentials_provider(crate::common::test_credentials())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let mut outcomes = Vec::new();
        for i in 0..40 {
            let result = sqs
                .create_queue()
                .queue_name(format!("{prefix}-{i}"))
                .send()
                .await
                .map_err(strata::aws::sdk("CreateQueue"));
            outcomes.push(match result {
                Ok(_) => "created".to_string(),
                Err(e) => match e.status {
                    Some(status) => format!("{status} {}", e.code.unwrap_or_default()),
                    None => "no answer".to_string(),
                },
            });
        }
        let stats = proxy.stats();
        let faulted = outcomes.iter().filter(|o| *o != "created").count();
        assert_eq!(stats["faults"], faulted as u64, "{stats:#}");
        assert_eq!(stats["total"], 40);
        outcomes
    }

    let first = create_queues(&ws, "first").await;
    let second = create_queues(&ws, "second").await;
    assert_eq!(first, second, "the same seed faults the same calls");
    let kinds: BTreeSet<&str> = first.iter().map(String::as_str).collect();
    assert!(
        kinds.contains("created")
            && kinds.contains("400 Throttling")
            && kinds.contains("no answer")
            && (kinds.contains("500 ") || kinds.contains("503 ")),
        "{kinds:?}"
    );

    // Exactly the queues whose create was answered by the emulator exist.
    let clients = ws.clients().await;
    let existing = crate::common::queue_names(&clients).await;
    let created: BTreeSet<String> = ["first", "second"]
        .iter()
        .flat_map(|prefix| {
            first
                .iter()
                .enumerate()
                .filter(|(_, o)| *o == "created")
                .map(move |(i, _)| format!("{prefix}-{i}"))
        })
        .collect();
    assert_eq!(existing, created);
}
