//! Data sources (issue 25): `[data.NAME]` reads an object strata does not manage (made here
//! with the SDK), the caller's identity, or another stack's outputs from its state (S3
//! here), at plan time, beside the refresh. What was read reaches the resources; the object
//! read is never changed nor deleted; a missing object or output is a plan error naming
//! it; reading another stack takes no lock and writes nothing to it.

use std::collections::BTreeMap;

use crate::common::{Proxy, Workspace, assert_exit, stderr, stdout};

/// The bucket the reader stack reads and never manages.
const SHARED: &str = "acme-shared-artifacts";

/// A queue whose tags carry what the data sources read.
fn reader(data: &str, tags: &str) -> String {
    format!(
        r#"[stack]
name = "reader"
{data}
[resources.jobs]
type = "sqs.queue"
name = "reader-jobs"
tags = {{ {tags} }}
"#
    )
}

const SHARED_DATA: &str = r#"
[data.shared]
type = "s3.bucket"
id = "acme-shared-artifacts"
"#;

const ME_DATA: &str = r#"
[data.me]
type = "sts.caller_identity"
"#;

async fn queue_tags(clients: &strata::aws::Clients, name: &str) -> BTreeMap<String, String> {
    let url = clients
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let out = clients
        .sqs
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .unwrap();
    out.tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

async fn bucket_tags(clients: &strata::aws::Clients, bucket: &str) -> Vec<(String, String)> {
    let out = clients
        .s3
        .get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn make_shared_bucket(clients: &strata::aws::Clients) {
    clients
        .s3
        .create_bucket()
        .bucket(SHARED)
        .send()
        .await
        .unwrap();
    let tag = aws_sdk_s3::types::Tag::builder()
        .key("owner")
        .value("platform")
        .build()
        .unwrap();
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(tag)
        .build()
        .unwrap();
    clients
        .s3
        .put_bucket_tagging()
        .bucket(SHARED)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_read_a_bucket_made_outside_strata_and_never_touch_it() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    make_shared_bucket(&clients).await;
    let stack = ws.write(
        "reader.toml",
        &reader(SHARED_DATA, r#"shared = "${data.shared.arn}""#),
    );

    ws.ok(&["apply", &stack, "--auto-approve"]);
    let arn = format!("arn:aws:s3:::{SHARED}");
    assert_eq!(
        queue_tags(&clients, "reader-jobs").await,
        BTreeMap::from([("shared".to_string(), arn.clone())])
    );
    // The state records the queue alone: a data source is never managed.
    let state = ws.state("reader", "default");
    let recorded: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, ["jobs"], "{state}");

    // Planned again: the value read is the same, nothing changes.
    let out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));

    ws.ok(&["destroy", &stack, "--auto-approve"]);
    let gone = clients.sqs.get_queue_url().queue_name("reader-jobs").send();
    assert!(gone.await.is_err(), "the queue is destroyed");
    assert_eq!(
        bucket_tags(&clients, SHARED).await,
        [("owner".to_string(), "platform".to_string())],
        "the bucket read is still there, unchanged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_saved_plan_applies_what_was_read_without_reading_again() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    make_shared_bucket(&clients).await;
    ws.write(
        "reader.toml",
        &reader(SHARED_DATA, r#"shared = "${data.shared.name}""#),
    );
    ws.ok(&["plan", "reader.toml", "--out", "saved.plan"]);
    // The bucket goes after the plan: the apply uses what the plan read.
    clients
        .s3
        .delete_bucket()
        .bucket(SHARED)
        .send()
        .await
        .unwrap();
    let proxy = ws.proxy(&[]);
    ws.through(&proxy).ok(&["apply", "saved.plan"]);
    assert_eq!(
        queue_tags(&clients, "reader-jobs").await,
        BTreeMap::from([("shared".to_string(), SHARED.to_string())])
    );
    let stats = proxy.stats();
    assert_eq!(stats["by_service"].get("s3"), None, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_missing_object_is_a_plan_error_naming_it() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let stack = ws.write(
        "reader.toml",
        &reader(SHARED_DATA, r#"shared = "${data.shared.arn}""#),
    );
    let out = ws.run(&["plan", &stack]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: data source `data.shared`: there is no s3.bucket with id `acme-shared-artifacts`
 --> reader.toml:6:6
  |
6 | id = \"acme-shared-artifacts\"
  |      ^^^^^^^^^^^^^^^^^^^^^^^ nothing has this id
  = note: a data source reads an object that exists; strata never creates it

error: the stack is not valid with the account, region and live values known now; nothing was changed
"
    );
    let queues = clients.sqs.list_queues().send().await.unwrap();
    assert!(queues.queue_urls().is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_caller_identity_gives_the_account() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let stack = ws.write(
        "reader.toml",
        &format!(
            "{}\n[outputs]\nwho = \"${{data.me.arn}}\"\n",
            reader(ME_DATA, r#"account = "${data.me.account_id}""#)
        ),
    );
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let identity = clients.identity().await.unwrap();
    assert_eq!(identity.account_id, "000000000000");
    assert_eq!(
        queue_tags(&clients, "reader-jobs").await,
        BTreeMap::from([("account".to_string(), identity.account_id.clone())])
    );
    let out = ws.ok_offline(&["output", &stack, "who"]);
    assert_eq!(stdout(&out), format!("{}\n", identity.arn));
    let out = ws.ok(&["plan", &stack, "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
}

/// Stack A keeps its state in S3 and has an output; B reads it.
const STATE_BUCKET: &str = "team-state";
const A_KEY: &str = "stacks/network.json";

const NETWORK: &str = r#"[stack]
name = "network"

[backend]
s3 = { bucket = "team-state", key = "stacks/network.json" }

[resources.events]
type = "sqs.queue"
name = "network-events"

[outputs]
events_arn = "${events.arn}"
"#;

/// Every object in the state bucket, key -> ETag.
async fn state_objects(clients: &strata::aws::Clients) -> BTreeMap<String, String> {
    let out = clients
        .s3
        .list_objects_v2()
        .bucket(STATE_BUCKET)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| {
            let key = o.key().unwrap().to_string();
            (key, o.e_tag().unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_read_another_stacks_outputs_from_s3_without_locking_it() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    ws.ok(&["bootstrap", STATE_BUCKET]);
    std::fs::create_dir(ws.dir().join("network")).unwrap();
    let network = ws.write("network/network.toml", NETWORK);
    ws.ok(&["apply", &network, "--auto-approve"]);
    let events_arn = "arn:aws:sqs:us-east-1:000000000000:network-events";

    let stack = ws.write(
        "reader.toml",
        &reader(
            "\n[data.network]\ntype = \"strata.stack\"\nstack = \"network/network.toml\"\n",
            r#"upstream = "${data.network.outputs.events_arn}""#,
        ),
    );
    let before = state_objects(&clients).await;
    assert_eq!(before.keys().collect::<Vec<_>>(), [A_KEY], "{before:?}");
    let proxy = ws.proxy(&[]);
    ws.through(&proxy).ok(&["apply", &stack, "--auto-approve"]);
    assert_eq!(
        queue_tags(&clients, "reader-jobs").await,
        BTreeMap::from([("upstream".to_string(), events_arn.to_string())])
    );
    // A's state was read, never locked nor written: the bucket holds the same object,
    // unchanged, and no write reached S3.
    assert_eq!(state_objects(&clients).await, before);
    let stats = proxy.stats();
    let s3: BTreeMap<&str, u64> = stats["by_operation"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("s3:"))
        .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
        .collect();
    // The state object and the listing of its journal: reads only.
    let reads = BTreeMap::from([("s3:GET /{bucket}", 1), ("s3:GetObject", 1)]);
    assert_eq!(s3, reads, "{stats}");

    // A's output is gone: B's plan names the output it wanted.
    let renamed = NETWORK.replace("events_arn =", "events =");
    ws.write("network/network.toml", &renamed);
    ws.ok(&["apply", &network, "--auto-approve"]);
    let out = ws.run(&["plan", &stack]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: stack network/network.toml (`data.network`) has no output `events_arn`
  --> reader.toml:11:22
   |
11 | tags = { upstream = \"${data.network.outputs.events_arn}\" }
   |                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ unknown output
  = help: did you mean `events`?
  = note: its outputs: events

error: the stack is not valid with the account, region and live values known now; nothing was changed
"
    );
}

/// A queue's no-op plan, with `data`, through a counting proxy: the calls it made.
fn plan_calls(ws: &Workspace, data: &str) -> BTreeMap<String, u64> {
    let stack = ws.write("reader.toml", &reader(data, r#"team = "core""#));
    let proxy = Proxy::start(&ws.emulator().endpoint, &[]);
    let out = ws
        .through(&proxy)
        .ok(&["plan", &stack, "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
    let stats = proxy.stats();
    stats["by_operation"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_add_no_call_but_their_reads_to_a_no_op_plan() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    make_shared_bucket(&clients).await;
    let stack = ws.write("reader.toml", &reader("", r#"team = "core""#));
    ws.ok(&["apply", &stack, "--auto-approve"]);

    let bare = plan_calls(&ws, "");
    // The caller's identity is the answer the run asked for anyway: not one call more.
    assert_eq!(plan_calls(&ws, ME_DATA), bare);
    // A bucket costs its own read, nothing else.
    let mut expected = bare.clone();
    for read in [
        "s3:HEAD /{bucket}",
        "s3:GET /{bucket}?encryption",
        "s3:GET /{bucket}?publicAccessBlock",
        "s3:GET /{bucket}?versioning",
        "s3:GET /{bucket}?tagging",
        "s3:GET /{bucket}?lifecycle",
    ] {
        *expected.entry(read.to_string()).or_default() += 1;
    }
    assert_eq!(
        plan_calls(&ws, &format!("{SHARED_DATA}{ME_DATA}")),
        expected
    );
}

#[test]
fn data_sources_policy_grants_their_reads_and_the_other_stacks_state_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("network")).unwrap();
    std::fs::write(dir.path().join("network/network.toml"), NETWORK).unwrap();
    let data = format!(
        "{SHARED_DATA}{ME_DATA}\n[data.network]\ntype = \"strata.stack\"\nstack = \"network/network.toml\"\n"
    );
    std::fs::write(
        dir.path().join("reader.toml"),
        format!("[stack]\nname = \"reader\"\n{data}"),
    )
    .unwrap();
    // Nothing listens at the endpoint: the policy is made from the stack files alone.
    let args = [
        "policy",
        "reader.toml",
        "--json",
        "--endpoint-url",
        "http://127.0.0.1:1",
    ];
    let out = crate::common::strata(dir.path(), &args);
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The bucket's reads, the other stack's state object and its listing (no lock, no
    // write); GetCallerIdentity needs no permission.
    assert_eq!(
        doc["Statement"],
        serde_json::json!([
            {"Sid": "S3", "Effect": "Allow", "Action": [
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
            ], "Resource": format!("arn:aws:s3:::{SHARED}")},
            {"Sid": "S32", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [
                format!("arn:aws:s3:::{SHARED}"),
                format!("arn:aws:s3:::{STATE_BUCKET}"),
            ]},
            {"Sid": "S33", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": format!("arn:aws:s3:::{STATE_BUCKET}/{A_KEY}")},
        ])
    );
}

#[test]
fn data_sources_show_in_graph_and_validate_beside_the_resources_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let stack = reader(
        &format!("{SHARED_DATA}{ME_DATA}"),
        r#"shared = "${data.shared.arn}", account = "${data.me.account_id}""#,
    );
    std::fs::write(dir.path().join("reader.toml"), stack).unwrap();
    let out = crate::common::strata(dir.path(), &["graph", "reader.toml"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        r#"digraph strata {
  rankdir = "BT";
  node [shape = box, fontname = "Helvetica"];
  "jobs" [label = "sqs.queue.jobs"];
  "data.shared" [label = "data.shared (s3.bucket)", shape = ellipse];
  "data.me" [label = "data.me (sts.caller_identity)", shape = ellipse];
  "jobs" -> "data.shared" [style = dotted];
  "jobs" -> "data.me" [style = dotted];
}
"#
    );
    let out = crate::common::strata(dir.path(), &["validate", "reader.toml"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out)
            .ends_with("\ndata sources: data.shared (s3.bucket), data.me (sts.caller_identity)\n"),
        "{}",
        stdout(&out)
    );
    // --explain: each with where it is written, and its id.
    let out = crate::common::strata(dir.path(), &["validate", "--explain", "reader.toml"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let lines: Vec<String> = text
        .lines()
        .skip_while(|l| *l != "data sources")
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "data sources",
            "data.shared (s3.bucket) reader.toml:4",
            "id = \"acme-shared-artifacts\" reader.toml:6",
            "data.me (sts.caller_identity) reader.toml:8",
        ],
        "{text}"
    );
}

/// How long a no-op plan of the queue with `data` takes when every call is held `held`.
fn plan_time(ws: &Workspace, data: &str, held: std::time::Duration) -> std::time::Duration {
    let stack = ws.write("reader.toml", &reader(data, r#"team = "core""#));
    let ms = held.as_millis().to_string();
    let proxy = Proxy::start(&ws.emulator().endpoint, &["--latency-ms", &ms]);
    let start = std::time::Instant::now();
    ws.through(&proxy)
        .ok(&["plan", &stack, "--detailed-exitcode"]);
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_are_read_in_the_same_round_as_the_refresh() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    make_shared_bucket(&clients).await;
    let stack = ws.write("reader.toml", &reader("", r#"team = "core""#));
    ws.ok(&["apply", &stack, "--auto-approve"]);
    // Each call held 1.5 s: the queue's no-op plan is one round (the caller's identity and
    // the refresh at once). A round of its own for the bucket's reads would add 1.5 s;
    // read beside the refresh, they add none (made sequential, this fails: 3.0 s against
    // 1.5 s). Half a round is the margin.
    let held = std::time::Duration::from_millis(1500);
    let bare = plan_time(&ws, "", held);
    let with_data = plan_time(&ws, SHARED_DATA, held);
    assert!(
        with_data < bare + held / 2,
        "the plan took {with_data:?} with a data source, {bare:?} without"
    );
}
