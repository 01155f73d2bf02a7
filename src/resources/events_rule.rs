//! `events.rule`: an EventBridge rule on an event bus (a schedule or an event pattern), its
//! targets and tags.
//!
//! The id is the rule ARN's resource part, as the Terraform provider records it: `NAME` for
//! a rule on the default event bus, `BUS/NAME` on any other bus (bus names may hold `/`,
//! rule names never do, so the id splits at its last `/`). Import takes either form or the
//! rule's ARN.
//!
//! PutRule is an upsert: create looks first (DescribeRule) and refuses a rule that exists.
//! Targets are managed with PutTargets and RemoveTargets: a target the stack no longer
//! lists is removed, and the fields of a target the stack does not manage (a dead-letter
//! queue, a retry policy) are kept when strata rewrites it. Event patterns and target
//! inputs are JSON compared by meaning: both the stack's and AWS's are written canonically
//! (keys sorted, no white space) before they are compared.

use crate::schema::rules::{ROLE_ARN, TAGS, duplicates, items, known_str};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// Rule names and target ids: 1-64 letters, digits, `.`, `-` and `_`.
const RULE_NAME: Text =
    Text::len(1, 64).pattern(r"^[A-Za-z0-9._-]+$", "letters, digits, `.`, `-` and `_`");

/// Event bus names (a partner bus's name holds `/`).
const BUS_NAME: Text = Text::len(1, 256).pattern(
    r"^[A-Za-z0-9._/-]+$",
    "an event bus name: letters, digits, `.`, `-`, `_` and `/` (not its ARN)",
);

/// `rate(VALUE UNIT)` or `cron(FIELDS)`, as EventBridge rules take them.
const RULE_SCHEDULE: Text = Text::len(1, 256)
    .pattern(
        r"^(rate|cron)\(.*\)$",
        "`rate(VALUE UNIT)` or `cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)`",
    )
    .check(rate_or_cron);

/// A target's ARN.
const TARGET_ARN: Text = Text::len(1, 1600).pattern(
    r"^arn:aws[a-z-]*:[a-z0-9-]+:\S*$",
    "an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`",
);

pub const TARGET: &[Attribute] = &[
    attr("id", Type::String(RULE_NAME)).required(),
    attr("arn", Type::String(TARGET_ARN)).required(),
    attr("role_arn", Type::String(ROLE_ARN)),
    attr("input", Type::String(Text::len(1, 8192).check(json_text))),
];

pub const SCHEMA: Schema = Schema {
    type_name: "events.rule",
    description: "an EventBridge rule (a schedule or an event pattern) and its targets",
    import_id: "the rule's name on the default event bus, `BUS/NAME` on another bus, or the rule's ARN",
    notes: "\
A rule runs on a schedule (`schedule_expression`) or on matching events (`event_pattern`),
not both. Its targets are managed with it: a target removed from the stack is removed from
the rule, and fields strata does not manage on a target (a dead-letter queue, a retry
policy) are kept. Event patterns and target inputs are compared by meaning (sorted,
compact JSON). PutRule replaces the whole rule, so an attribute the stack leaves out is
sent back as it is live. The event bus must exist already.",
    attributes: &[
        attr("name", Type::String(RULE_NAME)).required().force_new(),
        attr("event_bus_name", Type::String(BUS_NAME))
            .force_new()
            .default(Default::Str("default")),
        attr("schedule_expression", Type::String(RULE_SCHEDULE)),
        attr(
            "event_pattern",
            Type::String(Text::len(1, 4096).check(json_object)),
        ),
        attr("description", Type::String(Text::len(0, 512))),
        attr(
            "state",
            Type::Enum(&[
                "ENABLED",
                "DISABLED",
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            ]),
        )
        .default(Default::Str("ENABLED")),
        attr("role_arn", Type::String(ROLE_ARN)),
        // A rule has at most 5 targets (a quota AWS does not raise).
        attr(
            "targets",
            Type::List {
                item: &Type::Object(TARGET),
                min: 0,
                max: 5,
                unique: false,
            },
        ),
        attr("tags", TAGS),
    ],
    computed: &["arn"],
    examples: &[("arn", "arn:aws:events:us-east-1:123456789012:rule/nightly")],
    identity: Identity::of(&["event_bus_name", "name"]),
    check: Some(check_rule),
};

