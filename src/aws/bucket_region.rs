//! S3's answer for a bucket in another region, made an error that names the bucket and
//! both regions (an interceptor on the S3 client).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// S3 answers a request for a bucket in another region with 301 PermanentRedirect, which
/// the SDK does not follow (awslabs/aws-sdk-rust#1052); to a HEAD without a body, so the
/// SDK sees an error without a code. This interceptor on the S3 client turns such an answer
/// into a `PermanentRedirect` error naming the bucket and both regions, from the
/// `x-amz-bucket-region` header.
#[derive(Debug)]
pub struct BucketRegion {
    /// The region the client works in.
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`) rather than `bucket.endpoint/key`.
    pub path_style: bool,
}

/// The bucket of the request in flight, kept from before it was sent.
#[derive(Clone, Debug)]
struct RequestedBucket(Option<String>);

impl Storable for RequestedBucket {
    type Storer = StoreReplace<Self>;
}

impl Intercept for BucketRegion {
    fn name(&self) -> &'static str {
        "BucketRegion"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bucket = bucket_of(context.request().uri(), self.path_style);
        cfg.interceptor_state().store_put(RequestedBucket(bucket));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().as_u16() != 301 {
            return Ok(());
        }
        let Some(bucket_region) = response.headers().get("x-amz-bucket-region") else {
            return Ok(());
        };
        let bucket = cfg.load::<RequestedBucket>().and_then(|b| b.0.clone());
        let message = wrong_region_message(bucket.as_deref(), bucket_region, &self.region);
        *response.body_mut() = SdkBody::from(format!(
            "<Error><Code>PermanentRedirect</Code><Message>{}</Message></Error>",
            xml_escape(&message)
        ));
        Ok(())
    }
}

/// "bucket NAME is in eu-west-1, not us-east-1 ...".
pub fn wrong_region_message(bucket: Option<&str>, bucket_region: &str, region: &str) -> String {
    let bucket = bucket.map_or("the bucket".to_string(), |b| format!("bucket {b}"));
    format!(
        "{bucket} is in {bucket_region}, not {region} (the region in use); S3 answers requests for it only in {bucket_region}: set AWS_REGION={bucket_region} or `[stack] region = \"{bucket_region}\"`, or use another bucket name"
    )
}

/// The bucket a request is for: the first path segment (path-style), or the host's labels
/// before `.s3.` / `.s3-` (virtual-hosted style).
fn bucket_of(uri: &str, path_style: bool) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let from_path = || {
        let segment = path.split(['/', '?']).next().unwrap_or("");
        (!segment.is_empty()).then(|| segment.to_string())
    };
    if path_style {
        return from_path();
    }
    let host = host.split(':').next().unwrap_or(host);
    match host.find(".s3.").or_else(|| host.find(".s3-")) {
        Some(end) => Some(host[..end].to_string()),
        None => from_path(),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_in_another_region_is_reported_with_its_region() {
        assert_eq!(
            wrong_region_message(Some("far-bucket"), "eu-west-1", "us-east-1"),
            "bucket far-bucket is in eu-west-1, not us-east-1 (the region in use); S3 answers \
             requests for it only in eu-west-1: set AWS_REGION=eu-west-1 or \
             `[stack] region = \"eu-west-1\"`, or use another bucket name"
        );
        assert!(
            wrong_region_message(None, "eu-west-1", "us-east-1")
                .starts_with("the bucket is in eu-west-1, not us-east-1")
        );
        for (uri, path_style, bucket) in [
            (
                "http://127.0.0.1:4566/far-bucket?location",
                true,
                Some("far-bucket"),
            ),
            (
                "http://127.0.0.1:4566/far-bucket/a/b.txt",
                true,
                Some("far-bucket"),
            ),
            ("http://127.0.0.1:4566/", true, None),
            (
                "https://far-bucket.s3.us-east-1.amazonaws.com/?versioning",
                false,
                Some("far-bucket"),
            ),
            (
                "https://my.dotted.bucket.s3.amazonaws.com/",
                false,
                Some("my.dotted.bucket"),
            ),
            (
                "https://s3.us-east-1.amazonaws.com/far-bucket",
                false,
                Some("far-bucket"),
            ),
        ] {
            assert_eq!(bucket_of(uri, path_style).as_deref(), bucket, "{uri}");
        }
    }
}
