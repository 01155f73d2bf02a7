//! The producer: asks the endpoint for presigned URLs and streams the payload to S3. It
//! needs no AWS credentials. Below the multipart threshold a payload is one PUT; above it,
//! a multipart upload whose parts go up in parallel, each streamed from its byte range of
//! the file and retried alone; an upload that gives up (or is interrupted) is aborted. A
//! completion that answers an error may still have been carried out (its answer lost, or
//! cut off by API Gateway while S3 worked on): the object is looked up before the upload is
//! called failed, and the upload is aborted only when the object is not there.

use std::collections::HashMap;
use std::io::{IsTerminal, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::ChainError;
use super::endpoint::{Action, Endpoint, Prefetched};
use super::integrity::{bare_etag, multipart_etag};
use super::transfer::{MAX_OBJECT_SIZE, Shared, range, still_fresh};

pub struct Sent {
    pub key: String,
    pub size: u64,
    /// Parts of a multipart upload; 0 for a single PUT.
    pub parts: u64,
    /// Set when the completion answered an error but S3 holds the object: what happened.
    pub note: Option<String>,
}

/// What to send: a file on disk, or standard input (buffered to a temporary file first, so
/// that the upload has a known length, parts can be read in any order and a part can be
/// sent again: memory stays flat, the disk holds one copy).
pub enum Source<'a> {
    File(&'a Path),
    Stdin,
}

/// Uploads one payload under `key` (e.g. `input/report.bin`) with the default settings.
pub async fn send(
    endpoint: &Endpoint,
    source: Source<'_>,
    key: &str,
    progress: bool,
) -> Result<Sent, ChainError> {
    let shared = Shared::new(Default::default());
    Sender {
        endpoint,
        shared: &shared,
        progress,
        prefetched: Prefetched::default(),
    }
    .send(source, key)
    .await
}

/// Sends payloads: a single PUT below the multipart threshold (retried from the start of
/// the file on transient failures), parts in parallel above it.
pub struct Sender<'a> {
    pub endpoint: &'a Endpoint,
    pub shared: &'a Shared,
    pub progress: bool,
    pub prefetched: Prefetched,
}

const ATTEMPTS: u32 = 5;

