//! The S3 state store: the state is one object at `s3://bucket/key`, the lock another at
//! `s3://bucket/key.lock`. Both rely on S3 conditional writes, so no lock table is needed:
//!
//! - the lock object is created with `PutObject If-None-Match: *`: only one run can create
//!   it; it records who holds it (id, user@host, pid, operation, time) for whoever is refused;
//! - every write of the state carries `If-Match` with the ETag this process last read or
//!   wrote (`If-None-Match: *` when there was no state yet), so a writer whose view is stale
//!   is refused even if someone forced its lock away. A PutObject replaces the object whole,
//!   so a state is never half written.
//!
//! Each state version carries its serial and writer as object metadata, which
//! [`S3Store::history`] reads back from the bucket's versions.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::lock::{LockError, LockInfo, held_error};
use super::store::{StateLock, StateStore};
use super::{State, StateError};
use crate::aws::AwsError;
use crate::aws::error::sdk;

pub struct S3Store {
    client: Client,
    pub bucket: String,
    pub key: String,
    stack: String,
    stage: String,
    /// What this process last read or wrote: `None` before the first read; then the
    /// object's ETag (`None` when there was no object) and the state's serial.
    seen: Mutex<Option<Seen>>,
}

#[derive(Clone, Debug)]
struct Seen {
    etag: Option<String>,
    serial: u64,
}

/// One stored version of the state, newest first in [`S3Store::history`].
#[derive(Clone, Debug)]
pub struct Version {
    pub version_id: String,
    pub serial: Option<u64>,
    pub writer: Option<String>,
    /// RFC 3339.
    pub time: String,
    pub latest: bool,
    pub deleted: bool,
    /// Seconds and nanoseconds since the epoch, for ordering (`time` is text).
    order: (i64, u32),
}

fn order(t: Option<&aws_smithy_types::DateTime>) -> (i64, u32) {
    t.map_or((0, 0), |t| (t.secs(), t.subsec_nanos()))
}

/// What a held S3 lock needs to be released: the ETag of the lock object this run created.
struct LockHandle {
    etag: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: &str, key: &str, stack: &str, stage: &str) -> S3Store {
        S3Store {
            client,
            bucket: bucket.to_string(),
            key: key.to_string(),
            stack: stack.to_string(),
            stage: stage.to_string(),
            seen: Mutex::new(None),
        }
    }

    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn lock_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.lock_key())
    }

    /// A failed call on the state object as a state error, saying plainly what a missing
    /// bucket or a refused permission means.
    fn state_error(&self, err: AwsError) -> StateError {
        StateError::Remote {
            path: self.location(),
            error: explain(&self.bucket, &err),
        }
    }

    fn lock_error(&self, err: AwsError) -> LockError {
        LockError::Remote {
            location: self.lock_location(),
            error: explain(&self.bucket, &err),
        }
    }

    /// The state object's text and ETag, `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, AwsError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag.clone();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::new("GetObject", format!("reading the body: {e}")))?
                    .into_bytes()
                    .to_vec();
                Ok(Some((bytes, etag)))
            }
            Err(err) => {
                let err = sdk("GetObject")(err);
                if err.code_is(&["NoSuchKey"]) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<State, StateError> {
        let text = String::from_utf8_lossy(bytes);
        State::parse(&text, &self.location(), &self.stack, &self.stage)
    }

    /// The stored versions of the state, newest first (the bucket must have versioning on
    /// for there to be more than one).
    pub async fn history(&self) -> Result<Vec<Version>, StateError> {
        let mut versions = Vec::new();
        let mut key_marker = None;
        let mut version_marker = None;
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(sdk("ListObjectVersions"))
                .map_err(|e| self.state_error(e))?;
            for v in out.versions() {
                if v.key() != Some(self.key.as_str()) {
                    continue;
                }
                let version_id = v.version_id().unwrap_or("null").to_string();
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .version_id(&version_id)
                    .send()
                    .await
                    .map_err(sdk("HeadObject"))
                    .map_err(|e| self.state_error(e))?;
                let meta = head.metadata();
                versions.push(Version {
                    version_id,
                    serial: meta
                        .and_then(|m| m.get("serial"))
                        .and_then(|s| s.parse().ok()),
                    writer: meta.and_then(|m| m.get("writer")).cloned(),
                    time: v
                        .last_modified()
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                        .unwrap_or_default(),
                    latest: v.is_latest().unwrap_or(false),
                    deleted: false,
                    order: order(v.last_modified()),
                });
            }
            for m in out.delete_markers() {
                if m.key() != Some(self.key.as_str()) {
                    continue;
                }
                versions.push(Version {
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    serial: None,
                    writer: None,
                    time: m
                        .last_modified()
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                        .unwrap_or_default(),
                    latest: m.is_latest().unwrap_or(false),
                    deleted: true,
                    order: order(m.last_modified()),
                });
            }
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_string);
                version_marker = out.next_version_id_marker().map(str::to_string);
            } else {
                break;
            }
        }
        // Newest first; writes within the same millisecond by serial.
        versions.sort_by_key(|v| std::cmp::Reverse((v.latest, v.order, v.serial)));
        Ok(versions)
    }

    /// The lock object's record and ETag, `None` when nobody holds the lock.
    async fn read_lock(&self) -> Result<Option<(LockInfo, String)>, LockError> {
        let Some((bytes, etag)) = self
            .get(&self.lock_key())
            .await
            .map_err(|e| self.lock_error(e))?
        else {
            return Ok(None);
        };
        let info = serde_json::from_slice::<LockInfo>(&bytes).map_err(|e| LockError::Garbage {
            location: self.lock_location(),
            error: e.to_string(),
        })?;
        Ok(Some((info, etag.unwrap_or_default())))
    }
}

