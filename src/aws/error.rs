//! AWS errors reduced to what strata decides on: the operation, the service's error code
//! and message, and whether trying again may help.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service answered with an error about the request.
    Service,
    /// Throttling, a 5xx, a timeout or a dropped connection: retry with backoff.
    Transient,
    /// The request could not be built or sent for a reason retrying won't fix.
    Local,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub kind: ErrorKind,
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "AWS.SimpleQueueService.RequestThrottled",
];

impl AwsError {
    pub fn new(operation: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: None,
            message: message.into(),
            status: None,
            kind: ErrorKind::Local,
        }
    }

    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let (code, status, kind) = match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().map(str::to_string);
                let status = service.raw().status_code();
                let transient =
                    status >= 500 || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
                (
                    code,
                    Some(status),
                    if transient {
                        ErrorKind::Transient
                    } else {
                        ErrorKind::Service
                    },
                )
            }
            SdkError::ResponseError(_)
            | SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_) => (None, None, ErrorKind::Transient),
            _ => (None, None, ErrorKind::Local),
        };
        let message = match &err {
            SdkError::ServiceError(service) => {
                match (service.err().code(), service.err().message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_string(),
                    _ => DisplayErrorContext(&err).to_string(),
                }
            }
            SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
                Some(connector) => format!("cannot reach the endpoint: {}", root_cause(connector)),
                None => DisplayErrorContext(&err).to_string(),
            },
            SdkError::TimeoutError(_) => "no answer in time from the endpoint".to_string(),
            _ => DisplayErrorContext(&err).to_string(),
        };
        AwsError {
            operation,
            code,
            message,
            status,
            kind,
        }
    }

    pub fn code_is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    pub fn message_contains(&self, text: &str) -> bool {
        self.message.contains(text)
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || self.code_is(&[
                "NoSuchBucket",
                "NotFound",
                "NoSuchEntity",
                "ResourceNotFoundException",
                "NotFoundException",
                "TrailNotFoundException",
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ])
    }
}

/// The innermost cause of an error chain ("Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The HTTP status of a raw response, whatever the SDK's response type.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// `.map_err(sdk("CreateQueue"))`: an SDK error of that operation as an [`AwsError`].
pub fn sdk<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    move |err| AwsError::from_sdk(operation, err)
}
