//! `scheduler.schedule`: an EventBridge Scheduler schedule in a schedule group, with its one
//! target. The id is `GROUP/NAME` (a schedule's name is unique within its group only);
//! import also takes the schedule's ARN, or its name alone for the stack's group.
//!
//! CreateSchedule refuses a name that exists (ConflictException), but strata still looks
//! first: a conflict after a look that found nothing is the SDK's retry of our own create
//! whose reply was lost. UpdateSchedule takes the whole definition: what the stack does not
//! manage (a KMS key, a target's retry policy or dead-letter queue, what happens after the
//! last run) is sent back as it is live.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::events_rule::rate_or_cron;
use crate::schema::rules::{ROLE_ARN, known_str};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// Schedule and group names: 1-64 letters, digits, `-`, `_` and `.`.
const NAME: Text =
    Text::len(1, 64).pattern(r"^[0-9A-Za-z._-]+$", "letters, digits, `.`, `-` and `_`");

/// `at(yyyy-mm-ddThh:mm:ss)`, `rate(VALUE UNIT)` or `cron(FIELDS)`.
const SCHEDULE_EXPRESSION: Text = Text::len(1, 256)
    .pattern(
        r"^(at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)|rate\(.*\)|cron\(.*\))$",
        "`at(yyyy-mm-ddThh:mm:ss)`, `rate(VALUE UNIT)` or `cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)`",
    )
    .check(rate_or_cron);

/// A start or end date: an RFC 3339 date and time (`2030-01-01T00:00:00Z`).
const DATE: Text = Text::len(1, 64).check(date);

fn date(text: &str) -> Result<(), String> {
    parse_date(text)
        .map(drop)
        .ok_or_else(|| "expected an RFC 3339 date and time, such as `2030-01-01T00:00:00Z`".into())
}

/// An RFC 3339 date and time, in UTC (`Z`) or with an offset (`+01:00`), which the SDK's
/// own parser does not take.
fn parse_date(text: &str) -> Option<DateTime> {
    if let Ok(utc) = DateTime::from_str(text, Format::DateTime) {
        return Some(utc);
    }
    let split = text.len().checked_sub(6)?;
    let (base, offset) = (text.get(..split)?, text.get(split..)?.as_bytes());
    let sign = match offset[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |at: usize| {
        std::str::from_utf8(&offset[at..at + 2])
            .ok()?
            .parse::<i64>()
            .ok()
    };
    let (hours, minutes) = (digits(1)?, digits(4)?);
    if offset[3] != b':' || hours > 23 || minutes > 59 {
        return None;
    }
    let local = DateTime::from_str(&format!("{base}Z"), Format::DateTime).ok()?;
    let shift = sign * (hours * 3600 + minutes * 60);
    Some(DateTime::from_secs_and_nanos(
        local.secs() - shift,
        local.subsec_nanos(),
    ))
}

pub const FLEXIBLE_TIME_WINDOW: &[Attribute] = &[
    attr("mode", Type::Enum(&["OFF", "FLEXIBLE"])).required(),
    attr("maximum_window_in_minutes", Type::Int { min: 1, max: 1440 }),
];

pub const TARGET: &[Attribute] = &[
    attr(
        "arn",
        Type::String(Text::len(1, 1600).pattern(
            r"^arn:aws[a-z-]*:[a-z0-9-]+:\S*$",
            "an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`",
        )),
    )
    .required(),
    attr("role_arn", Type::String(ROLE_ARN)).required(),
    attr("input", Type::String(Text::len(1, 8192))),
];

pub const SCHEMA: Schema = Schema {
    type_name: "scheduler.schedule",
    description: "an EventBridge Scheduler schedule and its target",
    import_id: "`GROUP/NAME`, the schedule's ARN, or its name in the stack's group",
    notes: "\
UpdateSchedule replaces the whole schedule, so an attribute the stack leaves out is sent
back as it is live (as are the schedule's KMS key and the target's extras). The schedule
group must exist already.",
    attributes: &[
        attr("name", Type::String(NAME)).required().force_new(),
        attr("group_name", Type::String(NAME))
            .force_new()
            .default(Default::Str("default")),
        attr("schedule_expression", Type::String(SCHEDULE_EXPRESSION)).required(),
        attr(
            "schedule_expression_timezone",
            Type::String(Text::len(1, 50)),
        )
        .default(Default::Str("UTC")),
        attr("flexible_time_window", Type::Object(FLEXIBLE_TIME_WINDOW)).required(),
        attr("target", Type::Object(TARGET)).required(),
        attr("state", Type::Enum(&["ENABLED", "DISABLED"])).default(Default::Str("ENABLED")),
        attr("description", Type::String(Text::len(0, 512))),
        attr("start_date", Type::String(DATE)),
        attr("end_date", Type::String(DATE)),
    ],
    computed: &["arn"],
    examples: &[(
        "arn",
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly",
    )],
    identity: Identity::of(&["group_name", "name"]),
    check: Some(check_schedule),
};

/// The rules Scheduler applies across a schedule's attributes.
fn check_schedule(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let window = attrs.get("flexible_time_window");
    let mode = window.and_then(|w| w.get("mode")).and_then(Value::as_str);
    let maximum = window.and_then(|w| w.get("maximum_window_in_minutes"));
    let at = Path::attr("flexible_time_window");
    match (mode, maximum) {
        (Some("FLEXIBLE"), None) => out.push(
            Problem::new(
                at.clone().key("mode"),
                "a flexible time window needs `maximum_window_in_minutes`",
                "`FLEXIBLE` without a window",
            )
            .help("add `maximum_window_in_minutes` (1 to 1440)"),
        ),
        (Some("OFF"), Some(_)) => out.push(
            Problem::new(
                at.key("maximum_window_in_minutes"),
                "`maximum_window_in_minutes` is set, but the window is `OFF`",
                "only a `FLEXIBLE` window has a maximum",
            )
            .help("set `mode = \"FLEXIBLE\"`, or remove `maximum_window_in_minutes`"),
        ),
        _ => {}
    }
    let parsed = |key| known_str(attrs, key).and_then(parse_date);
    if let (Some(start), Some(end)) = (parsed("start_date"), parsed("end_date"))
        && end <= start
    {
        out.push(Problem::new(
            Path::attr("end_date"),
            "a schedule's end date must come after its start date",
            "not after `start_date`",
        ));
    }
    out
}

use async_trait::async_trait;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, not_ours, opt_str, own_lost_create, req_str};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SchedulerSchedule;

