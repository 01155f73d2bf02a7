//! Cloud Control's asynchronous requests: CreateResource, UpdateResource and DeleteResource
//! answer at once with a request token, and the work goes on in AWS. [`wait`] polls
//! GetResourceRequestStatus with a backoff (and AWS's `RetryAfter`) until the request
//! ends, for at most [`DEADLINE`]; a FAILED request becomes an error with AWS's code and
//! message.

use std::time::{Duration, Instant};

use aws_sdk_cloudcontrol::types::{OperationStatus, ProgressEvent};

use crate::aws::{AwsError, Clients, ErrorKind, sdk};

/// How long a request may run before strata stops waiting (the next run resumes it).
pub const DEADLINE: Duration = Duration::from_secs(60 * 60);
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(5);

/// How a request ended.
pub enum Ended {
    /// SUCCESS, with the identifier of the object (absent for a delete).
    Success(Option<String>),
    /// FAILED or cancelled: the error names the type, AWS's code and message; the
    /// identifier is the object's when the handler had made one (NotStabilized).
    Failed(AwsError, Option<String>),
}

/// The error of a FAILED (or cancelled) request.
pub fn failure(type_name: &str, event: &ProgressEvent) -> AwsError {
    let code = event
        .error_code()
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|| {
            event
                .operation_status()
                .map_or("Failed", |s| s.as_str())
                .to_string()
        });
    let operation = event.operation().map_or("request", |o| o.as_str());
    let mut error = AwsError::new(
        "GetResourceRequestStatus",
        format!(
            "Cloud Control {operation} of {type_name}{} ended {}: {code}: {}",
            event
                .identifier()
                .map(|id| format!(" `{id}`"))
                .unwrap_or_default(),
            event.operation_status().map_or("FAILED", |s| s.as_str()),
            event.status_message().unwrap_or("no message")
        ),
    );
    error.code = Some(code);
    error.kind = ErrorKind::Service;
    // A handler's throttling or internal failure ended this request; a new one may work.
    if error.code_is(&[
        "Throttling",
        "ServiceInternalError",
        "InternalFailure",
        "NetworkFailure",
    ]) {
        error.kind = ErrorKind::Transient;
    }
    error
}

/// Waits for the request `token` to end.
pub async fn wait(aws: &Clients, type_name: &str, token: &str) -> Result<Ended, AwsError> {
    let start = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let out = aws
            .cloudcontrol
            .get_resource_request_status()
            .request_token(token)
            .send()
            .await
            .map_err(sdk("GetResourceRequestStatus"))?;
        let event = out
            .progress_event()
            .cloned()
            .unwrap_or_else(|| ProgressEvent::builder().request_token(token).build());
        if let Some(ended) = ended(type_name, &event) {
            return Ok(ended);
        }
        if start.elapsed() >= DEADLINE {
            return Err(AwsError::new(
                "GetResourceRequestStatus",
                format!(
                    "Cloud Control request {token} for {type_name} is still {} after {} minutes; the next run resumes it",
                    event
                        .operation_status()
                        .map_or("IN_PROGRESS", |s| s.as_str()),
                    DEADLINE.as_secs() / 60
                ),
            ));
        }
        let asked = event.retry_after().and_then(|at| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            let at = Duration::from_secs(u64::try_from(at.secs()).ok()?);
            at.checked_sub(now)
        });
        tokio::time::sleep(asked.unwrap_or(pause).min(MAX_POLL)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// How `event` ended, or `None` while the request runs.
pub fn ended(type_name: &str, event: &ProgressEvent) -> Option<Ended> {
    let identifier = event.identifier().map(str::to_string);
    match event.operation_status()? {
        OperationStatus::Success => Some(Ended::Success(identifier)),
        OperationStatus::Failed | OperationStatus::CancelComplete => {
            Some(Ended::Failed(failure(type_name, event), identifier))
        }
        _ => None,
    }
}

/// The request token of a mutating call's answer, or an error saying it is missing.
pub fn token_of(
    event: Option<&ProgressEvent>,
    operation: &'static str,
) -> Result<String, AwsError> {
    event
        .and_then(ProgressEvent::request_token)
        .map(str::to_string)
        .ok_or_else(|| AwsError::new(operation, "the answer has no request token"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudcontrol::types::{HandlerErrorCode, Operation};

    #[test]
    fn a_failed_request_names_the_type_the_code_and_the_message() {
        let event = ProgressEvent::builder()
            .operation(Operation::Create)
            .operation_status(OperationStatus::Failed)
            .error_code(HandlerErrorCode::AlreadyExists)
            .status_message("Topic alerts already exists")
            .build();
        let Some(Ended::Failed(error, None)) = ended("AWS::SNS::Topic", &event) else {
            panic!("failed")
        };
        assert_eq!(
            error.to_string(),
            "GetResourceRequestStatus failed: Cloud Control CREATE of AWS::SNS::Topic ended FAILED: AlreadyExists: Topic alerts already exists"
        );
        assert_eq!(error.code.as_deref(), Some("AlreadyExists"));
        assert_eq!(error.kind, ErrorKind::Service);
        let throttled = ProgressEvent::builder()
            .operation_status(OperationStatus::Failed)
            .error_code(HandlerErrorCode::Throttling)
            .build();
        let Some(Ended::Failed(error, _)) = ended("AWS::SNS::Topic", &throttled) else {
            panic!("failed")
        };
        assert_eq!(error.kind, ErrorKind::Transient);
        let running = ProgressEvent::builder()
            .operation_status(OperationStatus::InProgress)
            .build();
        assert!(ended("AWS::SNS::Topic", &running).is_none());
    }
}
