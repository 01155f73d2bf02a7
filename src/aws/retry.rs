//! Retries, in two layers with separate budgets, so that no error is ever retried by both
//! (an SDK budget multiplied by a strata budget):
//!
//! 1. **Transient faults** (throttling, 5xx, timeouts, dropped connections, answers that
//!    cannot be read) belong to the SDK's standard retry strategy, configured once for every
//!    client in [`super::Clients::connect`]: [`SDK_MAX_ATTEMPTS`] attempts per call,
//!    exponential backoff with full jitter from [`SDK_FIRST_BACKOFF`], at most
//!    [`SDK_MAX_BACKOFF`] apart (about 4 s of waiting per call at worst), each attempt cut off
//!    after 60 s, plus the SDK's retry quota per service (a token bucket), which stops
//!    retrying when a service fails everything. An error that comes out of the SDK after
//!    that is final: [`retry`] never retries it ([`ErrorKind::Transient`] only says what kind
//!    of failure it was).
//! 2. **Eventual consistency** (an answer that is right now and will be different in a
//!    moment, because AWS has not yet propagated an earlier change) belongs to strata: each
//!    resource calls [`retry`] with a predicate naming exactly the answers it waits out, and
//!    one of the [`Backoff`] classes below, whose `budget` is the deadline for the whole
//!    wait. Every attempt inside it is one SDK call with its own transient budget (1.).
//!
//! | class | deadline | answers waited out |
//! |---|---|---|
//! | [`Backoff::CONSISTENCY`] | 60 s | an object created a moment ago not yet visible to the next call (S3 `NoSuchBucket`, IAM `NoSuchEntity`), S3 "Unable to validate the following destination configurations" until a queue policy propagates, Lambda `ResourceConflictException` while an update is in progress, IAM "Invalid principal" in a bucket policy, S3 `BucketNotEmpty` after force_destroy emptied the bucket (an object written between the last listing and DeleteBucket: empty again), per-key `SlowDown`/`InternalError`/`ServiceUnavailable`/`OperationAborted` inside a 200 DeleteObjects answer (those keys again) |
//! | [`Backoff::PROPAGATION`] | 120 s | IAM propagation: a new role that Lambda cannot assume yet, a log bucket policy CloudTrail does not see yet |
//! | [`Backoff::NAME_REUSE`] | 75 s | SQS `QueueDeletedRecently`: a queue name is blocked for 60 s after DeleteQueue |
//! | [`Backoff::BUCKET_NAME_REUSE`] | 300 s | S3 `OperationAborted` from CreateBucket: a bucket name deleted a moment ago (the Terraform AWS provider waits 5 minutes) |
//! | [`Backoff::BRIEF`] | 15 s | IAM `DeleteConflict` for policies removed a moment before DeleteRole; a real conflict is reported after this |
//!
//! 3. **Fixed quotas** (API Gateway's account-level control-plane rates: DeleteRestApi 1 per
//!    30 s, CreateRestApi 1 per 3 s, CreateDeployment 1 per 5 s) are longer than any SDK
//!    backoff: [`within_quota`] sends such a call, and once the SDK's attempts are spent on
//!    a 429, waits as long as the answer's `Retry-After` says (the SDK honours only
//!    `x-amz-retry-after`, and never longer than its largest backoff), up to
//!    [`QUOTA_BUDGET`] in all, as the Terraform provider does. A ConflictException that
//!    says to try again later is waited out the same way.
//!
//! Waiting for a state (a Lambda function becoming Active) is polling, not retrying: the
//! resource polls with its own deadline, and an error from a poll is final.

use std::future::Future;
use std::time::Duration;

// tokio's clock: the same as the system's in a run, and one that tests can pause.
use tokio::time::Instant;

use rand::Rng;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

#[cfg(doc)]
use super::error::ErrorKind;
use super::error::{AwsError, HasStatus, sdk};

/// The SDK's attempts per call (the first one included) for transient faults.
pub const SDK_MAX_ATTEMPTS: u32 = 8;
/// The SDK's first backoff ceiling; it doubles per attempt.
pub const SDK_FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The SDK's largest wait between two attempts.
pub const SDK_MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Give up once this much time has passed.
    pub budget: Duration,
}

