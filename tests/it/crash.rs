//! Crash consistency: `kill -9` at seeded random moments during apply and destroy of the
//! whole stack. After every kill the state file parses; the next runs converge; nothing
//! on the emulator is left unrecorded.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::common::{
    Emulator, assert_exit, copy_stacks, plan_json, planned_changes, run, strata_command,
};
use serde_json::Value as Json;

/// A small deterministic generator (xorshift), so a failing seed can be replayed with
/// STRATA_CRASH_SEED.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const KILLS: usize = 20;

fn state_of(dir: &Path) -> Option<Json> {
    let text =
        std::fs::read_to_string(dir.join(".strata/producer-consumer-dev.state.json")).ok()?;
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the state file must always parse: {e}\n{text}")),
    )
}

/// Starts `strata ARGS` and kills it with SIGKILL after `delay`. Its lock dies with it: the
/// next run must not need a force-unlock.
fn kill_after(dir: &Path, emulator: &Emulator, stack: &str, command: &str, delay: Duration) {
    let mut child = strata_command(
        dir,
        &[
            command,
            stack,
            "--auto-approve",
            "--endpoint-url",
            &emulator.endpoint,
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    let _ = state_of(dir);
}

/// The ids the state records for top-level objects (policies and notifications share their
/// parent's id).
fn recorded_ids(state: &Json) -> BTreeSet<String> {
    let top = [
        "s3.bucket",
        "sqs.queue",
        "iam.role",
        "lambda.function",
        "apigateway.rest_api",
        "cloudtrail.trail",
    ];
    state["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| top.contains(&r["type"].as_str().unwrap()))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_applies_and_destroys_always_converge_and_lose_nothing() {
    let seed: u64 = std::env::var("STRATA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128);
    eprintln!("crash seed {seed} (replay with STRATA_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let emulator = Emulator::start();
    let clients = emulator.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = copy_stacks(dir)
        .join("producer-consumer.toml")
        .display()
        .to_string();

    for _ in 0..KILLS {
        kill_after(
            dir,
            &emulator,
            &stack,
            "apply",
            Duration::from_millis(rng.below(1200)),
        );
    }
    assert_exit(
        &run(dir, &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(planned_changes(&plan_json(dir, &emulator, &stack, &[])), []);
    let state = state_of(dir).unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 13);
    assert_eq!(
        crate::common::live_ids(&clients).await,
        recorded_ids(&state),
        "every object on the emulator is in state, and only those"
    );

    for _ in 0..KILLS {
        kill_after(
            dir,
            &emulator,
            &stack,
            "destroy",
            Duration::from_millis(rng.below(600)),
        );
        // Whatever is still there is still recorded.
        let state = state_of(dir).unwrap();
        let live = crate::common::live_ids(&clients).await;
        assert!(
            live.is_subset(&recorded_ids(&state)),
            "unrecorded: {:?}",
            live.difference(&recorded_ids(&state)).collect::<Vec<_>>()
        );
    }
    assert_exit(
        &run(dir, &emulator, &["destroy", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(crate::common::live_ids(&clients).await, BTreeSet::new());
    assert_eq!(state_of(dir).unwrap()["resources"], serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_what_is_running_records_it_and_releases_the_lock() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = copy_stacks(dir)
        .join("producer-consumer.toml")
        .display()
        .to_string();
    let child = strata_command(
        dir,
        &[
            "apply",
            &stack,
            "--auto-approve",
            "--parallelism",
            "1",
            "--endpoint-url",
            &emulator.endpoint,
        ],
    )
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
    assert!((1..13).contains(&recorded), "{recorded} recorded");
    assert_exit(
        &run(dir, &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
    assert_eq!(planned_changes(&plan_json(dir, &emulator, &stack, &[])), []);
}