/// What a `rate(...)` or `cron(...)` expression must be beyond its pattern: a rate is a
/// positive whole number and `minute`, `hour` or `day` (singular for 1, plural otherwise);
/// a cron expression has six fields. Scheduler's `rate` and `cron` are the same.
pub fn rate_or_cron(expression: &str) -> Result<(), String> {
    if let Some(rate) = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let mut parts = rate.split(' ');
        let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("a rate is `rate(VALUE UNIT)`, such as `rate(5 minutes)`".into());
        };
        let value: u64 = match value.parse() {
            Ok(v) if v > 0 => v,
            _ => return Err(format!("`{value}` is not a positive whole number")),
        };
        let singular = unit.strip_suffix('s').unwrap_or(unit);
        if !["minute", "hour", "day"].contains(&singular) {
            return Err(format!(
                "`{unit}` is not a unit: expected minutes, hours or days"
            ));
        }
        if (value == 1) != (singular == unit) {
            let want = if value == 1 {
                singular.to_string()
            } else {
                format!("{singular}s")
            };
            return Err(format!("write `rate({value} {want})`"));
        }
        return Ok(());
    }
    if let Some(cron) = expression
        .strip_prefix("cron(")
        .and_then(|c| c.strip_suffix(')'))
    {
        let fields = cron.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "{fields} fields: a cron expression has 6 (minutes hours day-of-month month day-of-week year)"
            ));
        }
    }
    Ok(())
}

/// Any JSON text.
fn json_text(text: &str) -> Result<(), String> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(drop)
        .map_err(|e| format!("not JSON: {e}"))
}

/// A JSON object (an event pattern).
fn json_object(text: &str) -> Result<(), String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("an event pattern is a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The rules EventBridge applies across a rule's attributes.
fn check_rule(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let schedule = attrs.contains_key("schedule_expression");
    match (schedule, attrs.contains_key("event_pattern")) {
        (true, true) => out.push(
            Problem::new(
                Path::attr("event_pattern"),
                "a rule has a schedule or an event pattern, not both",
                "`schedule_expression` is set too",
            )
            .help("make two rules, one for each"),
        ),
        (false, false) => out.push(
            Problem::new(
                Path::attr("name"),
                "a rule needs a `schedule_expression` or an `event_pattern`",
                "neither is set",
            )
            .help("add `schedule_expression = \"rate(5 minutes)\"` or an `event_pattern`"),
        ),
        _ => {}
    }
    if schedule
        && let Some(bus) = known_str(attrs, "event_bus_name")
        && bus != "default"
    {
        out.push(
            Problem::new(
                Path::attr("schedule_expression"),
                format!("scheduled rules run only on the default event bus, not on `{bus}`"),
                "a schedule on a custom bus",
            )
            .help("remove `event_bus_name`, or use an `event_pattern` (or a `scheduler.schedule`)"),
        );
    }
    out.extend(duplicates(
        "targets",
        items(attrs, "targets"),
        "id",
        str::to_string,
    ));
    out
}

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, opt_str, req_str, sync_tags, tags, tags_value};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::schema::same;
use crate::value::{Attrs, Value};

pub struct EventsRule;

/// A rule's id on `bus` ([`split_id`] undoes it).
fn rule_id(bus: &str, name: &str) -> String {
    if bus == "default" {
        name.to_string()
    } else {
        format!("{bus}/{name}")
    }
}

/// (bus, name) of a rule id.
fn split_id(id: &str) -> (&str, &str) {
    id.rsplit_once('/').unwrap_or(("default", id))
}

fn desired_id(desired: &Attrs) -> Result<String, AwsError> {
    let bus = opt_str(desired, "event_bus_name").unwrap_or("default");
    Ok(rule_id(bus, req_str(desired, "name")?))
}

