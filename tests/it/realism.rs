//! AWS as it really behaves, through `scripts/aws-proxy --realism`: fixed API Gateway
//! quotas answered 429 with Retry-After, IAM and policy propagation windows, bucket and
//! queue names blocked after a delete, and replies lost after AWS did the work. strata
//! converges through all of them.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Emulator, Proxy, assert_exit, copy_stacks, live_ids, stdout, strata};

fn faulted_operations(proxy: &Proxy) -> BTreeSet<String> {
    proxy.stats()["faults_by_operation"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_stack_applies_destroys_and_applies_again_through_aws_behaviour() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    // A tenth of AWS's windows: 0.8 s of role propagation, 6 s of queue-name blocking.
    let proxy = Proxy::start(&emulator.endpoint, &["--realism", "--time-scale", "0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = copy_stacks(dir)
        .join("producer-consumer.toml")
        .display()
        .to_string();
    let through_proxy = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &proxy.url]);
        strata(dir, &full)
    };

    assert_exit(&through_proxy(&["apply", &stack, "--auto-approve"]), 0);
    let first = faulted_operations(&proxy);
    for operation in [
        "lambda:POST /2015-03-31/functions",
        "s3:PUT /{bucket}?notification",
        "cloudtrail:CreateTrail",
    ] {
        assert!(
            first.contains(operation),
            "{operation} met its propagation window: {first:?}"
        );
    }
    let out = through_proxy(&["plan", &stack, "--detailed-exitcode"]);
    assert_exit(&out, 0);

    // Destroy, then create the same names again at once: S3 and SQS refuse the names for
    // a while after a delete.
    assert_exit(&through_proxy(&["destroy", &stack, "--auto-approve"]), 0);
    proxy.reset();
    let out = through_proxy(&["apply", &stack, "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 13 added"),
        "{}",
        stdout(&out)
    );
    let again = faulted_operations(&proxy);
    for operation in ["s3:PUT /{bucket}", "sqs:CreateQueue"] {
        assert!(
            again.contains(operation),
            "{operation} met the name-reuse window: {again:?}"
        );
    }
    assert_exit(&through_proxy(&["plan", &stack, "--detailed-exitcode"]), 0);
    assert_eq!(live_ids(&clients).await.len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stages_destroyed_back_to_back_wait_out_the_delete_rest_api_quota() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    // DeleteRestApi: 1 per 30 s per account; at half scale the second delete must wait
    // 15 s, far past the SDK's own retry budget: only Retry-After gets it through.
    let proxy = Proxy::start(
        &emulator.endpoint,
        &["--realism", "quotas", "--time-scale", "0.5"],
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = copy_stacks(dir)
        .join("upload-form.toml")
        .display()
        .to_string();
    let through_proxy = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &proxy.url]);
        strata(dir, &full)
    };
    for stage in ["dev", "prod"] {
        let var = format!("stage={stage}");
        assert_exit(
            &through_proxy(&["apply", &stack, "--auto-approve", "--var", &var]),
            0,
        );
    }
    let start = std::time::Instant::now();
    for stage in ["dev", "prod"] {
        let var = format!("stage={stage}");
        assert_exit(
            &through_proxy(&["destroy", &stack, "--auto-approve", "--var", &var]),
            0,
        );
    }
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(10),
        "the second DeleteRestApi waited for its quota"
    );
    let faults: BTreeMap<String, u64> = proxy.stats()["faults_by_operation"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert!(
        faults.contains_key("apigateway:DELETE /restapis/{id}"),
        "{faults:?}"
    );
    let apis = clients.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_change_is_read_back_until_it_holds_and_the_next_plan_shows_no_phantom_change() {
    let emulator = Emulator::start();
    // For 3 s after SetQueueAttributes (a twentieth of AWS's minute), every other read of
    // the queue shows its old attributes.
    let proxy = Proxy::start(
        &emulator.endpoint,
        &["--realism", "attribute-propagation", "--time-scale", "0.05"],
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = |visibility: u32| {
        std::fs::write(
            dir.join("queue.toml"),
            format!(
                "[stack]\nname = \"settling\"\n\n[resources.queue]\ntype = \"sqs.queue\"\nname = \"settling-jobs\"\nvisibility_timeout_seconds = {visibility}\n"
            ),
        )
        .unwrap();
    };
    let through_proxy = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &proxy.url]);
        strata(dir, &full)
    };
    stack(60);
    assert_exit(
        &through_proxy(&["apply", "queue.toml", "--auto-approve"]),
        0,
    );
    stack(90);
    assert_exit(
        &through_proxy(&["apply", "queue.toml", "--auto-approve"]),
        0,
    );
    // Straight after: the plan reads the queue as it really is now.
    let out = through_proxy(&["plan", "queue.toml", "--detailed-exitcode"]);
    assert_exit(&out, 0);
    let stats = proxy.stats();
    assert!(
        stats["faults_by_operation"]["sqs:GetQueueAttributes"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "reads of old values happened: {stats:#}"
    );
    let state = crate::common::read_state(dir, "settling", "default");
    assert_eq!(
        state["resources"]["queue"]["attributes"]["visibility_timeout_seconds"],
        90
    );
}
