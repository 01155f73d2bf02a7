//! Seeing what strata does: the trace of a whole apply lists every AWS call the counting
//! proxy saw and no secret; `apply --json` streams events a program can follow, failures
//! and skipped dependents included; a reported AWS error carries its request id.

use std::collections::BTreeMap;

use crate::common::{Through, Workspace, assert_exit, json_lines, stderr, stdout};
use serde_json::Value as Json;

/// A secret key and a session token no other text contains (the emulator takes any).
const SECRET_KEY: &str = "obsSecretKey0123456789abcdefghijklmnopqrs";
const SESSION_TOKEN: &str = "obsSessionToken/With+Odd=Chars0123456789";

/// The `aws call` events of a text log: (service, operation) of each attempt, counted.
fn calls_in_log(log: &str) -> BTreeMap<(String, String), u64> {
    let field = |line: &str, name: &str| -> String {
        let start = line
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            + name.len()
            + 3;
        let end = start + line[start..].find('"').unwrap();
        line[start..end].to_string()
    };
    let mut calls = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("aws call ")) {
        // The proxy's names: the signing name (`apigateway`), not the SDK's ("API Gateway").
        let mut service = field(line, "service").to_lowercase().replace(' ', "");
        // CloudWatch Logs signs as `logs`.
        if service == "cloudwatchlogs" {
            service = "logs".to_string();
        }
        *calls
            .entry((service, field(line, "operation")))
            .or_insert(0) += 1;
    }
    calls
}

#[test]
fn a_trace_of_a_whole_apply_lists_every_call_and_no_secret() {
    let ws = Workspace::new().with_stacks();
    let proxy = ws.proxy(&[]);
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let log = dir.join("trace.log");
    let out = ws
        .through(&proxy)
        .command(&[
            "apply",
            &stack,
            "--auto-approve",
            "--log-file",
            log.to_str().unwrap(),
        ])
        .env("STRATA_LOG", "trace")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stats = proxy.stats();
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        !stdout(&out).contains("aws call") && !stderr(&out).contains("aws call"),
        "the log went to the file only"
    );

    // Every call the proxy counted is in the trace, attempt for attempt.
    let calls = calls_in_log(&trace);
    let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
    for ((service, _), n) in &calls {
        *by_service.entry(service.clone()).or_insert(0) += n;
    }
    let counted: BTreeMap<String, u64> = stats["by_service"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_service, counted, "per service; proxy: {stats:#}");
    assert_eq!(
        calls.values().sum::<u64>(),
        stats["total"].as_u64().unwrap()
    );
    // Operations the proxy names as the SDK does (JSON and query protocols), one by one.
    let mut named = 0;
    for (key, n) in stats["by_operation"].as_object().unwrap() {
        let (service, operation) = key.split_once(':').unwrap();
        if operation.contains(' ') || operation.contains('/') {
            continue; // REST shapes (`PUT /{bucket}?policy`)
        }
        named += 1;
        assert_eq!(
            calls
                .get(&(service.to_string(), operation.to_string()))
                .copied(),
            n.as_u64(),
            "{key}"
        );
    }
    assert!(named >= 10, "{stats:#}");
    // Each attempt has its request id, status and duration, inside a resource's span.
    let create_queue = trace
        .lines()
        .find(|l| l.contains("aws call succeeded") && l.contains("operation=\"CreateQueue\""))
        .expect("a CreateQueue attempt");
    for part in [
        "status=200",
        "attempt=1",
        "duration_ms=",
        "resource{address=sqs.queue.",
        "command{name=\"apply\"",
    ] {
        assert!(create_queue.contains(part), "{part} in {create_queue}");
    }
    assert!(!create_queue.contains("request_id=\"-\""), "{create_queue}");

    // At trace the SDK logs requests, signing steps and the presign function's settings
    // (a presigned URL among them); none of the secrets is in the file.
    assert!(
        trace.contains("X-Amz-Signature=[redacted]"),
        "a presigned URL was logged, redacted"
    );
    for secret in [SECRET_KEY, SESSION_TOKEN, "obsSessionToken"] {
        assert!(!trace.contains(secret), "`{secret}` is in the trace");
    }
    assert_eq!(
        trace.matches("X-Amz-Signature=").count(),
        trace.matches("X-Amz-Signature=[redacted]").count(),
        "a signature is in the trace"
    );
    assert!(!trace.contains(&SESSION_TOKEN.replace('/', "%2F").replace('+', "%2B")));

    // The producer's presigned URLs are logged without their signatures.
    let payload = dir.join("payload.txt");
    std::fs::write(&payload, "hello").unwrap();
    let send_log = dir.join("send.log");
    let out = ws
        .offline(&[
            "send",
            payload.to_str().unwrap(),
            "--stack",
            &stack,
            "--log-file",
            send_log.to_str().unwrap(),
        ])
        .env("STRATA_LOG", "debug")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let sent = std::fs::read_to_string(&send_log).unwrap();
    let presigned = sent
        .lines()
        .find(|l| l.contains("presigned"))
        .unwrap_or_else(|| panic!("no presigned URL in {sent}"));
    assert!(presigned.contains("payload.txt"), "{presigned}");
    assert!(
        presigned.contains("Signature=[redacted]"),
        "the URL is signed, and its signature is gone: {presigned}"
    );
    assert_eq!(
        sent.matches("Signature=").count(),
        sent.matches("Signature=[redacted]").count(),
        "{sent}"
    );
}

