//! Resource bugs found in review, each applied on a private emulator and read back with the
//! SDK; and the retry budgets of the two layers, counted at a proxy.

use std::path::Path;

use crate::common::{Emulator, Proxy, assert_exit, run, stdout};

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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = dir.join("fixes.toml");
    let stack = stack.to_str().unwrap();
    let code = dir.join("function");
    write(&code.join("index.py"), "def handler(e, c):\n    return 1\n");
    write(
        dir.join("fixes.toml").as_path(),
        &FUNCTION_STACK.replace("ARCH", "x86_64"),
    );
    assert_exit(&run(dir, &emulator, &["apply", stack, "--auto-approve"]), 0);

    write(&code.join("index.py"), "def handler(e, c):\n    return 2\n");
    write(
        dir.join("fixes.toml").as_path(),
        &FUNCTION_STACK.replace("ARCH", "arm64"),
    );
    let out = run(dir, &emulator, &["apply", stack, "--auto-approve"]);
    assert_exit(&out, 0);
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
    let plan = run(dir, &emulator, &["plan", stack, "--detailed-exitcode"]);
    assert_exit(&plan, 0);
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
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let file = dir.join("fixes.toml");
    let stack = file.to_str().unwrap();

    write(&file, &TRAIL_STACK.replace("SELECTORS", DATA_EVENTS));
    assert_exit(&run(dir, &emulator, &["apply", stack, "--auto-approve"]), 0);
    assert_eq!(
        selectors(&clients).await,
        [("WriteOnly".to_string(), Some(false), 1)]
    );

    let default = [("All".to_string(), Some(true), 0)];
    for removed in ["", "event_selectors = []"] {
        write(&file, &TRAIL_STACK.replace("SELECTORS", DATA_EVENTS));
        assert_exit(&run(dir, &emulator, &["apply", stack, "--auto-approve"]), 0);
        write(&file, &TRAIL_STACK.replace("SELECTORS", removed));
        let out = run(dir, &emulator, &["apply", stack, "--auto-approve"]);
        assert_exit(&out, 0);
        assert_eq!(selectors(&clients).await, default, "with `{removed}`");
        let plan = run(dir, &emulator, &["plan", stack, "--detailed-exitcode"]);
        assert_exit(&plan, 0);
    }
}

/// A throttled call is retried by the SDK (8 attempts) and not again by strata's own loop
/// around it, even where that loop waits out an eventual-consistency answer: before, the
/// loop retried the transient error for its whole minute, 8 SDK attempts at a time.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_call_is_retried_by_the_sdk_only() {
    use strata::aws::retry::{Backoff, SDK_MAX_ATTEMPTS, retry_send};
    let emulator = Emulator::start();
    let proxy = Proxy::start(
        &emulator.endpoint,
        &[
            "--fault-rate",
            "1",
            "--seed",
            "1",
            "--fault-kinds",
            "throttle",
        ],
    );
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
