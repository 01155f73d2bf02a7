//! `sqs.queue_policy`: the access policy of one queue (its `Policy` attribute).

use crate::schema::rules::{QUEUE_POLICY, QUEUE_URL};
use crate::schema::{Identity, Schema, Type, attr};

/// What the reference page (docs/resources/sqs.queue_policy.md) says beyond the attribute table.
const NOTES: &str = "\
Deleting the resource clears the queue's `Policy` attribute.";

pub const SCHEMA: Schema = Schema {
    type_name: "sqs.queue_policy",
    description: "the access policy of an SQS queue",
    import_id: "the queue URL",
    notes: NOTES,
    attributes: &[
        attr("queue_url", Type::String(QUEUE_URL))
            .required()
            .force_new(),
        attr("policy", Type::Policy(&QUEUE_POLICY)).required(),
    ],
    computed: &[],
    examples: &[],
    identity: Identity::of(&["queue_url"]),
    check: None,
};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Q;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::policy_document::PolicyCalls;
use crate::aws::{AwsError, Clients, sdk};
use crate::value::Attrs;

pub struct SqsQueuePolicy;

/// Sets the queue's `Policy` attribute; an empty one removes it.
async fn set(aws: &Clients, url: &str, policy: &str) -> Result<(), AwsError> {
    aws.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(Q::Policy, policy)
        .send()
        .await
        .map_err(sdk("SetQueueAttributes"))?;
    Ok(())
}

#[async_trait]
impl PolicyCalls for SqsQueuePolicy {
    const SCHEMA: &'static Schema = &SCHEMA;
    const TARGET: &'static str = "queue_url";

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        // The queue is the last part of its URL; the account the part before it.
        let url = name_or_any(desired, "queue_url");
        let mut parts = url.rsplit('/');
        let name = parts.next().unwrap_or("*");
        let account = parts
            .next()
            .filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()));
        let at = Place {
            account: account.unwrap_or(&at.account).to_string(),
            ..at.clone()
        };
        let on_queue = [super::sqs_queue::queue_arn(&at, name)];
        vec![
            allow(Step::Read, &["sqs:GetQueueAttributes"], &on_queue),
            allow(Step::Write, &["sqs:SetQueueAttributes"], &on_queue),
            allow(Step::Delete, &["sqs:SetQueueAttributes"], &on_queue),
        ]
    }

    async fn lookup(&self, aws: &Clients, given: &str) -> Result<Option<String>, AwsError> {
        super::sqs_queue::queue_url_of(aws, given).await
    }

    async fn get(&self, aws: &Clients, url: &str) -> Result<Option<String>, AwsError> {
        let out = aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Q::Policy)
            .send()
            .await
            .map_err(sdk("GetQueueAttributes"))?;
        Ok(out.attributes().and_then(|a| a.get(&Q::Policy)).cloned())
    }

    async fn put(&self, aws: &Clients, url: &str, policy: &str) -> Result<(), AwsError> {
        set(aws, url, policy).await
    }

    async fn remove(&self, aws: &Clients, url: &str) -> Result<(), AwsError> {
        set(aws, url, "").await
    }
}
