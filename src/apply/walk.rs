//! The walk: runs the nodes of a [`DependencyQueue`] as they become ready, at most
//! `parallelism` at once, with no level barrier. When one fails, what depends on it is
//! skipped and independent work goes on. When `stop` fires (Ctrl-C), nothing new starts and
//! what is running finishes. Knows nothing of AWS: the caller says how to run a node.

use std::future::Future;

use tokio::task::JoinSet;

use crate::graph::DependencyQueue;

/// What the walk decides on its own; the runner reports starts and ends itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalkEvent {
    /// Never run, because `because` failed or was skipped.
    Skipped { name: String, because: String },
    /// Never run, because the walk was stopped.
    NotStarted { name: String },
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    /// The walk was stopped: what was running finished, nothing new started.
    pub interrupted: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

/// Walks `queue`, running each ready node with `run`.
pub async fn walk<R, F>(
    mut queue: DependencyQueue,
    parallelism: usize,
    stop: impl Future<Output = ()>,
    on_event: &(dyn Fn(WalkEvent) + Sync),
    mut run: R,
) -> Outcome
where
    R: FnMut(String) -> F,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut outcome = Outcome::default();
    let mut running: JoinSet<(String, Result<(), String>)> = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while !outcome.interrupted
            && running.len() < parallelism.max(1)
            && let Some(name) = queue.pop_ready()
        {
            let work = run(name.clone());
            running.spawn(async move { (name, work.await) });
        }
        if running.is_empty() {
            // Nothing runs and nothing is ready: what still waits can never start.
            for name in queue.drain() {
                on_event(WalkEvent::NotStarted { name: name.clone() });
                outcome.skipped.push(name);
            }
            return outcome;
        }
        tokio::select! {
            joined = running.join_next() => {
                let (name, result) = match joined.expect("something is running") {
                    Ok(pair) => pair,
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                };
                match result {
                    Ok(()) => {
                        queue.finish(&name);
                        outcome.done.push(name);
                    }
                    Err(error) => {
                        for (blocked, because) in queue.fail(&name) {
                            on_event(WalkEvent::Skipped { name: blocked.clone(), because });
                            outcome.skipped.push(blocked);
                        }
                        outcome.failed.push((name, error));
                    }
                }
            }
            () = &mut stop, if !outcome.interrupted => {
                outcome.interrupted = true;
                for name in queue.drain() {
                    on_event(WalkEvent::NotStarted { name: name.clone() });
                    outcome.skipped.push(name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The walk with fake resources: each node sleeps and records when it ran. Time is
    //! paused (tokio's test clock): a sleep ends when every task waits on a timer, in the
    //! order of the deadlines, so the orders and overlaps asserted here never depend on the
    //! machine's load.

    use super::*;
    use crate::graph::queue::queue;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Records the order nodes start and end in, and the peak number running at once.
    #[derive(Default)]
    struct Fake {
        log: Mutex<Vec<String>>,
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Fake {
        fn runner(
            self: &Arc<Self>,
            fail: &'static [&'static str],
            millis: u64,
        ) -> impl FnMut(String) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        {
            let fake = self.clone();
            move |name: String| {
                let fake = fake.clone();
                Box::pin(async move {
                    let now = fake.running.fetch_add(1, Ordering::SeqCst) + 1;
                    fake.peak.fetch_max(now, Ordering::SeqCst);
                    fake.log.lock().unwrap().push(format!("start {name}"));
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    fake.log.lock().unwrap().push(format!("end {name}"));
                    fake.running.fetch_sub(1, Ordering::SeqCst);
                    if fail.contains(&name.as_str()) {
                        Err(format!("{name} broke"))
                    } else {
                        Ok(())
                    }
                })
            }
        }

        fn position(&self, entry: &str) -> usize {
            let log = self.log.lock().unwrap();
            log.iter()
                .position(|e| e == entry)
                .unwrap_or_else(|| panic!("{entry} not in {log:?}"))
        }
    }

    fn collect() -> (Arc<Mutex<Vec<WalkEvent>>>, impl Fn(WalkEvent) + Sync) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        (events, move |e| sink.lock().unwrap().push(e))
    }

    #[tokio::test(start_paused = true)]
    async fn dependents_are_skipped_after_a_failure_and_independent_work_finishes() {
        let fake = Arc::new(Fake::default());
        let (events, on_event) = collect();
        let q = queue(&[
            ("role", &[]),
            ("function", &["role"]),
            ("api", &["function"]),
            ("bucket", &[]),
            ("policy", &["bucket"]),
        ]);
        let outcome = walk(
            q,
            4,
            std::future::pending(),
            &on_event,
            fake.runner(&["role"], 5),
        )
        .await;
        assert_eq!(
            outcome.failed,
            [("role".to_string(), "role broke".to_string())]
        );
        let mut done = outcome.done.clone();
        done.sort();
        assert_eq!(done, ["bucket", "policy"]);
        assert_eq!(outcome.skipped, ["function", "api"]);
        assert_eq!(
            *events.lock().unwrap(),
            [
                WalkEvent::Skipped {
                    name: "function".into(),
                    because: "role".into()
                },
                WalkEvent::Skipped {
                    name: "api".into(),
                    because: "function".into()
                },
            ]
        );
        assert!(
            !fake
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains("function"))
        );
        assert!(!outcome.success());
    }

    #[tokio::test(start_paused = true)]
    async fn parallelism_is_never_exceeded() {
        for parallelism in [1, 3] {
            let fake = Arc::new(Fake::default());
            let (_, on_event) = collect();
            let names: Vec<String> = (0..12).map(|i| format!("q{i}")).collect();
            let q = DependencyQueue::new(names.iter().map(|n| (n.clone(), Vec::<String>::new())));
            let outcome = walk(
                q,
                parallelism,
                std::future::pending(),
                &on_event,
                fake.runner(&[], 10),
            )
            .await;
            assert_eq!(outcome.done.len(), 12);
            assert_eq!(fake.peak.load(Ordering::SeqCst), parallelism);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_node_starts_only_after_what_it_waits_for_ended() {
        // A destroy walk is the same queue over reversed edges: dependents go first.
        let fake = Arc::new(Fake::default());
        let (_, on_event) = collect();
        let q = queue(&[
            ("notification", &[]),
            ("queue_policy", &["notification"]),
            ("queue", &["queue_policy", "notification"]),
            ("dlq", &["queue"]),
        ]);
        let outcome = walk(
            q,
            10,
            std::future::pending(),
            &on_event,
            fake.runner(&[], 5),
        )
        .await;
        assert!(outcome.success());
        assert!(fake.position("end notification") < fake.position("start queue_policy"));
        assert!(fake.position("end queue_policy") < fake.position("start queue"));
        assert!(fake.position("end queue") < fake.position("start dlq"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_lets_running_work_finish_and_starts_nothing_new() {
        let fake = Arc::new(Fake::default());
        let (events, on_event) = collect();
        let q = queue(&[("a", &[]), ("b", &[]), ("c", &["a"]), ("d", &[])]);
        let stop = tokio::time::sleep(Duration::from_millis(20));
        let outcome = walk(q, 2, stop, &on_event, fake.runner(&[], 100)).await;
        assert!(outcome.interrupted);
        let mut done = outcome.done.clone();
        done.sort();
        assert_eq!(done, ["a", "b"], "both running nodes finished");
        assert_eq!(outcome.skipped, ["c", "d"]);
        assert_eq!(
            *events.lock().unwrap(),
            [
                WalkEvent::NotStarted { name: "c".into() },
                WalkEvent::NotStarted { name: "d".into() }
            ]
        );
        let mut log = fake.log.lock().unwrap().clone();
        log.sort();
        assert_eq!(log, ["end a", "end b", "start a", "start b"]);
    }
}
