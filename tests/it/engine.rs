//! plan / apply / destroy of the S3 and SQS half against a live emulator, read back with
//! the SDK.

use std::time::{Duration, Instant};

use crate::common::{
    Proxy, Workspace, assert_exit, assert_no_changes, assert_plan, planned_changes,
    queue_attribute, repo, stderr, stdout,
};
use aws_sdk_sqs::types::QueueAttributeName as Q;
use serde_json::Value as Json;

const STACK: &str = "storage";

fn stack_file() -> String {
    repo()
        .join("tests/stacks/storage.toml")
        .display()
        .to_string()
}

/// `plan --json` of the storage stack with `extra` arguments, parsed.
fn storage_plan(ws: &Workspace, extra: &[&str]) -> Json {
    ws.plan_json(&stack_file(), extra)
}

fn state(ws: &Workspace) -> Json {
    ws.state(STACK, "dev")
}

async fn bucket_names(clients: &strata::aws::Clients) -> Vec<String> {
    let out = clients.s3.list_buckets().send().await.unwrap();
    out.buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect()
}

/// A workspace with the storage stack applied, and clients for its emulator.
async fn applied() -> (Workspace, strata::aws::Clients) {
    let ws = Workspace::new();
    ws.ok(&["apply", &stack_file(), "--auto-approve"]);
    let clients = ws.clients().await;
    (ws, clients)
}

