//! Real accounts: a state is pinned to the account, region and partition it was applied
//! in, and `strata import` brings existing objects under a stack.

use std::collections::BTreeMap;

use crate::common::{Workspace, assert_exit, live_ids, read_state, stderr, stdout};

const STACK: &str = "producer-consumer";

#[tokio::test(flavor = "multi_thread")]
async fn another_region_or_account_is_refused_and_the_deployed_stack_is_untouched() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let state = read_state(dir, STACK, "dev");
    assert_eq!(
        state["placement"],
        serde_json::json!({"account_id": "000000000000", "region": "us-east-1", "partition": "aws"})
    );
    let live_before = live_ids(&clients).await;
    assert_eq!(live_before.len(), 8, "{live_before:?}");
    let state_path = dir.join(format!(".strata/{STACK}-dev.state.json"));
    let state_before = std::fs::read_to_string(&state_path).unwrap();

    for (key, region, account) in [
        ("test", "eu-west-1", "000000000000"),
        ("111111111111", "us-east-1", "111111111111"),
    ] {
        for command in [
            vec!["plan", &stack],
            vec!["apply", &stack, "--auto-approve"],
            vec!["destroy", &stack, "--auto-approve"],
        ] {
            let mut args = command.clone();
            args.extend(["--endpoint-url", &ws.emulator().endpoint]);
            let out = ws
                .offline(&args)
                .env("AWS_REGION", region)
                .env("AWS_ACCESS_KEY_ID", key)
                .output()
                .unwrap();
            assert_exit(&out, 1);
            let expected = format!(
                "belongs to account 000000000000 in us-east-1, but the credentials and region in use are for account {account} in {region}. Nothing was changed"
            );
            assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        }
    }
    // Everything is still there, in the account and region it was applied in, and the
    // state was not written.
    assert_eq!(live_ids(&clients).await, live_before);
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), state_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_whose_state_was_lost_is_imported_back_and_the_next_plan_is_empty() {
    let ws = Workspace::new().with_stacks();
    let dir = ws.dir();
    let stacks = dir.join("stacks");
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let state = read_state(dir, STACK, "dev");
    let ids: BTreeMap<String, (String, String)> = state["resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                (
                    r["type"].as_str().unwrap().to_string(),
                    r["id"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(ids.len(), 14);
    std::fs::remove_file(dir.join(format!(".strata/{STACK}-dev.state.json"))).unwrap();

    // A missing object is refused, naming the id form.
    let out = ws.run(&[
        "import",
        &stack,
        "content_bucket",
        "no-such-bucket-anywhere",
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "there is no s3.bucket `no-such-bucket-anywhere` in account 000000000000 in us-east-1 (the id of a s3.bucket is the bucket name)"
        ),
        "{}",
        stderr(&out)
    );

    // One object is managed by one resource only.
    let (_, queue_url) = &ids["content_queue"];
    ws.ok(&["import", &stack, "content_queue", queue_url]);
    let out = ws.run(&["import", &stack, "dead_letter_queue", queue_url]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "sqs.queue.content_queue already holds this object (`{queue_url}`): importing it as sqs.queue.dead_letter_queue would manage one object from two resources. Nothing was imported"
        )),
        "{}",
        stderr(&out)
    );

    for (name, (type_name, id)) in ids.iter().filter(|(n, _)| *n != "content_queue") {
        let out = ws.ok(&["import", &stack, name, id]);
        assert!(
            stdout(&out).contains(&format!("Imported {type_name}.{name} (id {id}).")),
            "{}",
            stdout(&out)
        );
    }
    let out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));

    // A resource already in state is not imported again.
    let out = ws.run(&["import", &stack, "content_queue", queue_url]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("sqs.queue.content_queue is already in the state"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_pins_its_region_and_the_accounts_allowed_to_deploy_it() {
    let ws = Workspace::new();
    let dir = ws.dir();
    std::fs::write(
        dir.join("pinned.toml"),
        r#"
[stack]
name = "pinned"
region = "eu-west-1"
allowed_account_ids = ["000000000000"]

[resources.queue]
type = "sqs.queue"
name = "pinned-jobs"
"#,
    )
    .unwrap();
    // The environment says us-east-1; the stack says eu-west-1, and wins.
    ws.ok(&["apply", "pinned.toml", "--auto-approve"]);
    let queues = |clients: strata::aws::Clients| async move {
        let out = clients.sqs.list_queues().send().await.unwrap();
        out.queue_urls().len()
    };
    let eu = crate::common::clients_at(&ws.emulator().endpoint, "eu-west-1").await;
    let us = crate::common::clients_at(&ws.emulator().endpoint, "us-east-1").await;
    assert_eq!(queues(eu).await, 1);
    assert_eq!(queues(us).await, 0);
    assert_eq!(
        read_state(dir, "pinned", "default")["placement"]["region"],
        "eu-west-1"
    );

    // Another account's credentials are refused before anything is read.
    let out = ws
        .command(&["plan", "pinned.toml"])
        .env("AWS_ACCESS_KEY_ID", "111111111111")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "the credentials in use are for account 111111111111, which stack `pinned` does not allow (allowed_account_ids: 000000000000)"
        ),
        "{}",
        stderr(&out)
    );
}
