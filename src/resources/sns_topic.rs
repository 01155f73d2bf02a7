//! `sns.topic`: a standard or FIFO topic, its display name, access policy, encryption and
//! tags. Its id is its ARN, which follows from its name.

use crate::schema::rules::{KMS_KEY, TAGS, fifo_problems};
use crate::schema::{Default, Identity, PolicyRules, Problem, Schema, Size, Text, Type, attr};

/// SNS topic names: 1-256 letters, digits, `-` and `_`; a FIFO topic's name ends in `.fifo`
/// (counted in the 256).
pub const TOPIC_NAME: Text = Text::len(1, 256).pattern(
    r"^[A-Za-z0-9_-]+(\.fifo)?$",
    "letters, digits, `-` and `_` (and `.fifo` at the end of a FIFO topic's name)",
);

/// A topic's ARN (what a subscription names).
pub const TOPIC_ARN: Text = Text::len(1, 1024).pattern(
    r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$",
    "an SNS topic ARN, `arn:PARTITION:sns:REGION:ACCOUNT:NAME` (the topic's `arn`)",
);

/// A topic's access policy, within SNS's policy quotas (30 KB, 100 statements, 200
/// principals).
pub const TOPIC_POLICY: PolicyRules = PolicyRules {
    kind: "a topic policy",
    principal: true,
    resource: true,
    service: Some("sns"),
    sid: Text::ANY,
    max_size: Size::Bytes(30_720),
    max_statements: 100,
    max_actions: usize::MAX,
    max_principals: 200,
    max_conditions: usize::MAX,
};

pub const SCHEMA: Schema = Schema {
    type_name: "sns.topic",
    description: "an SNS topic",
    import_id: "the topic ARN (or its name)",
    notes: "\
CreateTopic answers with the existing topic when the name is taken, so strata looks first
and refuses a topic it did not create (import it instead). Left out, `kms_master_key_id`
keeps the topic's encryption as it is.",
    attributes: &[
        attr("name", Type::String(TOPIC_NAME))
            .required()
            .force_new(),
        attr("fifo_topic", Type::Bool)
            .force_new()
            .default(Default::Bool(false)),
        attr("content_based_deduplication", Type::Bool),
        // SNS's limit; SMS messages show only the first 10 characters.
        attr("display_name", Type::String(Text::len(0, 100))).default(Default::Str("")),
        attr("policy", Type::Policy(&TOPIC_POLICY)),
        // Left out, the topic stays encrypted as it is: dropping the key from the stack
        // never turns encryption off.
        attr("kms_master_key_id", Type::String(KMS_KEY)).keep_live(),
        attr("tags", TAGS),
    ],
    computed: &["arn"],
    examples: &[("arn", "arn:aws:sns:us-east-1:123456789012:topic")],
    identity: Identity::of(&["name"]),
    check: Some(check_topic),
};

/// The rules SNS applies across a topic's attributes: FIFO topics' (as SQS's for queues).
fn check_topic(attrs: &Attrs) -> Vec<Problem> {
    fifo_problems(attrs, "topic", "fifo_topic")
}

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, json_of, not_ours, opt_bool, parse_json, req_str, sync_tags, tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SnsTopic;

/// Schema attribute <-> SNS topic attribute, for those SetTopicAttributes changes in place.
const SETTABLE: &[(&str, &str)] = &[
    ("display_name", "DisplayName"),
    ("policy", "Policy"),
    ("kms_master_key_id", "KmsMasterKeyId"),
    ("content_based_deduplication", "ContentBasedDeduplication"),
];

/// The SNS attribute value of a schema attribute (a policy as compact JSON).
fn attribute_text(desired: &Attrs, name: &str) -> Result<Option<String>, AwsError> {
    Ok(match desired.get(name) {
        None | Some(Value::Null) => None,
        Some(_) if name == "policy" => Some(json_of(desired, name)?),
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => Some(other.to_json().to_string()),
    })
}

