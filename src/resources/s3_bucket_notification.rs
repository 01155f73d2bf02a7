//! `s3.bucket_notification`: queue notifications of a bucket. The bucket holds one
//! notification configuration; this resource owns only the entries it wrote (by Id).

use crate::schema::rules::{BUCKET_REFERENCE, QUEUE_ARN, duplicates, items, strings};
use crate::schema::{Attribute, Identity, Path, Problem, Schema, Text, Type, attr};

/// The event types S3 notifies of (the `Event` enum of S3's API reference).
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
    "s3:ObjectAnnotation:*",
    "s3:ObjectAnnotation:Put",
    "s3:ObjectAnnotation:Delete",
    "s3:ObjectRetention:Put",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
];

/// S3 sends event notifications to standard queues only.
const NOTIFIED_QUEUE: Text = QUEUE_ARN.check(standard_queue);

fn standard_queue(arn: &str) -> Result<(), String> {
    if arn.ends_with(".fifo") {
        Err("S3 cannot send event notifications to a FIFO queue".into())
    } else {
        Ok(())
    }
}

/// A key filter: object keys are at most 1,024 bytes.
const KEY_FILTER: Type = Type::String(Text::len(0, 1024));

pub const QUEUE_CONFIGURATION: &[Attribute] = &[
    attr("id", Type::String(Text::len(1, usize::MAX))),
    attr("queue_arn", Type::String(NOTIFIED_QUEUE)).required(),
    attr(
        "events",
        Type::List {
            item: &Type::Enum(EVENTS),
            min: 1,
            max: usize::MAX,
            unique: true,
        },
    )
    .required(),
    attr("prefix", KEY_FILTER),
    attr("suffix", KEY_FILTER),
];

/// What the reference page (docs/resources/s3.bucket_notification.md) says beyond the attribute table.
const NOTES: &str = "\
Queue configurations: each configuration is a table:

- `id` (string, not empty, unique among the configurations). If omitted, strata derives a
  stable `strata-<hash>` from the entry's content.
- `queue_arn` (string, required): the ARN of a standard queue (S3 does not notify FIFO
  queues).
- `events` (array of at least one, each once, of `s3:ObjectCreated:*`,
  `s3:ObjectCreated:Put`, `s3:ObjectCreated:Post`, `s3:ObjectCreated:Copy`,
  `s3:ObjectCreated:CompleteMultipartUpload`, `s3:ObjectRemoved:*`,
  `s3:ObjectRemoved:Delete`, `s3:ObjectRemoved:DeleteMarkerCreated`, `s3:ObjectRestore:*`,
  `s3:ObjectRestore:Post`, `s3:ObjectRestore:Completed`, `s3:ObjectRestore:Delete`,
  `s3:ObjectTagging:*`, `s3:ObjectTagging:Put`, `s3:ObjectTagging:Delete`,
  `s3:ObjectAcl:Put`, `s3:ObjectAnnotation:*`, `s3:ObjectAnnotation:Put`,
  `s3:ObjectAnnotation:Delete`, `s3:ObjectRetention:Put`, `s3:Replication:*`,
  `s3:Replication:OperationFailedReplication`, `s3:Replication:OperationNotTracked`,
  `s3:Replication:OperationMissedThreshold`,
  `s3:Replication:OperationReplicatedAfterThreshold`, `s3:LifecycleExpiration:*`,
  `s3:LifecycleExpiration:Delete`, `s3:LifecycleExpiration:DeleteMarkerCreated`,
  `s3:LifecycleTransition`, `s3:IntelligentTiering`, `s3:ReducedRedundancyLostObject`).
- `prefix`, `suffix` (strings of up to 1,024 characters, key filters).

Rules across attributes: two configurations must not both match one event, that is share
an event type (`s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`) while one's prefix
starts the other's and one's suffix ends the other's (an empty or absent filter matches
every key).

S3 keeps one notification configuration per bucket. This resource **owns only its own
queue configurations, identified by `id`**. Every write is a read-modify-write. strata
keeps the other queue configurations on the bucket (those with other ids), as well as all
topic, Lambda and EventBridge configurations, and replaces only its own entries. Deleting
the resource removes only its entries. A plan shows only the entries it owns. Right after
a queue policy is written, S3 may not yet accept the queue as a destination; strata
retries `Unable to validate the following destination configurations` for up to a minute.
Put the queue policy in `depends_on`, as `stacks/producer-consumer.toml` does.";

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_notification",
    description: "queue notifications of an S3 bucket",
    import_id: "the bucket name",
    notes: NOTES,
    attributes: &[
        attr("bucket", Type::String(BUCKET_REFERENCE))
            .required()
            .force_new(),
        attr(
            "queue",
            Type::List {
                item: &Type::Object(QUEUE_CONFIGURATION),
                min: 1,
                max: usize::MAX,
                unique: false,
            },
        )
        .required(),
    ],
    computed: &[],
    examples: &[],
    identity: Identity::NONE,
    check: Some(check_notifications),
};

/// Whether two event types can name the same event (`s3:ObjectCreated:*` covers
/// `s3:ObjectCreated:Put`).
fn events_overlap(a: &str, b: &str) -> bool {
    let family = |e: &str| {
        e.rsplit_once(':')
            .map_or(e.to_string(), |(f, _)| f.to_string())
    };
    a == b || (family(a) == family(b) && (a.ends_with(":*") || b.ends_with(":*")))
}

/// S3 refuses ids used twice, and two configurations that could both match one event:
/// an event type in common, and key filters that can match the same key (one prefix
/// starts the other, one suffix ends the other; an empty filter matches every key).
fn check_notifications(attrs: &Attrs) -> Vec<Problem> {
    let queues = items(attrs, "queue");
    let mut out = duplicates("queue", queues, "id", str::to_string);
    let filter = |q: &Value, name: &str| -> Option<String> {
        match q.get(name) {
            None => Some(String::new()),
            Some(v) => v.as_str().map(str::to_string),
        }
    };
    for (j, b) in queues.iter().enumerate() {
        for (i, a) in queues.iter().enumerate().take(j) {
            let (Some(pa), Some(pb), Some(sa), Some(sb)) = (
                filter(a, "prefix"),
                filter(b, "prefix"),
                filter(a, "suffix"),
                filter(b, "suffix"),
            ) else {
                continue;
            };
            let prefixes = pa.starts_with(&pb) || pb.starts_with(&pa);
            let suffixes = sa.ends_with(&sb) || sb.ends_with(&sa);
            let events_a = strings(a.get("events"), Path::default());
            let shared = strings(b.get("events"), Path::attr("queue").index(j).key("events"))
                .into_iter()
                .find(|(_, e)| events_a.iter().any(|(_, other)| events_overlap(e, other)));
            if let (true, true, Some((at, event))) = (prefixes, suffixes, shared) {
                out.push(
                    Problem::new(
                        at,
                        "two queue configurations overlap",
                        format!("`{event}` is also sent by `queue[{i}]` for the same keys"),
                    )
                    .help("S3 sends each event to one destination: give the configurations different events, or prefixes and suffixes that no key matches both"),
                );
            }
        }
    }
    out
}

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
