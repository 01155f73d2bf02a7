//! No silent takeover of a statement: a function policy statement with the stack's
//! statement id that this stack's state did not add is refused before AddPermission, and
//! left as it was. (Once AddPermission has looked first, its own "already exists" answer is
//! the SDK's retry of a lost reply: tests/it/lost_replies.rs.)

use crate::common::{Workspace, assert_exit, read_state, stderr};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_permission_statement_is_not_taken_over() {
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
    let role = aws
        .iam
        .create_role()
        .role_name("someone-elses-permission-role")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let function = "someone-elses-permission-function";
    aws.lambda
        .create_function()
        .function_name(function)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .handler("index.handler")
        .role(&role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(package.bytes))
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.lambda
        .add_permission()
        .function_name(function)
        .statement_id("shared")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap();
    std::fs::write(
        dir.join("stack.toml"),
        format!(
            r#"
[stack]
name = "takeover"

[variables.stage]
default = "dev"

[resources.invoke]
type = "lambda.permission"
function_name = "{function}"
statement_id = "shared"
principal = "apigateway.amazonaws.com"
"#
        ),
    )
    .unwrap();

    for run_number in 1..=2 {
        let out = ws.run(&["apply", "stack.toml", "--auto-approve"]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        for expected in [
            format!(
                "lambda.permission statement `shared` already exists (in the policy of function `{function}`)"
            ),
            format!(
                "To manage it with this stack, run `strata import STACK_FILE RESOURCE {function}/shared`"
            ),
        ] {
            assert!(
                err.contains(&expected),
                "run {run_number}: expected `{expected}` in:\n{err}"
            );
        }
        let state = read_state(dir, "takeover", "dev");
        assert_eq!(
            state["resources"].as_object().map(|r| r.len()).unwrap_or(0),
            0,
            "run {run_number}: {state}"
        );
        assert_eq!(
            state["pending"].as_object().map(|p| p.len()).unwrap_or(0),
            0,
            "run {run_number}: {state}"
        );
    }

    let policy = aws
        .lambda
        .get_policy()
        .function_name(function)
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{policy}");
    assert_eq!(statements[0]["Sid"], "shared");
    let principal = &statements[0]["Principal"];
    assert!(
        principal == "s3.amazonaws.com" || principal["Service"] == "s3.amazonaws.com",
        "{policy}"
    );
}
