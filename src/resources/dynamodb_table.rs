//! `dynamodb.table`: a DynamoDB table, its key schema, billing mode, TTL, point-in-time
//! recovery, stream, deletion protection and tags.
//!
//! CreateTable, UpdateTable and DeleteTable return at once and carry on in the background:
//! the table is `CREATING`/`UPDATING`/`DELETING` meanwhile, and refuses further updates
//! (`ResourceInUseException`). Every step here waits for `ACTIVE` (or for the table to be
//! gone) before the next. AWS also limits what one UpdateTable may change (throughput or
//! billing mode, or the stream, not both), so each is its own call. Some changes AWS allows
//! only so often: the billing mode twice in 24 hours, TTL once an hour (a changed
//! `ttl_attribute` is a disable and an enable, so it may be refused until the hour is over).

use crate::schema::rules::{TAGS, known_str};
use crate::schema::{Default, Identity, Map, Path, Problem, Schema, Text, Type, attr};

/// DynamoDB's table names: 3 to 255 of `a-z A-Z 0-9 _ . -`.
pub const TABLE_NAME: Text =
    Text::len(3, 255).pattern(r"^[A-Za-z0-9_.-]+$", "letters, digits, `_`, `.` and `-`");

/// An attribute name (a key's): 1 to 255 characters.
const ATTRIBUTE_NAME: Text = Text::len(1, 255);

