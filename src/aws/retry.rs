//! Retrying for eventual consistency and transient faults: exponential backoff with full
//! jitter, short first waits (be fast where the API is fast), bounded in total time.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use super::error::{AwsError, ErrorKind};

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Give up once this much time has passed.
    pub budget: Duration,
}

impl Backoff {
    /// For most calls: starts at 50 ms, at most 2 s apart, 60 s in all.
    pub const STANDARD: Backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_secs(2),
        budget: Duration::from_secs(60),
    };
    /// IAM propagation and other slow consistency: up to 2 minutes.
    pub const PATIENT: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(5),
        budget: Duration::from_secs(120),
    };
}

/// Runs `op` until it succeeds, fails with an error `retryable` does not accept, or the
/// budget is spent. Transient errors (throttling, 5xx, connections) are always retried.
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    retryable: impl Fn(&AwsError) -> bool,
    mut op: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let start = Instant::now();
    let mut ceiling = backoff.first;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(err) => {
                let again = err.kind == ErrorKind::Transient || retryable(&err);
                if !again || start.elapsed() >= backoff.budget {
                    return Err(err);
                }
                let wait = rand::rng().random_range(ceiling / 2..=ceiling);
                tokio::time::sleep(wait).await;
                ceiling = (ceiling * 2).min(backoff.max);
            }
        }
    }
}

/// Polls `check` until it returns `Some`, with the same backoff; `None` when time runs out.
pub async fn wait_until<T, F, Fut>(backoff: Backoff, mut check: F) -> Result<Option<T>, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let start = Instant::now();
    let mut ceiling = backoff.first;
    loop {
        if let Some(v) = check().await? {
            return Ok(Some(v));
        }
        if start.elapsed() >= backoff.budget {
            return Ok(None);
        }
        tokio::time::sleep(ceiling).await;
        ceiling = (ceiling * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn err(kind: ErrorKind, code: &str) -> AwsError {
        AwsError {
            operation: "Op",
            code: Some(code.into()),
            message: code.into(),
            status: None,
            kind,
        }
    }

    const FAST: Backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(2),
        budget: Duration::from_secs(5),
    };

    #[tokio::test]
    async fn retries_transient_and_accepted_errors_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry(
            FAST,
            |e| e.code_is(&["NotYet"]),
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(err(ErrorKind::Transient, "Throttling")),
                    1 => Err(err(ErrorKind::Service, "NotYet")),
                    _ => Ok(7),
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stops_at_the_first_error_it_does_not_accept() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry(
            FAST,
            |_| false,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(ErrorKind::Service, "AccessDenied"))
            },
        )
        .await;
        assert_eq!(result.unwrap_err().code.as_deref(), Some("AccessDenied"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_when_the_budget_is_spent() {
        let budget = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(1),
            budget: Duration::from_millis(20),
        };
        let result: Result<(), _> = retry(
            budget,
            |_| true,
            || async { Err(err(ErrorKind::Service, "NotYet")) },
        )
        .await;
        assert!(result.is_err());
    }
}