/// `text` as canonical JSON (object keys sorted, compact), so that two documents that mean
/// the same are the same string; `None` when it is not JSON.
pub fn canonical_json(text: &str) -> Option<String> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    serde_json::from_str(text)
        .ok()
        .map(|json| sorted(json).to_string())
}

/// A JSON attribute written canonically, when it is known JSON.
fn canonical_in(map: &mut IndexMap<String, Value>, key: &str) {
    if let Some(Value::Str(text)) = map.get(key)
        && let Some(canonical) = canonical_json(text)
    {
        map.insert(key.to_string(), Value::Str(canonical));
    }
}

/// Targets in the order read returns them: by id (a rule's targets are a set).
fn sort_targets(targets: &mut [Value]) {
    targets.sort_by(|a, b| {
        let id = |t: &Value| t.get("id").and_then(Value::as_str).map(str::to_string);
        id(a).cmp(&id(b))
    });
}

/// The targets of the rule `(bus, name)`, every page; `None` when the rule is gone.
async fn live_targets(
    aws: &Clients,
    bus: &str,
    name: &str,
) -> Result<Option<Vec<Target>>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .events
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .set_next_token(token)
            .send()
            .await
            .map_err(sdk("ListTargetsByRule"))
            .or_gone()?;
        let Some(page) = page else {
            return Ok(None);
        };
        out.extend(page.targets().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(out));
        }
    }
}

fn target_value(t: &Target) -> Value {
    let mut map = IndexMap::new();
    map.insert("id".to_string(), Value::Str(t.id().to_string()));
    map.insert("arn".to_string(), Value::Str(t.arn().to_string()));
    if let Some(role) = t.role_arn() {
        map.insert("role_arn".to_string(), Value::Str(role.to_string()));
    }
    if let Some(input) = t.input() {
        map.insert("input".to_string(), Value::Str(input.to_string()));
        canonical_in(&mut map, "input");
    }
    Value::Map(map)
}

/// PutTargets and RemoveTargets answer 200 with the entries they could not carry out.
fn failed_entries(
    operation: &'static str,
    failed: Vec<(Option<String>, Option<String>, Option<String>)>,
) -> Result<(), AwsError> {
    if failed.is_empty() {
        return Ok(());
    }
    let entries: Vec<String> = failed
        .into_iter()
        .map(|(id, code, message)| {
            format!(
                "target `{}`: {} {}",
                id.unwrap_or_default(),
                code.unwrap_or_default(),
                message.unwrap_or_default()
            )
        })
        .collect();
    Err(AwsError::new(operation, entries.join("; ")))
}