impl Backoff {
    /// Objects created a moment ago: starts at 50 ms, at most 2 s apart, 60 s in all.
    pub const CONSISTENCY: Backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_secs(2),
        budget: Duration::from_secs(60),
    };
    /// IAM propagation: up to 2 minutes, at most 2 s apart. The wait is on the critical
    /// path of an apply (a function waits for its role): a longer step would overshoot the
    /// end of AWS's window by as much (measured: 5 s apart cost up to 4 s past an 8 s window).
    pub const PROPAGATION: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(2),
        budget: Duration::from_secs(120),
    };
    /// A queue name SQS keeps for 60 s after its queue was deleted.
    pub const NAME_REUSE: Backoff = Backoff {
        budget: Duration::from_secs(75),
        ..Backoff::PROPAGATION
    };
    /// A bucket name S3 keeps busy for a while after its bucket was deleted: 5 minutes, as
    /// the Terraform AWS provider waits.
    pub const BUCKET_NAME_REUSE: Backoff = Backoff {
        budget: Duration::from_secs(300),
        ..Backoff::PROPAGATION
    };
    /// A conflict that is either gone in a moment or real.
    pub const BRIEF: Backoff = Backoff {
        budget: Duration::from_secs(15),
        ..Backoff::CONSISTENCY
    };
}

/// Runs `op` until it succeeds, fails with an error `eventual` does not accept, or the
/// budget is spent. Only the answers `eventual` names are retried: transient faults were
/// already retried by the SDK (see the module documentation).
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    eventual: impl Fn(&AwsError) -> bool,
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
                if !eventual(&err) || start.elapsed() >= backoff.budget {
                    return Err(err);
                }
                let wait = rand::rng().random_range(ceiling / 2..=ceiling);
                super::observe::retrying(format!(
                    "{err}; waiting {} ms for it to settle",
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
                ceiling = (ceiling * 2).min(backoff.max);
            }
        }
    }
}

