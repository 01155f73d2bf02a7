//! `strata validate` and `strata graph` on the seed's stacks, and the bad-input corpus.

use std::path::Path;

use crate::common::{assert_exit, repo, stderr, stdout, strata};

#[test]
fn producer_consumer_validates_with_summary_and_apply_order() {
    let out = strata(&repo(), &["validate", "stacks/producer-consumer.toml"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "stacks/producer-consumer.toml: valid\n  extends stacks/upload-form.toml\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("stack producer-consumer (stage=dev)"),
        "{text}"
    );
    assert!(text.contains("\n13 resources\n"), "{text}");
    assert!(
        text.contains("  sqs.queue                 2  dead_letter_queue, content_queue\n"),
        "{text}"
    );
    // Each resource comes after what it depends on.
    let position = |address: &str| {
        text.find(&format!(". {address}"))
            .unwrap_or_else(|| panic!("{address} in {text}"))
    };
    assert!(position("sqs.queue.dead_letter_queue") < position("sqs.queue.content_queue"));
    assert!(
        position("sqs.queue_policy.content_queue_policy")
            < position("s3.bucket_notification.content_notification")
    );
    assert!(position("s3.bucket_policy.trail_bucket_policy") < position("cloudtrail.trail.trail"));
    assert!(position("lambda.function.presign") < position("apigateway.rest_api.upload_api"));
    assert!(
        text.contains("outputs: api_url, content_bucket, queue_url, dead_letter_queue_url"),
        "{text}"
    );
    assert!(stderr(&out).is_empty());
}

#[test]
fn upload_form_validates_on_its_own() {
    let out = strata(
        &repo(),
        &["validate", "stacks/upload-form.toml", "--var", "stage=prod"],
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("stack upload-form (stage=prod)\n\n6 resources\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn explain_shows_where_each_value_comes_from_and_what_was_overridden() {
    let out = strata(
        &repo(),
        &["validate", "--explain", "tests/stacks/override/child.toml"],
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in\n{text}"))
            .to_string()
    };
    assert!(line("visibility_timeout_seconds = 120").ends_with(
        "tests/stacks/override/child.toml:9 (overrides tests/stacks/override/parent.toml:13)"
    ));
    assert!(
        line("message_retention_seconds = 86400").ends_with("tests/stacks/override/parent.toml:12")
    );
    assert!(
        line("name = \"${stack.name}-${var.stage}-jobs\"")
            .ends_with("tests/stacks/override/parent.toml:11")
    );
    assert!(line("audit (sqs.queue)").ends_with("tests/stacks/override/child.toml:11"));
    assert!(
        !text.contains("scratch"),
        "dropped resource must not appear:\n{text}"
    );
}

#[test]
fn graph_prints_dot_with_type_labels_and_both_kinds_of_edges() {
    let out = strata(&repo(), &["graph", "stacks/producer-consumer.toml"]);
    assert_exit(&out, 0);
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph strata {"));
    assert!(dot.contains("\"content_queue\" [label = \"sqs.queue.content_queue\"];"));
    assert!(dot.contains("\"content_queue\" -> \"dead_letter_queue\";"));
    assert!(dot.contains("\"content_notification\" -> \"content_queue_policy\" [style = dashed];"));
    assert_eq!(dot.matches("[label =").count(), 13);
}

#[test]
fn variables_set_names_and_unknown_ones_are_errors() {
    let out = strata(
        &repo(),
        &[
            "validate",
            "--explain",
            "stacks/producer-consumer.toml",
            "--var",
            "stage=prod",
        ],
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("stage = \"prod\""));

    let out = strata(
        &repo(),
        &[
            "validate",
            "stacks/producer-consumer.toml",
            "--var",
            "stag=prod",
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("error: unknown variable `stag` set with --var"),
        "{err}"
    );
    assert!(err.contains("help: did you mean `stage`?"), "{err}");

    let out = strata(
        &repo(),
        &[
            "validate",
            "stacks/producer-consumer.toml",
            "--var",
            "novalue",
        ],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("`novalue` is not NAME=VALUE"));
}

/// Every case under tests/corpus/bad fails with exactly the diagnostics recorded beside it
/// (refresh them with tests/corpus/bless.sh after an intended change).
#[test]
fn bad_stack_corpus_gives_the_recorded_diagnostics() {
    let dir = repo().join("tests/corpus/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in cases {
        let (file, expected) = if case.is_dir() {
            (case.join("main.toml"), case.join("main.stderr"))
        } else if case.extension().is_some_and(|e| e == "toml") {
            (case.clone(), case.with_extension("stderr"))
        } else {
            continue;
        };
        let relative = file
            .strip_prefix(repo())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let out = strata(&repo(), &["validate", &relative]);
        let want = std::fs::read_to_string(&expected)
            .unwrap_or_else(|_| panic!("missing {}", expected.display()));
        if out.status.code() != Some(1) || !out.stdout.is_empty() || stderr(&out) != want {
            failures.push(format!(
                "{relative}: exit {:?}\n--- expected\n{want}--- got\n{}",
                out.status.code(),
                stderr(&out)
            ));
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn validation_makes_no_network_call() {
    // An endpoint that would hang forever is never contacted: validate does not use AWS.
    let out =
        crate::common::strata_command(&repo(), &["validate", "stacks/producer-consumer.toml"])
            .env("AWS_ENDPOINT_URL", "http://10.255.255.1:9")
            .output()
            .unwrap();
    assert_exit(&out, 0);
    assert!(Path::new(&repo().join("stacks/functions/presign/index.py")).exists());
}
