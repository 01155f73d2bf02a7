//! The chain on the deployed producer-consumer stack: the producer (no AWS credentials)
//! sends payloads of any size, the consumer receives them intact; failures dead-letter;
//! messages from the AWS SQS Extended Client are understood.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{
    Emulator, Proxy, assert_exit, files_under, output_of, stderr, stdout, strata_command,
};
use crate::deployed::{deploy, json_lines as received, payload};
use serde_json::Value as Json;

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
    let clients = d.emulator.clients().await;
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
        .env("ENDPOINT", &d.emulator.endpoint)
        .env("AWS_ENDPOINT_URL", &d.emulator.endpoint)
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
    let clients = d.emulator.clients().await;
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
fn receive_once(dir: &Path, endpoint: &str, queue_url: &str, api_url: &str, out: &Path) -> Output {
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
fn faulting(emulator: &Emulator, kind: &str, operation: &str) -> Proxy {
    Proxy::start(
        &emulator.endpoint,
        &[
            "--fault-rate",
            "1",
            "--seed",
            "1",
            "--fault-kinds",
            kind,
            "--fault-operations",
            operation,
        ],
    )
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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let event = serde_json::json!({"Records": [{"eventVersion": "2.1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "content"}, "object": {"key": "input/cut.bin", "size": 1 << 20}}}]});
    let (queue_url, message_id) = queue_with(&clients, &event.to_string()).await;
    // The storage server promises 1 MiB and closes the connection after 64 KiB.
    let api_url = cut_off_storage(1 << 20, 64 * 1024);
    let out_dir = dir.path().join("received");
    let out = receive_once(
        dir.path(),
        &emulator.endpoint,
        &queue_url,
        &api_url,
        &out_dir,
    );
    assert_cut_off(&out, &message_id, "cannot reach S3", &out_dir.join("input"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_check_download_cut_off_mid_stream_leaves_no_partial_file() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
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
    let proxy = faulting(&emulator, "truncate", "s3:GetObject");
    let out_dir = dir.path().join("received");
    let out = receive_once(dir.path(), &proxy.url, &queue_url, UNUSED_API, &out_dir);
    assert_cut_off(&out, &message_id, "GetObject failed", &out_dir.join("big"));
    assert_eq!(proxy.stats()["faults_by_operation"]["s3:GetObject"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_change_message_visibility_is_reported_with_the_message_id() {
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let (queue_url, message_id) = queue_with(&clients, "not an event").await;
    // Every ChangeMessageVisibility (the SDK's retries included) answers 500 or 503.
    let proxy = faulting(&emulator, "5xx", "sqs:ChangeMessageVisibility");
    let out_dir = dir.path().join("received");
    let out = receive_once(dir.path(), &proxy.url, &queue_url, UNUSED_API, &out_dir);
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
    let stats = proxy.stats();
    assert!(
        stats["faults_by_operation"]["sqs:ChangeMessageVisibility"]
            .as_u64()
            .is_some_and(|n| n >= 1),
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
