//! No silent takeover: an object that exists before the first apply, and that this stack's
//! state did not create, is never adopted by `apply`. Apply exits 1 naming the object and
//! `strata import`, records nothing (so the next apply refuses again instead of adopting it
//! through the write-ahead record), and the object and its contents are untouched.

use std::path::Path;

use aws_sdk_sqs::types::QueueAttributeName as Q;

use crate::common::{Workspace, assert_exit, read_state, stderr};

const HEADER: &str = r#"
[stack]
name = "takeover"

[variables.stage]
default = "dev"
"#;

fn write_stack(dir: &Path, resources: &str) {
    std::fs::write(dir.join("stack.toml"), format!("{HEADER}\n{resources}")).unwrap();
}

/// Applies twice: both runs exit 1 with the refusal naming `what` and the id to import, and
/// the state records neither the resource nor a pending create of it.
fn apply_is_refused(ws: &Workspace, type_name: &str, what: &str, id: &str) {
    for run_number in 1..=2 {
        let out = ws.run(&["apply", "stack.toml", "--auto-approve"]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        for expected in [
            format!("{type_name} {what} already exists ("),
            "is not in this stack's state; strata does not take over objects it did not create"
                .to_string(),
            format!("To manage it with this stack, run `strata import STACK_FILE RESOURCE {id}`"),
        ] {
            assert!(
                err.contains(&expected),
                "run {run_number}: expected `{expected}` in:\n{err}"
            );
        }
        let state = read_state(ws.dir(), "takeover", "dev");
        assert_eq!(
            state["resources"].as_object().map(|r| r.len()).unwrap_or(0),
            0,
            "run {run_number}: {state}"
        );
        assert_eq!(
            state["pending"].as_object().map(|p| p.len()).unwrap_or(0),
            0,
            "run {run_number}: the refused create is not left pending: {state}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_bucket_with_an_object_is_not_taken_over() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let bucket = "someone-elses-bucket";
    aws.s3.create_bucket().bucket(bucket).send().await.unwrap();
    aws.s3
        .put_object()
        .bucket(bucket)
        .key("precious.txt")
        .body(b"keep me".to_vec().into())
        .send()
        .await
        .unwrap();
    write_stack(
        dir,
        &format!(
            r#"
[resources.content]
type = "s3.bucket"
name = "{bucket}"
versioning = true
force_destroy = true
tags = {{ owner = "strata" }}
"#
        ),
    );

    apply_is_refused(&ws, "s3.bucket", &format!("`{bucket}`"), bucket);

    let object = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key("precious.txt")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"keep me");
    let versioning = aws
        .s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), None, "versioning was not turned on");
    // A bucket without tags answers NoSuchTagSet, as on AWS; any other answer is a failure.
    let tags = aws
        .s3
        .get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .map_err(strata::aws::sdk("GetBucketTagging"));
    assert_eq!(
        tags.as_ref().map_err(|e| e.code.as_deref()).err(),
        Some(Some("NoSuchTagSet")),
        "the bucket was not tagged: {tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_queue_with_a_message_is_not_taken_over() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let name = "someone-elses-queue";
    // Created with no attributes, as the stack asks: CreateQueue would answer its URL.
    let url = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    aws.sqs
        .send_message()
        .queue_url(&url)
        .message_body("keep me")
        .send()
        .await
        .unwrap();
    write_stack(
        dir,
        &format!(
            r#"
[resources.jobs]
type = "sqs.queue"
name = "{name}"
tags = {{ owner = "strata" }}
"#
        ),
    );

    apply_is_refused(&ws, "sqs.queue", &format!("`{name}`"), &url);

    let attributes = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(Q::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes[&Q::VisibilityTimeout], "30");
    assert_eq!(attributes[&Q::ApproximateNumberOfMessages], "1");
    let tags = aws
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()), "{tags:?}");
    let received = aws
        .sqs
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, ["keep me"]);
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

