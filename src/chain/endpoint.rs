//! The presign endpoint: POST `{"action", "object_key"}`, get a presigned URL back; the
//! multipart actions answer JSON (see stacks/functions/presign/index.py).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::ChainError;
use super::transfer::{still_fresh, url_lifetime};

pub struct Endpoint {
    pub url: String,
    pub http: reqwest::Client,
}

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Put,
    Get,
    /// A GET URL signed for `x-amz-checksum-mode: ENABLED`, so that S3 answers a whole
    /// object with its checksum. An endpoint that does not know `checksum_mode` signs a
    /// plain GET URL (see `integrity::signs_checksum_mode`).
    GetWithChecksum,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Put => "putObject",
            Action::Get | Action::GetWithChecksum => "getObject",
        }
    }

    /// The request for KEYS (one key: `object_key`; several: `object_keys`).
    fn request(self, name: &str, keys: serde_json::Value) -> serde_json::Value {
        let field = if keys.is_array() {
            "object_keys"
        } else {
            "object_key"
        };
        let mut body = json!({ "action": name, field: keys });
        if let Action::GetWithChecksum = self {
            body["checksum_mode"] = json!("ENABLED");
        }
        body
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client with default settings")
}

impl Endpoint {
    pub fn new(url: &str) -> Endpoint {
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            http: http_client(),
        }
    }

    /// A presigned URL for `key`. 5xx answers and connection errors are retried a few
    /// times; 4xx answers are the caller's mistake and are reported as they are.
    pub async fn presign(&self, action: Action, key: &str) -> Result<String, ChainError> {
        let body = action.request(action.name(), json!(key));
        Ok(self
            .post(action.name(), key, &body)
            .await?
            .trim()
            .to_string())
    }

    /// Presigned URLs for up to 100 keys at once (`putObjects`, `getObjects`):
    /// `{"expires_in", "urls": [{"object_key", "url"}]}`.
    pub async fn urls(
        &self,
        action: Action,
        keys: &[String],
    ) -> Result<serde_json::Value, ChainError> {
        let name = format!("{}s", action.name());
        let body = action.request(&name, json!(keys));
        let first = keys.first().map(String::as_str).unwrap_or_default();
        let text = self.post(&name, first, &body).await?;
        serde_json::from_str(&text).map_err(|e| ChainError::Endpoint {
            status: 200,
            action: name,
            key: first.into(),
            body: format!("not JSON ({e})"),
        })
    }

    /// A multipart action (`createMultipartUpload`, `uploadPart`, ...): `fields` are sent
    /// beside `action` and `object_key`; the JSON answer is returned.
    pub async fn multipart(
        &self,
        action: &str,
        key: &str,
        fields: serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        let mut body = json!({ "action": action, "object_key": key });
        if let (Some(body), serde_json::Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        let text = self.post(action, key, &body).await?;
        serde_json::from_str(&text).map_err(|e| ChainError::Endpoint {
            status: 200,
            action: action.into(),
            key: key.into(),
            body: format!(
                "not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ),
        })
    }

    async fn post(
        &self,
        action: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> Result<String, ChainError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .http
                .post(&self.url)
                .json(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    let text = response.text().await.map_err(|error| ChainError::Http {
                        what: self.url.clone(),
                        error,
                    })?;
                    // The URLs' signatures and tokens are redacted by the log's writer.
                    tracing::debug!(target: "strata::chain", action, key, answer = %text.trim(), "presigned");
                    return Ok(text);
                }
                Ok(response) if response.status().is_server_error() && attempt < 4 => {}
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    return Err(ChainError::Endpoint {
                        status,
                        action: action.into(),
                        key: key.into(),
                        body,
                    });
                }
                Err(error) if attempt >= 4 || !(error.is_connect() || error.is_timeout()) => {
                    return Err(ChainError::Http {
                        what: self.url.clone(),
                        error,
                    });
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
        }
    }
}

/// URLs asked for ahead, up to 100 in one request (`putObjects`, `getObjects`): many small
/// payloads cost one endpoint round trip per hundred instead of one each.
#[derive(Default)]
pub struct Prefetched(std::sync::Mutex<HashMap<String, (String, Instant)>>);

impl Prefetched {
    /// Asks for the URLs of KEYS. An endpoint that does not know the batch actions (an
    /// older deployment) answers 400: the payloads then ask one by one, as before.
    pub async fn fetch(&self, endpoint: &Endpoint, action: Action, keys: &[String]) {
        for chunk in keys.chunks(100) {
            let signed = Instant::now();
            let Ok(answer) = endpoint.urls(action, chunk).await else {
                return;
            };
            let mut map = self.0.lock().expect("not poisoned");
            for entry in answer["urls"].as_array().into_iter().flatten() {
                if let (Some(key), Some(url)) =
                    (entry["object_key"].as_str(), entry["url"].as_str())
                {
                    map.insert(key.to_string(), (url.to_string(), signed));
                }
            }
        }
    }

    /// The URL for KEY and when it was signed, if one was fetched and is still fresh; used
    /// once.
    pub fn take(&self, key: &str) -> Option<(String, Instant)> {
        let (url, signed) = self.0.lock().expect("not poisoned").remove(key)?;
        let lifetime = url_lifetime(&url)?;
        still_fresh(signed.elapsed(), lifetime).then_some((url, signed))
    }
}
