//! AWS errors reduced to what strata decides on: the operation, the service's error code
//! and message, and whether trying again may help. Credential failures (none found, an SSO
//! login missing or expired, a `credential_process` that failed, keys the service does not
//! accept) are their own kind, with a message naming the profile and the fix; an S3 bucket in
//! another region is reported with its region ([`BucketRegion`]).

use aws_credential_types::provider::error::{CredentialsError, TokenError};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::ErrorKind as RetryKind;

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

/// Codes for keys the service does not know, or a signature made with the wrong secret.
const INVALID_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "InvalidSignatureException",
    "AuthFailure",
];

/// Codes for temporary credentials past their expiry.
const EXPIRED_CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "TokenRefreshRequired",
];

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

/// The profile the standard chain reads: `AWS_PROFILE`, or `default`.
pub fn profile_name() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// Where the keys in use come from, as the subject of a sentence: the environment's keys
/// win over any profile in the standard chain; without a profile named, the web identity
/// variables (EKS, CI with OIDC) say where they come from.
fn credentials_source() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if var("AWS_ACCESS_KEY_ID").is_some() {
        "the keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string()
    } else if let (None, Some(role), Some(token)) = (
        var("AWS_PROFILE"),
        var("AWS_ROLE_ARN"),
        var("AWS_WEB_IDENTITY_TOKEN_FILE"),
    ) {
        format!("the web identity credentials (role `{role}`, token file `{token}`)")
    } else {
        format!("the credentials of profile `{}`", profile_name())
    }
}

