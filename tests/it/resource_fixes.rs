//! Resource bugs found in review, each applied on a private emulator and read back with the
//! SDK; and the retry budgets of the two layers, counted at a proxy.

use std::path::Path;

use crate::common::{Workspace, assert_exit, stdout};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const FUNCTION_STACK: &str = r#"
[stack]
name = "fixes"

[resources.role]
type = "iam.role"
name = "fixes-function"
assume_role_policy = { service = "lambda.amazonaws.com" }

[resources.function]
type = "lambda.function"
name = "fixes-function"
runtime = "python3.12"
handler = "index.handler"
role = "${role.arn}"
code = "function"
architecture = "ARCH"
"#;

/// Before the fix, UpdateFunctionCode for the new code went out without the architecture,
/// and the architecture's own call was skipped because the code had changed: the function
/// kept x86_64 and every later plan showed the architecture again.
#[tokio::test(flavor = "multi_thread")]
async fn lambda_code_and_architecture_changed_in_one_apply_both_land() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = dir.join("fixes.toml");
    let stack = stack.to_str().unwrap();
    let code = dir.join("function");
    write(&code.join("index.py"), "def handler(e, c):\n    return 1\n");
    write(
        dir.join("fixes.toml").as_path(),
        &FUNCTION_STACK.replace("ARCH", "x86_64"),
    );
    ws.ok(&["apply", stack, "--auto-approve"]);

    write(&code.join("index.py"), "def handler(e, c):\n    return 2\n");
    write(
        dir.join("fixes.toml").as_path(),
        &FUNCTION_STACK.replace("ARCH", "arm64"),
    );
    let out = ws.ok(&["apply", stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        stdout(&out)
    );

    let live = clients
        .lambda
        .get_function_configuration()
        .function_name("fixes-function")
        .send()
        .await
        .unwrap();
    let expected = strata::resources::package::package_dir(&code).unwrap();
    assert_eq!(live.code_sha256(), Some(expected.sha256.as_str()));
    assert_eq!(
        live.architectures(),
        [aws_sdk_lambda::types::Architecture::Arm64]
    );
    let plan = ws.run(&["plan", stack, "--detailed-exitcode"]);
    assert_exit(&plan, 0);
}

