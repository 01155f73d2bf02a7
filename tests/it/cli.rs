//! The command line around the commands and at its edges: shell completions, the manual
//! pages, help texts, a standard output whose reader went away, and its error messages.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{
    Workspace, assert_exit, json_lines, live_ids, repo, stderr, stdout, strata, strata_command,
};

/// The commands `strata` offers, in the order `--help` lists them.
const COMMANDS: [&str; 19] = [
    "validate",
    "graph",
    "plan",
    "apply",
    "destroy",
    "import",
    "output",
    "send",
    "receive",
    "state",
    "bootstrap",
    "completions",
    "man",
    "docs",
    "schemas",
    "fmt",
    "schema",
    "policy",
    "force-unlock",
];

const STATE_COMMANDS: [&str; 7] = ["list", "show", "rm", "pull", "push", "history", "migrate"];

fn storage() -> String {
    repo()
        .join("tests/stacks/storage.toml")
        .display()
        .to_string()
}

#[test]
fn completions_offer_every_command_in_each_shells_own_form() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = strata(&repo(), &["completions", shell]);
        assert_exit(&out, 0);
        let text = stdout(&out);
        if shell == "bash" {
            // The words offered after `strata` and after `strata state`, exactly.
            let offered = |case: &str| -> BTreeSet<String> {
                let at = text
                    .find(case)
                    .unwrap_or_else(|| panic!("no `{case}` in {text}"));
                let line = text[at..]
                    .lines()
                    .find(|l| l.trim_start().starts_with("opts=\""))
                    .unwrap();
                line.trim()
                    .trim_start_matches("opts=\"")
                    .trim_end_matches('"')
                    .split(' ')
                    .filter(|w| !w.starts_with('-'))
                    .map(str::to_string)
                    .collect()
            };
            let expected: BTreeSet<String> = COMMANDS
                .iter()
                .chain(&["help"])
                .map(|c| c.to_string())
                .collect();
            assert_eq!(offered("        strata)\n"), expected);
            let expected: BTreeSet<String> = STATE_COMMANDS
                .iter()
                .chain(&["help"])
                .map(|c| c.to_string())
                .collect();
            assert_eq!(offered("        strata__subcmd__state)\n"), expected);
            continue;
        }
        for command in COMMANDS {
            // The line that offers the command itself (not a word of some flag's help).
            let entry = match shell {
                "zsh" => format!("\n'{command}:"),
                "fish" => format!(
                    "complete -c strata -n \"__fish_strata_needs_command\" -f -a \"{command}\" -d '"
                ),
                "powershell" => format!(
                    "[CompletionResult]::new('{command}', '{command}', [CompletionResultType]::ParameterValue, '"
                ),
                _ => format!("cand {command} '"),
            };
            assert!(text.contains(&entry), "{shell} offers `{command}`: {entry}");
        }
    }
    let out = strata(&repo(), &["completions", "tcsh"]);
    assert_exit(&out, 2);
}

/// The references `NAME(1)` a roff page makes to other pages.
fn pages_named_in(page: &str) -> BTreeSet<String> {
    let text = page.replace("\\-", "-");
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("(1)") {
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(0, |i| i + 1);
        names.insert(text[start..at].to_string());
    }
    names
}

#[test]
fn the_man_pages_name_only_pages_that_strata_man_writes() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = strata(&repo(), &["man", "--dir", pages.to_str().unwrap()]);
    assert_exit(&out, 0);
    let written: BTreeSet<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // One page for strata, one for each command and each `state` command.
    let mut expected: BTreeSet<String> = COMMANDS
        .iter()
        .map(|c| format!("strata-{c}.1"))
        .chain(STATE_COMMANDS.iter().map(|c| format!("strata-state-{c}.1")))
        .collect();
    expected.insert("strata.1".into());
    expected.insert("strata-schemas-import.1".into());
    assert_eq!(written, expected);
    // Every page another page points to is there: none is left for `help`.
    let mut named = BTreeSet::new();
    for page in &written {
        let text = std::fs::read_to_string(pages.join(page)).unwrap();
        assert!(text.contains(".TH strata"), "{page}: {text}");
        named.extend(pages_named_in(&text));
    }
    assert!(named.contains("strata-state-list"), "{named:?}");
    for name in &named {
        assert!(
            written.contains(&format!("{name}.1")),
            "{name}(1) is named but not written"
        );
    }
    // `strata man` alone prints the main page, the same one.
    let out = strata(&repo(), &["man"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string(pages.join("strata.1")).unwrap()
    );
}

