//! `s3.bucket`: a bucket with encryption, public access block, versioning, lifecycle and tags.

use crate::schema::rules::{BUCKET_NAME, KMS_KEY, TAGS, duplicates, items};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// Lifecycle day counts: positive, and S3 reads them as 32-bit integers.
const DAYS: Type = Type::Int {
    min: 1,
    max: 2_147_483_647,
};

/// What a lifecycle rule does; a rule must do at least one of them.
const LIFECYCLE_ACTIONS: &[&str] = &[
    "expiration_days",
    "noncurrent_version_expiration_days",
    "abort_incomplete_multipart_upload_days",
];

pub const LIFECYCLE_RULE: &[Attribute] = &[
    attr("id", Type::String(Text::len(1, 255))).required(),
    // An object key prefix: keys are at most 1,024 bytes.
    attr("prefix", Type::String(Text::len(0, 1024))),
    attr("enabled", Type::Bool).default(Default::Bool(true)),
    attr("expiration_days", DAYS),
    attr("noncurrent_version_expiration_days", DAYS),
    attr("abort_incomplete_multipart_upload_days", DAYS),
];

pub const PUBLIC_ACCESS_BLOCK: &[Attribute] = &[
    attr("block_public_acls", Type::Bool).default(Default::Bool(false)),
    attr("ignore_public_acls", Type::Bool).default(Default::Bool(false)),
    attr("block_public_policy", Type::Bool).default(Default::Bool(false)),
    attr("restrict_public_buckets", Type::Bool).default(Default::Bool(false)),
];

/// What the reference page (docs/resources/s3.bucket.md) says beyond the attribute table.
const NOTES: &str = "\
Bucket names: 3–63 characters: lowercase letters, digits, `.` and `-`. It must begin and end with a
letter or digit, contain no `..`, and not look like an IP address (four groups of one to
three digits). The prefixes `xn--`, `sthree-`, `amzn-s3-demo-` and the suffixes
`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3` are not allowed. The same rule
applies to a trail's `s3_bucket_name` and to the state bucket of `[backend]`.

Lifecycle rules: each rule is a table: `id` (string of 1 to 255 characters, required, unique among the
rules), `prefix` (string of up to 1,024 characters), `enabled` (boolean, default `true`),
`expiration_days`, `noncurrent_version_expiration_days`,
`abort_incomplete_multipart_upload_days` (integers, 1 to 2147483647). A rule must set at
least one of the three day counts.

Rules across attributes: `kms_key_id` needs `sse_algorithm` `aws:kms` or `aws:kms:dsse`.

- **`force_destroy`**: strata never deletes objects unless this is `true` **in state**.
  When it is, destroying or replacing the bucket first deletes every object version and
  delete marker. The setting takes effect from state, so apply `force_destroy = true`
  before you destroy. Changing it alone shows as an in-place update that changes nothing in
  AWS. If a bucket is not empty and `force_destroy` is not set, the delete fails and says
  why.
- If a bucket with this name already exists, even one you own, apply refuses to create
  it and names `strata import`: strata never takes over a bucket it did not create (S3
  answers success to a CreateBucket of your own bucket in `us-east-1`, so strata looks
  before it creates).
- In `us-east-1` the bucket is created without a `LocationConstraint`.";

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket",
    description: "an S3 bucket",
    import_id: "the bucket name",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(BUCKET_NAME))
            .required()
            .force_new(),
        attr(
            "sse_algorithm",
            Type::Enum(&["AES256", "aws:kms", "aws:kms:dsse"]),
        )
        .default(Default::Str("AES256"))
        .keep_live(),
        attr("kms_key_id", Type::String(KMS_KEY)),
        attr("public_access_block", Type::Object(PUBLIC_ACCESS_BLOCK)),
        attr("versioning", Type::Bool)
            .default(Default::Bool(false))
            .keep_live(),
        attr(
            "lifecycle_rules",
            Type::List {
                item: &Type::Object(LIFECYCLE_RULE),
                min: 0,
                max: 1000,
                unique: false,
            },
        ),
        attr("tags", TAGS),
        attr("force_destroy", Type::Bool)
            .default(Default::Bool(false))
            .local(),
    ],
    computed: &["arn", "domain_name", "regional_domain_name", "region"],
    examples: &[
        ("arn", "arn:aws:s3:::bucket"),
        ("domain_name", "bucket.s3.amazonaws.com"),
        ("regional_domain_name", "bucket.s3.us-east-1.amazonaws.com"),
        ("region", "us-east-1"),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_bucket),
};

