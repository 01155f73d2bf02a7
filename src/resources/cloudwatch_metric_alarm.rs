//! `cloudwatch.metric_alarm`: an alarm on one metric (a queue's depth, a function's errors)
//! with the actions it takes (SNS topics, ...) when its state changes. PutMetricAlarm
//! creates and replaces an alarm whole; its tags are set at creation only, later by
//! TagResource and UntagResource.

use crate::schema::rules::TAGS;
use crate::schema::{Default, Identity, Map, Path, Problem, Schema, Text, Type, attr};

/// Alarm names: 1-255 characters, no ASCII control characters.
const ALARM_NAME: Text = Text::len(1, 255).check(no_control_characters);

fn no_control_characters(text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_ascii_control()) {
        Some(c) => Err(format!("{c:?}: control characters are not allowed")),
        None => Ok(()),
    }
}

/// A namespace: 1-255 characters, not beginning with `:`; `AWS/` is AWS's own.
const NAMESPACE: Text = Text::len(1, 255).pattern(
    r"^[^:].*$",
    "a namespace such as `AWS/SQS` (not beginning with `:`)",
);

/// The statistics of `statistic`; percentiles and trimmed means are `extended_statistic`.
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// `p99`, `p99.9`, `tm90`, `TM(10%:90%)`, `PR(:300)`...
const EXTENDED_STATISTIC: Text = Text::len(1, 100).pattern(
    r"^((p|tm|wm|tc|ts)(100|[0-9]{1,2})(\.[0-9]{1,10})?|(TM|WM|TC|TS|PR)\([0-9.%:]+\))$",
    "a percentile or trimmed statistic such as `p99`, `p99.9`, `tm90` or `TM(10%:90%)`",
);

/// The comparisons of a threshold alarm (the anomaly-band ones need a band metric,
/// which this type does not make).
const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

/// An action's ARN: an SNS topic, an Auto Scaling policy, an EC2 action, a Systems
/// Manager OpsItem or incident plan, a Lambda function.
const ACTION_ARN: Text = Text::len(1, 1024).pattern(
    r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:\S+$",
    "an ARN, such as an SNS topic's `arn:PARTITION:sns:REGION:ACCOUNT:NAME`",
);

const ACTIONS: Type = Type::List {
    item: &Type::String(ACTION_ARN),
    min: 0,
    max: 5,
    unique: true,
};

/// An alarm's evaluation spans at most 7 days, and one day for periods under an hour.
const MAX_SPAN: i64 = 7 * 86_400;
const MAX_SHORT_SPAN: i64 = 86_400;

/// What the reference page says beyond the attribute table.
const NOTES: &str = "\
PutMetricAlarm creates an alarm or silently replaces one of the same name: an alarm of the
stack's name made outside the stack is refused at apply (import it by its name or ARN). An
update sends the whole definition again, with what the stack leaves out as it is live;
tags are set at creation, later with TagResource and UntagResource.

Rules across attributes: one of `statistic` and `extended_statistic`; `period` is 10, 30 or
a multiple of 60; `period` times `evaluation_periods` is at most one day (7 days for periods
of an hour or more); `datapoints_to_alarm` is at most `evaluation_periods`. Alarms on metric
math and anomaly bands are not supported.";

