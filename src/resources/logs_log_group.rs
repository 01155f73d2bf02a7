//! `logs.log_group`: a CloudWatch Logs log group, its retention, KMS key and tags.
//!
//! A Lambda function writes to `/aws/lambda/FUNCTION`, and Lambda creates that group on the
//! function's first invocation if it does not exist; nothing ever deletes it. Declared in the
//! function's stack, the group is strata's: destroy removes it. It must then exist before the
//! function is first invoked (the function names the group resource in its `depends_on`),
//! or Lambda's own group is there first and apply refuses to take it over.

use crate::schema::rules::TAGS;
use crate::schema::{Identity, Path, Problem, Schema, Text, Type, attr};

/// The retention periods CloudWatch Logs takes, in days (PutRetentionPolicy's enum).
pub const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// CreateLogGroup's rule: 1 to 512 of `a-z A-Z 0-9 _ - / . #`, not starting with `aws/`.
pub const LOG_GROUP_NAME: Text = Text::len(1, 512)
    .pattern(
        r"^[A-Za-z0-9_/.#-]+$",
        "letters, digits, `_`, `-`, `/`, `.` and `#`",
    )
    .check(not_aws_prefixed);

fn not_aws_prefixed(name: &str) -> Result<(), String> {
    if name.starts_with("aws/") {
        Err("log group names starting with `aws/` are reserved for AWS (a Lambda function's group is `/aws/lambda/NAME`, with a leading `/`)".into())
    } else {
        Ok(())
    }
}

/// The key CloudWatch Logs encrypts with: a KMS key's ARN (no alias, no bare key id).
pub const LOG_KMS_KEY: Text = Text::len(1, 256).pattern(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
    "a KMS key ARN, `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID` (CloudWatch Logs takes no alias or bare key id)",
);

pub const SCHEMA: Schema = Schema {
    type_name: "logs.log_group",
    description: "a CloudWatch Logs log group",
    import_id: "the log group name (or its ARN)",
    notes: "\
Left out, `retention_in_days` means the events never expire and `kms_key_id` means no key:
strata removes a retention policy or key the stack no longer names.

A Lambda function writes to `/aws/lambda/FUNCTION`, and Lambda creates that group on the
function's first invocation if it does not exist; nothing ever deletes it. Declare the
group in the function's stack so that destroy removes it, and list it in the function's
`depends_on`: it must exist before the first invocation, or Lambda's own group is there
first and apply refuses to take it over.",
    attributes: &[
        attr("name", Type::String(LOG_GROUP_NAME))
            .required()
            .force_new(),
        attr("retention_in_days", Type::Int { min: 1, max: 3653 }),
        attr("kms_key_id", Type::String(LOG_KMS_KEY)),
        attr("tags", TAGS),
    ],
    computed: &["arn"],
    examples: &[(
        "arn",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/function",
    )],
    identity: Identity::of(&["name"]),
    check: Some(check_log_group),
};

/// A retention period is one of AWS's values, not any number of days.
fn check_log_group(attrs: &Attrs) -> Vec<Problem> {
    let Some(days) = attrs.get("retention_in_days").and_then(Value::as_i64) else {
        return Vec::new();
    };
    if RETENTION_DAYS.contains(&days) {
        return Vec::new();
    }
    let nearest = RETENTION_DAYS
        .iter()
        .min_by_key(|d| (*d - days).abs())
        .copied()
        .unwrap_or(1);
    let allowed: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
    vec![
        Problem::new(
            Path::attr("retention_in_days"),
            format!("CloudWatch Logs has no retention period of {days} days"),
            format!("expected one of {}", allowed.join(", ")),
        )
        .help(format!(
            "the nearest is {nearest}; leave it out for logs that never expire"
        )),
    ]
}

use std::collections::HashMap;

use async_trait::async_trait;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, find_by_name, not_ours_here, omitted_means_none, opt_i64, opt_str,
    own_lost_create, req_str, sync_tags, tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct LogsLogGroup;

