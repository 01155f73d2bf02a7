//! Crash consistency: `kill -9` during apply and destroy of the whole stack, right after
//! each AWS call in turn (the proxy holds the next call, so the kill lands at a known
//! point, never after the run finished). After every kill the state file parses; the next
//! run converges; nothing on the emulator is left unrecorded.
//!
//! By default the local-state tests kill after every third call (the same points on every
//! run) and the S3-state test after every sixth; `STRATA_CRASH_EVERY=1` kills after every
//! call (about 80 points for an apply, 20 for a destroy, 90 with S3 state).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::common::{
    Workspace, assert_exit, assert_no_changes, copy_stacks, kill_after_call,
    kill_after_call_through, recorded_ids, without_endpoint,
};
use serde_json::Value as Json;

fn state_of(dir: &Path) -> Option<Json> {
    let text =
        std::fs::read_to_string(dir.join(".strata/producer-consumer-dev.state.json")).ok()?;
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the state file must always parse: {e}\n{text}")),
    )
}

/// Every how many calls a test kills: `STRATA_CRASH_EVERY`, else `default`.
fn stride(default: usize) -> usize {
    std::env::var("STRATA_CRASH_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

async fn reset(ws: &Workspace) {
    let reset = reqwest::Client::new()
        .post(format!("{}/_ministack/reset", ws.emulator().endpoint))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    let _ = std::fs::remove_dir_all(ws.dir().join(".strata"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_after_any_call_converges_and_loses_nothing() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let every = stride(3);
    let mut k = 0;
    loop {
        reset(&ws).await;
        if !kill_after_call(&ws, &stack, "apply", k) {
            break;
        }
        // The state always parses (state_of panics otherwise), and the next run finishes
        // the job: every object on the emulator is recorded, and only those.
        let _ = state_of(dir);
        ws.ok(&["apply", &stack, "--auto-approve"]);
        let state = state_of(dir).unwrap();
        assert_eq!(state["resources"].as_object().unwrap().len(), 14);
        assert_eq!(
            without_endpoint(crate::common::live_ids(&clients).await),
            without_endpoint(recorded_ids(&state)),
            "after a kill following call {k}: every object on the emulator is in state, and only those"
        );
        k += every;
    }
    eprintln!(
        "apply: killed right after every {every} of calls 0..{k}; then it finished by itself"
    );
    assert!(
        k > 40,
        "an apply of the whole stack makes more than 40 calls, not {k}"
    );
    // The last run finished by itself: nothing left to do.
    assert_no_changes(&ws.plan_json(&stack, &[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destroy_killed_after_any_call_converges_and_loses_nothing() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let every = stride(3);
    let mut k = 0;
    loop {
        ws.ok(&["apply", &stack, "--auto-approve"]);
        if !kill_after_call(&ws, &stack, "destroy", k) {
            break;
        }
        // Whatever is still there is still recorded.
        let state = state_of(dir).unwrap();
        let live = without_endpoint(crate::common::live_ids(&clients).await);
        let recorded = without_endpoint(recorded_ids(&state));
        assert!(
            live.is_subset(&recorded),
            "after a kill following call {k}, unrecorded: {:?}",
            live.difference(&recorded).collect::<Vec<_>>()
        );
        k += every;
    }
    eprintln!(
        "destroy: killed right after every {every} of calls 0..{k}; then it finished by itself"
    );
    assert!(
        k > 15,
        "a destroy of the whole stack makes more than 15 calls, not {k}"
    );
    assert_eq!(crate::common::live_ids(&clients).await, BTreeSet::new());
    assert_eq!(state_of(dir).unwrap()["resources"], serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_what_is_running_records_it_and_releases_the_lock() {
    let ws = Workspace::new().with_stacks();
    let dir = ws.dir();
    let stack = ws.stack("producer-consumer");
    let child = ws
        .command(&["apply", &stack, "--auto-approve", "--parallelism", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the walk is under way (the state records a first resource).
    let start = std::time::Instant::now();
    while state_of(dir).is_none_or(|s| s["resources"].as_object().unwrap().is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "apply never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 1);
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("apply interrupted:") && err.contains("not started"),
        "{err}"
    );
    assert!(
        crate::common::stdout(&out).contains("(interrupted)"),
        "{}",
        crate::common::stdout(&out)
    );
    // The lock is released and nothing in flight was lost: the next apply finishes the job.
    let holder =
        std::fs::read_to_string(dir.join(".strata/producer-consumer-dev.state.lock")).unwrap();
    assert_eq!(holder, "", "the lock records no holder any more");
    let recorded = state_of(dir).unwrap()["resources"]
        .as_object()
        .unwrap()
        .len();
    assert!((1..14).contains(&recorded), "{recorded} recorded");
    ws.ok(&["apply", &stack, "--auto-approve"]);
    assert_no_changes(&ws.plan_json(&stack, &[]));
}

const STATE_BUCKET: &str = "crash-state";
const STATE_KEY: &str = "stacks/producer-consumer-dev.json";

async fn s3_object(clients: &strata::aws::Clients, key: &str) -> Option<Vec<u8>> {
    let out = clients
        .s3
        .get_object()
        .bucket(STATE_BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

/// The same kills with the state in S3 (issue 22): the state's own calls (the lock, the
/// reads, each create's pending record, the whole writes, the unlock) go through the proxy
/// too, so a kill lands between any two of them. Every call is held 100 ms, so the apply
/// lasts long enough for whole writes of the state to happen mid-run as well. After each
/// kill the state still reads (its journal replayed), the lock the killed run left is
/// removed with force-unlock, and the next apply converges with every object on the
/// emulator recorded: a create the killed run started is recorded or adopted, never lost
/// or made twice. Kill points are sampled (every sixth call): the local test above covers
/// every point of the engine's own calls.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_with_s3_state_killed_at_sampled_calls_converges_and_loses_nothing() {
    let ws = Workspace::new().with_stacks();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let stack = copy_stacks(dir).join("producer-consumer.toml");
    let text = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(
        &stack,
        format!(
            "{text}\n[backend]\ns3 = {{ bucket = \"{STATE_BUCKET}\", key = \"stacks/${{stack.name}}-${{var.stage}}.json\" }}\n"
        ),
    )
    .unwrap();
    let stack = stack.display().to_string();
    let lock_key = format!("{STATE_KEY}.lock");
    let live = || async {
        let mut ids = without_endpoint(crate::common::live_ids(&clients).await);
        ids.remove(STATE_BUCKET);
        ids
    };
    let every = stride(6);
    let mut k = 0;
    let mut kills = 0;
    loop {
        reset(&ws).await;
        ws.ok(&["bootstrap", STATE_BUCKET]);
        if !kill_after_call_through(&ws, &stack, "apply", k, &["--latency-ms", "100"]) {
            break;
        }
        kills += 1;
        // The state reads as the next run will read it, journal and all.
        let out = ws.ok(&["state", "pull", &stack]);
        if !out.stdout.is_empty() {
            let _: Json = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("after a kill following call {k}: {e}"));
        }
        if let Some(lock) = s3_object(&clients, &lock_key).await {
            let lock: Json = serde_json::from_slice(&lock).unwrap();
            let id = lock["id"].as_str().unwrap();
            ws.ok(&["force-unlock", &stack, id]);
        }
        let _out = ws.ok(&["apply", &stack, "--auto-approve"]);
        let state: Json =
            serde_json::from_slice(&s3_object(&clients, STATE_KEY).await.unwrap()).unwrap();
        assert_eq!(
            state["resources"].as_object().unwrap().len(),
            14,
            "after call {k}"
        );
        assert_eq!(
            live().await,
            without_endpoint(recorded_ids(&state)),
            "after a kill following call {k}: every object on the emulator is in state, and only those"
        );
        k += every;
    }
    eprintln!("apply with S3 state: killed after {kills} sampled calls (every {every} of 0..{k})");
    assert!(
        k > 90,
        "an apply of the whole stack with S3 state makes more than 90 calls, not {k} ({kills} kills)"
    );
    assert_no_changes(&ws.plan_json(&stack, &[]));
}