/// (group, name) of a schedule id.
fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or(("default", id))
}

fn desired_id(desired: &Attrs) -> Result<String, AwsError> {
    let group = opt_str(desired, "group_name").unwrap_or("default");
    Ok(format!("{group}/{}", req_str(desired, "name")?))
}

/// A date as strata writes it (and compares it): RFC 3339 in UTC, `2030-01-01T00:00:00Z`.
fn canonical_date(text: &str) -> Option<String> {
    parse_date(text).and_then(|d| d.fmt(Format::DateTime).ok())
}

fn date_of(desired: &Attrs, key: &str) -> Result<Option<DateTime>, AwsError> {
    opt_str(desired, key)
        .map(|text| {
            parse_date(text)
                .ok_or_else(|| AwsError::new("prepare", format!("`{key}` is not a date: `{text}`")))
        })
        .transpose()
}

async fn get_schedule(
    aws: &Clients,
    group: &str,
    name: &str,
) -> Result<Option<GetScheduleOutput>, AwsError> {
    aws.scheduler
        .get_schedule()
        .name(name)
        .group_name(group)
        .send()
        .await
        .map_err(sdk("GetSchedule"))
        .or_gone()
}

/// What CreateSchedule and UpdateSchedule both take, from the stack on top of the live
/// schedule (`live`, none when creating).
struct Definition {
    expression: String,
    timezone: Option<String>,
    window: FlexibleTimeWindow,
    target: Target,
    state: Option<ScheduleState>,
    description: Option<String>,
    start: Option<DateTime>,
    end: Option<DateTime>,
}

