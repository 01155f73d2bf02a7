//! Bad input is refused before any AWS call: invalid stacks, damaged or foreign state files,
//! corrupted or foreign saved plans, malformed `--var` and `--endpoint-url`. strata talks to
//! the emulator through `scripts/aws-proxy`, which counts every request that reaches it; the
//! count must stay at zero. An unreachable endpoint fails with a clear message in seconds.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{Proxy, Workspace, assert_exit, files_under, repo, stderr, stdout, strata};

const STORAGE: &str = "tests/stacks/storage.toml";

fn storage() -> String {
    repo().join(STORAGE).display().to_string()
}

/// Runs `strata ARGS --endpoint-url PROXY`, checks the exit code and that stderr contains
/// `message`, and that no request reached the proxy.
fn refused(dir: &Path, proxy: &Proxy, args: &[&str], code: i32, message: &str) -> Output {
    let mut full = args.to_vec();
    full.extend(["--endpoint-url", &proxy.url]);
    let out = strata(dir, &full);
    assert_exit(&out, code);
    assert!(
        stderr(&out).contains(message),
        "strata {}: stderr does not say {message:?}:\n{}",
        args.join(" "),
        stderr(&out)
    );
    let stats = proxy.stats();
    assert_eq!(
        stats["total"],
        0,
        "strata {} made AWS calls: {stats:#}",
        args.join(" ")
    );
    out
}

/// plan, apply and destroy of `stack` are all refused with `message`, and no lock is left.
fn all_refused(dir: &Path, proxy: &Proxy, stack: &str, extra: &[&str], message: &str) {
    for command in [
        vec!["plan", stack],
        vec!["apply", stack, "--auto-approve"],
        vec!["destroy", stack, "--auto-approve"],
    ] {
        let mut args = command;
        args.extend(extra);
        refused(dir, proxy, &args, 1, message);
    }
    // A lock file may stay, but a released lock names no holder.
    let held: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".lock"))
        .filter(|p| !std::fs::read_to_string(p).unwrap().is_empty())
        .collect();
    assert_eq!(held, Vec::<PathBuf>::new(), "a refused run left its lock");
}

/// Every invalid stack of the corpus, for plan, apply and destroy: the recorded diagnostics,
/// exit 1, no request.
#[test]
fn invalid_stack_files_make_no_aws_call() {
    let proxy = Proxy::in_front_of_nothing();
    let state_dir = tempfile::tempdir().unwrap();
    let state_dir = state_dir.path().display().to_string();
    let cases = crate::validate::corpus();
    let mut checked = 0;
    for case in &cases {
        let relative = case.file.as_str();
        for command in ["plan", "apply", "destroy"] {
            let mut args = vec![command, relative];
            if command != "plan" {
                args.push("--auto-approve");
            }
            args.extend(["--state-dir", state_dir.as_str()]);
            let out = refused(&repo(), &proxy, &args, 1, "error");
            assert_eq!(stderr(&out), case.expected, "strata {command} {relative}");
            assert_eq!(stdout(&out), "", "strata {command} {relative}");
        }
        checked += 1;
    }
    assert_eq!(checked, crate::validate::CORPUS.len());
    assert_eq!(files_under(Path::new(&state_dir)), Vec::<PathBuf>::new());
}

