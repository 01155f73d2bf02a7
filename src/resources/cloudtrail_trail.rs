//! `cloudtrail.trail`: a trail writing to an S3 bucket, with S3 data event selectors and
//! logging switched on.

use crate::schema::rules::{
    BUCKET_NAME, CLOUDTRAIL_TAGS, looks_like_ip_address, strings as located_strings,
};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// The data resource types a basic event selector takes, each with the values it takes:
/// every object or function (`arn:PARTITION:s3`, `arn:PARTITION:lambda`), objects under a
/// prefix of one bucket (`arn:PARTITION:s3:::BUCKET/` and a key prefix), one function,
/// one table.
pub const DATA_RESOURCE_TYPES: &[(&str, &str, &str)] = &[
    (
        "AWS::S3::Object",
        r"^arn:aws[a-z-]*:s3(:::|:::[a-z0-9][a-z0-9.-]*[a-z0-9]/.*)?$",
        "`arn:aws:s3` (every bucket) or `arn:aws:s3:::BUCKET/` with an optional key prefix (the bucket's `arn` followed by `/`)",
    ),
    (
        "AWS::Lambda::Function",
        r"^arn:aws[a-z-]*:lambda(:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+)?$",
        "`arn:aws:lambda` (every function) or a function's ARN",
    ),
    (
        "AWS::DynamoDB::Table",
        r"^arn:aws[a-z-]*:dynamodb(:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+)?$",
        "`arn:aws:dynamodb` (every table) or a table's ARN",
    ),
];

/// A data resource value of any of the types above (each type's own form is checked
/// across attributes, with its `type`).
const DATA_RESOURCE_VALUE: Text = Text::len(1, 2048).pattern(
    r"^arn:aws[a-z-]*:(s3(:::|:::[a-z0-9][a-z0-9.-]*[a-z0-9]/.*)?|lambda(:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+)?|dynamodb(:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+)?)$",
    "`arn:aws:s3:::BUCKET/` and an optional key prefix (a bucket's `arn` followed by `/`), a function or table ARN, or `arn:aws:s3`, `arn:aws:lambda`, `arn:aws:dynamodb` for all of them",
);

pub const DATA_RESOURCE: &[Attribute] = &[
    attr(
        "type",
        Type::Enum(&[
            "AWS::S3::Object",
            "AWS::Lambda::Function",
            "AWS::DynamoDB::Table",
        ]),
    )
    .required(),
    attr(
        "values",
        Type::List {
            item: &Type::String(DATA_RESOURCE_VALUE),
            min: 1,
            max: DATA_RESOURCES,
            unique: true,
        },
    )
    .required(),
];

/// A trail takes at most 5 event selectors and 250 data resource values in all.
const EVENT_SELECTORS: usize = 5;
const DATA_RESOURCES: usize = 250;

pub const EVENT_SELECTOR: &[Attribute] = &[
    attr(
        "read_write_type",
        Type::Enum(&["All", "ReadOnly", "WriteOnly"]),
    )
    .default(Default::Str("All")),
    attr("include_management_events", Type::Bool).default(Default::Bool(true)),
    attr(
        "data_resources",
        Type::List {
            item: &Type::Object(DATA_RESOURCE),
            min: 0,
            max: DATA_RESOURCES,
            unique: false,
        },
    ),
];

/// CloudTrail's names: 3 to 128 ASCII letters, digits, `.`, `_` and `-`, starting and
/// ending with a letter or digit, no two of `._-` in a row, not an IP address.
pub const TRAIL_NAME: Text = Text::len(3, 128)
    .pattern(
        r"^[A-Za-z0-9]([._-]?[A-Za-z0-9])*$",
        "letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit, with no two of `._-` next to each other",
    )
    .check(not_an_ip_address);

fn not_an_ip_address(name: &str) -> Result<(), String> {
    if looks_like_ip_address(name) {
        Err("a trail name must not look like an IP address".into())
    } else {
        Ok(())
    }
}

/// What the reference page (docs/resources/cloudtrail.trail.md) says beyond the attribute table.
const NOTES: &str = "\
Event selectors are set with PutEventSelectors and
compared on every read; logging is started after create (a new trail does not log until
StartLogging) and put back on if it was stopped outside strata. Create retries while
CloudTrail does not yet see a just-written bucket policy; tags are also added after create.
A trail always has selectors: leaving `event_selectors` out (or `[]`) means AWS's default
one (`All`, management events, no data resources), so removing data event selectors from
the stack removes them from the trail.

