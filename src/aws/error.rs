//! AWS errors reduced to what strata decides on: the operation, the service's error code
//! and message, and whether trying again may help. Credential failures (none found, an SSO
//! login missing or expired, a `credential_process` that failed, keys the service does not
//! accept) are their own kind, with a message naming the profile and the fix
//! ([`super::credentials`]); an S3 bucket in another region is reported with its region
//! ([`super::bucket_region`]).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::retry::ErrorKind as RetryKind;

use super::credentials::{
    EXPIRED_CREDENTIALS, INVALID_CREDENTIALS, credentials_failure, credentials_message,
    credentials_source, profile_name, rejected_credentials_message,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service answered with an error about the request.
    Service,
    /// Throttling, a 5xx, a timeout or a dropped connection: retry with backoff.
    Transient,
    /// The request could not be built or sent for a reason retrying won't fix.
    Local,
    /// No credentials could be loaded, or the service did not accept them: retrying won't
    /// fix it, the user must (the message says how).
    Credentials,
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

/// Codes for a call the credentials are not allowed to make.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "AuthorizationErrorException",
];

/// Appended to an access-denied answer: where to find what the stack needs.
pub const ACCESS_DENIED_HINT: &str = " (the credentials in use may not make this call; `strata policy STACK_FILE` lists the IAM permissions the stack needs)";

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
        if let SdkError::DispatchFailure(failure) = &err
            && let Some(connector) = failure.as_connector_error()
            && let Some(loading) = credentials_failure(connector)
        {
            return AwsError {
                operation,
                code: None,
                message: credentials_message(&profile_name(), &credentials_source(), loading),
                status: None,
                kind: ErrorKind::Credentials,
            };
        }
        let request_id = request_id(&err);
        let with_id = |message: String| match &request_id {
            Some(id) => format!("{message} (request id {id})"),
            None => message,
        };
        if let SdkError::ServiceError(service) = &err
            && let Some(code) = service.err().code()
            && (INVALID_CREDENTIALS.contains(&code) || EXPIRED_CREDENTIALS.contains(&code))
        {
            let answer = match service.err().message() {
                Some(message) => format!("{code}: {}", one_line(message)),
                None => code.to_string(),
            };
            return AwsError {
                operation,
                code: Some(code.to_string()),
                message: with_id(rejected_credentials_message(
                    &credentials_source(),
                    &profile_name(),
                    code,
                    &answer,
                )),
                status: Some(service.raw().status_code()),
                kind: ErrorKind::Credentials,
            };
        }
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
        let mut message = describe(&err);
        if code.as_deref().is_some_and(|c| ACCESS_DENIED.contains(&c)) {
            message.push_str(ACCESS_DENIED_HINT);
        }
        AwsError {
            operation,
            code,
            message: with_id(message),
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
            // Written by [`BucketRegion`], whole: the fix is at its end.
            (Some(code @ "PermanentRedirect"), Some(message))
                if message.contains("(the region in use)") =>
            {
                format!("{code}: {message}")
            }
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
pub(super) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    one_line(&current.to_string())
}

/// Whitespace collapsed to single spaces, cut at [`MAX_CAUSE`] characters.
pub(super) fn one_line(text: &str) -> String {
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

    /// The AWS request id in the response's headers.
    fn request_id(&self) -> Option<&str> {
        None
    }
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }

    fn request_id(&self) -> Option<&str> {
        super::observe::request_id_of(self.headers()).or_else(|| {
            // XML errors (query protocols, S3) also carry it in the body; an endpoint that
            // sends no header (an emulator) still names it there.
            let body = std::str::from_utf8(self.body().bytes()?).ok()?;
            let (_, rest) = body.split_once("<RequestId>")?;
            let (id, _) = rest.split_once("</RequestId>")?;
            Some(id.trim()).filter(|id| !id.is_empty() && id.len() <= 128)
        })
    }
}