#[test]
fn help_says_what_each_argument_is() {
    let help = |args: &[&str]| {
        let out = strata(&repo(), args);
        assert_exit(&out, 0);
        stdout(&out)
    };
    let apply = help(&["apply", "--help"]);
    assert!(
        apply.contains(
            "  [FILE]  The stack file, or a plan saved with `plan --out` (applied exactly as saved, with the variables it was made with: --var is refused then)\n"
        ),
        "{apply}"
    );
    let bootstrap = help(&["bootstrap", "--help"]);
    assert!(
        bootstrap.contains(
            "--endpoint-url <URL>              Send every AWS request to this endpoint (AWS_ENDPOINT_URL is honoured too)\n"
        ),
        "{bootstrap}"
    );
    let output = help(&["output", "--help"]);
    assert!(
        output.contains(
            "--json                       As JSON: `{\"NAME\": {\"value\": ..., \"sensitive\": false}, ...}`, or with NAME its value. Sensitive values are printed\n"
        ),
        "{output}"
    );
}

/// Runs `cmd` with its standard output a pipe whose reading end is already closed, as when
/// the reader (`| head -1`) has exited: every write to it fails with EPIPE.
fn with_closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).output().unwrap()
}

/// `strata ARGS` ends quietly with exit code 0 when its reader has gone away.
fn quiet_on_a_closed_pipe(dir: &Path, args: &[&str]) {
    quiet(strata_command(dir, args));
}

/// `cmd` (a `strata`) ends quietly with exit code 0 when its reader has gone away.
fn quiet(cmd: Command) {
    let shown = format!("{cmd:?}");
    let out = with_closed_stdout(cmd);
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(0), ""),
        "{shown}"
    );
}

#[test]
fn commands_that_print_end_quietly_when_their_reader_goes_away() {
    let stack = repo().join("stacks/producer-consumer.toml");
    let stack = stack.to_str().unwrap();
    for args in [
        vec!["validate", stack],
        vec!["validate", "--explain", stack],
        vec!["graph", stack],
        vec!["completions", "bash"],
        vec!["man"],
        // No AWS answers there: the policy is printed with placeholders.
        vec!["policy", stack, "--endpoint-url", "http://127.0.0.1:1"],
        vec![
            "policy",
            stack,
            "--json",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ],
    ] {
        quiet_on_a_closed_pipe(&repo(), &args);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_goes_away_never_stops_a_change_halfway() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let stack = storage();

    // The apply goes to its end: everything created and recorded.
    quiet(ws.command(&["apply", &stack, "--auto-approve"]));
    let state = ws.state("storage", "dev");
    assert_eq!(state["resources"].as_object().unwrap().len(), 8, "{state}");
    assert_eq!(live_ids(&clients).await.len(), 4, "two buckets, two queues");

    // Read-only commands stop at their first write; a plan file is saved all the same.
    for command in [
        ws.command(&["plan", &stack]),
        ws.command(&["plan", &stack, "--json"]),
        ws.command(&["plan", &stack, "--out", "saved.plan"]),
        ws.command(&["apply", &stack, "--auto-approve", "--json"]),
        ws.offline(&["state", "list", &stack]),
        ws.offline(&["state", "show", &stack, "content_queue"]),
        ws.offline(&["state", "pull", &stack]),
        ws.offline(&["output", &stack]),
        ws.offline(&["output", &stack, "--json"]),
        ws.offline(&["output", &stack, "queue_url"]),
    ] {
        quiet(command);
    }
    assert!(ws.dir().join("saved.plan").exists());

    // A state in S3: its history, and the bucket's bootstrap.
    quiet(ws.command(&["bootstrap", "pipe-state"]));
    let backend = "bucket=pipe-state,key=storage.json,region=us-east-1";
    quiet(ws.command(&["state", "migrate", &stack, "--backend-config", backend]));
    let history = ["state", "history", &stack, "--backend-config", backend];
    quiet(ws.command(&history));
    let out = ws.ok(&history);
    assert!(
        stdout(&out).starts_with("SERIAL\tTIME\tWRITER\tVERSION\n"),
        "{}",
        stdout(&out)
    );

    // And a destroy goes to its end too.
    quiet(ws.command(&[
        "destroy",
        &stack,
        "--auto-approve",
        "--backend-config",
        backend,
    ]));
    assert_eq!(
        live_ids(&clients).await,
        BTreeSet::from(["pipe-state".to_string()]),
        "only the state bucket is left"
    );
}

/// A bucket name that fits until the account id is known: valid for `validate`, invalid
/// once `plan` knows the account.
const TOO_LONG_WITH_ACCOUNT: &str = r#"
[stack]
name = "long"

[resources.logs]
type = "s3.bucket"
name = "ab-bucket-name-that-fits-until-the-account-is-known-${aws.account_id}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_invalid_once_the_account_is_known_is_reported_with_one_error_heading() {
    let ws = Workspace::new();
    ws.write("long.toml", TOO_LONG_WITH_ACCOUNT);
    ws.ok_offline(&["validate", "long.toml"]);
    let expected = "error: invalid value for `logs.name`
 --> long.toml:7:8
  |
7 | name = \"ab-bucket-name-that-fits-until-the-account-is-known-${aws.account_id}\"
  |        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ `ab-bucket-name-that-fits-until-the-account-is-known-000000000000`: 64 characters long: expected 3 to 63 characters

error: the stack is not valid with the account, region and live values known now; nothing was changed
";
    for command in [
        vec!["plan", "long.toml"],
        vec!["apply", "long.toml", "--auto-approve"],
    ] {
        let out = ws.run(&command);
        assert_exit(&out, 1);
        assert_eq!(stderr(&out), expected, "{command:?}");
        assert_eq!(stdout(&out), "");
    }
    // The JSON stream's error event has the same text.
    let out = ws.run(&["apply", "long.toml", "--auto-approve", "--json"]);
    assert_exit(&out, 1);
    let events = json_lines(&out);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["message"], expected.trim_end());
    assert_eq!(events[1]["type"], "summary");
    assert_eq!(events[1]["exit_code"], 1);
    assert_eq!(live_ids(&ws.clients().await).await, BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_refuses_variables_given_again() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let stack = storage();
    ws.ok(&[
        "plan",
        &stack,
        "--var",
        "visibility=90",
        "--out",
        "reviewed.plan",
    ]);
    let refusal = "error: reviewed.plan is a saved plan: it applies the variables it was made with, and --var visibility, --var owner cannot change them. Nothing was changed. For other values, make a new plan: strata plan STACK_FILE --var NAME=VALUE --out reviewed.plan\n";
    let given = [
        "apply",
        "reviewed.plan",
        "--var",
        "visibility=120",
        "--var",
        "owner=other-s3cr3t",
        "--var",
        "visibility=150",
    ];
    let out = ws.run(&given);
    assert_exit(&out, 1);
    // The names, never the values (one may be a secret).
    assert_eq!(stderr(&out), refusal);
    assert_eq!(stdout(&out), "");
    let mut json = given.to_vec();
    json.push("--json");
    let out = ws.run(&json);
    assert_exit(&out, 1);
    let events = json_lines(&out);
    assert_eq!(
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["error", "summary"]
    );
    assert_eq!(
        events[0]["message"],
        refusal.trim_start_matches("error: ").trim_end()
    );
    assert_eq!(live_ids(&clients).await, BTreeSet::new());
    assert!(!ws.dir().join(".strata/storage-dev.state.json").exists());

    // Without --var it applies, with the value it was made with.
    ws.ok(&["apply", "reviewed.plan"]);
    let state = ws.state("storage", "dev");
    assert_eq!(
        state["resources"]["content_queue"]["attributes"]["visibility_timeout_seconds"],
        90
    );
}

