//! `s3.bucket_policy`: the policy document of one bucket.

use crate::schema::rules::{BUCKET_POLICY, BUCKET_REFERENCE, known_str, statements, strings};
use crate::schema::{Identity, Problem, Schema, Type, attr};

/// What the reference page (docs/resources/s3.bucket_policy.md) says beyond the attribute table.
const NOTES: &str = "\
If the policy is removed outside strata, the next plan shows an
update that puts it back. Deleting this resource deletes the bucket policy.";

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_policy",
    description: "the policy of an S3 bucket",
    import_id: "the bucket name",
    notes: NOTES,
    attributes: &[
        attr("bucket", Type::String(BUCKET_REFERENCE))
            .required()
            .force_new(),
        attr("policy", Type::Policy(&BUCKET_POLICY)).required(),
    ],
    computed: &[],
    examples: &[],
    identity: Identity::of(&["bucket"]),
    check: Some(check_bucket_policy),
};

/// Actions on objects (`arn:...:s3:::BUCKET/KEY`), from the S3 actions of the Service
/// Authorization Reference whose resource type is `object`.
const OBJECT_ACTIONS: &[&str] = &[
    "abortmultipartupload",
    "bypassgovernanceretention",
    "deleteobject",
    "deleteobjecttagging",
    "deleteobjectversion",
    "deleteobjectversiontagging",
    "getobject",
    "getobjectacl",
    "getobjectattributes",
    "getobjectlegalhold",
    "getobjectretention",
    "getobjecttagging",
    "getobjecttorrent",
    "getobjectversion",
    "getobjectversionacl",
    "getobjectversionattributes",
    "getobjectversionforreplication",
    "getobjectversiontagging",
    "getobjectversiontorrent",
    "initiatereplication",
    "listmultipartuploadparts",
    "objectowneroverridetobucketowner",
    "putobject",
    "putobjectacl",
    "putobjectlegalhold",
    "putobjectretention",
    "putobjecttagging",
    "putobjectversionacl",
    "putobjectversiontagging",
    "replicatedelete",
    "replicateobject",
    "replicatetags",
    "restoreobject",
];

/// What an S3 action applies to, when its name says so for certain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Bucket,
    Object,
}

fn action_target(action: &str) -> Option<Target> {
    let name = action.to_ascii_lowercase();
    let name = name.strip_prefix("s3:")?;
    if name.contains(['*', '?']) {
        None
    } else if OBJECT_ACTIONS.contains(&name) {
        Some(Target::Object)
    } else if name.contains("bucket") || name.ends_with("configuration") {
        Some(Target::Bucket)
    } else {
        None
    }
}

/// The bucket an S3 ARN names and whether it names objects in it: `arn:P:s3:::B` is the
/// bucket, `arn:P:s3:::B/KEY` objects. `None` for anything else.
fn s3_arn(resource: &str) -> Option<(&str, Target)> {
    let rest = resource.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let path = rest.strip_prefix("s3:::")?;
    Some(match path.split_once('/') {
        Some((bucket, _)) => (bucket, Target::Object),
        None => (path, Target::Bucket),
    })
}

/// S3 accepts a bucket policy only when it is about that bucket: every resource is the
/// bucket or objects in it, and each statement's actions apply to its resources.
fn check_bucket_policy(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(policy) = attrs.get("policy") else {
        return out;
    };
    let bucket = known_str(attrs, "bucket");
    for (at, statement) in statements(policy, crate::schema::Path::attr("policy")) {
        let mut targets = Vec::new();
        for (at, resource) in strings(statement.get("Resource"), at.clone().key("Resource")) {
            match s3_arn(resource) {
                Some((name, target)) => {
                    targets.push(Some(target));
                    if let Some(bucket) = bucket
                        && name != bucket
                        && !name.contains(['*', '?'])
                    {
                        out.push(
                            Problem::new(
                                at,
                                format!("bucket policy of `{bucket}` names another bucket"),
                                format!("`{name}` is not `{bucket}`"),
                            )
                            .help(format!(
                                "a bucket policy is about its own bucket: `arn:aws:s3:::{bucket}` and `arn:aws:s3:::{bucket}/*`"
                            )),
                        );
                    }
                }
                None if resource.starts_with("arn:") => {
                    out.push(
                        Problem::new(
                            at,
                            "a bucket policy's resources are the bucket and its objects",
                            "not an S3 bucket or object ARN",
                        )
                        .help("write `arn:aws:s3:::BUCKET` or `arn:aws:s3:::BUCKET/KEY_PATTERN`"),
                    );
                    targets.push(None);
                }
                None => targets.push(None),
            }
        }
        let actions = strings(statement.get("Action"), at.clone().key("Action"));
        let acts_on: Vec<_> = actions.iter().map(|(_, a)| action_target(a)).collect();
        let only = |want: Target, of: &[Option<Target>]| {
            !of.is_empty() && of.iter().all(|t| *t == Some(want))
        };
        for (want, example) in [
            (Target::Object, "`arn:aws:s3:::BUCKET/*`"),
            (Target::Bucket, "`arn:aws:s3:::BUCKET`"),
        ] {
            let have = if want == Target::Object {
                Target::Bucket
            } else {
                Target::Object
            };
            if only(want, &acts_on) && only(have, &targets) {
                let (at, action) = &actions[0];
                out.push(
                    Problem::new(
                        at.clone(),
                        "the statement's actions apply to none of its resources",
                        format!(
                            "`{action}` acts on {}",
                            if want == Target::Object {
                                "objects"
                            } else {
                                "the bucket"
                            }
                        ),
                    )
                    .help(format!("add {example} to `Resource`")),
                );
            }
        }
    }
    out
}

use async_trait::async_trait;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::policy_document::PolicyCalls;
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::Attrs;

pub struct S3BucketPolicy;

/// A bucket created a moment ago may not be visible to the policy call yet, and an IAM
/// principal the policy names may not have propagated yet.
fn not_yet(e: &AwsError) -> bool {
    e.code_is(&["NoSuchBucket"])
        || (e.code_is(&["MalformedPolicy"]) && e.message_contains("Invalid principal"))
}

#[async_trait]
impl PolicyCalls for S3BucketPolicy {
    const SCHEMA: &'static Schema = &SCHEMA;
    const TARGET: &'static str = "bucket";

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_bucket = [super::arn::bucket(
            &at.partition,
            &name_or_any(desired, "bucket"),
        )];
        vec![
            allow(Step::Read, &["s3:GetBucketPolicy"], &on_bucket),
            allow(Step::Write, &["s3:PutBucketPolicy"], &on_bucket),
            allow(Step::Delete, &["s3:DeleteBucketPolicy"], &on_bucket),
        ]
    }

    async fn lookup(&self, _aws: &Clients, given: &str) -> Result<Option<String>, AwsError> {
        Ok(Some(super::arn::bucket_name_of(given).to_string()))
    }

    async fn get(&self, aws: &Clients, bucket: &str) -> Result<Option<String>, AwsError> {
        match aws
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .map_err(sdk("GetBucketPolicy"))
        {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            Err(e) if e.code_is(&["NoSuchBucketPolicy"]) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put(&self, aws: &Clients, bucket: &str, policy: &str) -> Result<(), AwsError> {
        retry_send(Backoff::CONSISTENCY, not_yet, "PutBucketPolicy", || {
            aws.s3
                .put_bucket_policy()
                .bucket(bucket)
                .policy(policy)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn remove(&self, aws: &Clients, bucket: &str) -> Result<(), AwsError> {
        aws.s3
            .delete_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .map_err(sdk("DeleteBucketPolicy"))?;
        Ok(())
    }
}
