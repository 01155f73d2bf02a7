//! `events.rule`: a scheduled rule and an event-pattern rule, both targeting a queue, through
//! their whole life; an existing rule is refused; bad input fails in validate.

use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
use aws_sdk_eventbridge::types::Target;
use serde_json::json;

use super::rules_kit::{Lifecycle, assert_replaced_by};
use crate::common::{assert_exit, stderr, strata};

struct Rule<'a> {
    name: &'a str,
    description: &'a str,
    state: &'a str,
    targets: &'a str,
    tags: &'a str,
}

const TARGETS: &str = r#"[
  { id = "queue", arn = "${jobs.arn}", input = '{ "kind": "nightly", "at": 1 }' },
]"#;

fn stack(rule: &Rule) -> String {
    let Rule {
        name,
        description,
        state,
        targets,
        tags,
    } = rule;
    format!(
        r#"
[resources.jobs]
type = "sqs.queue"
name = "rule-jobs"

[resources.invoker]
type = "iam.role"
name = "events-invoke"
assume_role_policy = {{ service = "events.amazonaws.com" }}

[resources.nightly]
type = "events.rule"
name = "{name}"
schedule_expression = "rate(1 day)"
description = "{description}"
state = "{state}"
role_arn = "${{invoker.arn}}"
targets = {targets}
tags = {tags}

[resources.uploads]
type = "events.rule"
name = "uploads"
event_pattern = '''
{{ "source": ["aws.s3"],
   "detail": {{ "bucket": {{ "name": ["content"] }} }}, "detail-type": ["Object Created"] }}
'''
targets = [{{ id = "q", arn = "${{jobs.arn}}" }}]
"#
    )
}

async fn describe(aws: &strata::aws::Clients, name: &str) -> Option<DescribeRuleOutput> {
    match aws.events.describe_rule().name(name).send().await {
        Ok(rule) => Some(rule),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("DescribeRule {name}: {e:?}"),
    }
}

async fn targets(aws: &strata::aws::Clients, name: &str) -> Vec<Target> {
    let out = aws
        .events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .unwrap();
    let mut targets = out.targets().to_vec();
    targets.sort_by(|a, b| a.id().cmp(b.id()));
    targets
}

