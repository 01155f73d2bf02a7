//! The adaptive rate limiter (src/aws/limit.rs) against a service quota: a plan of a few
//! hundred queues through `scripts/aws-proxy --realism rates` with a low SQS rate finishes
//! without a throttling failure, and the limiter keeps the throttled answers to a small
//! share of the calls instead of retrying into the quota.

use crate::common::{
    Emulator, Proxy, assert_exit, plan_json, planned_changes, run, stdout, strata,
};

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
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = dir.join("queues.toml");
    std::fs::write(&stack, queues_stack(QUEUES)).unwrap();
    let stack = stack.display().to_string();
    assert_exit(
        &run(dir, &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(planned_changes(&plan_json(dir, &emulator, &stack, &[])), []);

    let proxy = Proxy::start(
        &emulator.endpoint,
        &["--realism", "rates", "--rate", SQS_RATE],
    );
    let start = std::time::Instant::now();
    let out = strata(
        dir,
        &["plan", &stack, "--json", "--endpoint-url", &proxy.url],
    );
    let took = start.elapsed();
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(planned_changes(&plan), []);
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