impl Sender<'_> {
    pub async fn send(&self, source: Source<'_>, key: &str) -> Result<Sent, ChainError> {
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
        if size > MAX_OBJECT_SIZE {
            return Err(ChainError::Io(format!(
                "{} has {size} bytes, more than S3's largest object (5 TiB)",
                path.display()
            )));
        }
        let sent = Arc::new(AtomicU64::new(0));
        let ticker = self.ticker(key, size, sent.clone());
        let result = self.upload(path, key, size, &sent).await;
        if let Some(t) = ticker {
            t.abort();
            if result.is_ok() {
                eprintln!("\r{key}: 100.0% of {}", human_size(size));
            } else {
                eprintln!();
            }
        }
        let (parts, note) = result?;
        Ok(Sent {
            key: key.to_string(),
            size,
            parts,
            note,
        })
    }

    fn ticker(
        &self,
        key: &str,
        size: u64,
        sent: Arc<AtomicU64>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let show = self.progress && std::io::stderr().is_terminal() && size > 1024 * 1024;
        show.then(|| {
            let key = key.to_string();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let done = sent.load(Ordering::Relaxed).min(size);
                    eprint!(
                        "\r{key}: {:>5.1}% of {}",
                        done as f64 * 100.0 / size as f64,
                        human_size(size)
                    );
                }
            })
        })
    }

    /// The number of parts sent (0: one PUT), and the note of a completion found after an
    /// error.
    async fn upload(
        &self,
        path: &Path,
        key: &str,
        size: u64,
        sent: &Arc<AtomicU64>,
    ) -> Result<(u64, Option<String>), ChainError> {
        if let Some((part_size, count)) = self.shared.transfer.parts(size) {
            let note = self
                .multipart(path, key, size, part_size, count, sent)
                .await?;
            return Ok((count, note));
        }
        let single = async {
            let _permit = self.shared.permits.acquire().await.expect("never closed");
            let mut attempt = 0;
            loop {
                attempt += 1;
                let ahead = if attempt == 1 {
                    self.prefetched.take(key).map(|(url, _)| url)
                } else {
                    None
                };
                let was_ahead = ahead.is_some();
                let url = match ahead {
                    Some(url) => url,
                    None => self.endpoint.presign(Action::Put, key).await?,
                };
                let result = put(&self.endpoint.http, &url, path, key, (0, size), sent).await;
                match result {
                    Ok(_) => return Ok((0, None)),
                    // A URL fetched ahead may have expired meanwhile: ask for a new one.
                    Err(e)
                        if attempt < ATTEMPTS
                            && (e.is_transient() || (was_ahead && expired(&e))) =>
                    {
                        backoff(attempt).await
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        tokio::select! {
            r = single => r,
            _ = self.shared.cancel.cancelled() => Err(ChainError::Interrupted),
        }
    }

    async fn multipart(
        &self,
        path: &Path,
        key: &str,
        size: u64,
        part_size: u64,
        count: u64,
        sent: &Arc<AtomicU64>,
    ) -> Result<Option<String>, ChainError> {
        let started = Instant::now();
        let answer = self
            .endpoint
            .multipart(
                "createMultipartUpload",
                key,
                json!({ "size": size, "part_size": part_size }),
            )
            .await?;
        let upload_id = answer["upload_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad_answer(key, "createMultipartUpload", "no upload_id"))?
            .to_string();
        let urls = PartUrls {
            endpoint: self.endpoint,
            key,
            upload_id: &upload_id,
            count,
            lifetime: Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(60)),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        };
        urls.store(&answer, started).await;
        let uploaded = tokio::select! {
            r = self.parts(path, key, size, part_size, count, &urls, sent) => r,
            _ = self.shared.cancel.cancelled() => Err(ChainError::Interrupted),
        };
        let cause = match uploaded {
            Ok(parts) => return self.complete(key, &upload_id, size, &parts).await,
            Err(e) => e,
        };
        // Sending gave up (or was interrupted): abort, so that no parts stay stored. The
        // bucket's lifecycle rule is the backstop when this fails too.
        let aborted = self.abort(key, &upload_id).await;
        Err(ChainError::MultipartFailed {
            key: key.to_string(),
            cause: Box::new(cause),
            abort: aborted.err().map(|e| e.to_string()),
        })
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ChainError> {
        self.endpoint
            .multipart(
                "abortMultipartUpload",
                key,
                json!({ "upload_id": upload_id }),
            )
            .await
            .map(|_| ())
    }

    /// Completes the upload of PARTS (numbers and ETags, in order). An error may come from
    /// a completion S3 carried out: its answer lost and the retry told NoSuchUpload, or
    /// API Gateway giving up after 29 s while S3 still worked on it. So after any error the
    /// object is looked up (for as long as the function may still be completing it, when
    /// it did not answer), and the upload is aborted only when the key does not hold the
    /// object these parts make. Answers the note of a completion found after an error.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        size: u64,
        parts: &[(u64, String)],
    ) -> Result<Option<String>, ChainError> {
        let listed: Vec<_> = parts
            .iter()
            .map(|(n, etag)| json!({ "part_number": n, "etag": etag }))
            .collect();
        let answer = self
            .endpoint
            .multipart(
                "completeMultipartUpload",
                key,
                json!({ "upload_id": upload_id, "parts": listed, "size": size }),
            )
            .await;
        let Err(cause) = answer else {
            return Ok(None);
        };
        let wanted = Wanted {
            size,
            etag: multipart_etag(parts.iter().map(|(_, etag)| etag.as_str())),
            parts: parts.len(),
        };
        let wait = if completion_over(&cause) {
            Duration::ZERO
        } else {
            tracing::warn!(target: "strata::chain", key, error = %cause, "the completion got no answer from the function; looking the object up until it appears");
            UNANSWERED_COMPLETION_WAIT
        };
        let unknown = |lookup: ChainError, cause: ChainError| ChainError::CompletionUnknown {
            key: key.to_string(),
            cause: Box::new(cause),
            lookup: Box::new(lookup),
        };
        let found = tokio::select! {
            found = self.look_up_until(key, &wanted, wait) => found,
            _ = self.shared.cancel.cancelled() => Err(ChainError::Interrupted),
        };
        match found {
            Ok(Found::Wanted(etag)) => return Ok(Some(recovered(key, &cause, size, &etag))),
            Ok(Found::Absent | Found::Other) => {}
            Err(lookup) => return Err(unknown(lookup, cause)),
        }
        // Not there: the completion failed. An abort that finds no upload means it was
        // completed after all, or aborted already (a first attempt whose answer was lost):
        // one more look tells which.
        let abort = match self.abort(key, upload_id).await {
            Ok(()) => None,
            Err(ChainError::Endpoint { status: 404, .. }) => {
                match self.look_up_until(key, &wanted, Duration::ZERO).await {
                    Ok(Found::Wanted(etag)) => {
                        return Ok(Some(recovered(key, &cause, size, &etag)));
                    }
                    Ok(_) => None,
                    Err(lookup) => return Err(unknown(lookup, cause)),
                }
            }
            Err(e) => Some(e.to_string()),
        };
        Err(ChainError::MultipartFailed {
            key: key.to_string(),
            cause: Box::new(cause),
            abort,
        })
    }

    /// Looks KEY up until it holds the wanted object or WAIT has passed (once with no
    /// wait); a lookup that fails is tried three times at least.
    async fn look_up_until(
        &self,
        key: &str,
        wanted: &Wanted,
        wait: Duration,
    ) -> Result<Found, ChainError> {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_secs(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let found = self.look_up(key, wanted).await;
            let more = Instant::now() < deadline || (found.is_err() && attempt < 3);
            match found {
                Ok(Found::Wanted(etag)) => return Ok(Found::Wanted(etag)),
                _ if more => {}
                other => return other,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pause.min(left.max(Duration::from_millis(250)))).await;
            pause = (pause * 2).min(Duration::from_secs(15));
        }
    }

    /// What KEY holds, from its first byte's GET through a presigned URL (the endpoint
    /// hands out no HEAD URLs): the size from `Content-Range`, and the ETag.
    async fn look_up(&self, key: &str, wanted: &Wanted) -> Result<Found, ChainError> {
        let url = self.endpoint.presign(Action::Get, key).await?;
        let response = self
            .endpoint
            .http
            .get(&url)
            .header("Range", "bytes=0-0")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(ChainError::s3)?;
        let status = response.status().as_u16();
        let header = |name: &str| super::header(&response, name);
        let (size, etag) = match status {
            404 => return Ok(Found::Absent),
            206 => (
                header("content-range")
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok()),
                header("etag"),
            ),
            // An empty object has no first byte.
            416 => (Some(0), header("etag")),
            _ => {
                let body = response.text().await.unwrap_or_default();
                return Err(ChainError::Storage {
                    status,
                    method: "GET",
                    key: key.to_string(),
                    body: error_code(&body),
                });
            }
        };
        let same_etag = match &wanted.etag {
            Some(expected) => bare_etag(&etag) == *expected,
            None => bare_etag(&etag).ends_with(&format!("-{}", wanted.parts)),
        };
        Ok(if size == Some(wanted.size) && same_etag {
            Found::Wanted(etag)
        } else {
            Found::Other
        })
    }

    /// Sends every part, `concurrency` at most at once (shared with every other transfer),
    /// each retried alone; answers the parts' numbers and ETags in order.
    #[allow(clippy::too_many_arguments)]
    async fn parts(
        &self,
        path: &Path,
        key: &str,
        size: u64,
        part_size: u64,
        count: u64,
        urls: &PartUrls<'_>,
        sent: &Arc<AtomicU64>,
    ) -> Result<Vec<(u64, String)>, ChainError> {
        let mut parts: Vec<(u64, String)> = futures::stream::iter(0..count)
            .map(|index| async move {
                let _permit = self.shared.permits.acquire().await.expect("never closed");
                let number = index + 1;
                let byte_range = range(index, part_size, size);
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let url = urls.get(number, attempt > 1).await?;
                    let result = put(&self.endpoint.http, &url, path, key, byte_range, sent).await;
                    match result {
                        Ok(etag) => return Ok((number, etag)),
                        Err(e) if attempt < ATTEMPTS && (e.is_transient() || expired(&e)) => {
                            backoff(attempt).await
                        }
                        Err(e) => {
                            return Err(ChainError::Part {
                                number,
                                attempts: attempt,
                                cause: Box::new(e),
                            });
                        }
                    }
                }
            })
            .buffer_unordered(self.shared.transfer.concurrency.max(1))
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.0);
        Ok(parts)
    }
}

