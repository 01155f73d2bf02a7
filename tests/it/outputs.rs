//! Outputs: what apply prints and streams, and `strata output` listing them, one of them and
//! all as JSON; sensitive outputs (declared so, or built from a sensitive variable) are
//! shown as `(sensitive)` in lists and `null` in the event stream, and their values only
//! when asked for by name or with --json.

use crate::common::{Workspace, assert_exit, json_lines, stderr, stdout};

const STACK: &str = r#"
[stack]
name = "outs"

[variables.token]
default = "tok-out-5ecret"
sensitive = true

[variables.visibility]
default = "30"

[resources.jobs]
type = "sqs.queue"
name = "outs-jobs"
visibility_timeout_seconds = "${var.visibility}"

[outputs]
queue_url = "${jobs.url}"
queue_arn = { value = "${jobs.arn}", description = "for the consumer's policy", sensitive = true }
token = "${var.token}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_listed_with_sensitive_ones_hidden_and_given_by_name_or_as_json() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("outs.toml"), STACK).unwrap();

    // Nothing applied yet.
    let out = ws.strata(&["output", "outs.toml"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: no outputs: stack `outs` (stage `default`) has no applied state at .strata/outs-default.state.json (is --state-dir right?)\n"
    );

    // The stream of the first apply carries them, sensitive values as null.
    let out = ws.ok(&["apply", "outs.toml", "--auto-approve", "--json"]);
    assert!(!stdout(&out).contains("5ecret"), "{}", stdout(&out));
    let url = clients.sqs.list_queues().send().await.unwrap().queue_urls()[0].clone();
    let arn = "arn:aws:sqs:us-east-1:000000000000:outs-jobs";
    let events = json_lines(&out);
    let outputs: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "outputs").collect();
    assert_eq!(
        outputs,
        [&serde_json::json!({
            "type": "outputs",
            "format_version": 1,
            "outputs": {
                "queue_url": { "value": url, "sensitive": false },
                "queue_arn": { "value": null, "sensitive": true },
                "token": { "value": null, "sensitive": true },
            }
        })]
    );

    // The list: one line each, in the stack's order.
    let listing = format!("queue_url = {url}\nqueue_arn = (sensitive)\ntoken = (sensitive)\n");
    let out = ws.ok_offline(&["output", "outs.toml"]);
    assert_eq!(stdout(&out), listing);
    // By name, a bare value, sensitive or not; as JSON, the value as JSON.
    for (name, bare) in [
        ("queue_url", url.as_str()),
        ("queue_arn", arn),
        ("token", "tok-out-5ecret"),
    ] {
        let out = ws.ok_offline(&["output", "outs.toml", name]);
        assert_eq!(stdout(&out), format!("{bare}\n"), "{name}");
        let out = ws.ok_offline(&["output", "outs.toml", name, "--json"]);
        assert_eq!(
            stdout(&out),
            format!("{}\n", serde_json::json!(bare)),
            "{name}"
        );
    }
    // All as JSON, values included.
    let out = ws.ok_offline(&["output", "outs.toml", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        all,
        serde_json::json!({
            "queue_url": { "value": url, "sensitive": false },
            "queue_arn": { "value": arn, "sensitive": true },
            "token": { "value": "tok-out-5ecret", "sensitive": true },
        })
    );
    let out = ws.strata(&["output", "outs.toml", "nope"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: no output `nope`; the outputs are: queue_url, queue_arn, token\n"
    );

    // A human apply that changes something ends with the same list.
    let out = ws.ok(&[
        "apply",
        "outs.toml",
        "--auto-approve",
        "--var",
        "visibility=45",
    ]);
    assert!(
        stdout(&out).ends_with(&format!("\nOutputs:\n\n{listing}")),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("5ecret"), "{}", stdout(&out));
}
