//! The upload stack end to end: IAM role, presign function, permission and REST API on the
//! emulator; a client without credentials gets presigned URLs through the API.

use std::path::Path;

use crate::common::{Workspace, assert_no_changes, assert_plan, output_of, read_state, stdout};
use serde_json::{Value as Json, json};

async fn presign(api_url: &str, body: &Json) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(api_url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The first plan of a stack, with what changes from run to run replaced by placeholders.
fn normalise_plan(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_stack_serves_presigned_urls_and_follows_code_changes() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("upload-form.toml").display().to_string();

    // The first plan, as a user sees it.
    let out = ws.ok(&["plan", &stack, "--no-color"]);
    crate::common::assert_snapshot(
        "upload-form-first-plan.txt",
        &normalise_plan(&stdout(&out), dir),
    );

    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 7 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );

    // Read back what was created.
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("upload-form-dev-content-{account}");
    let role = clients
        .iam
        .get_role()
        .role_name("upload-form-dev-presign")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    let trust: Json =
        serde_json::from_str(&percent_decode(role.assume_role_policy_document().unwrap())).unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
    let inline = clients
        .iam
        .get_role_policy()
        .role_name("upload-form-dev-presign")
        .policy_name("presign-objects")
        .send()
        .await
        .unwrap();
    let inline: Json = serde_json::from_str(&percent_decode(inline.policy_document())).unwrap();
    assert_eq!(
        inline["Statement"][0]["Action"],
        json!(["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"])
    );
    assert_eq!(
        inline["Statement"][0]["Resource"],
        format!("arn:aws:s3:::{bucket}/input/*").as_str()
    );

    // The function's log group exists before its first invocation, with the declared
    // retention, and the role may write into it and nowhere else.
    let groups = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/")
        .send()
        .await
        .unwrap();
    let groups: Vec<(Option<&str>, Option<i32>)> = groups
        .log_groups()
        .iter()
        .map(|g| (g.log_group_name(), g.retention_in_days()))
        .collect();
    assert_eq!(
        groups,
        [(Some("/aws/lambda/upload-form-dev-presign"), Some(14))]
    );
    let logs = clients
        .iam
        .get_role_policy()
        .role_name("upload-form-dev-presign")
        .policy_name("presign-logs")
        .send()
        .await
        .unwrap();
    let logs: Json = serde_json::from_str(&percent_decode(logs.policy_document())).unwrap();
    assert_eq!(
        logs["Statement"][0]["Resource"],
        format!("arn:aws:logs:us-east-1:{account}:log-group:/aws/lambda/upload-form-dev-presign:*")
            .as_str()
    );

    let function = clients
        .lambda
        .get_function()
        .function_name("upload-form-dev-presign")
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    let package =
        strata::resources::package::package_dir(&stacks.join("functions/presign")).unwrap();
    assert_eq!(config.code_sha256(), Some(package.sha256.as_str()));
    assert_eq!(config.handler(), Some("index.handler"));
    assert_eq!(config.runtime().map(|r| r.as_str()), Some("python3.12"));
    assert_eq!(config.role(), role.arn().into());
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("S3_BUCKET"), Some(&bucket));
    assert_eq!(
        env.get("URL_EXPIRY_SECONDS").map(String::as_str),
        Some("100")
    );

    let state = read_state(dir, "upload-form", "dev");
    let api_id = state["resources"]["upload_api"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = clients
        .lambda
        .get_policy()
        .function_name("upload-form-dev-presign")
        .send()
        .await
        .unwrap();
    let policy: Json = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"],
        "apigateway.amazonaws.com"
    );
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:us-east-1:{account}:{api_id}/*/*/*").as_str()
    );
    let resources = clients
        .apigateway
        .get_resources()
        .rest_api_id(&api_id)
        .embed("methods")
        .send()
        .await
        .unwrap();
    let mut paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
    paths.sort();
    assert_eq!(paths, ["/", "/{proxy+}"]);
    for r in resources.items() {
        let integration = r.resource_methods().unwrap()["ANY"]
            .method_integration()
            .unwrap();
        assert_eq!(integration.r#type().map(|t| t.as_str()), Some("AWS_PROXY"));
        assert_eq!(
            integration.uri(),
            Some(
                format!(
                    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations",
                    config.function_arn().unwrap()
                )
                .as_str()
            )
        );
    }
    let stage = clients
        .apigateway
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stage.deployment_id(),
        state["resources"]["upload_api"]["attributes"]["deployment_id"].as_str()
    );

    // A client without credentials: presign, upload 3 MiB, download the same bytes.
    let api_url = output_of(dir, &stack, "api_url", &[]);
    assert_eq!(
        api_url,
        format!("{}/_aws/execute-api/{api_id}/prod", ws.emulator().endpoint)
    );
    let (status, content_type, put_url) = presign(
        &api_url,
        &json!({"action": "putObject", "object_key": "input/three.bin"}),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/plain"),
        "{put_url}"
    );
    let payload: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let put = reqwest::Client::new()
        .put(&put_url)
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let (_, _, get_url) = presign(
        &api_url,
        &json!({"action": "getObject", "object_key": "input/three.bin"}),
    )
    .await;
    let got = reqwest::get(&get_url).await.unwrap().bytes().await.unwrap();
    assert!(
        got.as_ref() == payload.as_slice(),
        "downloaded bytes differ"
    );

    // Bad requests answer 400 with a JSON error.
    let long_key = format!("input/{}", "k".repeat(1100));
    let bad: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            reqwest::Client::new().post(&api_url).body("not json"),
            "JSON",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "deleteObject", "object_key": "input/a"})),
            "action",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "putObject"})),
            "object_key",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "putObject", "object_key": "output/a"})),
            "input/",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "putObject", "object_key": "input/../etc"})),
            "..",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "putObject", "object_key": "/input/a"})),
            "must not start with '/'",
        ),
        (
            reqwest::Client::new()
                .post(&api_url)
                .json(&json!({"action": "putObject", "object_key": long_key})),
            "1024",
        ),
    ];
    for (request, mentions) in bad {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Json = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(mentions),
            "`{error}` should mention {mentions}"
        );
    }

    // No spurious changes; then a handler edit shows as a code change only.
    assert_no_changes(&ws.plan_json(&stack, &[]));
    let handler = stacks.join("functions/presign/index.py");
    let code = std::fs::read_to_string(&handler).unwrap();
    let edited = code.replace("def handler(event, context):", "def handler(event, context):\n    if isinstance(event, dict) and event.get(\"path\") == \"/version\":\n        return {\"statusCode\": 200, \"headers\": {\"Content-Type\": \"text/plain\"}, \"body\": \"v2\"}\n");
    assert_ne!(
        code, edited,
        "the handler signature changed; update this test"
    );
    std::fs::write(&handler, edited).unwrap();
    let plan = ws.plan_json(&stack, &[]);
    assert_plan(
        &plan,
        &[("lambda.function.presign", "update", &["code_sha256"])],
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let version = reqwest::get(format!("{api_url}/version"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(version, "v2");
    assert_no_changes(&ws.plan_json(&stack, &[]));

    // Destroy leaves nothing, the function's log group included (live_ids lists them).
    ws.ok(&["destroy", &stack, "--auto-approve"]);
    assert_eq!(
        crate::common::live_ids(&clients).await,
        std::collections::BTreeSet::new()
    );
}

fn percent_decode(s: &str) -> String {
    strata::resources::support::percent_decode(s)
}
