//! AWS errors reduced to what strata decides on: the operation, the service's error code
//! and message, and whether trying again may help.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::retry::ErrorKind as RetryKind;

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
        R: std::fmt::Debug + HasStatus + 'static,
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
            SdkError::DispatchFailure(failure)
                if failure.as_connector_error().is_some_and(not_sent) =>
            {
                (None, None, ErrorKind::Local)
            }
            SdkError::ResponseError(_)
            | SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_) => (None, None, ErrorKind::Transient),
            _ => (None, None, ErrorKind::Local),
        };
        let message = describe(&err);
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

/// A connector error that says nothing about the endpoint (a request the client refused to
/// send), as opposed to an endpoint it could not reach or that did not answer in time.
fn not_sent(connector: &ConnectorError) -> bool {
    !(connector.is_io()
        || connector.is_timeout()
        || connector.as_other() == Some(RetryKind::TransientError))
}

/// What went wrong, as one short line: the service's code and message, or the innermost
/// cause of a failure before or after the service answered. Never the SDK's Debug rendering
/// (`DisplayErrorContext` appends one, with the raw response: kilobytes for a malformed
/// XML answer).
fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus + 'static,
{
    match err {
        SdkError::ServiceError(service) => match (service.err().code(), service.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {}", one_line(message)),
            (Some(code), None) => code.to_string(),
            _ => format!(
                "HTTP {} without an error code ({})",
                service.raw().status_code(),
                root_cause(service.err())
            ),
        },
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(connector) if not_sent(connector) => {
                format!("the request was not sent: {}", root_cause(connector))
            }
            Some(connector) => format!("cannot reach the endpoint: {}", root_cause(connector)),
            None => format!("the request was not sent: {}", root_cause(err)),
        },
        SdkError::TimeoutError(_) => "no answer in time from the endpoint".to_string(),
        SdkError::ResponseError(response) => format!(
            "the answer could not be read (HTTP {}): {}",
            response.raw().status_code(),
            root_cause(err)
        ),
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built: {}", root_cause(err))
        }
        _ => root_cause(err),
    }
}

/// The innermost cause of an error chain ("Connection refused (os error 111)"), on one
/// short line.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    one_line(&current.to_string())
}

/// Whitespace collapsed to single spaces, cut at [`MAX_CAUSE`] characters.
fn one_line(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = out.char_indices().nth(MAX_CAUSE) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The longest cause strata prints; a parser's error can quote a whole document.
const MAX_CAUSE: usize = 160;

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
    R: std::fmt::Debug + HasStatus + 'static,
{
    move |err| AwsError::from_sdk(operation, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::list_buckets::ListBucketsError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    type Err = SdkError<ListBucketsError, Response>;

    /// A 200 answer whose body is not the XML it should be, kilobytes of it.
    fn malformed_answer() -> Response {
        let body = format!("<ListAllMyBucketsResult>{}", "<Bucket><Name>x".repeat(2000));
        Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body))
    }

    fn assert_one_short_line(err: &AwsError) {
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.chars().count() <= 240, "{} chars: {text}", text.len());
        for dump in ["SdkBody", "Response {", "headers", "<Bucket>", "{ "] {
            assert!(!text.contains(dump), "`{dump}` in {text}");
        }
    }

    #[test]
    fn a_malformed_answer_renders_as_one_line_with_its_cause() {
        let cause = "invalid XML: unexpected end of stream\n  while reading element <Name>";
        let err: Err = SdkError::response_error(cause, malformed_answer());
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_one_short_line(&err);
        assert_eq!(
            err.to_string(),
            "ListBuckets failed: the answer could not be read (HTTP 200): invalid XML: \
             unexpected end of stream while reading element <Name>"
        );
        assert_eq!(err.kind, ErrorKind::Transient);
    }

    #[test]
    fn a_request_that_cannot_be_built_renders_as_one_line() {
        let err: Err = SdkError::construction_failure("bucket name must not be empty");
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_one_short_line(&err);
        assert_eq!(
            err.to_string(),
            "ListBuckets failed: the request could not be built: bucket name must not be empty"
        );
        assert_eq!(err.kind, ErrorKind::Local);
    }

    #[test]
    fn a_long_cause_is_cut() {
        let err: Err = SdkError::construction_failure("x".repeat(10_000));
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_one_short_line(&err);
        assert!(err.message.ends_with('…'));
    }

    #[test]
    fn dispatch_failures_say_whether_the_endpoint_was_reached() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let err: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_eq!(
            err.to_string(),
            "ListBuckets failed: cannot reach the endpoint: Connection refused"
        );
        assert_eq!(err.kind, ErrorKind::Transient);

        let unsent: Err = SdkError::dispatch_failure(ConnectorError::user(
            "no credentials in the environment".into(),
        ));
        let err = AwsError::from_sdk("ListBuckets", unsent);
        assert_one_short_line(&err);
        assert_eq!(
            err.to_string(),
            "ListBuckets failed: the request was not sent: no credentials in the environment"
        );
        assert_eq!(err.kind, ErrorKind::Local);
    }

    #[test]
    fn a_service_error_without_a_code_is_one_line() {
        use aws_sdk_s3::error::ErrorMetadata;
        let unhandled = ListBucketsError::generic(ErrorMetadata::builder().build());
        let answer = Response::new(
            StatusCode::try_from(502).unwrap(),
            SdkBody::from("<html>".repeat(5000)),
        );
        let err: Err = SdkError::service_error(unhandled, answer);
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_one_short_line(&err);
        assert!(
            err.to_string()
                .starts_with("ListBuckets failed: HTTP 502 without an error code ("),
            "{err}"
        );
        assert_eq!((err.kind, err.status), (ErrorKind::Transient, Some(502)));
    }

    #[test]
    fn a_timeout_is_one_line() {
        let err: Err = SdkError::timeout_error("operation attempt timed out after 60s");
        let err = AwsError::from_sdk("ListBuckets", err);
        assert_eq!(
            err.to_string(),
            "ListBuckets failed: no answer in time from the endpoint"
        );
    }
}
