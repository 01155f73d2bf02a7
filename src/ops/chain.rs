//! `strata send` and `strata receive`: the producer and consumer of the deployed
//! producer/consumer stack. The command line says where and how much; these do the
//! transfers and report each payload as it goes.

use std::path::PathBuf;

use futures::StreamExt;

use super::{Access, OpsError};
use crate::chain::consumer::Consumer;
use crate::chain::endpoint::{Action, Endpoint};
use crate::chain::producer::{Sender, Source};

pub use crate::chain::consumer::{Mode, Options, Received, Summary};
pub use crate::chain::producer::{Sent, human_size};
pub use crate::chain::transfer::{Shared, Transfer, parse_size};

/// What `strata send` was asked.
pub struct SendRequest {
    pub api_url: String,
    /// The files to send; none sends standard input.
    pub files: Vec<PathBuf>,
    /// The key of the one payload, instead of its file name (or a fresh UUID for stdin).
    pub key: Option<String>,
    /// Put before every key that does not start with it.
    pub prefix: String,
    /// Show progress on the terminal when there is one payload.
    pub progress: bool,
}

/// How a send ended.
pub enum SendEnd {
    Done,
    /// Ctrl-C stopped the send of `key`.
    Interrupted {
        key: String,
        error: String,
    },
}

/// Sends every payload of `request`, reporting each as it is sent, in the order given.
pub async fn send(
    request: SendRequest,
    shared: &Shared,
    mut on_sent: impl FnMut(&Sent),
) -> Result<SendEnd, OpsError> {
    let endpoint = Endpoint::new(&request.api_url);
    let sources: Vec<(Source, String)> = if request.files.is_empty() {
        let name = request
            .key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        vec![(Source::Stdin, name)]
    } else {
        request
            .files
            .iter()
            .map(|f| {
                let name = request.key.clone().unwrap_or_else(|| {
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                (Source::File(f), name)
            })
            .collect()
    };
    // Progress on a terminal for one payload only: several would overwrite each other.
    let sender = Sender {
        endpoint: &endpoint,
        shared,
        progress: request.progress && sources.len() == 1,
        prefetched: Default::default(),
    };
    let mut chunks: Vec<Vec<(Source, String)>> = Vec::new();
    for (i, (source, name)) in sources.into_iter().enumerate() {
        let key = if name.starts_with(&request.prefix) {
            name
        } else {
            format!("{}{name}", request.prefix)
        };
        if i % 100 == 0 {
            chunks.push(Vec::new());
        }
        chunks.last_mut().expect("pushed").push((source, key));
    }
    for chunk in chunks {
        // The single PUTs of a hundred files: their URLs in one request.
        let mut small = Vec::new();
        for (source, key) in &chunk {
            if let Source::File(path) = source
                && let Ok(meta) = std::fs::metadata(path)
                && shared.transfer.parts(meta.len()).is_none()
                && chunk.len() > 1
            {
                small.push(key.clone());
            }
        }
        if !small.is_empty() {
            sender
                .prefetched
                .fetch(&endpoint, Action::Put, &small)
                .await;
        }
        // Several files at once, reported in the order given; every request of every file
        // takes one of the `--concurrency` permits.
        let sender = &sender;
        let mut results = futures::stream::iter(
            chunk
                .into_iter()
                .map(|(source, key)| async move { (sender.send(source, &key).await, key) }),
        )
        .buffered(shared.transfer.concurrency.max(1));
        while let Some((result, key)) = results.next().await {
            match result {
                Ok(sent) => on_sent(&sent),
                Err(e) if e.is_interrupted() => {
                    return Ok(SendEnd::Interrupted {
                        key,
                        error: e.to_string(),
                    });
                }
                Err(source) => {
                    return Err(OpsError::Send {
                        key,
                        source: Box::new(source),
                    });
                }
            }
        }
    }
    Ok(SendEnd::Done)
}

/// What `strata receive` was asked.
pub struct ReceiveRequest {
    pub queue_url: String,
    pub api_url: String,
    pub options: Options,
}

/// Receives payloads from the queue into the output directory, reporting each payload
/// and each failure as it goes.
pub async fn receive(
    request: ReceiveRequest,
    access: &Access,
    shared: &Shared,
    on_payload: impl FnMut(&Received),
    on_error: impl FnMut(&str),
) -> Result<Summary, OpsError> {
    let endpoint = Endpoint::new(&request.api_url);
    let aws = access.clients(None).await?;
    let consumer = Consumer {
        sqs: &aws.sqs,
        s3: &aws.s3,
        endpoint: &endpoint,
        queue_url: &request.queue_url,
        shared,
    };
    Ok(consumer.run(&request.options, on_payload, on_error).await?)
}