fn definition(desired: &Attrs, live: Option<&GetScheduleOutput>) -> Result<Definition, AwsError> {
    let building =
        |e: aws_smithy_types::error::operation::BuildError| AwsError::new("prepare", e.to_string());
    let window = desired.get("flexible_time_window");
    let mode = window
        .and_then(|w| w.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("OFF");
    let maximum = window
        .and_then(|w| w.get("maximum_window_in_minutes"))
        .and_then(Value::as_i64)
        .and_then(|m| i32::try_from(m).ok());
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::from(mode))
        .set_maximum_window_in_minutes(maximum)
        .build()
        .map_err(building)?;
    let want = desired.get("target");
    let text = |key: &str| {
        want.and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let missing = |key: &str| AwsError::new("prepare", format!("`target.{key}` is not known"));
    let arn = text("arn").ok_or_else(|| missing("arn"))?;
    let role_arn = text("role_arn").ok_or_else(|| missing("role_arn"))?;
    let mut target = match live.and_then(GetScheduleOutput::target) {
        Some(live) => live.clone(),
        None => Target::builder()
            .arn(&arn)
            .role_arn(&role_arn)
            .build()
            .map_err(building)?,
    };
    target.arn = arn;
    target.role_arn = role_arn;
    if let Some(input) = text("input") {
        target.input = Some(input);
    }
    let kept = |key: &str, live: Option<&str>| {
        opt_str(desired, key)
            .or(live)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(Definition {
        expression: req_str(desired, "schedule_expression")?.to_string(),
        timezone: kept(
            "schedule_expression_timezone",
            live.and_then(GetScheduleOutput::schedule_expression_timezone),
        ),
        window,
        target,
        state: opt_str(desired, "state").map(ScheduleState::from),
        description: kept("description", live.and_then(GetScheduleOutput::description)),
        start: date_of(desired, "start_date")?.or(live.and_then(|l| l.start_date().copied())),
        end: date_of(desired, "end_date")?.or(live.and_then(|l| l.end_date().copied())),
    })
}

fn schedule_arn(at: &Place, group: &str, name: &str) -> String {
    arn::schedule(&at.partition, &at.region, &at.account, group, name)
}

#[async_trait]
impl Resource for SchedulerSchedule {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_schedule = [schedule_arn(
            at,
            &name_or_any(desired, "group_name"),
            &name_or_any(desired, "name"),
        )];
        let mut out = vec![
            allow(Step::Read, &["scheduler:GetSchedule"], &on_schedule),
            allow(
                Step::Write,
                &[
                    "scheduler:GetSchedule",
                    "scheduler:CreateSchedule",
                    "scheduler:UpdateSchedule",
                ],
                &on_schedule,
            ),
            allow(Step::Delete, &["scheduler:DeleteSchedule"], &on_schedule),
        ];
        // The target's role is handed to Scheduler.
        if let Some(Value::Str(role)) = desired.get("target").and_then(|t| t.get("role_arn")) {
            let mut pass = allow(Step::Write, &["iam:PassRole"], std::slice::from_ref(role));
            pass.condition = Some(serde_json::json!({
                "StringEquals": { "iam:PassedToService": "scheduler.amazonaws.com" }
            }));
            out.push(pass);
        }
        out
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired_id(desired)) {
            ("arn", Ok(id)) => {
                let (group, name) = split_id(&id);
                Value::Str(schedule_arn(at, group, name))
            }
            _ => Value::Unknown,
        }
    }

    /// Dates are compared in the form read returns them.
    fn prepare(&self, desired: &mut Attrs) {
        for key in ["start_date", "end_date"] {
            if let Some(date) = opt_str(desired, key).and_then(canonical_date) {
                desired.insert(key.to_string(), Value::Str(date));
            }
        }
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let id = match arn::parse(given) {
            Some(parsed) => match parsed.resource.strip_prefix("schedule/") {
                Some(id) if parsed.service == "scheduler" && parsed.region == aws.region => id,
                _ => return Ok(None),
            },
            None => given,
        };
        Ok(Some(match id.split_once('/') {
            Some(_) => id.to_string(),
            None => format!(
                "{}/{id}",
                opt_str(desired, "group_name").unwrap_or("default")
            ),
        }))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        let (group, name) = split_id(id);
        Attrs::from([
            ("name".to_string(), Value::Str(name.to_string())),
            ("group_name".to_string(), Value::Str(group.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let id = desired_id(desired)?;
        let (group, name) = split_id(&id);
        let found = get_schedule(aws, group, name).await?;
        Ok(found.map(|_| id.clone()))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let (group, name) = split_id(id);
        let Some(s) = get_schedule(aws, group, name).await? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                attrs.insert(key.to_string(), Value::Str(v.to_string()));
            }
        };
        put("name", Some(name));
        put("group_name", Some(group));
        put("arn", s.arn());
        put("schedule_expression", s.schedule_expression());
        put(
            "schedule_expression_timezone",
            s.schedule_expression_timezone(),
        );
        put("state", s.state().map(ScheduleState::as_str));
        let date = |d: Option<&DateTime>| d.and_then(|d| d.fmt(Format::DateTime).ok());
        put("start_date", date(s.start_date()).as_deref());
        put("end_date", date(s.end_date()).as_deref());
        attrs.insert(
            "description".into(),
            Value::Str(s.description().unwrap_or_default().to_string()),
        );
        if let Some(w) = s.flexible_time_window() {
            let mut window = IndexMap::new();
            window.insert(
                "mode".to_string(),
                Value::Str(w.mode().as_str().to_string()),
            );
            if let Some(m) = w.maximum_window_in_minutes() {
                window.insert("maximum_window_in_minutes".into(), Value::Int(m.into()));
            }
            attrs.insert("flexible_time_window".into(), Value::Map(window));
        }
        if let Some(t) = s.target() {
            let mut target = IndexMap::new();
            target.insert("arn".to_string(), Value::Str(t.arn().to_string()));
            target.insert("role_arn".to_string(), Value::Str(t.role_arn().to_string()));
            if let Some(input) = t.input() {
                target.insert("input".to_string(), Value::Str(input.to_string()));
            }
            attrs.insert("target".into(), Value::Map(target));
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let id = desired_id(desired)?;
        let (group, name) = split_id(&id);
        if get_schedule(aws, group, name).await?.is_some() {
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("schedule group `{group}`"),
                &id,
            ));
        }
        let d = definition(desired, None)?;
        let sent = aws
            .scheduler
            .create_schedule()
            .name(name)
            .group_name(group)
            .schedule_expression(d.expression)
            .set_schedule_expression_timezone(d.timezone)
            .flexible_time_window(d.window)
            .target(d.target)
            .set_state(d.state)
            .set_description(d.description)
            .set_start_date(d.start)
            .set_end_date(d.end)
            .send()
            .await
            .map_err(sdk("CreateSchedule"));
        match sent {
            Ok(_) => {}
            // Nothing was there a moment ago: this is our own create, retried by the SDK
            // after its reply was lost.
            Err(e) if e.code_is(&["ConflictException"]) => {
                own_lost_create("CreateSchedule", &format!("schedule `{id}`"), || {
                    get_schedule(aws, group, name)
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
        created(&id);
        Ok(id)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        _live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let (group, name) = split_id(id);
        let live = get_schedule(aws, group, name)
            .await?
            .ok_or_else(|| AwsError::new("UpdateSchedule", format!("schedule `{id}` is gone")))?;
        let d = definition(desired, Some(&live))?;
        aws.scheduler
            .update_schedule()
            .name(name)
            .group_name(group)
            .schedule_expression(d.expression)
            .set_schedule_expression_timezone(d.timezone)
            .flexible_time_window(d.window)
            .target(d.target)
            .set_state(d.state)
            .set_description(d.description)
            .set_start_date(d.start)
            .set_end_date(d.end)
            .set_kms_key_arn(live.kms_key_arn().map(str::to_string))
            .set_action_after_completion(live.action_after_completion().cloned())
            .send()
            .await
            .map_err(sdk("UpdateSchedule"))?;
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let (group, name) = split_id(id);
        aws.scheduler
            .delete_schedule()
            .name(name)
            .group_name(group)
            .send()
            .await
            .map_err(sdk("DeleteSchedule"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_expressions() {
        for good in [
            "at(2030-01-01T09:30:00)",
            "rate(1 hour)",
            "rate(15 minutes)",
            "cron(0 8 ? * MON *)",
        ] {
            assert_eq!(SCHEDULE_EXPRESSION.problem(good), None, "{good}");
        }
        for bad in [
            "at(2030-01-01)",
            "at(2030-01-01 09:30:00)",
            "rate(2 hour)",
            "cron(0 8 * *)",
            "now",
        ] {
            assert!(SCHEDULE_EXPRESSION.problem(bad).is_some(), "{bad}");
        }
        assert!(NAME.problem("a/b").is_some());
        assert_eq!(NAME.problem("nightly-report_1.x"), None);
    }

    fn attrs(json: serde_json::Value) -> Attrs {
        crate::value::attrs_from_json(&json)
    }

    #[test]
    fn windows_and_dates() {
        let flexible = attrs(serde_json::json!({"flexible_time_window": {"mode": "FLEXIBLE"}}));
        assert_eq!(
            check_schedule(&flexible)[0].at,
            Path::attr("flexible_time_window").key("mode")
        );
        let off = attrs(serde_json::json!({
            "flexible_time_window": {"mode": "OFF", "maximum_window_in_minutes": 5}
        }));
        assert_eq!(check_schedule(&off).len(), 1);
        let fine = attrs(serde_json::json!({
            "flexible_time_window": {"mode": "FLEXIBLE", "maximum_window_in_minutes": 5},
            "start_date": "2030-01-01T00:00:00Z",
            "end_date": "2031-01-01T00:00:00+01:00",
        }));
        assert_eq!(check_schedule(&fine), vec![]);
        let backwards = attrs(serde_json::json!({
            "start_date": "2031-01-01T00:00:00Z",
            "end_date": "2030-01-01T00:00:00Z",
        }));
        assert_eq!(check_schedule(&backwards)[0].at, Path::attr("end_date"));
        assert!(DATE.problem("tomorrow").is_some());
        assert!(DATE.problem("2030-01-01T00:00:00+1:00").is_some());
        assert!(DATE.problem("2030-01-01T00:00:00+01:60").is_some());
        assert_eq!(
            canonical_date("2030-01-01T01:00:00+01:00").as_deref(),
            Some("2030-01-01T00:00:00Z")
        );
    }

    #[test]
    fn ids() {
        assert_eq!(split_id("default/nightly"), ("default", "nightly"));
        let ids = SchedulerSchedule.id_attributes("reports/nightly");
        assert_eq!(ids["group_name"], Value::Str("reports".into()));
    }
}