`enable_logging` is managed: left out, logging is on.
Rules across attributes: a multi-Region trail includes global service events.

Event selectors: each selector is a table: `read_write_type` (`All`, `ReadOnly`, `WriteOnly`; default
`All`), `include_management_events` (boolean, default `true`), and `data_resources`, an
array of `{ type, values }`. There, `type` is one of `AWS::S3::Object`,
`AWS::Lambda::Function`, `AWS::DynamoDB::Table`, and `values` is an array of at least one
different value of that type: `arn:aws:s3:::BUCKET/` and an optional key prefix (a
bucket's `arn` followed by `/`: the bucket ARN alone is refused) or `arn:aws:s3` for every
bucket; a function ARN or `arn:aws:lambda`; a table ARN or `arn:aws:dynamodb`. Both are
required. A trail takes at most 250 values over all its selectors.";

pub const SCHEMA: Schema = Schema {
    type_name: "cloudtrail.trail",
    description: "a CloudTrail trail",
    import_id: "the trail name",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(TRAIL_NAME))
            .required()
            .force_new(),
        attr("s3_bucket_name", Type::String(BUCKET_NAME)).required(),
        attr("s3_key_prefix", Type::String(Text::len(0, 200))),
        attr("include_global_service_events", Type::Bool)
            .default(Default::Bool(true))
            .keep_live(),
        attr("is_multi_region_trail", Type::Bool)
            .default(Default::Bool(false))
            .keep_live(),
        attr("enable_log_file_validation", Type::Bool)
            .default(Default::Bool(false))
            .keep_live(),
        attr("enable_logging", Type::Bool).default(Default::Bool(true)),
        attr(
            "event_selectors",
            Type::List {
                item: &Type::Object(EVENT_SELECTOR),
                min: 0,
                max: EVENT_SELECTORS,
                unique: false,
            },
        ),
        attr("tags", CLOUDTRAIL_TAGS),
    ],
    computed: &["arn", "home_region"],
    examples: &[
        (
            "arn",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/trail",
        ),
        ("home_region", "us-east-1"),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_trail),
};

fn check_trail(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let global = crate::schema::rules::bool_or(attrs, "include_global_service_events", true);
    let multi_region = crate::schema::rules::bool_or(attrs, "is_multi_region_trail", false);
    if multi_region == Some(true) && global == Some(false) {
        out.push(
            Problem::new(
                Path::attr("include_global_service_events"),
                "a multi-Region trail must include global service events",
                "`is_multi_region_trail = true` needs this to be `true`",
            )
            .help(
                "remove `include_global_service_events = false`, or make the trail single-Region",
            ),
        );
    }
    let mut total = 0;
    for (i, selector) in crate::schema::rules::items(attrs, "event_selectors")
        .iter()
        .enumerate()
    {
        let at = Path::attr("event_selectors").index(i).key("data_resources");
        for (j, resource) in selector
            .get("data_resources")
            .and_then(Value::as_list)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let at = at.clone().index(j);
            let values = located_strings(resource.get("values"), at.clone().key("values"));
            total += values.len();
            let Some((_, pattern, expected)) = resource
                .get("type")
                .and_then(Value::as_str)
                .and_then(|t| DATA_RESOURCE_TYPES.iter().find(|(name, ..)| *name == t))
            else {
                continue;
            };
            for (at, value) in values {
                if !crate::schema::rules::matches(pattern, value) {
                    out.push(Problem::new(
                        at,
                        format!("`{value}` is not a data resource of this type"),
                        format!("expected {expected}"),
                    ));
                }
            }
        }
    }
    if total > DATA_RESOURCES {
        out.push(Problem::new(
            Path::attr("event_selectors"),
            "too many data resources",
            format!("{total} values in all: a trail takes at most {DATA_RESOURCES}"),
        ));
    }
    out
}

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType, Tag};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, find_by_name, not_ours, opt_bool, opt_str, own_lost_create, req_str, strings,
    sync_tags, tags, tags_value,
};
use super::{Created, Resource};
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct CloudtrailTrail;

/// Right after the log bucket's policy is written, CloudTrail may not see it yet.
fn policy_not_seen(e: &AwsError) -> bool {
    e.code_is(&["InsufficientS3BucketPolicyException"])
}