async fn put_targets(
    aws: &Clients,
    bus: &str,
    name: &str,
    targets: Vec<Target>,
) -> Result<(), AwsError> {
    // PutTargets takes at most 10 targets a call.
    for chunk in targets.chunks(10) {
        let out = aws
            .events
            .put_targets()
            .rule(name)
            .event_bus_name(bus)
            .set_targets(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(sdk("PutTargets"))?;
        let failed = out.failed_entries().iter().map(|e| {
            let text = |s: Option<&str>| s.map(str::to_string);
            (
                text(e.target_id()),
                text(e.error_code()),
                text(e.error_message()),
            )
        });
        failed_entries("PutTargets", failed.collect())?;
    }
    Ok(())
}

async fn remove_targets(
    aws: &Clients,
    bus: &str,
    name: &str,
    ids: Vec<String>,
) -> Result<(), AwsError> {
    // RemoveTargets takes at most 100 ids a call.
    for chunk in ids.chunks(100) {
        let out = aws
            .events
            .remove_targets()
            .rule(name)
            .event_bus_name(bus)
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(sdk("RemoveTargets"));
        let Some(out) = out.or_gone()? else {
            return Ok(());
        };
        let failed = out.failed_entries().iter().map(|e| {
            let text = |s: Option<&str>| s.map(str::to_string);
            (
                text(e.target_id()),
                text(e.error_code()),
                text(e.error_message()),
            )
        });
        failed_entries("RemoveTargets", failed.collect())?;
    }
    Ok(())
}

/// The stack's target `want` as PutTargets takes it, on top of the live target of its id
/// (`base`) so that what the stack does not manage is kept.
fn target_request(want: &Value, base: Option<&Target>) -> Result<Target, AwsError> {
    let text = |key: &str| want.get(key).and_then(Value::as_str).map(str::to_string);
    let id = text("id").ok_or_else(|| AwsError::new("prepare", "a target has no known `id`"))?;
    let arn = text("arn")
        .ok_or_else(|| AwsError::new("prepare", format!("target `{id}` has no known `arn`")))?;
    let mut target = match base {
        Some(live) => live.clone(),
        None => Target::builder()
            .id(&id)
            .arn(&arn)
            .build()
            .map_err(|e| AwsError::new("PutTargets", e.to_string()))?,
    };
    target.arn = arn;
    if let Some(role) = text("role_arn") {
        target.role_arn = Some(role);
    }
    if let Some(input) = text("input") {
        target.input = Some(input);
    }
    Ok(target)
}

/// Sends PutRule with the rule's whole definition: PutRule replaces the rule, so what the
/// stack leaves out (a description, a role) is sent as it is live.
async fn put_rule(
    aws: &Clients,
    desired: &Attrs,
    live: &Attrs,
    tags: Option<Vec<Tag>>,
) -> Result<(), AwsError> {
    let kept = |key: &str| opt_str(desired, key).or_else(|| opt_str(live, key));
    let bus = opt_str(desired, "event_bus_name").unwrap_or("default");
    aws.events
        .put_rule()
        .name(req_str(desired, "name")?)
        .event_bus_name(bus)
        .set_schedule_expression(opt_str(desired, "schedule_expression").map(str::to_string))
        .set_event_pattern(opt_str(desired, "event_pattern").map(str::to_string))
        .set_description(kept("description").map(str::to_string))
        .set_role_arn(kept("role_arn").map(str::to_string))
        .set_state(opt_str(desired, "state").map(RuleState::from))
        .set_tags(tags)
        .send()
        .await
        .map_err(sdk("PutRule"))?;
    Ok(())
}

fn rule_arn(at: &Place, id: &str) -> String {
    arn::events_rule(&at.partition, &at.region, &at.account, id)
}

#[async_trait]
impl Resource for EventsRule {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let bus = name_or_any(desired, "event_bus_name");
        let on_rule = [rule_arn(at, &rule_id(&bus, &name_or_any(desired, "name")))];
        let mut out = vec![
            allow(
                Step::Read,
                &[
                    "events:DescribeRule",
                    "events:ListTargetsByRule",
                    "events:ListTagsForResource",
                ],
                &on_rule,
            ),
            allow(
                Step::Write,
                &[
                    "events:DescribeRule",
                    "events:PutRule",
                    "events:ListTargetsByRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:TagResource",
                    "events:UntagResource",
                ],
                &on_rule,
            ),
            allow(
                Step::Delete,
                &[
                    "events:ListTargetsByRule",
                    "events:RemoveTargets",
                    "events:DeleteRule",
                ],
                &on_rule,
            ),
        ];
        // The rule's role and its targets' roles are handed to EventBridge.
        let mut roles: Vec<String> = opt_str(desired, "role_arn")
            .into_iter()
            .map(str::to_string)
            .collect();
        for target in items(desired, "targets") {
            if let Some(Value::Str(role)) = target.get("role_arn") {
                roles.push(role.clone());
            }
        }
        roles.sort();
        roles.dedup();
        if !roles.is_empty() {
            let mut pass = allow(Step::Write, &["iam:PassRole"], &roles);
            pass.condition = Some(serde_json::json!({
                "StringEquals": { "iam:PassedToService": "events.amazonaws.com" }
            }));
            out.push(pass);
        }
        out
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired_id(desired)) {
            ("arn", Ok(id)) => Value::Str(rule_arn(at, &id)),
            _ => Value::Unknown,
        }
    }

    /// Event patterns and inputs are compared as canonical JSON, targets by id.
    fn prepare(&self, desired: &mut Attrs) {
        canonical_in(desired, "event_pattern");
        if let Some(Value::List(targets)) = desired.get_mut("targets") {
            for target in targets.iter_mut() {
                if let Value::Map(map) = target {
                    canonical_in(map, "input");
                }
            }
            sort_targets(targets);
        }
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let id = match arn::parse(given) {
            Some(parsed) => match parsed.resource.strip_prefix("rule/") {
                Some(id) if parsed.service == "events" && parsed.region == aws.region => id,
                _ => return Ok(None),
            },
            None => given,
        };
        let (bus, name) = match id.rsplit_once('/') {
            Some((bus, name)) => (bus, name),
            // A bare name is on the stack's bus.
            None => (opt_str(desired, "event_bus_name").unwrap_or("default"), id),
        };
        Ok(Some(rule_id(bus, name)))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        let (bus, name) = split_id(id);
        Attrs::from([
            ("name".to_string(), Value::Str(name.to_string())),
            ("event_bus_name".to_string(), Value::Str(bus.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let id = desired_id(desired)?;
        let (bus, name) = split_id(&id);
        let found = aws
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(sdk("DescribeRule"))
            .or_gone()?;
        Ok(found.map(|_| id.clone()))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let (bus, name) = split_id(id);
        let rule = aws
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(sdk("DescribeRule"))
            .or_gone()?;
        let Some(rule) = rule else {
            return Ok(None);
        };
        let arn = rule.arn().unwrap_or_default().to_string();
        let (targets, tag_list) = tokio::join!(
            live_targets(aws, bus, name),
            aws.events
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send(),
        );
        let Some(targets) = targets? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                attrs.insert(key.to_string(), Value::Str(v.to_string()));
            }
        };
        put("name", Some(name));
        put("event_bus_name", Some(bus));
        put("arn", Some(&arn));
        put("schedule_expression", rule.schedule_expression());
        put("event_pattern", rule.event_pattern());
        put("role_arn", rule.role_arn());
        put("state", rule.state().map(RuleState::as_str));
        canonical_in(&mut attrs, "event_pattern");
        attrs.insert(
            "description".into(),
            Value::Str(rule.description().unwrap_or_default().to_string()),
        );
        let mut targets: Vec<Value> = targets.iter().map(target_value).collect();
        sort_targets(&mut targets);
        attrs.insert("targets".into(), Value::List(targets));
        let tag_list = tag_list.map_err(sdk("ListTagsForResource"))?;
        attrs.insert(
            "tags".into(),
            tags_value(tag_list.tags().iter().map(|t| (t.key(), t.value()))),
        );
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let id = desired_id(desired)?;
        let (bus, name) = split_id(&id);
        // PutRule replaces a rule of the same name: one that exists is not ours to change.
        if self.find(aws, desired).await?.is_some() {
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("event bus `{bus}`"),
                &id,
            ));
        }
        let tag_list = tags(desired)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::new("PutRule", e.to_string()))?;
        let tag_list = (!tag_list.is_empty()).then_some(tag_list);
        put_rule(aws, desired, &Attrs::new(), tag_list).await?;
        created(&id);
        let targets = items(desired, "targets")
            .iter()
            .map(|t| target_request(t, None))
            .collect::<Result<Vec<_>, _>>()?;
        if !targets.is_empty() {
            put_targets(aws, bus, name, targets).await?;
        }
        Ok(id)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let (bus, name) = split_id(id);
        let rule_changed = [
            "schedule_expression",
            "event_pattern",
            "description",
            "state",
            "role_arn",
        ]
        .iter()
        .any(|key| changed(&SCHEMA, key, desired, live));
        if rule_changed {
            put_rule(aws, desired, live, None).await?;
        }
        if changed(&SCHEMA, "targets", desired, live) {
            let current: HashMap<String, Target> = live_targets(aws, bus, name)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.id().to_string(), t))
                .collect();
            let wanted = items(desired, "targets");
            let wanted_ids: Vec<&str> = wanted
                .iter()
                .filter_map(|t| t.get("id").and_then(Value::as_str))
                .collect();
            let mut stale: Vec<String> = current
                .keys()
                .filter(|id| !wanted_ids.contains(&id.as_str()))
                .cloned()
                .collect();
            stale.sort();
            let mut put = Vec::new();
            for want in wanted {
                let live_target = want
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| current.get(id));
                let unchanged = live_target
                    .is_some_and(|t| same(&Type::Object(TARGET), want, Some(&target_value(t))));
                if !unchanged {
                    put.push(target_request(want, live_target)?);
                }
            }
            if !stale.is_empty() {
                remove_targets(aws, bus, name, stale).await?;
            }
            if !put.is_empty() {
                put_targets(aws, bus, name, put).await?;
            }
        }
        let rule_arn = opt_str(live, "arn").unwrap_or_default().to_string();
        let rule_arn = rule_arn.as_str();
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws
                    .events
                    .untag_resource()
                    .resource_arn(rule_arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |tags| async move {
                let tag_list = tags
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| AwsError::new("TagResource", e.to_string()))?;
                let request = aws
                    .events
                    .tag_resource()
                    .resource_arn(rule_arn)
                    .set_tags(Some(tag_list));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    /// A rule with targets cannot be deleted: its targets are removed first.
    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let (bus, name) = split_id(id);
        let Some(targets) = live_targets(aws, bus, name).await? else {
            return Ok(());
        };
        let ids: Vec<String> = targets.iter().map(|t| t.id().to_string()).collect();
        if !ids.is_empty() {
            remove_targets(aws, bus, name, ids).await?;
        }
        aws.events
            .delete_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(sdk("DeleteRule"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_crons_follow_eventbridges_rules() {
        for good in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 day)",
            "rate(12 hours)",
            "cron(0 12 * * ? *)",
            "cron(15 10 ? * MON-FRI *)",
        ] {
            assert_eq!(RULE_SCHEDULE.problem(good), None, "{good}");
        }
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 days)",
            "rate(5 weeks)",
            "rate(5)",
            "cron(0 12 * * ?)",
            "at(2030-01-01T00:00:00)",
            "every 5 minutes",
        ] {
            assert!(RULE_SCHEDULE.problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn names_and_patterns() {
        assert_eq!(RULE_NAME.problem("nightly.job_1-a"), None);
        assert!(RULE_NAME.problem("has space").is_some());
        assert!(RULE_NAME.problem("a/b").is_some());
        assert!(RULE_NAME.problem(&"x".repeat(65)).is_some());
        assert_eq!(json_object(r#"{"source":["aws.s3"]}"#), Ok(()));
        assert!(json_object("[1]").is_err());
        assert!(json_object("{source").is_err());
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_rule_has_a_schedule_or_a_pattern() {
        let s = |t: &str| Value::Str(t.to_string());
        let both = attrs(&[
            ("schedule_expression", s("rate(1 day)")),
            ("event_pattern", s("{}")),
        ]);
        assert_eq!(check_rule(&both).len(), 1);
        assert_eq!(check_rule(&attrs(&[("name", s("r"))])).len(), 1);
        let unknown = attrs(&[("event_pattern", Value::Unknown)]);
        assert_eq!(check_rule(&unknown), vec![]);
        let custom_bus = attrs(&[
            ("schedule_expression", s("rate(1 day)")),
            ("event_bus_name", s("orders")),
        ]);
        assert_eq!(
            check_rule(&custom_bus)[0].at,
            Path::attr("schedule_expression")
        );
    }

    #[test]
    fn ids_and_canonical_json() {
        assert_eq!(rule_id("default", "r"), "r");
        assert_eq!(split_id("r"), ("default", "r"));
        assert_eq!(split_id("aws.partner/x/y/r"), ("aws.partner/x/y", "r"));
        assert_eq!(
            canonical_json("{ \"b\": [1, {\"d\":1,\"c\":2}], \"a\": \"x\" }").unwrap(),
            r#"{"a":"x","b":[1,{"c":2,"d":1}]}"#
        );
    }
}
