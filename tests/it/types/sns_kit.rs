//! A stack in a workspace, for the SNS lifecycle tests.

use std::path::Path;
use std::process::Output;

use serde_json::Value as Json;

use crate::common::{Workspace, assert_exit, planned_changes, stderr, stdout};
use crate::least_privilege::{Keys, strata_as, user_with};

/// The name of every lifecycle stack (its state is `.strata/types-default.state.json`).
pub const STACK_NAME: &str = "types";

/// One stack file in a workspace of its own (a private emulator).
pub struct Lifecycle {
    pub ws: Workspace,
    pub aws: strata::aws::Clients,
}

impl Lifecycle {
    pub async fn start() -> Lifecycle {
        Lifecycle::on(Workspace::new()).await
    }

    /// On the emulator that evaluates IAM for every call (`test`/`test` is the root).
    pub async fn strict() -> Lifecycle {
        Lifecycle::on(Workspace::strict()).await
    }

    async fn on(ws: Workspace) -> Lifecycle {
        let aws = ws.clients().await;
        Lifecycle { ws, aws }
    }

    pub fn dir(&self) -> &Path {
        self.ws.dir()
    }

    /// Writes `stack.toml`: the `[stack]` table, then `resources`.
    pub fn write(&self, resources: &str) {
        self.ws.write(
            "stack.toml",
            &format!("[stack]\nname = \"{STACK_NAME}\"\n{resources}"),
        );
    }

    /// `strata ARGS stack.toml ...` against the emulator (the stack file is the second word).
    pub fn run(&self, command: &str, args: &[&str]) -> Output {
        let mut full = vec![command, "stack.toml"];
        full.extend(args);
        self.ws.run(&full)
    }

    /// `apply --auto-approve`, which must succeed.
    pub fn apply(&self) -> String {
        let out = self.run("apply", &["--auto-approve"]);
        assert_exit(&out, 0);
        stdout(&out)
    }

    pub fn plan(&self) -> Json {
        let out = self.run("plan", &["--json"]);
        assert_exit(&out, 0);
        serde_json::from_slice(&out.stdout).expect("plan --json is JSON")
    }

    /// (address, action, changed paths) of what the plan changes.
    pub fn changes(&self) -> Vec<(String, String, Vec<String>)> {
        planned_changes(&self.plan())
    }

    pub fn assert_no_changes(&self) {
        assert_eq!(self.changes(), Vec::new(), "the plan changes nothing");
    }

    /// The plan's reason for the change of `name` (a resource's name in the stack).
    pub fn reason(&self, name: &str) -> String {
        let plan = self.plan();
        let resource = plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} is in the plan: {plan}"));
        resource["reason"].as_str().unwrap_or_default().to_string()
    }

    pub fn state(&self) -> Json {
        self.ws.state(STACK_NAME, "default")
    }

    /// The id the state records for the resource `name`.
    pub fn id(&self, name: &str) -> String {
        let state = self.state();
        state["resources"][name]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} is in the state: {state}"))
            .to_string()
    }

    /// Deletes the state file.
    pub fn forget(&self) {
        std::fs::remove_file(
            self.dir()
                .join(format!(".strata/{STACK_NAME}-default.state.json")),
        )
        .unwrap();
    }

    /// `strata import stack.toml RESOURCE GIVEN`, which must succeed; the id recorded.
    pub fn import(&self, resource: &str, given: &str) -> String {
        let out = self.ws.run(&["import", "stack.toml", resource, given]);
        assert_exit(&out, 0);
        self.id(resource)
    }

    pub fn destroy(&self) {
        assert_exit(&self.run("destroy", &["--auto-approve"]), 0);
    }

    /// `strata policy`'s JSON document, as root of the emulator's account.
    pub fn policy(&self) -> Json {
        let out = self.run("policy", &["--json"]);
        assert_exit(&out, 0);
        serde_json::from_slice(&out.stdout).expect("policy --json is JSON")
    }

    /// Every action the generated policy grants.
    pub fn policy_actions(&self) -> Vec<String> {
        let policy = self.policy();
        let mut actions: Vec<String> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Action"] {
                Json::String(a) => vec![a.clone()],
                Json::Array(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        actions.sort();
        actions.dedup();
        actions
    }

    /// Access keys of an IAM user holding exactly the policy `strata policy` generates for
    /// the stack (made by the root, as a managed policy: it may be longer than an inline
    /// user policy can be), and `unscoped` on the resource `?`: actions the emulator
    /// evaluates against `*` where AWS evaluates them against the object's ARN (it does not
    /// read their `ResourceArn`). `?` matches only a one-character resource, i.e. that `*`,
    /// and no ARN on AWS: the generated policy itself is not widened.
    pub async fn user_with_generated_policy(&self, unscoped: &[&str]) -> Keys {
        let mut policy = self.policy();
        if !unscoped.is_empty() {
            let statement = serde_json::json!({
                "Sid": "EmulatorUnscopedCalls",
                "Effect": "Allow",
                "Action": unscoped,
                "Resource": "?",
            });
            policy["Statement"].as_array_mut().unwrap().push(statement);
        }
        user_with(&self.aws, "deployer", &policy).await
    }

    /// `strata COMMAND stack.toml ARGS` with the access keys `keys`.
    pub fn run_as(&self, keys: &Keys, command: &str, args: &[&str]) -> Output {
        let mut full = vec![command, "stack.toml"];
        full.extend(args);
        strata_as(self.dir(), keys, &self.ws.emulator().endpoint, &full)
    }

    /// Apply is refused because `what` exists outside the state, naming `strata import`
    /// with `id`; nothing is recorded, not even a pending create.
    pub fn assert_takeover_refused(&self, type_name: &str, what: &str, id: &str) {
        let out = self.run("apply", &["--auto-approve"]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        for expected in [
            format!("{type_name} {what} already exists ("),
            "strata does not take over objects it did not create".to_string(),
            format!("run `strata import STACK_FILE RESOURCE {id}`"),
        ] {
            assert!(err.contains(&expected), "expected `{expected}` in:\n{err}");
        }
        let state = self.state();
        assert_eq!(
            state["resources"].as_object().map_or(0, |r| r.len()),
            0,
            "{state}"
        );
        assert_eq!(
            state["pending"].as_object().map_or(0, |p| p.len()),
            0,
            "{state}"
        );
    }
}

/// `strata validate` (which makes no AWS call) of `resources` fails, pointing at `stack.toml:LINE` with `message`.
pub fn assert_invalid(resources: &str, line: usize, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("[stack]\nname = \"{STACK_NAME}\"\n{resources}");
    std::fs::write(dir.path().join("stack.toml"), text).unwrap();
    let out = crate::common::strata(dir.path(), &["validate", "stack.toml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("--> stack.toml:{line}:")),
        "expected stack.toml:{line} in:\n{err}"
    );
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
}