/// How long `send` keeps looking for the object of a completion the function did not
/// answer: the function's timeout in stacks/upload-form.toml (300 s; it goes on completing
/// after API Gateway's 29 s), and a margin.
const UNANSWERED_COMPLETION_WAIT: Duration = Duration::from_secs(330);

/// The object a multipart upload makes.
struct Wanted {
    size: u64,
    /// The ETag S3 gives it (bare), when the parts' ETags are MD5s.
    etag: Option<String>,
    parts: usize,
}

enum Found {
    /// The key holds the wanted object: its ETag.
    Wanted(String),
    Absent,
    /// Another object (an older one, or one that another upload made).
    Other,
}

/// Whether the error says that the completion is over, done or not: an answer of the
/// presign function itself (a JSON `{"error": ...}`) other than its 504 (S3 gave it no
/// answer). API Gateway's own answers (504 when it stops waiting after 29 s, 502 when the
/// function failed) and lost connections say nothing of it: the function, or S3, may still
/// be completing it.
fn completion_over(e: &ChainError) -> bool {
    match e {
        ChainError::Endpoint { status, body, .. } => {
            *status != 504
                && serde_json::from_str::<serde_json::Value>(body)
                    .is_ok_and(|answer| answer.get("error").is_some_and(|e| e.is_string()))
        }
        _ => false,
    }
}

fn recovered(key: &str, cause: &ChainError, size: u64, etag: &str) -> String {
    format!(
        "completing `{key}` answered an error ({cause}), but S3 holds the object its parts make ({size} bytes, ETag {etag})"
    )
}