/// The AWS request id of the answer behind an error, to quote to AWS support: the one the
/// SDK parsed from the error (body or headers), else the response's header. `None` when no
/// answer came. It ends the error's message, `(request id ...)`: the message, not a field
/// of its own, so that every error built from it (and each one a resource builds by hand)
/// keeps it.
fn request_id<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    let raw = match err {
        SdkError::ServiceError(service) => {
            if let Some(id) = service.err().meta().extra("aws_request_id") {
                return Some(id.to_string()).filter(|id| !id.is_empty());
            }
            service.raw()
        }
        SdkError::ResponseError(response) => response.raw(),
        _ => return None,
    };
    raw.request_id().map(str::to_string)
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
    use crate::aws::bucket_region::wrong_region_message;
    use crate::aws::credentials::rejected_credentials_message;
    use aws_credential_types::provider::error::{CredentialsError, TokenError};
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

    #[test]
    fn dispatch_failures_from_the_credentials_provider_are_credentials_errors() {
        let sso = CredentialsError::provider_error(TokenError::provider_error(
            "failed to load the cached SSO token",
        ));
        let err: Err = SdkError::dispatch_failure(ConnectorError::other(Box::new(sso), None));
        let err = AwsError::from_sdk("GetCallerIdentity", err);
        assert_eq!(err.kind, ErrorKind::Credentials);
        assert_one_short_line(&err);
        assert!(err.message.contains("aws sso login --profile "), "{err}");
        assert!(!err.message.contains("cannot reach"), "{err}");
    }

    #[test]
    fn keys_the_service_rejects_are_a_credentials_error_naming_the_key_id() {
        use aws_sdk_s3::error::ErrorMetadata;
        for (code, says) in [
            (
                "InvalidClientTokenId",
                "are not valid for this account and endpoint",
            ),
            (
                "SignatureDoesNotMatch",
                "are not valid for this account and endpoint",
            ),
            ("ExpiredToken", "have expired"),
        ] {
            let rejected = ListBucketsError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("The security token included in the request is invalid.")
                    .build(),
            );
            let answer = Response::new(StatusCode::try_from(403).unwrap(), SdkBody::empty());
            let err: Err = SdkError::service_error(rejected, answer);
            let err =
                AwsError::from_sdk("GetCallerIdentity", err).naming_access_key(Some("AKIAEXAMPLE"));
            assert_eq!(err.kind, ErrorKind::Credentials, "{code}");
            assert_eq!(err.code.as_deref(), Some(code));
            assert!(err.message.starts_with("credentials: "), "{err}");
            assert!(
                err.message.contains(&format!(
                    "(access key id AKIAEXAMPLE) {says} ({code}: The security token"
                )),
                "{err}"
            );
        }
        assert_eq!(
            rejected_credentials_message(
                "the credentials of profile `dev`",
                "dev",
                "ExpiredToken",
                "ExpiredToken: expired"
            ),
            "credentials: the credentials of profile `dev` have expired (ExpiredToken: expired); \
             get new ones (`aws sso login --profile dev` for an SSO profile, `aws login --profile dev` \
             for an `aws login` one)"
        );
    }

    #[test]
    fn a_service_error_ends_with_its_request_id() {
        use aws_sdk_s3::error::ErrorMetadata;
        let denied = ListBucketsError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("Access Denied")
                .custom("aws_request_id", "4442587FB7D0A2F9")
                .build(),
        );
        let answer = Response::new(StatusCode::try_from(403).unwrap(), SdkBody::empty());
        let err = AwsError::from_sdk("ListBuckets", Err::service_error(denied, answer));
        assert_eq!(
            err.to_string(),
            format!(
                "ListBuckets failed: AccessDenied: Access Denied{ACCESS_DENIED_HINT} (request id 4442587FB7D0A2F9)"
            )
        );
        assert_eq!(err.code.as_deref(), Some("AccessDenied"));

        // Not parsed from the error (an answer without a code): from the headers.
        let unhandled = ListBucketsError::generic(ErrorMetadata::builder().build());
        let mut answer = Response::new(StatusCode::try_from(500).unwrap(), SdkBody::empty());
        answer
            .headers_mut()
            .insert("x-amzn-RequestId", "0f5a7c4e-1111-2222-3333-444455556666");
        let err = AwsError::from_sdk("ListBuckets", Err::service_error(unhandled, answer));
        assert!(
            err.to_string()
                .ends_with("(request id 0f5a7c4e-1111-2222-3333-444455556666)"),
            "{err}"
        );

        // Only in an XML error's body.
        let unhandled = ListBucketsError::generic(
            ErrorMetadata::builder()
                .code("InvalidClientTokenId")
                .build(),
        );
        let answer = Response::new(
            StatusCode::try_from(403).unwrap(),
            SdkBody::from(
                "<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error>\
                 <RequestId>243b6434-1b32-4eff-8824-3621823832e5</RequestId></ErrorResponse>",
            ),
        );
        let err = AwsError::from_sdk("GetCallerIdentity", Err::service_error(unhandled, answer));
        assert!(
            err.to_string()
                .ends_with("(request id 243b6434-1b32-4eff-8824-3621823832e5)"),
            "{err}"
        );

        // No answer, no request id.
        let err: Err = SdkError::timeout_error("operation attempt timed out after 60s");
        assert!(
            !AwsError::from_sdk("ListBuckets", err)
                .to_string()
                .contains("request id")
        );
    }

    #[test]
    fn the_redirect_message_is_not_cut() {
        use aws_sdk_s3::error::ErrorMetadata;
        let message = wrong_region_message(Some(&"b".repeat(63)), "eu-west-1", "us-east-1");
        let redirect = ListBucketsError::generic(
            ErrorMetadata::builder()
                .code("PermanentRedirect")
                .message(&message)
                .build(),
        );
        let answer = Response::new(StatusCode::try_from(301).unwrap(), SdkBody::empty());
        let err: Err = SdkError::service_error(redirect, answer);
        let err = AwsError::from_sdk("HeadBucket", err);
        assert_eq!(err.message, format!("PermanentRedirect: {message}"));
        assert_eq!(err.kind, ErrorKind::Service);
    }
}
