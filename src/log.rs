//! Structured logs through `tracing`: `STRATA_LOG` (an `EnvFilter`: `debug`, `trace`,
//! `aws_smithy_runtime=trace,strata=debug`, ...) or `--log-file PATH` turns them on; they go
//! to standard error, or to the file, never to standard output (which carries plans, JSON
//! events and outputs). `STRATA_LOG_FORMAT=json` writes one JSON object per line instead of
//! text.
//!
//! Every line passes through [`redact`] before it is written: at `trace` the SDK logs
//! requests with their headers and signing steps, and the answers of the presign endpoint
//! carry presigned URLs. What is removed: the values after `X-Amz-Signature`,
//! `X-Amz-Credential`, `X-Amz-Security-Token` and `Signature` (query strings, headers, the
//! Authorization header), and every value registered with [`add_secret`] (the secret key and
//! session token of the credentials in use, the values of `sensitive` variables), also in
//! its percent-encoded form. A redacting writer around the sink, rather than care at each
//! log call, because the SDK's own events are not ours to write.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Registered values shorter than this are not redacted as text: they cannot be told apart
/// from ordinary words (a dummy secret `test` would mangle every line).
pub const MIN_SECRET_LEN: usize = 6;

/// The values [`redact`] removes wherever they appear.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// SigV4's URI encoding: everything but the unreserved characters.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Registers a value no log line may show (as written and percent-encoded).
pub fn add_secret(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let encoded = utf8_percent_encode(value, URI_ENCODE).to_string();
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in [value.to_string(), encoded] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first: a secret containing another is removed whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret and every signature, credential scope and security
/// token value replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    redact_with(text, &secrets)
}

/// The names whose values are always removed, lower case; a match is the name followed by
/// `=` or `:` (with quotes and spaces around), as in a query string, a header map, a
/// canonical request or the Authorization header (`Signature=...`).
const SECRET_NAMES: &[&str] = &["x-amz-security-token", "x-amz-credential", "signature"];

fn redact_with(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    let lower = out.to_ascii_lowercase();
    // Byte ranges of values to replace; ASCII lower-casing keeps the offsets.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for name in SECRET_NAMES {
        let mut from = 0;
        while let Some(found) = lower[from..].find(name) {
            let after_name = from + found + name.len();
            from = after_name;
            if let Some(value) = value_after(&out, after_name) {
                cuts.push(value);
            }
        }
    }
    cuts.sort();
    let mut redacted = String::with_capacity(out.len());
    let mut at = 0;
    for (start, end) in cuts {
        if start < at {
            continue;
        }
        redacted.push_str(&out[at..start]);
        redacted.push_str(REDACTED);
        at = end;
    }
    redacted.push_str(&out[at..]);
    redacted
}

/// The byte range of the value that follows a secret's name at `at`: separators first
/// (at least one `=` or `:`), then everything up to a delimiter. `None` when the name is
/// only part of a word (`SignatureDoesNotMatch`) or the value is already redacted.
fn value_after(text: &str, at: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = at;
    let mut assigned = false;
    while i < bytes.len() && matches!(bytes[i], b'=' | b':' | b'"' | b'\'' | b' ' | b'\\') {
        assigned |= matches!(bytes[i], b'=' | b':');
        i += 1;
    }
    if !assigned {
        return None;
    }
    let start = i;
    if text[start..].starts_with(REDACTED) {
        return None;
    }
    while i < bytes.len()
        && !bytes[i].is_ascii_whitespace()
        && !matches!(
            bytes[i],
            b'&' | b'"' | b'\'' | b',' | b';' | b'<' | b'>' | b'\\' | b')' | b']' | b'}' | b'|'
        )
    {
        i += 1;
    }
    let value = &text[start..i];
    (!value.is_empty()).then_some((start, i))
}

/// Where log lines go: standard error or a file, each line redacted before it is written.
#[derive(Clone)]
pub struct RedactingWriter {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl RedactingWriter {
    pub fn new(sink: Box<dyn Write + Send>) -> RedactingWriter {
        RedactingWriter {
            sink: Arc::new(Mutex::new(sink)),
        }
    }
}

/// One event's text, collected whole (the formatter writes an event in pieces) and
/// written redacted when dropped.
pub struct Line {
    text: Vec<u8>,
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = redact(&String::from_utf8_lossy(&self.text));
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot be written must not stop the run.
        let _ = sink.write_all(text.as_bytes());
        let _ = sink.flush();
    }
}

impl<'a> MakeWriter<'a> for RedactingWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            text: Vec::new(),
            sink: self.sink.clone(),
        }
    }
}

