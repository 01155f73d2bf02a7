//! The consumer: long-polls the queue, fetches the payloads of a batch of messages at
//! once, and deletes messages (in one DeleteMessageBatch) only after their payloads are
//! safely on disk (at-least-once). Large payloads come as parallel ranged GETs written at
//! their offsets. Every GET asks for the object version the event announced (`If-Match`
//! its ETag), so an overwrite since the event is a clear failure, never another payload
//! taken for this one or a file mixed from two; a whole-object GET is checked against S3's
//! checksum when S3 sends one. A message it cannot handle is made visible again at once, so
//! after the queue's max receive count it moves to the dead-letter queue. Ctrl-C stops: the
//! messages whose payloads are not all on disk are made visible again.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::ChainError;
use super::endpoint::{Action, Endpoint, Prefetched};
use super::events::{Message, parse};
use super::integrity::{CHECKSUM_MODE, ObjectChecksum, signs_checksum_mode};
use super::producer::error_code;
use super::transfer::{Shared, range, still_fresh, url_lifetime};
use crate::aws::{AwsError, sdk};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One receive round.
    Once,
    /// Until stopped (or `max` payloads).
    Follow,
}

pub struct Options {
    pub out_dir: PathBuf,
    pub mode: Mode,
    pub max: Option<usize>,
    pub wait_seconds: i32,
}

#[derive(Debug)]
pub struct Received {
    pub key: String,
    pub size: u64,
    pub path: PathBuf,
    /// `s3-event` or `extended-client`.
    pub via: &'static str,
    pub receive_count: u32,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub received: usize,
    pub failed: usize,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
}

pub struct Consumer<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub s3: &'a aws_sdk_s3::Client,
    pub endpoint: &'a Endpoint,
    pub queue_url: &'a str,
    /// The bound on downloads in flight (whole payloads and ranges), shared by the
    /// messages of a batch, and the ranged-download threshold and part size.
    pub shared: &'a Shared,
}

