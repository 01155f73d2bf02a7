//! The producer and consumer of the deployed producer/consumer stack: the claim-check
//! flow. The producer needs no AWS credentials (the endpoint presigns); the consumer reads
//! the queue with credentials for SQS and fetches payloads through presigned URLs.

pub mod consumer;
pub mod endpoint;
pub mod events;
pub mod integrity;
pub mod producer;
pub mod transfer;

/// A header of an HTTP answer as text ("" when absent or not text).
fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("the endpoint answered {status} for {action} `{key}`: {body}")]
    Endpoint {
        status: u16,
        action: String,
        key: String,
        body: String,
    },
    #[error("S3 answered {status} to the {method} of `{key}`: {body}")]
    Storage {
        status: u16,
        method: &'static str,
        key: String,
        body: String,
    },
    #[error("cannot reach {what}: {error}")]
    Http { what: String, error: reqwest::Error },
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error(
        "message {message_id} failed ({cause}) and could not be put back on the queue, so it stays hidden until its visibility timeout ends: {error}"
    )]
    NotReleased {
        message_id: String,
        cause: String,
        error: crate::aws::AwsError,
    },
    #[error("the range at byte {start} of `{key}` brought {got} bytes of {expected}")]
    ShortRange {
        key: String,
        start: u64,
        expected: u64,
        got: u64,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("part {number} failed after {attempts} attempt(s): {cause}")]
    Part {
        number: u64,
        attempts: u32,
        cause: Box<ChainError>,
    },
    #[error("the multipart upload of `{key}` failed ({cause}); {}", match abort {
        None => "it was aborted, no parts are left in S3".to_string(),
        Some(e) => format!("aborting it failed too ({e}): the bucket's lifecycle rule removes its parts after a day"),
    })]
    MultipartFailed {
        key: String,
        cause: Box<ChainError>,
        abort: Option<String>,
    },
    #[error("`{key}` changed while it was downloaded (ETag {first} then {then})")]
    Changed {
        key: String,
        first: String,
        then: String,
    },
    #[error("payload `{key}` has {got} bytes, the event said {expected}")]
    SizeMismatch {
        key: String,
        expected: u64,
        got: u64,
    },
    #[error(
        "`{key}` is no longer the object its event announced (ETag {etag}): it was overwritten since (S3 answered 412 PreconditionFailed)"
    )]
    Overwritten { key: String, etag: String },
    #[error(
        "payload `{key}` does not match S3's {algorithm} checksum of the object ({expected}; the bytes received give {got})"
    )]
    ChecksumMismatch {
        key: String,
        algorithm: &'static str,
        expected: String,
        got: String,
    },
    #[error(
        "completing the multipart upload of `{key}` failed ({cause}) and looking the object up failed too ({lookup}); the upload is left as it is: if S3 completed it, the object is there, if not, the bucket's lifecycle rule removes its parts after a day"
    )]
    CompletionUnknown {
        key: String,
        cause: Box<ChainError>,
        lookup: Box<ChainError>,
    },
}

impl ChainError {
    /// Stopped by Ctrl-C (a multipart upload aborted on the way out included).
    pub fn is_interrupted(&self) -> bool {
        match self {
            ChainError::Interrupted => true,
            ChainError::MultipartFailed { cause, .. } => cause.is_interrupted(),
            ChainError::CompletionUnknown { lookup, .. } => lookup.is_interrupted(),
            _ => false,
        }
    }

    /// S3 could not be reached, or its answer broke off (the URL, and so its signature, is
    /// left out).
    pub fn s3(error: reqwest::Error) -> ChainError {
        ChainError::Http {
            what: "S3".into(),
            error: error.without_url(),
        }
    }

    /// Worth another attempt: 5xx answers, dropped connections, and S3's `400
    /// RequestTimeout` (the request's bytes came too slowly; the SDKs retry it too).
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::Storage { status, body, .. } => {
                *status >= 500 || (*status == 400 && body == "RequestTimeout")
            }
            ChainError::Http { .. } => true,
            _ => false,
        }
    }
}