/// What DescribeLogGroups says of the group named exactly `name`, if there is one.
async fn describe(
    aws: &Clients,
    name: &str,
) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, AwsError> {
    // Groups come ASCII-sorted, and a name sorts before every other name it prefixes: the
    // group, if it exists, is on the first page.
    let out = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(sdk("DescribeLogGroups"))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .cloned())
}

/// The group's ARN without DescribeLogGroups' trailing `:*` (what the tagging calls take).
fn arn_of(group: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Option<String> {
    group
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_string()))
}

/// A group named by its name or either form of its ARN, as its name.
fn group_name_of(given: &str) -> &str {
    match arn::parse(given) {
        Some(parsed) if parsed.service == "logs" => {
            let resource = parsed.resource.trim_end_matches(":*");
            resource.strip_prefix("log-group:").unwrap_or(resource)
        }
        _ => given,
    }
}

fn group_arn(at: &Place, name: &str) -> String {
    arn::log_group(&at.partition, &at.region, &at.account, name)
}

/// The ARN the tagging calls take, from the account and region the clients are in.
async fn arn_for(aws: &Clients, name: &str) -> Result<String, AwsError> {
    let identity = aws.identity().await?;
    Ok(arn::log_group(
        &identity.partition,
        &aws.region,
        &identity.account_id,
        name,
    ))
}