/// The rules S3 applies across a bucket's settings.
fn check_bucket(attrs: &Attrs) -> Vec<Problem> {
    let rules = items(attrs, "lifecycle_rules");
    let mut out = duplicates("lifecycle_rules", rules, "id", str::to_string);
    for (i, rule) in rules.iter().enumerate() {
        let Value::Map(rule) = rule else { continue };
        if !LIFECYCLE_ACTIONS.iter().any(|a| rule.contains_key(*a)) {
            out.push(
                Problem::new(
                    Path::attr("lifecycle_rules").index(i),
                    "a lifecycle rule must do something",
                    "this rule has no action",
                )
                .help(format!(
                    "set at least one of {}",
                    crate::schema::quoted_list(LIFECYCLE_ACTIONS)
                )),
            );
        }
    }
    // `AES256` is also what S3 uses when the stack leaves the algorithm out.
    let algorithm = match attrs.get("sse_algorithm") {
        None => Some("AES256"),
        Some(v) => v.as_str(),
    };
    if algorithm == Some("AES256") && attrs.contains_key("kms_key_id") {
        out.push(
            Problem::new(
                Path::attr("kms_key_id"),
                "`kms_key_id` needs `sse_algorithm = \"aws:kms\"` or `\"aws:kms:dsse\"`",
                "S3 encrypts with its own keys under `AES256`",
            )
            .help("set `sse_algorithm = \"aws:kms\"`, or remove `kms_key_id`"),
        );
    }
    out
}

use async_trait::async_trait;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, opt_bool, opt_str, req_str, tags, tags_value};
use super::{Created, Resource, arn};
use crate::aws::retry::{Backoff, retry, retry_send};
use crate::aws::{AwsError, Clients, ErrorKind, sdk};
use crate::value::{Attrs, Value};

pub struct S3Bucket;

/// A bucket name in use by another account (bucket names are global).
fn taken(name: &str) -> AwsError {
    AwsError::new(
        "CreateBucket",
        format!("bucket name `{name}` is taken by another account: choose another name"),
    )
}

/// Right after CreateBucket, other bucket calls may briefly not find it.
fn not_yet(err: &AwsError) -> bool {
    err.code_is(&["NoSuchBucket", "OperationAborted"])
}