/// The deepest cause of a credentials failure, in one line. An answer of AWS (STS refusing
/// a role) reads `CODE: message (request id ID)`, not the SDK's `Error { code: ... }`.
fn credentials_cause(failure: &(dyn std::error::Error + 'static)) -> String {
    let mut current = Some(failure);
    while let Some(err) = current {
        if let Some(meta) = err.downcast_ref::<aws_smithy_types::error::ErrorMetadata>() {
            let mut text = format!(
                "{}: {}",
                meta.code().unwrap_or("error"),
                meta.message().unwrap_or("no message")
            );
            if let Some(id) = meta.extra("aws_request_id") {
                text.push_str(&format!(" (request id {id})"));
            }
            return one_line(&text);
        }
        current = err.source();
    }
    root_cause(failure)
}

/// The credentials provider's error inside a request that was not sent, if that is why it
/// was not sent.
fn credentials_failure(connector: &ConnectorError) -> Option<&(dyn std::error::Error + 'static)> {
    let mut current = std::error::Error::source(connector);
    while let Some(err) = current {
        if err.is::<CredentialsError>() || err.is::<TokenError>() {
            return Some(err);
        }
        current = err.source();
    }
    None
}

/// What went wrong loading credentials for `source` (a "the credentials of profile `NAME`"
/// sentence subject) and how to fix it, from the credentials provider's error.
fn credentials_message(
    profile: &str,
    source: &str,
    failure: &(dyn std::error::Error + 'static),
) -> String {
    let mut texts = Vec::new();
    let mut is_token_error = false;
    let mut current = Some(failure);
    while let Some(err) = current {
        is_token_error |= err.is::<TokenError>();
        texts.push(err.to_string());
        current = err.source();
    }
    let mentions = |word: &str| texts.iter().any(|t| t.contains(word));
    let cause = credentials_cause(failure);
    let cause = cause
        .strip_prefix("Error retrieving credentials: ")
        .unwrap_or(&cause);
    let who = format!("profile `{profile}`");
    if is_token_error || mentions("SSO") {
        format!(
            "credentials: the SSO login of {who} is missing or expired ({cause}); run `aws sso login --profile {profile}`"
        )
    } else if mentions("Login token") {
        format!(
            "credentials: the `aws login` session of {who} is missing or expired ({cause}); run `aws login --profile {profile}`"
        )
    } else if mentions("external process") {
        format!("credentials: the credential_process of {who} failed: {cause}")
    } else {
        match failure.downcast_ref::<CredentialsError>() {
            Some(CredentialsError::CredentialsNotLoaded(_)) => format!(
                "credentials: none found (tried the environment, {who}, web identity, container and instance metadata): \
                 run `aws configure`, `aws sso login --profile NAME` or `aws login`, then set AWS_PROFILE; or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ),
            Some(CredentialsError::ProviderTimedOut(_)) => {
                format!("credentials: loading {source} took too long ({cause})")
            }
            _ => format!("credentials: {source} could not be loaded: {cause}"),
        }
    }
}

/// The service did not accept the keys: unknown, wrong secret, or expired. `answer` is the
/// service's code and message; the secret is never shown.
fn rejected_credentials_message(source: &str, profile: &str, code: &str, answer: &str) -> String {
    if EXPIRED_CREDENTIALS.contains(&code) {
        format!(
            "credentials: {source} have expired ({answer}); get new ones (`aws sso login --profile {profile}` for an SSO profile, `aws login --profile {profile}` for an `aws login` one)"
        )
    } else {
        format!(
            "credentials: {source} are not valid for this account and endpoint ({answer}); check the keys, the profile and the endpoint in use"
        )
    }
}

impl AwsError {
    /// A credentials error from the service, with the access key id it rejected (the
    /// secret is never shown). Other errors are returned as they are.
    pub fn naming_access_key(mut self, access_key_id: Option<&str>) -> Self {
        if self.kind != ErrorKind::Credentials {
            return self;
        }
        if let Some(id) = access_key_id {
            let subject = format!("credentials: {}", credentials_source());
            if self.message.starts_with(&subject) && self.code.is_some() {
                self.message =
                    self.message
                        .replacen(&subject, &format!("{subject} (access key id {id})"), 1);
            }
        }
        self
    }
}

/// S3 answers a request for a bucket in another region with 301 PermanentRedirect, which
/// the SDK does not follow (awslabs/aws-sdk-rust#1052); to a HEAD without a body, so the
/// SDK sees an error without a code. This interceptor on the S3 client turns such an answer
/// into a `PermanentRedirect` error naming the bucket and both regions, from the
/// `x-amz-bucket-region` header.
#[derive(Debug)]
pub struct BucketRegion {
    /// The region the client works in.
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`) rather than `bucket.endpoint/key`.
    pub path_style: bool,
}

/// The bucket of the request in flight, kept from before it was sent.
#[derive(Clone, Debug)]
struct RequestedBucket(Option<String>);

impl Storable for RequestedBucket {
    type Storer = StoreReplace<Self>;
}

impl Intercept for BucketRegion {
    fn name(&self) -> &'static str {
        "BucketRegion"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bucket = bucket_of(context.request().uri(), self.path_style);
        cfg.interceptor_state().store_put(RequestedBucket(bucket));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().as_u16() != 301 {
            return Ok(());
        }
        let Some(bucket_region) = response.headers().get("x-amz-bucket-region") else {
            return Ok(());
        };
        let bucket = cfg.load::<RequestedBucket>().and_then(|b| b.0.clone());
        let message = wrong_region_message(bucket.as_deref(), bucket_region, &self.region);
        *response.body_mut() = SdkBody::from(format!(
            "<Error><Code>PermanentRedirect</Code><Message>{}</Message></Error>",
            xml_escape(&message)
        ));
        Ok(())
    }
}

/// "bucket NAME is in eu-west-1, not us-east-1 ...".
pub fn wrong_region_message(bucket: Option<&str>, bucket_region: &str, region: &str) -> String {
    let bucket = bucket.map_or("the bucket".to_string(), |b| format!("bucket {b}"));
    format!(
        "{bucket} is in {bucket_region}, not {region} (the region in use); S3 answers requests for it only in {bucket_region}: set AWS_REGION={bucket_region} or `[stack] region = \"{bucket_region}\"`, or use another bucket name"
    )
}

/// The bucket a request is for: the first path segment (path-style), or the host's labels
/// before `.s3.` / `.s3-` (virtual-hosted style).
fn bucket_of(uri: &str, path_style: bool) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let from_path = || {
        let segment = path.split(['/', '?']).next().unwrap_or("");
        (!segment.is_empty()).then(|| segment.to_string())
    };
    if path_style {
        return from_path();
    }
    let host = host.split(':').next().unwrap_or(host);
    match host.find(".s3.").or_else(|| host.find(".s3-")) {
        Some(end) => Some(host[..end].to_string()),
        None => from_path(),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

    fn credentials_text(failure: CredentialsError) -> String {
        credentials_message("dev", "the credentials of profile `dev`", &failure)
    }

    #[test]
    fn each_credentials_failure_names_the_profile_and_the_fix() {
        assert_eq!(
            credentials_text(CredentialsError::provider_error(
                TokenError::provider_error("failed to load the cached SSO token")
            )),
            "credentials: the SSO login of profile `dev` is missing or expired (failed to load \
             the cached SSO token); run `aws sso login --profile dev`"
        );
        assert_eq!(
            credentials_text(CredentialsError::provider_error(
                "Error retrieving credentials: external process exited with code exit status: 3. Stderr: MFA required"
            )),
            "credentials: the credential_process of profile `dev` failed: external process exited \
             with code exit status: 3. Stderr: MFA required"
        );
        assert_eq!(
            credentials_text(CredentialsError::unhandled("cached Login token is expired")),
            "credentials: the `aws login` session of profile `dev` is missing or expired (cached \
             Login token is expired); run `aws login --profile dev`"
        );
        let none = credentials_text(CredentialsError::not_loaded("no providers in chain"));
        assert!(
            none.starts_with("credentials: none found (tried the environment, profile `dev`,"),
            "{none}"
        );
        assert_eq!(
            credentials_text(CredentialsError::provider_error("connection reset")),
            "credentials: the credentials of profile `dev` could not be loaded: connection reset"
        );
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
    fn a_bucket_in_another_region_is_reported_with_its_region() {
        assert_eq!(
            wrong_region_message(Some("far-bucket"), "eu-west-1", "us-east-1"),
            "bucket far-bucket is in eu-west-1, not us-east-1 (the region in use); S3 answers \
             requests for it only in eu-west-1: set AWS_REGION=eu-west-1 or \
             `[stack] region = \"eu-west-1\"`, or use another bucket name"
        );
        assert!(
            wrong_region_message(None, "eu-west-1", "us-east-1")
                .starts_with("the bucket is in eu-west-1, not us-east-1")
        );
        for (uri, path_style, bucket) in [
            (
                "http://127.0.0.1:4566/far-bucket?location",
                true,
                Some("far-bucket"),
            ),
            (
                "http://127.0.0.1:4566/far-bucket/a/b.txt",
                true,
                Some("far-bucket"),
            ),
            ("http://127.0.0.1:4566/", true, None),
            (
                "https://far-bucket.s3.us-east-1.amazonaws.com/?versioning",
                false,
                Some("far-bucket"),
            ),
            (
                "https://my.dotted.bucket.s3.amazonaws.com/",
                false,
                Some("my.dotted.bucket"),
            ),
            (
                "https://s3.us-east-1.amazonaws.com/far-bucket",
                false,
                Some("far-bucket"),
            ),
        ] {
            assert_eq!(bucket_of(uri, path_style).as_deref(), bucket, "{uri}");
        }
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
