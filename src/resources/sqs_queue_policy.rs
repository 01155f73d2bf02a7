//! `sqs.queue_policy`: the access policy of one queue (its `Policy` attribute).

use crate::schema::{Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "sqs.queue_policy",
    description: "the access policy of an SQS queue",
    attributes: &[
        attr("queue_url", Type::String(None)).required().force_new(),
        attr("policy", Type::Policy).required(),
    ],
    computed: &[],
};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Q;

use super::support::{done_if_gone, json_of, parse_json, req_str};
use super::{Created, Resource};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SqsQueuePolicy;

#[async_trait]
impl Resource for SqsQueuePolicy {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let out = match aws
            .sqs
            .get_queue_attributes()
            .queue_url(id)
            .attribute_names(Q::Policy)
            .send()
            .await
            .map_err(sdk("GetQueueAttributes"))
        {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut attrs = Attrs::new();
        attrs.insert("queue_url".into(), Value::Str(id.into()));
        if let Some(policy) = out
            .attributes()
            .and_then(|a| a.get(&Q::Policy))
            .filter(|p| !p.is_empty())
        {
            attrs.insert("policy".into(), parse_json(policy));
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let url = req_str(desired, "queue_url")?;
        self.update(aws, url, &Attrs::new(), desired).await?;
        created(url);
        Ok(url.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        _live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let policy = json_of(desired, "policy")?;
        aws.sqs
            .set_queue_attributes()
            .queue_url(id)
            .attributes(Q::Policy, policy)
            .send()
            .await
            .map_err(sdk("SetQueueAttributes"))?;
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        done_if_gone(
            aws.sqs
                .set_queue_attributes()
                .queue_url(id)
                .attributes(Q::Policy, "")
                .send()
                .await
                .map_err(sdk("SetQueueAttributes")),
        )
    }
}
