//! `lambda.event_source_mapping`: Lambda polls an SQS queue and invokes a function with
//! batches of its messages. AWS allows one mapping per (queue, function); the id is the
//! mapping's UUID. A mapping passes through `Creating`, `Enabling`, `Updating`,
//! `Disabling` and `Deleting` before it settles: every write waits for that.

use crate::schema::rules::{QUEUE_ARN, known_str};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

use super::lambda_permission::FUNCTION;

/// The largest batch a standard queue's mapping takes; a FIFO queue's takes 10.
const MAX_BATCH: i64 = 10_000;
const FIFO_MAX_BATCH: i64 = 10;

const SCALING_CONFIG: &[Attribute] =
    &[attr("maximum_concurrency", Type::Int { min: 2, max: 1000 }).required()];

/// One filter pattern: a JSON object of at most 4,096 characters (Lambda's event filtering
/// syntax).
const FILTER_PATTERN: Text = Text::len(1, 4096).check(json_object);

fn json_object(text: &str) -> Result<(), String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("a filter pattern is a JSON object, `{ \"body\": { ... } }`".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// What the reference page says beyond the attribute table.
const NOTES: &str = "\
AWS allows one mapping per queue and function: a mapping of the stack's pair made outside
the stack is refused at apply (import it by its UUID). Rules across attributes: a batch of
more than 10 messages needs `maximum_batching_window_in_seconds` of 1 or more; a FIFO
queue's mapping takes at most 10 messages and no batching window.

A mapping passes through `Creating`, `Enabling`, `Updating`, `Disabling` and `Deleting`:
every create, update and delete waits (up to 5 minutes) until it is `Enabled`, `Disabled`
or gone. Lambda checks at create that the function's role may `sqs:ReceiveMessage`,
`sqs:DeleteMessage` and `sqs:GetQueueAttributes` on the queue; a role or policy made a
moment before is waited for (up to 2 minutes). With `function_response_types =
[\"ReportBatchItemFailures\"]` the function reports the messages it failed, and only those
return to the queue.";

pub const SCHEMA: Schema = Schema {
    type_name: "lambda.event_source_mapping",
    description: "a Lambda event source mapping that feeds an SQS queue's messages to a function",
    import_id: "the mapping's UUID (or its ARN)",
    notes: NOTES,
    attributes: &[
        attr("event_source_arn", Type::String(QUEUE_ARN))
            .required()
            .force_new(),
        attr("function_name", Type::String(FUNCTION))
            .required()
            .doc("The function's name or ARN, with an optional version or alias."),
        attr(
            "batch_size",
            Type::Int {
                min: 1,
                max: MAX_BATCH,
            },
        )
        .default(Default::Int(10)),
        attr(
            "maximum_batching_window_in_seconds",
            Type::Int { min: 0, max: 300 },
        )
        .default(Default::Int(0)),
        attr(
            "function_response_types",
            Type::List {
                item: &Type::Enum(&["ReportBatchItemFailures"]),
                min: 0,
                max: 1,
                unique: true,
            },
        ),
        attr("scaling_config", Type::Object(SCALING_CONFIG)),
        attr("enabled", Type::Bool).default(Default::Bool(true)),
        attr(
            "filter_patterns",
            Type::List {
                item: &Type::String(FILTER_PATTERN),
                min: 0,
                max: 5,
                unique: true,
            },
        )
        .doc("Lambda's event filtering patterns, each a JSON object; a message that matches none is deleted without invoking the function."),
    ],
    computed: &["uuid", "arn", "state"],
    examples: &[
        ("uuid", "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"),
        (
            "arn",
            "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:a1b2c3d4-5678-90ab-cdef-11111EXAMPLE",
        ),
        ("state", "Enabled"),
    ],
    identity: Identity::of(&["event_source_arn", "function_name"]),
    check: Some(check_mapping),
};

/// Lambda's rules across a mapping's attributes: a batch of more than 10 messages needs a
/// batching window, and a FIFO queue's mapping takes at most 10 and no window.
fn check_mapping(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let batch = match attrs.get("batch_size") {
        None => Some(10),
        Some(v) => v.as_i64(),
    };
    let window = match attrs.get("maximum_batching_window_in_seconds") {
        None => Some(0),
        Some(v) => v.as_i64(),
    };
    let fifo = known_str(attrs, "event_source_arn").map(|arn| arn.ends_with(".fifo"));
    match (fifo, batch, window) {
        (Some(true), Some(batch), _) if batch > FIFO_MAX_BATCH => out.push(
            Problem::new(
                Path::attr("batch_size"),
                format!("a FIFO queue's mapping takes batches of at most {FIFO_MAX_BATCH} messages"),
                format!("{batch} messages"),
            )
            .help(format!("set `batch_size` to {FIFO_MAX_BATCH} or less")),
        ),
        (Some(true), _, Some(window)) if window > 0 => out.push(
            Problem::new(
                Path::attr("maximum_batching_window_in_seconds"),
                "a FIFO queue's mapping takes no batching window",
                format!("{window} seconds"),
            )
            .help("remove `maximum_batching_window_in_seconds`"),
        ),
        (Some(false), Some(batch), Some(0)) if batch > 10 => out.push(
            Problem::new(
                Path::attr("batch_size"),
                "a batch of more than 10 messages needs a batching window",
                format!("{batch} messages, and no `maximum_batching_window_in_seconds`"),
            )
            .help("set `maximum_batching_window_in_seconds` to 1 or more, or `batch_size` to 10 or less"),
        ),
        _ => {}
    }
    out
}

use async_trait::async_trait;
use aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput;
use aws_sdk_lambda::types::{Filter, FilterCriteria, FunctionResponseType, ScalingConfig};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow};
use super::lambda_function::{READY_POLL, function_arn};
use super::support::{
    Gone, changed, not_ours, opt_bool, opt_i64, opt_str, own_lost_create, req_str, strings,
};
use super::{Created, Resource, arn};
use crate::aws::retry::{Backoff, retry_send, wait_until};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct LambdaEventSourceMapping;