/// The lines of a JSON event stream, each parsed (the test fails on one that is not JSON).
pub fn events(out: &std::process::Output) -> Vec<Json> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}` is not JSON")))
        .collect()
}

fn of_type<'a>(events: &'a [Json], kind: &str) -> Vec<&'a Json> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn apply_json(to: &Through, stack: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", stack, "--json"];
    args.extend(extra);
    to.run(&args)
}

#[test]
fn the_json_stream_of_an_apply_with_a_failing_resource_has_the_failure_the_skips_and_the_summary() {
    let ws = Workspace::new().with_stacks();
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");

    // Without --auto-approve there is nobody to ask: the stream says so and ends, like
    // every failed run, with an error and a summary.
    let out = apply_json(&ws.direct(), &stack, &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--auto-approve"), "{}", stderr(&out));
    let refused = events(&out);
    assert_eq!(
        refused
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["error", "summary"]
    );
    assert_eq!(refused[1]["exit_code"], 2);

    // Every CreateQueue is throttled, so the dead-letter queue fails after the SDK's
    // retries; what depends on it is skipped, the rest is created.
    let proxy = ws.proxy(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        "throttle",
        "--fault-operations",
        "sqs:CreateQueue",
    ]);
    let log = dir.join("debug.log");
    let out = apply_json(
        &ws.through(&proxy),
        &stack,
        &["--auto-approve", "--log-file", log.to_str().unwrap()],
    );
    assert_exit(&out, 1);
    let events = json_lines(&out);
    for event in &events {
        assert_eq!(event["format_version"], 1, "{event}");
    }
    assert_eq!(events[0]["type"], "planned");
    assert_eq!(events[0]["plan"]["format_version"], 1);

    let failed = of_type(&events, "failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["address"], "sqs.queue.dead_letter_queue");
    assert_eq!(failed[0]["action"], "create");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("CreateQueue failed: Throttling"), "{error}");

    // The SDK's retries of the throttled call, each reported.
    let retried = of_type(&events, "retried");
    assert!(
        retried
            .iter()
            .any(|r| r["address"] == "sqs.queue.dead_letter_queue"
                && r["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("CreateQueue: attempt 2 after HTTP 400")),
        "{retried:#?}"
    );

    let skipped = of_type(&events, "skipped");
    let skipped_addresses: Vec<&str> = skipped
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert!(
        skipped_addresses.contains(&"sqs.queue.content_queue"),
        "{skipped:#?}"
    );
    let content_queue = skipped
        .iter()
        .find(|s| s["address"] == "sqs.queue.content_queue")
        .unwrap();
    assert_eq!(content_queue["because"], "sqs.queue.dead_letter_queue");
    assert_eq!(content_queue["reason"], "dependency_failed");
    for s in &skipped {
        assert!(
            of_type(&events, "started")
                .iter()
                .all(|e| e["address"] != s["address"]),
            "a skipped resource never starts: {s}"
        );
    }

    let started = of_type(&events, "started");
    let finished = of_type(&events, "finished");
    assert_eq!(started.len(), finished.len() + failed.len());
    for f in &finished {
        assert!(f["duration_ms"].is_u64(), "{f}");
    }
    assert!(
        of_type(&events, "outputs").is_empty(),
        "no outputs after a failure"
    );

    let summary = events.last().unwrap();
    assert_eq!(summary["type"], "summary", "the last line");
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["success"], false);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["skipped"], skipped.len());
    assert_eq!(summary["done"], finished.len());
    assert_eq!(summary["added"], finished.len());

    // The error names the request id of the answer (the proxy's throttling answer has
    // one), the same the log shows for that attempt.
    let id = error
        .split("(request id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no request id in `{error}`"));
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines().any(|l| l.contains("aws call failed")
            && l.contains("operation=\"CreateQueue\"")
            && l.contains(&format!("request_id=\"{id}\""))),
        "{id} not in the log"
    );

    // Once the faults are gone, the next run converges and its summary says so.
    let out = apply_json(&ws.direct(), &stack, &["--auto-approve"]);
    assert_exit(&out, 0);
    let events = json_lines(&out);
    let summary = events.last().unwrap();
    assert_eq!(
        (summary["type"].as_str(), summary["exit_code"].as_u64()),
        (Some("summary"), Some(0))
    );
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["added"], 1 + skipped.len());
    let outputs = of_type(&events, "outputs");
    assert_eq!(outputs.len(), 1);
    assert!(outputs[0]["outputs"]["api_url"]["value"].is_string());
}

#[test]
fn an_error_from_the_emulator_names_its_request_id() {
    // The strict emulator refuses keys it does not know, with a request id.
    let ws = Workspace::strict().with_stacks();
    let _dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let out = ws
        .command(&["plan", &stack])
        .env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("GetCallerIdentity failed: "), "{err}");
    assert!(err.contains("(request id "), "{err}");
}

/// `destroy --json`: the plan (a destroy), a start and an end for each resource, dependents
/// finished before what they depend on starts, no outputs, and a summary of 8 destroyed.
#[tokio::test(flavor = "multi_thread")]
async fn the_json_stream_of_a_destroy_has_each_deletion_in_dependency_order_and_the_summary() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let stack = crate::common::repo()
        .join("tests/stacks/storage.toml")
        .display()
        .to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let out = ws.ok(&["destroy", &stack, "--auto-approve", "--json"]);
    let events = json_lines(&out);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "planned");
    assert_eq!(kinds.last(), Some(&"summary"));
    let plan = &events[0]["plan"];
    assert_eq!(plan["destroy"], true);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 0, "change": 0, "destroy": 8})
    );
    // Only starts and ends in between: nothing failed, skipped, retried or output.
    assert!(
        kinds[1..kinds.len() - 1]
            .iter()
            .all(|k| *k == "started" || *k == "finished"),
        "{kinds:?}"
    );
    let position = |kind: &str, address: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["address"] == address)
            .unwrap_or_else(|| panic!("no `{kind}` event for {address}"))
    };
    let addresses = [
        "s3.bucket.content_bucket",
        "s3.bucket_policy.content_bucket_policy",
        "s3.bucket.trail_bucket",
        "s3.bucket_policy.trail_bucket_policy",
        "sqs.queue.dead_letter_queue",
        "sqs.queue.content_queue",
        "sqs.queue_policy.content_queue_policy",
        "s3.bucket_notification.content_notification",
    ];
    for address in addresses {
        let (start, end) = (position("started", address), position("finished", address));
        assert!(start < end, "{address}");
        assert_eq!(events[start]["action"], "delete", "{address}");
        assert_eq!(events[end]["action"], "delete", "{address}");
        assert!(events[end]["duration_ms"].is_u64(), "{}", events[end]);
    }
    assert_eq!(kinds.len(), 2 + 2 * addresses.len(), "{kinds:?}");
    // A dependent is gone before what it depends on is deleted.
    for (dependent, dependency) in [
        (
            "s3.bucket_notification.content_notification",
            "sqs.queue.content_queue",
        ),
        (
            "s3.bucket_notification.content_notification",
            "s3.bucket.content_bucket",
        ),
        (
            "sqs.queue_policy.content_queue_policy",
            "sqs.queue.content_queue",
        ),
        ("sqs.queue.content_queue", "sqs.queue.dead_letter_queue"),
        (
            "s3.bucket_policy.content_bucket_policy",
            "s3.bucket.content_bucket",
        ),
        (
            "s3.bucket_policy.trail_bucket_policy",
            "s3.bucket.trail_bucket",
        ),
    ] {
        assert!(
            position("finished", dependent) < position("started", dependency),
            "{dependent} before {dependency}"
        );
    }
    assert_eq!(
        events.last().unwrap(),
        &serde_json::json!({
            "type": "summary", "format_version": 1, "operation": "destroy", "success": true,
            "interrupted": false, "added": 0, "changed": 0, "destroyed": 8, "done": 8,
            "failed": 0, "skipped": 0, "exit_code": 0
        })
    );
    assert_eq!(crate::common::live_ids(&clients).await, Default::default());
}

/// `STRATA_LOG_FORMAT=json`: every line of the log is a JSON object, and the value of a
/// sensitive variable is in none of them, raw or percent-encoded, even at trace (where the
/// SDK logs the requests that carry it).
#[test]
fn json_logs_of_an_apply_with_a_sensitive_variable_never_show_it() {
    const SECRET: &str = "team s3cr3t/owner+x=1";
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = crate::common::repo()
        .join("tests/stacks/storage.toml")
        .display()
        .to_string();
    let log = dir.join("apply.log");
    let out = ws
        .command(&[
            "apply",
            &stack,
            "--auto-approve",
            "--var",
            &format!("owner={SECRET}"),
            "--log-file",
            log.to_str().unwrap(),
        ])
        .env("STRATA_LOG", "trace")
        .env("STRATA_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}` is not JSON")))
        .collect();
    // Structured: the CreateQueue attempts are events with their fields.
    let create_queue = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"] == "aws call succeeded"
                && l["fields"]["operation"] == "CreateQueue"
        })
        .count();
    assert_eq!(create_queue, 2, "both queues were created");
    // The tag that carries the secret was logged (the queue's tags, read back), redacted.
    fn strings(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::String(s) => out.push(s.clone()),
            Json::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Json::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut logged = Vec::new();
    lines.iter().for_each(|l| strings(l, &mut logged));
    assert!(
        logged
            .iter()
            .any(|s| s.contains("tags: Some({") && s.contains("\"owner\": \"[redacted]\"")),
        "the owner tag was not logged, redacted"
    );
    let encoded = percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    for form in [SECRET, "s3cr3t", &encoded] {
        assert!(!text.contains(form), "`{form}` is in the log");
    }
    for stream in [stdout(&out), stderr(&out)] {
        assert!(!stream.contains("s3cr3t"), "{stream}");
    }
}
