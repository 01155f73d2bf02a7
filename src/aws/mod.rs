//! Talking to AWS: one SDK configuration from the standard chain (or `--local` /
//! `--endpoint-url`), the service clients, error classification and retries (the budgets
//! of the two retry layers are documented in [`retry`]).

pub mod error;
pub mod retry;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use tokio::sync::OnceCell;

pub use error::{AwsError, ErrorKind, sdk};

/// The emulator endpoint `--local` points at.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:4566";

#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--endpoint-url`, or `--local`'s endpoint. `AWS_ENDPOINT_URL` is honoured by the SDK.
    pub endpoint_url: Option<String>,
    /// `--local`: dummy credentials and us-east-1 unless the environment says otherwise.
    pub local: bool,
}

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    /// The endpoint in use when it is not AWS's own (emulators): changes how URLs look.
    pub endpoint: Option<String>,
    account_id: OnceCell<String>,
}

impl Clients {
    pub async fn connect(target: &Target) -> Result<Clients, AwsError> {
        let endpoint = target
            .endpoint_url
            .clone()
            .or_else(|| target.local.then(|| LOCAL_ENDPOINT.to_string()))
            .or_else(|| {
                std::env::var("AWS_ENDPOINT_URL")
                    .ok()
                    .filter(|s| !s.is_empty())
            });
        if let Some(url) = &endpoint {
            check_endpoint(url)?;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                // Transient faults are the SDK's to retry, and only the SDK's (see `retry`).
                RetryConfig::standard()
                    .with_max_attempts(retry::SDK_MAX_ATTEMPTS)
                    .with_initial_backoff(retry::SDK_FIRST_BACKOFF)
                    .with_max_backoff(retry::SDK_MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(url) = &endpoint {
            loader = loader.endpoint_url(url);
        }
        if target.local {
            if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
                loader = loader.credentials_provider(Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "strata-local",
                ));
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err()
            {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            AwsError::new(
                "configure",
                "no AWS region: set AWS_REGION (or use --local)",
            )
        })?;
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(endpoint.is_some())
            .build();
        Ok(Clients {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigateway: aws_sdk_apigateway::Client::new(&config),
            cloudtrail: aws_sdk_cloudtrail::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            region,
            endpoint,
            account_id: OnceCell::new(),
        })
    }

    /// The account the credentials belong to (STS GetCallerIdentity, asked once).
    pub async fn account_id(&self) -> Result<&str, AwsError> {
        self.account_id
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(sdk("GetCallerIdentity"))?;
                out.account
                    .ok_or_else(|| AwsError::new("GetCallerIdentity", "no account in the answer"))
            })
            .await
            .map(String::as_str)
    }
}

/// A malformed endpoint is reported before any request, with the URL and what is wrong.
/// The SDK parses endpoints both as a WHATWG URL and as an `http` URI and refuses a query;
/// an endpoint it would refuse must not get past here, or it fails at the first call as if
/// the endpoint were unreachable (after retries), and only for some services.
fn check_endpoint(url: &str) -> Result<(), AwsError> {
    let problem = match reqwest::Url::parse(url) {
        Err(e) => Some(e.to_string()),
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
            Some(format!("scheme `{}`", parsed.scheme()))
        }
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => Some("no host".into()),
        Ok(parsed) if parsed.query().is_some() || parsed.fragment().is_some() => {
            Some("a query or fragment".into())
        }
        // The `http` URI parser, through a request the SDK's way.
        Ok(_) => aws_smithy_runtime_api::http::Request::get(url)
            .err()
            .map(|_| "not a valid URI".into()),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(AwsError::new(
            "configure",
            format!(
                "`{url}` is not an endpoint URL ({problem}; expected http://host:port or https://host)"
            ),
        )),
    }
}