fn bad_answer(key: &str, action: &str, what: &str) -> ChainError {
    ChainError::Endpoint {
        status: 200,
        action: action.into(),
        key: key.into(),
        body: what.into(),
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await
}

/// Presigned part URLs: fetched in batches, reused while fresh, fetched again for a retry.
struct PartUrls<'a> {
    endpoint: &'a Endpoint,
    key: &'a str,
    upload_id: &'a str,
    count: u64,
    lifetime: Duration,
    cache: tokio::sync::Mutex<HashMap<u64, (String, Instant)>>,
}

const URL_BATCH: u64 = 100;

impl PartUrls<'_> {
    async fn store(&self, answer: &serde_json::Value, signed: Instant) {
        let mut cache = self.cache.lock().await;
        for part in answer["parts"].as_array().into_iter().flatten() {
            if let (Some(n), Some(url)) = (part["part_number"].as_u64(), part["url"].as_str()) {
                cache.insert(n, (url.to_string(), signed));
            }
        }
    }

    async fn get(&self, number: u64, renew: bool) -> Result<String, ChainError> {
        // Held while fetching: the other parts wait for the batch instead of asking too.
        let mut cache = self.cache.lock().await;
        if !renew
            && let Some((url, signed)) = cache.get(&number)
            && still_fresh(signed.elapsed(), self.lifetime)
        {
            return Ok(url.clone());
        }
        let wanted: Vec<u64> = if renew {
            vec![number]
        } else {
            (number..=self.count.min(number + URL_BATCH - 1)).collect()
        };
        let signed = Instant::now();
        let answer = self
            .endpoint
            .multipart(
                "uploadPart",
                self.key,
                json!({ "upload_id": self.upload_id, "part_numbers": wanted }),
            )
            .await?;
        for part in answer["parts"].as_array().into_iter().flatten() {
            if let (Some(n), Some(url)) = (part["part_number"].as_u64(), part["url"].as_str()) {
                cache.insert(n, (url.to_string(), signed));
            }
        }
        cache
            .get(&number)
            .map(|(url, _)| url.clone())
            .ok_or_else(|| bad_answer(self.key, "uploadPart", "the part's URL is missing"))
    }
}

/// A 403 on a part: its URL may have expired between signing and sending.
fn expired(e: &ChainError) -> bool {
    matches!(e, ChainError::Storage { status: 403, .. })
}

/// PUTs bytes `start..start+len` of the file, streamed from disk; answers the ETag.
async fn put(
    http: &reqwest::Client,
    url: &str,
    path: &Path,
    key: &str,
    (start, len): (u64, u64),
    sent: &Arc<AtomicU64>,
) -> Result<String, ChainError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ChainError::Io(format!("cannot open {}: {e}", path.display())))?;
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| ChainError::Io(format!("cannot read {}: {e}", path.display())))?;
    }
    let mine = Arc::new(AtomicU64::new(0));
    let (seen, total) = (mine.clone(), sent.clone());
    // Streamed in chunks: memory stays flat whatever the payload or part size.
    let stream = ReaderStream::with_capacity(file.take(len), 256 * 1024).inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            seen.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            total.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    });
    let response = http
        .put(url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", len)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let result = answer(response, key).await;
    if result.is_err() {
        // Sent again on a retry: the progress counts it once.
        sent.fetch_sub(mine.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    result
}

async fn answer(
    response: Result<reqwest::Response, reqwest::Error>,
    key: &str,
) -> Result<String, ChainError> {
    let response = response.map_err(ChainError::s3)?;
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
    Ok(response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(status: u16, body: &str) -> ChainError {
        ChainError::Endpoint {
            status,
            action: "completeMultipartUpload".into(),
            key: "input/k".into(),
            body: body.into(),
        }
    }

    #[test]
    fn only_the_functions_own_final_answer_ends_a_completion() {
        // The function's answers: S3 refused or failed it (over), or gave no answer (504).
        assert!(completion_over(&endpoint(
            502,
            r#"{"error": "S3 failed it"}"#
        )));
        assert!(completion_over(&endpoint(
            404,
            r#"{"error": "no such upload"}"#
        )));
        assert!(!completion_over(&endpoint(
            504,
            r#"{"error": "S3 did not answer"}"#
        )));
        // API Gateway's: it stopped waiting, or the function itself failed.
        assert!(!completion_over(&endpoint(
            504,
            r#"{"message": "Endpoint request timed out"}"#
        )));
        assert!(!completion_over(&endpoint(
            502,
            r#"{"message": "Internal server error"}"#
        )));
        assert!(!completion_over(&endpoint(200, "not JSON")));
        assert!(!completion_over(&ChainError::Interrupted));
    }
}
