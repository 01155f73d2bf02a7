//! The chain on the deployed producer-consumer stack: the producer (no AWS credentials)
//! sends payloads of any size, the consumer receives them intact; failures dead-letter;
//! messages from the AWS SQS Extended Client are understood.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{
    Proxy, Workspace, assert_exit, files_under, output_of, stderr, stdout, strata_command,
};
use crate::deployed::{Deployed, deploy, deploy_behind, json_lines as received, payload};
use serde_json::{Value as Json, json};

const MIB: usize = 1024 * 1024;

#[test]
fn payloads_of_every_size_arrive_intact_without_producer_credentials() {
    let d = deploy();
    let sizes = [
        ("empty.bin", 0),
        ("small.bin", 1024),
        ("five.bin", 5 * 1024 * 1024),
        ("large.bin", 64 * 1024 * 1024),
    ];
    let mut files = Vec::new();
    for (i, (name, size)) in sizes.iter().enumerate() {
        let path = d.path().join(name);
        std::fs::write(&path, payload(*size, i as u8 + 1)).unwrap();
        files.push(path.display().to_string());
    }
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.push("--json");
    let out = d.send(&args);
    assert_exit(&out, 0);
    let sent: Vec<Json> = received(&out);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3]["key"], "input/large.bin");
    assert_eq!(sent[3]["size"], 64 * 1024 * 1024);

    let out_dir = d.path().join("received");
    let out = d.receive(&[
        "--out",
        out_dir.to_str().unwrap(),
        "--max",
        "4",
        "--wait",
        "2",
    ]);
    assert_exit(&out, 0);
    let mut got = received(&out);
    got.sort_by_key(|r| r["key"].as_str().unwrap().to_string());
    let keys: Vec<&str> = got.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "input/empty.bin",
            "input/five.bin",
            "input/large.bin",
            "input/small.bin"
        ]
    );
    for (i, (name, size)) in sizes.iter().enumerate() {
        let bytes = std::fs::read(out_dir.join("input").join(name)).unwrap();
        assert_eq!(bytes.len(), *size);
        assert!(bytes == payload(*size, i as u8 + 1), "{name} differs");
    }
    // Everything was acknowledged: the queue is empty.
    let out = d.receive(&["--out", out_dir.to_str().unwrap(), "--wait", "1"]);
    assert_exit(&out, 0);
    assert!(received(&out).is_empty());
}

#[test]
fn keys_with_spaces_plus_signs_and_unicode_arrive_intact() {
    let d = deploy();
    let file = d.path().join("note.txt");
    std::fs::write(&file, "grüße").unwrap();
    let out = d.send(&[
        file.to_str().unwrap(),
        "--key",
        "input/my report/1+1 Ünïcödé 東京.txt",
    ]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sent input/my report/1+1 Ünïcödé 東京.txt"),
        "{}",
        stdout(&out)
    );
    let out_dir = d.path().join("received");
    let out = d.receive(&[
        "--out",
        out_dir.to_str().unwrap(),
        "--max",
        "1",
        "--wait",
        "2",
    ]);
    assert_exit(&out, 0);
    assert_eq!(
        received(&out)[0]["key"],
        "input/my report/1+1 Ünïcödé 東京.txt"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("input/my report/1+1 Ünïcödé 東京.txt")).unwrap(),
        "grüße"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_cannot_be_saved_stays_queued_then_dead_letters() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let file = d.path().join("doomed.bin");
    std::fs::write(&file, b"cannot land").unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    // The output "directory" is a file: every download fails to be written.
    let blocked = d.path().join("not-a-directory");
    std::fs::write(&blocked, "").unwrap();
    for attempt in 1..=5 {
        let out = d.receive(&[
            "--out",
            blocked.to_str().unwrap(),
            "--max",
            "1",
            "--wait",
            "2",
        ]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("left on the queue"),
            "attempt {attempt}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("receive count {attempt}")),
            "attempt {attempt}: {}",
            stderr(&out)
        );
    }
    // After five receives, the message is in the dead-letter queue and gone from the queue.
    let out = d.receive(&["--out", d.path().to_str().unwrap(), "--wait", "1"]);
    assert_exit(&out, 0);
    assert!(received(&out).is_empty(), "{}", stdout(&out));
    let dlq_url = output_of(d.path(), &d.stack, "dead_letter_queue_url", &[]);
    let dead = clients
        .sqs
        .receive_message()
        .queue_url(&dlq_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages().len(), 1);
    let body: Json = serde_json::from_str(dead.messages()[0].body().unwrap()).unwrap();
    assert_eq!(
        body["Records"][0]["s3"]["object"]["key"],
        "input/doomed.bin"
    );
}

