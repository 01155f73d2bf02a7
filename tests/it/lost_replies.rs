//! AWS did it, but the reply was lost: the whole producer-consumer stack applied through
//! `scripts/aws-proxy --fault-kinds lost` on every name-keyed create (the request is carried
//! out, then the connection is reset, and the SDK retries it), a bucket name re-created a
//! moment after its bucket was deleted (`--realism bucket-name-reuse`), and a force_destroy
//! bucket that receives an object between its emptying and DeleteBucket.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::config::{ConfigBag, Intercept};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::operation::delete_bucket::DeleteBucketInput;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use serde_json::Value as Json;
use strata::resources::Resource;
use strata::resources::s3_bucket::S3Bucket;
use strata::value::{Attrs, Value};

use crate::common::{
    Workspace, assert_exit, assert_no_changes, live_ids, read_state, recorded_ids, without_endpoint,
};

/// The name-keyed creates of the stack, as the proxy names them.
const CREATES: [&str; 6] = [
    "iam:CreateRole",
    "lambda:POST /2015-03-31/functions",
    "cloudtrail:CreateTrail",
    "s3:PUT /{bucket}",
    "sqs:CreateQueue",
    "lambda:POST /2015-03-31/functions/{id}/policy",
];

/// With rate 0.5, the first call of each of [`CREATES`] draws a lost reply under this seed
/// (and none of them loses four attempts in a row): checked by the proxy's stats below.
/// `STRATA_LOST_SEED` picks another (172, 213 and 473 also lose each create's first reply).
const SEED: &str = "72";

/// Under this seed, the first CreateRestApi and the first CreateResource lose their reply
/// (checked below).
const API_SEED: &str = "5";

fn seed() -> String {
    std::env::var("STRATA_LOST_SEED").unwrap_or_else(|_| SEED.to_string())
}

/// Before the fix, the SDK's retry of a create whose reply was lost answered "already
/// exists" and strata refused it as a takeover of someone else's object: the apply failed
/// on its own object.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_reply_was_lost_is_taken_as_ours_not_refused_as_a_takeover() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let operations = CREATES.join(",");
    let seed = seed();
    let proxy = ws.proxy(&[
        "--fault-rate",
        "0.5",
        "--seed",
        &seed,
        "--fault-kinds",
        "lost",
        "--fault-operations",
        &operations,
    ]);

    assert_exit(
        &ws.through(&proxy).run(&["apply", &stack, "--auto-approve"]),
        0,
    );
    let stats = proxy.stats();
    for op in CREATES {
        let lost = stats["faults_by_operation"][op].as_u64().unwrap_or(0);
        assert!(
            lost >= 1,
            "`{op}` lost no reply under seed {seed}: {}",
            stats["faults_by_operation"]
        );
    }
    assert_eq!(
        stats["faults_by_kind"]["lost"].as_u64(),
        stats["faults"].as_u64()
    );

    let plan = ws.through(&proxy).run(&["plan", &stack, "--json"]);
    assert_exit(&plan, 0);
    let plan: Json = serde_json::from_slice(&plan.stdout).unwrap();
    assert_no_changes(&plan);

    let state = read_state(dir, "producer-consumer", "dev");
    assert_eq!(state["resources"].as_object().unwrap().len(), 14);
    assert_eq!(
        state["pending"].as_object().map(|p| p.len()).unwrap_or(0),
        0,
        "{state}"
    );
    assert_eq!(
        without_endpoint(live_ids(&clients).await),
        without_endpoint(recorded_ids(&state)),
        "every object on the emulator is in state, and only those"
    );
    // Exactly one statement in the function's policy: the permission's.
    let function = state["resources"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["type"] == "lambda.function")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = clients
        .lambda
        .get_policy()
        .function_name(&function)
        .send()
        .await
        .unwrap();
    let policy: Json = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1, "{policy}");

    assert_exit(
        &ws.through(&proxy)
            .run(&["destroy", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(live_ids(&clients).await, BTreeSet::new());
    let state = read_state(dir, "producer-consumer", "dev");
    assert_eq!(state["resources"], serde_json::json!({}));
}

/// Before the fix, CreateBucket's OperationAborted for a name deleted a moment ago ended
/// the apply.
#[tokio::test(flavor = "multi_thread")]
async fn create_bucket_waits_out_operation_aborted_for_a_name_just_deleted() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let bucket = "lost-replies-reused-name";
    std::fs::write(
        dir.join("stack.toml"),
        format!(
            r#"
[stack]
name = "reuse"

[variables.stage]
default = "dev"

[resources.content]
type = "s3.bucket"
name = "{bucket}"
force_destroy = true
"#
        ),
    )
    .unwrap();
    // The name is blocked for 3 s after DeleteBucket.
    let proxy = ws.proxy(&["--realism", "bucket-name-reuse", "--time-scale", "0.3"]);
    let apply = ["apply", "stack.toml", "--auto-approve"];
    assert_exit(&ws.through(&proxy).run(&apply), 0);
    assert_exit(
        &ws.through(&proxy)
            .run(&["destroy", "stack.toml", "--auto-approve"]),
        0,
    );
    assert_exit(&ws.through(&proxy).run(&apply), 0);

    let stats = proxy.stats();
    let aborted = stats["faults_by_operation"]["s3:PUT /{bucket}"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        aborted >= 1,
        "the second CreateBucket met OperationAborted: {stats}"
    );
    clients
        .s3
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let state = read_state(dir, "reuse", "dev");
    assert_eq!(state["resources"]["content"]["id"], bucket, "{state}");
}

/// Puts one object into the bucket right before the first DeleteBucket is sent: an upload
/// (or a log delivery) landing between the last listing and DeleteBucket.
#[derive(Debug)]
struct UploadBeforeDeleteBucket {
    s3: aws_sdk_s3::Client,
    done: Arc<AtomicBool>,
}

impl Intercept for UploadBeforeDeleteBucket {
    fn name(&self) -> &'static str {
        "UploadBeforeDeleteBucket"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input().downcast_ref::<DeleteBucketInput>() else {
            return Ok(());
        };
        if self.done.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let bucket = input.bucket().unwrap().to_string();
        let s3 = self.s3.clone();
        // The hook is synchronous: the upload runs on a runtime of its own, to completion.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                s3.put_object()
                    .bucket(bucket)
                    .key("late/arrival.txt")
                    .body(b"written after the listing".to_vec().into())
                    .send()
                    .await
                    .unwrap();
            });
        })
        .join()
        .unwrap();
        Ok(())
    }
}