pub const SCHEMA: Schema = Schema {
    type_name: "cloudwatch.metric_alarm",
    description: "a CloudWatch alarm on one metric",
    import_id: "the alarm name (or its ARN)",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(ALARM_NAME))
            .required()
            .force_new(),
        attr("namespace", Type::String(NAMESPACE)).required(),
        attr("metric_name", Type::String(Text::len(1, 255))).required(),
        attr(
            "dimensions",
            Type::Map(Map {
                keys: Text::len(1, 255),
                values: &Type::String(Text::len(1, 1024)),
                max: 30,
            }),
        ),
        attr("statistic", Type::Enum(STATISTICS)),
        attr("extended_statistic", Type::String(EXTENDED_STATISTIC)),
        attr(
            "period",
            Type::Int {
                min: 10,
                max: MAX_SPAN,
            },
        )
        .required(),
        attr(
            "evaluation_periods",
            Type::Int {
                min: 1,
                max: MAX_SHORT_SPAN / 10,
            },
        )
        .required(),
        attr(
            "datapoints_to_alarm",
            Type::Int {
                min: 1,
                max: MAX_SHORT_SPAN / 10,
            },
        ),
        attr(
            "threshold",
            Type::Float {
                min: f64::MIN,
                max: f64::MAX,
            },
        )
        .required()
        .doc("`5` and `5.0` are the same threshold."),
        attr("comparison_operator", Type::Enum(COMPARISONS)).required(),
        attr(
            "treat_missing_data",
            Type::Enum(&["missing", "notBreaching", "breaching", "ignore"]),
        )
        .default(Default::Str("missing")),
        attr("alarm_actions", ACTIONS)
            .doc("ARNs of what to do on entering `ALARM`, such as an SNS topic's `arn`."),
        attr("ok_actions", ACTIONS),
        attr("insufficient_data_actions", ACTIONS),
        attr("actions_enabled", Type::Bool).default(Default::Bool(true)),
        attr("alarm_description", Type::String(Text::len(0, 1024))),
        attr("tags", TAGS),
    ],
    computed: &["arn"],
    examples: &[(
        "arn",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:alarm",
    )],
    identity: Identity::of(&["name"]),
    check: Some(check_alarm),
};

/// CloudWatch's rules across an alarm's attributes.
fn check_alarm(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let has = |name: &str| attrs.contains_key(name);
    if has("statistic") == has("extended_statistic") {
        out.push(
            Problem::new(
                Path::attr(if has("statistic") {
                    "extended_statistic"
                } else {
                    "name"
                }),
                "an alarm takes one of `statistic` and `extended_statistic`",
                if has("statistic") {
                    "both are set"
                } else {
                    "neither is set"
                },
            )
            .help("set `statistic` (`Average`, `Sum`...) or `extended_statistic` (`p99`...), not both"),
        );
    }
    let int = |name: &str| attrs.get(name).and_then(Value::as_i64);
    let period = int("period");
    if let Some(p) = period
        && p != 10
        && p != 30
        && p % 60 != 0
    {
        out.push(
            Problem::new(
                Path::attr("period"),
                format!("an alarm's period of {p} seconds is not allowed"),
                "expected 10, 30 or a multiple of 60",
            )
            .help("use 10 or 30 (high-resolution metrics), or a multiple of 60"),
        );
    }
    if let (Some(p), Some(n)) = (period, int("evaluation_periods")) {
        let max = if p < 3600 { MAX_SHORT_SPAN } else { MAX_SPAN };
        if p * n > max {
            out.push(
                Problem::new(
                    Path::attr("evaluation_periods"),
                    format!("the alarm evaluates {} seconds, more than {max}", p * n),
                    format!("{n} periods of {p} seconds"),
                )
                .help("an alarm evaluates at most one day (7 days for periods of an hour or more): fewer or shorter periods"),
            );
        }
        if let Some(m) = int("datapoints_to_alarm")
            && m > n
        {
            out.push(Problem::new(
                Path::attr("datapoints_to_alarm"),
                format!("{m} datapoints out of {n} evaluation periods"),
                format!("at most `evaluation_periods` ({n})"),
            ));
        }
    }
    out
}

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag,
};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, find_by_name, not_ours, opt_str, req_str, strings, sync_tags, tags, tags_value,
};
use super::{Created, Resource};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct CloudwatchMetricAlarm;

/// `arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME`.
pub fn alarm_arn(at: &Place, name: &str) -> String {
    format!(
        "arn:{}:cloudwatch:{}:{}:alarm:{name}",
        at.partition, at.region, at.account
    )
}

/// The metric alarm of that name, if any.
async fn describe(aws: &Clients, name: &str) -> Result<Option<MetricAlarm>, AwsError> {
    let out = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .map_err(sdk("DescribeAlarms"))?;
    Ok(out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .cloned())
}

