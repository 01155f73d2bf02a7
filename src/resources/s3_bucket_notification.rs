//! `s3.bucket_notification`: queue notifications of a bucket. The bucket holds one
//! notification configuration; this resource owns only the entries it wrote (by Id).

use crate::schema::{Attribute, Schema, Type, attr};

pub const EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:Replication:*",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
];

pub const QUEUE_CONFIGURATION: &[Attribute] = &[
    attr("id", Type::String(None)),
    attr("queue_arn", Type::String(None)).required(),
    attr(
        "events",
        Type::List {
            item: &Type::Enum(EVENTS),
            min: 1,
        },
    )
    .required(),
    attr("prefix", Type::String(None)),
    attr("suffix", Type::String(None)),
];

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_notification",
    description: "queue notifications of an S3 bucket",
    attributes: &[
        attr("bucket", Type::String(None)).required().force_new(),
        attr(
            "queue",
            Type::List {
                item: &Type::Object(QUEUE_CONFIGURATION),
                min: 1,
            },
        )
        .required(),
    ],
    computed: &[],
};

use async_trait::async_trait;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, req_str};
use super::{Created, Resource};
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct S3BucketNotification;

/// Ids of the queue configurations this resource owns.
fn owned_ids(attrs: &Attrs) -> Vec<String> {
    attrs
        .get("queue")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(|q| q.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn read_queue_configuration(q: &QueueConfiguration) -> Value {
    let mut map = IndexMap::new();
    map.insert(
        "id".to_string(),
        Value::Str(q.id().unwrap_or_default().to_string()),
    );
    map.insert("queue_arn".into(), Value::Str(q.queue_arn().to_string()));
    map.insert(
        "events".into(),
        Value::List(
            q.events()
                .iter()
                .map(|e| Value::Str(e.as_str().to_string()))
                .collect(),
        ),
    );
    let rules = q
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules())
        .unwrap_or(&[]);
    for rule in rules {
        // AWS answers `Prefix`/`Suffix`, some endpoints `prefix`/`suffix`.
        let name = rule
            .name()
            .map(|n| n.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        if name == "prefix" || name == "suffix" {
            map.insert(
                name,
                Value::Str(rule.value().unwrap_or_default().to_string()),
            );
        }
    }
    Value::Map(map)
}

fn build_queue_configuration(q: &Value) -> Result<QueueConfiguration, AwsError> {
    let field = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    let mut rules = Vec::new();
    for (key, name) in [
        ("prefix", FilterRuleName::Prefix),
        ("suffix", FilterRuleName::Suffix),
    ] {
        if let Some(value) = field(key) {
            rules.push(FilterRule::builder().name(name).value(value).build());
        }
    }
    let filter = (!rules.is_empty()).then(|| {
        NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
            .build()
    });
    let events = q
        .get("events")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .map(Event::from)
        .collect();
    QueueConfiguration::builder()
        .set_id(field("id"))
        .set_queue_arn(field("queue_arn"))
        .set_events(Some(events))
        .set_filter(filter)
        .build()
        .map_err(|e| AwsError::new("PutBucketNotificationConfiguration", e.to_string()))
}

impl S3BucketNotification {
    /// Read-modify-write: keeps every configuration on the bucket that is not ours, drops
    /// ours (`remove`), adds `add`.
    async fn write(
        &self,
        aws: &Clients,
        bucket: &str,
        remove: &[String],
        add: &[Value],
    ) -> Result<(), AwsError> {
        let current = aws
            .s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(sdk("GetBucketNotificationConfiguration"))?;
        let mut queues: Vec<QueueConfiguration> = current
            .queue_configurations()
            .iter()
            .filter(|q| !q.id().is_some_and(|id| remove.iter().any(|r| r == id)))
            .cloned()
            .collect();
        for q in add {
            queues.push(build_queue_configuration(q)?);
        }
        let config = NotificationConfiguration::builder()
            .set_queue_configurations(Some(queues))
            .set_topic_configurations(Some(current.topic_configurations().to_vec()))
            .set_lambda_function_configurations(Some(
                current.lambda_function_configurations().to_vec(),
            ))
            .set_event_bridge_configuration(current.event_bridge_configuration().cloned())
            .build();
        // Right after a queue policy is written, S3 may not yet be allowed to send to it.
        let not_allowed_yet = |e: &AwsError| {
            e.message_contains("Unable to validate the following destination configurations")
        };
        retry_send(
            Backoff::CONSISTENCY,
            not_allowed_yet,
            "PutBucketNotificationConfiguration",
            || {
                aws.s3
                    .put_bucket_notification_configuration()
                    .bucket(bucket)
                    .notification_configuration(config.clone())
                    .send()
            },
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Resource for S3BucketNotification {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_bucket = [super::arn::bucket(
            &at.partition,
            &name_or_any(desired, "bucket"),
        )];
        // Every write reads the configuration first, to keep what others configured.
        let write = ["s3:GetBucketNotification", "s3:PutBucketNotification"];
        vec![
            allow(Step::Read, &["s3:GetBucketNotification"], &on_bucket),
            allow(Step::Write, &write, &on_bucket),
            allow(Step::Delete, &write, &on_bucket),
        ]
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(Some(super::arn::bucket_name_of(given).to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("bucket".to_string(), Value::Str(id.to_string()))])
    }

    /// A configuration without an `id` gets one derived from what it says, so the same
    /// stack always owns the same entries.
    fn prepare(&self, desired: &mut Attrs) {
        let Some(Value::List(queues)) = desired.get_mut("queue") else {
            return;
        };
        for q in queues.iter_mut() {
            let Value::Map(map) = q else { continue };
            if map.contains_key("id") || !q.is_known() {
                continue;
            }
            let digest = Sha256::digest(q.to_json().to_string().as_bytes());
            let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            if let Value::Map(map) = q {
                map.insert("id".into(), Value::Str(format!("strata-{hex}")));
            }
        }
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(out) = aws
            .s3
            .get_bucket_notification_configuration()
            .bucket(id)
            .send()
            .await
            .map_err(sdk("GetBucketNotificationConfiguration"))
            .or_gone()?
        else {
            return Ok(None);
        };
        let owned = owned_ids(prior);
        // Ours, in the order the state has them.
        let mut ours: Vec<Value> = Vec::new();
        for owned_id in &owned {
            if let Some(q) = out
                .queue_configurations()
                .iter()
                .find(|q| q.id() == Some(owned_id.as_str()))
            {
                ours.push(read_queue_configuration(q));
            }
        }
        let mut attrs = Attrs::new();
        attrs.insert("bucket".into(), Value::Str(id.into()));
        attrs.insert("queue".into(), Value::List(ours));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let bucket = req_str(desired, "bucket")?;
        let queues = desired.get("queue").and_then(Value::as_list).unwrap_or(&[]);
        self.write(aws, bucket, &owned_ids(desired), queues).await?;
        created(bucket);
        Ok(bucket.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let mut remove = owned_ids(live);
        remove.extend(owned_ids(desired));
        let queues = desired.get("queue").and_then(Value::as_list).unwrap_or(&[]);
        self.write(aws, id, &remove, queues).await
    }

    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError> {
        self.write(aws, id, &owned_ids(prior), &[])
            .await
            .ok_if_gone()
    }
}
