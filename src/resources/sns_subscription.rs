//! `sns.subscription`: one endpoint (a queue, a function, a URL, an address) subscribed to
//! a topic, with its delivery settings. Its id is the subscription's ARN.
//!
//! Subscriptions to HTTP/S endpoints and email addresses wait for their owner to confirm
//! them. strata asks SNS for the subscription's ARN even then (`ReturnSubscriptionArn`),
//! records it, and shows the state in the computed `pending_confirmation`: the apply does
//! not wait for a confirmation that may never come. SNS deletes a subscription left
//! unconfirmed for three days; the next plan then shows it gone and creates it again. SNS
//! refuses to unsubscribe a pending subscription, so a destroy leaves it to that expiry and
//! says so.

use crate::schema::rules::{QUEUE_ARN, ROLE_ARN, known_str};
use crate::schema::{Attribute, Default, Identity, Path, Problem, Schema, Text, Type, attr};

use super::sns_topic::TOPIC_ARN;

/// What SNS delivers to.
pub const PROTOCOLS: &[&str] = &[
    "sqs",
    "lambda",
    "https",
    "http",
    "email",
    "email-json",
    "sms",
    "application",
    "firehose",
];

/// Where undeliverable messages go: an SQS queue.
pub const REDRIVE_POLICY: &[Attribute] =
    &[attr("dead_letter_queue", Type::String(QUEUE_ARN)).required()];

/// A filter policy: a JSON object of attribute (or, for `MessageBody`, message) keys, at
/// most 256 KB.
pub const FILTER_POLICY: Text = Text::len(2, 262_144).check(check_filter_policy);

pub const SCHEMA: Schema = Schema {
    type_name: "sns.subscription",
    description: "a subscription to an SNS topic",
    import_id: "the subscription ARN",
    notes: "\
`topic_arn`, `protocol` and `endpoint` name the subscription: changing one replaces it.
Subscribe answers with the existing subscription for the same three, so strata looks first
and refuses one it did not create. An `http`/`https`/`email` subscription waits for its
endpoint to confirm it: strata records it with `pending_confirmation = true` and does not
wait; if SNS expires it unconfirmed, the next plan creates it again. `filter_policy` is
compared by meaning. Removing `filter_policy` or `redrive_policy` from the stack leaves the
live value as it is.",
    attributes: &[
        attr("topic_arn", Type::String(TOPIC_ARN))
            .required()
            .force_new(),
        attr("protocol", Type::Enum(PROTOCOLS))
            .required()
            .force_new(),
        attr("endpoint", Type::String(Text::len(1, 2048)))
            .required()
            .force_new(),
        attr("raw_message_delivery", Type::Bool).default(Default::Bool(false)),
        attr("filter_policy", Type::String(FILTER_POLICY)),
        attr(
            "filter_policy_scope",
            Type::Enum(&["MessageAttributes", "MessageBody"]),
        ),
        attr("redrive_policy", Type::Object(REDRIVE_POLICY)),
        attr("subscription_role_arn", Type::String(ROLE_ARN)),
    ],
    computed: &["arn", "pending_confirmation"],
    examples: &[
        (
            "arn",
            "arn:aws:sns:us-east-1:123456789012:topic:8a21d249-4329-4871-acc6-7be709c6ea7f",
        ),
        ("pending_confirmation", "false"),
    ],
    // Subscribe answers the existing subscription for the same three.
    identity: Identity::of(&["topic_arn", "protocol", "endpoint"]),
    check: Some(check_subscription),
};

/// A filter policy is a JSON object whose values are lists (of values to match) or, in a
/// message body policy, objects nesting further.
fn check_filter_policy(text: &str) -> Result<(), String> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("a filter policy is a JSON object; this is not JSON ({e})"))?;
    let Some(object) = json.as_object() else {
        return Err("a filter policy is a JSON object (`{\"key\": [\"value\"]}`)".into());
    };
    if object.is_empty() {
        return Err("a filter policy names at least one key".into());
    }
    match object.iter().find(|(_, v)| !v.is_array() && !v.is_object()) {
        Some((key, _)) => Err(format!(
            "the filter policy's `{key}` must be a list of values to match (`[\"value\"]`) or an object"
        )),
        None => Ok(()),
    }
}