async fn queue_urls(clients: &strata::aws::Clients) -> Vec<String> {
    let out = clients.sqs.list_queues().send().await.unwrap();
    out.queue_urls().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_apply_read_back_change_drift_remove_destroy() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let stack = stack_file();

    // Apply from scratch.
    let out = ws.ok(&["apply", &stack, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Apply complete! Resources: 8 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&out)
    );

    // Every attribute read back equals the stack.
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("storage-dev-content-{account}");
    let st = state(&ws);
    let queue_url = st["resources"]["content_queue"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dlq_url = st["resources"]["dead_letter_queue"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        queue_attribute(&clients, &queue_url, Q::VisibilityTimeout)
            .await
            .as_deref(),
        Some("360")
    );
    assert_eq!(
        queue_attribute(&clients, &queue_url, Q::MessageRetentionPeriod)
            .await
            .as_deref(),
        Some("1209600")
    );
    assert_eq!(
        queue_attribute(&clients, &dlq_url, Q::MessageRetentionPeriod)
            .await
            .as_deref(),
        Some("1209600")
    );
    let redrive: Json = serde_json::from_str(
        &queue_attribute(&clients, &queue_url, Q::RedrivePolicy)
            .await
            .unwrap(),
    )
    .unwrap();
    let dlq_arn = queue_attribute(&clients, &dlq_url, Q::QueueArn)
        .await
        .unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    let policy: Json = serde_json::from_str(
        &queue_attribute(&clients, &queue_url, Q::Policy)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        policy["Statement"][0]["Principal"]["Service"],
        "s3.amazonaws.com"
    );
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        format!("arn:aws:s3:::{bucket}").as_str()
    );
    assert_eq!(
        policy["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        account.as_str()
    );

    crate::common::assert_locked_down(&clients, &bucket).await;
    let tags = clients
        .s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let mut tag_pairs: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tag_pairs.sort();
    assert_eq!(
        tag_pairs,
        [
            ("stack".to_string(), "storage".to_string()),
            ("stage".to_string(), "dev".to_string())
        ]
    );
    let bucket_policy: Json = serde_json::from_str(
        clients
            .s3
            .get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        bucket_policy["Statement"][0]["Sid"],
        "DenyInsecureTransport"
    );
    let notification = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let queue_config = &notification.queue_configurations()[0];
    assert_eq!(queue_config.id(), Some("content-input"));
    assert_eq!(
        queue_config.queue_arn(),
        queue_attribute(&clients, &queue_url, Q::QueueArn)
            .await
            .unwrap()
    );
    let rule = &queue_config.filter().unwrap().key().unwrap().filter_rules()[0];
    assert_eq!(rule.value(), Some("input/"));

    // Outputs.
    let out = ws.ok_offline(&["output", &stack, "queue_url"]);
    assert_eq!(stdout(&out).trim(), queue_url);

    // No spurious diff.
    let out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));

    // Change the visibility timeout and the notification prefix: exactly those two updates.
    let vars = ["--var", "visibility=60", "--var", "prefix=incoming/"];
    let plan = storage_plan(&ws, &vars);
    assert_plan(
        &plan,
        &[
            (
                "sqs.queue.content_queue",
                "update",
                &["visibility_timeout_seconds"],
            ),
            (
                "s3.bucket_notification.content_notification",
                "update",
                &["queue[0].prefix"],
            ),
        ],
    );
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 0, "change": 2, "destroy": 0})
    );
    let mut human = vec!["plan", stack.as_str(), "--detailed-exitcode"];
    human.extend(vars);
    let out = ws.run(&human);
    assert_exit(&out, 2);
    assert!(
        stdout(&out).contains("~ visibility_timeout_seconds = 360 -> 60"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Plan: 0 to add, 2 to change, 0 to destroy."));
    let mut apply = vec!["apply", stack.as_str(), "--auto-approve"];
    apply.extend(vars);
    ws.ok(&apply);
    assert_eq!(
        queue_attribute(&clients, &queue_url, Q::VisibilityTimeout)
            .await
            .as_deref(),
        Some("60")
    );
    let notification = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        notification.queue_configurations()[0]
            .filter()
            .unwrap()
            .key()
            .unwrap()
            .filter_rules()[0]
            .value(),
        Some("incoming/")
    );
    let plan = storage_plan(&ws, &vars);
    assert_no_changes(&plan);

    // Drift made out of band is detected and put back.
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(Q::VisibilityTimeout, "99")
        .send()
        .await
        .unwrap();
    clients
        .s3
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let plan = storage_plan(&ws, &vars);
    assert_plan(
        &plan,
        &[
            (
                "s3.bucket_policy.content_bucket_policy",
                "update",
                &["policy"],
            ),
            (
                "sqs.queue.content_queue",
                "update",
                &["visibility_timeout_seconds"],
            ),
        ],
    );
    ws.ok(&apply);
    assert_eq!(
        queue_attribute(&clients, &queue_url, Q::VisibilityTimeout)
            .await
            .as_deref(),
        Some("60")
    );
    assert!(
        clients
            .s3
            .get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .is_ok()
    );

    // A resource deleted out of band is planned as a create.
    clients
        .sqs
        .delete_queue()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap();
    let plan = storage_plan(&ws, &vars);
    let planned = planned_changes(&plan);
    assert_eq!(planned[0].0, "sqs.queue.dead_letter_queue");
    assert_eq!(planned[0].1, "create");
    ws.ok(&apply);
    assert_no_changes(&storage_plan(&ws, &vars));

    // A resource removed from the stack file is deleted.
    let smaller = repo()
        .join("tests/stacks/storage-smaller.toml")
        .display()
        .to_string();
    let mut apply_smaller = vec!["apply", smaller.as_str(), "--auto-approve"];
    apply_smaller.extend(vars);
    let out = ws.ok(&apply_smaller);
    assert!(
        stdout(&out).contains(
            "s3.bucket_policy.trail_bucket_policy will be destroyed (no longer in the stack)"
        ),
        "{}",
        stdout(&out)
    );
    let trail_bucket = format!("storage-dev-trail-{account}");
    let gone = clients
        .s3
        .get_bucket_policy()
        .bucket(&trail_bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&gone),
        Some("NoSuchBucketPolicy")
    );
    assert!(state(&ws)["resources"].get("trail_bucket_policy").is_none());

    // Destroy leaves nothing behind.
    let out = ws.ok(&["destroy", &smaller, "--auto-approve"]);
    assert!(
        stdout(&out).contains("Destroy complete! Resources: 0 added, 0 changed, 7 destroyed."),
        "{}",
        stdout(&out)
    );
    assert_eq!(bucket_names(&clients).await, Vec::<String>::new());
    assert_eq!(queue_urls(&clients).await, Vec::<String>::new());
    assert_eq!(state(&ws)["resources"], serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn notification_keeps_other_configurations_on_the_bucket() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let (ws, clients) = applied().await;
    let dir = ws.dir();
    let stack = stack_file();
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("storage-dev-content-{account}");

    // Someone else's notification on the same bucket, to their own queue.
    let other = clients
        .sqs
        .create_queue()
        .queue_name("someone-else")
        .send()
        .await
        .unwrap();
    let other_arn = queue_attribute(&clients, other.queue_url().unwrap(), Q::QueueArn)
        .await
        .unwrap();
    let current = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let mut queues = current.queue_configurations().to_vec();
    queues.push(
        QueueConfiguration::builder()
            .id("theirs")
            .queue_arn(&other_arn)
            .events(Event::from("s3:ObjectRemoved:*"))
            .build()
            .unwrap(),
    );
    let config = NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .build();
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(config)
        .send()
        .await
        .unwrap();

    // Theirs is not ours: no change planned; ours is updated beside it.
    assert_no_changes(&storage_plan(&ws, &[]));
    ws.ok(&[
        "apply",
        &stack,
        "--auto-approve",
        "--var",
        "prefix=uploads/",
    ]);
    let ids = |n: &aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput| {
        let mut ids: Vec<String> = n.queue_configurations().iter().filter_map(|q| q.id().map(str::to_string)).collect();
        ids.sort();
        ids
    };
    let after = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&after), ["content-input", "theirs"]);

    // Deleting ours (dropping it from the stack) leaves theirs.
    let dir2 = dir.join("no-notification");
    std::fs::create_dir_all(&dir2).unwrap();
    let stack_without = dir.join("without.toml");
    std::fs::write(
        &stack_without,
        format!(
            "extends = {:?}\n[resources.content_notification]\ndrop = true\n",
            stack
        ),
    )
    .unwrap();
    ws.ok(&["apply", stack_without.to_str().unwrap(), "--auto-approve"]);
    let after = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&after), ["theirs"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_empty_bucket_without_force_destroy_stops_with_its_name() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let stack = stack_file();
    let keep = ["--var", "force_destroy=false"];
    let mut apply = vec!["apply", stack.as_str(), "--auto-approve"];
    apply.extend(keep);
    ws.ok(&apply);
    let account = clients.account_id().await.unwrap().to_string();
    let bucket = format!("storage-dev-content-{account}");
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("input/keep.bin")
        .body(b"payload".to_vec().into())
        .send()
        .await
        .unwrap();

    let mut destroy = vec!["destroy", stack.as_str(), "--auto-approve"];
    destroy.extend(keep);
    let out = ws.run(&destroy);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("bucket `{bucket}` is not empty")),
        "{}",
        stderr(&out)
    );
    // Independent work finished; the bucket and its record remain.
    assert!(bucket_names(&clients).await.contains(&bucket));
    assert_eq!(
        state(&ws)["resources"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["content_bucket"]
    );

    // Setting force_destroy (a strata setting, applied without touching AWS) lets destroy empty it.
    ws.ok(&["apply", &stack, "--auto-approve"]);
    ws.ok(&["destroy", &stack, "--auto-approve"]);
    assert_eq!(bucket_names(&clients).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_applies_and_a_stale_one_is_refused() {
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = stack_file();
    ws.ok(&["plan", &stack, "--out", "first.plan"]);
    ws.ok(&["plan", &stack, "--out", "second.plan"]);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("first.plan"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let out = ws.ok(&["apply", "first.plan"]);
    assert!(
        stdout(&out).contains("Resources: 8 added"),
        "{}",
        stdout(&out)
    );
    let out = ws.run(&["apply", "second.plan"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the saved plan is stale"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        dir.join("broken.plan"),
        "{\"format_version\": 1, \"resources\": [",
    )
    .unwrap();
    let out = ws.run(&["apply", "broken.plan"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("broken.plan is not a valid saved plan"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_stops_apply_with_its_holder_and_dies_with_it() {
    let ws = Workspace::new();
    let dir = ws.dir();
    let stack = stack_file();
    std::fs::create_dir_all(dir.join(".strata")).unwrap();
    let lock_path = dir.join(format!(".strata/{STACK}-dev.state.lock"));
    // Another live process (this test) holds the OS lock, with its record in the file.
    let mut holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    holder.try_lock().unwrap();
    let record = serde_json::json!({"id": "1234-abcd", "operation": "apply", "who": "ci@builder", "pid": 4242, "created": 0});
    std::io::Write::write_all(&mut holder, record.to_string().as_bytes()).unwrap();

    let out = ws.run(&["apply", &stack, "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the state is locked by ci@builder (pid 4242) for `apply`"),
        "{err}"
    );
    assert!(err.contains("(lock id 1234-abcd)"), "{err}");
    assert!(
        !dir.join(format!(".strata/{STACK}-dev.state.json")).exists(),
        "nothing was done"
    );
    // A live holder's lock cannot be taken away.
    let out = ws.strata(&["force-unlock", &stack, "1234-abcd"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("stop it (kill 4242)"),
        "{}",
        stderr(&out)
    );

    // The holder dies (its file closes, as on kill -9): the lock goes with it, and the
    // record it left behind stops nobody.
    drop(holder);
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let out = ws.strata(&["force-unlock", &stack, "1234-abcd"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no lock is held"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_applies_never_both_run() {
    let ws = Workspace::new();
    let _dir = ws.dir();
    let stack = stack_file();
    // Every AWS call of the first apply (34 of them) is held 500 ms: it holds the lock for
    // seconds after its first call.
    let slow = ws.proxy(&["--latency-ms", "500"]);
    // The second one's calls are only counted.
    let counted = ws.proxy(&[]);
    let apply = |proxy: &Proxy| {
        ws.through(proxy)
            .command(&["apply", &stack, "--auto-approve"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = apply(&slow);
    // It calls AWS only once it holds the lock.
    let start = Instant::now();
    while slow.stats()["total"] == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first apply made no AWS call in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = apply(&counted).wait_with_output().unwrap();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first apply ended before the second did: they did not overlap"
    );
    let first = first.wait_with_output().unwrap();
    assert_exit(&first, 0);
    assert_exit(&second, 1);
    let err = stderr(&second);
    assert!(err.contains("the state is locked by"), "{err}");
    assert_eq!(counted.stats()["total"], 0, "the refused apply called AWS");
    assert_eq!(state(&ws)["resources"].as_object().unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_mid_walk_converges_on_the_next_run() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let stack = stack_file();
    // Killed (SIGKILL) while it waits on its AWS call number KILLED_AT + 1, which the proxy
    // holds: a kill in the middle of the walk, whatever the timing. One resource at a time,
    // the apply makes about 50 calls; after 24 both buckets and their policies are done.
    const KILLED_AT: usize = 24;
    assert!(
        crate::common::kill_after_call(&ws, &stack, "apply", KILLED_AT),
        "the apply finished within {KILLED_AT} calls: the kill did not land mid-run"
    );
    // The state file always parses, records part of the stack, and the killed process's
    // lock died with it.
    let partial = state(&ws);
    let recorded = partial["resources"].as_object().unwrap().len();
    assert!(
        (1..8).contains(&recorded),
        "killed mid-walk, the state records some of the 8 resources, not {recorded}: {partial}"
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    assert_no_changes(&storage_plan(&ws, &[]));
    // Everything on the emulator is recorded in state: two buckets and two queues.
    let recorded = state(&ws);
    let mut buckets = bucket_names(&clients).await;
    buckets.sort();
    let mut in_state: Vec<String> = ["content_bucket", "trail_bucket"]
        .iter()
        .map(|n| recorded["resources"][n]["id"].as_str().unwrap().to_string())
        .collect();
    in_state.sort();
    assert_eq!(buckets, in_state);
    assert_eq!(queue_urls(&clients).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn values_from_sensitive_variables_never_appear_in_plans() {
    let ws = Workspace::new();
    let _dir = ws.dir();
    let stack = stack_file();
    let out = ws.ok(&["plan", &stack]);
    let text = stdout(&out);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        text.contains("+ tags                       = (sensitive value)"),
        "{text}"
    );
    let out = ws.ok(&["plan", &stack, "--json"]);
    let text = stdout(&out);
    assert!(!text.contains("s3cr3t"), "{text}");
    let plan: Json = serde_json::from_str(&text).unwrap();
    let tags = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "content_queue")
        .flat_map(|r| r["changes"].as_array().unwrap())
        .find(|c| c["path"] == "tags")
        .unwrap();
    assert_eq!(tags["sensitive"], true, "{tags}");
    assert_eq!(tags["after"], Json::Null, "{tags}");
    ws.ok(&["apply", &stack, "--auto-approve"]);
    // A change to it is shown as a change, without either value.
    let out = ws.run(&["plan", &stack, "--var", "owner=other-s3cr3t"]);
    let text = stdout(&out);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        text.contains("~ tags.owner = (sensitive value) -> (sensitive value)"),
        "{text}"
    );
    let out = ws.ok_offline(&["validate", "--explain", &stack]);
    assert!(
        stdout(&out).contains("owner = (sensitive)"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("s3cr3t"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emulator_that_lost_everything_is_recreated_and_old_saved_plans_are_refused() {
    let (ws, clients) = applied().await;
    let _dir = ws.dir();
    let stack = stack_file();
    // A reviewed change, saved for later.
    ws.ok(&[
        "plan",
        &stack,
        "--var",
        "visibility=121",
        "--out",
        "before.plan",
    ]);

    // Everything disappears behind strata's back (the emulator is reset).
    let reset = reqwest::Client::new()
        .post(format!("{}/_ministack/reset", ws.emulator().endpoint))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    assert_eq!(bucket_names(&clients).await, Vec::<String>::new());

    let out = ws.run(&["apply", "before.plan"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the saved plan is stale")
            && stderr(&out).contains("sqs.queue.content_queue was deleted outside strata"),
        "{}",
        stderr(&out)
    );
    assert_eq!(bucket_names(&clients).await, Vec::<String>::new());
    let plan = storage_plan(&ws, &[]);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 8, "change": 0, "destroy": 0})
    );
    assert!(
        planned_changes(&plan)
            .iter()
            .all(|(_, action, _)| action == "create")
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    assert_no_changes(&storage_plan(&ws, &[]));
    assert_eq!(bucket_names(&clients).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_a_terminal_needs_auto_approve() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let _dir = ws.dir();
    let stack = stack_file();
    let out = ws
        .command(&["apply", &stack])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("pass --auto-approve"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        bucket_names(&clients).await,
        Vec::<String>::new(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_a_queue_replaces_it_and_its_dependents_follow() {
    let (ws, clients) = applied().await;
    let dir = ws.dir();
    let stack = stack_file();
    let renamed = dir.join("renamed.toml");
    std::fs::write(
        &renamed,
        format!("extends = {stack:?}\n[resources.content_queue]\nname = \"${{stack.name}}-${{var.stage}}-content-v2\"\n"),
    )
    .unwrap();
    let renamed = renamed.display().to_string();
    let plan = ws.plan_json(&renamed, &[]);
    let planned = planned_changes(&plan);
    let queue = planned
        .iter()
        .find(|c| c.0 == "sqs.queue.content_queue")
        .unwrap();
    assert_eq!(queue.1, "replace");
    let r = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "content_queue")
        .unwrap();
    assert_eq!(
        r["reason"],
        "`name` cannot change in place: the resource is replaced"
    );
    ws.ok(&["apply", &renamed, "--auto-approve"]);
    let urls = queue_urls(&clients).await;
    assert!(
        urls.iter().any(|u| u.ends_with("/storage-dev-content-v2")),
        "{urls:?}"
    );
    assert!(
        !urls.iter().any(|u| u.ends_with("/storage-dev-content")),
        "{urls:?}"
    );
    // The policy and the notification now point at the new queue.
    let new_url = urls.iter().find(|u| u.ends_with("-v2")).unwrap();
    let policy = queue_attribute(&clients, new_url, Q::Policy).await.unwrap();
    assert!(policy.contains("storage-dev-content-v2"), "{policy}");
    let account = clients.account_id().await.unwrap().to_string();
    let notification = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(format!("storage-dev-content-{account}"))
        .send()
        .await
        .unwrap();
    assert!(
        notification.queue_configurations()[0]
            .queue_arn()
            .ends_with(":storage-dev-content-v2")
    );
    let out = ws.run(&["plan", &renamed, "--json"]);
    assert_no_changes(&serde_json::from_slice(&out.stdout).unwrap());
}

/// `plan --destroy`: shows the deletion of everything in state, dependents first, changes
/// nothing (in AWS or in state), and saved with `--out` it is a destroy that `apply PLAN`
/// carries out.
#[tokio::test(flavor = "multi_thread")]
async fn plan_destroy_shows_every_deletion_changes_nothing_and_applies_saved() {
    let (ws, clients) = applied().await;
    let dir = ws.dir();
    let stack = stack_file();
    let state_path = dir.join(".strata/storage-dev.state.json");
    let state_before = std::fs::read_to_string(&state_path).unwrap();
    let buckets = bucket_names(&clients).await;
    let queues = queue_urls(&clients).await;

    let out = ws.run(&["plan", &stack, "--destroy", "--detailed-exitcode"]);
    assert_exit(&out, 2);
    let text = stdout(&out);
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("  # ")).collect();
    let position = |address: &str| {
        let heading = format!("  # {address} will be destroyed");
        headings
            .iter()
            .position(|h| *h == heading)
            .unwrap_or_else(|| panic!("{heading}:\n{text}"))
    };
    let st = state(&ws);
    let addresses: Vec<String> = st["resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| format!("{}.{name}", r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(headings.len(), addresses.len(), "{text}");
    for address in &addresses {
        position(address);
    }
    // Dependents before what they depend on.
    for (first, then) in [
        (
            "s3.bucket_policy.content_bucket_policy",
            "s3.bucket.content_bucket",
        ),
        (
            "s3.bucket_notification.content_notification",
            "sqs.queue.content_queue",
        ),
        ("sqs.queue.content_queue", "sqs.queue.dead_letter_queue"),
    ] {
        assert!(
            position(first) < position(then),
            "{first} before {then}:\n{text}"
        );
    }
    assert!(
        text.ends_with("Plan: 0 to add, 0 to change, 8 to destroy.\n"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), state_before);
    assert_eq!(bucket_names(&clients).await, buckets);
    assert_eq!(queue_urls(&clients).await, queues);

    ws.ok(&["plan", &stack, "--destroy", "--out", "destroy.plan"]);
    let out = ws.ok(&["apply", "destroy.plan"]);
    assert!(
        stdout(&out).contains("Destroy complete! Resources: 0 added, 0 changed, 8 destroyed."),
        "{}",
        stdout(&out)
    );
    assert_eq!(bucket_names(&clients).await, Vec::<String>::new());
    assert_eq!(queue_urls(&clients).await, Vec::<String>::new());
    let _out = ws.ok(&["plan", &stack, "--destroy", "--detailed-exitcode"]);
}
