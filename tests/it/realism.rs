//! AWS as it really behaves, through `scripts/aws-proxy --realism`: fixed API Gateway
//! quotas answered 429 with Retry-After, IAM and policy propagation windows, bucket and
//! queue names blocked after a delete, and replies lost after AWS did the work. strata
//! converges through all of them.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Proxy, Workspace, assert_exit};

fn faulted_operations(proxy: &Proxy) -> BTreeSet<String> {
    proxy.stats()["faults_by_operation"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Every top-level object on the emulator, counted by kind and name: a duplicate (a second
/// REST API of one name) shows as a count of 2.
async fn objects_by_name(clients: &strata::aws::Clients) -> BTreeMap<String, usize> {
    let mut all: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |kind: &str, name: &str| *all.entry(format!("{kind} {name}")).or_default() += 1;
    for b in clients.s3.list_buckets().send().await.unwrap().buckets() {
        add("bucket", b.name().unwrap());
    }
    for url in clients.sqs.list_queues().send().await.unwrap().queue_urls() {
        add("queue", url.rsplit('/').next().unwrap());
    }
    for r in clients.iam.list_roles().send().await.unwrap().roles() {
        add("role", r.role_name());
    }
    for f in clients
        .lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
    {
        add("function", f.function_name().unwrap());
    }
    for a in clients
        .apigateway
        .get_rest_apis()
        .send()
        .await
        .unwrap()
        .items()
    {
        add("api", a.name().unwrap());
    }
    for t in clients
        .cloudtrail
        .describe_trails()
        .send()
        .await
        .unwrap()
        .trail_list()
    {
        add("trail", t.name().unwrap());
    }
    all
}

/// Issue 13's run, with every behaviour on (and a tenth of lost replies): the whole stack
/// in two stages, planned empty, both destroyed back to back, applied again under the same
/// names, destroyed. `STRATA_REALISM_SEED` picks the lost replies.
#[tokio::test(flavor = "multi_thread")]
async fn two_stages_apply_destroy_and_apply_again_through_every_aws_behaviour() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let seed = std::env::var("STRATA_REALISM_SEED").unwrap_or_else(|_| "13".to_string());
    // A fifth of AWS's windows: 1.6 s of role propagation, 1 s for policies, 6 s between
    // two DeleteRestApi, 12 s of queue-name blocking.
    let proxy = ws.proxy(&[
        "--realism",
        "--time-scale",
        "0.2",
        "--fault-rate",
        "0.1",
        "--fault-kinds",
        "lost",
        "--seed",
        &seed,
    ]);
    let _dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let through_proxy = |args: &[&str]| ws.through(&proxy).run(args);
    let stages = ["stage=dev", "stage=prod"];
    let each_stage = |command: &[&str]| {
        for stage in stages {
            let mut args = command.to_vec();
            args.extend(["--var", stage]);
            let out = through_proxy(&args);
            assert_exit(&out, 0);
        }
    };

    for round in ["first", "again"] {
        each_stage(&["apply", &stack, "--auto-approve"]);
        let faulted = faulted_operations(&proxy);
        let expected: &[&str] = if round == "first" {
            &[
                "lambda:POST /2015-03-31/functions",
                "s3:PUT /{bucket}?notification",
                "cloudtrail:CreateTrail",
            ]
        } else {
            // The queue names are blocked for 12 s after their delete. (The buckets' 2 s
            // may be over by then; lost_replies.rs waits out OperationAborted on its own.)
            &["sqs:CreateQueue"]
        };
        for operation in expected {
            assert!(
                faulted.contains(*operation),
                "{round}: {operation} met AWS's behaviour: {faulted:?}"
            );
        }
        each_stage(&["plan", &stack, "--detailed-exitcode"]);
        // Exactly one of each object of both stages, counted by name.
        let objects = objects_by_name(&clients).await;
        assert_eq!(objects.len(), 16, "{round}: {objects:#?}");
        assert!(objects.values().all(|n| *n == 1), "{round}: {objects:#?}");

        // Both stages destroyed back to back: the second DeleteRestApi meets the quota.
        proxy.reset();
        each_stage(&["destroy", &stack, "--auto-approve"]);
        assert_eq!(objects_by_name(&clients).await, BTreeMap::new(), "{round}");
        let faulted = faulted_operations(&proxy);
        assert!(
            faulted.contains("apigateway:DELETE /restapis/{id}"),
            "{round}: the second DeleteRestApi waited for its quota: {faulted:?}"
        );
        proxy.reset();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stages_destroyed_back_to_back_wait_out_the_delete_rest_api_quota() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    // DeleteRestApi: 1 per 30 s per account; at half scale the second delete must wait
    // 15 s, far past the SDK's own retry budget: only Retry-After gets it through.
    let proxy = ws.proxy(&["--realism", "quotas", "--time-scale", "0.5"]);
    let _dir = ws.dir();
    let stack = ws.stack("upload-form");
    let through_proxy = |args: &[&str]| ws.through(&proxy).run(args);
    for stage in ["dev", "prod"] {
        let var = format!("stage={stage}");
        assert_exit(
            &through_proxy(&["apply", &stack, "--auto-approve", "--var", &var]),
            0,
        );
    }
    for stage in ["dev", "prod"] {
        let var = format!("stage={stage}");
        assert_exit(
            &through_proxy(&["destroy", &stack, "--auto-approve", "--var", &var]),
            0,
        );
    }
    // The second DeleteRestApi was refused by the quota (429), and still succeeded: the
    // proxy lets it through only once the quota's window has passed, so it waited.
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
    let ws = Workspace::new();
    // For 3 s after SetQueueAttributes (a twentieth of AWS's minute), every other read of
    // the queue shows its old attributes.
    let proxy = ws.proxy(&["--realism", "attribute-propagation", "--time-scale", "0.05"]);
    let dir = ws.dir();
    let stack = |visibility: u32| {
        std::fs::write(
            dir.join("queue.toml"),
            format!(
                "[stack]\nname = \"settling\"\n\n[resources.queue]\ntype = \"sqs.queue\"\nname = \"settling-jobs\"\nvisibility_timeout_seconds = {visibility}\n"
            ),
        )
        .unwrap();
    };
    let through_proxy = |args: &[&str]| ws.through(&proxy).run(args);
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

/// A force_destroy bucket emptied as AWS answers: the first DeleteObjects deletes only
/// every other object and reports the rest as per-key SlowDown errors inside its 200
/// answer, and an object lands (a log delivery) after the last listing, so the first
/// DeleteBucket finds the bucket not empty. The destroy deletes the keys that failed,
/// empties again and deletes the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn force_destroy_retries_per_key_slow_downs_and_an_object_that_landed_late() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let proxy = ws.proxy(&["--realism", "delete-objects-errors,late-object"]);
    let dir = ws.dir();
    std::fs::write(
        dir.join("logs.toml"),
        "[stack]\nname = \"emptying\"\n\n[resources.logs]\ntype = \"s3.bucket\"\nname = \"emptying-logs\"\nversioning = true\nforce_destroy = true\n",
    )
    .unwrap();
    let through_proxy = |args: &[&str]| ws.through(&proxy).run(args);
    assert_exit(&through_proxy(&["apply", "logs.toml", "--auto-approve"]), 0);
    // Six keys, two versions each: twelve versions to delete.
    for i in 0..6 {
        for body in ["one", "two"] {
            clients
                .s3
                .put_object()
                .bucket("emptying-logs")
                .key(format!("logs/{i}.json"))
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
    }

    let out = through_proxy(&["destroy", "logs.toml", "--auto-approve"]);
    assert_exit(&out, 0);

    let stats = proxy.stats();
    let calls = |key: &str| stats["by_operation"][key].as_u64().unwrap_or(0);
    assert_eq!(
        stats["faults_by_operation"]["s3:POST /{bucket}?delete"], 1,
        "the first DeleteObjects answered per-key SlowDowns: {stats:#}"
    );
    // First pass: one DeleteObjects answered with SlowDowns, one more for exactly those
    // keys (a destroy that took the 200 for success would go straight to DeleteBucket).
    // Second pass, after BucketNotEmpty: one for the late object.
    assert_eq!(
        calls("s3:POST /{bucket}?delete"),
        3,
        "the SlowDown keys were deleted again, then the late object: {stats:#}"
    );
    assert_eq!(
        calls("s3:DELETE /{bucket}"),
        2,
        "the first DeleteBucket found the late object, the second deleted the bucket: {stats:#}"
    );
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    assert!(
        buckets
            .buckets()
            .iter()
            .all(|b| b.name() != Some("emptying-logs")),
        "the bucket is gone"
    );
    let state = crate::common::read_state(dir, "emptying", "default");
    assert_eq!(state["resources"], serde_json::json!({}));
}