pub const SCHEMA: Schema = Schema {
    type_name: "dynamodb.table",
    description: "a DynamoDB table",
    import_id: "the table name (or its ARN)",
    notes: "\
The key schema (`hash_key`, `range_key` and the key `attributes`) cannot change: a change
replaces the table, and its items are lost. The plan says which attribute forces it.

CreateTable, UpdateTable and DeleteTable carry on in the background; strata waits for the
table to be `ACTIVE` (or gone) before the next step. One UpdateTable changes either the
throughput or billing mode or the stream, so each is its own call. AWS allows some changes
only so often: the billing mode twice in 24 hours, TTL once an hour (a changed
`ttl_attribute` is a disable and an enable, so it may be refused until the hour is over).
Left out, `ttl_attribute` and `stream_view_type` switch TTL and the stream off. A table
with `deletion_protection` is not destroyed: apply `deletion_protection = false` first.",
    attributes: &[
        attr("name", Type::String(TABLE_NAME))
            .required()
            .force_new(),
        attr("hash_key", Type::String(ATTRIBUTE_NAME))
            .required()
            .force_new(),
        attr("range_key", Type::String(ATTRIBUTE_NAME)).force_new(),
        // The key attributes' types: `{ pk = "S", sk = "N" }`.
        attr(
            "attributes",
            Type::Map(Map {
                keys: ATTRIBUTE_NAME,
                values: &Type::Enum(&["S", "N", "B"]),
                max: 2,
            }),
        )
        .required()
        .force_new(),
        attr(
            "billing_mode",
            Type::Enum(&["PROVISIONED", "PAY_PER_REQUEST"]),
        )
        .default(Default::Str("PROVISIONED")),
        attr(
            "read_capacity",
            Type::Int {
                min: 1,
                max: i64::MAX,
            },
        ),
        attr(
            "write_capacity",
            Type::Int {
                min: 1,
                max: i64::MAX,
            },
        ),
        attr("ttl_attribute", Type::String(ATTRIBUTE_NAME)),
        // Switching recovery or protection off because a stack leaves them out would
        // weaken the table's protection: left out, they keep what the table has.
        attr("point_in_time_recovery", Type::Bool)
            .default(Default::Bool(false))
            .keep_live(),
        attr(
            "stream_view_type",
            Type::Enum(&["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]),
        ),
        attr("deletion_protection", Type::Bool)
            .default(Default::Bool(false))
            .keep_live(),
        attr("tags", TAGS),
    ],
    computed: &["arn", "stream_arn"],
    examples: &[
        ("arn", "arn:aws:dynamodb:us-east-1:123456789012:table/table"),
        (
            "stream_arn",
            "arn:aws:dynamodb:us-east-1:123456789012:table/table/stream/2024-01-01T00:00:00.000",
        ),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_table),
};

/// DynamoDB's rules across a table's attributes: every key attribute has a type and no
/// other attribute does; capacities go with PROVISIONED, and only with it.
fn check_table(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let keys: Vec<(&str, &str)> = [("hash_key", "hash key"), ("range_key", "range key")]
        .into_iter()
        .filter_map(|(at, what)| known_str(attrs, at).map(|name| (name, what)))
        .collect();
    if let (Some(hash), Some(range)) = (known_str(attrs, "hash_key"), known_str(attrs, "range_key"))
        && hash == range
    {
        out.push(Problem::new(
            Path::attr("range_key"),
            format!("`{range}` is both the hash key and the range key"),
            "the range key must be another attribute",
        ));
    }
    if let Some(Value::Map(types)) = attrs.get("attributes")
        && attrs.get("hash_key").is_none_or(Value::is_known)
        && attrs.get("range_key").is_none_or(Value::is_known)
    {
        for (name, what) in &keys {
            if !types.contains_key(*name) {
                out.push(
                    Problem::new(
                        Path::attr("attributes"),
                        format!("the {what} `{name}` has no type in `attributes`"),
                        format!("`{name}` is missing"),
                    )
                    .help(format!("add `{name} = \"S\"` (or \"N\", \"B\")")),
                );
            }
        }
        for name in types.keys() {
            if !keys.iter().any(|(key, _)| key == name) {
                out.push(
                    Problem::new(
                        Path::attr("attributes").key(name),
                        format!("`{name}` is not a key attribute"),
                        "DynamoDB takes the types of the key attributes only",
                    )
                    .help("a table's other attributes are schemaless: remove it"),
                );
            }
        }
    }
    let mode = match attrs.get("billing_mode") {
        None => Some("PROVISIONED"),
        Some(v) => v.as_str(),
    };
    for capacity in ["read_capacity", "write_capacity"] {
        let set = attrs.contains_key(capacity);
        match mode {
            Some("PROVISIONED") if !set => out.push(
                Problem::new(
                    Path::attr(capacity),
                    format!("a PROVISIONED table needs `{capacity}`"),
                    "missing",
                )
                .help("set `read_capacity` and `write_capacity`, or `billing_mode = \"PAY_PER_REQUEST\"`"),
            ),
            Some("PAY_PER_REQUEST") if set => out.push(
                Problem::new(
                    Path::attr(capacity),
                    format!("`{capacity}` is set on a PAY_PER_REQUEST table"),
                    "only PROVISIONED tables take capacities",
                )
                .help("remove it, or set `billing_mode = \"PROVISIONED\"`"),
            ),
            _ => {}
        }
    }
    out
}

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ProvisionedThroughput, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, find_by_name, not_ours_here, omitted_means_none, opt_bool, opt_i64, opt_str,
    own_lost_create, req_str, sync_tags, tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::retry::{Backoff, retry_send, wait_until};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct DynamodbTable;

/// How a table's status is polled while it changes: half a second after the first look,
/// doubling to every 5 s, for up to 15 minutes (a table is usually ACTIVE in seconds; a
/// billing mode change can take minutes).
const STATUS_POLL: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(5),
    budget: Duration::from_secs(900),
};

fn built(operation: &'static str) -> impl Fn(BuildError) -> AwsError {
    move |e| AwsError::new(operation, e.to_string())
}

/// DescribeTable's answer, `None` when there is no such table.
async fn describe(aws: &Clients, name: &str) -> Result<Option<TableDescription>, AwsError> {
    let out = aws
        .dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(sdk("DescribeTable"))
        .or_gone()?;
    Ok(out.and_then(|o| o.table))
}

/// Waits until the table is ACTIVE (after a create or update); an error after
/// [`STATUS_POLL`]'s budget, or when the table is gone.
async fn wait_active(aws: &Clients, name: &str) -> Result<(), AwsError> {
    let active = wait_until(STATUS_POLL, || async {
        match describe(aws, name).await? {
            None => Err(AwsError::new(
                "DescribeTable",
                format!("table `{name}` disappeared while strata waited for it to be ACTIVE"),
            )),
            Some(t) => Ok((t.table_status() == Some(&TableStatus::Active)).then_some(())),
        }
    })
    .await?;
    active.ok_or_else(|| {
        AwsError::new(
            "DescribeTable",
            format!("table `{name}` did not become ACTIVE in 15 minutes"),
        )
    })
}

/// Waits until the table is gone (after DeleteTable).
async fn wait_gone(aws: &Clients, name: &str) -> Result<(), AwsError> {
    let gone = wait_until(STATUS_POLL, || async {
        Ok(describe(aws, name).await?.is_none().then_some(()))
    })
    .await?;
    gone.ok_or_else(|| {
        AwsError::new(
            "DescribeTable",
            format!("table `{name}` was still being deleted after 15 minutes"),
        )
    })
}

/// A table named by its name or its ARN, as its name.
fn table_name_of(given: &str) -> &str {
    match arn::parse(given) {
        Some(parsed) if parsed.service == "dynamodb" => {
            let resource = parsed
                .resource
                .strip_prefix("table/")
                .unwrap_or(parsed.resource);
            resource.split('/').next().unwrap_or(resource)
        }
        _ => given,
    }
}

fn table_arn(at: &Place, name: &str) -> String {
    arn::dynamodb_table(&at.partition, &at.region, &at.account, name)
}

fn throughput(desired: &Attrs) -> Result<Option<ProvisionedThroughput>, AwsError> {
    if opt_str(desired, "billing_mode") == Some("PAY_PER_REQUEST") {
        return Ok(None);
    }
    let (Some(read), Some(write)) = (
        opt_i64(desired, "read_capacity"),
        opt_i64(desired, "write_capacity"),
    ) else {
        return Ok(None);
    };
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .map(Some)
        .map_err(built("CreateTable"))
}

fn stream(view: Option<&str>) -> Result<StreamSpecification, AwsError> {
    StreamSpecification::builder()
        .stream_enabled(view.is_some())
        .set_stream_view_type(view.map(StreamViewType::from))
        .build()
        .map_err(built("UpdateTable"))
}

/// The key schema and attribute definitions of the stack's table.
fn key_schema(
    desired: &Attrs,
) -> Result<(Vec<KeySchemaElement>, Vec<AttributeDefinition>), AwsError> {
    let mut keys = Vec::new();
    let mut definitions = Vec::new();
    let types = desired.get("attributes").and_then(Value::as_map);
    for (at, key_type) in [("hash_key", KeyType::Hash), ("range_key", KeyType::Range)] {
        let Some(name) = opt_str(desired, at) else {
            continue;
        };
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(built("CreateTable"))?,
        );
        let ty = types
            .and_then(|t| t.get(name))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AwsError::new("CreateTable", format!("key attribute `{name}` has no type"))
            })?;
        definitions.push(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(ty))
                .build()
                .map_err(built("CreateTable"))?,
        );
    }
    Ok((keys, definitions))
}