/// Says what a failed S3 call means for the state bucket.
fn explain(bucket: &str, err: &AwsError) -> String {
    if err.code_is(&["NoSuchBucket"]) {
        format!(
            "the state bucket `{bucket}` does not exist (create it with `strata bootstrap {bucket}`)"
        )
    } else if err.code_is(&["AccessDenied", "AllAccessDisabled"]) || err.status == Some(403) {
        format!(
            "access denied to the state bucket `{bucket}` ({err}); the credentials in use need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on it"
        )
    } else {
        err.to_string()
    }
}

fn precondition_failed(err: &AwsError) -> bool {
    err.status == Some(412) || err.code_is(&["PreconditionFailed"])
}

#[async_trait]
impl StateStore for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn read(&self) -> Result<State, StateError> {
        let found = self.get(&self.key).await.map_err(|e| self.state_error(e))?;
        let (state, etag) = match found {
            Some((bytes, etag)) => (self.parse(&bytes)?, etag),
            None => (State::new(&self.stack, &self.stage), None),
        };
        *self.seen.lock().expect("seen lock") = Some(Seen {
            etag,
            serial: state.serial,
        });
        Ok(state)
    }

    async fn write(&self, state: &State, expected_serial: u64) -> Result<(), StateError> {
        let seen = self.seen.lock().expect("seen lock").clone();
        let seen = match seen {
            Some(seen) => seen,
            // Never read: learn the ETag the write must match.
            None => {
                self.read().await?;
                self.seen
                    .lock()
                    .expect("seen lock")
                    .clone()
                    .expect("read sets it")
            }
        };
        if seen.serial != expected_serial {
            return Err(StateError::Conflict {
                path: self.location(),
                expected: expected_serial,
                found: seen.serial,
            });
        }
        let mut text = serde_json::to_string_pretty(state).expect("state serialises");
        text.push('\n');
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .metadata("serial", state.serial.to_string())
            .metadata("writer", LockInfo::new("write").who)
            .body(ByteStream::from(text.clone().into_bytes()));
        let request = match &seen.etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await.map_err(sdk("PutObject")) {
            Ok(out) => {
                *self.seen.lock().expect("seen lock") = Some(Seen {
                    etag: out.e_tag,
                    serial: state.serial,
                });
                Ok(())
            }
            Err(err) if precondition_failed(&err) => {
                // Someone else wrote since. (Or the SDK retried a write whose answer was
                // lost and this is our own: then the stored bytes are ours.)
                let current = self.get(&self.key).await.map_err(|e| self.state_error(e))?;
                if let Some((bytes, etag)) = &current
                    && bytes == text.as_bytes()
                {
                    *self.seen.lock().expect("seen lock") = Some(Seen {
                        etag: etag.clone(),
                        serial: state.serial,
                    });
                    return Ok(());
                }
                let found = current
                    .and_then(|(bytes, _)| self.parse(&bytes).ok())
                    .map_or(0, |s| s.serial);
                Err(StateError::Conflict {
                    path: self.location(),
                    expected: expected_serial,
                    found,
                })
            }
            Err(err) => Err(self.state_error(err)),
        }
    }

    async fn lock(&self, operation: &str) -> Result<StateLock, LockError> {
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info).expect("lock info serialises");
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk("PutObject"));
        match put {
            Ok(out) => Ok(StateLock {
                info,
                handle: Box::new(LockHandle {
                    etag: out.e_tag.unwrap_or_default(),
                }),
            }),
            Err(err) if precondition_failed(&err) => match self.read_lock().await? {
                // The SDK retried our own create whose answer was lost.
                Some((held, etag)) if held.id == info.id => Ok(StateLock {
                    info,
                    handle: Box::new(LockHandle { etag }),
                }),
                Some((held, _)) => Err(held_error(Some(held))),
                // Released between the two calls: one more try says who has it now.
                None => Err(held_error(None)),
            },
            Err(err) => Err(self.lock_error(err)),
        }
    }

    async fn unlock(&self, lock: StateLock) -> Result<(), LockError> {
        let etag = lock
            .handle
            .downcast::<LockHandle>()
            .map(|h| h.etag)
            .unwrap_or_default();
        // `If-Match` on DeleteObject: a lock someone forced away and another run took since
        // is theirs now, and stays.
        let mut delete = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key());
        if !etag.is_empty() {
            delete = delete.if_match(etag);
        }
        match delete.send().await.map_err(sdk("DeleteObject")) {
            Ok(_) => Ok(()),
            // Not ours any more (forced away, maybe taken by another run): leave it.
            Err(err) if precondition_failed(&err) || err.code_is(&["NoSuchKey"]) => Ok(()),
            Err(err) => Err(self.lock_error(err)),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        let Some((info, etag)) = self.read_lock().await? else {
            return Err(LockError::NoLockObject {
                given: id.to_string(),
                location: self.lock_location(),
            });
        };
        if info.id != id {
            return Err(LockError::WrongId {
                given: id.to_string(),
                held: format!(
                    "held with id {} by {} (pid {}) for `{}`",
                    info.id, info.who, info.pid, info.operation
                ),
            });
        }
        // Only the lock object read above: if another run took the lock in between, its
        // object has another ETag and is left alone.
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_match(etag)
            .send()
            .await
            .map_err(sdk("DeleteObject"))
        {
            Ok(_) => Ok(info),
            Err(err) if precondition_failed(&err) => Err(LockError::WrongId {
                given: id.to_string(),
                held: "replaced by another run's lock while unlocking".into(),
            }),
            Err(err) => Err(self.lock_error(err)),
        }
    }
}

