//! `s3.bucket_policy`: the policy document of one bucket.

use crate::schema::{Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_policy",
    description: "the policy of an S3 bucket",
    attributes: &[
        attr("bucket", Type::String(None)).required().force_new(),
        attr("policy", Type::Policy).required(),
    ],
    computed: &[],
};

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
