//! ARNs, endpoint host names and URLs that strata computes itself, built from the caller's
//! partition (`aws`, `aws-cn`, `aws-us-gov`, ...) and that partition's DNS suffix
//! ([`crate::aws::dns_suffix`]): never a literal `arn:aws:` or `amazonaws.com`.

use crate::aws::dns_suffix;

/// `arn:PARTITION:s3:::BUCKET`.
pub fn bucket(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// The bucket's global host name, `BUCKET.s3.SUFFIX`.
pub fn bucket_domain_name(partition: &str, bucket: &str) -> String {
    format!("{bucket}.s3.{}", dns_suffix(partition))
}

/// The bucket's regional host name, `BUCKET.s3.REGION.SUFFIX`.
pub fn bucket_regional_domain_name(partition: &str, region: &str, bucket: &str) -> String {
    format!("{bucket}.s3.{region}.{}", dns_suffix(partition))
}

/// The ARN API Gateway's tagging calls take for a REST API.
pub fn rest_api(partition: &str, region: &str, api_id: &str) -> String {
    format!("arn:{partition}:apigateway:{region}::/restapis/{api_id}")
}

/// The prefix of the ARNs of a REST API's methods (`lambda.permission` source ARNs).
pub fn execute_api(partition: &str, region: &str, account: &str, api_id: &str) -> String {
    format!("arn:{partition}:execute-api:{region}:{account}:{api_id}")
}

/// A stage's public invoke URL, `https://ID.execute-api.REGION.SUFFIX/STAGE`.
pub fn rest_api_url(partition: &str, region: &str, api_id: &str, stage: &str) -> String {
    format!(
        "https://{api_id}.execute-api.{region}.{}/{stage}",
        dns_suffix(partition)
    )
}

/// The URI an API Gateway `AWS_PROXY` integration invokes a Lambda function by.
pub fn lambda_invoke(partition: &str, region: &str, function_arn: &str) -> String {
    format!(
        "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNCTION_CN: &str = "arn:aws-cn:lambda:cn-north-1:123456789012:function:api";
    const FUNCTION_GOV: &str = "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:api";

    #[test]
    fn lambda_invoke_uri_per_partition() {
        assert_eq!(
            lambda_invoke(
                "aws",
                "us-east-1",
                "arn:aws:lambda:us-east-1:123456789012:function:api"
            ),
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:api/invocations"
        );
        assert_eq!(
            lambda_invoke("aws-cn", "cn-north-1", FUNCTION_CN),
            "arn:aws-cn:apigateway:cn-north-1:lambda:path/2015-03-31/functions/arn:aws-cn:lambda:cn-north-1:123456789012:function:api/invocations"
        );
        assert_eq!(
            lambda_invoke("aws-us-gov", "us-gov-west-1", FUNCTION_GOV),
            "arn:aws-us-gov:apigateway:us-gov-west-1:lambda:path/2015-03-31/functions/arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:api/invocations"
        );
    }

    #[test]
    fn rest_api_url_per_partition() {
        assert_eq!(
            rest_api_url("aws", "eu-west-1", "a1b2c3", "prod"),
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            rest_api_url("aws-cn", "cn-north-1", "a1b2c3", "prod"),
            "https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/prod"
        );
        assert_eq!(
            rest_api_url("aws-us-gov", "us-gov-west-1", "a1b2c3", "prod"),
            "https://a1b2c3.execute-api.us-gov-west-1.amazonaws.com/prod"
        );
    }

    #[test]
    fn rest_api_arns_per_partition() {
        assert_eq!(
            rest_api("aws-cn", "cn-north-1", "a1b2c3"),
            "arn:aws-cn:apigateway:cn-north-1::/restapis/a1b2c3"
        );
        assert_eq!(
            execute_api("aws-us-gov", "us-gov-east-1", "123456789012", "a1b2c3"),
            "arn:aws-us-gov:execute-api:us-gov-east-1:123456789012:a1b2c3"
        );
        assert_eq!(
            execute_api("aws", "us-east-1", "123456789012", "a1b2c3"),
            "arn:aws:execute-api:us-east-1:123456789012:a1b2c3"
        );
    }

    #[test]
    fn bucket_arn_and_host_names_per_partition() {
        assert_eq!(bucket("aws", "logs"), "arn:aws:s3:::logs");
        assert_eq!(bucket("aws-cn", "logs"), "arn:aws-cn:s3:::logs");
        assert_eq!(bucket("aws-us-gov", "logs"), "arn:aws-us-gov:s3:::logs");
        assert_eq!(bucket_domain_name("aws", "logs"), "logs.s3.amazonaws.com");
        assert_eq!(
            bucket_domain_name("aws-cn", "logs"),
            "logs.s3.amazonaws.com.cn"
        );
        assert_eq!(
            bucket_regional_domain_name("aws-cn", "cn-northwest-1", "logs"),
            "logs.s3.cn-northwest-1.amazonaws.com.cn"
        );
        assert_eq!(
            bucket_regional_domain_name("aws-us-gov", "us-gov-west-1", "logs"),
            "logs.s3.us-gov-west-1.amazonaws.com"
        );
    }
}