/// One SDK call (`call` builds and sends it), its error as an [`AwsError`] of
/// `operation`, retried like [`retry`] while `eventual` accepts the answer.
pub async fn retry_send<T, E, R, F, Fut>(
    backoff: Backoff,
    eventual: impl Fn(&AwsError) -> bool,
    operation: &'static str,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus + 'static,
{
    retry(backoff, eventual, || {
        let sent = call();
        async move { sent.await.map_err(sdk(operation)) }
    })
    .await
}

/// How long [`within_quota`] waits out quotas for one call, in all.
pub const QUOTA_BUDGET: Duration = Duration::from_secs(300);

/// Sends one call (`call` builds and sends it) within the service's fixed quotas: a 429
/// is waited out for as long as its `Retry-After` says (a growing backoff when it says
/// nothing), and so is a ConflictException asking to try again later; any other error is
/// final. Gives up after [`QUOTA_BUDGET`].
pub async fn within_quota<T, E, F, Fut>(operation: &'static str, mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let mut ceiling = Duration::from_secs(1);
    loop {
        let err = match call().await {
            Ok(v) => return Ok(v),
            Err(err) => err,
        };
        let wait = match &err {
            SdkError::ServiceError(s) if s.raw().status().as_u16() == 429 => {
                retry_after(s.raw()).unwrap_or(ceiling)
            }
            SdkError::ServiceError(s)
                if s.err().code() == Some("ConflictException")
                    && s.err()
                        .message()
                        .is_some_and(|m| m.to_ascii_lowercase().contains("try again later")) =>
            {
                ceiling
            }
            _ => return Err(sdk(operation)(err)),
        };
        if start.elapsed() + wait > QUOTA_BUDGET {
            return Err(sdk(operation)(err));
        }
        // A little more than asked, so that calls waiting together do not all come back at
        // the same instant.
        let spread = rand::rng().random_range(Duration::ZERO..=Duration::from_millis(250));
        super::observe::retrying(format!(
            "{}; waiting {} ms (a fixed quota)",
            sdk(operation)(err),
            (wait + spread).as_millis()
        ));
        tokio::time::sleep(wait + spread).await;
        ceiling = (ceiling * 2).min(Duration::from_secs(30));
    }
}

/// The wait a throttled answer asks for: `Retry-After` in seconds (RFC 9110; API Gateway
/// sends whole seconds), or `x-amz-retry-after` in milliseconds.
pub fn retry_after(raw: &HttpResponse) -> Option<Duration> {
    let headers = raw.headers();
    if let Some(ms) = headers
        .get("x-amz-retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms.min(300_000)));
    }
    let seconds = headers.get("retry-after")?.trim().parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(300.0)))
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
    use crate::aws::ErrorKind;
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
    async fn retries_the_eventual_answers_it_is_given_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry(
            FAST,
            |e| e.code_is(&["NotYet"]),
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(err(ErrorKind::Service, "NotYet")),
                    _ => Ok(7),
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// The SDK has already spent its attempts on a transient error: one more layer of
    /// retries would multiply them.
    #[tokio::test]
    async fn a_transient_error_is_not_retried_again() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry(
            FAST,
            |e| e.code_is(&["NotYet"]),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(ErrorKind::Transient, "Throttling"))
            },
        )
        .await;
        assert_eq!(result.unwrap_err().code.as_deref(), Some("Throttling"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
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

    #[test]
    fn the_wait_a_throttled_answer_asks_for_is_read_from_its_headers() {
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        let answer = |headers: &[(&str, &str)]| {
            let mut raw = Response::new(StatusCode::try_from(429).unwrap(), SdkBody::empty());
            for (k, v) in headers {
                raw.headers_mut().insert(k.to_string(), v.to_string());
            }
            raw
        };
        assert_eq!(
            retry_after(&answer(&[("Retry-After", "27")])),
            Some(Duration::from_secs(27))
        );
        assert_eq!(
            retry_after(&answer(&[("x-amz-retry-after", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&answer(&[("Retry-After", "soon")])), None);
        assert_eq!(retry_after(&answer(&[])), None);
    }

    /// The attempts of `retry` with `backoff` against an answer that never settles: when
    /// each was made (from the start), and the error it returned.
    async fn attempts_until_given_up(backoff: Backoff) -> (Vec<Duration>, AwsError) {
        let start = Instant::now();
        let times = std::sync::Mutex::new(Vec::new());
        let result: Result<(), _> = retry(
            backoff,
            |e| e.code.as_deref().is_some_and(|c| c.starts_with("NotYet")),
            || {
                let mut times = times.lock().unwrap();
                times.push(start.elapsed());
                let n = times.len();
                async move { Err(err(ErrorKind::Service, &format!("NotYet{n}"))) }
            },
        )
        .await;
        (times.into_inner().unwrap(), result.unwrap_err())
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_once_the_budget_is_spent_with_the_last_attempts_error() {
        let backoff = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(400),
            budget: Duration::from_secs(2),
        };
        let (times, error) = attempts_until_given_up(backoff).await;
        // The last attempt is the first one made once the budget was spent: none after it,
        // and it is its error that comes back.
        let last = *times.last().unwrap();
        assert!(last >= backoff.budget, "{times:?}");
        assert!(times[times.len() - 2] < backoff.budget, "{times:?}");
        assert_eq!(error.code, Some(format!("NotYet{}", times.len())));
        // Each wait is within [ceiling/2, ceiling], the ceiling doubling from `first` to `max`.
        let mut ceiling = backoff.first;
        for pair in times.windows(2) {
            let wait = pair[1] - pair[0];
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} for {ceiling:?}: {times:?}"
            );
            ceiling = (ceiling * 2).min(backoff.max);
        }
        // Hence the count: at least budget/max, at most (budget - ramp)/(max/2) plus the ramp.
        assert!(
            (8..=13).contains(&times.len()),
            "{} attempts: {times:?}",
            times.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_still_allows_the_first_attempt_only() {
        let (times, error) = attempts_until_given_up(Backoff {
            budget: Duration::ZERO,
            ..Backoff::CONSISTENCY
        })
        .await;
        assert_eq!(times, [Duration::ZERO]);
        assert_eq!(error.code.as_deref(), Some("NotYet1"));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_until_something_holds_polls_at_the_backoff_and_gives_up_at_the_budget() {
        let start = Instant::now();
        let backoff = Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(1),
            budget: Duration::from_secs(3),
        };
        let times = std::sync::Mutex::new(Vec::new());
        let found: Option<()> = wait_until(backoff, || {
            times.lock().unwrap().push(start.elapsed());
            async { Ok(None) }
        })
        .await
        .unwrap();
        assert_eq!(found, None);
        let ms: Vec<u128> = times
            .into_inner()
            .unwrap()
            .iter()
            .map(|t| t.as_millis())
            .collect();
        assert_eq!(ms, [0, 250, 750, 1750, 2750, 3750]);
    }
}
