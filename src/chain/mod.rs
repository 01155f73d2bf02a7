//! The producer and consumer of the deployed producer/consumer stack: the claim-check
//! flow. The producer needs no AWS credentials (the endpoint presigns); the consumer reads
//! the queue with credentials for SQS and fetches payloads through presigned URLs.

pub mod consumer;
pub mod endpoint;
pub mod events;
pub mod producer;
pub mod transfer;

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
}

impl ChainError {
    /// Stopped by Ctrl-C (a multipart upload aborted on the way out included).
    pub fn is_interrupted(&self) -> bool {
        match self {
            ChainError::Interrupted => true,
            ChainError::MultipartFailed { cause, .. } => cause.is_interrupted(),
            _ => false,
        }
    }
}
