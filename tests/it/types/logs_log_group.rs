//! `logs.log_group` on the emulator.

use std::collections::HashMap;

use super::{Lifecycle, actions, assert_invalid, generated_policy_suffices};

const ADDRESS: &str = "logs.log_group.fn_logs";

fn group(name: &str, extra: &str) -> String {
    format!(
        r#"
[resources.fn_logs]
type = "logs.log_group"
name = "{name}"
{extra}
"#
    )
}

/// What DescribeLogGroups and ListTagsForResource say of the group `name`: its retention,
/// key and tags; `None` when there is no such group.
async fn live_group(
    aws: &strata::aws::Clients,
    name: &str,
) -> Option<(Option<i32>, Option<String>, HashMap<String, String>)> {
    let out = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .unwrap();
    let group = out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))?
        .clone();
    let arn = format!("arn:aws:logs:us-east-1:000000000000:log-group:{name}");
    let tags = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    Some((
        group.retention_in_days(),
        group.kms_key_id().map(str::to_string),
        tags,
    ))
}

fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_group_through_its_whole_lifecycle() {
    let life = Lifecycle::start().await;
    let aws = &life.aws;
    let key = aws
        .kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let name = "/aws/lambda/types-fn";
    let declared = |extra: &str| {
        group(
            name,
            &format!("kms_key_id = \"{key}\"\ntags = {{ team = \"data\" }}\n{extra}"),
        )
    };

    // Apply: every declared attribute, read back.
    life.write(&declared("retention_in_days = 14"));
    life.apply();
    assert_eq!(life.id("fn_logs"), name);
    assert_eq!(
        live_group(aws, name).await,
        Some((Some(14), Some(key.clone()), tags(&[("team", "data")])))
    );
    life.assert_no_changes();

    // In place: retention and tags change, the group stays.
    life.write(&group(
        name,
        &format!("kms_key_id = \"{key}\"\nretention_in_days = 30\ntags = {{ team = \"ops\", tier = \"1\" }}"),
    ));
    life.assert_plans(
        ADDRESS,
        "update",
        &["retention_in_days", "tags.team", "tags.tier"],
    );
    life.apply();
    assert_eq!(
        live_group(aws, name).await,
        Some((
            Some(30),
            Some(key.clone()),
            tags(&[("team", "ops"), ("tier", "1")])
        ))
    );
    assert_eq!(life.id("fn_logs"), name);

    // Retention left out: the logs never expire again.
    life.write(&declared(""));
    life.assert_plans(
        ADDRESS,
        "update",
        &["retention_in_days", "tags.team", "tags.tier"],
    );
    life.apply();
    assert_eq!(
        live_group(aws, name).await,
        Some((None, Some(key.clone()), tags(&[("team", "data")])))
    );
    life.assert_no_changes();

    // Drift made outside strata shows in the plan.
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(60)
        .send()
        .await
        .unwrap();
    life.assert_plans(ADDRESS, "update", &["retention_in_days"]);
    life.apply();
    assert_eq!(live_group(aws, name).await.unwrap().0, None);

    // Import by either form of the ARN, or the name: the same id, and no change.
    for given in [
        format!("arn:aws:logs:us-east-1:000000000000:log-group:{name}:*"),
        format!("arn:aws:logs:us-east-1:000000000000:log-group:{name}"),
        name.to_string(),
    ] {
        life.reimport("fn_logs", &given, name);
    }

    // A new name replaces the group, and the plan says why.
    let renamed = "/aws/lambda/types-fn-2";
    life.write(&group(
        renamed,
        &format!("kms_key_id = \"{key}\"\ntags = {{ team = \"data\" }}"),
    ));
    life.assert_replaces(ADDRESS, &["name"]);
    life.apply();
    assert_eq!(live_group(aws, name).await, None);
    assert!(live_group(aws, renamed).await.is_some());
    assert_eq!(life.id("fn_logs"), renamed);

    // Destroy leaves nothing.
    life.destroy();
    assert_eq!(live_group(aws, renamed).await, None);

    // A group that exists outside the state (Lambda's own, say) is refused, and untouched.
    aws.logs
        .create_log_group()
        .log_group_name(name)
        .send()
        .await
        .unwrap();
    life.write(&group(
        name,
        "retention_in_days = 1\ntags = { team = \"data\" }",
    ));
    life.assert_takeover_refused("logs.log_group", &format!("`{name}`"), name);
    assert_eq!(
        live_group(aws, name).await,
        Some((None, None, HashMap::new()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_covers_a_log_group() {
    let resources = group(
        "/aws/lambda/types-fn",
        "retention_in_days = 7\ntags = { team = \"data\" }",
    );
    let life = Lifecycle::start().await;
    life.write(&resources);
    let granted = actions(&life.policy());
    for action in [
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DescribeLogGroups",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
        "logs:ListTagsForResource",
        "logs:TagResource",
        "logs:UntagResource",
    ] {
        assert!(granted.iter().any(|a| a == action), "{action}: {granted:?}");
    }
    generated_policy_suffices(&resources, &[]).await;
}

#[test]
fn bad_log_groups_are_refused_before_any_aws_call() {
    // The header is two lines; the resource's `name` is on line 6.
    assert_invalid(
        &group("my logs", ""),
        6,
        "expected letters, digits, `_`, `-`, `/`, `.` and `#`",
    );
    assert_invalid(&group("aws/mine", ""), 6, "reserved for AWS");
    assert_invalid(
        &group(&"g".repeat(513), ""),
        6,
        "expected 1 to 512 characters",
    );
    assert_invalid(
        &group("/app", "retention_in_days = 10"),
        7,
        "CloudWatch Logs has no retention period of 10 days",
    );
    assert_invalid(
        &group("/app", "kms_key_id = \"alias/logs\""),
        7,
        "a KMS key ARN",
    );
    assert_invalid(
        &group("/app", "retention = 7"),
        7,
        "unknown attribute `retention`",
    );
}
