//! ARNs, endpoint host names and URLs that strata computes itself, built from the caller's
//! partition (`aws`, `aws-cn`, `aws-us-gov`, ...) and that partition's DNS suffix
//! ([`crate::aws::dns_suffix`]): never a literal `arn:aws:` or `amazonaws.com`.

use super::iam::Place;
use crate::aws::dns_suffix;

/// `arn:PARTITION:s3:::BUCKET`.
pub fn bucket(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// `arn:PARTITION:s3:::BUCKET/*`: every object of the bucket.
pub fn bucket_objects(partition: &str, bucket: &str) -> String {
    format!("{}/*", self::bucket(partition, bucket))
}

/// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
pub fn queue(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:sqs:{region}:{account}:{name}")
}

/// `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
pub fn trail(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:cloudtrail:{region}:{account}:trail/{name}")
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`.
pub fn function(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`; `path` begins and ends with `/`.
pub fn role(partition: &str, account: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role{path}{name}")
}

/// An API Gateway resource, `arn:PARTITION:apigateway:REGION::PATH` (`/restapis/ID`,
/// `/tags/*`): what its IAM actions and tagging calls name.
pub fn apigateway(partition: &str, region: &str, path: &str) -> String {
    format!("arn:{partition}:apigateway:{region}::{path}")
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
    apigateway(partition, region, &format!("/restapis/{api_id}"))
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

/// A CloudWatch Logs log group, `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME`: the
/// form without DescribeLogGroups' trailing `:*`, which the tagging calls take and other
/// services (a subscription, a delivery) are given.
pub fn log_group(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:logs:{region}:{account}:log-group:{name}")
}

/// A DynamoDB table, `arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME`.
pub fn dynamodb_table(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:dynamodb:{region}:{account}:table/{name}")
}

/// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`: a path's leading `/` is the one
/// after `parameter`.
pub fn ssm_parameter(at: &Place, name: &str) -> String {
    let name = name.strip_prefix('/').unwrap_or(name);
    format!(
        "arn:{}:ssm:{}:{}:parameter/{name}",
        at.partition, at.region, at.account
    )
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID` (`*`: any key).
pub fn kms_key(at: &Place, key_id: &str) -> String {
    format!(
        "arn:{}:kms:{}:{}:key/{key_id}",
        at.partition, at.region, at.account
    )
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME` for an alias named `alias/NAME`.
pub fn kms_alias(at: &Place, alias: &str) -> String {
    format!(
        "arn:{}:kms:{}:{}:{alias}",
        at.partition, at.region, at.account
    )
}

/// What IAM matches the ARN of the secret `name` with: Secrets Manager appends `-` and six
/// random characters to the name, so the ARN itself is only known from AWS.
pub fn secret_pattern(at: &Place, name: &str) -> String {
    format!(
        "arn:{}:secretsmanager:{}:{}:secret:{name}-??????",
        at.partition, at.region, at.account
    )
}

/// What IAM evaluates a call naming the secret `name` against while no secret of that name
/// exists (the lookup before a create, the create itself): the name without the six
/// characters, which only a stored secret has. No stored secret's ARN matches it.
pub fn secret_by_name(at: &Place, name: &str) -> String {
    format!(
        "arn:{}:secretsmanager:{}:{}:secret:{name}",
        at.partition, at.region, at.account
    )
}

/// An EventBridge rule, `arn:PARTITION:events:REGION:ACCOUNT:rule/ID`: the id is `NAME` for a
/// rule on the default event bus and `BUS/NAME` for one on another bus.
pub fn events_rule(partition: &str, region: &str, account: &str, id: &str) -> String {
    format!("arn:{partition}:events:{region}:{account}:rule/{id}")
}

/// An EventBridge Scheduler schedule, `arn:PARTITION:scheduler:REGION:ACCOUNT:schedule/GROUP/NAME`.
pub fn schedule(partition: &str, region: &str, account: &str, group: &str, name: &str) -> String {
    format!("arn:{partition}:scheduler:{region}:{account}:schedule/{group}/{name}")
}

/// `arn:PARTITION:sns:REGION:ACCOUNT:TOPIC`: a topic's ARN follows from its name, which is
/// how `sns.topic` looks for an existing topic before CreateTopic (an upsert on the name).
pub fn sns_topic(partition: &str, region: &str, account: &str, topic: &str) -> String {
    format!("arn:{partition}:sns:{region}:{account}:{topic}")
}

/// The fields of an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (the resource
/// keeps its own colons), when `text` is one.
pub struct Parsed<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse(text: &str) -> Option<Parsed<'_>> {
    let mut parts = text.strip_prefix("arn:")?.splitn(5, ':');
    let _partition = parts.next()?;
    Some(Parsed {
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    })
}

/// A bucket named by its name, its ARN or an `s3://` URL, as its name.
pub fn bucket_name_of(given: &str) -> &str {
    match parse(given) {
        Some(arn) if arn.service == "s3" => arn.resource,
        _ => given
            .strip_prefix("s3://")
            .map_or(given, |rest| rest.trim_end_matches('/')),
    }
}

/// A function named by its name, its ARN or its partial ARN (`ACCOUNT:function:NAME`),
/// with or without a version or alias qualifier, as its name.
pub fn function_name_of(given: &str) -> &str {
    let rest = match parse(given) {
        Some(arn) => arn.resource,
        None => given,
    };
    let rest = match rest.split_once("function:") {
        Some((_, name)) => name,
        None => rest,
    };
    rest.split(':').next().unwrap_or(rest)
}

/// A role named by its name or its ARN (`arn:...:role/PATH/NAME`), as its name.
pub fn role_name_of(given: &str) -> &str {
    match parse(given) {
        Some(arn) if arn.service == "iam" => arn.resource.rsplit('/').next().unwrap_or(given),
        _ => given,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_out_of_arns_and_urls() {
        assert_eq!(bucket_name_of("arn:aws:s3:::logs-1"), "logs-1");
        assert_eq!(bucket_name_of("s3://logs-1/"), "logs-1");
        assert_eq!(bucket_name_of("logs-1"), "logs-1");
        for given in [
            "api",
            "arn:aws:lambda:us-east-1:123456789012:function:api",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:api:live",
            "123456789012:function:api",
            "api:3",
        ] {
            assert_eq!(function_name_of(given), "api", "{given}");
        }
        assert_eq!(
            role_name_of("arn:aws:iam::123456789012:role/ci/deploy"),
            "deploy"
        );
        assert_eq!(
            role_name_of("arn:aws:iam::123456789012:role/deploy"),
            "deploy"
        );
        assert_eq!(role_name_of("deploy"), "deploy");
        let arn = parse("arn:aws:sqs:eu-west-1:123456789012:jobs").unwrap();
        assert_eq!(
            (arn.service, arn.region, arn.account, arn.resource),
            ("sqs", "eu-west-1", "123456789012", "jobs")
        );
        assert!(parse("https://sqs.eu-west-1.amazonaws.com/1/jobs").is_none());
        assert_eq!(
            sns_topic("aws-cn", "cn-north-1", "123456789012", "alerts.fifo"),
            "arn:aws-cn:sns:cn-north-1:123456789012:alerts.fifo"
        );
    }

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
    fn log_group_and_table_arns_per_partition() {
        assert_eq!(
            log_group("aws", "eu-west-1", "123456789012", "/aws/lambda/api"),
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/api"
        );
        assert_eq!(
            dynamodb_table("aws-cn", "cn-north-1", "123456789012", "orders"),
            "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/orders"
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