#[test]
fn messages_from_the_sqs_extended_client_are_received() {
    let d = deploy();
    let queue_url = output_of(d.path(), &d.stack, "queue_url", &[]);
    let bucket = output_of(d.path(), &d.stack, "content_bucket", &[]);
    // The real Python client (PyPI amazon-sqs-extended-client) stores the body in S3 and
    // sends a pointer.
    let script = r#"
import os, sys, boto3, sqs_extended_client  # noqa: F401 (patches boto3's SQS client)
sqs = boto3.client("sqs", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
sqs.large_payload_support = os.environ["BUCKET"]
sqs.use_legacy_attribute = False
body = ("claim-check " * 30000)[: 300 * 1024]
sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=body)
sys.stdout.write(body)
"#;
    let python = crate::common::emulator_python();
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .env("ENDPOINT", &d.ws.emulator().endpoint)
        .env("AWS_ENDPOINT_URL", &d.ws.emulator().endpoint)
        .env("BUCKET", &bucket)
        .env("QUEUE_URL", &queue_url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = out.stdout;
    assert_eq!(body.len(), 300 * 1024);

    let out_dir = d.path().join("received");
    let out = d.receive(&[
        "--out",
        out_dir.to_str().unwrap(),
        "--max",
        "1",
        "--wait",
        "2",
    ]);
    assert_exit(&out, 0);
    let got = received(&out);
    assert_eq!(got.len(), 1, "{}", stdout(&out));
    assert_eq!(got[0]["via"], "extended-client");
    assert_eq!(got[0]["size"], 300 * 1024);
    let saved = std::fs::read(got[0]["path"].as_str().unwrap()).unwrap();
    assert!(saved == body, "payload differs");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_never_print_credentials_or_url_signatures() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let queue_url = output_of(d.path(), &d.stack, "queue_url", &[]);
    let bucket = output_of(d.path(), &d.stack, "content_bucket", &[]);
    // An event for an object that does not exist: the presigned GET answers 404.
    let event = serde_json::json!({"Records": [{"eventVersion": "2.1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "input/missing.bin", "size": 10}}}]});
    clients
        .sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    let out = d.receive(&[
        "--out",
        d.path().join("in").to_str().unwrap(),
        "--max",
        "1",
        "--wait",
        "2",
    ]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("S3 answered 404 to the GET of `input/missing.bin`: NoSuchKey"),
        "{err}"
    );
    for secret in [
        "X-Amz-Signature",
        "X-Amz-Credential",
        "Signature=",
        "test:test",
    ] {
        assert!(!err.contains(secret), "{secret} in {err}");
    }
    // The endpoint refusing a request is reported with its answer, not the URL's signature.
    let file = d.path().join("x.bin");
    std::fs::write(&file, b"x").unwrap();
    let out = d.send(&[
        file.to_str().unwrap(),
        "--key",
        "outside/x.bin",
        "--prefix",
        "outside/",
    ]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the endpoint answered 400 for putObject `outside/x.bin`"),
        "{err}"
    );
    assert!(!err.contains("X-Amz-Signature"), "{err}");
}

/// A presign endpoint for receives that never need one (nothing listens on port 9).
const UNUSED_API: &str = "http://127.0.0.1:9";

/// `strata receive` of one round on QUEUE_URL through ENDPOINT, payloads fetched through the
/// presign endpoint API_URL, saved under OUT.
pub(crate) fn receive_once(
    dir: &Path,
    endpoint: &str,
    queue_url: &str,
    api_url: &str,
    out: &Path,
) -> Output {
    strata_command(
        dir,
        &[
            "receive",
            "--endpoint-url",
            endpoint,
            "--queue-url",
            queue_url,
            "--api-url",
            api_url,
            "--out",
            out.to_str().unwrap(),
            "--max",
            "1",
            "--wait",
            "2",
            "--json",
        ],
    )
    .output()
    .unwrap()
}

/// The proxy in front of EMULATOR, answering every call of OPERATION (`service:operation`)
/// with a fault of KIND, and forwarding every other call.
fn faulting(ws: &Workspace, kind: &str, operation: &str) -> Proxy {
    ws.proxy(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        kind,
        "--fault-operations",
        operation,
    ])
}

/// A fresh queue on the emulator with MESSAGE on it: (queue URL, message id).
async fn queue_with(clients: &strata::aws::Clients, message: &str) -> (String, String) {
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name("content")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let sent = clients
        .sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(message)
        .send()
        .await
        .unwrap();
    (queue_url, sent.message_id().unwrap().to_string())
}

/// A receive whose one download broke off with FAILURE: exit 1, nothing received, the
/// message left on the queue, and LANDING (the directory the payload was being written to)
/// left with no file at all, no partial one in particular.
fn assert_cut_off(out: &Output, message_id: &str, failure: &str, landing: &Path) {
    assert_exit(out, 1);
    let err = stderr(out);
    assert!(
        err.contains(&format!("message {message_id}: {failure}")),
        "{err}"
    );
    assert!(err.contains("left on the queue; receive count 1"), "{err}");
    assert!(received(out).is_empty(), "{}", stdout(out));
    assert!(landing.is_dir(), "the download never started");
    assert_eq!(
        files_under(landing.parent().unwrap()),
        Vec::<PathBuf>::new()
    );
}

/// A presign endpoint and a storage server in one, on a free port: a POST (presign) answers
/// with the URL of `/payload` on the same server; a GET of it promises PROMISED bytes, sends
/// SENT of them, and closes the connection. Serves until the test process ends.
fn cut_off_storage(promised: usize, sent: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let payload_url = format!("{url}/payload");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            reader.read_exact(&mut vec![0; length]).unwrap();
            let _ = if request_line.starts_with("POST") {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload_url}",
                    payload_url.len()
                )
            } else {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {promised}\r\nConnection: close\r\n\r\n"
                )
                .and_then(|()| stream.write_all(&payload(sent, 9)))
            };
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_cut_off_mid_stream_leaves_no_partial_file() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let event = serde_json::json!({"Records": [{"eventVersion": "2.1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "content"}, "object": {"key": "input/cut.bin", "size": 1 << 20}}}]});
    let (queue_url, message_id) = queue_with(&clients, &event.to_string()).await;
    // The storage server promises 1 MiB and closes the connection after 64 KiB.
    let api_url = cut_off_storage(1 << 20, 64 * 1024);
    let out_dir = dir.join("received");
    let out = receive_once(dir, &ws.emulator().endpoint, &queue_url, &api_url, &out_dir);
    assert_cut_off(&out, &message_id, "cannot reach S3", &out_dir.join("input"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_check_download_cut_off_mid_stream_leaves_no_partial_file() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    clients
        .s3
        .create_bucket()
        .bucket("claim-checks")
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_object()
        .bucket("claim-checks")
        .key("big/payload.bin")
        .body(payload(256 * 1024, 3).into())
        .send()
        .await
        .unwrap();
    let pointer = r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"claim-checks","s3Key":"big/payload.bin"}]"#;
    let (queue_url, message_id) = queue_with(&clients, pointer).await;
    // Every GetObject answer is cut off after half its body.
    let proxy = faulting(&ws, "truncate", "s3:GetObject");
    let out_dir = dir.join("received");
    let out = receive_once(dir, &proxy.url, &queue_url, UNUSED_API, &out_dir);
    assert_cut_off(&out, &message_id, "GetObject failed", &out_dir.join("big"));
    assert_eq!(proxy.stats()["faults_by_operation"]["s3:GetObject"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_change_message_visibility_is_reported_with_the_message_id() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let (queue_url, message_id) = queue_with(&clients, "not an event").await;
    // Every ChangeMessageVisibility (the SDK's retries included) answers 500 or 503.
    let proxy = faulting(&ws, "5xx", "sqs:ChangeMessageVisibility");
    let out_dir = dir.join("received");
    let out = receive_once(dir, &proxy.url, &queue_url, UNUSED_API, &out_dir);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "message {message_id} failed (not an S3 event or claim-check pointer: not an event) \
             and could not be put back on the queue, so it stays hidden until its visibility \
             timeout ends: ChangeMessageVisibility failed: "
        )),
        "{err}"
    );
    // Every attempt the SDK makes of the call, each answered 5xx.
    let stats = proxy.stats();
    assert_eq!(
        stats["faults_by_operation"]["sqs:ChangeMessageVisibility"],
        strata::aws::retry::SDK_MAX_ATTEMPTS,
        "{stats}"
    );
    // The message is still in flight (hidden), not deleted: the queue counts it.
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes.attributes().unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn send_reads_standard_input_and_honours_the_multipart_threshold() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let sent = |out: &Output| {
        assert_exit(out, 0);
        let lines = received(out);
        assert_eq!(lines.len(), 1, "{}", stdout(out));
        lines[0].clone()
    };

    // Standard input under --key: one PUT.
    let small = payload(1000, 4);
    let out = d.send_stdin(&["--key", "input/piped.bin", "--json"], &small);
    assert_eq!(
        sent(&out),
        json!({ "key": "input/piped.bin", "size": 1000, "parts": 0 })
    );
    assert_eq!(d.stored(&clients, "input/piped.bin").await.0, small);

    // Without --key: a fresh UUID under the prefix.
    let line = sent(&d.send_stdin(&["--json"], b"anonymous"));
    let key = line["key"].as_str().unwrap();
    let name = key.strip_prefix("input/").unwrap();
    assert!(uuid::Uuid::parse_str(name).is_ok(), "{key}");
    assert_eq!(d.stored(&clients, key).await.0, b"anonymous");

    // From a threshold of 5 MB up, standard input goes in parts like a file.
    let big = payload(6 * MIB, 5);
    let out = d.send_stdin(
        &[
            "--key",
            "input/piped-big.bin",
            "--multipart-threshold",
            "5MB",
            "--part-size",
            "5MB",
            "--json",
        ],
        &big,
    );
    assert_eq!(
        sent(&out),
        json!({ "key": "input/piped-big.bin", "size": 6 * MIB, "parts": 2 })
    );
    let (bytes, etag) = d.stored(&clients, "input/piped-big.bin").await;
    assert!(bytes == big, "input/piped-big.bin differs");
    assert!(etag.ends_with("-2\""), "{etag}");

    // The same size from a file: one PUT under the default threshold (8 MB), and parts from
    // a threshold of exactly its size.
    let file = d.path().join("six.bin");
    std::fs::write(&file, &big).unwrap();
    let out = d.send(&[file.to_str().unwrap(), "--json"]);
    assert_eq!(
        sent(&out),
        json!({ "key": "input/six.bin", "size": 6 * MIB, "parts": 0 })
    );
    assert!(!d.stored(&clients, "input/six.bin").await.1.contains('-'));
    let out = d.send(&[
        file.to_str().unwrap(),
        "--key",
        "input/six-in-one-part.bin",
        "--multipart-threshold",
        "6MiB",
        "--json",
    ]);
    assert_eq!(
        sent(&out),
        json!({ "key": "input/six-in-one-part.bin", "size": 6 * MIB, "parts": 1 })
    );
    let (bytes, etag) = d.stored(&clients, "input/six-in-one-part.bin").await;
    assert!(bytes == big && etag.ends_with("-1\""), "{etag}");
}

/// The ETag of KEY in D's content bucket, without its quotes (as S3 events carry it).
async fn bare_etag(d: &Deployed, clients: &strata::aws::Clients, key: &str) -> String {
    let head = clients
        .s3
        .head_object()
        .bucket(d.output("content_bucket"))
        .key(key)
        .send()
        .await
        .unwrap();
    head.e_tag().unwrap().trim_matches('"').to_string()
}

/// The one error line of a receive: `error: message <id>: TEXT`; answers TEXT.
fn the_error(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let rest = lines[0]
        .strip_prefix("error: message ")
        .unwrap_or_else(|| panic!("{err}"));
    rest.split_once(": ").unwrap().1.to_string()
}

fn overwritten(key: &str, etag: &str, receive_count: u32) -> String {
    format!(
        "`{key}` is no longer the object its event announced (ETag {etag}): it was overwritten \
         since (S3 answered 412 PreconditionFailed) (left on the queue; receive count {receive_count})"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overwrite_between_the_event_and_the_download_is_refused_and_the_message_kept() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let file = d.path().join("report.bin");
    std::fs::write(&file, payload(1000, 1)).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    let first = bare_etag(&d, &clients, "input/report.bin").await;
    // Another producer writes the key again, as many bytes, before the consumer runs.
    let second = payload(1000, 2);
    clients
        .s3
        .put_object()
        .bucket(d.output("content_bucket"))
        .key("input/report.bin")
        .body(second.clone().into())
        .send()
        .await
        .unwrap();
    // One round takes both events: the second one's payload lands; the first one's object
    // is gone, which is said, and its message stays on the queue.
    let out_dir = d.path().join("received");
    let out = d.receive(&["--out", out_dir.to_str().unwrap(), "--wait", "2"]);
    assert_exit(&out, 1);
    assert_eq!(the_error(&out), overwritten("input/report.bin", &first, 1));
    assert_eq!(received(&out).len(), 1, "{}", stdout(&out));
    assert_eq!(received(&out)[0]["key"], "input/report.bin");
    assert!(std::fs::read(out_dir.join("input/report.bin")).unwrap() == second);
    // Received again (it was made visible at once), refused again.
    let out = d.receive(&["--out", out_dir.to_str().unwrap(), "--wait", "2"]);
    assert_exit(&out, 1);
    assert_eq!(the_error(&out), overwritten("input/report.bin", &first, 2));
    assert!(received(&out).is_empty(), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overwrite_during_a_ranged_download_is_refused_and_leaves_no_file() {
    // Once the first range of the object is answered, the proxy overwrites the object with
    // as many other bytes: the next range is asked of the event's ETag and answered 412.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "overwrite-mid-download"]);
    let clients = d.ws.clients().await;
    let size = 20 * MIB;
    let file = d.path().join("big.bin");
    std::fs::write(&file, payload(size, 3)).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    let etag = bare_etag(&d, &clients, "input/big.bin").await;
    proxy.reset();
    let out_dir = d.path().join("received");
    let args = [
        "--out",
        out_dir.to_str().unwrap(),
        "--wait",
        "2",
        "--concurrency",
        "1",
    ];
    let out = d.receive(&args);
    assert_exit(&out, 1);
    assert_eq!(the_error(&out), overwritten("input/big.bin", &etag, 1));
    assert!(received(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(files_under(&out_dir), Vec::<PathBuf>::new());
    let stats = proxy.stats();
    // The first range, then the second one refused; the third never asked for.
    assert_eq!(
        stats["by_operation"]["s3:GET /{bucket}/{key+}"], 2,
        "{stats}"
    );
    assert_eq!(stats["by_status"]["412"], 1, "{stats}");
    assert_eq!(
        stats["faults_by_kind"]["overwrite-mid-download"], 1,
        "{stats}"
    );
    // The next round: the overwrite's own event brings the new object whole; the first
    // event, kept on the queue, is refused again.
    let out = d.receive(&args);
    assert_exit(&out, 1);
    assert_eq!(the_error(&out), overwritten("input/big.bin", &etag, 2));
    assert_eq!(received(&out).len(), 1, "{}", stdout(&out));
    let got = std::fs::read(out_dir.join("input/big.bin")).unwrap();
    assert!(
        got == b"overwritten ".repeat(size / 12 + 1)[..size],
        "not the overwriting object"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_that_does_not_match_s3s_checksum_is_refused() {
    // Through the proxy, S3 stores a CRC64NVME checksum of the upload (as it does for every
    // upload that sends none); the first whole-object GET comes back with a byte changed.
    let (d, proxy) = deploy_behind(&["--transfer-faults", "default-checksum,corrupt-download:1"]);
    let clients = d.ws.clients().await;
    let bytes = payload(100_000, 6);
    let file = d.path().join("checked.bin");
    std::fs::write(&file, &bytes).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    let head = clients
        .s3
        .head_object()
        .bucket(d.output("content_bucket"))
        .key("input/checked.bin")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let expected = head.checksum_crc64_nvme().unwrap().to_string();
    let mut corrupted = bytes.clone();
    corrupted[bytes.len() / 2] ^= 0xFF;
    let mut crc = "crc64nvme"
        .parse::<aws_smithy_checksums::ChecksumAlgorithm>()
        .unwrap()
        .into_impl();
    crc.update(&corrupted);
    let got = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, crc.finalize());

    let out_dir = d.path().join("received");
    let out = d.receive(&["--out", out_dir.to_str().unwrap(), "--wait", "2"]);
    assert_exit(&out, 1);
    assert_eq!(
        the_error(&out),
        format!(
            "payload `input/checked.bin` does not match S3's CRC64NVME checksum of the object \
             ({expected}; the bytes received give {got}) (left on the queue; receive count 1)"
        )
    );
    assert_eq!(files_under(&out_dir), Vec::<PathBuf>::new());
    assert_eq!(proxy.stats()["faults_by_kind"]["corrupt-download"], 1);
    // Sent again intact, it is saved.
    let out = d.receive(&["--out", out_dir.to_str().unwrap(), "--wait", "2"]);
    assert_exit(&out, 0);
    assert!(std::fs::read(out_dir.join("input/checked.bin")).unwrap() == bytes);
}

/// `strata receive --follow` running in the background, its JSON lines read as they come.
struct Following {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Json>,
}

impl Following {
    /// `strata receive --out OUT_DIR ARGS`.
    fn start(d: &Deployed, out_dir: &Path, args: &[&str]) -> Following {
        let mut full = vec!["--out", out_dir.to_str().unwrap()];
        full.extend(args);
        let mut child = d
            .receive_command(&full)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = sender.send(serde_json::from_str(&line.unwrap()).unwrap());
            }
        });
        Following { child, lines }
    }

    /// The next payload received (a minute at most).
    fn next(&self) -> Json {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("no payload was received")
    }

    /// Sends SIGINT (Ctrl-C), then waits for the end as `end` does.
    fn interrupt(self) -> (Option<i32>, String) {
        let kill = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        self.end()
    }

    /// Waits for the end (a minute at most; then it is killed and the test fails): (exit
    /// code, standard error); no further payload was printed.
    fn end(mut self) -> (Option<i32>, String) {
        use std::os::unix::process::ExitStatusExt;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("receive did not stop");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.signal(), None, "killed by a signal: {err}");
        let more: Vec<Json> = self.lines.iter().collect();
        assert_eq!(more, Vec::<Json>::new());
        (status.code(), err)
    }
}

/// Sends a small payload named NAME through D.
fn send_one(d: &Deployed, name: &str, seed: u8) -> Vec<u8> {
    let bytes = payload(2000, seed);
    let file = d.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);
    bytes
}

/// The queue's visible and in-flight message counts.
async fn queue_counts(d: &Deployed, clients: &strata::aws::Clients) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(d.output("queue_url"))
        .attribute_names(Name::All)
        .send()
        .await
        .unwrap();
    let attributes = out.attributes().unwrap();
    (
        attributes[&Name::ApproximateNumberOfMessages].clone(),
        attributes[&Name::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

#[test]
fn receive_follow_keeps_receiving_round_after_round_until_max() {
    let d = deploy();
    let out_dir = d.path().join("received");
    let following = Following::start(&d, &out_dir, &["--follow", "--max", "3", "--wait", "1"]);
    // Each payload is sent only once the one before it arrived: three rounds at least.
    for (i, name) in ["one.bin", "two.bin", "three.bin"].iter().enumerate() {
        let bytes = send_one(&d, name, i as u8 + 1);
        let line = following.next();
        assert_eq!(line["key"], format!("input/{name}"));
        assert!(std::fs::read(out_dir.join("input").join(name)).unwrap() == bytes);
    }
    // The third one was the last: it stopped by itself.
    assert_eq!(following.end(), (Some(0), String::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_follow_stops_on_ctrl_c() {
    let d = deploy();
    let clients = d.ws.clients().await;
    let out_dir = d.path().join("received");
    let following = Following::start(&d, &out_dir, &["--follow", "--wait", "2"]);
    for (i, name) in ["one.bin", "two.bin"].iter().enumerate() {
        send_one(&d, name, i as u8 + 1);
        assert_eq!(following.next()["key"], format!("input/{name}"));
    }
    // Waiting on an empty queue, it stops at SIGINT, with every payload acknowledged.
    assert_eq!(following.interrupt(), (Some(130), String::new()));
    assert_eq!(queue_counts(&d, &clients).await, ("0".into(), "0".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_download_puts_the_message_back_at_once() {
    // The proxy lets the upload through and holds the next call (the download) unanswered.
    let (d, proxy) = deploy_behind(&["--stall-after", "1"]);
    let clients = d.ws.clients().await;
    send_one(&d, "held.bin", 7);
    let out_dir = d.path().join("received");
    let following = Following::start(&d, &out_dir, &["--wait", "2"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while proxy.stats()["stalled"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(following.interrupt(), (Some(130), String::new()));
    // Visible again now, not after the queue's visibility timeout (360 s); nothing saved.
    assert_eq!(queue_counts(&d, &clients).await, ("1".into(), "0".into()));
    assert!(!out_dir.exists(), "{:?}", files_under(&out_dir));
}