async fn tags(aws: &strata::aws::Clients, arn: &str) -> Vec<(String, String)> {
    let out = aws
        .events
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

fn json_of(text: Option<&str>) -> serde_json::Value {
    serde_json::from_str(text.expect("a JSON document")).unwrap()
}

/// (id, arn, input as JSON) of each target.
fn summary(targets: &[Target]) -> Vec<(String, String, Option<serde_json::Value>)> {
    targets
        .iter()
        .map(|t| {
            let input = t.input().map(|i| serde_json::from_str(i).unwrap());
            (t.id().to_string(), t.arn().to_string(), input)
        })
        .collect()
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[tokio::test]
async fn a_rule_with_targets_lives_and_dies_with_the_stack() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    let account = aws.account_id().await.unwrap().to_string();
    let role = format!("arn:aws:iam::{account}:role/events-invoke");
    let queue_arn = format!("arn:aws:sqs:us-east-1:{account}:rule-jobs");
    let mut rule = Rule {
        name: "nightly",
        description: "every night",
        state: "ENABLED",
        targets: TARGETS,
        tags: r#"{ team = "data" }"#,
    };
    t.write(&stack(&rule));
    t.apply();

    // Every declared attribute, as EventBridge describes it.
    let live = describe(aws, "nightly").await.expect("the rule exists");
    let rule_arn = format!("arn:aws:events:us-east-1:{account}:rule/nightly");
    assert_eq!(live.arn(), Some(rule_arn.as_str()));
    assert_eq!(live.event_bus_name(), Some("default"));
    assert_eq!(live.schedule_expression(), Some("rate(1 day)"));
    assert_eq!(live.description(), Some("every night"));
    assert_eq!(live.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(live.role_arn(), Some(role.as_str()));
    assert_eq!(live.event_pattern(), None);
    assert_eq!(
        summary(&targets(aws, "nightly").await),
        [(
            "queue".into(),
            queue_arn.clone(),
            Some(json!({"kind": "nightly", "at": 1}))
        )]
    );
    assert_eq!(tags(aws, &rule_arn).await, [pair("team", "data")]);
    let uploads = describe(aws, "uploads")
        .await
        .expect("the pattern rule exists");
    assert_eq!(
        json_of(uploads.event_pattern()),
        json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
               "detail": {"bucket": {"name": ["content"]}}})
    );
    assert_eq!(uploads.schedule_expression(), None);
    assert_eq!(
        summary(&targets(aws, "uploads").await),
        [("q".into(), queue_arn.clone(), None)]
    );
    assert_eq!(t.id("nightly"), "nightly");
    // The pattern and the input are compared by meaning, not as they are written.
    assert_eq!(t.changes(), vec![]);

    // In place: the rule, a target's input, a new target, tags.
    rule.description = "every night, quietly";
    rule.state = "DISABLED";
    rule.targets = r#"[
  { id = "second", arn = "${jobs.arn}", input = '{"kind":"second"}' },
  { id = "queue", arn = "${jobs.arn}", input = '{"kind":"nightly","at":2}' },
]"#;
    rule.tags = r#"{ team = "platform", tier = "1" }"#;
    t.write(&stack(&rule));
    let planned = t.planned("events.rule.nightly");
    assert_eq!(planned["action"], "update", "{planned}");
    t.apply();
    assert_eq!(t.id("nightly"), "nightly");
    let live = describe(aws, "nightly").await.unwrap();
    assert_eq!(live.description(), Some("every night, quietly"));
    assert_eq!(live.state().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(live.schedule_expression(), Some("rate(1 day)"));
    assert_eq!(live.role_arn(), Some(role.as_str()));
    assert_eq!(
        summary(&targets(aws, "nightly").await),
        [
            (
                "queue".into(),
                queue_arn.clone(),
                Some(json!({"kind": "nightly", "at": 2}))
            ),
            (
                "second".into(),
                queue_arn.clone(),
                Some(json!({"kind": "second"}))
            ),
        ]
    );
    assert_eq!(
        tags(aws, &rule_arn).await,
        [pair("team", "platform"), pair("tier", "1")]
    );
    assert_eq!(t.changes(), vec![]);

    // A target removed from the stack is removed from the rule.
    rule.targets = r#"[{ id = "second", arn = "${jobs.arn}", input = '{"kind":"second"}' }]"#;
    t.write(&stack(&rule));
    t.apply();
    let left: Vec<String> = targets(aws, "nightly")
        .await
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    assert_eq!(left, ["second"]);

    // Drift made outside strata shows in the plan, and apply puts it back.
    aws.events
        .enable_rule()
        .name("nightly")
        .send()
        .await
        .unwrap();
    aws.events
        .remove_targets()
        .rule("nightly")
        .ids("second")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "events.rule.nightly".to_string(),
            "update".to_string(),
            vec!["state".to_string(), "targets".to_string()]
        )]
    );
    t.apply();
    let live = describe(aws, "nightly").await.unwrap();
    assert_eq!(live.state().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(targets(aws, "nightly").await.len(), 1);
    assert_eq!(t.changes(), vec![]);

    // A new name replaces the rule, and the plan says which attribute forces it.
    rule.name = "nightly-v2";
    t.write(&stack(&rule));
    assert_replaced_by(&t.planned("events.rule.nightly"), "name");
    t.apply();
    assert!(describe(aws, "nightly").await.is_none());
    let renamed = describe(aws, "nightly-v2").await.expect("the new rule");
    assert_eq!(renamed.description(), Some("every night, quietly"));
    assert_eq!(targets(aws, "nightly-v2").await.len(), 1);

    // Import by ARN and by name reproduces the state: the plan is empty.
    let renamed_arn = renamed.arn().unwrap().to_string();
    let queue_url = t.id("jobs");
    t.import_reproduces_an_empty_plan(&[
        ("jobs", &queue_url),
        ("invoker", "events-invoke"),
        ("nightly", &renamed_arn),
        ("uploads", "uploads"),
    ]);
    assert_eq!(t.id("nightly"), "nightly-v2");

    t.policy_names(&[
        "events:DescribeRule",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:ListTargetsByRule",
        "events:DeleteRule",
        "events:TagResource",
        "events:ListTagsForResource",
        "iam:PassRole",
    ]);

    // Destroy leaves nothing.
    let out = t.run(&["destroy", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(describe(aws, "nightly-v2").await.is_none());
    assert!(describe(aws, "uploads").await.is_none());
    let rules = aws.events.list_rules().send().await.unwrap();
    assert_eq!(rules.rules().len(), 0, "{rules:?}");
}

#[tokio::test]
async fn an_existing_rule_is_not_taken_over() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    aws.events
        .put_rule()
        .name("outside")
        .schedule_expression("rate(5 minutes)")
        .description("not strata's")
        .send()
        .await
        .unwrap();
    t.write(
        r#"
[resources.outside]
type = "events.rule"
name = "outside"
schedule_expression = "rate(1 hour)"
description = "strata's"
"#,
    );
    t.apply_is_refused("events.rule", "`outside`", "outside");
    let live = describe(aws, "outside").await.unwrap();
    assert_eq!(live.description(), Some("not strata's"));
    assert_eq!(live.schedule_expression(), Some("rate(5 minutes)"));
}

/// Each mistake fails `strata validate` at its line, before any AWS call (no endpoint).
#[test]
fn bad_rules_fail_in_validate() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[stack]
name = "t"

[resources.a]
type = "events.rule"
name = "has space"
schedule_expression = "rate(1 minutes)"

[resources.b]
type = "events.rule"
name = "b"
schedule_expression = "rate(5 minutes)"
event_pattern = '{"source": ["aws.s3"]}'

[resources.c]
type = "events.rule"
name = "c"
event_pattern = '{"source": '
event_bus_name = "orders"
targets = [{ id = "t", arn = "arn:aws:sqs:us-east-1:123456789012:q" }, { id = "t", arn = "not-an-arn" }]
target = "x"

[resources.d]
type = "events.rule"
name = "d"
schedule_expression = "cron(0 12 * * ?)"
state = "ON"

[resources.e]
type = "events.rule"
name = "e"
event_bus_name = "orders"
schedule_expression = "rate(5 minutes)"

[resources.f]
type = "events.rule"
name = "f"
event_pattern = '{"source": ["aws.s3"]}'
targets = [
  { id = "t", arn = "arn:aws:sqs:us-east-1:123456789012:q" },
  { id = "t", arn = "arn:aws:sqs:us-east-1:123456789012:r" },
]
"#;
    std::fs::write(dir.path().join("stack.toml"), text).unwrap();
    let out = strata(dir.path(), &["validate", "stack.toml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for expected in [
        "stack.toml:6:8",   // name
        "stack.toml:7:23",  // rate(1 minutes)
        "stack.toml:13:17", // both a schedule and a pattern
        "stack.toml:18:17", // not JSON
        "stack.toml:20:90", // a target's arn
        "stack.toml:21:1",  // unknown attribute
        "stack.toml:26:23", // cron with 5 fields
        "stack.toml:27:9",  // state
        "stack.toml:33:23", // a schedule on a custom bus
        "stack.toml:41:",   // duplicate target id
        "write `rate(1 minute)`",
        "a rule has a schedule or an event pattern, not both",
        "duplicate id `t` in `targets`",
        "scheduled rules run only on the default event bus",
        "5 fields: a cron expression has 6",
        "unknown attribute `target`",
    ] {
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    }
}