/// What each protocol's endpoint looks like.
fn endpoint_rule(protocol: &str) -> Option<Text> {
    Some(match protocol {
        "sqs" => QUEUE_ARN,
        "lambda" => Text::ANY.pattern(
            r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$",
            "a Lambda function ARN (the function's `arn`)",
        ),
        "http" => Text::ANY.pattern(r"^http://\S+$", "a URL starting with `http://`"),
        "https" => Text::ANY.pattern(r"^https://\S+$", "a URL starting with `https://`"),
        "email" | "email-json" => {
            Text::ANY.pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address")
        }
        "sms" => Text::ANY.pattern(
            r"^\+?[0-9]{1,15}$",
            "a phone number in E.164 form (`+14155550100`)",
        ),
        "firehose" => Text::ANY.pattern(
            r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:[0-9]{12}:deliverystream/[A-Za-z0-9_.-]+$",
            "a Firehose delivery stream ARN",
        ),
        "application" => Text::ANY.pattern(
            r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:endpoint/\S+$",
            "a platform application endpoint ARN",
        ),
        _ => return None,
    })
}

/// The rules SNS applies across a subscription's attributes.
fn check_subscription(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let protocol = known_str(attrs, "protocol");
    if let (Some(protocol), Some(endpoint)) = (protocol, known_str(attrs, "endpoint"))
        && let Some(rule) = endpoint_rule(protocol)
        && let Some(problem) = rule.problem(endpoint)
    {
        out.push(Problem::new(
            Path::attr("endpoint"),
            format!("`{endpoint}` is not an endpoint of protocol `{protocol}`"),
            problem,
        ));
    }
    if let Some(protocol) = protocol {
        let raw = attrs.get("raw_message_delivery").and_then(Value::as_bool);
        if raw == Some(true) && !["sqs", "http", "https", "firehose"].contains(&protocol) {
            out.push(
                Problem::new(
                    Path::attr("raw_message_delivery"),
                    format!("raw message delivery is not available to `{protocol}` subscriptions"),
                    "only `sqs`, `http`, `https` and `firehose` subscriptions take it",
                )
                .help("remove `raw_message_delivery`"),
            );
        }
        let role = attrs.contains_key("subscription_role_arn");
        if protocol == "firehose" && !role {
            out.push(
                Problem::new(
                    Path::attr("protocol"),
                    "a `firehose` subscription needs `subscription_role_arn`",
                    "SNS writes to the stream with that role",
                )
                .help("add `subscription_role_arn`, the ARN of a role SNS may assume that may write to the stream"),
            );
        }
        if protocol != "firehose" && role {
            out.push(Problem::new(
                Path::attr("subscription_role_arn"),
                format!("`subscription_role_arn` is set on a `{protocol}` subscription"),
                "only `firehose` subscriptions take a role",
            ));
        }
    }
    if attrs.contains_key("filter_policy_scope") && !attrs.contains_key("filter_policy") {
        out.push(
            Problem::new(
                Path::attr("filter_policy_scope"),
                "`filter_policy_scope` is set without `filter_policy`",
                "the scope says what a filter policy applies to",
            )
            .help("add `filter_policy`, or remove `filter_policy_scope`"),
        );
    }
    out
}

use std::collections::HashMap;

use async_trait::async_trait;
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, opt_str, req_str};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SnsSubscription;

/// Schema attribute <-> SNS subscription attribute, all settable in place.
const SETTABLE: &[(&str, &str)] = &[
    ("raw_message_delivery", "RawMessageDelivery"),
    ("filter_policy_scope", "FilterPolicyScope"),
    ("filter_policy", "FilterPolicy"),
    ("redrive_policy", "RedrivePolicy"),
    ("subscription_role_arn", "SubscriptionRoleArn"),
];

/// What ListSubscriptionsByTopic shows instead of the ARN of a subscription waiting for
/// confirmation.
const PENDING: &str = "PendingConfirmation";

/// JSON with every object's keys sorted: two filter policies that differ only in key
/// order or white space are the same text (lists keep their order; SNS sends it as it is).
fn canonical_json(text: &str) -> Option<String> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(sorted(json).to_string())
}