/// Damaged and foreign state files and saved plans, and malformed variables, are refused
/// before any request, and leave the state file as it was.
#[test]
fn bad_state_files_saved_plans_and_variables_make_no_aws_call() {
    let ws = Workspace::new();
    let proxy = ws.proxy(&[]);
    let dir = ws.dir();
    let stack = storage();
    let direct = |args: &[&str]| ws.run(args);

    // A real state and a real saved plan, made without the proxy.
    assert_exit(&direct(&["apply", &stack, "--auto-approve"]), 0);
    let state_path = dir.join(".strata/storage-dev.state.json");
    let state_text = std::fs::read_to_string(&state_path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    assert_eq!(state["version"], 1);
    let other_stack = dir.join("stacks/upload-form.toml");
    std::fs::create_dir_all(other_stack.parent().unwrap()).unwrap();
    std::fs::copy(repo().join("stacks/upload-form.toml"), &other_stack).unwrap();
    let other_stack = other_stack.display().to_string();

    // A state directory of its own (relative: strata runs in `dir` and names it so).
    let with_state = |name: &str, text: &str| -> String {
        let state_dir = dir.join(name);
        std::fs::create_dir_all(&state_dir).unwrap();
        std::fs::write(state_dir.join("storage-dev.state.json"), text).unwrap();
        name.to_string()
    };

    // Truncated.
    let truncated = with_state("truncated", &state_text[..state_text.len() / 2]);
    all_refused(
        dir,
        &proxy,
        &stack,
        &["--state-dir", &truncated],
        &format!(
            "error: state file {truncated}/storage-dev.state.json is corrupted (EOF while parsing"
        ),
    );
    all_refused(
        dir,
        &proxy,
        &stack,
        &["--state-dir", &truncated],
        "nothing was changed in AWS",
    );

    // A newer format version.
    let mut newer = state.clone();
    newer["version"] = 2.into();
    let newer = with_state("newer", &newer.to_string());
    all_refused(
        dir,
        &proxy,
        &stack,
        &["--state-dir", &newer],
        &format!(
            "error: state file {newer}/storage-dev.state.json has format version 2; this strata reads version 1. Use a newer strata"
        ),
    );

    // Another stack's state under this stack's name.
    std::fs::create_dir_all(dir.join("foreign")).unwrap();
    std::fs::write(dir.join("foreign/upload-form-dev.state.json"), &state_text).unwrap();
    let foreign = "foreign";
    all_refused(
        dir,
        &proxy,
        &other_stack,
        &["--state-dir", foreign],
        &format!(
            "error: state file {foreign}/upload-form-dev.state.json belongs to stack `storage` (stage `dev`), not `upload-form` (stage `dev`)"
        ),
    );

    // Saved plans: garbage, truncated, tampered with, and one made from another state of
    // this stack (another lineage: another copy of it, elsewhere).
    let mut other_lineage = state.clone();
    other_lineage["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    let elsewhere = with_state("elsewhere", &other_lineage.to_string());
    let foreign_plan = "elsewhere.plan";
    let out = direct(&[
        "plan",
        &stack,
        "--state-dir",
        &elsewhere,
        "--out",
        foreign_plan,
    ]);
    assert_exit(&out, 0);
    let plan_text = std::fs::read_to_string(dir.join(foreign_plan)).unwrap();
    let mut tampered: serde_json::Value = serde_json::from_str(&plan_text).unwrap();
    tampered["plan"]["resources"][0]["action"] = "obliterate".into();
    for (name, text) in [
        ("garbage.plan", "{ this is not a plan".to_string()),
        (
            "truncated.plan",
            plan_text[..plan_text.len() / 2].to_string(),
        ),
        ("tampered.plan", tampered.to_string()),
        (
            "other-tool.plan",
            r#"{"format_version": "1.2"}"#.to_string(),
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
        refused(
            dir,
            &proxy,
            &["apply", name],
            1,
            &format!(
                "error: {name} is not a valid saved plan (corrupted or from another tool); make a new one with `strata plan --out`"
            ),
        );
    }
    let out = refused(
        dir,
        &proxy,
        &["apply", foreign_plan],
        1,
        "error: the saved plan is stale",
    );
    assert!(
        stderr(&out).contains("it was made from another state (another lineage: "),
        "{}",
        stderr(&out)
    );

    // Malformed variables: the argument parser (exit 2), or the stack (exit 1).
    for (var, message) in [
        ("novalue", "`novalue` is not NAME=VALUE"),
        ("bad name=1", "`bad name` is not a valid variable name"),
        ("=1", "`` is not a valid variable name"),
    ] {
        for command in ["plan", "apply", "destroy"] {
            let out = refused(dir, &proxy, &[command, &stack, "--var", var], 2, message);
            assert!(
                stderr(&out).starts_with("error: invalid value"),
                "{}",
                stderr(&out)
            );
        }
    }
    all_refused(
        dir,
        &proxy,
        &stack,
        &["--var", "nosuch=1"],
        "error: unknown variable `nosuch` set with --var",
    );

    // Nothing refused touched the real state.
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), state_text);
    assert_eq!(proxy.stats()["total"], 0);
}

/// Endpoint URLs that are not http(s)://host[:port] are refused at once, before any
/// request, whatever the command.
#[test]
fn malformed_endpoint_urls_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = storage();
    for (url, problem) in [
        ("", "relative URL without a base"),
        ("localhost:4566", "scheme `localhost`"),
        ("ftp://127.0.0.1:4566", "scheme `ftp`"),
        ("https://", "empty host"),
        ("http:///path", "not a valid URI"),
        ("http:/127.0.0.1:4566", "not a valid URI"),
        ("http://:4566", "empty host"),
        ("http://127.0.0.1:99999", "invalid port number"),
        ("http://exa mple.com", "invalid international domain name"),
        ("http://[::1", "invalid IPv6 address"),
        ("http://127.0.0.1:4566/?x=1", "a query or fragment"),
        ("http://127.0.0.1:4566/a b", "not a valid URI"),
    ] {
        for command in [
            vec!["plan", stack.as_str()],
            vec!["apply", stack.as_str(), "--auto-approve"],
            vec!["destroy", stack.as_str(), "--auto-approve"],
        ] {
            let mut args = command.clone();
            args.extend(["--endpoint-url", url]);
            let out = strata(dir, &args);
            assert_exit(&out, 1);
            assert_eq!(
                stderr(&out),
                format!(
                    "error: configure failed: `{url}` is not an endpoint URL ({problem}; expected http://host:port or https://host)\n"
                ),
                "{} with {url:?}",
                command[0]
            );
            assert_eq!(stdout(&out), "");
        }
    }
}

/// Nothing listens on the endpoint: plan, apply and destroy fail with a one-line error
/// naming the failed call and the cause (the endpoint is checked with one call before
/// anything is planned); the state still records everything. (How long that takes is
/// measured by bench/fail-fast.sh.)
#[test]
fn an_unreachable_endpoint_fails_with_one_line_naming_the_cause() {
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = storage();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let state_path = dir.join(".strata/storage-dev.state.json");
    let resources = |path: &Path| {
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        state["resources"].as_object().unwrap().len()
    };
    assert_eq!(resources(&state_path), 8);

    for command in ["plan", "apply", "destroy"] {
        let mut args = vec![command, stack.as_str()];
        if command != "plan" {
            args.push("--auto-approve");
        }
        args.extend(["--endpoint-url", "http://127.0.0.1:1"]);
        let out = strata(dir, &args);
        assert_exit(&out, 1);
        let text = stderr(&out);
        let cause = "failed: cannot reach the endpoint: Connection refused (os error 111)";
        // Every command checks the endpoint with one call before planning anything.
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("error: ") && text.trim_end().ends_with(cause),
            "{text}"
        );
        assert_eq!(stdout(&out), "");
    }
    assert_eq!(
        resources(&state_path),
        8,
        "the state still records everything"
    );
}