impl Consumer<'_> {
    pub async fn run(
        &self,
        options: &Options,
        mut on_payload: impl FnMut(&Received),
        mut on_error: impl FnMut(&str),
    ) -> Result<Summary, ChainError> {
        let mut summary = Summary::default();
        loop {
            let remaining = options.max.map(|m| m.saturating_sub(summary.received));
            if remaining == Some(0) {
                break;
            }
            let batch = remaining.unwrap_or(10).clamp(1, 10) as i32;
            let receive = self
                .sqs
                .receive_message()
                .queue_url(self.queue_url)
                .max_number_of_messages(batch)
                .wait_time_seconds(options.wait_seconds)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            // Ctrl-C during the long poll abandons it: a message SQS handed to it comes back
            // after the queue's visibility timeout.
            let out = tokio::select! {
                out = receive => out.map_err(sdk("ReceiveMessage"))?,
                _ = self.shared.cancel.cancelled() => {
                    summary.interrupted = true;
                    break;
                }
            };
            // The single GETs of the batch: their URLs in one request.
            let prefetched = Prefetched::default();
            let keys: Vec<String> = out
                .messages()
                .iter()
                .filter_map(|m| match parse(m.body().unwrap_or_default(), None) {
                    Message::Objects(objects) => Some(objects),
                    _ => None,
                })
                .flatten()
                .filter(|o| self.ranges(o.size).is_none())
                .map(|o| o.key)
                .collect();
            if keys.len() > 1 {
                prefetched
                    .fetch(self.endpoint, Action::GetWithChecksum, &keys)
                    .await;
            }
            // The batch's messages at once; `--concurrency` bounds their downloads.
            let handled = futures::future::join_all(out.messages().iter().map(|message| {
                let receive_count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let prefetched = &prefetched;
                async move {
                    tokio::select! {
                        handled = self.handle(message, options, receive_count, prefetched) => handled,
                        _ = self.shared.cancel.cancelled() => Err(ChainError::Interrupted),
                    }
                }
            }))
            .await;
            let mut done = Vec::new();
            for (message, result) in out.messages().iter().zip(handled) {
                let receipt = message.receipt_handle().unwrap_or_default();
                match result {
                    Ok(payloads) => {
                        for p in &payloads {
                            on_payload(p);
                        }
                        summary.received += payloads.len();
                        done.push(message);
                    }
                    Err(e) => {
                        let interrupted = e.is_interrupted();
                        if !interrupted {
                            summary.failed += 1;
                        }
                        let message_id = message.message_id().unwrap_or("?");
                        let receive_count = message
                            .attributes()
                            .and_then(|a| {
                                a.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                            })
                            .map(String::as_str)
                            .unwrap_or("1");
                        // Back on the queue at once: retried, and dead-lettered after the
                        // queue's max receive count. If that fails, the message stays
                        // hidden for the queue's whole visibility timeout: the round stops
                        // and says so.
                        self.sqs
                            .change_message_visibility()
                            .queue_url(self.queue_url)
                            .receipt_handle(receipt)
                            .visibility_timeout(0)
                            .send()
                            .await
                            .map_err(|error| ChainError::NotReleased {
                                message_id: message_id.to_string(),
                                cause: e.to_string(),
                                error: AwsError::from_sdk("ChangeMessageVisibility", error),
                            })?;
                        if !interrupted {
                            on_error(&format!(
                                "message {message_id}: {e} (left on the queue; receive count {receive_count})"
                            ));
                        }
                    }
                }
            }
            // Every payload of these messages is on disk: acknowledged in one call.
            summary.failed += self.delete(&done, &mut on_error).await?;
            if self.shared.cancel.is_cancelled() {
                summary.interrupted = true;
                break;
            }
            // Without --follow: one round, or with --max until that many arrive, but never
            // spinning on a message that keeps failing, and never waiting on an empty queue.
            if options.mode == Mode::Once
                && (options.max.is_none() || out.messages().is_empty() || summary.failed > 0)
            {
                break;
            }
        }
        Ok(summary)
    }

    /// Deletes handled messages in one DeleteMessageBatch; answers how many were not
    /// deleted (they come back after their visibility timeout: at-least-once).
    async fn delete(
        &self,
        messages: &[&aws_sdk_sqs::types::Message],
        on_error: &mut impl FnMut(&str),
    ) -> Result<usize, ChainError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .map_err(|e| ChainError::Io(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sdk("DeleteMessageBatch"))?;
        for failed in out.failed() {
            let message_id = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| messages.get(i))
                .and_then(|m| m.message_id())
                .unwrap_or("?");
            on_error(&format!(
                "message {message_id}: its payload is on disk but the message was not deleted ({}: {}); it will be received again",
                failed.code(),
                failed.message().unwrap_or_default()
            ));
        }
        Ok(out.failed().len())
    }

    async fn handle(
        &self,
        message: &aws_sdk_sqs::types::Message,
        options: &Options,
        receive_count: u32,
        prefetched: &Prefetched,
    ) -> Result<Vec<Received>, ChainError> {
        let size_attribute = ["ExtendedPayloadSize", "SQSLargePayloadSize"]
            .iter()
            .find_map(|name| message.message_attributes().and_then(|a| a.get(*name)))
            .and_then(|v| v.string_value())
            .and_then(|v| v.parse().ok());
        match parse(message.body().unwrap_or_default(), size_attribute) {
            Message::TestEvent => Ok(Vec::new()),
            Message::Objects(objects) => {
                let mut out = Vec::new();
                for object in objects {
                    let path = target_path(&options.out_dir, &object.key)?;
                    let wanted = Wanted {
                        key: &object.key,
                        etag: object.etag.as_deref(),
                    };
                    let size = match self.ranges(object.size) {
                        Some((size, part_size, count)) => {
                            self.download_ranges(&wanted, &path, size, part_size, count)
                                .await?
                        }
                        _ => {
                            let _permit =
                                self.shared.permits.acquire().await.expect("never closed");
                            let url = match prefetched.take(&object.key) {
                                Some((url, _)) => url,
                                None => {
                                    self.endpoint
                                        .presign(Action::GetWithChecksum, &object.key)
                                        .await?
                                }
                            };
                            download_url(&self.endpoint.http, &url, &wanted, &path, object.size)
                                .await?
                        }
                    };
                    out.push(Received {
                        key: object.key,
                        size,
                        path,
                        via: "s3-event",
                        receive_count,
                    });
                }
                Ok(out)
            }
            Message::Pointer { bucket, key, size } => {
                let path = target_path(&options.out_dir, &key)?;
                let _permit = self.shared.permits.acquire().await.expect("never closed");
                let got = download_s3(self.s3, &bucket, &key, &path, size).await?;
                Ok(vec![Received {
                    key,
                    size: got,
                    path,
                    via: "extended-client",
                    receive_count,
                }])
            }
            Message::Unknown(start) => Err(ChainError::Io(format!(
                "not an S3 event or claim-check pointer: {start}"
            ))),
        }
    }
}