/// The states a mapping rests in; the others (`Creating`, `Enabling`, `Disabling`,
/// `Updating`, `Deleting`) pass.
const SETTLED: &[&str] = &["Enabled", "Disabled"];

/// Lambda checks at create (and at an update that changes the function) that the function's
/// role may read the queue. A role or policy made a moment ago may not have propagated yet.
fn role_not_ready(e: &AwsError) -> bool {
    e.code_is(&["InvalidParameterValueException"])
        && e.message_contains("execution role does not have permissions")
}

/// The mapping is still settling from an earlier change.
fn in_use(e: &AwsError) -> bool {
    e.code_is(&["ResourceInUseException"])
}

/// CreateEventSourceMapping's answer when the (queue, function) pair has a mapping.
fn already_exists(e: &AwsError) -> bool {
    e.code_is(&["ResourceConflictException"])
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:event-source-mapping:UUID`.
pub fn mapping_arn(at: &Place, uuid: &str) -> String {
    format!(
        "arn:{}:lambda:{}:{}:event-source-mapping:{uuid}",
        at.partition, at.region, at.account
    )
}

/// The UUID of a mapping named by its UUID or its ARN.
fn uuid_of(given: &str) -> &str {
    match arn::parse(given) {
        Some(parsed) => parsed
            .resource
            .strip_prefix("event-source-mapping:")
            .unwrap_or(parsed.resource),
        None => given,
    }
}

/// The mapping of the stack's (queue, function) pair, if there is one.
async fn mapping_of(aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
    let out = aws
        .lambda
        .list_event_source_mappings()
        .event_source_arn(req_str(desired, "event_source_arn")?)
        .function_name(req_str(desired, "function_name")?)
        .send()
        .await
        .map_err(sdk("ListEventSourceMappings"))
        .or_gone()?;
    Ok(out.and_then(|out| {
        out.event_source_mappings()
            .iter()
            .find_map(|m| m.uuid().map(str::to_string))
    }))
}

async fn get(aws: &Clients, uuid: &str) -> Result<Option<GetEventSourceMappingOutput>, AwsError> {
    aws.lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(sdk("GetEventSourceMapping"))
        .or_gone()
}

/// Waits until the mapping rests in a settled state, or, with `gone`, until it is gone.
async fn wait_settled(aws: &Clients, uuid: &str, gone: bool) -> Result<(), AwsError> {
    let settled = wait_until(READY_POLL, || async {
        Ok(match get(aws, uuid).await? {
            None => gone.then_some(()),
            Some(out) => {
                let state = out.state().unwrap_or_default();
                (!gone && SETTLED.contains(&state)).then_some(())
            }
        })
    })
    .await?;
    settled.ok_or_else(|| {
        let what = if gone { "to be deleted" } else { "to settle" };
        AwsError::new(
            "GetEventSourceMapping",
            format!("event source mapping {uuid} did not finish {what} in 5 minutes"),
        )
    })
}

fn response_types(desired: &Attrs) -> Option<Vec<FunctionResponseType>> {
    desired.contains_key("function_response_types").then(|| {
        strings(desired.get("function_response_types"))
            .iter()
            .map(|t| FunctionResponseType::from(t.as_str()))
            .collect()
    })
}

fn scaling(desired: &Attrs) -> Option<ScalingConfig> {
    desired
        .get("scaling_config")
        .and_then(|s| s.get("maximum_concurrency"))
        .and_then(Value::as_i64)
        .map(|m| {
            ScalingConfig::builder()
                .maximum_concurrency(m as i32)
                .build()
        })
}

/// The filter criteria to send: the stack's patterns (none removes them all).
fn filters(desired: &Attrs) -> Option<FilterCriteria> {
    desired.contains_key("filter_patterns").then(|| {
        let filters = strings(desired.get("filter_patterns"))
            .into_iter()
            .map(|p| Filter::builder().pattern(p).build())
            .collect();
        FilterCriteria::builder().set_filters(Some(filters)).build()
    })
}

fn as_i32(desired: &Attrs, name: &str) -> Option<i32> {
    opt_i64(desired, name).map(|n| n as i32)
}

#[async_trait]
impl Resource for LambdaEventSourceMapping {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        // Get, Update and Delete are authorized on the mapping's ARN (its UUID is not known
        // before the create); List on no resource; Create on no resource either, but only
        // for the stack's function (the `lambda:FunctionArn` condition key).
        let on_mappings = [mapping_arn(at, "*")];
        let anything = ["*".to_string()];
        let function = match desired.get("function_name") {
            Some(Value::Str(f)) => function_arn(at, f),
            _ => function_arn(at, "*"),
        };
        let mut create = allow(Step::Write, &["lambda:CreateEventSourceMapping"], &anything);
        create.condition = Some(serde_json::json!({
            "ArnLike": { "lambda:FunctionArn": function }
        }));
        let list = ["lambda:ListEventSourceMappings"];
        vec![
            allow(Step::Read, &["lambda:GetEventSourceMapping"], &on_mappings),
            allow(Step::Read, &list, &anything),
            allow(
                Step::Write,
                &[
                    "lambda:GetEventSourceMapping",
                    "lambda:UpdateEventSourceMapping",
                ],
                &on_mappings,
            ),
            allow(Step::Write, &list, &anything),
            create,
            allow(
                Step::Delete,
                &[
                    "lambda:DeleteEventSourceMapping",
                    "lambda:GetEventSourceMapping",
                ],
                &on_mappings,
            ),
        ]
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        mapping_of(aws, desired).await
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let uuid = uuid_of(given);
        Ok(get(aws, uuid).await?.map(|_| uuid.to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("uuid".to_string(), Value::Str(id.to_string()))])
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(out) = get(aws, id).await? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        let mut put = |k: &str, v: Value| {
            attrs.insert(k.to_string(), v);
        };
        put(
            "event_source_arn",
            Value::Str(out.event_source_arn().unwrap_or_default().to_string()),
        );
        // The function as the stack names it (name or ARN) when it is that function.
        let live_function = out.function_arn().unwrap_or_default();
        let function = match opt_str(prior, "function_name") {
            Some(named) if arn::function_name_of(named) == arn::function_name_of(live_function) => {
                named
            }
            _ => arn::function_name_of(live_function),
        };
        put("function_name", Value::Str(function.to_string()));
        put(
            "batch_size",
            Value::Int(out.batch_size().unwrap_or(10).into()),
        );
        put(
            "maximum_batching_window_in_seconds",
            Value::Int(out.maximum_batching_window_in_seconds().unwrap_or(0).into()),
        );
        put(
            "function_response_types",
            Value::List(
                out.function_response_types()
                    .iter()
                    .map(|t| Value::Str(t.as_str().to_string()))
                    .collect(),
            ),
        );
        if let Some(m) = out.scaling_config().and_then(|s| s.maximum_concurrency()) {
            let map = IndexMap::from([("maximum_concurrency".to_string(), Value::Int(m.into()))]);
            put("scaling_config", Value::Map(map));
        }
        let state = out.state().unwrap_or_default().to_string();
        let enabled = matches!(state.as_str(), "Enabled" | "Enabling" | "Creating");
        put("enabled", Value::Bool(enabled));
        let patterns = out
            .filter_criteria()
            .map(|f| f.filters())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.pattern().map(|p| Value::Str(p.to_string())))
            .collect();
        put("filter_patterns", Value::List(patterns));
        put("uuid", Value::Str(id.to_string()));
        let arn = match out.event_source_mapping_arn() {
            Some(arn) => arn.to_string(),
            None => mapping_arn(
                &Place {
                    partition: aws.partition().await?.to_string(),
                    region: aws.region.clone(),
                    account: aws.account_id().await?.to_string(),
                },
                id,
            ),
        };
        put("arn", Value::Str(arn));
        put("state", Value::Str(state));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let queue = req_str(desired, "event_source_arn")?;
        let function = req_str(desired, "function_name")?;
        // CreateEventSourceMapping answers ResourceConflictException for a (queue,
        // function) pair that has a mapping, and also to the SDK's own retry of a create
        // whose reply was lost. So the pair's mappings are listed first: one there now is
        // not ours. A mapping appearing between this listing and the create is taken as
        // our own lost-reply create (only a second deploy of the same stack racing this
        // one could make it; the window is one round trip).
        if let Some(uuid) = mapping_of(aws, desired).await? {
            return Err(not_ours(
                &SCHEMA,
                &format!("from `{queue}` to `{function}`"),
                &format!("UUID {uuid}"),
                &uuid,
            ));
        }
        let made = retry_send(
            Backoff::PROPAGATION,
            role_not_ready,
            "CreateEventSourceMapping",
            || {
                aws.lambda
                    .create_event_source_mapping()
                    .event_source_arn(queue)
                    .function_name(function)
                    .set_enabled(opt_bool(desired, "enabled"))
                    .set_batch_size(as_i32(desired, "batch_size"))
                    .set_maximum_batching_window_in_seconds(as_i32(
                        desired,
                        "maximum_batching_window_in_seconds",
                    ))
                    .set_function_response_types(response_types(desired))
                    .set_scaling_config(scaling(desired))
                    .set_filter_criteria(filters(desired))
                    .send()
            },
        )
        .await;
        let uuid = match made {
            Ok(out) => out.uuid().map(str::to_string).ok_or_else(|| {
                AwsError::new("CreateEventSourceMapping", "no UUID in the answer")
            })?,
            Err(e) if already_exists(&e) => {
                let what = format!("the mapping from `{queue}` to `{function}`");
                own_lost_create("CreateEventSourceMapping", &what, || {
                    mapping_of(aws, desired)
                })
                .await?
            }
            Err(e) => return Err(e),
        };
        created(&uuid);
        wait_settled(aws, &uuid, false).await?;
        Ok(uuid)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let differs = |name: &str| changed(&SCHEMA, name, desired, live);
        let function = differs("function_name").then(|| opt_str(desired, "function_name"));
        let eventual = |e: &AwsError| in_use(e) || role_not_ready(e);
        retry_send(
            Backoff::PROPAGATION,
            eventual,
            "UpdateEventSourceMapping",
            || {
                aws.lambda
                    .update_event_source_mapping()
                    .uuid(id)
                    .set_function_name(function.flatten().map(str::to_string))
                    .set_enabled(opt_bool(desired, "enabled").filter(|_| differs("enabled")))
                    .set_batch_size(as_i32(desired, "batch_size"))
                    .set_maximum_batching_window_in_seconds(as_i32(
                        desired,
                        "maximum_batching_window_in_seconds",
                    ))
                    .set_function_response_types(response_types(desired))
                    .set_scaling_config(scaling(desired))
                    .set_filter_criteria(filters(desired))
                    .send()
            },
        )
        .await?;
        wait_settled(aws, id, false).await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let deleted = retry_send(
            Backoff::CONSISTENCY,
            in_use,
            "DeleteEventSourceMapping",
            || aws.lambda.delete_event_source_mapping().uuid(id).send(),
        )
        .await
        .or_gone()?;
        if deleted.is_some() {
            wait_settled(aws, id, true).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::support::testing::{assert_refused, validate};

    /// A mapping with `extra` lines; line 7 is the first of them.
    fn mapping(extra: &str) -> String {
        format!(
            "[resources.feed]\ntype = \"lambda.event_source_mapping\"\nfunction_name = \"worker\"\n{extra}\n"
        )
    }

    const QUEUE: &str = "event_source_arn = \"arn:aws:sqs:us-east-1:123456789012:jobs\"";
    const FIFO: &str = "event_source_arn = \"arn:aws:sqs:us-east-1:123456789012:jobs.fifo\"";

    #[test]
    fn a_mapping_within_lambdas_rules_passes() {
        let good = mapping(&format!(
            "{QUEUE}\nbatch_size = 10000\nmaximum_batching_window_in_seconds = 300\nfunction_response_types = [\"ReportBatchItemFailures\"]\nscaling_config = {{ maximum_concurrency = 1000 }}\nenabled = false\nfilter_patterns = ['{{\"body\": {{\"kind\": [\"job\"]}}}}']"
        ));
        assert_eq!(validate(&good), "");
        let arn = "function_name = \"arn:aws:lambda:us-east-1:123456789012:function:worker:live\"";
        let by_arn =
            format!("[resources.feed]\ntype = \"lambda.event_source_mapping\"\n{arn}\n{QUEUE}\n");
        assert_eq!(validate(&by_arn), "");
    }

    #[test]
    fn bad_mappings_are_refused_where_they_are_wrong() {
        let cases = [
            (
                format!("{QUEUE}\nbatch_size = 100"),
                8,
                "a batch of more than 10 messages needs a batching window",
            ),
            (
                format!("{QUEUE}\nbatch_size = 10001\nmaximum_batching_window_in_seconds = 1"),
                8,
                "10001 is out of range: expected 1 to 10000",
            ),
            (
                format!("{QUEUE}\nmaximum_batching_window_in_seconds = 301"),
                8,
                "301 is out of range: expected 0 to 300",
            ),
            (
                format!("{FIFO}\nbatch_size = 11\nmaximum_batching_window_in_seconds = 1"),
                8,
                "a FIFO queue's mapping takes batches of at most 10 messages",
            ),
            (
                format!("{FIFO}\nmaximum_batching_window_in_seconds = 5"),
                8,
                "a FIFO queue's mapping takes no batching window",
            ),
            (
                format!("{QUEUE}\nscaling_config = {{ maximum_concurrency = 1 }}"),
                8,
                "1 is out of range: expected 2 to 1000",
            ),
            (
                format!("{QUEUE}\nfunction_response_types = [\"ReportFailures\"]"),
                8,
                "`ReportFailures` is not allowed",
            ),
            (
                format!("{QUEUE}\nfilter_patterns = [\"body = 1\"]"),
                8,
                "not JSON",
            ),
            (
                format!("{QUEUE}\nfilter_patterns = ['[1]']"),
                8,
                "a filter pattern is a JSON object",
            ),
            (format!("{QUEUE}\nbatchsize = 5"), 8, "batchsize"),
            (
                "event_source_arn = \"https://sqs.us-east-1.amazonaws.com/123456789012/jobs\""
                    .to_string(),
                7,
                "an SQS queue ARN",
            ),
        ];
        for (extra, line, message) in cases {
            assert_refused(&mapping(&extra), line, message);
        }
        // Without a queue at all.
        assert_refused(&mapping(""), 4, "event_source_arn");
    }

    #[test]
    fn a_mapping_is_named_by_its_uuid_or_arn() {
        let uuid = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE";
        assert_eq!(uuid_of(uuid), uuid);
        assert_eq!(
            uuid_of(&format!(
                "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:{uuid}"
            )),
            uuid
        );
        let at = Place {
            partition: "aws-cn".into(),
            region: "cn-north-1".into(),
            account: "123456789012".into(),
        };
        assert_eq!(
            mapping_arn(&at, uuid),
            format!("arn:aws-cn:lambda:cn-north-1:123456789012:event-source-mapping:{uuid}")
        );
    }
}
