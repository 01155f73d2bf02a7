//! Talking to AWS: one SDK configuration from the standard chain (or `--local` /
//! `--endpoint-url`), the service clients, error classification and retries (the budgets
//! of the two retry layers are documented in [`retry`]).

pub mod bucket_region;
pub mod credentials;
pub mod error;
pub mod limit;
pub mod observe;
pub mod query;
pub mod retry;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
pub use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use tokio::sync::OnceCell;

pub use error::{AwsError, ErrorKind, sdk};

/// The longest strata waits for the credential chain (an SSO portal, STS for web identity,
/// a `credential_process`, instance metadata) before reporting a credentials error. Without
/// it the SDK's identity cache allows every attempt of the retry budget at its full timeout
/// (minutes).
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(20);

/// The emulator endpoint `--local` points at.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:4566";

#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--endpoint-url`, or `--local`'s endpoint. `AWS_ENDPOINT_URL` is honoured by the SDK.
    pub endpoint_url: Option<String>,
    /// `--local`: dummy credentials and us-east-1 unless the environment says otherwise.
    pub local: bool,
    /// The region the stack pins (`[stack] region`): it wins over the environment's.
    pub region: Option<String>,
    /// Static keys to use instead of the standard credential chain (tests build their
    /// clients with these, never through the process's environment).
    pub credentials: Option<Credentials>,
}

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub sts: aws_sdk_sts::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub kms: aws_sdk_kms::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub cloudcontrol: aws_sdk_cloudcontrol::Client,
    /// CloudFormation's registry (`DescribeType`), signed by hand (see [`query`]).
    pub cloudformation: query::CloudFormation,
    pub region: String,
    /// The endpoint in use when it is not AWS's own (emulators): changes how URLs look.
    pub endpoint: Option<String>,
    /// The answer of the one GetCallerIdentity, failure included: callers waiting at once
    /// share it, and a failed call (already retried by the SDK) is not made again, so a
    /// credential_process is never run twice for it.
    identity: OnceCell<Result<Identity, AwsError>>,
    /// The access key id last loaded by the credential chain, to name in a credentials
    /// error (never the secret).
    access_key_id: Arc<Mutex<Option<String>>>,
}

/// Who the credentials are, from STS GetCallerIdentity.
#[derive(Clone, Debug)]
pub struct Identity {
    pub account_id: String,
    /// `arn:<partition>:iam::<account>:...` or `arn:<partition>:sts::<account>:...`.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...: the second field of the caller's ARN.
    pub partition: String,
    /// The unique id of the calling entity (`AIDA...`, or `AROA...:session` for a role).
    pub user_id: String,
}

