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
    assert!(text.contains("\n14 resources\n"), "{text}");
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
        stdout(&out).contains("stack upload-form (stage=prod)\n\n7 resources\n"),
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
    assert_eq!(dot.matches("[label =").count(), 14);
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

/// The bad-stack corpus (tests/corpus/bad), every case, with where each of its errors is
/// reported, in order: `LINE:COL` in the case's file, `FILE:LINE:COL` for a file of a
/// directory case. Kept by hand, apart from the recorded diagnostics that
/// tests/corpus/bless.sh rewrites: blessing an error that moved still fails here.
pub const CORPUS: &[(&str, &[&str])] = &[
    (
        "01-toml-syntax-errors.toml",
        &["6:15", "7:30", "8:38", "9:16"],
    ),
    ("02-duplicate-key.toml", &["8:1"]),
    ("03-string-for-int.toml", &["7:30"]),
    ("04-int-for-bool.toml", &["7:14"]),
    ("05-table-for-string.toml", &["13:11"]),
    ("06-unknown-top-level-key.toml", &["8:2"]),
    ("07-unknown-attribute-typo.toml", &["7:1"]),
    ("08-missing-required-attribute.toml", &["9:12"]),
    ("09-missing-stack.toml", &["1:1"]),
    ("10-bad-stack-name.toml", &["2:8"]),
    ("11-unknown-resource-type-typo.toml", &["5:8"]),
    ("12-resource-without-type.toml", &["4:12"]),
    ("13-resource-not-a-table.toml", &["5:16"]),
    ("14-sqs-visibility-timeout-too-high.toml", &["7:30"]),
    ("15-sqs-retention-too-low.toml", &["7:29"]),
    ("16-sqs-max-receive-count-zero.toml", &["12:81"]),
    ("17-lambda-timeout-too-high.toml", &["16:11"]),
    ("18-lambda-memory-too-low.toml", &["16:15"]),
    ("19-cloudtrail-read-write-type.toml", &["13:23"]),
    ("20-s3-event-typo.toml", &["16:51"]),
    ("21-lambda-runtime.toml", &["12:11"]),
    ("22-bucket-name-literal.toml", &["6:8"]),
    ("23-bucket-name-uppercase.toml", &["9:8"]),
    ("24-unknown-reference-resource-typo.toml", &["11:41"]),
    ("25-unknown-reference-attribute.toml", &["9:15"]),
    ("26-unknown-variable.toml", &["9:23"]),
    ("27-stack-stage.toml", &["9:23"]),
    ("28-aws-acount-id.toml", &["6:23"]),
    ("29-empty-reference.toml", &["6:16"]),
    ("30-three-part-reference.toml", &["11:41"]),
    ("31-unterminated-reference.toml", &["9:16"]),
    ("32-reference-cycle.toml", &["7:41"]),
    ("33-depends-on-cycle.toml", &["7:15"]),
    ("34-depends-on-unknown.toml", &["17:15"]),
    ("35-variable-required.toml", &["4:12"]),
    ("36-output-without-value.toml", &["8:10"]),
    ("37-extends-missing-file", &["main.toml:1:11"]),
    ("38-extends-cycle", &["base.toml:1:11"]),
    ("39-extends-non-string.toml", &["1:11"]),
    ("40-drop-not-in-parent", &["main.toml:6:12"]),
    ("41-change-inherited-type", &["main.toml:7:8"]),
    ("42-empty-file.toml", &[]),
    ("43-only-comments.toml", &[]),
    ("44-non-utf8.toml", &["6:6"]),
    ("45-policy-without-statement.toml", &["12:1"]),
    (
        "46-several-errors.toml",
        &["10:29", "15:1", "16:41", "16:82", "18:12", "24:11", "28:12"],
    ),
    ("47-toml-missing-equals.toml", &["6:6"]),
    ("48-duplicate-table.toml", &["8:12", "9:1", "10:1"]),
    ("49-integer-too-large.toml", &["7:29"]),
    ("50-float-for-int.toml", &["7:30"]),
    ("51-variable-default-not-string.toml", &["5:11"]),
    ("52-variable-not-a-table.toml", &["5:9"]),
    ("53-invalid-resource-name.toml", &["4:12"]),
    ("54-depends-on-itself.toml", &["7:15"]),
    ("55-nested-unknown-attribute.toml", &["11:18", "11:61"]),
    ("56-notification-without-events.toml", &["16:50"]),
    ("57-drop-without-parent.toml", &["8:12"]),
    ("58-extends-drop-referenced", &["base.toml:11:41"]),
    ("59-extends-parent-invalid", &["base.toml:7:30"]),
    ("60-extends-parent-syntax-error", &["base.toml:4:24"]),
    ("61-variable-not-allowed.toml", &["5:11"]),
    ("62-missing-stack-name.toml", &["1:2", "2:1"]),
    ("63-trust-policy-without-service.toml", &["7:22"]),
    ("64-stack-not-a-table.toml", &["1:9"]),
    ("65-unknown-output-key.toml", &["10:1"]),
    ("66-reference-in-multiline-string.toml", &["19:15"]),
    ("67-policy-as-json-string.toml", &["11:10"]),
    ("68-output-bad-reference.toml", &["10:14", "11:14"]),
    (
        "69-bad-region-and-account-ids.toml",
        &["3:10", "4:24", "4:31"],
    ),
    ("70-for-each-duplicate-key.toml", &["6:35"]),
    ("71-for-each-missing-instance.toml", &["10:16"]),
    ("72-each-outside-for-each.toml", &["6:23"]),
    ("73-for-each-reference-without-key.toml", &["12:41"]),
    ("74-for-each-unknown-until-apply.toml", &["10:13"]),
    ("75-for-each-over-string-variable.toml", &["9:13"]),
    ("76-variable-type-and-default.toml", &["6:11", "9:8"]),
    ("77-sqs-fifo-name-on-standard-queue.toml", &["6:8"]),
    ("78-sqs-fifo-queue-name-without-fifo.toml", &["6:8"]),
    ("79-sqs-redrive-target-not-an-arn.toml", &["7:40"]),
    (
        "80-sqs-content-based-deduplication-on-standard-queue.toml",
        &["7:31"],
    ),
    (
        "81-sqs-fifo-queue-with-standard-dead-letter-queue.toml",
        &["8:40"],
    ),
    ("82-sqs-managed-sse-and-kms-key.toml", &["7:27"]),
    ("83-sqs-kms-key-not-a-key.toml", &["7:21"]),
    ("84-sqs-queue-name-too-long.toml", &["6:8"]),
    ("85-sqs-queue-name-characters.toml", &["6:8"]),
    ("86-tag-key-aws-prefix.toml", &["7:10"]),
    ("87-tag-key-too-long.toml", &["7:10"]),
    ("88-tag-value-too-long.toml", &["7:17"]),
    ("89-tag-characters.toml", &["7:17"]),
    ("90-too-many-tags.toml", &["7:8"]),
    ("91-iam-tag-keys-differ-in-case.toml", &["8:33"]),
    ("92-cloudtrail-empty-tag-value.toml", &["8:17"]),
    ("93-s3-duplicate-lifecycle-rule-ids.toml", &["9:10"]),
    ("94-s3-lifecycle-rule-without-action.toml", &["8:3"]),
    ("95-s3-kms-key-with-aes256.toml", &["7:14"]),
    ("96-bucket-name-adjacent-dots.toml", &["6:8"]),
    ("97-bucket-name-ip-address.toml", &["6:8"]),
    ("98-bucket-name-reserved-prefix.toml", &["6:8"]),
    ("99-bucket-name-reserved-suffix.toml", &["6:8"]),
    ("100-bucket-name-too-short.toml", &["6:8"]),
    ("101-s3-lifecycle-rule-id-too-long.toml", &["8:10"]),
    ("102-state-bucket-name-adjacent-dots.toml", &["1:29"]),
    ("103-policy-effect-typo.toml", &["11:14"]),
    ("104-policy-version.toml", &["9:11"]),
    ("105-policy-action-shape.toml", &["11:49"]),
    ("106-policy-principal-string.toml", &["11:35"]),
    ("107-policy-principal-missing.toml", &["11:3"]),
    ("108-policy-resource-not-an-arn.toml", &["11:76"]),
    ("109-policy-duplicate-sid.toml", &["12:11"]),
    ("110-policy-unknown-statement-key.toml", &["11:109"]),
    ("111-policy-action-and-not-action.toml", &["11:56"]),
    ("112-policy-condition-operator-typo.toml", &["11:114"]),
    ("113-policy-not-principal-with-allow.toml", &["11:23"]),
    ("114-policy-missing-effect.toml", &["11:3"]),
    ("115-policy-empty-action-list.toml", &["11:49"]),
    ("116-policy-unknown-document-key.toml", &["10:1"]),
    ("117-policy-service-principal-shape.toml", &["11:47"]),
    ("118-policy-aws-principal-shape.toml", &["11:43"]),
    ("119-policy-condition-key-shape.toml", &["11:123"]),
    ("120-policy-unknown-principal-kind.toml", &["11:37"]),
    ("121-bucket-policy-names-another-bucket.toml", &["11:76"]),
    ("122-bucket-policy-object-action-on-bucket.toml", &["11:49"]),
    (
        "123-bucket-policy-bucket-action-on-objects.toml",
        &["11:49"],
    ),
    ("124-bucket-policy-non-s3-action.toml", &["11:49"]),
    ("125-bucket-policy-non-s3-resource.toml", &["11:76"]),
    ("126-bucket-policy-bucket-is-an-arn.toml", &["6:10"]),
    ("127-bucket-policy-too-large.toml", &["8:1"]),
    ("128-queue-policy-too-many-actions.toml", &["11:88"]),
    ("129-queue-policy-non-sqs-action.toml", &["11:78"]),
    ("130-queue-policy-url-is-an-arn.toml", &["6:13"]),
    ("131-queue-policy-too-many-statements.toml", &["10:13"]),
    ("132-queue-policy-too-many-principals.toml", &["11:35"]),
    ("133-queue-policy-too-many-conditions.toml", &["11:165"]),
    ("134-role-name-characters.toml", &["6:8"]),
    ("135-role-name-too-long.toml", &["6:8"]),
    ("136-role-path-shape.toml", &["8:8"]),
    ("137-role-description-characters.toml", &["8:15"]),
    ("138-role-inline-policy-with-principal.toml", &["12:23"]),
    ("139-role-inline-policy-without-resource.toml", &["12:3"]),
    ("140-role-inline-policy-name.toml", &["9:36"]),
    ("141-role-inline-policy-sid-characters.toml", &["12:11"]),
    ("142-role-trust-policy-with-resource.toml", &["7:158"]),
    ("143-role-trust-policy-non-sts-action.toml", &["7:140"]),
    ("144-role-trust-service-shape.toml", &["7:34"]),
    ("145-role-trust-shorthand-extra-key.toml", &["7:58"]),
    ("146-role-managed-policy-arn.toml", &["8:24"]),
    ("147-role-managed-policy-twice.toml", &["8:74"]),
    ("148-role-too-many-managed-policies.toml", &["8:23"]),
    ("149-role-inline-policies-too-large.toml", &["9:20"]),
    ("150-lambda-runtime-deprecated.toml", &["7:11"]),
    ("151-lambda-function-name-characters.toml", &["6:8"]),
    ("152-lambda-handler-with-space.toml", &["8:11"]),
    ("153-lambda-role-not-an-arn.toml", &["9:8"]),
    ("154-lambda-environment-reserved-key.toml", &["11:17"]),
    ("155-lambda-environment-key-shape.toml", &["11:17"]),
    ("156-lambda-environment-too-large.toml", &["11:15"]),
    ("157-lambda-description-too-long.toml", &["11:15"]),
    ("158-permission-statement-id-characters.toml", &["8:16"]),
    ("159-permission-action-shape.toml", &["8:10"]),
    ("160-permission-principal-shape.toml", &["7:13"]),
    ("161-permission-source-account.toml", &["8:18"]),
    ("162-permission-source-arn.toml", &["8:14"]),
    ("163-permission-function-name.toml", &["6:17"]),
    ("164-api-invoke-arn-is-function-arn.toml", &["7:21"]),
    ("165-api-stage-name-characters.toml", &["8:14"]),
    ("166-api-private-endpoint.toml", &["8:17"]),
    ("167-api-binary-media-type-shape.toml", &["8:23"]),
    ("168-api-binary-media-type-twice.toml", &["8:36"]),
    ("169-api-empty-name.toml", &["6:8"]),
    ("170-trail-name-adjacent-punctuation.toml", &["6:8"]),
    ("171-trail-name-ip-address.toml", &["6:8"]),
    (
        "172-trail-multi-region-without-global-events.toml",
        &["9:33"],
    ),
    ("173-trail-s3-data-resource-without-slash.toml", &["9:61"]),
    ("174-trail-data-resource-of-another-type.toml", &["9:67"]),
    ("175-trail-too-many-event-selectors.toml", &["8:19"]),
    ("176-trail-too-many-data-resources.toml", &["8:19"]),
    ("177-trail-key-prefix-too-long.toml", &["8:17"]),
    ("178-trail-bucket-name-uppercase.toml", &["7:18"]),
    ("179-notification-fifo-queue.toml", &["8:17"]),
    ("180-notification-queue-arn-is-a-url.toml", &["8:17"]),
    ("181-notification-duplicate-ids.toml", &["9:10"]),
    (
        "182-notification-overlapping-configurations.toml",
        &["9:78"],
    ),
    ("183-notification-event-twice.toml", &["8:94"]),
    ("184-notification-bucket-is-an-arn.toml", &["6:10"]),
    ("185-each-key-outside-for-each.toml", &["12:41"]),
    (
        "186-sqs-redrive-target-is-a-queue-url-reference.toml",
        &["11:40"],
    ),
    (
        "187-api-invoke-arn-is-a-function-arn-reference.toml",
        &["15:21"],
    ),
    (
        "188-trail-s3-data-resource-bucket-arn-reference.toml",
        &["13:61"],
    ),
    ("189-queue-policy-url-is-an-arn-reference.toml", &["10:13"]),
    ("190-two-queues-with-one-name.toml", &["10:8"]),
    ("191-for-each-instances-with-one-name.toml", &["7:8"]),
    ("192-two-policies-for-one-bucket.toml", &["11:10"]),
    ("193-role-names-differ-in-case.toml", &["11:8"]),
    ("194-tags-from-a-variable-with-an-aws-key.toml", &["11:8"]),
    ("195-policy-empty-statement-list.toml", &["10:13"]),
    ("196-policy-statement-not-a-table.toml", &["11:3"]),
    ("197-policy-statement-wrong-type.toml", &["10:13"]),
    ("198-policy-condition-not-a-table.toml", &["11:112"]),
    (
        "199-policy-condition-operator-not-a-table.toml",
        &["11:121"],
    ),
    ("200-policy-condition-value-nested.toml", &["11:147"]),
    ("201-policy-principal-array.toml", &["11:35"]),
    ("202-policy-federated-principal-shape.toml", &["7:107"]),
    ("203-policy-canonical-user-shape.toml", &["11:53"]),
    ("204-policy-effect-not-a-string.toml", &["11:14"]),
    ("205-policy-resource-and-not-resource.toml", &["11:100"]),
    ("206-trust-policy-too-large.toml", &["7:22"]),
    ("207-role-max-session-duration.toml", &["8:24"]),
    ("208-lambda-architecture.toml", &["11:16"]),
    ("209-lambda-environment-value-not-a-string.toml", &["11:27"]),
    ("210-api-endpoint-type.toml", &["8:17"]),
    ("211-s3-sse-algorithm.toml", &["7:17"]),
    ("212-s3-lifecycle-prefix-too-long.toml", &["8:27"]),
    ("213-sqs-delay-too-long.toml", &["7:17"]),
    ("214-sqs-message-size-too-large.toml", &["7:24"]),
    ("215-sqs-receive-wait-too-long.toml", &["7:29"]),
    ("216-notification-empty-id.toml", &["8:10"]),
    ("217-notification-suffix-too-long.toml", &["8:104"]),
    ("218-trail-data-resource-type.toml", &["9:32"]),
    ("219-permission-function-name-too-long.toml", &["6:17"]),
    (
        "220-queue-policy-resource-is-a-queue-url-reference.toml",
        &["15:108"],
    ),
    ("221-module-source-missing", &["main.toml:5:10"]),
    ("222-module-cycle", &["queues.toml:5:10"]),
    ("223-module-unknown-output", &["main.toml:10:9"]),
    ("224-module-for-each-with-backend", &["form.toml:4:2"]),
    (
        "225-module-region-and-accounts",
        &["form.toml:3:1", "form.toml:4:1"],
    ),
    ("226-module-instances-share-a-name", &["form.toml:9:8"]),
    (
        "227-module-variables",
        &["main.toml:4:10", "main.toml:6:10"],
    ),
    ("228-module-sensitive-variable", &["main.toml:9:18"]),
    ("240-data-unknown-type.toml", &["5:8"]),
    ("241-data-missing-id.toml", &["4:7"]),
    ("242-data-unknown-attribute.toml", &["10:21"]),
    ("243-data-stack-file-missing.toml", &["6:9"]),
    ("244-data-id-refers-to-resource.toml", &["10:7"]),
    ("260-lifecycle-unknown-ignored-attribute.toml", &["7:41"]),
    ("261-lifecycle-bad-keys.toml", &["9:19", "10:1", "11:18"]),
];

