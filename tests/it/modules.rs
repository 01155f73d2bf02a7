//! Modules on the emulator: one stack with two instances of the producer-consumer stack,
//! each carrying its own payloads; an upload form moved into a module keeps its objects; an
//! instance removed from `for_each` takes exactly its own objects with it.

use crate::chain::receive_once;
use crate::common::{Workspace, assert_exit, json_lines, output_of, stderr, stdout};
use crate::deployed::payload;

const TENANTS: &str = r#"
[stack]
name = "tenants"

[modules.tenant]
source = "producer-consumer.toml"
for_each = ["alpha", "beta"]
vars = { stage = "${each.key}" }

[outputs]
alpha_api_url = '${module.tenant["alpha"].api_url}'
alpha_queue_url = '${module.tenant["alpha"].queue_url}'
beta_api_url = '${module.tenant["beta"].api_url}'
beta_queue_url = '${module.tenant["beta"].queue_url}'
"#;

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_of_a_module_apply_and_each_carries_its_own_payloads() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = ws.write("stacks/tenants.toml", TENANTS);

    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 28 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );
    let account = clients.account_id().await.unwrap().to_string();
    for tenant in ["alpha", "beta"] {
        clients
            .s3
            .head_bucket()
            .bucket(format!("tenants-{tenant}-content-{account}"))
            .send()
            .await
            .unwrap();
        clients
            .sqs
            .get_queue_url()
            .queue_name(format!("tenants-{tenant}-content"))
            .send()
            .await
            .unwrap();
    }
    let listed = stdout(&ws.ok_offline(&["state", "list", &stack]));
    assert!(
        listed.contains("module.tenant[\"alpha\"].s3.bucket.content_bucket\t")
            && listed.contains("module.tenant[\"beta\"].sqs.queue.content_queue\t"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 28, "{listed}");

    // Each instance's chain: what is sent through one arrives on its queue, from its bucket.
    for (i, tenant) in ["alpha", "beta"].into_iter().enumerate() {
        let api_url = output_of(dir, &stack, &format!("{tenant}_api_url"), &[]);
        let queue_url = output_of(dir, &stack, &format!("{tenant}_queue_url"), &[]);
        assert!(
            queue_url.ends_with(&format!("/tenants-{tenant}-content")),
            "{queue_url}"
        );
        let file = dir.join(format!("{tenant}.bin"));
        let sent = payload(4096, i as u8 + 7);
        std::fs::write(&file, &sent).unwrap();
        let out = ws.strata(&[
            "send",
            file.to_str().unwrap(),
            "--api-url",
            &api_url,
            "--json",
        ]);
        assert_exit(&out, 0);
        let receipts = json_lines(&out);
        assert_eq!(receipts[0]["key"], format!("input/{tenant}.bin"));
        let object = clients
            .s3
            .get_object()
            .bucket(format!("tenants-{tenant}-content-{account}"))
            .key(format!("input/{tenant}.bin"))
            .send()
            .await
            .unwrap();
        assert_eq!(object.body.collect().await.unwrap().to_vec(), sent);

        let out_dir = dir.join(format!("received-{tenant}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = receive_once(dir, &ws.emulator().endpoint, &queue_url, &api_url, &out_dir);
        assert_exit(&out, 0);
        let received = json_lines(&out);
        assert_eq!(received.len(), 1, "{}", stdout(&out));
        assert_eq!(received[0]["key"], format!("input/{tenant}.bin"));
        assert_eq!(
            std::fs::read(out_dir.join("input").join(format!("{tenant}.bin"))).unwrap(),
            sent,
            "{}",
            stderr(&out)
        );
    }
}

/// The unique id of IAM role NAME: a role created anew gets another.
async fn role_id(clients: &strata::aws::Clients, name: &str) -> Option<String> {
    let role = clients.iam.get_role().role_name(name).send().await.ok()?;
    Some(role.role()?.role_id().to_string())
}

/// The upload form deployed as a stack of its own, named `tenants`.
fn upload_form_as_tenants(ws: &Workspace) -> String {
    let text = std::fs::read_to_string(ws.stack("upload-form")).unwrap();
    ws.write(
        "stacks/tenants.toml",
        &text.replace("name = \"upload-form\"", "name = \"tenants\""),
    )
}

const MODULES: &str = r#"
[stack]
name = "tenants"

# The stage names the state: the same as the upload form's.
[variables.stage]
default = "dev"

# What was the whole stack, now a module (stage `dev`, its default): the same objects.
[modules.main]
source = "upload-form.toml"
moved_from = { content_bucket = "content_bucket", content_bucket_policy = "content_bucket_policy", presign_logs = "presign_logs", presign_role = "presign_role", presign = "presign", upload_api = "upload_api", upload_api_invoke = "upload_api_invoke" }

[modules.tenant]
source = "upload-form.toml"
for_each = ["alpha", "beta"]
vars = { stage = "${each.key}" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn resources_moved_into_a_module_keep_their_objects_and_a_removed_instance_takes_only_its_own()
 {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let stack = upload_form_as_tenants(&ws);
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("tenants-dev-content-{account}");
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("input/kept.txt")
        .body(b"kept".to_vec().into())
        .send()
        .await
        .unwrap();
    let dev_role = role_id(&clients, "tenants-dev-presign").await.unwrap();

    // Into a module: renamed in state, nothing replaced; two new instances are created.
    std::fs::write(&stack, MODULES).unwrap();
    let out = ws.ok(&["plan", &stack, "--no-color"]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "# module.main.s3.bucket.content_bucket has moved from s3.bucket.content_bucket"
        ) && text.contains("Plan: 14 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let state = ws.state("tenants", "dev");
    let resources = state["resources"].as_object().unwrap();
    assert_eq!(resources.len(), 21, "{state:#}");
    assert!(resources.contains_key("module.main.content_bucket"));
    assert!(!resources.contains_key("content_bucket"));
    assert_eq!(
        role_id(&clients, "tenants-dev-presign").await.unwrap(),
        dev_role
    );
    let kept = clients
        .s3
        .get_object()
        .bucket(&bucket)
        .key("input/kept.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.body.collect().await.unwrap().to_vec(), b"kept");

    // The state commands and import take the new addresses.
    let name = "module.tenant[\"alpha\"].content_bucket";
    let shown = stdout(&ws.ok_offline(&["state", "show", &stack, name]));
    assert!(
        shown.contains(&format!("tenants-alpha-content-{account}")),
        "{shown}"
    );
    ws.ok_offline(&[
        "state",
        "rm",
        &stack,
        "module.tenant[\"alpha\"].s3.bucket.content_bucket",
        "--auto-approve",
    ]);
    let out = ws.ok(&[
        "import",
        &stack,
        name,
        &format!("tenants-alpha-content-{account}"),
    ]);
    assert!(
        stderr(&out).contains("module.tenant[\"alpha\"].s3.bucket.content_bucket")
            || stdout(&out).contains("module.tenant[\"alpha\"].s3.bucket.content_bucket"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // Without `beta`: exactly its six objects go.
    std::fs::write(
        &stack,
        MODULES.replace("[\"alpha\", \"beta\"]", "[\"alpha\"]"),
    )
    .unwrap();
    let plan = ws.plan_json(&stack, &[]);
    let mut deleted: Vec<String> = crate::common::planned_changes(&plan)
        .into_iter()
        .map(|(address, action, _)| {
            assert_eq!(action, "delete", "{plan}");
            address
        })
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "module.tenant[\"beta\"].apigateway.rest_api.upload_api",
            "module.tenant[\"beta\"].iam.role.presign_role",
            "module.tenant[\"beta\"].lambda.function.presign",
            "module.tenant[\"beta\"].lambda.permission.upload_api_invoke",
            "module.tenant[\"beta\"].logs.log_group.presign_logs",
            "module.tenant[\"beta\"].s3.bucket.content_bucket",
            "module.tenant[\"beta\"].s3.bucket_policy.content_bucket_policy",
        ]
    );
    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 0 added, 0 changed, 7 destroyed."),
        "{}",
        stdout(&out)
    );
    assert!(
        clients
            .s3
            .head_bucket()
            .bucket(format!("tenants-beta-content-{account}"))
            .send()
            .await
            .is_err()
    );
    assert!(role_id(&clients, "tenants-beta-presign").await.is_none());
    for stage in ["dev", "alpha"] {
        clients
            .s3
            .head_bucket()
            .bucket(format!("tenants-{stage}-content-{account}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        role_id(&clients, "tenants-dev-presign").await.unwrap(),
        dev_role
    );
    role_id(&clients, "tenants-alpha-presign").await.unwrap();
}
