//! The adaptive rate limiter (src/aws/limit.rs) against a service quota: a plan of a few
//! hundred queues through `scripts/aws-proxy --realism rates` with a low SQS rate finishes
//! without a throttling failure, and the limiter keeps the throttled answers to a small
//! share of the calls instead of retrying into the quota.

use crate::common::{Workspace, assert_exit, assert_no_changes, stdout};

const QUEUES: usize = 200;
/// SQS calls per second the proxy lets through (burst 10); beyond, SQS's own throttling error.
const SQS_RATE: &str = "sqs=40:10";

fn queues_stack(n: usize) -> String {
    let mut toml = String::from("[stack]\nname = \"ratelimit\"\n");
    for i in 0..n {
        toml.push_str(&format!(
            "\n[resources.q{i}]\ntype = \"sqs.queue\"\nname = \"${{stack.name}}-q{i}\"\nvisibility_timeout_seconds = 60\n"
        ));
    }
    toml
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_of_200_queues_under_a_low_sqs_quota_is_paced_not_failed() {
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = dir.join("queues.toml");
    std::fs::write(&stack, queues_stack(QUEUES)).unwrap();
    let stack = stack.display().to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    assert_no_changes(&ws.plan_json(&stack, &[]));

    let proxy = ws.proxy(&["--realism", "rates", "--rate", SQS_RATE]);
    let start = std::time::Instant::now();
    let out = ws.through(&proxy).run(&["plan", &stack, "--json"]);
    let took = start.elapsed();
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_no_changes(&plan);
    assert_eq!(plan["resources"].as_array().unwrap().len(), QUEUES);

    let stats = proxy.stats();
    let sqs_calls = stats["by_service"]["sqs"].as_u64().unwrap();
    let throttled = stats["faults"].as_u64().unwrap();
    eprintln!("{sqs_calls} SQS calls, {throttled} throttled, in {took:?}");
    assert!(sqs_calls >= QUEUES as u64, "{stats}");
    assert!(
        throttled * 10 < sqs_calls,
        "{throttled} throttled answers for {sqs_calls} SQS calls: {stats}"
    );
}

/// Issue 22: the limiter was one per service and region, so a DeleteRestApi answered 429
/// (API Gateway's fixed quota of one per 30 s, with its Retry-After) held every API Gateway
/// call of the process until the Retry-After had passed. Through the proxy's quotas at a
/// tenth of AWS's windows (3 s between two DeleteRestApi), a read sent while the second
/// delete waits out its quota reaches AWS before that delete's next attempt.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_delete_rest_api_does_not_hold_back_api_gateway_reads() {
    use std::time::{Duration, Instant};
    use strata::aws::retry::{SDK_MAX_BACKOFF, within_quota};
    let ws = Workspace::new();
    // A region of its own: limiters are per process and region.
    let region = "ap-southeast-4";
    let direct = crate::common::clients_at(&ws.emulator().endpoint, region).await;
    let mut ids = Vec::new();
    for name in ["quota-a", "quota-b", "quota-c"] {
        let api = direct.apigateway.create_rest_api().name(name).send().await;
        ids.push(api.unwrap().id.unwrap());
    }
    let proxy = ws.proxy(&["--realism", "quotas", "--time-scale", "0.1"]);
    let aws = std::sync::Arc::new(crate::common::clients_at(&proxy.url, region).await);
    let delete = |id: String| {
        let aws = aws.clone();
        async move {
            within_quota("DeleteRestApi", || {
                aws.apigateway.delete_rest_api().rest_api_id(&id).send()
            })
            .await
        }
    };
    delete(ids[0].clone()).await.unwrap();
    let second = tokio::spawn(delete(ids[1].clone()));
    // The quota's 429 to the second delete; then the SDK's next attempt is back in line
    // (its backoff is at most SDK_MAX_BACKOFF), well within the 3 s the quota asks for.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.stats()["faults_by_kind"]["quota"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "no quota answer: {}",
            proxy.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(SDK_MAX_BACKOFF + Duration::from_millis(500)).await;
    let read = aws
        .apigateway
        .get_rest_api()
        .rest_api_id(&ids[2])
        .send()
        .await;
    assert_eq!(read.unwrap().name(), Some("quota-c"));
    second.await.unwrap().unwrap();

    // The calls in the order they reached the proxy.
    let stats = proxy.stats();
    let calls: Vec<(String, String)> = stats["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap(), c[1].as_str().unwrap()))
        .filter(|(key, _)| key.starts_with("apigateway:"))
        .map(|(key, status)| (key.to_string(), status.to_string()))
        .collect();
    let at = |key: &str, status: &str| -> Vec<usize> {
        let at = calls.iter().enumerate();
        at.filter(|(_, c)| c.0 == key && c.1 == status)
            .map(|(i, _)| i)
            .collect()
    };
    let deleted = at("apigateway:DELETE /restapis/{id}", "202");
    let refused = at("apigateway:DELETE /restapis/{id}", "429");
    let read = at("apigateway:GET /restapis/{id}", "200");
    assert_eq!(
        (deleted.len(), refused.len(), read.len()),
        (2, 1, 1),
        "{calls:?}"
    );
    assert!(
        refused[0] < read[0] && read[0] < deleted[1],
        "the read waited for the throttled delete: {calls:?}"
    );
}