fn list(values: &[String]) -> Value {
    Value::List(values.iter().map(|s| Value::Str(s.clone())).collect())
}

/// The alarm's settings as the stack says them, with what it leaves out as `live` has it:
/// PutMetricAlarm replaces the whole alarm, and an attribute the stack does not set is
/// left as it is.
fn definition<'a>(desired: &'a Attrs, live: &'a Attrs) -> impl Fn(&str) -> Option<&'a Value> {
    move |name| desired.get(name).or_else(|| live.get(name))
}

/// PutMetricAlarm with the alarm's whole definition (`tags` only on a create).
async fn put(aws: &Clients, desired: &Attrs, live: &Attrs, creating: bool) -> Result<(), AwsError> {
    let get = definition(desired, live);
    let text = |name: &str| get(name).and_then(Value::as_str).map(str::to_string);
    let int = |name: &str| get(name).and_then(Value::as_i64).map(|n| n as i32);
    let actions = |name: &str| Some(strings(get(name)));
    let dimensions: Vec<Dimension> = get("dimensions")
        .and_then(Value::as_map)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let d = Dimension::builder().name(k).value(v.as_str()?);
            Some(d.build())
        })
        .collect();
    let tag_list: Vec<Tag> = tags(desired)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(req_str(desired, "name")?)
        .set_namespace(text("namespace"))
        .set_metric_name(text("metric_name"))
        .set_dimensions(Some(dimensions))
        .set_statistic(text("statistic").map(|s| Statistic::from(s.as_str())))
        .set_extended_statistic(text("extended_statistic"))
        .set_period(int("period"))
        .set_evaluation_periods(int("evaluation_periods"))
        .set_datapoints_to_alarm(int("datapoints_to_alarm"))
        .set_threshold(get("threshold").and_then(crate::schema::number))
        .set_comparison_operator(
            text("comparison_operator").map(|c| ComparisonOperator::from(c.as_str())),
        )
        .set_treat_missing_data(text("treat_missing_data"))
        .set_alarm_actions(actions("alarm_actions"))
        .set_ok_actions(actions("ok_actions"))
        .set_insufficient_data_actions(actions("insufficient_data_actions"))
        .set_actions_enabled(get("actions_enabled").and_then(Value::as_bool))
        .set_alarm_description(text("alarm_description"))
        .set_tags((creating && !tag_list.is_empty()).then_some(tag_list))
        .send()
        .await
        .map_err(sdk("PutMetricAlarm"))?;
    Ok(())
}

#[async_trait]
impl Resource for CloudwatchMetricAlarm {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_alarm = [alarm_arn(at, &name_or_any(desired, "name"))];
        vec![
            allow(
                Step::Read,
                &[
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:ListTagsForResource",
                ],
                &on_alarm,
            ),
            allow(
                Step::Write,
                &[
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                ],
                &on_alarm,
            ),
            allow(Step::Delete, &["cloudwatch:DeleteAlarms"], &on_alarm),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(alarm_arn(at, name)),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        find_by_name(self, aws, desired).await
    }