#[async_trait]
impl Resource for S3Bucket {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let bucket = arn::bucket(&at.partition, &name_or_any(desired, "name"));
        let on_bucket = [bucket.clone()];
        let mut out = vec![
            allow(
                Step::Read,
                &[
                    "s3:ListBucket",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketVersioning",
                    "s3:GetBucketTagging",
                    "s3:GetLifecycleConfiguration",
                ],
                &on_bucket,
            ),
            allow(
                Step::Write,
                &[
                    "s3:CreateBucket",
                    "s3:ListBucket",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketVersioning",
                    "s3:PutLifecycleConfiguration",
                    "s3:PutBucketTagging",
                ],
                &on_bucket,
            ),
            allow(Step::Delete, &["s3:DeleteBucket"], &on_bucket),
        ];
        // Emptying the bucket first: only where the stack lets strata delete objects.
        if !matches!(
            desired.get("force_destroy"),
            None | Some(Value::Bool(false))
        ) {
            out.push(allow(Step::Delete, &["s3:ListBucketVersions"], &on_bucket));
            out.push(allow(
                Step::Delete,
                &["s3:DeleteObject", "s3:DeleteObjectVersion"],
                &[format!("{bucket}/*")],
            ));
        }
        out
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(arn::bucket(&at.partition, name)),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(Some(arn::bucket_name_of(given).to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let name = req_str(desired, "name")?;
        let found = aws
            .s3
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(sdk("HeadBucket"))
            .or_gone()?;
        Ok(found.map(|_| name.to_string()))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let s3 = &aws.s3;
        // Every read at once, HeadBucket among them: one round trip. When the bucket is
        // gone, HeadBucket says so and the other answers are not looked at.
        let (found, encryption, pab, versioning, tagging, lifecycle) = tokio::join!(
            s3.head_bucket().bucket(id).send(),
            s3.get_bucket_encryption().bucket(id).send(),
            s3.get_public_access_block().bucket(id).send(),
            s3.get_bucket_versioning().bucket(id).send(),
            s3.get_bucket_tagging().bucket(id).send(),
            s3.get_bucket_lifecycle_configuration().bucket(id).send(),
        );
        if found.map_err(sdk("HeadBucket")).or_gone()?.is_none() {
            return Ok(None);
        }
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(id.into()));
        let partition = aws.partition().await?;
        attrs.insert("arn".into(), Value::Str(arn::bucket(partition, id)));
        attrs.insert(
            "domain_name".into(),
            Value::Str(arn::bucket_domain_name(partition, id)),
        );
        attrs.insert(
            "regional_domain_name".into(),
            Value::Str(arn::bucket_regional_domain_name(partition, &aws.region, id)),
        );
        attrs.insert("region".into(), Value::Str(aws.region.clone()));

        match encryption.map_err(sdk("GetBucketEncryption")) {
            Ok(out) => {
                let default = out
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default());
                if let Some(d) = default {
                    attrs.insert(
                        "sse_algorithm".into(),
                        Value::Str(d.sse_algorithm().as_str().into()),
                    );
                    if let Some(key) = d.kms_master_key_id() {
                        attrs.insert("kms_key_id".into(), Value::Str(key.into()));
                    }
                }
            }
            Err(e) if e.code_is(&["ServerSideEncryptionConfigurationNotFoundError"]) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
        match pab.map_err(sdk("GetPublicAccessBlock")) {
            Ok(out) => {
                if let Some(c) = out.public_access_block_configuration() {
                    let flags = [
                        ("block_public_acls", c.block_public_acls()),
                        ("ignore_public_acls", c.ignore_public_acls()),
                        ("block_public_policy", c.block_public_policy()),
                        ("restrict_public_buckets", c.restrict_public_buckets()),
                    ];
                    let map = flags
                        .iter()
                        .map(|(k, v)| (k.to_string(), Value::Bool(v.unwrap_or(false))))
                        .collect();
                    attrs.insert("public_access_block".into(), Value::Map(map));
                }
            }
            Err(e) if e.code_is(&["NoSuchPublicAccessBlockConfiguration"]) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
        let versioning = versioning.map_err(sdk("GetBucketVersioning"))?;
        let enabled = versioning.status() == Some(&BucketVersioningStatus::Enabled);
        attrs.insert("versioning".into(), Value::Bool(enabled));
        match tagging.map_err(sdk("GetBucketTagging")) {
            Ok(out) => {
                attrs.insert(
                    "tags".into(),
                    tags_value(out.tag_set().iter().map(|t| (t.key(), t.value()))),
                );
            }
            Err(e) if e.code_is(&["NoSuchTagSet"]) => {
                attrs.insert("tags".into(), Value::Map(IndexMap::new()));
            }
            Err(e) => return Err(e),
        }
        match lifecycle.map_err(sdk("GetBucketLifecycleConfiguration")) {
            Ok(out) => {
                let rules = out.rules().iter().map(read_rule).collect();
                attrs.insert("lifecycle_rules".into(), Value::List(rules));
            }
            Err(e) if e.code_is(&["NoSuchLifecycleConfiguration"]) => {
                attrs.insert("lifecycle_rules".into(), Value::List(Vec::new()));
            }
            Err(e) => return Err(e),
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // CreateBucket cannot tell us whether the bucket was there before: in us-east-1 it
        // answers 200 for a bucket the account already owns, elsewhere
        // BucketAlreadyOwnedByYou, which is also the answer to the SDK's own retry of a
        // create whose reply was lost. So existence is asked first. Between this HeadBucket
        // and the CreateBucket, only a caller with this account's credentials creating the
        // same name at the same moment could slip in (a bucket name is global, and another
        // account's create gets BucketAlreadyExists): that is two deploys of one stack from
        // two states racing, which no check here can order, and the window is one round
        // trip. So an "already owned" answer after a "no such bucket" is taken as our own
        // create, as us-east-1's 200 must be.
        let owner = aws.account_id().await?;
        let head = aws
            .s3
            .head_bucket()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send()
            .await
            .map_err(sdk("HeadBucket"));
        match head {
            Ok(_) => {
                return Err(not_ours(
                    &SCHEMA,
                    &format!("`{name}`"),
                    &format!("in account {owner}"),
                    name,
                ));
            }
            Err(e) if e.is_not_found() => {}
            // Someone else's bucket (or the expected owner does not match).
            Err(e) if e.status == Some(403) => return Err(taken(name)),
            Err(e) if e.status == Some(301) => {
                return Err(AwsError::new(
                    "CreateBucket",
                    format!(
                        "bucket `{name}` already exists in another region (S3 answered 301 PermanentRedirect); strata does not take over objects it did not create: choose another name"
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        // us-east-1 is the one region that takes no LocationConstraint.
        let configuration = (aws.region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build()
        });
        // A name whose bucket was deleted a moment ago (by the destroy before this apply)
        // answers OperationAborted for a while.
        let made = retry_send(
            Backoff::BUCKET_NAME_REUSE,
            |e| e.code_is(&["OperationAborted"]),
            "CreateBucket",
            || {
                aws.s3
                    .create_bucket()
                    .bucket(name)
                    .set_create_bucket_configuration(configuration.clone())
                    .send()
            },
        )
        .await;
        match made {
            Ok(_) => {}
            Err(e) if e.code_is(&["BucketAlreadyOwnedByYou"]) => {}
            Err(e) if e.code_is(&["BucketAlreadyExists"]) => return Err(taken(name)),
            Err(e) => return Err(e),
        }
        created(name);
        self.update(aws, name, &Attrs::new(), desired).await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let s3 = &aws.s3;
        let differs = |name: &str| changed(&SCHEMA, name, desired, live);
        if differs("sse_algorithm") || differs("kms_key_id") {
            // Left out of the stack, the algorithm stays what it is.
            let algorithm = opt_str(desired, "sse_algorithm")
                .or(opt_str(live, "sse_algorithm"))
                .unwrap_or("AES256");
            let algorithm = ServerSideEncryption::from(algorithm);
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(algorithm)
                .set_kms_master_key_id(opt_str(desired, "kms_key_id").map(str::to_string))
                .build()
                .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?;
            let config = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(default)
                        .build(),
                )
                .build()
                .map_err(|e| AwsError::new("PutBucketEncryption", e.to_string()))?;
            retry_send(Backoff::CONSISTENCY, not_yet, "PutBucketEncryption", || {
                s3.put_bucket_encryption()
                    .bucket(id)
                    .server_side_encryption_configuration(config.clone())
                    .send()
            })
            .await?;
        }
        if differs("public_access_block") {
            let flags = desired
                .get("public_access_block")
                .and_then(Value::as_map)
                .cloned()
                .unwrap_or_default();
            let flag = |k: &str| flags.get(k).and_then(Value::as_bool).unwrap_or(false);
            let config = PublicAccessBlockConfiguration::builder()
                .block_public_acls(flag("block_public_acls"))
                .ignore_public_acls(flag("ignore_public_acls"))
                .block_public_policy(flag("block_public_policy"))
                .restrict_public_buckets(flag("restrict_public_buckets"))
                .build();
            retry_send(
                Backoff::CONSISTENCY,
                not_yet,
                "PutPublicAccessBlock",
                || {
                    s3.put_public_access_block()
                        .bucket(id)
                        .public_access_block_configuration(config.clone())
                        .send()
                },
            )
            .await?;
        }
        if differs("versioning") {
            // A bucket that was never versioned stays unversioned: nothing to suspend.
            let enable = opt_bool(desired, "versioning").unwrap_or(false);
            if enable || live.contains_key("versioning") {
                let status = if enable {
                    BucketVersioningStatus::Enabled
                } else {
                    BucketVersioningStatus::Suspended
                };
                let config = VersioningConfiguration::builder().status(status).build();
                retry_send(Backoff::CONSISTENCY, not_yet, "PutBucketVersioning", || {
                    s3.put_bucket_versioning()
                        .bucket(id)
                        .versioning_configuration(config.clone())
                        .send()
                })
                .await?;
            }
        }
        if differs("lifecycle_rules") {
            let rules = desired
                .get("lifecycle_rules")
                .and_then(Value::as_list)
                .unwrap_or(&[]);
            if rules.is_empty() {
                s3.delete_bucket_lifecycle()
                    .bucket(id)
                    .send()
                    .await
                    .map_err(sdk("DeleteBucketLifecycle"))?;
            } else {
                let rules = rules
                    .iter()
                    .map(build_rule)
                    .collect::<Result<Vec<_>, _>>()?;
                let config = BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .map_err(|e| AwsError::new("PutBucketLifecycleConfiguration", e.to_string()))?;
                retry_send(
                    Backoff::CONSISTENCY,
                    not_yet,
                    "PutBucketLifecycleConfiguration",
                    || {
                        s3.put_bucket_lifecycle_configuration()
                            .bucket(id)
                            .lifecycle_configuration(config.clone())
                            .send()
                    },
                )
                .await?;
            }
        }
        if differs("tags") {
            let wanted = tags(desired);
            if wanted.is_empty() {
                s3.delete_bucket_tagging()
                    .bucket(id)
                    .send()
                    .await
                    .map_err(sdk("DeleteBucketTagging"))?;
            } else {
                let tag_set = wanted
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| AwsError::new("PutBucketTagging", e.to_string()))?;
                let tagging = Tagging::builder()
                    .set_tag_set(Some(tag_set))
                    .build()
                    .map_err(|e| AwsError::new("PutBucketTagging", e.to_string()))?;
                retry_send(Backoff::CONSISTENCY, not_yet, "PutBucketTagging", || {
                    s3.put_bucket_tagging()
                        .bucket(id)
                        .tagging(tagging.clone())
                        .send()
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError> {
        if !opt_bool(prior, "force_destroy").unwrap_or(false) {
            return delete_bucket(aws, id).await.map_err(|e| {
                if e.code_is(&["BucketNotEmpty"]) {
                    AwsError {
                        message: format!(
                            "bucket `{id}` is not empty; strata does not delete objects unless the stack sets `force_destroy = true` on it (apply that first), or empty the bucket yourself"
                        ),
                        ..e
                    }
                } else {
                    e
                }
            });
        }
        // An object can land between the last listing and DeleteBucket (a CloudTrail log
        // delivery, an upload): then the bucket is emptied again, until it is gone or the
        // deadline passes.
        let emptied = retry(
            Backoff::CONSISTENCY,
            |e| e.code_is(&["BucketNotEmpty"]),
            || async {
                empty_bucket(aws, id).await?;
                delete_bucket(aws, id).await
            },
        )
        .await;
        emptied.map_err(|e| {
            if e.code_is(&["BucketNotEmpty"]) {
                AwsError {
                    message: format!(
                        "bucket `{id}` (force_destroy) is still not empty after emptying it for {} s: objects keep arriving; stop what writes to it and destroy again",
                        Backoff::CONSISTENCY.budget.as_secs()
                    ),
                    ..e
                }
            } else {
                e
            }
        })
    }
}

/// DeleteBucket; a bucket already gone counts as deleted.
async fn delete_bucket(aws: &Clients, id: &str) -> Result<(), AwsError> {
    aws.s3
        .delete_bucket()
        .bucket(id)
        .send()
        .await
        .map_err(sdk("DeleteBucket"))
        .ok_if_gone()
}

/// Deletes every object version and delete marker, a thousand at a time. Each listing
/// starts from the beginning again: the page before it was deleted, so what is listed is
/// always what is left, until a listing is the last page (no markers to carry; objects
/// written meanwhile are found by the caller's next pass, when DeleteBucket says so).
async fn empty_bucket(aws: &Clients, bucket: &str) -> Result<(), AwsError> {
    loop {
        let page = match aws
            .s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
            .map_err(sdk("ListObjectVersions"))
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        let objects = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .set_key(key.map(str::to_string))
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        if objects.is_empty() {
            return Ok(());
        }
        delete_objects(aws, bucket, objects).await?;
        // The last page is deleted: the bucket was empty as of that listing. Anything
        // written since makes DeleteBucket answer BucketNotEmpty, and the caller empties
        // again; listing once more here would cost a round trip on every destroy.
        if !page.is_truncated().unwrap_or(false) {
            return Ok(());
        }
    }
}

/// Per-key error codes in a DeleteObjects answer that go away when the key is deleted again.
const KEY_RETRIED: &[&str] = &[
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
];

/// DeleteObjects of `objects`. Its answer is 200 even when some keys were not deleted: those
/// are listed in `Errors`, each with its code. The keys that failed with a code in
/// [`KEY_RETRIED`] are deleted again (and only those), until none fails or the deadline
/// passes; keys that fail otherwise, or keep failing, are reported with their codes.
async fn delete_objects(
    aws: &Clients,
    bucket: &str,
    objects: Vec<ObjectIdentifier>,
) -> Result<(), AwsError> {
    let pending = std::sync::Mutex::new(objects);
    retry(
        Backoff::CONSISTENCY,
        |e| e.code_is(KEY_RETRIED),
        || async {
            let batch = pending.lock().unwrap().clone();
            let delete = Delete::builder()
                .set_objects(Some(batch.clone()))
                .quiet(true)
                .build()
                .map_err(|e| AwsError::new("DeleteObjects", e.to_string()))?;
            let out = aws
                .s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(sdk("DeleteObjects"))?;
            match undeleted(bucket, &out) {
                None => Ok(()),
                Some(err) => {
                    *pending.lock().unwrap() = still_pending(batch, &out);
                    Err(err)
                }
            }
        },
    )
    .await
}

/// The objects of `batch` that DeleteObjects answered with a per-key error.
fn still_pending(batch: Vec<ObjectIdentifier>, out: &DeleteObjectsOutput) -> Vec<ObjectIdentifier> {
    batch
        .into_iter()
        .filter(|o| {
            out.errors()
                .iter()
                .any(|e| e.key() == Some(o.key()) && e.version_id() == o.version_id())
        })
        .collect()
}

/// The per-key errors of a DeleteObjects answer as one error naming every key with its code,
/// or `None` when every key was deleted. Its code is the first code that is not worth
/// deleting again (`AccessDenied`...), else the first code: retried only when every key
/// failed with a code in [`KEY_RETRIED`].
fn undeleted(bucket: &str, out: &DeleteObjectsOutput) -> Option<AwsError> {
    let errors = out.errors();
    let first = errors.first()?;
    let code = errors
        .iter()
        .filter_map(|e| e.code())
        .find(|c| !KEY_RETRIED.contains(c))
        .or(first.code())
        .unwrap_or("Unknown");
    let keys: Vec<String> = errors
        .iter()
        .map(|e| {
            let version = e
                .version_id()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            format!(
                "`{}`{version}: {} {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or("")
            )
            .trim_end()
            .to_string()
        })
        .collect();
    Some(AwsError {
        operation: "DeleteObjects",
        code: Some(code.to_string()),
        message: format!(
            "could not delete {} object(s) from `{bucket}`: {}",
            keys.len(),
            keys.join("; ")
        ),
        status: None,
        kind: ErrorKind::Service,
    })
}

fn read_rule(rule: &LifecycleRule) -> Value {
    let mut map = IndexMap::new();
    map.insert(
        "id".to_string(),
        Value::Str(rule.id().unwrap_or_default().to_string()),
    );
    if let Some(prefix) = rule
        .filter()
        .and_then(|f| f.prefix())
        .filter(|p| !p.is_empty())
    {
        map.insert("prefix".into(), Value::Str(prefix.into()));
    }
    map.insert(
        "enabled".into(),
        Value::Bool(*rule.status() == ExpirationStatus::Enabled),
    );
    if let Some(days) = rule.expiration().and_then(|e| e.days()) {
        map.insert("expiration_days".into(), Value::Int(days.into()));
    }
    if let Some(days) = rule
        .noncurrent_version_expiration()
        .and_then(|e| e.noncurrent_days())
    {
        map.insert(
            "noncurrent_version_expiration_days".into(),
            Value::Int(days.into()),
        );
    }
    if let Some(days) = rule
        .abort_incomplete_multipart_upload()
        .and_then(|a| a.days_after_initiation())
    {
        map.insert(
            "abort_incomplete_multipart_upload_days".into(),
            Value::Int(days.into()),
        );
    }
    Value::Map(map)
}

fn build_rule(rule: &Value) -> Result<LifecycleRule, AwsError> {
    let map = rule.as_map().cloned().unwrap_or_default();
    let int = |k: &str| map.get(k).and_then(Value::as_i64).map(|d| d as i32);
    let enabled = map.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let prefix = map.get("prefix").and_then(Value::as_str).unwrap_or("");
    LifecycleRule::builder()
        .set_id(map.get("id").and_then(Value::as_str).map(str::to_string))
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .status(if enabled {
            ExpirationStatus::Enabled
        } else {
            ExpirationStatus::Disabled
        })
        .set_expiration(
            int("expiration_days").map(|d| LifecycleExpiration::builder().days(d).build()),
        )
        .set_noncurrent_version_expiration(int("noncurrent_version_expiration_days").map(|d| {
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build()
        }))
        .set_abort_incomplete_multipart_upload(int("abort_incomplete_multipart_upload_days").map(
            |d| {
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(d)
                    .build()
            },
        ))
        .build()
        .map_err(|e| AwsError::new("PutBucketLifecycleConfiguration", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{DeleteObjectsOutput, ObjectIdentifier, still_pending, undeleted};
    use aws_sdk_s3::types::Error as KeyError;

    fn key_error(key: &str, version: Option<&str>, code: &str) -> KeyError {
        KeyError::builder()
            .key(key)
            .set_version_id(version.map(str::to_string))
            .code(code)
            .message(format!("{code} message"))
            .build()
    }

    fn object(key: &str, version: Option<&str>) -> ObjectIdentifier {
        ObjectIdentifier::builder()
            .key(key)
            .set_version_id(version.map(str::to_string))
            .build()
            .unwrap()
    }

    #[test]
    fn a_delete_objects_answer_without_errors_deleted_everything() {
        let out = DeleteObjectsOutput::builder().build();
        assert!(undeleted("b", &out).is_none());
        assert!(still_pending(vec![object("a", None)], &out).is_empty());
    }

    /// A 200 DeleteObjects answer with per-key SlowDown errors: only those keys (and
    /// versions) are deleted again, and the error is one strata retries.
    #[test]
    fn delete_objects_per_key_errors_are_retried_for_those_keys_only() {
        let out = DeleteObjectsOutput::builder()
            .errors(key_error("logs/1", Some("v1"), "SlowDown"))
            .errors(key_error("logs/2", None, "InternalError"))
            .build();
        let batch = vec![
            object("logs/1", Some("v1")),
            object("logs/1", Some("v2")),
            object("logs/2", None),
            object("logs/3", None),
        ];
        assert_eq!(
            still_pending(batch, &out),
            vec![object("logs/1", Some("v1")), object("logs/2", None)]
        );
        let err = undeleted("trail-logs", &out).unwrap();
        assert_eq!(err.code.as_deref(), Some("SlowDown"));
        assert!(err.code_is(super::KEY_RETRIED));
        assert_eq!(
            err.message,
            "could not delete 2 object(s) from `trail-logs`: `logs/1` (version v1): SlowDown SlowDown message; `logs/2`: InternalError InternalError message"
        );
    }

    /// A key that fails for a reason deleting again cannot fix is reported at once, with
    /// its code.
    #[test]
    fn delete_objects_access_denied_on_a_key_is_final() {
        let out = DeleteObjectsOutput::builder()
            .errors(key_error("a", None, "SlowDown"))
            .errors(key_error("locked", None, "AccessDenied"))
            .build();
        let err = undeleted("b", &out).unwrap();
        assert_eq!(err.code.as_deref(), Some("AccessDenied"));
        assert!(!err.code_is(super::KEY_RETRIED));
        assert!(
            err.message.contains("`locked`: AccessDenied"),
            "{}",
            err.message
        );
    }
}
