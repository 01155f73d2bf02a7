//! The producer and consumer of the deployed producer/consumer stack: the claim-check
//! flow. The producer needs no AWS credentials (the endpoint presigns); the consumer reads
//! the queue with credentials for SQS and fetches payloads through presigned URLs.

pub mod consumer;
pub mod endpoint;
pub mod events;
pub mod producer;

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
    #[error("payload `{key}` has {got} bytes, the event said {expected}")]
    SizeMismatch {
        key: String,
        expected: u64,
        got: u64,
    },
}