/// Turns logging on when `filter` (the value of `STRATA_LOG`) or `file` is given: `filter`
/// alone logs to standard error, `file` alone logs at `debug`. Registers the environment's
/// secret key and session token first. `json` writes JSON lines.
pub fn init(filter: Option<&str>, file: Option<&Path>, json: bool) -> Result<(), String> {
    let filter = filter.map(str::trim).filter(|f| !f.is_empty());
    if filter.is_none() && file.is_none() {
        return Ok(());
    }
    for name in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(value) = std::env::var(name) {
            add_secret(&value);
        }
    }
    let filter = EnvFilter::try_new(filter.unwrap_or("debug")).map_err(|e| {
        format!("STRATA_LOG: {e} (expected e.g. `debug`, `trace` or `aws_smithy_runtime=trace`)")
    })?;
    let sink: Box<dyn Write + Send> = match file {
        Some(path) => Box::new(
            open_private(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingWriter::new(sink))
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(|e| format!("cannot start logging: {e}"))
}

/// Opens `path` for appending, readable by its owner only when it is created.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Vec<String> {
        values
            .iter()
            .flat_map(|v| {
                [
                    v.to_string(),
                    utf8_percent_encode(v, URI_ENCODE).to_string(),
                ]
            })
            .collect()
    }

    #[test]
    fn presigned_url_signatures_credentials_and_tokens_are_removed() {
        let url = "http://127.0.0.1:4566/bucket/input/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=ASIAEXAMPLE%2F20261130%2Fus-east-1%2Fs3%2Faws4_request\
                   &X-Amz-Date=20261130T030000Z&X-Amz-Expires=300\
                   &X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2Fabc%3D\
                   &X-Amz-SignedHeaders=host\
                   &X-Amz-Signature=0123456789abcdef0123456789abcdef";
        let line = format!("presign endpoint answered answer={url} status=200");
        assert_eq!(
            redact_with(&line, &[]),
            "presign endpoint answered answer=http://127.0.0.1:4566/bucket/input/a.txt?\
             X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[redacted]\
             &X-Amz-Date=20261130T030000Z&X-Amz-Expires=300&X-Amz-Security-Token=[redacted]\
             &X-Amz-SignedHeaders=host&X-Amz-Signature=[redacted] status=200"
        );
    }

    #[test]
    fn the_authorization_signature_and_token_headers_are_removed() {
        let headers = r#"{"authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", "x-amz-security-token": "FwoGZXIvYXdzEJr//token+value=="}"#;
        let redacted = redact_with(headers, &[]);
        assert_eq!(
            redacted,
            r#"{"authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=[redacted]", "x-amz-security-token": "[redacted]"}"#
        );
        // The canonical request the signer logs at trace, and JSON-escaped quotes.
        assert_eq!(
            redact_with(
                "x-amz-security-token:FwoGZXIvYXdz\nx-amz-date:20261130T030000Z",
                &[]
            ),
            "x-amz-security-token:[redacted]\nx-amz-date:20261130T030000Z"
        );
        assert_eq!(
            redact_with(r#"{\"X-Amz-Signature\": \"abcdef\"}"#, &[]),
            r#"{\"X-Amz-Signature\": \"[redacted]\"}"#
        );
    }

    #[test]
    fn registered_secrets_are_removed_as_written_and_percent_encoded() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let token = "IQoJb3JpZ2luX2Vj+token/with=chars";
        let known = secrets(&[secret, token, "hunter22"]);
        let line = format!(
            "credentials secret={secret} token={token} query=a%3D{} password hunter22!",
            utf8_percent_encode(token, URI_ENCODE)
        );
        let redacted = redact_with(&line, &known);
        assert_eq!(
            redacted,
            "credentials secret=[redacted] token=[redacted] query=a%3D[redacted] password [redacted]!"
        );
    }

    #[test]
    fn words_that_only_contain_a_secret_name_are_kept() {
        for text in [
            "SignatureDoesNotMatch: The request signature we calculated does not match",
            "SignedHeaders=host;x-amz-date",
            "X-Amz-Signature=[redacted]",
        ] {
            assert_eq!(redact_with(text, &[]), text);
        }
    }

    #[test]
    fn short_values_are_not_registered() {
        add_secret("test");
        assert_eq!(redact("test a test"), "test a test");
    }

    #[test]
    fn a_line_is_written_once_whole_and_redacted() {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = RedactingWriter::new(Box::new(sink.clone()));
        {
            let mut line = writer.make_writer();
            // The name and the value in separate writes, as a formatter may split them.
            line.write_all(b"url=https://b.s3.amazonaws.com/k?X-Amz-Signa")
                .unwrap();
            line.write_all(b"ture=feedface&x=1\n").unwrap();
            assert!(
                sink.0.lock().unwrap().is_empty(),
                "nothing before the line ends"
            );
        }
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "url=https://b.s3.amazonaws.com/k?X-Amz-Signature=[redacted]&x=1\n"
        );
    }
}
