//! The chain on the deployed producer-consumer stack: the producer (no AWS credentials)
//! sends payloads of any size, the consumer receives them intact; failures dead-letter;
//! messages from the AWS SQS Extended Client are understood.

use std::path::Path;
use std::process::Output;

use crate::common::{
    Emulator, assert_exit, copy_stacks, output_of, run, stderr, stdout, strata_command,
};
use serde_json::Value as Json;

/// A deployed producer-consumer stack in a fresh directory.
struct Deployed {
    emulator: Emulator,
    dir: tempfile::TempDir,
    stack: String,
}

fn deploy() -> Deployed {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let stacks = copy_stacks(dir.path());
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    assert_exit(
        &run(dir.path(), &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
    Deployed {
        emulator,
        dir,
        stack,
    }
}

impl Deployed {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `strata send` with every AWS credential variable removed.
    fn send(&self, args: &[&str]) -> Output {
        let mut full = vec!["send", "--stack", self.stack.as_str()];
        full.extend(args);
        let mut cmd = strata_command(self.path(), &full);
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        cmd.output().unwrap()
    }

    fn receive(&self, args: &[&str]) -> Output {
        let mut full = vec![
            "receive",
            "--stack",
            self.stack.as_str(),
            "--endpoint-url",
            self.emulator.endpoint.as_str(),
            "--json",
        ];
        full.extend(args);
        strata_command(self.path(), &full).output().unwrap()
    }
}

fn received(out: &Output) -> Vec<Json> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn payload(size: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

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
fn keys_with_spaces_and_unicode_arrive_intact() {
    let d = deploy();
    let file = d.path().join("note.txt");
    std::fs::write(&file, "grüße").unwrap();
    let out = d.send(&[
        file.to_str().unwrap(),
        "--key",
        "input/my report/Ünïcödé 東京.txt",
    ]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sent input/my report/Ünïcödé 東京.txt"),
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
    assert_eq!(received(&out)[0]["key"], "input/my report/Ünïcödé 東京.txt");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("input/my report/Ünïcödé 東京.txt")).unwrap(),
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
    let python = crate::common::repo().join(".local/aws-venv/bin/python");
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
