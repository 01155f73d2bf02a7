//! `plan --json --format terraform-compatible` on the emulator, and the shipped Rego policy
//! (policies/s3_public_bucket.rego) evaluated on it as conftest would: a stack whose bucket
//! blocks public access passes, one that does not is denied with the policy's message.

use std::path::Path;
use std::process::Output;

use serde_json::json;

use crate::common::{Workspace, assert_exit, repo, stdout};

const STACK: &str = r#"
[stack]
name = "policy"

[variables.visibility]
default = "4321"
sensitive = true

[resources.assets]
type = "s3.bucket"
name = "policy-assets"
public_access_block = { block_public_acls = true, ignore_public_acls = true, block_public_policy = true, restrict_public_buckets = true }

[resources.jobs]
type = "sqs.queue"
name = "policy-jobs"
visibility_timeout_seconds = "${var.visibility}"
"#;

/// `scripts/rego test PLAN policies/s3_public_bucket.rego` (conftest's `deny` rules).
fn rego(plan: &Path) -> Output {
    std::process::Command::new(repo().join("scripts/rego"))
        .arg("test")
        .arg(plan)
        .arg(repo().join("policies/s3_public_bucket.rego"))
        .output()
        .expect("scripts/rego runs")
}

fn terraform_plan(ws: &Workspace) -> (serde_json::Value, std::path::PathBuf) {
    let out = ws.ok(&[
        "plan",
        "policy.toml",
        "--json",
        "--format",
        "terraform-compatible",
    ]);
    let text = stdout(&out);
    assert!(!text.contains("4321"), "a sensitive value in clear: {text}");
    let path = ws.dir().join("plan.json");
    std::fs::write(&path, &text).unwrap();
    (serde_json::from_str(&text).unwrap(), path)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terraform_shaped_plan_passes_the_bucket_policy_until_a_bucket_is_public() {
    let ws = Workspace::new();
    ws.write("policy.toml", STACK);

    let (plan, path) = terraform_plan(&ws);
    assert_eq!(plan["format_version"], "1.2");
    let changes = plan["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan:#}");
    let bucket = &changes[0];
    assert_eq!(bucket["address"], "s3.bucket.assets");
    assert_eq!(bucket["mode"], "managed");
    assert_eq!(bucket["type"], "s3.bucket");
    assert_eq!(bucket["name"], "assets");
    assert_eq!(bucket["change"]["actions"], json!(["create"]));
    assert_eq!(bucket["change"]["before"], json!(null));
    assert_eq!(
        bucket["change"]["after"]["public_access_block"],
        json!({"block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true})
    );
    let queue = &changes[1]["change"];
    assert_eq!(changes[1]["address"], "sqs.queue.jobs");
    assert_eq!(queue["after"]["visibility_timeout_seconds"], json!(null));
    assert_eq!(
        queue["after_sensitive"],
        json!({"visibility_timeout_seconds": true})
    );
    assert_eq!(queue["after_unknown"]["arn"], json!(true));
    assert_eq!(queue["after"]["name"], "policy-jobs");

    let out = rego(&path);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "");

    // Applied, nothing changes: every action is a no-op and the object is the one read.
    ws.ok(&["apply", "policy.toml", "--auto-approve"]);
    let (plan, _) = terraform_plan(&ws);
    for change in plan["resource_changes"].as_array().unwrap() {
        assert_eq!(change["change"]["actions"], json!(["no-op"]), "{change:#}");
        assert_eq!(change["change"]["after"], change["change"]["before"]);
    }
    assert_eq!(plan["applyable"], false);

    // One setting turned off, and a second bucket with no block at all: both denied.
    let public = STACK.replace("ignore_public_acls = true", "ignore_public_acls = false")
        + "\n[resources.open]\ntype = \"s3.bucket\"\nname = \"policy-open\"\n";
    ws.write("policy.toml", &public);
    let (plan, path) = terraform_plan(&ws);
    let actions: Vec<_> = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["address"].clone(), c["change"]["actions"].clone()))
        .collect();
    assert_eq!(
        actions,
        [
            (json!("s3.bucket.assets"), json!(["update"])),
            (json!("sqs.queue.jobs"), json!(["no-op"])),
            (json!("s3.bucket.open"), json!(["create"])),
        ]
    );
    let out = rego(&path);
    assert_exit(&out, 1);
    assert_eq!(
        stdout(&out),
        "s3.bucket.assets: public_access_block.ignore_public_acls is not true\n\
         s3.bucket.open: the bucket does not block public access (set public_access_block \
         with all four settings true)\n"
    );
}