/// The SNS attribute value of a schema attribute.
fn attribute_text(desired: &Attrs, name: &str) -> Option<String> {
    match desired.get(name)? {
        Value::Str(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        v @ Value::Map(_) if name == "redrive_policy" => {
            let queue = v.get("dead_letter_queue")?.as_str()?;
            Some(serde_json::json!({ "deadLetterTargetArn": queue }).to_string())
        }
        _ => None,
    }
}

/// The topic of a subscription ARN (`TOPIC_ARN:ID`).
fn topic_of(subscription_arn: &str) -> &str {
    subscription_arn
        .rsplit_once(':')
        .map_or(subscription_arn, |(topic, _)| topic)
}

/// The subscriptions of `topic_arn` to `endpoint` by `protocol` (their ARNs, or
/// `PendingConfirmation`); empty when there are none or the topic is gone.
async fn subscriptions_to(
    aws: &Clients,
    topic_arn: &str,
    protocol: &str,
    endpoint: &str,
) -> Result<Vec<String>, AwsError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(sdk("ListSubscriptionsByTopic"))
            .or_gone()?;
        let Some(page) = page else {
            return Ok(found);
        };
        found.extend(
            page.subscriptions()
                .iter()
                .filter(|s| s.protocol() == Some(protocol) && s.endpoint() == Some(endpoint))
                .filter_map(|s| s.subscription_arn().map(str::to_string)),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

/// A flat filter policy (every value a list) means the same under either scope, so it can
/// be written before or after the scope changes; a nested one only under `MessageBody`.
fn flat(filter_policy: Option<&str>) -> bool {
    filter_policy
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|j| j.as_object().map(|o| o.values().all(|v| v.is_array())))
        .unwrap_or(true)
}

#[async_trait]
impl Resource for SnsSubscription {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The filter policy in the form `read` gives it (keys sorted, compact), so that a
    /// policy written in another order or layout is no change.
    fn prepare(&self, desired: &mut Attrs) {
        if let Some(Value::Str(text)) = desired.get_mut("filter_policy")
            && let Some(canonical) = canonical_json(text)
        {
            *text = canonical;
        }
    }

    /// Subscribe and ListSubscriptionsByTopic are authorized on the topic. SNS's
    /// subscription calls (GetSubscriptionAttributes, SetSubscriptionAttributes,
    /// Unsubscribe) have no resource type in IAM: they are granted on `*`.
    fn permissions(&self, desired: &Attrs, _at: &Place) -> Vec<Permission> {
        let on_topic = [name_or_any(desired, "topic_arn")];
        let any = ["*".to_string()];
        let mut out = vec![
            allow(Step::Read, &["sns:GetSubscriptionAttributes"], &any),
            allow(Step::Read, &["sns:ListSubscriptionsByTopic"], &on_topic),
            allow(
                Step::Write,
                &["sns:Subscribe", "sns:ListSubscriptionsByTopic"],
                &on_topic,
            ),
            allow(
                Step::Write,
                &[
                    "sns:GetSubscriptionAttributes",
                    "sns:SetSubscriptionAttributes",
                ],
                &any,
            ),
            allow(Step::Delete, &["sns:Unsubscribe"], &any),
        ];
        // SNS writes to a Firehose stream with the role it is given.
        if let Some(role) = opt_str(desired, "subscription_role_arn") {
            out.push(allow(Step::Write, &["iam:PassRole"], &[role.to_string()]));
        }
        out
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        if arn::parse(given).is_none_or(|a| a.service != "sns") {
            return Ok(None);
        }
        Ok(self
            .read(aws, given, &Attrs::new())
            .await?
            .map(|_| given.to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([
            (
                "topic_arn".to_string(),
                Value::Str(topic_of(id).to_string()),
            ),
            ("arn".to_string(), Value::Str(id.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let found = subscriptions_to(
            aws,
            req_str(desired, "topic_arn")?,
            req_str(desired, "protocol")?,
            req_str(desired, "endpoint")?,
        )
        .await?;
        Ok(found.into_iter().find(|a| arn::parse(a).is_some()))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let out = aws
            .sns
            .get_subscription_attributes()
            .subscription_arn(id)
            .send()
            .await
            .map_err(sdk("GetSubscriptionAttributes"))
            .or_gone()?;
        let Some(out) = out else {
            return Ok(None);
        };
        let raw: HashMap<String, String> = out.attributes.unwrap_or_default();
        let get = |key: &str| raw.get(key).filter(|v| !v.is_empty()).cloned();
        let mut attrs = Attrs::new();
        attrs.insert("arn".into(), Value::Str(id.to_string()));
        for (name, key) in [
            ("topic_arn", "TopicArn"),
            ("protocol", "Protocol"),
            ("endpoint", "Endpoint"),
            ("subscription_role_arn", "SubscriptionRoleArn"),
        ] {
            if let Some(value) = get(key) {
                attrs.insert(name.into(), Value::Str(value));
            }
        }
        attrs.insert(
            "raw_message_delivery".into(),
            Value::Bool(get("RawMessageDelivery").as_deref() == Some("true")),
        );
        attrs.insert(
            "pending_confirmation".into(),
            Value::Bool(get("PendingConfirmation").as_deref() == Some("true")),
        );
        if let Some(policy) = get("FilterPolicy") {
            let text = canonical_json(&policy).unwrap_or(policy);
            attrs.insert("filter_policy".into(), Value::Str(text));
            if let Some(scope) = get("FilterPolicyScope") {
                attrs.insert("filter_policy_scope".into(), Value::Str(scope));
            }
        }
        if let Some(text) = get("RedrivePolicy") {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if let Some(queue) = json["deadLetterTargetArn"].as_str() {
                let map = IndexMap::from([(
                    "dead_letter_queue".to_string(),
                    Value::Str(queue.to_string()),
                )]);
                attrs.insert("redrive_policy".into(), Value::Map(map));
            }
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let topic_arn = req_str(desired, "topic_arn")?;
        let protocol = req_str(desired, "protocol")?;
        let endpoint = req_str(desired, "endpoint")?;
        // Subscribe answers the existing subscription of the same topic, protocol and
        // endpoint (and may change its attributes): look first, and refuse one that exists.
        let existing = subscriptions_to(aws, topic_arn, protocol, endpoint).await?;
        if let Some(first) = existing.first() {
            let what = format!("`{protocol}` subscription of `{endpoint}`");
            let where_ = format!("on topic {topic_arn}");
            let mut refusal = not_ours(&SCHEMA, &what, &where_, first);
            if first == PENDING {
                refusal.message = format!(
                    "{} {what} already exists ({where_}), waiting for its owner's confirmation, and is not in this stack's state; strata does not take over objects it did not create. Once it is confirmed (or SNS deletes it unconfirmed, after three days), import it with `strata import STACK_FILE RESOURCE SUBSCRIPTION_ARN` or apply again",
                    SCHEMA.type_name
                );
            }
            return Err(refusal);
        }
        let attributes: HashMap<String, String> = SETTABLE
            .iter()
            .filter_map(|(name, key)| attribute_text(desired, name).map(|v| (key.to_string(), v)))
            // RawMessageDelivery=false is SNS's default, and what other protocols take.
            .filter(|(key, value)| !(key == "RawMessageDelivery" && value == "false"))
            .collect();
        // Subscribe is idempotent for the same topic, protocol, endpoint and attributes: the
        // SDK's retry of a call whose reply was lost answers the same subscription.
        let out = aws
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            .set_attributes((!attributes.is_empty()).then_some(attributes))
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(sdk("Subscribe"))?;
        let answered = out.subscription_arn().unwrap_or_default();
        let subscription_arn = if arn::parse(answered).is_some() {
            answered.to_string()
        } else {
            // "pending confirmation" from an SNS that ignored ReturnSubscriptionArn: the
            // listing may still name it.
            self.find(aws, desired).await?.ok_or_else(|| {
                AwsError::new(
                    "Subscribe",
                    format!(
                        "SNS answered `{answered}` and gave no ARN for the subscription of `{endpoint}`: confirm it at the endpoint, then import it with `strata import STACK_FILE RESOURCE SUBSCRIPTION_ARN`"
                    ),
                )
            })?
        };
        created(&subscription_arn);
        Ok(subscription_arn)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let mut order: Vec<&(&str, &str)> = SETTABLE.iter().collect();
        // A nested filter policy is valid only under the `MessageBody` scope: that scope is
        // set first; a flat policy is set before the scope it leaves.
        if flat(opt_str(desired, "filter_policy")) {
            order.sort_by_key(|(name, _)| *name == "filter_policy_scope");
        }
        for (name, key) in order {
            if !changed(&SCHEMA, name, desired, live) {
                continue;
            }
            aws.sns
                .set_subscription_attributes()
                .subscription_arn(id)
                .attribute_name(*key)
                .set_attribute_value(attribute_text(desired, name))
                .send()
                .await
                .map_err(sdk("SetSubscriptionAttributes"))?;
        }
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError> {
        let result = aws
            .sns
            .unsubscribe()
            .subscription_arn(id)
            .send()
            .await
            .map_err(sdk("Unsubscribe"));
        match result {
            // SNS keeps a pending subscription until it is confirmed or expires: nothing
            // can remove it sooner.
            Err(e)
                if e.message.contains("pending confirmation")
                    || (prior.get("pending_confirmation") == Some(&Value::Bool(true))
                        && e.code_is(&["InvalidParameter"])) =>
            {
                tracing::warn!(
                    subscription = id,
                    "waiting for confirmation, which SNS cannot unsubscribe; SNS deletes it unconfirmed after three days"
                );
                Ok(())
            }
            other => other.map(drop).ok_if_gone(),
        }
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
        check_subscription(&attrs)
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    #[test]
    fn endpoints_match_their_protocol() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:jobs";
        assert!(problems(&[("protocol", s("sqs")), ("endpoint", s(queue))]).is_empty());
        assert_eq!(
            problems(&[
                ("protocol", s("sqs")),
                (
                    "endpoint",
                    s("https://sqs.us-east-1.amazonaws.com/123456789012/jobs")
                )
            ]),
            [
                "`https://sqs.us-east-1.amazonaws.com/123456789012/jobs` is not an endpoint of protocol `sqs`"
            ]
        );
        assert_eq!(
            problems(&[
                ("protocol", s("https")),
                ("endpoint", s("http://x.example/hook"))
            ]),
            ["`http://x.example/hook` is not an endpoint of protocol `https`"]
        );
        assert!(
            problems(&[("protocol", s("email")), ("endpoint", s("ops@example.com"))]).is_empty()
        );
        assert_eq!(
            problems(&[
                ("protocol", s("email")),
                ("endpoint", s("ops@example.com")),
                ("raw_message_delivery", Value::Bool(true))
            ]),
            ["raw message delivery is not available to `email` subscriptions"]
        );
        assert_eq!(
            problems(&[
                ("protocol", s("firehose")),
                (
                    "endpoint",
                    s("arn:aws:firehose:us-east-1:123456789012:deliverystream/s")
                )
            ]),
            ["a `firehose` subscription needs `subscription_role_arn`"]
        );
        assert_eq!(
            problems(&[("filter_policy_scope", s("MessageBody"))]),
            ["`filter_policy_scope` is set without `filter_policy`"]
        );
    }

    #[test]
    fn filter_policies_are_json_objects_compared_by_meaning() {
        assert_eq!(
            check_filter_policy(r#"{"event": ["order_placed"]}"#),
            Ok(())
        );
        assert_eq!(
            check_filter_policy(r#"{"detail": {"price": [{"numeric": [">", 10]}]}}"#),
            Ok(())
        );
        assert!(check_filter_policy("[]").is_err());
        assert!(check_filter_policy("{}").is_err());
        assert!(check_filter_policy("{event: 1}").is_err());
        assert!(check_filter_policy(r#"{"event": "order_placed"}"#).is_err());
        assert_eq!(
            canonical_json(r#"{ "b": ["y", "x"],  "a": {"d": [1], "c": [2]} }"#).as_deref(),
            Some(r#"{"a":{"c":[2],"d":[1]},"b":["y","x"]}"#)
        );
    }

    #[test]
    fn a_subscription_arn_names_its_topic() {
        let id = "arn:aws:sns:us-east-1:123456789012:orders.fifo:8a21d249-4329";
        assert_eq!(
            topic_of(id),
            "arn:aws:sns:us-east-1:123456789012:orders.fifo"
        );
        assert!(flat(Some(r#"{"a": ["x"]}"#)));
        assert!(!flat(Some(r#"{"a": {"b": ["x"]}}"#)));
    }
}
