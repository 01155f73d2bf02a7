//! A stack in a workspace, for the EventBridge, Scheduler, event source mapping and alarm
//! lifecycle tests.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{Workspace, assert_exit, planned_changes, stdout};

/// A stack file in a workspace of its own (a private emulator).
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

    /// Writes `stack.toml` (the stack is named `t`, stage `default`).
    pub fn write(&self, resources: &str) {
        self.ws.write(
            "stack.toml",
            &format!("[stack]\nname = \"t\"\n\n{resources}"),
        );
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.ws.run(args)
    }

    /// `apply --auto-approve`, which must succeed.
    pub fn apply(&self) -> Output {
        let out = self.run(&["apply", "stack.toml", "--auto-approve"]);
        assert_exit(&out, 0);
        out
    }

    /// (address, action, changed paths) of what the plan changes.
    pub fn changes(&self) -> Vec<(String, String, Vec<String>)> {
        planned_changes(&self.ws.plan_json("stack.toml", &[]))
    }

    /// The plan's entry for `address`.
    pub fn planned(&self, address: &str) -> serde_json::Value {
        let plan = self.ws.plan_json("stack.toml", &[]);
        plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .cloned()
            .unwrap_or_else(|| panic!("{address} not in the plan: {plan}"))
    }

    /// The id the state records for resource `name`.
    pub fn id(&self, name: &str) -> String {
        let state = self.ws.state("t", "default");
        state["resources"][name]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} not in the state: {state}"))
            .to_string()
    }

    fn state_file(&self) -> PathBuf {
        self.dir().join(".strata/t-default.state.json")
    }

    /// Deletes the state, imports each (resource, id) and checks the plan is empty.
    pub fn import_reproduces_an_empty_plan(&self, imports: &[(&str, &str)]) {
        std::fs::remove_file(self.state_file()).unwrap();
        for (resource, id) in imports {
            let out = self.run(&["import", "stack.toml", resource, id]);
            assert_exit(&out, 0);
            assert!(stdout(&out).contains("Imported "), "{}", stdout(&out));
        }
        assert_eq!(self.changes(), Vec::<(String, String, Vec<String>)>::new());
    }

    /// Apply exits 1 refusing to take over `type_name`'s object `what`, naming the id to
    /// import, and records nothing.
    pub fn apply_is_refused(&self, type_name: &str, what: &str, id: &str) {
        let out = self.run(&["apply", "stack.toml", "--auto-approve"]);
        assert_exit(&out, 1);
        let err = crate::common::stderr(&out);
        for expected in [
            format!("{type_name} {what} already exists ("),
            format!("To manage it with this stack, run `strata import STACK_FILE RESOURCE {id}`"),
        ] {
            assert!(err.contains(&expected), "expected `{expected}` in:\n{err}");
        }
        let state = self.ws.state("t", "default");
        let count = |key: &str| state[key].as_object().map_or(0, |m| m.len());
        assert_eq!((count("resources"), count("pending")), (0, 0), "{state}");
    }

    /// `strata policy stack.toml`: every action in `actions` is in it.
    pub fn policy_names(&self, actions: &[&str]) {
        let out = self.run(&["policy", "stack.toml", "--json"]);
        assert_exit(&out, 0);
        let policy = stdout(&out);
        for action in actions {
            assert!(
                policy.contains(&format!("\"{action}\"")),
                "{action} not in:\n{policy}"
            );
        }
    }
}

/// The change plan shows for a replacement: `replace`, with `attribute` forcing it.
pub fn assert_replaced_by(planned: &serde_json::Value, attribute: &str) {
    assert_eq!(planned["action"], "replace", "{planned}");
    let forcing: Vec<&str> = planned["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["forces_replacement"] == true)
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(forcing, [attribute], "{planned}");
}

/// Polls `check` every 250 ms for up to `seconds`; panics with `what` if it never holds.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} after {seconds} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
