//! The state's load and save at scale: a local state of N resources (default 10,000; the
//! record of each is the shape bench/scale.sh's stacks leave, a bucket or a queue with its
//! attributes) is written once, then loaded (read, parsed, journal replayed) and saved
//! (serialised, written atomically, fsynced) `ROUNDS` times; the median of each is printed.
//!
//! usage: cargo bench --bench state [-- N]     (issue 15's target: both under 0.5 s at 10,000)

use std::time::{Duration, Instant};

use strata::state::local::LocalStore;
use strata::state::store::{StateStore, save};

const ROUNDS: usize = 5;

fn record(i: usize) -> String {
    if i.is_multiple_of(2) {
        format!(
            r#""b{i}": {{"type": "s3.bucket", "id": "scale-dev-b{i}-000000000000", "attributes": {{"name": "scale-dev-b{i}-000000000000", "arn": "arn:aws:s3:::scale-dev-b{i}-000000000000", "domain_name": "scale-dev-b{i}-000000000000.s3.amazonaws.com", "regional_domain_name": "scale-dev-b{i}-000000000000.s3.us-east-1.amazonaws.com", "region": "us-east-1", "sse_algorithm": "AES256", "versioning": false, "tags": {{"n": "{i}", "stack": "scale"}}, "lifecycle_rules": [], "force_destroy": true}}, "dependencies": []}}"#
        )
    } else {
        format!(
            r#""q{i}": {{"type": "sqs.queue", "id": "http://sqs.us-east-1.localhost:4566/000000000000/scale-dev-q{i}", "attributes": {{"name": "scale-dev-q{i}", "url": "http://sqs.us-east-1.localhost:4566/000000000000/scale-dev-q{i}", "arn": "arn:aws:sqs:us-east-1:000000000000:scale-dev-q{i}", "visibility_timeout_seconds": 60, "message_retention_seconds": 345600, "delay_seconds": 0, "max_message_size": 262144, "receive_wait_time_seconds": 0, "sqs_managed_sse_enabled": true, "tags": {{"n": "{i}", "stack": "scale"}}}}, "dependencies": ["b{}"]}}"#,
            i - 1
        )
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("N must be a number of resources"))
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let records: Vec<String> = (0..n).map(record).collect();
    let text = format!(
        r#"{{"version": 1, "serial": 1, "lineage": "bench", "stack": "scale", "stage": "dev", "placement": {{"account_id": "000000000000", "region": "us-east-1", "partition": "aws"}}, "resources": {{{}}}, "outputs": {{}}}}"#,
        records.join(", ")
    );
    std::fs::write(dir.path().join("scale-dev.state.json"), &text).expect("write the state");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (mut loads, mut saves) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let store = LocalStore::new(dir.path(), "scale", "dev");
        let start = Instant::now();
        let mut state = store.load().expect("load the state");
        loads.push(start.elapsed());
        assert_eq!(state.resources.len(), n);
        let start = Instant::now();
        runtime
            .block_on(save(&store as &dyn StateStore, &mut state))
            .expect("save the state");
        saves.push(start.elapsed());
    }
    println!(
        "state of {n} resources ({:.1} MB): load {:.3} s, save {:.3} s (median of {ROUNDS})",
        text.len() as f64 / 1e6,
        median(loads).as_secs_f64(),
        median(saves).as_secs_f64()
    );
}
