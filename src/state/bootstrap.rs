//! `strata bootstrap`: a state bucket made the safe way, or an existing one of the caller's
//! finished. Each setting is a step: read it, write it if it is not as wanted, then read it
//! back until it shows (S3 bucket configuration is eventually consistent right after
//! CreateBucket: a call may answer NoSuchBucket, and a read may show the old value, for a
//! while). Every call names the caller's account as the expected bucket owner, so a bucket
//! of another account is never configured.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::{Value as Json, json};

use crate::aws::AwsError;
use crate::aws::error::sdk;
use crate::aws::retry::{Backoff, retry, wait_until};

/// How `strata bootstrap` makes a state bucket.
pub struct BootstrapOptions {
    pub region: String,
    /// The caller's account: the bucket must be its own.
    pub account_id: String,
    /// The partition of the credentials, for the policy's ARNs.
    pub partition: String,
    /// Old state versions are deleted this many days after a newer one replaced them.
    pub expire_versions_after_days: i32,
}

pub const LIFECYCLE_RULE_ID: &str = "strata-expire-old-state-versions";
pub const POLICY_SID: &str = "DenyInsecureTransport";

/// The settings of a state bucket, in the order bootstrap makes them.
pub const STEPS: [&str; 5] = [
    "versioning",
    "default encryption",
    "public access block",
    "TLS-only policy",
    "lifecycle rule",
];

/// What bootstrap did.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// The bucket was created by this run.
    pub created: bool,
    /// The settings this run wrote (the others were already as wanted).
    pub written: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "the bucket `{bucket}` exists and is not yours (another account owns it, or your credentials may not read it); nothing was changed. Choose another name"
    )]
    NotOurs { bucket: String },
    #[error(
        "the bucket `{bucket}` exists in region {region}, not {expected}; nothing was changed. Run bootstrap with --region {region} to finish it there"
    )]
    OtherRegion {
        bucket: String,
        region: String,
        expected: String,
    },
    #[error("the bucket `{bucket}`: {step}: {error}")]
    Step {
        bucket: String,
        step: &'static str,
        error: AwsError,
    },
    #[error(
        "the bucket `{bucket}`: {step} was written but does not read back as written after {seconds} s; run bootstrap again to finish it"
    )]
    NotSettled {
        bucket: String,
        step: &'static str,
        seconds: u64,
    },
}

/// Answers S3 gives for a bucket created a moment ago, or a setting written a moment ago.
fn settling(err: &AwsError) -> bool {
    err.code_is(&["NoSuchBucket", "OperationAborted"])
}

/// Creates `bucket` with every setting of a state bucket, or, when the caller already owns
/// it, writes the settings it lacks. Refuses a bucket another account owns.
pub async fn bootstrap(
    client: &Client,
    bucket: &str,
    options: &BootstrapOptions,
) -> Result<Bootstrapped, BootstrapError> {
    let step_error = |step: &'static str| {
        move |error: AwsError| BootstrapError::Step {
            bucket: bucket.to_string(),
            step,
            error,
        }
    };
    let owner = options.account_id.as_str();
    let mut done = Bootstrapped::default();
    let head = client
        .head_bucket()
        .bucket(bucket)
        .expected_bucket_owner(owner)
        .send()
        .await;
    match head {
        Ok(_) => {}
        Err(err) => {
            let region = err
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string);
            let err = sdk("HeadBucket")(err);
            if err.status == Some(403) {
                return Err(BootstrapError::NotOurs {
                    bucket: bucket.into(),
                });
            }
            if err.status == Some(301) {
                return Err(BootstrapError::OtherRegion {
                    bucket: bucket.into(),
                    region: region.unwrap_or_else(|| "another region".into()),
                    expected: options.region.clone(),
                });
            }
            if !err.is_not_found() {
                return Err(step_error("looking for it")(err));
            }
            done.created = create(client, bucket, options).await?;
        }
    }
    let steps = [
        versioning(client, bucket, owner).await,
        encryption(client, bucket, owner).await,
        public_access_block(client, bucket, owner).await,
        policy(client, bucket, owner, &options.partition).await,
        lifecycle(client, bucket, owner, options.expire_versions_after_days).await,
    ];
    for (step, written) in STEPS.into_iter().zip(steps) {
        if written.map_err(|e| e.named(bucket, step))? {
            done.written.push(step);
        }
    }
    Ok(done)
}

/// A step's failure before it knows its bucket's name.
enum StepError {
    Aws(AwsError),
    NotSettled,
}