#[async_trait]
impl Resource for LogsLogGroup {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let name = name_or_any(desired, "name");
        // IAM knows a group by both forms of its ARN (the tagging calls by the one without
        // `:*`, the others by the one with it).
        let arn = group_arn(at, &name);
        let on_group = [arn.clone(), format!("{arn}:*")];
        // DescribeLogGroups lists by prefix and names no group: granted on `*`, as AWS's own
        // managed policies grant it (the local emulator refuses a grant on `log-group:*`).
        let listing = ["*".to_string()];
        vec![
            allow(Step::Read, &["logs:DescribeLogGroups"], &listing),
            allow(Step::Read, &["logs:ListTagsForResource"], &on_group),
            allow(
                Step::Write,
                &[
                    "logs:CreateLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:AssociateKmsKey",
                    "logs:DisassociateKmsKey",
                    "logs:TagResource",
                    "logs:UntagResource",
                ],
                &on_group,
            ),
            allow(Step::Delete, &["logs:DeleteLogGroup"], &on_group),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(group_arn(at, name)),
            _ => Value::Unknown,
        }
    }

    /// Left out, retention and key are what AWS has without them (never expire, no key):
    /// removing them from the stack removes them from the group.
    fn prepare(&self, desired: &mut Attrs) {
        omitted_means_none(desired, &["retention_in_days", "kms_key_id"]);
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        find_by_name(self, aws, desired).await
    }

    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(Some(group_name_of(given).to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(group) = describe(aws, id).await? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(id.to_string()));
        if let Some(days) = group.retention_in_days() {
            attrs.insert("retention_in_days".into(), Value::Int(days.into()));
        }
        if let Some(key) = group.kms_key_id().filter(|k| !k.is_empty()) {
            attrs.insert("kms_key_id".into(), Value::Str(key.to_string()));
        }
        let arn = match arn_of(&group) {
            Some(arn) => arn,
            None => arn_for(aws, id).await?,
        };
        let Some(listed) = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(sdk("ListTagsForResource"))
            .or_gone()?
        else {
            return Ok(None);
        };
        let tag_map = listed.tags().cloned().unwrap_or_default();
        attrs.insert(
            "tags".into(),
            tags_value(tag_map.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        attrs.insert("arn".into(), Value::Str(arn));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // CreateLogGroup answers ResourceAlreadyExistsException for a name in use, and also
        // to the SDK's own retry of a create whose reply was lost. So existence is asked
        // first: a group there now is not ours (Lambda's own, made by an invocation before
        // this group was declared, among others). Between this look and the create, only
        // someone creating the same name at the same moment could slip in (two deploys of
        // one stack racing, or the function invoked in that instant: why the function waits
        // for its group), and the window is one round trip. So an "already exists" after a
        // "not there" is taken as our own create whose reply was lost.
        if describe(aws, name).await?.is_some() {
            return Err(not_ours_here(&SCHEMA, aws, name).await);
        }
        let tags: HashMap<String, String> = tags(desired).into_iter().collect();
        let made = aws
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(opt_str(desired, "kms_key_id").map(str::to_string))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(sdk("CreateLogGroup"));
        match made {
            Ok(_) => {}
            Err(e) if e.code_is(&["ResourceAlreadyExistsException"]) => {
                let what = format!("log group `{name}`");
                own_lost_create("CreateLogGroup", &what, || describe(aws, name)).await?;
            }
            Err(e) => return Err(e),
        }
        created(name);
        if let Some(days) = opt_i64(desired, "retention_in_days") {
            put_retention(aws, name, days).await?;
        }
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let logs = &aws.logs;
        if changed(&SCHEMA, "retention_in_days", desired, live) {
            match opt_i64(desired, "retention_in_days") {
                Some(days) => put_retention(aws, id, days).await?,
                None => {
                    logs.delete_retention_policy()
                        .log_group_name(id)
                        .send()
                        .await
                        .map_err(sdk("DeleteRetentionPolicy"))?;
                }
            }
        }
        if changed(&SCHEMA, "kms_key_id", desired, live) {
            match opt_str(desired, "kms_key_id") {
                Some(key) => {
                    logs.associate_kms_key()
                        .log_group_name(id)
                        .kms_key_id(key)
                        .send()
                        .await
                        .map_err(sdk("AssociateKmsKey"))?;
                }
                None => {
                    logs.disassociate_kms_key()
                        .log_group_name(id)
                        .send()
                        .await
                        .map_err(sdk("DisassociateKmsKey"))?;
                }
            }
        }
        let arn = match opt_str(live, "arn") {
            Some(arn) => arn.to_string(),
            None => arn_for(aws, id).await?,
        };
        let arn = arn.as_str();
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = logs
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |tags| async move {
                let tags = Some(tags.into_iter().collect());
                let request = logs.tag_resource().resource_arn(arn).set_tags(tags);
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.logs
            .delete_log_group()
            .log_group_name(id)
            .send()
            .await
            .map_err(sdk("DeleteLogGroup"))
            .ok_if_gone()
    }
}

async fn put_retention(aws: &Clients, name: &str, days: i64) -> Result<(), AwsError> {
    let days = i32::try_from(days)
        .map_err(|_| AwsError::new("PutRetentionPolicy", format!("{days} days is no period")))?;
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(sdk("PutRetentionPolicy"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::rules::known_str;

    fn with_retention(days: i64) -> Attrs {
        Attrs::from([("retention_in_days".to_string(), Value::Int(days))])
    }

    #[test]
    fn retention_is_one_of_aws_periods() {
        assert!(check_log_group(&with_retention(14)).is_empty());
        assert!(check_log_group(&with_retention(3653)).is_empty());
        let problems = check_log_group(&with_retention(10));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].at, Path::attr("retention_in_days"));
        assert_eq!(
            problems[0].help.as_deref(),
            Some("the nearest is 7; leave it out for logs that never expire")
        );
        assert!(check_log_group(&Attrs::new()).is_empty());
    }

    #[test]
    fn names_and_keys_follow_cloudwatch_logs_rules() {
        for good in ["/aws/lambda/api", "app#1.log_group-x", &"a".repeat(512)] {
            assert_eq!(LOG_GROUP_NAME.problem(good), None, "{good}");
        }
        for bad in ["", "has space", "a:b", "aws/mine", &"a".repeat(513)] {
            assert!(LOG_GROUP_NAME.problem(bad).is_some(), "{bad}");
        }
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(LOG_KMS_KEY.problem(key), None);
        assert!(LOG_KMS_KEY.problem("alias/logs").is_some());
        assert!(
            LOG_KMS_KEY
                .problem("1234abcd-12ab-34cd-56ef-1234567890ab")
                .is_some()
        );
    }

    #[test]
    fn the_name_is_read_out_of_either_arn_form() {
        for given in [
            "/aws/lambda/api",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/api",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/api:*",
        ] {
            assert_eq!(group_name_of(given), "/aws/lambda/api", "{given}");
        }
        assert_eq!(
            known_str(&LogsLogGroup.id_attributes("/a"), "name"),
            Some("/a")
        );
    }
}