fn table_tags(desired: &Attrs) -> Result<Vec<Tag>, AwsError> {
    tags(desired)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(built("TagResource"))
        })
        .collect()
}

/// What DescribeTable says, in schema terms.
fn read_description(table: &TableDescription, attrs: &mut Attrs) {
    let mut types = IndexMap::new();
    for key in table.key_schema() {
        let at = match key.key_type() {
            KeyType::Hash => "hash_key",
            _ => "range_key",
        };
        attrs.insert(at.into(), Value::Str(key.attribute_name().to_string()));
        if let Some(definition) = table
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == key.attribute_name())
        {
            types.insert(
                key.attribute_name().to_string(),
                Value::Str(definition.attribute_type().as_str().to_string()),
            );
        }
    }
    types.sort_keys();
    attrs.insert("attributes".into(), Value::Map(types));
    let mode = table
        .billing_mode_summary()
        .and_then(|s| s.billing_mode())
        .map_or("PROVISIONED", BillingMode::as_str);
    attrs.insert("billing_mode".into(), Value::Str(mode.to_string()));
    if mode == "PROVISIONED"
        && let Some(pt) = table.provisioned_throughput()
    {
        for (at, units) in [
            ("read_capacity", pt.read_capacity_units()),
            ("write_capacity", pt.write_capacity_units()),
        ] {
            if let Some(units) = units {
                attrs.insert(at.into(), Value::Int(units));
            }
        }
    }
    if let Some(spec) = table.stream_specification().filter(|s| s.stream_enabled()) {
        if let Some(view) = spec.stream_view_type() {
            attrs.insert("stream_view_type".into(), Value::Str(view.as_str().into()));
        }
        if let Some(arn) = table.latest_stream_arn() {
            attrs.insert("stream_arn".into(), Value::Str(arn.to_string()));
        }
    }
    attrs.insert(
        "deletion_protection".into(),
        Value::Bool(table.deletion_protection_enabled().unwrap_or(false)),
    );
    if let Some(arn) = table.table_arn() {
        attrs.insert("arn".into(), Value::Str(arn.to_string()));
    }
}