impl From<AwsError> for StepError {
    fn from(err: AwsError) -> Self {
        StepError::Aws(err)
    }
}

impl StepError {
    fn named(self, bucket: &str, step: &'static str) -> BootstrapError {
        match self {
            StepError::Aws(error) => BootstrapError::Step {
                bucket: bucket.into(),
                step,
                error,
            },
            StepError::NotSettled => BootstrapError::NotSettled {
                bucket: bucket.into(),
                step,
                seconds: Backoff::CONSISTENCY.budget.as_secs(),
            },
        }
    }
}

/// Creates the bucket; `false` when it turned out to exist already as the caller's.
async fn create(
    client: &Client,
    bucket: &str,
    options: &BootstrapOptions,
) -> Result<bool, BootstrapError> {
    let send = || async {
        let mut create = client.create_bucket().bucket(bucket);
        if options.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(options.region.as_str()))
                    .build(),
            );
        }
        create.send().await.map_err(sdk("CreateBucket"))
    };
    // OperationAborted: the name was deleted a moment ago and is not free yet.
    match retry(
        Backoff::BUCKET_NAME_REUSE,
        |e| e.code_is(&["OperationAborted"]),
        send,
    )
    .await
    {
        Ok(_) => Ok(true),
        // Created meanwhile by the caller (a bootstrap running twice): finish it.
        Err(err) if err.code_is(&["BucketAlreadyOwnedByYou"]) => Ok(false),
        Err(err) if err.code_is(&["BucketAlreadyExists"]) => Err(BootstrapError::NotOurs {
            bucket: bucket.into(),
        }),
        Err(error) => Err(BootstrapError::Step {
            bucket: bucket.into(),
            step: "creating it",
            error,
        }),
    }
}

/// One setting: `read` says whether it is as wanted (`None`: not set at all); when it is
/// not, `write` sets it, and `read` must then agree. Returns whether it wrote.
async fn step<R, RF, W, WF>(mut read: R, mut write: W) -> Result<bool, StepError>
where
    R: FnMut() -> RF,
    RF: std::future::Future<Output = Result<bool, AwsError>>,
    W: FnMut() -> WF,
    WF: std::future::Future<Output = Result<(), AwsError>>,
{
    if retry(Backoff::CONSISTENCY, settling, &mut read).await? {
        return Ok(false);
    }
    retry(Backoff::CONSISTENCY, settling, &mut write).await?;
    let settled = wait_until(Backoff::CONSISTENCY, || {
        let read = read();
        async move {
            match read.await {
                Ok(true) => Ok(Some(())),
                Ok(false) => Ok(None),
                Err(err) if settling(&err) => Ok(None),
                Err(err) => Err(err),
            }
        }
    })
    .await?;
    settled.map(|()| true).ok_or(StepError::NotSettled)
}

async fn versioning(client: &Client, bucket: &str, owner: &str) -> Result<bool, StepError> {
    step(
        || async {
            let out = client
                .get_bucket_versioning()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .send()
                .await
                .map_err(sdk("GetBucketVersioning"))?;
            Ok(out.status() == Some(&BucketVersioningStatus::Enabled))
        },
        || async {
            client
                .put_bucket_versioning()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("PutBucketVersioning"))
                .map(|_| ())
        },
    )
    .await
}

/// Any default encryption will do (SSE-S3, or a KMS key the owner chose).
async fn encryption(client: &Client, bucket: &str, owner: &str) -> Result<bool, StepError> {
    step(
        || async {
            match client
                .get_bucket_encryption()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .send()
                .await
                .map_err(sdk("GetBucketEncryption"))
            {
                Ok(out) => Ok(out.server_side_encryption_configuration().is_some_and(|c| {
                    c.rules()
                        .iter()
                        .any(|r| r.apply_server_side_encryption_by_default().is_some())
                })),
                Err(err) if err.code_is(&["ServerSideEncryptionConfigurationNotFoundError"]) => {
                    Ok(false)
                }
                Err(err) => Err(err),
            }
        },
        || async {
            let sse = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?;
            let config = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(sse)
                        .build(),
                )
                .build()
                .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?;
            client
                .put_bucket_encryption()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .server_side_encryption_configuration(config)
                .send()
                .await
                .map_err(sdk("PutBucketEncryption"))
                .map(|_| ())
        },
    )
    .await
}