/// Issue 22: AWS's GetFunction answers a function's tags only to a caller allowed
/// lambda:ListTags, and a TagsError instead to others. strata read that as "no tags": a
/// tagged function drifted on every plan, and every apply tagged it again. The proxy plays
/// such a caller (the emulator always sends the tags).
#[tokio::test(flavor = "multi_thread")]
async fn a_function_read_without_its_tags_is_an_error_not_drift() {
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = dir.join("fixes.toml");
    let stack = stack.to_str().unwrap();
    write(
        &dir.join("function/index.py"),
        "def handler(e, c):\n    return 1\n",
    );
    let tagged = format!(
        "{}tags = {{ team = \"payments\" }}\n",
        FUNCTION_STACK.replace("ARCH", "x86_64")
    );
    write(&dir.join("fixes.toml"), &tagged);
    ws.ok(&["apply", stack, "--auto-approve"]);
    ws.ok(&["plan", stack, "--detailed-exitcode"]);

    let proxy = ws.proxy(&["--realism", "function-tags-error"]);
    let out = crate::common::strata(
        dir,
        &[
            "plan",
            stack,
            "--detailed-exitcode",
            "--endpoint-url",
            &proxy.url,
        ],
    );
    assert_exit(&out, 1);
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("Lambda answered without the function's tags (AccessDeniedException: User: arn:aws:iam::000000000000:user/deployer is not authorized to perform: lambda:ListTags on resource: arn:aws:lambda:us-east-1:000000000000:function:fixes-function"),
        "{err}"
    );
    assert!(
        err.contains("reading them needs lambda:ListTags on the function"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(
        proxy.stats()["faults_by_operation"]["lambda:GET /2015-03-31/functions/{id}"],
        1
    );
}

const API_STACK: &str = r#"
[stack]
name = "fixes"

[resources.api]
type = "apigateway.rest_api"
name = "fixes-api"
lambda_invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fixes/invocations"
"#;

/// Issue 22: `endpoint_type` and `binary_media_types` forced a new REST API (a new id and
/// URL, and DeleteRestApi's quota of one per 30 s) though API Gateway changes both in
/// place. Through the proxy, which applies UpdateRestApi's patch paths as API Gateway does
/// (the emulator does not).
#[tokio::test(flavor = "multi_thread")]
async fn endpoint_type_and_binary_media_types_change_in_place() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let proxy = ws.proxy(&["--realism", "rest-api-patch"]);
    let dir = ws.dir();
    let via_proxy = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--endpoint-url", &proxy.url]);
        crate::common::strata(dir, &args)
    };
    write(&dir.join("api.toml"), API_STACK);
    assert_exit(&via_proxy(&["apply", "api.toml", "--auto-approve"]), 0);
    let id = crate::common::read_state(dir, "fixes", "default")["resources"]["api"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deployment = || async {
        let stage = clients
            .apigateway
            .get_stage()
            .rest_api_id(&id)
            .stage_name("prod");
        stage.send().await.unwrap().deployment_id.unwrap()
    };
    let mut deployed = deployment().await;

    let media = |types: &[&str]| format!("binary_media_types = {types:?}\n");
    // (stack lines, a path the plan changes, endpoint type and media types read back, and
    // whether a new deployment was made)
    for (extra, changed, endpoint, types, redeployed) in [
        (
            "endpoint_type = \"EDGE\"\n".to_string(),
            "endpoint_type",
            "EDGE",
            vec![],
            false,
        ),
        (
            media(&["image/png", "application/pdf"]),
            "binary_media_types",
            "EDGE",
            vec!["application/pdf", "image/png"],
            true,
        ),
        (
            media(&["image/png", "application/octet-stream"]),
            "binary_media_types[0]",
            "EDGE",
            vec!["application/octet-stream", "image/png"],
            true,
        ),
        (
            format!("endpoint_type = \"REGIONAL\"\n{}", media(&[])),
            "endpoint_type",
            "REGIONAL",
            vec![],
            true,
        ),
    ] {
        write(&dir.join("api.toml"), &format!("{API_STACK}{extra}"));
        let out = via_proxy(&["plan", "api.toml", "--json"]);
        assert_exit(&out, 0);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let planned = crate::common::planned_changes(&plan);
        assert_eq!(planned.len(), 1, "{extra}: {planned:?}");
        assert_eq!(planned[0].1, "update", "{extra}: {planned:?}");
        assert!(
            planned[0].2.iter().any(|p| p == changed),
            "{extra}: {planned:?}"
        );
        let out = via_proxy(&["apply", "api.toml", "--auto-approve"]);
        assert_exit(&out, 0);
        assert!(
            stdout(&out).contains("0 added, 1 changed, 0 destroyed"),
            "{}",
            stdout(&out)
        );

        let state = crate::common::read_state(dir, "fixes", "default");
        assert_eq!(state["resources"]["api"]["id"], id.as_str(), "{extra}");
        let api = clients
            .apigateway
            .get_rest_api()
            .rest_api_id(&id)
            .send()
            .await
            .unwrap();
        let live_types: Vec<&str> = api
            .endpoint_configuration()
            .unwrap()
            .types()
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(live_types, [endpoint], "{extra}");
        let mut live_media = api.binary_media_types().to_vec();
        live_media.sort();
        assert_eq!(live_media, types, "{extra}");
        // New media types take effect with a new deployment; an endpoint type needs none.
        let now = deployment().await;
        assert_eq!(now != deployed, redeployed, "{extra}");
        deployed = now;
        assert_exit(&via_proxy(&["plan", "api.toml", "--detailed-exitcode"]), 0);
    }
    let apis = clients.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 1);
}

const TRAIL_STACK: &str = r#"
[stack]
name = "fixes"