/// How `strata bootstrap` makes a state bucket.
pub struct BootstrapOptions {
    pub region: String,
    /// The partition of the credentials, for the policy's ARNs.
    pub partition: String,
    /// Old state versions are deleted this many days after a newer one replaced them.
    pub expire_versions_after_days: i32,
}

pub const LIFECYCLE_RULE_ID: &str = "strata-expire-old-state-versions";

/// Creates a state bucket the safe way: versioning (the state's history), default
/// encryption (SSE-S3, AES256), every public access blocked, a policy refusing requests
/// not made over TLS, and a lifecycle rule expiring noncurrent versions. Refuses a bucket
/// that exists (whoever owns it). Each step is one call; on a failure the message names
/// the step, and the bucket is left for the user to inspect.
pub async fn bootstrap(
    client: &Client,
    bucket: &str,
    options: &BootstrapOptions,
) -> Result<(), AwsError> {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
        CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
        NoncurrentVersionExpiration, PublicAccessBlockConfiguration, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
        VersioningConfiguration,
    };
    let exists = |how: &str| {
        AwsError::new(
            "CreateBucket",
            format!(
                "the bucket `{bucket}` already exists ({how}); bootstrap only creates a new bucket. Choose another name, or use the existing bucket in `[backend] s3` as it is"
            ),
        )
    };
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Err(exists("you own it")),
        Err(err) => {
            let err = sdk("HeadBucket")(err);
            if err.status == Some(403) {
                return Err(exists("another account owns it"));
            }
            if err.status == Some(301) {
                return Err(exists("in another region"));
            }
            if !err.is_not_found() {
                return Err(err);
            }
        }
    }
    let mut create = client.create_bucket().bucket(bucket);
    if options.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(options.region.as_str()))
                .build(),
        );
    }
    if let Err(err) = create.send().await {
        let err = sdk("CreateBucket")(err);
        if err.code_is(&["BucketAlreadyOwnedByYou"]) {
            return Err(exists("you own it"));
        }
        if err.code_is(&["BucketAlreadyExists"]) {
            return Err(exists("another account owns it"));
        }
        return Err(err);
    }
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("PutBucketVersioning"))?;
    let sse = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?;
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(sse)
                        .build(),
                )
                .build()
                .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?,
        )
        .send()
        .await
        .map_err(sdk("PutBucketEncryption"))?;
    client
        .put_public_access_block()
        .bucket(bucket)
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
        .map_err(sdk("PutPublicAccessBlock"))?;
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(tls_only_policy(bucket, &options.partition))
        .send()
        .await
        .map_err(sdk("PutBucketPolicy"))?;
    let rule = LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(options.expire_versions_after_days)
                .build(),
        )
        .build()
        .map_err(|e| AwsError::new("PutBucketLifecycleConfiguration", e.to_string()))?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| AwsError::new("PutBucketLifecycleConfiguration", e.to_string()))?,
        )
        .send()
        .await
        .map_err(sdk("PutBucketLifecycleConfiguration"))?;
    Ok(())
}

/// Denies every request to the bucket not made over TLS.
pub fn tls_only_policy(bucket: &str, partition: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                format!("arn:{partition}:s3:::{bucket}"),
                format!("arn:{partition}:s3:::{bucket}/*"),
            ],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
        }]
    })
    .to_string()
}
