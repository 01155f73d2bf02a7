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

use super::support::{done_if_gone, json_of, parse_json, req_str};
use super::{Created, Resource};
use crate::aws::retry::{Backoff, retry};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct S3BucketPolicy;

#[async_trait]
impl Resource for S3BucketPolicy {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let mut attrs = Attrs::new();
        attrs.insert("bucket".into(), Value::Str(id.into()));
        match aws
            .s3
            .get_bucket_policy()
            .bucket(id)
            .send()
            .await
            .map_err(sdk("GetBucketPolicy"))
        {
            Ok(out) => {
                attrs.insert("policy".into(), parse_json(out.policy().unwrap_or("{}")));
                Ok(Some(attrs))
            }
            // The bucket is there but the policy was removed: the plan puts it back.
            Err(e) if e.code_is(&["NoSuchBucketPolicy"]) => Ok(Some(attrs)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let bucket = req_str(desired, "bucket")?;
        self.update(aws, bucket, &Attrs::new(), desired).await?;
        created(bucket);
        Ok(bucket.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        _live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let policy = json_of(desired, "policy")?;
        // A bucket created a moment ago may not be visible to the policy call yet.
        retry(
            Backoff::STANDARD,
            |e| e.code_is(&["NoSuchBucket"]),
            || {
                let request = aws.s3.put_bucket_policy().bucket(id).policy(&policy);
                async move { request.send().await.map_err(sdk("PutBucketPolicy")) }
            },
        )
        .await?;
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        done_if_gone(
            aws.s3
                .delete_bucket_policy()
                .bucket(id)
                .send()
                .await
                .map_err(sdk("DeleteBucketPolicy")),
        )
    }
}
