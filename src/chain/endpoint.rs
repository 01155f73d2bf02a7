//! The presign endpoint: POST `{"action", "object_key"}`, get a presigned URL back.

use std::time::Duration;

use serde_json::json;

use super::ChainError;

pub struct Endpoint {
    pub url: String,
    pub http: reqwest::Client,
}

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Put,
    Get,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Put => "putObject",
            Action::Get => "getObject",
        }
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
        let body = json!({ "action": action.name(), "object_key": key });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .http
                .post(&self.url)
                .json(&body)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    let text = response.text().await.map_err(|error| ChainError::Http {
                        what: self.url.clone(),
                        error,
                    })?;
                    // The URL's signature and token are redacted by the log's writer.
                    tracing::debug!(target: "strata::chain", action = action.name(), key, url = %text.trim(), "presigned");
                    return Ok(text.trim().to_string());
                }
                Ok(response) if response.status().is_server_error() && attempt < 4 => {}
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    return Err(ChainError::Endpoint {
                        status,
                        action: action.name().into(),
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