async fn public_access_block(
    client: &Client,
    bucket: &str,
    owner: &str,
) -> Result<bool, StepError> {
    step(
        || async {
            match client
                .get_public_access_block()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .send()
                .await
                .map_err(sdk("GetPublicAccessBlock"))
            {
                Ok(out) => Ok(out.public_access_block_configuration().is_some_and(|b| {
                    [
                        b.block_public_acls(),
                        b.ignore_public_acls(),
                        b.block_public_policy(),
                        b.restrict_public_buckets(),
                    ] == [Some(true); 4]
                })),
                Err(err) if err.code_is(&["NoSuchPublicAccessBlockConfiguration"]) => Ok(false),
                Err(err) => Err(err),
            }
        },
        || async {
            client
                .put_public_access_block()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("PutPublicAccessBlock"))
                .map(|_| ())
        },
    )
    .await
}

/// The bucket's policy, `None` when it has none.
async fn current_policy(
    client: &Client,
    bucket: &str,
    owner: &str,
) -> Result<Option<Json>, AwsError> {
    match client
        .get_bucket_policy()
        .bucket(bucket)
        .expected_bucket_owner(owner)
        .send()
        .await
        .map_err(sdk("GetBucketPolicy"))
    {
        Ok(out) => Ok(out.policy().and_then(|p| serde_json::from_str(p).ok())),
        Err(err) if err.code_is(&["NoSuchBucketPolicy"]) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The policy's statements, as a list whatever form the document uses.
fn statements(policy: &Json) -> Vec<Json> {
    match &policy["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// A bucket policy of its own is kept: the TLS-only statement is added to it.
async fn policy(
    client: &Client,
    bucket: &str,
    owner: &str,
    partition: &str,
) -> Result<bool, StepError> {
    let wanted = tls_only_statement(bucket, partition);
    step(
        || async {
            let policy = current_policy(client, bucket, owner).await?;
            Ok(policy.is_some_and(|p| {
                statements(&p)
                    .iter()
                    .any(|s| s["Sid"] == POLICY_SID && s["Effect"] == "Deny")
            }))
        },
        || async {
            let document = match current_policy(client, bucket, owner).await? {
                Some(mut policy) => {
                    let mut all = statements(&policy);
                    all.retain(|s| s["Sid"] != POLICY_SID);
                    all.push(wanted.clone());
                    policy["Statement"] = Json::Array(all);
                    policy
                }
                None => json!({ "Version": "2012-10-17", "Statement": [wanted.clone()] }),
            };
            client
                .put_bucket_policy()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .policy(document.to_string())
                .send()
                .await
                .map_err(sdk("PutBucketPolicy"))
                .map(|_| ())
        },
    )
    .await
}

/// Lifecycle rules of its own are kept: strata's rule is added beside them.
async fn lifecycle(
    client: &Client,
    bucket: &str,
    owner: &str,
    days: i32,
) -> Result<bool, StepError> {
    let current = || async {
        match client
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
            .map_err(sdk("GetBucketLifecycleConfiguration"))
        {
            Ok(out) => Ok(out.rules().to_vec()),
            Err(err) if err.code_is(&["NoSuchLifecycleConfiguration"]) => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    };
    step(
        || async {
            Ok(current().await?.iter().any(|r| {
                r.id() == Some(LIFECYCLE_RULE_ID)
                    && r.status() == &ExpirationStatus::Enabled
                    && r.noncurrent_version_expiration()
                        .and_then(|e| e.noncurrent_days())
                        == Some(days)
            }))
        },
        || async {
            let mut rules: Vec<LifecycleRule> = current()
                .await?
                .into_iter()
                .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID))
                .collect();
            rules.push(lifecycle_rule(days)?);
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .map_err(|e| {
                            AwsError::new("PutBucketLifecycleConfiguration", e.to_string())
                        })?,
                )
                .send()
                .await
                .map_err(sdk("PutBucketLifecycleConfiguration"))
                .map(|_| ())
        },
    )
    .await
}

/// Expires a state version `days` after a newer one replaced it, and the delete markers
/// the journal's short-lived objects leave once nothing is behind them.
fn lifecycle_rule(days: i32) -> Result<LifecycleRule, AwsError> {
    LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(days)
                .build(),
        )
        .expiration(
            LifecycleExpiration::builder()
                .expired_object_delete_marker(true)
                .build(),
        )
        .build()
        .map_err(|e| AwsError::new("PutBucketLifecycleConfiguration", e.to_string()))
}

/// Denies every request to the bucket not made over TLS.
pub fn tls_only_statement(bucket: &str, partition: &str) -> Json {
    json!({
        "Sid": POLICY_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            crate::resources::arn::bucket(partition, bucket),
            crate::resources::arn::bucket_objects(partition, bucket),
        ],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
    })
}
