//! Helpers that run one strata step in a workspace, against its emulator, and read its plan.

use std::process::Output;

use crate::common::{Workspace, assert_exit, stderr, stdout};

/// Runs `strata ARGS FILE` against the workspace's emulator with `--var`s, and asserts the
/// exit code.
pub fn strata_ok(ws: &Workspace, args: &[&str], code: i32) -> Output {
    let out = ws.run(args);
    assert_exit(&out, code);
    out
}

/// `plan --json` of `file`, parsed; `extra`: more arguments (`--var`s).
pub fn plan(ws: &Workspace, file: &str, extra: &[&str]) -> serde_json::Value {
    ws.plan_json(file, extra)
}

/// The plan of resource `name`: its action and changed paths (with whether each forces a
/// replacement).
pub fn planned(plan: &serde_json::Value, name: &str) -> (String, Vec<(String, bool)>) {
    let resource = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {plan}"));
    let changes = resource["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["forces_replacement"] == true,
            )
        })
        .collect();
    (resource["action"].as_str().unwrap().to_string(), changes)
}

/// Both streams of a run, for searching.
pub fn all_output(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// `strata policy FILE` (with `extra` arguments) names everything in `names`.
pub fn assert_policy_names(ws: &Workspace, file: &str, extra: &[&str], names: &[&str]) {
    let mut args = vec!["policy", file, "--json"];
    args.extend(extra);
    let out = strata_ok(ws, &args, 0);
    let text = stdout(&out);
    for name in names {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

/// `strata validate` refuses a stack with one resource of `type_name` whose attributes are
/// `body`, saying `expected` with the file and line, before any AWS call (no endpoint).
pub fn assert_refused(type_name: &str, body: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[stack]\nname = \"v\"\n\n[variables.secret]\ndefault = \"s\"\nsensitive = true\n\n[resources.it]\ntype = \"{type_name}\"\n{body}"
    );
    std::fs::write(dir.path().join("v.toml"), text).unwrap();
    let out = crate::common::strata(dir.path(), &["validate", "v.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{body}: {err}");
    assert!(
        err.contains(expected),
        "{body}: expected `{expected}` in {err}"
    );
    assert!(err.contains("--> v.toml:"), "{err}");
}

/// The first apply of `file` with `--var VAR=SECRET`, searched for `secret`: the plan (as
/// text and as JSON), the apply's output, the state file and the apply's debug log (which
/// must mention `call`, so it is on) never hold it. Returns the human plan's text and the
/// state.
pub fn apply_keeping_secret(
    ws: &Workspace,
    file: &str,
    var: &str,
    secret: &str,
    call: &str,
) -> (String, serde_json::Value) {
    let dir = ws.dir();
    let log = dir.join("strata.log");
    let log_arg = log.to_str().unwrap().to_string();
    let plan_out = strata_ok(ws, &["plan", file, "--var", var], 0);
    let json_plan = plan(ws, file, &["--var", var]);
    let out = ws
        .command(&[
            "apply",
            file,
            "--auto-approve",
            "--var",
            var,
            "--log-file",
            &log_arg,
        ])
        .env("STRATA_LOG", "debug")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stack = file.trim_end_matches(".toml");
    let state_text =
        std::fs::read_to_string(dir.join(format!(".strata/{stack}-default.state.json"))).unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains(call), "the log is on: {log_text}");
    for (what, text) in [
        ("plan", all_output(&plan_out)),
        ("plan --json", json_plan.to_string()),
        ("apply", all_output(&out)),
        ("state", state_text.clone()),
        ("debug log", log_text),
    ] {
        assert!(
            !text.contains(secret),
            "the value is in the {what}:\n{text}"
        );
    }
    (
        stdout(&plan_out),
        serde_json::from_str(&state_text).unwrap(),
    )
}