/// Before the fix, force_destroy emptied the bucket once: an object landing before
/// DeleteBucket failed the destroy with BucketNotEmpty and a message asking for
/// force_destroy, which was set.
#[tokio::test(flavor = "multi_thread")]
async fn force_destroy_empties_again_when_an_object_lands_before_delete_bucket() {
    let ws = Workspace::new();
    let mut clients = ws.clients().await;
    let bucket = "lost-replies-busy-bucket";
    let s3 = clients.s3.clone();
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    for key in ["a.txt", "b/c.txt"] {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let config = s3
        .config()
        .to_builder()
        .interceptor(UploadBeforeDeleteBucket {
            s3: s3.clone(),
            done: done.clone(),
        })
        .build();
    clients.s3 = aws_sdk_s3::Client::from_conf(config);

    let mut prior = Attrs::new();
    prior.insert("name".into(), Value::Str(bucket.into()));
    prior.insert("force_destroy".into(), Value::Bool(true));
    S3Bucket.delete(&clients, bucket, &prior).await.unwrap();

    assert!(done.load(Ordering::SeqCst), "the late object was written");
    let head = s3.head_bucket().bucket(bucket).send().await;
    assert_eq!(
        head.unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(404),
        "the bucket is gone"
    );
}

/// Without force_destroy, a bucket with an object is not emptied, and the message says how
/// to have it emptied (unchanged by the force_destroy loop).
#[tokio::test(flavor = "multi_thread")]
async fn without_force_destroy_a_bucket_with_objects_is_kept_and_the_message_says_so() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let bucket = "lost-replies-kept-bucket";
    let s3 = &clients.s3;
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("keep.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let mut prior = Attrs::new();
    prior.insert("name".into(), Value::Str(bucket.into()));
    let err = S3Bucket.delete(&clients, bucket, &prior).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("BucketNotEmpty"));
    assert!(
        err.message.contains(
            "strata does not delete objects unless the stack sets `force_destroy = true`"
        ),
        "{}",
        err.message
    );
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
}

/// Lost replies on API Gateway's writes, which are not keyed by name: CreateRestApi (a
/// retry would make a second API), CreateResource, PutMethod, CreateStage and
/// CreateDeployment. No second REST API, nothing unrecorded, and destroy leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn lost_replies_on_api_gateway_writes_never_leave_a_second_api() {
    let ws = Workspace::new().with_stacks();
    let seed = std::env::var("STRATA_LOST_SEED").unwrap_or_else(|_| API_SEED.to_string());
    let writes = [
        "apigateway:POST /restapis",
        "apigateway:POST /restapis/{id}/resources/{id}",
        "apigateway:PUT /restapis/{id}/resources/{id}/methods/{id}",
        "apigateway:POST /restapis/{id}/stages",
        "apigateway:POST /restapis/{id}/deployments",
    ]
    .join(",");
    let proxy = ws.proxy(&[
        "--fault-rate",
        "0.5",
        "--seed",
        &seed,
        "--fault-kinds",
        "lost",
        "--fault-operations",
        &writes,
    ]);
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    assert_exit(
        &ws.through(&proxy).run(&["apply", &stack, "--auto-approve"]),
        0,
    );
    let stats = proxy.stats();
    let lost = &stats["faults_by_operation"];
    for operation in [
        "apigateway:POST /restapis",
        "apigateway:POST /restapis/{id}/resources/{id}",
    ] {
        assert!(lost[operation].as_u64().is_some_and(|n| n > 0), "{stats:#}");
    }
    let apis = clients.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(
        apis.items().len(),
        1,
        "one REST API, not one per lost reply"
    );
    let out = ws
        .through(&proxy)
        .run(&["plan", &stack, "--detailed-exitcode"]);
    assert_exit(&out, 0);
    let state = read_state(dir, "producer-consumer", "dev");
    assert_eq!(state["resources"].as_object().unwrap().len(), 14);

    assert_exit(
        &ws.through(&proxy)
            .run(&["destroy", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(live_ids(&clients).await, BTreeSet::new());
}