/// The topic's name: the last field of its ARN.
fn name_of(topic_arn: &str) -> &str {
    arn::parse(topic_arn).map_or(topic_arn, |a| a.resource)
}

/// The ARN of the topic named `name` in the caller's account and region.
async fn arn_of_name(aws: &Clients, name: &str) -> Result<String, AwsError> {
    let identity = aws.identity().await?;
    Ok(arn::sns_topic(
        &identity.partition,
        &aws.region,
        &identity.account_id,
        name,
    ))
}

/// Whether the topic exists (GetTopicAttributes answers for it).
async fn exists(aws: &Clients, topic_arn: &str) -> Result<bool, AwsError> {
    let found = aws
        .sns
        .get_topic_attributes()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(sdk("GetTopicAttributes"))
        .or_gone()?;
    Ok(found.is_some())
}

fn sns_tags(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Tag>, AwsError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::new("TagResource", e.to_string()))
        })
        .collect()
}

#[async_trait]
impl Resource for SnsTopic {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_topic = [arn::sns_topic(
            &at.partition,
            &at.region,
            &at.account,
            &name_or_any(desired, "name"),
        )];
        vec![
            allow(
                Step::Read,
                &["sns:GetTopicAttributes", "sns:ListTagsForResource"],
                &on_topic,
            ),
            allow(
                Step::Write,
                &[
                    "sns:CreateTopic",
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:TagResource",
                    "sns:UntagResource",
                ],
                &on_topic,
            ),
            allow(Step::Delete, &["sns:DeleteTopic"], &on_topic),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => {
                Value::Str(arn::sns_topic(&at.partition, &at.region, &at.account, name))
            }
            _ => Value::Unknown,
        }
    }

    /// A topic's ARN, or its name in this account and region.
    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let topic_arn = match arn::parse(given) {
            Some(a) if a.service != "sns" || a.region != aws.region => return Ok(None),
            Some(_) => given.to_string(),
            None => arn_of_name(aws, given).await?,
        };
        Ok(exists(aws, &topic_arn).await?.then_some(topic_arn))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([
            ("name".to_string(), Value::Str(name_of(id).to_string())),
            ("arn".to_string(), Value::Str(id.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let topic_arn = arn_of_name(aws, req_str(desired, "name")?).await?;
        Ok(exists(aws, &topic_arn).await?.then_some(topic_arn))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let (attributes, tag_list) = tokio::join!(
            aws.sns.get_topic_attributes().topic_arn(id).send(),
            aws.sns.list_tags_for_resource().resource_arn(id).send(),
        );
        let Some(out) = attributes.map_err(sdk("GetTopicAttributes")).or_gone()? else {
            return Ok(None);
        };
        let raw: HashMap<String, String> = out.attributes.unwrap_or_default();
        let get = |key: &str| raw.get(key).filter(|v| !v.is_empty()).cloned();
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(name_of(id).to_string()));
        attrs.insert("arn".into(), Value::Str(id.to_string()));
        let fifo = get("FifoTopic").as_deref() == Some("true");
        attrs.insert("fifo_topic".into(), Value::Bool(fifo));
        if fifo {
            attrs.insert(
                "content_based_deduplication".into(),
                Value::Bool(get("ContentBasedDeduplication").as_deref() == Some("true")),
            );
        }
        attrs.insert(
            "display_name".into(),
            Value::Str(get("DisplayName").unwrap_or_default()),
        );
        if let Some(policy) = get("Policy") {
            attrs.insert("policy".into(), parse_json(&policy));
        }
        if let Some(key) = get("KmsMasterKeyId") {
            attrs.insert("kms_master_key_id".into(), Value::Str(key));
        }
        // A topic deleted between the two calls answers not-found here too.
        let Some(tag_list) = tag_list.map_err(sdk("ListTagsForResource")).or_gone()? else {
            return Ok(None);
        };
        attrs.insert(
            "tags".into(),
            tags_value(tag_list.tags().iter().map(|t| (t.key(), t.value()))),
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
        // CreateTopic answers an existing topic's ARN (and sets nothing) when the name is
        // taken, so existence is asked first. The window between the two calls is one round
        // trip, as for queues.
        if let Some(topic_arn) = self.find(aws, desired).await? {
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &topic_arn,
                &topic_arn,
            ));
        }
        let mut attributes = HashMap::new();
        if opt_bool(desired, "fifo_topic") == Some(true) {
            attributes.insert("FifoTopic".to_string(), "true".to_string());
        }
        for (schema_name, sns_name) in SETTABLE {
            if let Some(text) = attribute_text(desired, schema_name)?
                && !(*schema_name == "display_name" && text.is_empty())
            {
                attributes.insert(sns_name.to_string(), text);
            }
        }
        let tag_list = sns_tags(tags(desired))?;
        // CreateTopic is idempotent on the name: the SDK's retry of a create whose reply
        // was lost answers the same ARN.
        let out = aws
            .sns
            .create_topic()
            .name(name)
            .set_attributes((!attributes.is_empty()).then_some(attributes))
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(sdk("CreateTopic"))?;
        let topic_arn = out
            .topic_arn()
            .ok_or_else(|| AwsError::new("CreateTopic", "no topic ARN in the answer"))?;
        created(topic_arn);
        Ok(topic_arn.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        for (schema_name, sns_name) in SETTABLE {
            if !changed(&SCHEMA, schema_name, desired, live) {
                continue;
            }
            let value = attribute_text(desired, schema_name)?.unwrap_or_default();
            aws.sns
                .set_topic_attributes()
                .topic_arn(id)
                .attribute_name(*sns_name)
                .attribute_value(value)
                .send()
                .await
                .map_err(sdk("SetTopicAttributes"))?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws
                    .sns
                    .untag_resource()
                    .resource_arn(id)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |new| async move {
                let request = aws
                    .sns
                    .tag_resource()
                    .resource_arn(id)
                    .set_tags(Some(sns_tags(new)?));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    /// DeleteTopic answers success for a topic that is gone; its subscriptions go with it.
    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.sns
            .delete_topic()
            .topic_arn(id)
            .send()
            .await
            .map_err(sdk("DeleteTopic"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(pairs: &[(&str, Value)]) -> Vec<String> {
        let attrs: Attrs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        check_topic(&attrs).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn names_follow_snss_rules() {
        for good in ["a", "orders_v2-x", "jobs.fifo", &"t".repeat(256)] {
            assert_eq!(TOPIC_NAME.problem(good), None, "{good}");
        }
        for bad in ["", "a.b", "a b", "x.fifo.fifo", "ü", &"t".repeat(257)] {
            assert!(TOPIC_NAME.problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            TOPIC_ARN.problem("arn:aws:sns:eu-west-1:123456789012:jobs.fifo"),
            None
        );
        assert!(
            TOPIC_ARN
                .problem("arn:aws:sqs:eu-west-1:123456789012:jobs")
                .is_some()
        );
    }

    #[test]
    fn fifo_names_and_deduplication_go_together() {
        let s = |t: &str| Value::Str(t.to_string());
        assert_eq!(problems(&[("name", s("jobs"))]), Vec::<String>::new());
        assert_eq!(
            problems(&[("name", s("jobs.fifo")), ("fifo_topic", Value::Bool(true))]),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(&[("name", s("jobs.fifo"))]),
            ["topic name `jobs.fifo` ends in `.fifo`, but the topic is not a FIFO topic"]
        );
        assert_eq!(
            problems(&[("name", s("jobs")), ("fifo_topic", Value::Bool(true))]),
            ["FIFO topic name `jobs` does not end in `.fifo`"]
        );
        assert_eq!(
            problems(&[
                ("name", s("jobs")),
                ("content_based_deduplication", Value::Bool(true))
            ]),
            ["`content_based_deduplication` is set on a standard topic"]
        );
        // Not known yet: nothing to say until plan time.
        assert_eq!(
            problems(&[("name", s("jobs")), ("fifo_topic", Value::Unknown)]),
            Vec::<String>::new()
        );
    }
}