async fn create_role(aws: &strata::aws::Clients, name: &str) -> String {
    aws.iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(TRUST)
        .description("someone else's role")
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_role_is_not_taken_over() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let name = "someone-elses-role";
    create_role(&aws, name).await;
    write_stack(
        dir,
        &format!(
            r#"
[resources.runner]
type = "iam.role"
name = "{name}"
description = "strata's role"
assume_role_policy = {{ service = "lambda.amazonaws.com" }}
managed_policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
"#
        ),
    );

    apply_is_refused(&ws, "iam.role", &format!("`{name}`"), name);

    let role = aws.iam.get_role().role_name(name).send().await.unwrap();
    assert_eq!(
        role.role().unwrap().description(),
        Some("someone else's role")
    );
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "{attached:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_function_is_not_taken_over() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let code = dir.join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("index.py"),
        "def handler(event, context):\n    return 1\n",
    )
    .unwrap();
    let package = strata::resources::package::package_dir(&code).unwrap();
    let role = create_role(&aws, "someone-elses-function-role").await;
    let name = "someone-elses-function";
    aws.lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .handler("index.handler")
        .role(&role)
        .description("someone else's function")
        .memory_size(128)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(package.bytes))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Other code, so that a takeover would upload it.
    std::fs::write(
        code.join("index.py"),
        "def handler(event, context):\n    return 2\n",
    )
    .unwrap();
    write_stack(
        dir,
        &format!(
            r#"
[resources.worker]
type = "lambda.function"
name = "{name}"
runtime = "python3.12"
handler = "index.handler"
role = "{role}"
code = "code"
description = "strata's function"
memory_size = 256
"#
        ),
    );

    apply_is_refused(&ws, "lambda.function", &format!("`{name}`"), name);

    let function = aws
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    assert_eq!(config.description(), Some("someone else's function"));
    assert_eq!(config.memory_size(), Some(128));
    assert_eq!(config.code_sha256(), Some(package.sha256.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_rest_api_with_the_stacks_name_is_not_shadowed() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let name = "takeover-dev-api";
    let id = aws
        .apigateway
        .create_rest_api()
        .name(name)
        .description("someone else's API")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    write_stack(
        dir,
        r#"
[resources.api]
type = "apigateway.rest_api"
name = "${stack.name}-${var.stage}-api"
description = "strata's API"
lambda_invoke_arn = "arn:${aws.partition}:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:${aws.partition}:lambda:us-east-1:000000000000:function:none/invocations"
"#,
    );

    apply_is_refused(
        &ws,
        "apigateway.rest_api",
        &format!("`{name}` (id {id})"),
        &id,
    );

    // Still the one API of that name, as it was: no second one, no methods, no stage.
    let apis = aws.apigateway.get_rest_apis().send().await.unwrap();
    let named: Vec<_> = apis
        .items()
        .iter()
        .filter(|a| a.name() == Some(name))
        .collect();
    assert_eq!(named.len(), 1, "{apis:?}");
    assert_eq!(named[0].id(), Some(id.as_str()));
    assert_eq!(named[0].description(), Some("someone else's API"));
    let resources = aws
        .apigateway
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(resources.items().len(), 1, "only the root: {resources:?}");
    let stages = aws
        .apigateway
        .get_stages()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap();
    assert!(stages.item().is_empty(), "{stages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_trail_is_not_taken_over() {
    let ws = Workspace::new();
    let aws = ws.clients().await;
    let dir = ws.dir();
    let bucket = "someone-elses-trail-logs";
    aws.s3.create_bucket().bucket(bucket).send().await.unwrap();
    let name = "someone-elses-trail";
    aws.cloudtrail
        .create_trail()
        .name(name)
        .s3_bucket_name(bucket)
        .send()
        .await
        .unwrap();
    write_stack(
        dir,
        &format!(
            r#"
[resources.audit]
type = "cloudtrail.trail"
name = "{name}"
s3_bucket_name = "{bucket}"
s3_key_prefix = "strata"
enable_logging = true
"#
        ),
    );

    apply_is_refused(&ws, "cloudtrail.trail", &format!("`{name}`"), name);

    let trail = aws.cloudtrail.get_trail().name(name).send().await.unwrap();
    assert_eq!(trail.trail().unwrap().s3_key_prefix(), None);
    let status = aws
        .cloudtrail
        .get_trail_status()
        .name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(status.is_logging(), Some(false), "logging was not started");
}