impl Consumer<'_> {
    /// How a payload of SIZE bytes (from its event) comes in ranges: (size, range size,
    /// ranges); None for one whole GET.
    fn ranges(&self, size: Option<u64>) -> Option<(u64, u64, u64)> {
        let size = size?;
        let (part_size, count) = self.shared.transfer.parts(size)?;
        (count > 1).then_some((size, part_size, count))
    }

    /// Parallel ranged GETs through one presigned URL (signed again when it gets old or
    /// S3 refuses it), each range written at its offset of the landing file; every range
    /// must come from the same object (one ETag: the event's, when it names one). The URL
    /// is a plain one: S3 sends no whole-object checksum with a range.
    async fn download_ranges(
        &self,
        wanted: &Wanted<'_>,
        path: &Path,
        size: u64,
        part_size: u64,
        count: u64,
    ) -> Result<u64, ChainError> {
        let key = wanted.key;
        let landing = Landing::open(path).await?;
        landing
            .file
            .set_len(size)
            .await
            .map_err(|e| ChainError::Io(format!("cannot write {}: {e}", landing.temp.display())))?;
        let url = tokio::sync::Mutex::new(None::<(String, Instant)>);
        let etags: Vec<String> = futures::stream::iter(0..count)
            .map(|index| {
                let (url, temp) = (&url, &landing.temp);
                async move {
                    let _permit = self.shared.permits.acquire().await.expect("never closed");
                    let (start, len) = range(index, part_size, size);
                    let mut attempt = 0;
                    loop {
                        attempt += 1;
                        let signed = {
                            let mut cached = url.lock().await;
                            match &*cached {
                                Some((u, at))
                                    if attempt == 1
                                        && url_lifetime(u)
                                            .is_some_and(|l| still_fresh(at.elapsed(), l)) =>
                                {
                                    u.clone()
                                }
                                _ => {
                                    let at = Instant::now();
                                    let u = self.endpoint.presign(Action::Get, key).await?;
                                    *cached = Some((u.clone(), at));
                                    u
                                }
                            }
                        };
                        let result = get_range(
                            &self.endpoint.http,
                            &signed,
                            wanted,
                            temp,
                            (start, len),
                            size,
                        )
                        .await;
                        match result {
                            Ok(etag) => return Ok(etag),
                            Err(e) if attempt < 5 && retry_range(&e) => {
                                tokio::time::sleep(std::time::Duration::from_millis(250 * attempt))
                                    .await
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            })
            .buffered(self.shared.transfer.concurrency.max(1))
            .try_collect()
            .await?;
        if let Some(then) = etags.iter().find(|e| **e != etags[0]) {
            return Err(ChainError::Changed {
                key: key.to_string(),
                first: etags[0].clone(),
                then: then.clone(),
            });
        }
        let mut landing = landing;
        landing.written = size;
        landing.finish(path, key, Some(size)).await
    }
}

fn retry_range(e: &ChainError) -> bool {
    e.is_transient()
        || matches!(
            e,
            ChainError::Storage { status: 403, .. } | ChainError::ShortRange { .. }
        )
}

/// The object version a download is for: its key, and the ETag its event announced.
struct Wanted<'a> {
    key: &'a str,
    etag: Option<&'a str>,
}

impl Wanted<'_> {
    /// A GET of URL for this version: `If-Match` its ETag (S3 answers 412 once the key
    /// holds another object), and the checksum header when the URL is signed for it.
    fn get(&self, http: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let mut request = http.get(url);
        if let Some(etag) = self.etag {
            request = request.header("If-Match", format!("\"{etag}\""));
        }
        if signs_checksum_mode(url) {
            request = request.header(CHECKSUM_MODE.0, CHECKSUM_MODE.1);
        }
        request
    }

    /// The error of an answer that is not the payload.
    async fn refused(&self, response: reqwest::Response, note: Option<&str>) -> ChainError {
        let status = response.status().as_u16();
        if let (412, Some(etag)) = (status, self.etag) {
            return ChainError::Overwritten {
                key: self.key.to_string(),
                etag: etag.to_string(),
            };
        }
        let body = response.text().await.unwrap_or_default();
        ChainError::Storage {
            status,
            method: "GET",
            key: self.key.to_string(),
            body: note.map_or_else(|| error_code(&body), str::to_string),
        }
    }
}

/// GETs bytes `start..start+len` and writes them at `start` of the landing file; checks
/// that S3 answered that range of an object of `size` bytes; answers the ETag.
async fn get_range(
    http: &reqwest::Client,
    url: &str,
    wanted: &Wanted<'_>,
    temp: &Path,
    (start, len): (u64, u64),
    size: u64,
) -> Result<String, ChainError> {
    let key = wanted.key;
    let response = wanted
        .get(http, url)
        .header("Range", format!("bytes={start}-{}", start + len - 1))
        .send()
        .await
        .map_err(ChainError::s3)?;
    let status = response.status().as_u16();
    if status != 206 {
        let note = (status == 200).then_some("a whole object instead of the range asked for");
        return Err(wanted.refused(response, note).await);
    }
    let header = |name: &str| super::header(&response, name);
    let expected_range = format!("bytes {start}-{}/{size}", start + len - 1);
    let got_range = header("content-range");
    if got_range != expected_range {
        return Err(ChainError::SizeMismatch {
            key: key.to_string(),
            expected: size,
            got: got_range
                .rsplit('/')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
        });
    }
    let etag = header("etag");
    let io = |e: std::io::Error| ChainError::Io(format!("cannot write {}: {e}", temp.display()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(temp)
        .await
        .map_err(io)?;
    file.seek(SeekFrom::Start(start)).await.map_err(io)?;
    let mut written = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ChainError::s3)?;
        written += chunk.len() as u64;
        if written > len {
            break;
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    if written != len {
        return Err(ChainError::ShortRange {
            key: key.to_string(),
            start,
            expected: len,
            got: written,
        });
    }
    Ok(etag)
}

/// Where a key lands under DIR: its path, without anything that could climb out.
pub fn target_path(dir: &Path, key: &str) -> Result<PathBuf, ChainError> {
    let mut path = dir.to_path_buf();
    let mut parts = 0;
    for component in Path::new(key).components() {
        if let Component::Normal(part) = component {
            path.push(part);
            parts += 1;
        }
    }
    if parts == 0 {
        return Err(ChainError::Io(format!("object key `{key}` names no file")));
    }
    Ok(path)
}

/// Writes to a temporary file beside `path`, checks the size, then renames: a payload is
/// either whole on disk or not there at all. Dropped before `finish` succeeds (any error,
/// or the download future being dropped), it removes the temporary file.
struct Landing {
    temp: PathBuf,
    file: tokio::fs::File,
    written: u64,
    renamed: bool,
}

impl Drop for Landing {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Landing {
    async fn open(path: &Path) -> Result<Landing, ChainError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| ChainError::Io(format!("cannot create {}: {e}", dir.display())))?;
        // Unique per download: two messages of one batch may name the same key.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let temp = dir.join(format!(
            ".{}.partial-{}-{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| ChainError::Io(format!("cannot write {}: {e}", temp.display())))?;
        Ok(Landing {
            temp,
            file,
            written: 0,
            renamed: false,
        })
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), ChainError> {
        self.written += chunk.len() as u64;
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| ChainError::Io(format!("cannot write {}: {e}", self.temp.display())))
    }

    async fn finish(
        mut self,
        path: &Path,
        key: &str,
        expected: Option<u64>,
    ) -> Result<u64, ChainError> {
        let io =
            |e: std::io::Error| ChainError::Io(format!("cannot write {}: {e}", path.display()));
        self.file.flush().await.map_err(io)?;
        self.file.sync_all().await.map_err(io)?;
        if let Some(expected) = expected.filter(|e| *e != self.written) {
            return Err(ChainError::SizeMismatch {
                key: key.to_string(),
                expected,
                got: self.written,
            });
        }
        tokio::fs::rename(&self.temp, path).await.map_err(io)?;
        self.renamed = true;
        Ok(self.written)
    }
}

/// GETs a whole payload into its landing file; checks its size (the event's) and S3's
/// checksum of the object, when S3 sent one, before the file takes its name.
async fn download_url(
    http: &reqwest::Client,
    url: &str,
    wanted: &Wanted<'_>,
    path: &Path,
    expected: Option<u64>,
) -> Result<u64, ChainError> {
    let response = wanted.get(http, url).send().await.map_err(ChainError::s3)?;
    if response.status().as_u16() != 200 {
        return Err(wanted.refused(response, None).await);
    }
    let mut checksum = ObjectChecksum::from_headers(response.headers());
    let mut landing = Landing::open(path).await?;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ChainError::s3)?;
        if let Some(checksum) = &mut checksum {
            checksum.update(&chunk);
        }
        landing.write(&chunk).await?;
    }
    // A short or long payload is reported as such (by `finish`), not as a checksum error.
    if let Some(checksum) = checksum
        && expected.is_none_or(|e| e == landing.written)
    {
        checksum.verify(wanted.key)?;
    }
    landing.finish(path, wanted.key, expected).await
}

async fn download_s3(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
    expected: Option<u64>,
) -> Result<u64, ChainError> {
    // With the checksum asked for, the SDK checks the body against S3's checksum.
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .map_err(sdk("GetObject"))?;
    let mut landing = Landing::open(path).await?;
    let mut body = out.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| AwsError::new("GetObject", e.to_string()))?
    {
        landing.write(&chunk).await?;
    }
    landing.finish(path, key, expected).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_climb_out_of_the_output_directory() {
        let dir = Path::new("/out");
        assert_eq!(
            target_path(dir, "input/a b/é.bin").unwrap(),
            Path::new("/out/input/a b/é.bin")
        );
        assert_eq!(
            target_path(dir, "/input/../../etc/passwd").unwrap(),
            Path::new("/out/input/etc/passwd")
        );
        assert!(target_path(dir, "..").is_err());
    }
}
