//! `sqs.queue`: a standard or FIFO queue, its attributes, redrive policy and tags.

use crate::schema::rules::{KMS_KEY, QUEUE_ARN, TAGS, bool_or, fifo_problems};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

pub const REDRIVE_POLICY: &[Attribute] = &[
    attr("dead_letter_queue", Type::String(QUEUE_ARN)).required(),
    attr("max_receive_count", Type::Int { min: 1, max: 1000 }).required(),
];

/// SQS queue names: 1-80 characters of letters, digits, hyphens and underscores; a FIFO
/// queue's name ends in `.fifo` (counted in the 80).
pub const QUEUE_NAME: Text = Text::len(1, 80).pattern(
    r"^[A-Za-z0-9_-]+(\.fifo)?$",
    "letters, digits, `-` and `_` (and `.fifo` at the end of a FIFO queue's name)",
);

/// What the reference page (docs/resources/sqs.queue.md) says beyond the attribute table.
const NOTES: &str = "\
Rules across attributes: a name ends in `.fifo` exactly when `fifo_queue = true`;
`content_based_deduplication` is set only on a FIFO queue; a FIFO queue's dead-letter
queue is a FIFO queue and a standard queue's a standard queue; `sqs_managed_sse_enabled =
true` and `kms_master_key_id` exclude each other.

SQS keeps a queue name for 60 s after the queue is deleted, so a
create that hits `QueueDeletedRecently` is retried for up to 75 s.

A new queue left without `maximum_message_size` gets SQS's own default, which has grown
with SQS's largest message.";

pub const SCHEMA: Schema = Schema {
    type_name: "sqs.queue",
    description: "an SQS queue",
    import_id: "the queue URL",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(QUEUE_NAME))
            .required()
            .force_new(),
        attr("fifo_queue", Type::Bool)
            .force_new()
            .default(Default::Bool(false)),
        attr("content_based_deduplication", Type::Bool),
        attr("delay_seconds", Type::Int { min: 0, max: 900 }).default(Default::Int(0)),
        attr(
            "maximum_message_size",
            Type::Int {
                min: 1024,
                max: 1_048_576,
            },
        )
        .keep_live(),
        attr(
            "message_retention_seconds",
            Type::Int {
                min: 60,
                max: 1_209_600,
            },
        )
        .default(Default::Int(345_600))
        .keep_live(),
        attr("receive_wait_time_seconds", Type::Int { min: 0, max: 20 }).default(Default::Int(0)),
        attr(
            "visibility_timeout_seconds",
            Type::Int {
                min: 0,
                max: 43_200,
            },
        )
        .default(Default::Int(30)),
        attr("redrive_policy", Type::Object(REDRIVE_POLICY)),
        attr("sqs_managed_sse_enabled", Type::Bool),
        attr("kms_master_key_id", Type::String(KMS_KEY)),
        attr("tags", TAGS),
    ],
    computed: &["arn", "url"],
    examples: &[
        ("arn", "arn:aws:sqs:us-east-1:123456789012:queue"),
        (
            "url",
            "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
        ),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_queue),
};

/// The rules SQS applies across a queue's attributes.
fn check_queue(attrs: &Attrs) -> Vec<Problem> {
    let mut out = fifo_problems(attrs, "queue", "fifo_queue");
    let fifo = bool_or(attrs, "fifo_queue", false);
    let dlq = attrs
        .get("redrive_policy")
        .and_then(|r| r.get("dead_letter_queue"))
        .and_then(|v| v.as_str())
        .filter(|arn| QUEUE_ARN.problem(arn).is_none());
    if let (Some(fifo), Some(dlq)) = (fifo, dlq)
        && dlq.ends_with(".fifo") != fifo
    {
        let (kind, other) = if fifo {
            ("a FIFO queue", "a standard queue")
        } else {
            ("a standard queue", "a FIFO queue")
        };
        out.push(
            Problem::new(
                Path::attr("redrive_policy").key("dead_letter_queue"),
                format!("the dead-letter queue of {kind} must be {kind}"),
                format!("the ARN of {other}"),
            )
            .help("a FIFO queue's dead-letter queue is a FIFO queue (its name ends in `.fifo`); a standard queue's is a standard queue"),
        );
    }
    if attrs
        .get("sqs_managed_sse_enabled")
        .and_then(|v| v.as_bool())
        == Some(true)
        && attrs.contains_key("kms_master_key_id")
    {
        out.push(
            Problem::new(
                Path::attr("sqs_managed_sse_enabled"),
                "a queue is encrypted with SQS-managed keys or with a KMS key, not both",
                "`kms_master_key_id` is set too",
            )
            .help("remove `sqs_managed_sse_enabled`, or remove `kms_master_key_id`"),
        );
    }
    out
}

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Q;
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, req_str, sync_tags, tags, tags_value};
use super::{Created, Resource, Settle, arn};
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SqsQueue;

/// Schema attribute <-> SQS attribute, for the plain integer and boolean ones.
const PLAIN: &[(&str, Q)] = &[
    ("delay_seconds", Q::DelaySeconds),
    ("maximum_message_size", Q::MaximumMessageSize),
    ("message_retention_seconds", Q::MessageRetentionPeriod),
    (
        "receive_wait_time_seconds",
        Q::ReceiveMessageWaitTimeSeconds,
    ),
    ("visibility_timeout_seconds", Q::VisibilityTimeout),
    ("content_based_deduplication", Q::ContentBasedDeduplication),
    ("sqs_managed_sse_enabled", Q::SqsManagedSseEnabled),
    ("kms_master_key_id", Q::KmsMasterKeyId),
];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn redrive_json(v: &Value) -> Option<String> {
    let dlq = v.get("dead_letter_queue")?.as_str()?;
    let max = v.get("max_receive_count")?.as_i64()?;
    Some(serde_json::json!({ "deadLetterTargetArn": dlq, "maxReceiveCount": max }).to_string())
}

/// The SQS attributes to set for the schema attributes that differ (all of them on create).
fn attributes_to_set(desired: &Attrs, live: &Attrs, creating: bool) -> HashMap<Q, String> {
    let mut out = HashMap::new();
    for (name, q) in PLAIN {
        if let Some(v) = desired.get(*name)
            && (creating || changed(&SCHEMA, name, desired, live))
            && let Some(s) = scalar(v)
        {
            out.insert(q.clone(), s);
        }
    }
    if creating && desired.get("fifo_queue").and_then(Value::as_bool) == Some(true) {
        out.insert(Q::FifoQueue, "true".into());
    }
    if (creating || changed(&SCHEMA, "redrive_policy", desired, live))
        && let Some(json) = desired.get("redrive_policy").and_then(redrive_json)
    {
        out.insert(Q::RedrivePolicy, json);
    }
    out
}

/// A queue name lives on in SQS for 60 s after DeleteQueue.
fn deleted_recently(e: &AwsError) -> bool {
    e.code_is(&[
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "QueueDeletedRecently",
    ])
}

/// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
pub fn queue_arn(at: &Place, name: &str) -> String {
    arn::queue(&at.partition, &at.region, &at.account, name)
}

/// The URL of the queue a user names `given`: its URL, its ARN or its name, asked of SQS
/// (GetQueueUrl), so that any form gives the URL SQS itself answers, as CreateQueue does.
/// `None` when there is no such queue in this region.
pub async fn queue_url_of(aws: &Clients, given: &str) -> Result<Option<String>, AwsError> {
    let (account, name) = if let Some(arn) = arn::parse(given) {
        if arn.service != "sqs" || arn.region != aws.region {
            return Ok(None);
        }
        (Some(arn.account), arn.resource)
    } else if let Some((_, rest)) = given.split_once("://") {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        // `sqs.REGION.amazonaws.com`: a queue of another region is not this region's.
        let mut labels = host.split('.');
        if labels.next() == Some("sqs")
            && let Some(region) = labels.next()
            && labels.next().is_some()
            && region != aws.region
        {
            return Ok(None);
        }
        match path.trim_end_matches('/').split_once('/') {
            Some((account, name)) => (Some(account), name),
            None => return Ok(None),
        }
    } else {
        (None, given)
    };
    let owner = match account {
        Some(account) if account != aws.account_id().await? => Some(account.to_string()),
        _ => None,
    };
    let found = aws
        .sqs
        .get_queue_url()
        .queue_name(name)
        .set_queue_owner_aws_account_id(owner)
        .send()
        .await
        .map_err(sdk("GetQueueUrl"))
        .or_gone()?;
    Ok(found.and_then(|out| out.queue_url))
}

#[async_trait]
impl Resource for SqsQueue {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_queue = [queue_arn(at, &name_or_any(desired, "name"))];
        vec![
            allow(
                Step::Read,
                &[
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:ListQueueTags",
                ],
                &on_queue,
            ),
            allow(
                Step::Write,
                &[
                    "sqs:CreateQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:TagQueue",
                    "sqs:UntagQueue",
                ],
                &on_queue,
            ),
            allow(Step::Delete, &["sqs:DeleteQueue"], &on_queue),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        let Some(Value::Str(name)) = desired.get("name") else {
            return Value::Unknown;
        };
        match attribute {
            "arn" => Value::Str(queue_arn(at, name)),
            // Only the account and name parts of a URL name the queue for IAM.
            "url" => Value::Str(format!(
                "https://sqs.{}.{}/{}/{name}",
                at.region,
                crate::aws::dns_suffix(&at.partition),
                at.account
            )),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Attribute changes take up to 60 s to propagate (MessageRetentionPeriod up to 15
    /// min), and reads meanwhile may show the old or the new value: a few agreeing reads in
    /// a row, as the Terraform provider waits for (sqs/wait.go).
    fn settle(&self) -> Settle {
        Settle {
            agreeing_reads: 4,
            budget: std::time::Duration::from_secs(90),
        }
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        queue_url_of(aws, given).await
    }

    fn id_attributes(&self, url: &str) -> Attrs {
        let name = url.rsplit('/').next().unwrap_or(url);
        Attrs::from([
            ("name".to_string(), Value::Str(name.to_string())),
            ("url".to_string(), Value::Str(url.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let name = req_str(desired, "name")?;
        let found = aws
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(sdk("GetQueueUrl"))
            .or_gone()?;
        Ok(found.and_then(|out| out.queue_url))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let (attributes, tag_list) = tokio::join!(
            aws.sqs
                .get_queue_attributes()
                .queue_url(id)
                .attribute_names(Q::All)
                .send(),
            aws.sqs.list_queue_tags().queue_url(id).send(),
        );
        let Some(out) = attributes.map_err(sdk("GetQueueAttributes")).or_gone()? else {
            return Ok(None);
        };
        let raw = out.attributes().cloned().unwrap_or_default();
        let get = |q: Q| raw.get(&q).cloned();
        let mut attrs = Attrs::new();
        attrs.insert(
            "name".into(),
            Value::Str(id.rsplit('/').next().unwrap_or(id).to_string()),
        );
        attrs.insert("url".into(), Value::Str(id.to_string()));
        if let Some(arn) = get(Q::QueueArn) {
            attrs.insert("arn".into(), Value::Str(arn));
        }
        attrs.insert(
            "fifo_queue".into(),
            Value::Bool(get(Q::FifoQueue).as_deref() == Some("true")),
        );
        for (name, q) in PLAIN {
            if let Some(text) = get(q.clone()) {
                let value = match SCHEMA.attribute(name).map(|a| &a.ty) {
                    Some(Type::Int { .. }) => {
                        text.parse().map(Value::Int).unwrap_or(Value::Str(text))
                    }
                    Some(Type::Bool) => Value::Bool(text == "true"),
                    _ => Value::Str(text),
                };
                attrs.insert(name.to_string(), value);
            }
        }
        if let Some(text) = get(Q::RedrivePolicy).filter(|t| !t.is_empty()) {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let max = match &json["maxReceiveCount"] {
                serde_json::Value::String(s) => s.parse().unwrap_or(0),
                v => v.as_i64().unwrap_or(0),
            };
            let mut map = IndexMap::new();
            map.insert(
                "dead_letter_queue".to_string(),
                Value::Str(
                    json["deadLetterTargetArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            );
            map.insert("max_receive_count".into(), Value::Int(max));
            attrs.insert("redrive_policy".into(), Value::Map(map));
        }
        let tag_map = tag_list
            .map_err(sdk("ListQueueTags"))?
            .tags()
            .cloned()
            .unwrap_or_default();
        attrs.insert(
            "tags".into(),
            tags_value(tag_map.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
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
        // CreateQueue answers an existing queue's URL when the attributes match, so
        // existence is asked first. A queue of this name created by someone with this
        // account's credentials between the two calls, with the same attributes, would be
        // taken as ours: that is two deploys of one stack from two states racing, which no
        // check here can order, and the window is one round trip.
        if let Some(url) = self.find(aws, desired).await? {
            // SQS may still answer for a queue deleted less than 60 s ago: if it is gone by
            // now, the name is free (CreateQueue waits out QueueDeletedRecently below).
            let attributes = aws
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(Q::CreatedTimestamp)
                .send()
                .await
                .map_err(sdk("GetQueueAttributes"))
                .or_gone()?;
            if attributes.is_some() {
                let mut refusal = not_ours(&SCHEMA, &format!("`{name}`"), &url, &url);
                refusal.message.push_str(
                    " (a queue deleted less than a minute ago may still answer: if you just deleted it, apply again in a minute)",
                );
                return Err(refusal);
            }
        }
        let attributes = attributes_to_set(desired, &Attrs::new(), true);
        let tags: HashMap<String, String> = tags(desired).into_iter().collect();
        let out = retry_send(Backoff::NAME_REUSE, deleted_recently, "CreateQueue", || {
            aws.sqs
                .create_queue()
                .queue_name(name)
                .set_attributes(Some(attributes.clone()))
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
        .await?;
        let url = out
            .queue_url()
            .ok_or_else(|| AwsError::new("CreateQueue", "no queue URL in the answer"))?;
        created(url);
        Ok(url.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let attributes = attributes_to_set(desired, live, false);
        if !attributes.is_empty() {
            aws.sqs
                .set_queue_attributes()
                .queue_url(id)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(sdk("SetQueueAttributes"))?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws.sqs.untag_queue().queue_url(id).set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagQueue"))
            },
            |tags| async move {
                let tags = Some(tags.into_iter().collect());
                let request = aws.sqs.tag_queue().queue_url(id).set_tags(tags);
                request.send().await.map(drop).map_err(sdk("TagQueue"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.sqs
            .delete_queue()
            .queue_url(id)
            .send()
            .await
            .map_err(sdk("DeleteQueue"))
            .ok_if_gone()
    }
}