fn read_selector(selector: &EventSelector) -> Value {
    let resources = selector
        .data_resources()
        .iter()
        .map(|d| {
            let mut map = IndexMap::new();
            map.insert(
                "type".to_string(),
                Value::Str(d.r#type().unwrap_or_default().to_string()),
            );
            map.insert(
                "values".into(),
                Value::List(d.values().iter().cloned().map(Value::Str).collect()),
            );
            Value::Map(map)
        })
        .collect();
    let mut map = IndexMap::new();
    map.insert(
        "read_write_type".to_string(),
        Value::Str(
            selector
                .read_write_type()
                .map_or("All", |t| t.as_str())
                .to_string(),
        ),
    );
    map.insert(
        "include_management_events".into(),
        Value::Bool(selector.include_management_events().unwrap_or(true)),
    );
    map.insert("data_resources".into(), Value::List(resources));
    Value::Map(map)
}

fn build_selectors(selectors: &[Value]) -> Vec<EventSelector> {
    selectors
        .iter()
        .map(|s| {
            let resources = s
                .get("data_resources")
                .and_then(Value::as_list)
                .unwrap_or(&[])
                .iter()
                .map(|d| {
                    let values = strings(d.get("values"));
                    DataResource::builder()
                        .set_type(d.get("type").and_then(Value::as_str).map(str::to_string))
                        .set_values(Some(values))
                        .build()
                })
                .collect();
            let read_write = s
                .get("read_write_type")
                .and_then(Value::as_str)
                .unwrap_or("All");
            EventSelector::builder()
                .read_write_type(ReadWriteType::from(read_write))
                .include_management_events(
                    s.get("include_management_events")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                )
                .set_data_resources(Some(resources))
                .build()
        })
        .collect()
}

fn trail_tags(
    pairs: &IndexMap<String, String>,
    operation: &'static str,
) -> Result<Vec<Tag>, AwsError> {
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::new(operation, e.to_string()))
        })
        .collect()
}

/// What a trail without selectors has: AWS's default, management events only.
fn default_selector() -> Value {
    let mut map = IndexMap::new();
    map.insert("read_write_type".to_string(), Value::Str("All".into()));
    map.insert("include_management_events".into(), Value::Bool(true));
    map.insert("data_resources".into(), Value::List(Vec::new()));
    Value::Map(map)
}

/// The stack's event selectors (CloudTrail takes 1 to 5; [`CloudtrailTrail::prepare`] makes
/// "none" the default one).
fn desired_selectors(desired: &Attrs) -> &[Value] {
    desired
        .get("event_selectors")
        .and_then(Value::as_list)
        .unwrap_or(&[])
}

async fn put_selectors(aws: &Clients, name: &str, selectors: &[Value]) -> Result<(), AwsError> {
    aws.cloudtrail
        .put_event_selectors()
        .trail_name(name)
        .set_event_selectors(Some(build_selectors(selectors)))
        .send()
        .await
        .map_err(sdk("PutEventSelectors"))?;
    Ok(())
}

/// The trail of that name, if there is one: `Some` of its ARN (when GetTrail gives one).
async fn trail_of(aws: &Clients, name: &str) -> Result<Option<Option<String>>, AwsError> {
    let found = aws
        .cloudtrail
        .get_trail()
        .name(name)
        .send()
        .await
        .map_err(sdk("GetTrail"))
        .or_gone()?;
    Ok(found.map(|out| out.trail().and_then(|t| t.trail_arn()).map(str::to_string)))
}

/// Tags are set by ARN; `known` is the ARN when the caller has it.
async fn trail_arn(aws: &Clients, name: &str, known: Option<&str>) -> Result<String, AwsError> {
    if let Some(arn) = known {
        return Ok(arn.to_string());
    }
    aws.cloudtrail
        .get_trail()
        .name(name)
        .send()
        .await
        .map_err(sdk("GetTrail"))?
        .trail()
        .and_then(|t| t.trail_arn())
        .map(str::to_string)
        .ok_or_else(|| AwsError::new("GetTrail", format!("no ARN for trail `{name}`")))
}

/// `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
fn trail_arn_at(at: &Place, name: &str) -> String {
    super::arn::trail(&at.partition, &at.region, &at.account, name)
}

