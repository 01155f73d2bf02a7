//! The lifecycle of each resource type on the emulator, one module per type file: apply,
//! read back with the SDK, change in place, replace, drift, import, takeover refusal,
//! destroy, the generated policy on the IAM-enforcing emulator, and bad input refused before
//! any AWS call. The helpers they share are here.

mod cloudwatch_metric_alarm;
mod dynamodb_table;
mod events_rule;
mod kms_alias;
mod kms_key;
mod lambda_event_source_mapping;
mod logs_log_group;
/// The helpers the EventBridge and Scheduler tests use.
mod rules_kit;
mod scheduler_schedule;
mod secretsmanager_secret;
/// The helpers the SNS tests use.
mod sns_kit;
mod sns_subscription;
mod sns_topic;
mod ssm_parameter;

/// The step-by-step helpers the KMS, SSM and Secrets Manager tests use.
mod steps;
pub use steps::*;

use std::path::Path;
use std::process::Output;

use serde_json::{Value as Json, json};

use crate::common::{Proxy, Workspace, assert_exit, planned_changes, stderr, stdout, strata};

/// The stack every lifecycle test writes, `stack.toml`, named `types`.
const STACK: &str = "stack.toml";
const HEADER: &str = "[stack]\nname = \"types\"\n";

/// A stack in a workspace of its own (a private emulator), for one type's lifecycle.
pub struct Lifecycle {
    pub ws: Workspace,
    pub aws: strata::aws::Clients,
}

impl Lifecycle {
    pub async fn start() -> Lifecycle {
        let ws = Workspace::new();
        let aws = ws.clients().await;
        Lifecycle { ws, aws }
    }

    pub fn dir(&self) -> &Path {
        self.ws.dir()
    }

    /// Writes `stack.toml`: the header, then `resources`.
    pub fn write(&self, resources: &str) {
        self.ws.write(STACK, &format!("{HEADER}{resources}"));
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.ws.run(args)
    }

    pub fn apply(&self) -> String {
        let out = self.run(&["apply", STACK, "--auto-approve"]);
        assert_exit(&out, 0);
        stdout(&out)
    }

    pub fn destroy(&self) {
        assert_exit(&self.run(&["destroy", STACK, "--auto-approve"]), 0);
    }

    pub fn plan(&self) -> Json {
        self.ws.plan_json(STACK, &[])
    }

    /// The plan changes one resource, `address`, with `action`, exactly at `paths`.
    pub fn assert_plans(&self, address: &str, action: &str, paths: &[&str]) -> Json {
        let plan = self.plan();
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            planned_changes(&plan),
            [(address.to_string(), action.to_string(), paths)],
            "{plan:#}"
        );
        plan
    }

    /// The plan replaces `address`, says which changes force it (`forcing`, as paths),
    /// and marks exactly those.
    pub fn assert_replaces(&self, address: &str, forcing: &[&str]) {
        let plan = self.plan();
        let resource = plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} not in {plan:#}"));
        assert_eq!(resource["action"], "replace", "{plan:#}");
        let named: Vec<String> = forcing.iter().map(|a| format!("`{a}`")).collect();
        assert_eq!(
            resource["reason"],
            format!(
                "{} cannot change in place: the resource is replaced",
                named.join(", ")
            ),
            "{plan:#}"
        );
        let marked: Vec<&str> = resource["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["forces_replacement"] == true)
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        assert_eq!(marked, forcing, "{plan:#}");
    }

    pub fn assert_no_changes(&self) {
        let out = self.run(&["plan", STACK, "--detailed-exitcode"]);
        assert_exit(&out, 0);
    }

    /// The id the state records for `resource`.
    pub fn id(&self, resource: &str) -> String {
        self.ws.state("types", "default")["resources"][resource]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{resource} has no id in the state"))
            .to_string()
    }

    /// Deletes the state, imports `resource` by `given` and checks it is recorded as `id`
    /// and that the next plan is empty.
    pub fn reimport(&self, resource: &str, given: &str, id: &str) {
        std::fs::remove_file(self.dir().join(".strata/types-default.state.json")).unwrap();
        let out = self.run(&["import", STACK, resource, given]);
        assert_exit(&out, 0);
        assert_eq!(self.id(resource), id);
        self.assert_no_changes();
    }

    /// Apply refuses an object that exists outside the state: exit 1, the refusal naming
    /// `what` and the import command, and nothing recorded.
    pub fn assert_takeover_refused(&self, type_name: &str, what: &str, id: &str) {
        let out = self.run(&["apply", STACK, "--auto-approve"]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        for expected in [
            format!("{type_name} {what} already exists ("),
            "strata does not take over objects it did not create".to_string(),
            format!("run `strata import STACK_FILE RESOURCE {id}`"),
        ] {
            assert!(err.contains(&expected), "expected `{expected}` in:\n{err}");
        }
        let state = self.ws.state("types", "default");
        assert_eq!(state["resources"], json!({}), "{state:#}");
    }

    /// `strata policy --json` of the stack (without credentials: placeholders).
    pub fn policy(&self) -> Json {
        let out = self.ws.ok_offline(&["policy", STACK, "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Every action a policy document allows.
pub fn actions(policy: &Json) -> Vec<String> {
    let mut out: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Json::String(a) => vec![a.clone()],
            Json::Array(list) => list
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
            other => panic!("Action {other}"),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// On the emulator that evaluates IAM for every call, a user holding exactly the policy
/// `strata policy` generates for `resources` plans, applies, plans no change and destroys
/// them. `unscoped` are actions the emulator authorizes against `*` where AWS authorizes
/// them against the object (they are granted on `?` besides, which matches no ARN on AWS).
pub async fn generated_policy_suffices(resources: &str, unscoped: &[&str]) {
    let ws = Workspace::strict();
    let root = ws.clients().await;
    ws.write(STACK, &format!("{HEADER}{resources}"));
    let out = ws.ok(&["policy", STACK, "--json"]);
    let mut policy: Json = serde_json::from_slice(&out.stdout).unwrap();
    if !unscoped.is_empty() {
        policy["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Allow",
            "Action": unscoped,
            "Resource": "?",
        }));
    }
    let user = "deployer";
    root.iam.create_user().user_name(user).send().await.unwrap();
    root.iam
        .put_user_policy()
        .user_name(user)
        .policy_name("strata")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = root
        .iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let as_user = |args: &[&str]| {
        ws.command(args)
            .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
            .output()
            .unwrap()
    };
    for (args, code) in [
        (vec!["plan", STACK, "--detailed-exitcode"], 2),
        (vec!["apply", STACK, "--auto-approve"], 0),
        (vec!["plan", STACK, "--detailed-exitcode"], 0),
        (vec!["destroy", STACK, "--auto-approve"], 0),
    ] {
        let out = as_user(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?} with the generated policy {policy:#}:\n{}",
            stderr(&out)
        );
    }
}

/// `resources` is refused by validate, and by plan before any AWS call, with `message` at
/// `stack.toml:LINE`.
pub fn assert_invalid(resources: &str, line: usize, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join(STACK), format!("{HEADER}{resources}")).unwrap();
    let out = strata(dir, &["validate", STACK]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("--> {STACK}:{line}:")),
        "expected line {line} in:\n{err}"
    );
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
    let proxy = Proxy::in_front_of_nothing();
    let out = strata(dir, &["plan", STACK, "--endpoint-url", &proxy.url]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
    assert_eq!(proxy.stats()["total"], 0, "plan made AWS calls");
}
