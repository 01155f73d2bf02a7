//! `--stacks DIR`: a team's stacks run as one graph, ordered by the outputs they read from
//! each other (`strata.stack` data sources), each as its own run; a failed stack stops the
//! stacks that read it, and only them.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Workspace, assert_exit, queue_names, stderr, stdout};

const NETWORK: &str = r#"[stack]
name = "network"

[resources.events]
type = "sqs.queue"
name = "network-events"

[outputs]
events_arn = "${events.arn}"
"#;

const APP: &str = r#"[stack]
name = "app"

[data.network]
type = "strata.stack"
stack = "network/network.toml"

[resources.jobs]
type = "sqs.queue"
name = "app-jobs"
tags = { upstream = "${data.network.outputs.events_arn}" }
"#;

const SOLO: &str = r#"[stack]
name = "solo"

[resources.work]
type = "sqs.queue"
name = "solo-work"
"#;

/// The team directory `team/` in the workspace: network, app (reads network), solo.
fn team(ws: &Workspace, network: &str) -> String {
    std::fs::create_dir_all(ws.dir().join("team/network")).unwrap();
    ws.write("team/network/network.toml", network);
    ws.write("team/app.toml", APP);
    ws.write("team/solo.toml", SOLO);
    ws.dir().join("team").display().to_string()
}

/// The stack lines (`── NAME: ...`) of a run, in the order they were printed.
fn stack_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("── ")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stacks_apply_in_the_order_their_outputs_are_read_and_destroy_in_reverse() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = team(&ws, NETWORK);

    let out = ws.ok_offline(&["graph", "--stacks", &dir]);
    assert_eq!(
        stdout(&out),
        "digraph stacks {\n  rankdir = LR;\n  \"network/network.toml\";\n  \"app.toml\";\n  \"app.toml\" -> \"network/network.toml\";\n  \"solo.toml\";\n}\n"
    );

    // Changes to several stacks are not made without --auto-approve.
    let out = ws.run(&["apply", "--stacks", &dir]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("pass --auto-approve"),
        "{}",
        stderr(&out)
    );
    assert_eq!(queue_names(&clients).await, BTreeSet::new());

    let out = ws.ok(&["apply", "--stacks", &dir, "--auto-approve"]);
    let text = stdout(&out);
    let lines = stack_lines(&text);
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("{line}: {text}"))
    };
    assert!(at("── network/network.toml: apply succeeded") < at("── app.toml: apply succeeded"));
    at("── solo.toml: apply succeeded");
    assert!(
        text.ends_with("Stacks: 3 succeeded, 0 failed, 0 skipped.\n"),
        "{text}"
    );
    assert_eq!(
        queue_names(&clients).await,
        BTreeSet::from(["app-jobs", "network-events", "solo-work"].map(String::from))
    );
    let url = clients
        .sqs
        .get_queue_url()
        .queue_name("app-jobs")
        .send()
        .await
        .unwrap();
    let tags = clients
        .sqs
        .list_queue_tags()
        .queue_url(url.queue_url().unwrap())
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<String, String> = tags
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([(
            "upstream".to_string(),
            "arn:aws:sqs:us-east-1:000000000000:network-events".to_string()
        )])
    );

    // Each stack's state is its own, as when it is applied by hand.
    for name in ["network", "app", "solo"] {
        let state = ws.dir().join(format!(".strata/{name}-default.state.json"));
        assert!(state.is_file(), "{}", state.display());
    }

    let out = ws.ok(&["plan", "--stacks", &dir]);
    let text = stdout(&out);
    assert_eq!(text.matches("No changes.").count(), 3, "{text}");
    assert!(
        text.ends_with("Stacks: 3 succeeded, 0 failed, 0 skipped.\n"),
        "{text}"
    );

    let out = ws.ok(&["destroy", "--stacks", &dir, "--auto-approve"]);
    let text = stdout(&out);
    let lines = stack_lines(&text);
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("{line}: {text}"))
    };
    assert!(
        at("── app.toml: destroy succeeded") < at("── network/network.toml: destroy succeeded")
    );
    assert_eq!(queue_names(&clients).await, BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stack_skips_the_stacks_that_read_it_and_only_them() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    // network's queue name is invalid: its run fails before any change.
    let dir = team(&ws, &NETWORK.replace("network-events", "network events"));
    let out = ws.run(&["apply", "--stacks", &dir, "--auto-approve"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    let mut lines = stack_lines(&text);
    lines.sort();
    assert_eq!(
        lines,
        [
            "── app.toml: skipped, because network/network.toml did not succeed",
            "── network/network.toml: apply FAILED",
            "── solo.toml: apply succeeded",
        ]
    );
    assert!(
        text.ends_with("Stacks: 1 succeeded, 1 failed, 1 skipped.\n"),
        "{text}"
    );
    assert!(stderr(&out).contains("network events"), "{}", stderr(&out));
    assert_eq!(
        queue_names(&clients).await,
        BTreeSet::from(["solo-work".to_string()])
    );

    // Stacks that read each other in a cycle are refused before any run.
    ws.write(
        "team/network/network.toml",
        &format!("{NETWORK}\n[data.app]\ntype = \"strata.stack\"\nstack = \"../app.toml\"\n"),
    );
    let out = ws.run(&["plan", "--stacks", &dir]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: the stacks read each other's outputs in a cycle: app.toml -> network/network.toml -> app.toml\n"
    );
}