#[test]
fn apply_of_a_file_that_is_not_there_names_it_as_a_stack_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["apply", "missing.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: cannot read stack file `missing.toml`: No such file or directory (os error 2)\n\nerror: could not load the stack due to 1 previous error\n"
    );
}

/// A stack with a secret in its variables: validate, validate --explain and graph print it
/// nowhere, and neither does a diagnostic about a value built from it.
const WITH_A_SECRET: &str = r#"
[stack]
name = "js"

[variables.token]
default = "tok-5ecret-default"
sensitive = true

[variables.mode]
default = "a"
allowed = ["a", "b"]
sensitive = true

[variables.keys]
type = "list"
default = ["key-5ecret-item"]
sensitive = true

[resources.q]
type = "sqs.queue"
name = "q-${var.token}"
tags = { token = "${var.token}" }

[outputs]
token = { value = "${var.token}", sensitive = true }
"#;

#[test]
fn validate_never_shows_a_sensitive_value() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("js.toml"), WITH_A_SECRET).unwrap();
    let out = strata(
        dir,
        &["validate", "js.toml", "--var", "token=tok-5ecret-given"],
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("stack js (token=(sensitive), mode=(sensitive), keys=(sensitive))\n"),
        "{}",
        stdout(&out)
    );
    let mut shown = stdout(&out);
    for args in [
        vec!["validate", "--explain", "js.toml"],
        vec!["graph", "js.toml"],
    ] {
        let out = strata(dir, &args);
        assert_exit(&out, 0);
        shown.push_str(&stdout(&out));
    }
    // Refused values, given or derived, are named and not shown.
    for (args, message) in [
        (
            vec!["validate", "js.toml", "--var", "token=tok 5ecret!"],
            "`q-(sensitive)`: expected letters, digits, `-` and `_`",
        ),
        (
            vec!["validate", "js.toml", "--var", "mode=c"],
            "error: variable `mode` is `(sensitive)`, which is not allowed",
        ),
        (
            vec!["validate", "js.toml", "--var", "keys=key-5ecret-given"],
            "error: --var keys=(sensitive): variable `keys` is a list",
        ),
    ] {
        let out = strata(dir, &args);
        assert_exit(&out, 1);
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        shown.push_str(&stderr(&out));
    }
    assert!(!shown.contains("5ecret"), "{shown}");
    assert!(
        !shown.contains("mode=c") && !shown.contains("`c`"),
        "{shown}"
    );
}