    /// The alarm's name, given its name or ARN.
    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let name = match super::arn::parse(given) {
            Some(arn) if arn.service == "cloudwatch" => {
                arn.resource.strip_prefix("alarm:").unwrap_or(arn.resource)
            }
            _ => given,
        };
        Ok(describe(aws, name).await?.map(|_| name.to_string()))
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
        let Some(alarm) = describe(aws, id).await? else {
            return Ok(None);
        };
        let arn = alarm.alarm_arn().unwrap_or_default().to_string();
        let tag_list = aws
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(sdk("ListTagsForResource"))
            .or_gone()?
            .map(|out| out.tags().to_vec())
            .unwrap_or_default();
        let mut attrs = Attrs::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                attrs.insert(k.to_string(), v);
            }
        };
        let text = |s: Option<&str>| s.map(|s| Value::Str(s.to_string()));
        let int = |n: Option<i32>| n.map(|n| Value::Int(n.into()));
        put("name", text(alarm.alarm_name()));
        put("namespace", text(alarm.namespace()));
        put("metric_name", text(alarm.metric_name()));
        let dimensions: IndexMap<String, Value> = alarm
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), Value::Str(d.value()?.to_string()))))
            .collect();
        put("dimensions", Some(Value::Map(dimensions)));
        put("statistic", text(alarm.statistic().map(Statistic::as_str)));
        put("extended_statistic", text(alarm.extended_statistic()));
        put("period", int(alarm.period()));
        put("evaluation_periods", int(alarm.evaluation_periods()));
        put("datapoints_to_alarm", int(alarm.datapoints_to_alarm()));
        put("threshold", alarm.threshold().map(Value::Float));
        put(
            "comparison_operator",
            text(alarm.comparison_operator().map(ComparisonOperator::as_str)),
        );
        put(
            "treat_missing_data",
            text(alarm.treat_missing_data().or(Some("missing"))),
        );
        put("alarm_actions", Some(list(alarm.alarm_actions())));
        put("ok_actions", Some(list(alarm.ok_actions())));
        put(
            "insufficient_data_actions",
            Some(list(alarm.insufficient_data_actions())),
        );
        put(
            "actions_enabled",
            Some(Value::Bool(alarm.actions_enabled().unwrap_or(true))),
        );
        put(
            "alarm_description",
            text(alarm.alarm_description().filter(|d| !d.is_empty())),
        );
        put(
            "tags",
            Some(tags_value(tag_list.iter().filter_map(|t| {
                Some((t.key()?, t.value().unwrap_or_default()))
            }))),
        );
        put("arn", Some(Value::Str(arn)));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // PutMetricAlarm replaces an alarm of the same name without a word: an alarm there
        // now is not ours. One made between this look and the put (a second deploy of the
        // same stack racing this one; the window is one round trip) would be replaced.
        if describe(aws, name).await?.is_some() {
            let account = aws.account_id().await?;
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in account {account}, {}", aws.region),
                name,
            ));
        }
        put(aws, desired, &Attrs::new(), true).await?;
        created(name);
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let settings = SCHEMA
            .attributes
            .iter()
            .map(|a| a.name)
            .filter(|n| *n != "tags");
        if settings
            .into_iter()
            .any(|n| changed(&SCHEMA, n, desired, live))
        {
            put(aws, desired, live, false).await?;
        }
        let arn = opt_str(live, "arn").unwrap_or(id);
        let cloudwatch = &aws.cloudwatch;
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = cloudwatch
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |tags| async move {
                let tags = tags
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                let request = cloudwatch
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.cloudwatch
            .delete_alarms()
            .alarm_names(id)
            .send()
            .await
            .map_err(sdk("DeleteAlarms"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use crate::resources::support::testing::{assert_refused, validate};

    /// An alarm whose settings are `BASE` with `replace` swapped in; its lines start at 7.
    fn alarm(replace: &[(&str, &str)]) -> String {
        let mut settings = BASE.to_string();
        for (from, to) in replace {
            assert!(settings.contains(from), "{from}");
            settings = settings.replace(from, to);
        }
        format!("[resources.a]\ntype = \"cloudwatch.metric_alarm\"\nname = \"backlog\"\n{settings}")
    }

    const BASE: &str = "namespace = \"AWS/SQS\"
metric_name = \"ApproximateNumberOfMessagesVisible\"
dimensions = { QueueName = \"jobs\" }
statistic = \"Maximum\"
period = 60
evaluation_periods = 3
datapoints_to_alarm = 2
threshold = 5
comparison_operator = \"GreaterThanThreshold\"
alarm_actions = [\"arn:aws:sns:us-east-1:123456789012:ops\"]
";

    #[test]
    fn alarms_within_cloudwatchs_rules_pass() {
        assert_eq!(validate(&alarm(&[])), "");
        for (from, to) in [
            ("threshold = 5", "threshold = -0.25"),
            ("period = 60", "period = 10"),
            ("period = 60", "period = 30"),
            (
                "period = 60\nevaluation_periods = 3",
                "period = 3600\nevaluation_periods = 168",
            ),
            ("statistic = \"Maximum\"", "extended_statistic = \"p99.9\""),
            (
                "statistic = \"Maximum\"",
                "extended_statistic = \"TM(10%:90%)\"",
            ),
        ] {
            let text = alarm(&[(from, to)]);
            assert_eq!(validate(&text), "", "{text}");
        }
    }

    #[test]
    fn bad_alarms_are_refused_where_they_are_wrong() {
        let cases: &[(&str, &str, usize, &str)] = &[
            (
                "period = 60",
                "period = 45",
                11,
                "expected 10, 30 or a multiple of 60",
            ),
            ("period = 60", "period = 5", 11, "5 is out of range"),
            (
                "evaluation_periods = 3",
                "evaluation_periods = 1441",
                12,
                "more than 86400",
            ),
            (
                "datapoints_to_alarm = 2",
                "datapoints_to_alarm = 4",
                13,
                "at most `evaluation_periods` (3)",
            ),
            (
                "threshold = 5",
                "threshold = \"five\"",
                14,
                "expected a number",
            ),
            (
                "threshold = 5",
                "threshold = nan",
                14,
                "NaN is out of range",
            ),
            (
                "comparison_operator = \"GreaterThanThreshold\"",
                "comparison_operator = \"GreaterThan\"",
                15,
                "`GreaterThan` is not allowed",
            ),
            (
                "statistic = \"Maximum\"",
                "statistic = \"Max\"",
                10,
                "`Max` is not allowed",
            ),
            (
                "statistic = \"Maximum\"",
                "statistic = \"Maximum\"\nextended_statistic = \"p99\"",
                11,
                "one of `statistic` and `extended_statistic`",
            ),
            (
                "statistic = \"Maximum\"",
                "extended_statistic = \"p101\"",
                10,
                "a percentile or trimmed statistic",
            ),
            (
                "namespace = \"AWS/SQS\"",
                "namespace = \":x\"",
                7,
                "not beginning with `:`",
            ),
            (
                "alarm_actions = [\"arn:aws:sns:us-east-1:123456789012:ops\"]",
                "alarm_actions = [\"ops\"]",
                16,
                "an ARN",
            ),
            (
                "dimensions = { QueueName = \"jobs\" }",
                "dimensions = { QueueName = \"\" }",
                9,
                "must not be empty",
            ),
        ];
        for (from, to, line, message) in cases {
            assert_refused(&alarm(&[(from, to)]), *line, message);
        }
        // Neither statistic: said at the alarm's name.
        assert_refused(
            &alarm(&[("statistic = \"Maximum\"\n", "")]),
            6,
            "neither is set",
        );
        let long = format!("name = \"{}\"", "x".repeat(256));
        let text = alarm(&[]).replace("name = \"backlog\"", &long);
        assert_refused(
            &text,
            6,
            "256 characters long: expected 1 to 255 characters",
        );
        let control = alarm(&[]).replace("name = \"backlog\"", "name = \"a\\tb\"");
        assert_refused(&control, 6, "control characters are not allowed");
    }

    #[test]
    fn a_threshold_is_the_same_number_as_an_integer_or_a_float() {
        use crate::schema::{Type, same};
        use crate::value::Value;
        let ty = Type::Float {
            min: f64::MIN,
            max: f64::MAX,
        };
        assert!(same(&ty, &Value::Int(5), Some(&Value::Float(5.0))));
        assert!(same(&ty, &Value::Float(10.5), Some(&Value::Float(10.5))));
        assert!(!same(&ty, &Value::Int(5), Some(&Value::Float(5.5))));
        assert!(!same(&ty, &Value::Int(5), None));
        assert!(!same(
            &ty,
            &Value::Str("5".into()),
            Some(&Value::Float(5.0))
        ));
    }
}