/// The attribute TTL is on for (also while it is being switched on), if any.
async fn ttl_attribute(aws: &Clients, name: &str) -> Result<Option<Option<String>>, AwsError> {
    let Some(out) = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(sdk("DescribeTimeToLive"))
        .or_gone()?
    else {
        return Ok(None);
    };
    let on = out.time_to_live_description().and_then(|d| {
        matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
        .then(|| d.attribute_name().map(str::to_string))
        .flatten()
    });
    Ok(Some(on))
}

async fn set_ttl(aws: &Clients, name: &str, attribute: &str, on: bool) -> Result<(), AwsError> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(on)
        .build()
        .map_err(built("UpdateTimeToLive"))?;
    aws.dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(sdk("UpdateTimeToLive"))?;
    Ok(())
}

/// Right after CreateTable, UpdateContinuousBackups may answer that backups are not
/// available yet (they are being switched on for the new table).
async fn set_recovery(aws: &Clients, name: &str, on: bool) -> Result<(), AwsError> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(on)
        .build()
        .map_err(built("UpdateContinuousBackups"))?;
    retry_send(
        Backoff::PROPAGATION,
        |e| e.code_is(&["ContinuousBackupsUnavailableException"]),
        "UpdateContinuousBackups",
        || {
            aws.dynamodb
                .update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(spec.clone())
                .send()
        },
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Resource for DynamodbTable {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_table = [table_arn(at, &name_or_any(desired, "name"))];
        vec![
            allow(
                Step::Read,
                &[
                    "dynamodb:DescribeTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:ListTagsOfResource",
                ],
                &on_table,
            ),
            allow(
                Step::Write,
                &[
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                &on_table,
            ),
            allow(
                Step::Delete,
                &["dynamodb:DeleteTable", "dynamodb:DescribeTable"],
                &on_table,
            ),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(table_arn(at, name)),
            _ => Value::Unknown,
        }
    }

    /// Left out, TTL and the stream are off (what a table has without them): removing
    /// them from the stack switches them off.
    fn prepare(&self, desired: &mut Attrs) {
        omitted_means_none(desired, &["ttl_attribute", "stream_view_type"]);
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
        Ok(Some(table_name_of(given).to_string()))
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
        let Some(table) = describe(aws, id).await? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(id.to_string()));
        read_description(&table, &mut attrs);
        let ddb = &aws.dynamodb;
        let (ttl, backups) = tokio::join!(
            ttl_attribute(aws, id),
            ddb.describe_continuous_backups().table_name(id).send(),
        );
        let Some(ttl) = ttl? else {
            return Ok(None);
        };
        if let Some(attribute) = ttl {
            attrs.insert("ttl_attribute".into(), Value::Str(attribute));
        }
        let Some(backups) = backups
            .map_err(sdk("DescribeContinuousBackups"))
            .or_gone()?
        else {
            return Ok(None);
        };
        let recovery = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            .is_some_and(|s| s.as_str() == "ENABLED");
        attrs.insert("point_in_time_recovery".into(), Value::Bool(recovery));
        let mut pairs = Vec::new();
        if let Some(arn) = table.table_arn() {
            let mut token = None;
            loop {
                let page = ddb
                    .list_tags_of_resource()
                    .resource_arn(arn)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(sdk("ListTagsOfResource"))?;
                pairs.extend(page.tags().iter().map(|t| (t.key.clone(), t.value.clone())));
                token = page.next_token;
                if token.is_none() {
                    break;
                }
            }
        }
        attrs.insert(
            "tags".into(),
            tags_value(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // CreateTable answers ResourceInUseException for a name in use, and also to the
        // SDK's own retry of a create whose reply was lost. So existence is asked first: a
        // table there now is not ours. Between this look and the create, only someone
        // creating the same name at the same moment could slip in (two deploys of one stack
        // racing), and the window is one round trip. So an "in use" after a "not found" is
        // taken as our own create whose reply was lost.
        if describe(aws, name).await?.is_some() {
            return Err(not_ours_here(&SCHEMA, aws, name).await);
        }
        let (keys, definitions) = key_schema(desired)?;
        let tag_list = table_tags(desired)?;
        let view = opt_str(desired, "stream_view_type");
        let made = aws
            .dynamodb
            .create_table()
            .table_name(name)
            .set_key_schema(Some(keys))
            .set_attribute_definitions(Some(definitions))
            .billing_mode(BillingMode::from(
                opt_str(desired, "billing_mode").unwrap_or("PROVISIONED"),
            ))
            .set_provisioned_throughput(throughput(desired)?)
            .set_stream_specification(view.map(|v| stream(Some(v))).transpose()?)
            .set_deletion_protection_enabled(opt_bool(desired, "deletion_protection"))
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(sdk("CreateTable"));
        match made {
            Ok(_) => {}
            Err(e) if e.code_is(&["ResourceInUseException"]) => {
                let what = format!("table `{name}`");
                own_lost_create("CreateTable", &what, || describe(aws, name)).await?;
            }
            Err(e) => return Err(e),
        }
        created(name);
        wait_active(aws, name).await?;
        if let Some(attribute) = opt_str(desired, "ttl_attribute") {
            set_ttl(aws, name, attribute, true).await?;
        }
        if opt_bool(desired, "point_in_time_recovery") == Some(true) {
            set_recovery(aws, name, true).await?;
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
        let ddb = &aws.dynamodb;
        let differs = |name: &str| changed(&SCHEMA, name, desired, live);
        // One kind of change per UpdateTable, each once the table is ACTIVE again.
        if differs("billing_mode") || differs("read_capacity") || differs("write_capacity") {
            wait_active(aws, id).await?;
            ddb.update_table()
                .table_name(id)
                .billing_mode(BillingMode::from(
                    opt_str(desired, "billing_mode").unwrap_or("PROVISIONED"),
                ))
                .set_provisioned_throughput(throughput(desired)?)
                .send()
                .await
                .map_err(sdk("UpdateTable"))?;
        }
        if differs("stream_view_type") {
            // A stream's view type cannot change while it is on: off first, then on.
            if opt_str(live, "stream_view_type").is_some() {
                wait_active(aws, id).await?;
                ddb.update_table()
                    .table_name(id)
                    .stream_specification(stream(None)?)
                    .send()
                    .await
                    .map_err(sdk("UpdateTable"))?;
            }
            if let Some(view) = opt_str(desired, "stream_view_type") {
                wait_active(aws, id).await?;
                ddb.update_table()
                    .table_name(id)
                    .stream_specification(stream(Some(view))?)
                    .send()
                    .await
                    .map_err(sdk("UpdateTable"))?;
            }
        }
        if differs("deletion_protection")
            && let Some(on) = opt_bool(desired, "deletion_protection")
        {
            wait_active(aws, id).await?;
            ddb.update_table()
                .table_name(id)
                .deletion_protection_enabled(on)
                .send()
                .await
                .map_err(sdk("UpdateTable"))?;
        }
        wait_active(aws, id).await?;
        if differs("ttl_attribute") {
            // TTL is on for one attribute at most: off for the old one, then on for the new.
            if let Some(old) = opt_str(live, "ttl_attribute") {
                set_ttl(aws, id, old, false).await?;
            }
            if let Some(new) = opt_str(desired, "ttl_attribute") {
                set_ttl(aws, id, new, true).await?;
            }
        }
        if differs("point_in_time_recovery")
            && let Some(on) = opt_bool(desired, "point_in_time_recovery")
        {
            set_recovery(aws, id, on).await?;
        }
        let arn = match opt_str(live, "arn") {
            Some(arn) => arn.to_string(),
            None => {
                let identity = aws.identity().await?;
                let at = Place {
                    partition: identity.partition.clone(),
                    region: aws.region.clone(),
                    account: identity.account_id.clone(),
                };
                table_arn(&at, id)
            }
        };
        let arn = arn.as_str();
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = ddb
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |new| async move {
                let list = new
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(built("TagResource"))?;
                let request = ddb.tag_resource().resource_arn(arn).set_tags(Some(list));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let deleted = aws
            .dynamodb
            .delete_table()
            .table_name(id)
            .send()
            .await
            .map_err(sdk("DeleteTable"));
        match deleted {
            Err(e) if e.message.contains("protected against deletion") => {
                return Err(AwsError::new(
                    "DeleteTable",
                    format!(
                        "table `{id}` has deletion protection: set `deletion_protection = false` in the stack and apply before destroying it ({})",
                        e.message
                    ),
                ));
            }
            other => other.ok_if_gone()?,
        }
        wait_gone(aws, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn types(pairs: &[(&str, &str)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), s(v))).collect())
    }

    fn paths(problems: &[Problem]) -> Vec<Path> {
        problems.iter().map(|p| p.at.clone()).collect()
    }

    #[test]
    fn key_attributes_and_their_types_agree() {
        let good = attrs(&[
            ("hash_key", s("pk")),
            ("range_key", s("sk")),
            ("attributes", types(&[("pk", "S"), ("sk", "N")])),
            ("billing_mode", s("PAY_PER_REQUEST")),
        ]);
        assert_eq!(check_table(&good), []);
        let missing = attrs(&[
            ("hash_key", s("pk")),
            ("range_key", s("sk")),
            ("attributes", types(&[("pk", "S"), ("other", "N")])),
            ("billing_mode", s("PAY_PER_REQUEST")),
        ]);
        assert_eq!(
            paths(&check_table(&missing)),
            [
                Path::attr("attributes"),
                Path::attr("attributes").key("other")
            ]
        );
        let same = attrs(&[
            ("hash_key", s("pk")),
            ("range_key", s("pk")),
            ("attributes", types(&[("pk", "S")])),
            ("billing_mode", s("PAY_PER_REQUEST")),
        ]);
        assert_eq!(paths(&check_table(&same)), [Path::attr("range_key")]);
    }

    #[test]
    fn capacities_go_with_provisioned_billing_only() {
        let base = [("hash_key", s("pk")), ("attributes", types(&[("pk", "S")]))];
        let provisioned = attrs(&base);
        assert_eq!(
            paths(&check_table(&provisioned)),
            [Path::attr("read_capacity"), Path::attr("write_capacity")]
        );
        let mut on_demand = attrs(&base);
        on_demand.insert("billing_mode".into(), s("PAY_PER_REQUEST"));
        on_demand.insert("read_capacity".into(), Value::Int(5));
        assert_eq!(
            paths(&check_table(&on_demand)),
            [Path::attr("read_capacity")]
        );
        let mut both = attrs(&base);
        both.insert("read_capacity".into(), Value::Int(5));
        both.insert("write_capacity".into(), Value::Int(5));
        assert_eq!(check_table(&both), []);
    }

    #[test]
    fn names_follow_dynamodbs_rules_and_arns_give_names() {
        for good in ["abc", "Orders_2024.v-1", &"t".repeat(255)] {
            assert_eq!(TABLE_NAME.problem(good), None, "{good}");
        }
        for bad in ["ab", "has space", "a/b", &"t".repeat(256)] {
            assert!(TABLE_NAME.problem(bad).is_some(), "{bad}");
        }
        for given in [
            "orders",
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000",
        ] {
            assert_eq!(table_name_of(given), "orders", "{given}");
        }
    }
}