impl Identity {
    /// Reads the partition from the caller's ARN.
    pub fn new(account_id: String, arn: String) -> Identity {
        let partition = arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_string();
        Identity {
            account_id,
            arn,
            partition,
            user_id: String::new(),
        }
    }
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
            )
            // Credentials errors fail the call at once (the SDK does not retry them); this
            // bounds how long loading them may take.
            .identity_cache(
                IdentityCache::lazy()
                    .load_timeout(CREDENTIALS_TIMEOUT)
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
        if let Some(region) = &target.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(credentials) = &target.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            AwsError::new(
                "configure",
                "no AWS region: set AWS_REGION (or use --local)",
            )
        })?;
        let access_key_id = Arc::new(Mutex::new(None));
        let config = match config.credentials_provider() {
            Some(chain) => config
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(KeyIdOf {
                    chain,
                    access_key_id: access_key_id.clone(),
                }))
                .build(),
            None => config,
        };
        // Every call of a service waits for that service's limiter in this region.
        // The configuration names no HTTP client: the clients' own default is built here,
        // the same one the SDK would pick, so that it can be wrapped.
        let http = config.http_client().or_else(|| {
            use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
            use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
            aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
                BehaviorVersion::latest(),
            )?
            .runtime_components(&RuntimeComponentsBuilder::new("strata"))
            .http_client()
        });
        let limited = |service: &str| match &http {
            Some(http) => config
                .to_builder()
                .http_client(limit::limited(http.clone(), service, &region))
                .build(),
            None => config.clone(),
        };
        let s3_config = aws_sdk_s3::config::Builder::from(&limited("s3"))
            .force_path_style(endpoint.is_some())
            .interceptor(bucket_region::BucketRegion {
                region: region.clone(),
                path_style: endpoint.is_some(),
            })
            .interceptor(observe::CallLog)
            .interceptor(limit::NameCalls)
            .build();
        // Each client logs every attempt of its calls (see `observe`) and names them for
        // its limiters.
        macro_rules! client {
            ($sdk:ident, $service:literal) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&limited($service))
                        .interceptor(observe::CallLog)
                        .interceptor(limit::NameCalls)
                        .build(),
                )
            };
        }
        Ok(Clients {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: client!(aws_sdk_sqs, "sqs"),
            iam: client!(aws_sdk_iam, "iam"),
            lambda: client!(aws_sdk_lambda, "lambda"),
            apigateway: client!(aws_sdk_apigateway, "apigateway"),
            cloudtrail: client!(aws_sdk_cloudtrail, "cloudtrail"),
            sts: client!(aws_sdk_sts, "sts"),
            sns: client!(aws_sdk_sns, "sns"),
            cloudwatch: client!(aws_sdk_cloudwatch, "monitoring"),
            logs: client!(aws_sdk_cloudwatchlogs, "logs"),
            dynamodb: client!(aws_sdk_dynamodb, "dynamodb"),
            events: client!(aws_sdk_eventbridge, "events"),
            scheduler: client!(aws_sdk_scheduler, "scheduler"),
            kms: client!(aws_sdk_kms, "kms"),
            ssm: client!(aws_sdk_ssm, "ssm"),
            secretsmanager: client!(aws_sdk_secretsmanager, "secretsmanager"),
            cloudcontrol: client!(aws_sdk_cloudcontrol, "cloudcontrol"),
            cloudformation: query::CloudFormation::new(
                config.credentials_provider(),
                &region,
                endpoint.as_deref(),
            ),
            region,
            endpoint,
            identity: OnceCell::new(),
            access_key_id,
        })
    }

    /// Who the credentials are (STS GetCallerIdentity, asked once).
    pub async fn identity(&self) -> Result<&Identity, AwsError> {
        self.identity
            .get_or_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(sdk("GetCallerIdentity"))
                    .map_err(|e| {
                        let id = self.access_key_id.lock().unwrap().clone();
                        e.naming_access_key(id.as_deref())
                    })?;
                let account = out.account.ok_or_else(|| {
                    AwsError::new("GetCallerIdentity", "no account in the answer")
                })?;
                let arn = out.arn.unwrap_or_default();
                let mut identity = Identity::new(account, arn);
                identity.user_id = out.user_id.unwrap_or_default();
                Ok(identity)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The account the credentials belong to.
    pub async fn account_id(&self) -> Result<&str, AwsError> {
        Ok(self.identity().await?.account_id.as_str())
    }

    /// The partition of the credentials (`aws`, `aws-cn`, `aws-us-gov`).
    pub async fn partition(&self) -> Result<&str, AwsError> {
        Ok(self.identity().await?.partition.as_str())
    }

    /// The DNS suffix of the caller's partition's public endpoints ([`dns_suffix`]).
    pub async fn dns_suffix(&self) -> Result<&'static str, AwsError> {
        Ok(dns_suffix(self.partition().await?))
    }
}

/// The DNS suffix of a partition's public endpoints, as the SDK's partition table has it
/// (`aws-us-gov` shares `amazonaws.com`); an unknown partition gets the commercial one.
pub fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        "aws-eusc" => "amazonaws.eu",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        "aws-iso-e" => "cloud.adc-e.uk",
        "aws-iso-f" => "csp.hci.ic.gov",
        _ => "amazonaws.com",
    }
}

/// The standard chain, remembering the access key id it loaded last.
#[derive(Debug)]
struct KeyIdOf {
    chain: SharedCredentialsProvider,
    access_key_id: Arc<Mutex<Option<String>>>,
}

impl ProvideCredentials for KeyIdOf {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let credentials = self.chain.provide_credentials().await?;
            *self.access_key_id.lock().unwrap() = Some(credentials.access_key_id().to_string());
            // Never in a log line, whatever the SDK writes at trace.
            crate::log::add_secret(credentials.secret_access_key());
            if let Some(token) = credentials.session_token() {
                crate::log::add_secret(token);
            }
            Ok(credentials)
        })
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

#[cfg(test)]
mod identity_tests {
    use super::{Identity, dns_suffix};

    #[test]
    fn each_partition_has_its_dns_suffix() {
        assert_eq!(dns_suffix("aws"), "amazonaws.com");
        assert_eq!(dns_suffix("aws-cn"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("aws-us-gov"), "amazonaws.com");
        assert_eq!(dns_suffix("aws-iso"), "c2s.ic.gov");
    }

    #[test]
    fn the_partition_comes_from_the_callers_arn() {
        for (arn, partition) in [
            ("arn:aws:iam::123456789012:user/ci", "aws"),
            (
                "arn:aws-cn:sts::123456789012:assumed-role/deploy/s",
                "aws-cn",
            ),
            ("arn:aws-us-gov:iam::123456789012:root", "aws-us-gov"),
            ("", "aws"),
        ] {
            let identity = Identity::new("123456789012".into(), arn.into());
            assert_eq!(identity.partition, partition, "{arn}");
        }
    }
}
