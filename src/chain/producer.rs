//! The producer: asks the endpoint for a putObject URL and streams the payload to S3. It
//! needs no AWS credentials.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio_util::io::ReaderStream;

use super::ChainError;
use super::endpoint::{Action, Endpoint};

pub struct Sent {
    pub key: String,
    pub size: u64,
}

/// What to send: a file on disk, or standard input (buffered to a temporary file so that a
/// retry can send it again and the upload has a known length).
pub enum Source<'a> {
    File(&'a Path),
    Stdin,
}

/// Uploads one payload under `key` (e.g. `input/report.bin`). Transient failures (5xx,
/// connection errors) are retried from the start of the file.
pub async fn send(
    endpoint: &Endpoint,
    source: Source<'_>,
    key: &str,
    progress: bool,
) -> Result<Sent, ChainError> {
    let spooled;
    let path = match source {
        Source::File(path) => path,
        Source::Stdin => {
            spooled = spool_stdin().await?;
            spooled.path()
        }
    };
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| ChainError::Io(format!("cannot read {}: {e}", path.display())))?
        .len();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let url = endpoint.presign(Action::Put, key).await?;
        match put(endpoint, &url, path, key, size, progress).await {
            Ok(()) => {
                return Ok(Sent {
                    key: key.to_string(),
                    size,
                });
            }
            Err(e) if attempt < 4 && transient(&e) => {
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await
            }
            Err(e) => return Err(e),
        }
    }
}

fn transient(e: &ChainError) -> bool {
    match e {
        ChainError::Storage { status, .. } => *status >= 500,
        ChainError::Http { .. } => true,
        _ => false,
    }
}

async fn put(
    endpoint: &Endpoint,
    url: &str,
    path: &Path,
    key: &str,
    size: u64,
    progress: bool,
) -> Result<(), ChainError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ChainError::Io(format!("cannot open {}: {e}", path.display())))?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    // Streamed in chunks: memory stays flat whatever the payload size.
    let stream = ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    });
    let show = progress && std::io::stderr().is_terminal() && size > 1024 * 1024;
    let ticker = show.then(|| {
        let sent = sent.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let done = sent.load(Ordering::Relaxed);
                eprint!(
                    "\r{key}: {:>5.1}% of {}",
                    done as f64 * 100.0 / size as f64,
                    human_size(size)
                );
            }
        })
    });
    let response = endpoint
        .http
        .put(url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", size)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Some(t) = ticker {
        t.abort();
        eprintln!("\r{key}: 100.0% of {}", human_size(size));
    }
    let response = response.map_err(|error| ChainError::Http {
        what: "S3".into(),
        error: error.without_url(),
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = response.text().await.unwrap_or_default();
        return Err(ChainError::Storage {
            status,
            method: "PUT",
            key: key.to_string(),
            body: error_code(&body),
        });
    }
    Ok(())
}

/// The `<Code>` of an S3 XML error, or the start of the body.
pub fn error_code(body: &str) -> String {
    match (body.find("<Code>"), body.find("</Code>")) {
        (Some(a), Some(b)) if a < b => body[a + 6..b].to_string(),
        _ => body.chars().take(200).collect(),
    }
}

async fn spool_stdin() -> Result<tempfile::NamedTempFile, ChainError> {
    let file = tempfile::NamedTempFile::new()
        .map_err(|e| ChainError::Io(format!("cannot buffer standard input: {e}")))?;
    let mut out = tokio::fs::File::create(file.path())
        .await
        .map_err(|e| ChainError::Io(e.to_string()))?;
    tokio::io::copy(&mut tokio::io::stdin(), &mut out)
        .await
        .map_err(|e| ChainError::Io(format!("cannot read standard input: {e}")))?;
    Ok(file)
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