/// A corpus case: its name, the file to validate (relative to the repository) and the
/// diagnostics recorded for it.
pub struct Case {
    pub name: &'static str,
    pub file: String,
    pub expected: String,
}

/// The cases of [`CORPUS`], after checking that the directory holds exactly those: a case
/// added without its entry, or an entry whose case is gone, fails.
pub fn corpus() -> Vec<Case> {
    let dir = repo().join("tests/corpus/bad");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    found.sort();
    let mut listed: Vec<&str> = CORPUS.iter().map(|(name, _)| *name).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "tests/corpus/bad and CORPUS list different cases"
    );
    assert_eq!(CORPUS.len(), 235);
    CORPUS
        .iter()
        .map(|(name, _)| {
            let case = dir.join(name);
            let (file, expected) = if case.is_dir() {
                (case.join("main.toml"), case.join("main.stderr"))
            } else {
                (case.clone(), case.with_extension("stderr"))
            };
            Case {
                name,
                file: format!(
                    "tests/corpus/bad/{}",
                    file.strip_prefix(&dir).unwrap().display()
                ),
                expected: std::fs::read_to_string(&expected)
                    .unwrap_or_else(|_| panic!("missing {}", expected.display())),
            }
        })
        .collect()
}

/// Where the errors of `stderr` point (the `-->` lines), relative to the case as
/// [`CORPUS`] writes them.
fn locations(case: &str, stderr: &str) -> Vec<String> {
    let prefix = format!("tests/corpus/bad/{case}");
    stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--> "))
        .map(|place| {
            place
                .strip_prefix(&format!("{prefix}/"))
                .or_else(|| place.strip_prefix(&format!("{prefix}:")))
                .unwrap_or(place)
                .to_string()
        })
        .collect()
}