[resources.logs]
type = "s3.bucket"
name = "fixes-trail-logs"
force_destroy = true

[resources.logs_policy]
type = "s3.bucket_policy"
bucket = "${logs.name}"

[resources.logs_policy.policy]
Version = "2012-10-17"
Statement = [
  { Sid = "AclCheck", Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "s3:GetBucketAcl", Resource = "${logs.arn}" },
  { Sid = "Write", Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "s3:PutObject", Resource = "${logs.arn}/AWSLogs/*", Condition = { StringEquals = { "s3:x-amz-acl" = "bucket-owner-full-control" } } },
]

[resources.trail]
type = "cloudtrail.trail"
name = "fixes-trail"
s3_bucket_name = "${logs.name}"
depends_on = ["logs_policy"]
SELECTORS
"#;

const DATA_EVENTS: &str = r#"event_selectors = [
  { read_write_type = "WriteOnly", include_management_events = false, data_resources = [{ type = "AWS::S3::Object", values = ["${logs.arn}/"] }] },
]"#;

/// The trail's selectors, read back: (read/write type, management events, data resources).
async fn selectors(clients: &strata::aws::Clients) -> Vec<(String, Option<bool>, usize)> {
    let out = clients
        .cloudtrail
        .get_event_selectors()
        .trail_name("fixes-trail")
        .send()
        .await
        .unwrap();
    out.event_selectors()
        .iter()
        .map(|s| {
            (
                s.read_write_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                s.include_management_events(),
                s.data_resources().len(),
            )
        })
        .collect()
}

/// Before the fix, a stack without selectors (or with `event_selectors = []`) wrote
/// nothing: the data event selectors stayed in AWS, and with `[]` every plan showed the
/// change again.
#[tokio::test(flavor = "multi_thread")]
async fn cloudtrail_selectors_removed_from_the_stack_go_back_to_the_default() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let file = dir.join("fixes.toml");
    let stack = file.to_str().unwrap();

    write(&file, &TRAIL_STACK.replace("SELECTORS", DATA_EVENTS));
    ws.ok(&["apply", stack, "--auto-approve"]);
    assert_eq!(
        selectors(&clients).await,
        [("WriteOnly".to_string(), Some(false), 1)]
    );

    let default = [("All".to_string(), Some(true), 0)];
    for removed in ["", "event_selectors = []"] {
        write(&file, &TRAIL_STACK.replace("SELECTORS", DATA_EVENTS));
        ws.ok(&["apply", stack, "--auto-approve"]);
        write(&file, &TRAIL_STACK.replace("SELECTORS", removed));
        let _out = ws.ok(&["apply", stack, "--auto-approve"]);
        assert_eq!(selectors(&clients).await, default, "with `{removed}`");
        let plan = ws.run(&["plan", stack, "--detailed-exitcode"]);
        assert_exit(&plan, 0);
    }
}

/// A throttled call is retried by the SDK (8 attempts) and not again by strata's own loop
/// around it, even where that loop waits out an eventual-consistency answer: before, the
/// loop retried the transient error for its whole minute, 8 SDK attempts at a time.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_call_is_retried_by_the_sdk_only() {
    use strata::aws::retry::{Backoff, SDK_MAX_ATTEMPTS, retry_send};
    let ws = Workspace::new();
    let proxy = ws.proxy(&[
        "--fault-rate",
        "1",
        "--seed",
        "1",
        "--fault-kinds",
        "throttle",
    ]);
    let aws = crate::common::clients_at(&proxy.url, crate::common::TEST_REGION).await;
    let err = retry_send(
        Backoff::CONSISTENCY,
        |e| e.code_is(&["NoSuchBucket"]),
        "PutBucketPolicy",
        || aws.s3.put_bucket_policy().bucket("any").policy("{}").send(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("SlowDown"), "{err}");
    assert_eq!(err.kind, strata::aws::ErrorKind::Transient);
    assert_eq!(proxy.stats()["total"], u64::from(SDK_MAX_ATTEMPTS));
}