#[async_trait]
impl Resource for CloudtrailTrail {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_trail = [trail_arn_at(at, &name_or_any(desired, "name"))];
        vec![
            allow(
                Step::Read,
                &[
                    "cloudtrail:GetTrail",
                    "cloudtrail:GetTrailStatus",
                    "cloudtrail:GetEventSelectors",
                    "cloudtrail:ListTags",
                ],
                &on_trail,
            ),
            allow(
                Step::Write,
                &[
                    "cloudtrail:CreateTrail",
                    "cloudtrail:GetTrail",
                    "cloudtrail:UpdateTrail",
                    "cloudtrail:PutEventSelectors",
                    "cloudtrail:StartLogging",
                    "cloudtrail:StopLogging",
                    "cloudtrail:AddTags",
                    "cloudtrail:RemoveTags",
                ],
                &on_trail,
            ),
            allow(Step::Delete, &["cloudtrail:DeleteTrail"], &on_trail),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(trail_arn_at(at, name)),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        find_by_name(self, aws, desired).await
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    /// GetTrail takes the trail's ARN too: the id is its name.
    fn id_from_read(&self, live: &Attrs) -> Option<String> {
        live.get("name").and_then(Value::as_str).map(str::to_string)
    }

    /// A trail always has event selectors: a stack that sets none (or `[]`) wants AWS's
    /// default one, so removing data event selectors from the stack removes them in AWS.
    fn prepare(&self, desired: &mut Attrs) {
        let none = match desired.get("event_selectors") {
            None => true,
            Some(Value::List(selectors)) => selectors.is_empty(),
            Some(_) => false,
        };
        if none {
            desired.insert(
                "event_selectors".into(),
                Value::List(vec![default_selector()]),
            );
        }
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let ct = &aws.cloudtrail;
        let (trail, status, selectors) = tokio::join!(
            ct.get_trail().name(id).send(),
            ct.get_trail_status().name(id).send(),
            ct.get_event_selectors().trail_name(id).send(),
        );
        let Some(out) = trail.map_err(sdk("GetTrail")).or_gone()? else {
            return Ok(None);
        };
        let Some(trail) = out.trail() else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        attrs.insert(
            "name".into(),
            Value::Str(trail.name().unwrap_or(id).to_string()),
        );
        let strings = [
            ("s3_bucket_name", trail.s3_bucket_name()),
            ("s3_key_prefix", trail.s3_key_prefix()),
            ("arn", trail.trail_arn()),
            ("home_region", trail.home_region()),
        ];
        for (name, value) in strings {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                attrs.insert(name.into(), Value::Str(v.to_string()));
            }
        }
        let flags = [
            (
                "include_global_service_events",
                trail.include_global_service_events(),
            ),
            ("is_multi_region_trail", trail.is_multi_region_trail()),
            (
                "enable_log_file_validation",
                trail.log_file_validation_enabled(),
            ),
        ];
        for (name, value) in flags {
            if let Some(b) = value {
                attrs.insert(name.into(), Value::Bool(b));
            }
        }
        let Some(status) = status.map_err(sdk("GetTrailStatus")).or_gone()? else {
            return Ok(None);
        };
        if let Some(logging) = status.is_logging() {
            attrs.insert("enable_logging".into(), Value::Bool(logging));
        }
        let Some(selectors) = selectors.map_err(sdk("GetEventSelectors")).or_gone()? else {
            return Ok(None);
        };
        if !selectors.event_selectors().is_empty() {
            let list = selectors
                .event_selectors()
                .iter()
                .map(read_selector)
                .collect();
            attrs.insert("event_selectors".into(), Value::List(list));
        }
        let mut tag_list = Vec::new();
        if let Some(arn) = trail.trail_arn() {
            let listed: Vec<_> = ct
                .list_tags()
                .resource_id_list(arn)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(sdk("ListTags"))?;
            tag_list = listed
                .iter()
                .flat_map(|page| page.resource_tag_list())
                .filter(|r| r.resource_id().is_none_or(|rid| rid == arn))
                .flat_map(|r| r.tags_list())
                .cloned()
                .collect();
        }
        let pairs = tag_list
            .iter()
            .map(|t| (t.key(), t.value().unwrap_or_default()));
        attrs.insert("tags".into(), tags_value(pairs));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let ct = &aws.cloudtrail;
        let name = req_str(desired, "name")?;
        let bucket = req_str(desired, "s3_bucket_name")?;
        let wanted_tags = tags(desired);
        let tag_list = trail_tags(&wanted_tags, "CreateTrail")?;
        // CreateTrail answers TrailAlreadyExistsException for a name in use, and also to
        // the SDK's own retry of a create whose reply was lost. So existence is asked
        // first: a trail there now is not ours. Between this GetTrail and the CreateTrail,
        // only a caller with this account's credentials creating the same name at the same
        // moment could slip in: that is two deploys of one stack from two states racing,
        // which no check here can order, and the window is one round trip. So an "already
        // exists" after a "not found" is taken as our own create whose reply was lost.
        if trail_of(aws, name).await?.is_some() {
            let account = aws.account_id().await?;
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in account {account}, {}", aws.region),
                name,
            ));
        }
        let made = retry_send(Backoff::PROPAGATION, policy_not_seen, "CreateTrail", || {
            ct.create_trail()
                .name(name)
                .s3_bucket_name(bucket)
                .set_s3_key_prefix(opt_str(desired, "s3_key_prefix").map(str::to_string))
                .set_include_global_service_events(opt_bool(
                    desired,
                    "include_global_service_events",
                ))
                .set_is_multi_region_trail(opt_bool(desired, "is_multi_region_trail"))
                .set_enable_log_file_validation(opt_bool(desired, "enable_log_file_validation"))
                .set_tags_list((!tag_list.is_empty()).then(|| tag_list.clone()))
                .send()
        })
        .await;
        let arn = match made {
            Ok(out) => out.trail_arn().map(str::to_string),
            Err(e) if e.code_is(&["TrailAlreadyExistsException"]) => {
                let what = format!("trail `{name}`");
                own_lost_create("CreateTrail", &what, || trail_of(aws, name)).await?
            }
            Err(e) => return Err(e),
        };
        created(name);
        put_selectors(aws, name, desired_selectors(desired)).await?;
        // Some endpoints drop the tags given to CreateTrail; AddTags makes sure.
        if !tag_list.is_empty() {
            let arn = trail_arn(aws, name, arn.as_deref()).await?;
            ct.add_tags()
                .resource_id(arn)
                .set_tags_list(Some(tag_list))
                .send()
                .await
                .map_err(sdk("AddTags"))?;
        }
        // A new trail does not log until it is started.
        if opt_bool(desired, "enable_logging").unwrap_or(true) {
            ct.start_logging()
                .name(name)
                .send()
                .await
                .map_err(sdk("StartLogging"))?;
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
        let ct = &aws.cloudtrail;
        let differs = |name: &str| changed(&SCHEMA, name, desired, live);
        let new_str = |name: &str| {
            differs(name)
                .then(|| opt_str(desired, name).map(str::to_string))
                .flatten()
        };
        let new_bool = |name: &str| differs(name).then(|| opt_bool(desired, name)).flatten();
        let bucket = new_str("s3_bucket_name");
        let prefix = new_str("s3_key_prefix");
        let global = new_bool("include_global_service_events");
        let multi_region = new_bool("is_multi_region_trail");
        let validation = new_bool("enable_log_file_validation");
        if bucket.is_some()
            || prefix.is_some()
            || global.is_some()
            || multi_region.is_some()
            || validation.is_some()
        {
            // A new log bucket may have had its policy written a moment ago.
            retry_send(Backoff::PROPAGATION, policy_not_seen, "UpdateTrail", || {
                ct.update_trail()
                    .name(id)
                    .set_s3_bucket_name(bucket.clone())
                    .set_s3_key_prefix(prefix.clone())
                    .set_include_global_service_events(global)
                    .set_is_multi_region_trail(multi_region)
                    .set_enable_log_file_validation(validation)
                    .send()
            })
            .await?;
        }
        if differs("event_selectors") {
            put_selectors(aws, id, desired_selectors(desired)).await?;
        }
        if differs("enable_logging") {
            if opt_bool(desired, "enable_logging").unwrap_or(true) {
                ct.start_logging()
                    .name(id)
                    .send()
                    .await
                    .map_err(sdk("StartLogging"))?;
            } else {
                ct.stop_logging()
                    .name(id)
                    .send()
                    .await
                    .map_err(sdk("StopLogging"))?;
            }
        }
        if !changed(&SCHEMA, "tags", desired, live) {
            return Ok(());
        }
        let arn = &trail_arn(aws, id, opt_str(live, "arn")).await?;
        let have = &tags(live);
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                // RemoveTags takes whole tags: the keys with their current values.
                let stale = keys
                    .into_iter()
                    .map(|key| {
                        let value = have[&key].clone();
                        (key, value)
                    })
                    .collect();
                ct.remove_tags()
                    .resource_id(arn)
                    .set_tags_list(Some(trail_tags(&stale, "RemoveTags")?))
                    .send()
                    .await
                    .map(drop)
                    .map_err(sdk("RemoveTags"))
            },
            |tags| async move {
                ct.add_tags()
                    .resource_id(arn)
                    .set_tags_list(Some(trail_tags(&tags, "AddTags")?))
                    .send()
                    .await
                    .map(drop)
                    .map_err(sdk("AddTags"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.cloudtrail
            .delete_trail()
            .name(id)
            .send()
            .await
            .map_err(sdk("DeleteTrail"))
            .ok_if_gone()
    }
}
