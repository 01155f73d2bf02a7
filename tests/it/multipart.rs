//! Multipart uploads and parallel ranged downloads through the deployed producer-consumer
//! stack: the producer still has no AWS credentials (the presign function starts,
//! completes and aborts the upload), the consumer fetches ranges at once.

use sha2::{Digest, Sha256};
use strata::chain::ChainError;
use strata::chain::endpoint::Endpoint;

use crate::common::{assert_exit, assert_no_changes, stderr};
use crate::deployed::{Deployed, deploy, deploy_behind, json_lines as lines, payload};
use serde_json::{Value as Json, json};

const MIB: usize = 1024 * 1024;
/// The proxy's name for a part upload through a presigned URL.
const PART_UPLOAD: &str = "s3:PUT /{bucket}/{key+}?partNumber&uploadId";
/// The proxy's name for the function's CompleteMultipartUpload (botocore adds no `x-id`).
const COMPLETE: &str = "s3:POST /{bucket}/{key+}?uploadId";
/// The proxy's name for an abort (the function's AbortMultipartUpload).
const ABORT: &str = "s3:DELETE /{bucket}/{key+}?uploadId";

/// Multipart uploads in progress in the content bucket, listed as the account root.
async fn uploads_in_progress(d: &Deployed, clients: &strata::aws::Clients) -> Vec<String> {
    let out = clients
        .s3
        .list_multipart_uploads()
        .bucket(d.output("content_bucket"))
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .map(|u| format!("{} {}", u.key().unwrap_or(""), u.upload_id().unwrap_or("")))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A count in the proxy's stats (0 when absent).
fn count(stats: &Json, table: &str, name: &str) -> u64 {
    stats[table][name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_round_trips_byte_for_byte_without_producer_credentials() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let bucket = d.output("content_bucket");

    // The stack: the role may abort uploads (input/ only), the bucket aborts forgotten
    // ones after a day, and a second plan has nothing to do.
    let lifecycle = clients
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rules = lifecycle.rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].id(), Some("abort-incomplete-multipart-uploads"));
    assert_eq!(
        rules[0]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(1)
    );
    let policy = clients
        .iam
        .get_role_policy()
        .role_name("producer-consumer-dev-presign")
        .policy_name("presign-objects")
        .send()
        .await
        .unwrap();
    let document = percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8()
        .unwrap();
    let document: Json = serde_json::from_str(&document).unwrap();
    assert_eq!(
        document["Statement"],
        json!([
            { "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
              "Resource": format!("arn:aws:s3:::{bucket}/input/*") },
            { "Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}") },
        ])
    );
    assert_no_changes(&d.ws.plan_json(&d.stack, &[]));

    // 40 MiB and a bit in 8 MiB parts: six parts, the last one short.
    let size = 40 * MIB + 12_345;
    let bytes = payload(size, 7);
    let file = d.path().join("big.bin");
    std::fs::write(&file, &bytes).unwrap();
    let out = d.send(&[file.to_str().unwrap(), "--part-size", "8MB", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(
        lines(&out),
        [json!({ "key": "input/big.bin", "size": size, "parts": 6 })]
    );
    let head = clients
        .s3
        .head_object()
        .bucket(&bucket)
        .key("input/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(size as i64));
    assert!(
        head.e_tag().unwrap().ends_with("-6\""),
        "not a six-part ETag: {:?}",
        head.e_tag()
    );
    assert_eq!(
        uploads_in_progress(&d, &clients).await,
        Vec::<String>::new()
    );

    // Received as parallel 8 MiB ranges, byte for byte.
    let out_dir = d.path().join("received");
    let out = d.receive(&[
        "--out",
        out_dir.to_str().unwrap(),
        "--max",
        "1",
        "--wait",
        "5",
        "--concurrency",
        "4",
    ]);
    assert_exit(&out, 0);
    assert_eq!(lines(&out)[0]["size"], size);
    let got = std::fs::read(out_dir.join("input/big.bin")).unwrap();
    assert_eq!(sha256(&got), sha256(&bytes));
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_with_concurrency_handles_several_messages_and_deletes_them_all() {
    let d = deploy();
    // Small payloads (one PUT) and multipart ones, sent together.
    let sizes = [1000, 9 * MIB + 1, 0, 20 * MIB, 3 * MIB];
    let mut files = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let path = d.path().join(format!("p{i}.bin"));
        std::fs::write(&path, payload(*size, i as u8 + 1)).unwrap();
        files.push(path.display().to_string());
    }
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--json", "--concurrency", "3"]);
    let out = d.send(&args);
    assert_exit(&out, 0);
    let parts: Vec<u64> = lines(&out)
        .iter()
        .map(|l| l["parts"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, [0, 2, 0, 3, 0]);

    let out_dir = d.path().join("received");
    let out = d.receive(&[
        "--out",
        out_dir.to_str().unwrap(),
        "--max",
        "5",
        "--wait",
        "5",
        "--concurrency",
        "3",
    ]);
    assert_exit(&out, 0);
    let mut keys: Vec<String> = lines(&out)
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        (0..5)
            .map(|i| format!("input/p{i}.bin"))
            .collect::<Vec<_>>()
    );
    for (i, size) in sizes.iter().enumerate() {
        let got = std::fs::read(out_dir.join(format!("input/p{i}.bin"))).unwrap();
        assert_eq!(got.len(), *size);
        assert_eq!(sha256(&got), sha256(&payload(*size, i as u8 + 1)), "p{i}");
    }
    // Every message was deleted: nothing left, visible or in flight.
    let clients = d.ws.clients().await;
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(d.output("queue_url"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes.attributes().unwrap()[&name].clone()
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0"
    );
}

/// The endpoint's answer to a bad multipart request: (status, error message).
async fn refused(endpoint: &Endpoint, action: &str, key: &str, fields: Json) -> (u16, String) {
    match endpoint.multipart(action, key, fields).await {
        Err(ChainError::Endpoint { status, body, .. }) => {
            let body: Json = serde_json::from_str(&body).unwrap();
            (status, body["error"].as_str().unwrap().to_string())
        }
        other => panic!("{action} was not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_endpoint_refuses_bad_multipart_requests() {
    let d = deploy();
    let endpoint = Endpoint::new(&d.output("api_url"));
    let start = json!({ "size": 10 * MIB, "part_size": 8 * MIB });
    assert_eq!(
        refused(
            &endpoint,
            "createMultipartUpload",
            "output/x",
            start.clone()
        )
        .await,
        (400, "object_key must start with 'input/'".into())
    );
    let tib5: u64 = 5 * 1024 * 1024 * 1024 * 1024;
    assert_eq!(
        refused(
            &endpoint,
            "createMultipartUpload",
            "input/x",
            json!({ "size": tib5 + 1, "part_size": 1024 * MIB })
        )
        .await,
        (
            400,
            format!("size must be between 1 and {tib5} (5 TiB, S3's object size limit)")
        )
    );
    let upload = endpoint
        .multipart("createMultipartUpload", "input/x", start)
        .await
        .unwrap();
    assert_eq!(upload["part_count"], 2);
    let upload_id = upload["upload_id"].as_str().unwrap();
    assert_eq!(
        refused(
            &endpoint,
            "uploadPart",
            "input/x",
            json!({ "upload_id": upload_id, "part_numbers": [10_001] })
        )
        .await,
        (
            400,
            "part_numbers must be integers between 1 and 10000".into()
        )
    );
    assert_eq!(
        refused(
            &endpoint,
            "completeMultipartUpload",
            "input/x",
            json!({ "upload_id": upload_id, "parts": [{ "part_number": 0, "etag": "e" }] })
        )
        .await,
        (
            400,
            "part numbers must be integers between 1 and 10000".into()
        )
    );
    let no_such = (
        404,
        "no such multipart upload for this key (NoSuchUpload): it was completed or aborted, or never started"
            .to_string(),
    );
    assert_eq!(
        refused(
            &endpoint,
            "completeMultipartUpload",
            "input/x",
            json!({ "upload_id": "no-such-upload", "parts": [{ "part_number": 1, "etag": "\"e\"" }] })
        )
        .await,
        no_such
    );
    assert_eq!(
        refused(
            &endpoint,
            "abortMultipartUpload",
            "input/x",
            json!({ "upload_id": "no-such-upload" })
        )
        .await,
        no_such
    );
    // The real one aborts, and then is unknown too.
    let aborted = endpoint
        .multipart(
            "abortMultipartUpload",
            "input/x",
            json!({ "upload_id": upload_id }),
        )
        .await
        .unwrap();
    assert_eq!(aborted["aborted"], true);
    let clients = d.ws.clients().await;
    assert_eq!(
        uploads_in_progress(&d, &clients).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_that_fails_for_good_aborts_the_upload() {
    // The function signs its URLs for a proxy in front of the emulator that answers every
    // part upload with a 5xx (and forwards everything else).
    let (d, proxy) = deploy_behind(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        "5xx",
        "--fault-operations",
        PART_UPLOAD,
    ]);
    let clients = d.ws.clients().await;
    let file = d.path().join("doomed.bin");
    std::fs::write(&file, payload(12 * MIB, 3)).unwrap();
    let out = d.send(&[file.to_str().unwrap(), "--concurrency", "1"]);
    assert_exit(&out, 1);
    // The fifth fault of seed 1 is a 503 (the proxy draws 500 or 503 from the seed).
    assert_eq!(
        stderr(&out),
        "error: sending `input/doomed.bin`: the multipart upload of `input/doomed.bin` failed \
         (part 1 failed after 5 attempt(s): S3 answered 503 to the PUT of `input/doomed.bin`: \
         503 Service Unavailable (injected by aws-proxy)\n); it was aborted, no parts are left in S3\n"
    );
    let stats = proxy.stats();
    // Part 1 alone, five times: with one transfer at a time, part 2 never started.
    assert_eq!(stats["faults_by_operation"][PART_UPLOAD], 5, "{stats}");
    assert_eq!(
        uploads_in_progress(&d, &clients).await,
        Vec::<String>::new()
    );
    assert_eq!(count(&stats, "by_operation", ABORT), 1, "{stats}");
    d.assert_absent(&clients, "input/doomed.bin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_multipart_upload_aborts_it() {
    // Every S3 call of the upload is held 1.5 s by a proxy, so parts are in flight when
    // SIGINT arrives.
    let (d, proxy) = deploy_behind(&["--latency-ms", "1500"]);
    let clients = d.ws.clients().await;
    let file = d.path().join("interrupted.bin");
    std::fs::write(&file, payload(24 * MIB, 5)).unwrap();
    let mut full = vec!["send", "--stack", d.stack.as_str(), file.to_str().unwrap()];
    full.extend(["--concurrency", "2"]);
    let child =
        d.ws.offline(&full)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while proxy.stats()["by_operation"].get(PART_UPLOAD).is_none() {
        assert!(std::time::Instant::now() < deadline, "no part went up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    assert_eq!(
        stderr(&out),
        "error: sending `input/interrupted.bin`: the multipart upload of `input/interrupted.bin` \
         failed (interrupted); it was aborted, no parts are left in S3\n"
    );
    assert_eq!(
        uploads_in_progress(&d, &clients).await,
        Vec::<String>::new()
    );
    d.assert_absent(&clients, "input/interrupted.bin").await;
}

/// Sends FILE (12 MiB and a bit: three parts of 5 MiB) as `input/NAME` through D; answers
/// the payload.
fn three_parts(d: &Deployed, name: &str, extra: &[&str]) -> (Vec<u8>, std::process::Output) {
    let bytes = payload(12 * MIB + 7, 11);
    let file = d.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    let mut args = vec![file.to_str().unwrap(), "--part-size", "5MB", "--json"];
    args.extend(extra);
    (bytes, d.send(&args))
}

/// KEY holds BYTES as the object of a three-part upload, no upload is left in progress,
/// and no abort went through the proxy (STATS); answers the object's ETag.
async fn assert_completed(
    d: &Deployed,
    clients: &strata::aws::Clients,
    stats: &Json,
    key: &str,
    bytes: &[u8],
) -> String {
    let (stored_bytes, etag) = d.stored(clients, key).await;
    assert_eq!(sha256(&stored_bytes), sha256(bytes));
    assert!(etag.ends_with("-3\""), "{etag}");
    assert_eq!(count(stats, "by_operation", ABORT), 0, "{stats}");
    assert_eq!(uploads_in_progress(d, clients).await, Vec::<String>::new());
    etag
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completion_whose_answer_was_lost_is_found_by_the_function() {
    // S3 carries the completion out and its answer is lost; the function's retry hears
    // NoSuchUpload (S3 forgets a completed upload), looks the object up, finds the parts'
    // object and answers success: `send` sees no error at all.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "complete-reply-lost"]);
    let clients = d.ws.clients().await;
    let (bytes, out) = three_parts(&d, "lost.bin", &[]);
    assert_exit(&out, 0);
    assert_eq!(stderr(&out), "");
    assert_eq!(
        lines(&out),
        [json!({ "key": "input/lost.bin", "size": bytes.len(), "parts": 3 })]
    );
    let stats = proxy.stats();
    assert_completed(&d, &clients, &stats, "input/lost.bin", &bytes).await;
    assert_eq!(count(&stats, "by_operation", COMPLETE), 2, "{stats}");
    assert_eq!(
        count(&stats, "faults_by_kind", "complete-reply-lost"),
        2,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completion_api_gateway_gave_up_on_is_found_by_send() {
    // API Gateway answers 504 to every completion request (it stopped waiting after 29 s)
    // while the function carried it out: `send` gets no answer from the function, looks
    // the object up, finds it, says so, and reports the payload sent.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "gateway-timeout-complete"]);
    let clients = d.ws.clients().await;
    let api_url = d
        .output("api_url")
        .replace(&d.ws.emulator().endpoint, &proxy.url);
    let (bytes, out) = three_parts(&d, "slow.bin", &["--api-url", &api_url]);
    assert_exit(&out, 0);
    assert_eq!(
        lines(&out),
        [json!({ "key": "input/slow.bin", "size": bytes.len(), "parts": 3 })]
    );
    let stats = proxy.stats();
    let etag = assert_completed(&d, &clients, &stats, "input/slow.bin", &bytes).await;
    assert_eq!(
        stderr(&out),
        format!(
            "warning: completing `input/slow.bin` answered an error (the endpoint answered 504 for \
             completeMultipartUpload `input/slow.bin`: {{\"message\": \"Endpoint request timed out\"}}), \
             but S3 holds the object its parts make ({} bytes, ETag {etag})\n",
            bytes.len()
        )
    );
    // The endpoint client's four attempts, each carried out and answered 504.
    assert_eq!(
        count(&stats, "faults_by_kind", "gateway-timeout-complete"),
        4,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completion_that_failed_aborts_the_upload_once_the_object_is_known_absent() {
    // Every CompleteMultipartUpload answers 200 with an InternalError in its body (S3 failed
    // it after it began answering). botocore retries it as a 500 (three attempts), the
    // function finds no object and answers 502, `send` retries that (four attempts), looks
    // the object up itself, finds none, aborts, and fails.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "complete-error-200"]);
    let clients = d.ws.clients().await;
    let (_, out) = three_parts(&d, "failed.bin", &[]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: sending `input/failed.bin`: the multipart upload of `input/failed.bin` failed \
         (the endpoint answered 502 for completeMultipartUpload `input/failed.bin`: \
         {\"error\": \"S3 failed CompleteMultipartUpload (InternalError)\"}); it was aborted, \
         no parts are left in S3\n"
    );
    let stats = proxy.stats();
    assert_eq!(count(&stats, "by_operation", COMPLETE), 12, "{stats}");
    assert_eq!(
        count(&stats, "faults_by_kind", "complete-error-200"),
        12,
        "{stats}"
    );
    assert_eq!(count(&stats, "by_operation", ABORT), 1, "{stats}");
    assert_eq!(
        uploads_in_progress(&d, &clients).await,
        Vec::<String>::new()
    );
    d.assert_absent(&clients, "input/failed.bin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_answered_request_timeout_is_sent_again() {
    // S3 answers 400 RequestTimeout to the first PUT of every part and of a whole object:
    // a transient error, sent again like a 5xx.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "request-timeout"]);
    let clients = d.ws.clients().await;
    let (bytes, out) = three_parts(&d, "parts.bin", &[]);
    assert_exit(&out, 0);
    assert_eq!(lines(&out)[0]["parts"], 3);
    let small = payload(1000, 5);
    let file = d.path().join("small.bin");
    std::fs::write(&file, &small).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    assert_eq!(d.stored(&clients, "input/parts.bin").await.0, bytes);
    assert_eq!(d.stored(&clients, "input/small.bin").await.0, small);
    let stats = proxy.stats();
    assert_eq!(
        count(&stats, "faults_by_kind", "request-timeout"),
        4,
        "{stats}"
    );
    assert_eq!(count(&stats, "by_operation", PART_UPLOAD), 6, "{stats}");
    assert_eq!(
        count(&stats, "by_operation", "s3:PUT /{bucket}/{key+}"),
        2,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_completion_whose_object_cannot_be_looked_up_is_left_unaborted() {
    // The completion fails (a 200 with an error body, every time) and every GET of an
    // object through the proxy answers 5xx, so `send` cannot tell whether S3 holds the
    // object: it must not abort an upload that may have completed. It says so and leaves
    // the upload to the bucket's lifecycle rule.
    let (d, proxy) = deploy_behind(&[
        "--transfer-faults",
        "complete-error-200",
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        "5xx",
        "--fault-operations",
        "s3:GET /{bucket}/{key+}",
    ]);
    let clients = d.ws.clients().await;
    let (_, out) = three_parts(&d, "unknown.bin", &[]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: sending `input/unknown.bin`: completing the multipart upload of `input/unknown.bin` \
         failed (the endpoint answered 502 for completeMultipartUpload `input/unknown.bin`: \
         {\"error\": \"S3 failed CompleteMultipartUpload (InternalError)\"}) and looking the object \
         up failed too (S3 answered 500 to the GET of `input/unknown.bin`: 500 Internal Server Error \
         (injected by aws-proxy)\n); the upload is left as it is: if S3 completed it, the object is \
         there, if not, the bucket's lifecycle rule removes its parts after a day\n"
    );
    let stats = proxy.stats();
    // Three lookups, each refused; no abort.
    assert_eq!(
        count(&stats, "faults_by_operation", "s3:GET /{bucket}/{key+}"),
        3,
        "{stats}"
    );
    assert_eq!(count(&stats, "by_operation", ABORT), 0, "{stats}");
    assert_eq!(uploads_in_progress(&d, &clients).await.len(), 1);
}
