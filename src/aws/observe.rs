//! What every AWS call did, for the logs and for whoever follows a run: [`CallLog`], an
//! interceptor on every service client, writes one `tracing` event per attempt (service,
//! operation, HTTP status, AWS request id, attempt number, duration). The SDK's own events
//! say when an attempt begins, but not which request id answered it nor how long it took.
//!
//! Retries are reported too: the SDK's (an attempt after the first, with what the previous
//! one got) and strata's own waits for eventual consistency ([`super::retry`]). Whoever runs
//! a piece of work and wants to hear of its retries runs it inside [`reporting_retries`]
//! (the apply engine does, per resource); the report reaches it through a task-local, so the
//! resources that retry need not know who listens.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Where the event of each attempt is written (`STRATA_LOG=strata::aws=debug` shows only them).
pub const TARGET: &str = "strata::aws";

/// Receives the reason of every retry made by the work it was given to.
pub type RetryReport = Arc<dyn Fn(String) + Send + Sync>;

tokio::task_local! {
    static RETRIES: RetryReport;
}

/// Runs `work`, telling `report` of each retry inside it (the SDK's and strata's).
pub async fn reporting_retries<F: Future>(report: RetryReport, work: F) -> F::Output {
    RETRIES.scope(report, work).await
}

/// Tells the listener of the current work (if any) that a call is being tried again, and
/// why; logs it either way.
pub fn retrying(reason: String) {
    tracing::debug!(target: TARGET, reason = %reason, "retrying");
    let _ = RETRIES.try_with(|report| report(reason));
}

/// The AWS request id of an answer: `x-amzn-requestid` (JSON and query protocols),
/// `x-amz-request-id` (S3, API Gateway's `x-amzn-requestid` too).
pub fn request_id_of(headers: &aws_smithy_runtime_api::http::Headers) -> Option<&str> {
    ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .filter(|id| !id.is_empty())
}

/// Logs one event per attempt of every call; see the module documentation.
#[derive(Debug, Default)]
pub struct CallLog;

/// When the attempt in flight began.
#[derive(Clone, Debug)]
struct AttemptStart(Instant);

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

/// What the previous attempt of this call got, for the retry's reason.
#[derive(Clone, Debug)]
struct PreviousAttempt(String);

impl Storable for PreviousAttempt {
    type Storer = StoreReplace<Self>;
}

fn names(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_string(), m.name().to_string()))
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()))
}

fn attempt(cfg: &ConfigBag) -> u32 {
    cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts())
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = attempt(cfg);
        if attempt > 1 {
            let (_, operation) = names(cfg);
            let previous = cfg
                .load::<PreviousAttempt>()
                .map_or_else(|| "a failed attempt".to_string(), |p| p.0.clone());
            retrying(format!("{operation}: attempt {attempt} after {previous}"));
        }
        cfg.interceptor_state()
            .store_put(AttemptStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = names(cfg);
        let attempt = attempt(cfg);
        let duration = cfg
            .load::<AttemptStart>()
            .map_or(Duration::ZERO, |s| s.0.elapsed());
        let duration_ms = duration.as_millis() as u64;
        let status = context.response().map(|r| r.status().as_u16());
        let request_id = context
            .response()
            .and_then(|r| request_id_of(r.headers()))
            .map(str::to_string);
        let error = match context.output_or_error() {
            Some(Err(err)) => Some(match err.as_operation_error() {
                Some(operation_error) => operation_error.to_string(),
                None => err.to_string(),
            }),
            _ => None,
        };
        let ok = error.is_none() && status.is_some_and(|s| s < 400);
        tracing::debug!(
            target: TARGET,
            service = service.as_str(),
            operation = operation.as_str(),
            status = status.map_or(0, u64::from),
            request_id = request_id.as_deref().unwrap_or("-"),
            attempt,
            duration_ms,
            error = error.as_deref().unwrap_or(""),
            "aws call {}",
            if ok { "succeeded" } else { "failed" }
        );
        if !ok {
            let previous = match (status, &error) {
                (Some(status), Some(error)) => format!("HTTP {status} ({error})"),
                (Some(status), None) => format!("HTTP {status}"),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".to_string(),
            };
            cfg.interceptor_state().store_put(PreviousAttempt(previous));
        }
        Ok(())
    }
}