/// The recorded diagnostics are what the corpus test compares with: rewriting them in CI
/// (`STRATA_BLESS`, or tests/corpus/bless.sh) would make it compare the output with itself.
fn refuse_blessing_in_ci() {
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(
        !ci || std::env::var_os("STRATA_BLESS").is_none(),
        "STRATA_BLESS is set in CI (CI={:?}): blessing rewrites what the tests compare with",
        std::env::var("CI").unwrap_or_default()
    );
}

/// Every case under tests/corpus/bad fails with exactly the diagnostics recorded beside it
/// (refresh them with tests/corpus/bless.sh after an intended change), at the places
/// [`CORPUS`] lists.
#[test]
fn bad_stack_corpus_gives_the_recorded_diagnostics() {
    refuse_blessing_in_ci();
    let cases = corpus();
    let mut failures = Vec::new();
    for (case, (_, want_at)) in cases.iter().zip(CORPUS) {
        let out = strata(&repo(), &["validate", &case.file]);
        let got = stderr(&out);
        if out.status.code() != Some(1) || !out.stdout.is_empty() || got != case.expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{}--- got\n{got}",
                case.file,
                out.status.code(),
                case.expected
            ));
        }
        let at = locations(case.name, &got);
        if at != *want_at {
            failures.push(format!(
                "{}: errors at {at:?}, CORPUS says {want_at:?}",
                case.file
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
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
