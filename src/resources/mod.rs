//! Resource types: one module per type, each with its schema and (from the engine on) its
//! AWS implementation. [`TYPES`] is the one registry of every type strata knows.

pub mod apigateway_rest_api;
pub mod arn;
pub mod cloudcontrol;
pub mod cloudtrail_trail;
pub mod cloudwatch_metric_alarm;
pub mod dynamodb_table;
pub mod events_rule;
pub mod iam;
pub mod iam_role;
pub mod kms_alias;
pub mod kms_key;
pub mod lambda_event_source_mapping;
pub mod lambda_function;
pub mod lambda_permission;
pub mod logs_log_group;
pub mod package;
pub mod policy_document;
pub mod s3_bucket;
pub mod s3_bucket_notification;
pub mod s3_bucket_policy;
pub mod scheduler_schedule;
pub mod secretsmanager_secret;
pub mod sns_subscription;
pub mod sns_topic;
pub mod sqs_queue;
pub mod sqs_queue_policy;
pub mod ssm_parameter;
pub mod support;

use std::sync::LazyLock;

use crate::schema::Schema;

/// Every resource type strata implements, in the order `strata validate` and the docs list
/// them: the one registry. Adding a type is its file, its line here and its tests.
pub static TYPES: &[&dyn Resource] = &[
    &s3_bucket::S3Bucket,
    &PolicyDocument(s3_bucket_policy::S3BucketPolicy),
    &s3_bucket_notification::S3BucketNotification,
    &sqs_queue::SqsQueue,
    &PolicyDocument(sqs_queue_policy::SqsQueuePolicy),
    &iam_role::IamRole,
    &lambda_function::LambdaFunction,
    &lambda_permission::LambdaPermission,
    &lambda_event_source_mapping::LambdaEventSourceMapping,
    &apigateway_rest_api::ApiGatewayRestApi,
    &cloudtrail_trail::CloudtrailTrail,
    &logs_log_group::LogsLogGroup,
    &dynamodb_table::DynamodbTable,
    &ssm_parameter::SsmParameter,
    &secretsmanager_secret::SecretsmanagerSecret,
    &kms_key::KmsKey,
    &kms_alias::KmsAlias,
    &events_rule::EventsRule,
    &scheduler_schedule::SchedulerSchedule,
    &sns_topic::SnsTopic,
    &sns_subscription::SnsSubscription,
    &cloudwatch_metric_alarm::CloudwatchMetricAlarm,
];

/// The schemas of [`TYPES`], for the checker (config takes schemas, not implementations).
pub static SCHEMAS: LazyLock<Vec<&'static Schema>> =
    LazyLock::new(|| TYPES.iter().map(|r| r.schema()).collect());

use async_trait::async_trait;

use crate::aws::{AwsError, Clients};
use crate::value::{Attrs, Value};
use policy_document::PolicyDocument;

/// How the executor confirms a create or update: it reads the object back until
/// `agreeing_reads` reads in a row show what was written, for at most `budget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    pub agreeing_reads: u32,
    pub budget: std::time::Duration,
}

impl Settle {
    /// Most services: the first read that agrees is the truth.
    pub const ONE_READ: Settle = Settle {
        agreeing_reads: 1,
        budget: std::time::Duration::from_secs(10),
    };
}

/// Called by `create` as soon as the object exists in AWS, so that it is recorded in state
/// even if a later step of the create fails.
pub type Created<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Called by a create whose request goes on in AWS after the call that started it (Cloud
/// Control's) with what resumes it, its request token; resolves once state records it.
pub type Resumable<'a> =
    &'a (dyn Fn(String) -> futures::future::BoxFuture<'a, Result<(), AwsError>> + Send + Sync);

/// What every resource type implements. Attributes use the schema's names; `read` returns
/// them normalised so that they compare with what the stack file says.
#[async_trait]
pub trait Resource: Send + Sync {
    fn schema(&self) -> &'static Schema;

    /// Completes desired attributes the stack may leave to strata (deterministic ids,
    /// code hashes). Runs at plan time and again just before create or update.
    fn prepare(&self, _desired: &mut Attrs) {}

    /// How a write is confirmed by reading it back (see [`Settle`]).
    fn settle(&self) -> Settle {
        Settle::ONE_READ
    }

    /// The live object, or `None` when it is gone (drift, not an error).
    async fn read(&self, aws: &Clients, id: &str, prior: &Attrs)
    -> Result<Option<Attrs>, AwsError>;

    /// Looks for an object that a create with `desired` would have made (by its name), for
    /// adopting the result of a create that was interrupted. `None` when there is none.
    async fn find(&self, _aws: &Clients, _desired: &Attrs) -> Result<Option<String>, AwsError> {
        Ok(None)
    }

    /// For `strata import`: the id `read` takes for the object a user named `given`, in
    /// any form AWS knows the object by (an ARN where the id is a name, a queue's name or
    /// ARN where the id is its URL); `None` when no such object exists. `desired` is the
    /// stack's resource, for types whose id has a part the stack names.
    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(Some(given.to_string()))
    }

    /// The id of the object `read` returned, in the form a create records, when the read
    /// answer names it (a role's or function's name, as AWS spells it); `None` when the id
    /// `read` was given is that form already.
    fn id_from_read(&self, _live: &Attrs) -> Option<String> {
        None
    }

    /// What an id alone says of the object's attributes (its name, its bucket, its queue
    /// URL): the state of a create that failed half-way records the id and nothing else,
    /// and a policy still has to name that object.
    fn id_attributes(&self, _id: &str) -> Attrs {
        Attrs::new()
    }

    /// Whether two ids recorded for this type name one object.
    fn same_object(&self, a: &str, b: &str) -> bool {
        a == b
    }

    /// Creates the object and returns its physical id.
    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError>;

    /// [`Resource::create`] for a type whose create goes on in AWS after the call: `noted`
    /// records what resumes it ([`Resource::resume`]) before it is waited for.
    async fn create_resumable(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
        _noted: Option<Resumable<'_>>,
    ) -> Result<String, AwsError> {
        self.create(aws, desired, created).await
    }

    /// The id of the object that the create request `request` (recorded by
    /// [`Resource::create_resumable`] before a run was killed) made, once it ends; `None`
    /// when it made none.
    async fn resume(&self, _aws: &Clients, _request: &str) -> Result<Option<String>, AwsError> {
        Ok(None)
    }

    /// Brings the object from `live` to `desired` in place (only attributes that may change
    /// in place differ).
    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError>;

    /// Deletes the object; one already gone counts as deleted.
    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError>;

    /// What `delete` does beyond deleting, when that matters to whoever approves a plan
    /// (a deletion only scheduled, a recovery window), for the object recorded with `prior`.
    fn deletion_note(&self, _prior: &Attrs) -> Option<String> {
        None
    }

    /// The IAM permissions the calls above need, per step, scoped to the object that
    /// `desired` (the stack's attributes, unknown where they depend on a create) names.
    /// A call added above without its action here fails the `policy_covers` tests.
    fn permissions(&self, _desired: &Attrs, _at: &iam::Place) -> Vec<iam::Permission> {
        Vec::new()
    }

    /// A computed attribute that follows from the object's name alone (an ARN, a queue
    /// URL), so that a policy can name objects before they exist; unknown otherwise.
    fn named_attribute(&self, _desired: &Attrs, _attribute: &str, _at: &iam::Place) -> Value {
        Value::Unknown
    }
}

/// The implementation of a resource type, if this version of strata has one: a native
/// type, or a CloudFormation type whose schema is cached (Cloud Control).
pub fn implementation(type_name: &str) -> Option<&'static dyn Resource> {
    if cloudcontrol::is_cloudcontrol(type_name) {
        return cloudcontrol::load(type_name)
            .ok()
            .map(|cc| cc as &'static dyn Resource);
    }
    TYPES
        .iter()
        .copied()
        .find(|r| r.schema().type_name == type_name)
}

#[cfg(test)]
mod tests {
    use super::SCHEMAS;
    use crate::schema::rules::{
        ACTION, AWS_PRINCIPAL, CANONICAL_USER, CONDITION_KEY, FEDERATED_PRINCIPAL, RESOURCE,
        SERVICE_PRINCIPAL, matches,
    };
    use crate::schema::{Attribute, Schema, Text, Type, field};

    /// Every pattern a type's rules hold, with where it is.
    fn patterns(ty: &Type, at: &str, out: &mut Vec<(String, &'static str)>) {
        let mut text = |t: &Text, at: String| {
            if let Some(p) = t.pattern {
                out.push((at, p));
            }
        };
        match ty {
            Type::String(t) => text(t, at.to_string()),
            Type::List { item, .. } => patterns(item, &format!("{at}[]"), out),
            Type::Object(fields) => {
                for f in fields.iter() {
                    patterns(&f.ty, &format!("{at}.{}", f.name), out);
                }
            }
            Type::Map(map) => {
                text(&map.keys, format!("{at} keys"));
                patterns(map.values, &format!("{at}.*"), out);
            }
            Type::Policy(rules) | Type::TrustPolicy(rules) => text(&rules.sid, format!("{at} Sid")),
            _ => {}
        }
    }

    #[test]
    fn every_pattern_compiles_and_every_computed_attribute_has_an_example() {
        let mut all = Vec::new();
        for schema in SCHEMAS.iter() {
            for a in schema.attributes {
                patterns(&a.ty, &format!("{}.{}", schema.type_name, a.name), &mut all);
            }
            for computed in schema.computed {
                assert!(
                    schema.example(computed).is_some(),
                    "{}.{computed} has no example",
                    schema.type_name
                );
            }
        }
        for (name, text) in [
            ("policy action", ACTION),
            ("policy resource", RESOURCE),
            ("AWS principal", AWS_PRINCIPAL),
            ("service principal", SERVICE_PRINCIPAL),
            ("federated principal", FEDERATED_PRINCIPAL),
            ("canonical user", CANONICAL_USER),
            ("condition key", CONDITION_KEY),
        ] {
            all.push((name.to_string(), text.pattern.unwrap()));
        }
        assert!(all.len() > 30, "{all:?}");
        for (at, pattern) in all {
            assert!(
                pattern.starts_with('^') && pattern.ends_with('$'),
                "{at}: {pattern} is not anchored"
            );
            // Panics when the pattern does not compile.
            matches(pattern, "");
        }
    }

    fn schema(type_name: &str) -> &'static Schema {
        SCHEMAS.iter().find(|s| s.type_name == type_name).unwrap()
    }

    /// The string rule at `path` (attribute names, through tables and array items).
    fn text_at(type_name: &str, path: &[&str]) -> &'static Text {
        let mut fields: &'static [Attribute] = schema(type_name).attributes;
        let mut ty = &field(fields, path[0]).unwrap().ty;
        for name in &path[1..] {
            while let Type::List { item, .. } = ty {
                ty = item;
            }
            let Type::Object(inner) = ty else {
                panic!("{path:?}")
            };
            fields = inner;
            ty = &field(fields, name).unwrap().ty;
        }
        while let Type::List { item, .. } = ty {
            ty = item;
        }
        match ty {
            Type::String(text) => text,
            _ => panic!("{path:?} is not a string"),
        }
    }

    /// A computed attribute's example passes the rule of each place a stack puts it in
    /// (with what the stack adds to it): the examples never refuse a stack AWS accepts.
    #[test]
    fn examples_fit_the_places_stacks_use_them_in() {
        let uses: &[(&str, &str, &str, &str, &[&str])] = &[
            (
                "sqs.queue",
                "arn",
                "",
                "sqs.queue",
                &["redrive_policy", "dead_letter_queue"],
            ),
            (
                "sqs.queue",
                "arn",
                "",
                "s3.bucket_notification",
                &["queue", "queue_arn"],
            ),
            ("sqs.queue", "url", "", "sqs.queue_policy", &["queue_url"]),
            ("iam.role", "arn", "", "lambda.function", &["role"]),
            (
                "lambda.function",
                "invoke_arn",
                "",
                "apigateway.rest_api",
                &["lambda_invoke_arn"],
            ),
            (
                "lambda.function",
                "arn",
                "",
                "lambda.permission",
                &["function_name"],
            ),
            (
                "apigateway.rest_api",
                "execution_arn",
                "/*/*/*",
                "lambda.permission",
                &["source_arn"],
            ),
            (
                "s3.bucket",
                "arn",
                "/",
                "cloudtrail.trail",
                &["event_selectors", "data_resources", "values"],
            ),
        ];
        for (from, computed, suffix, to, path) in uses {
            let value = format!("{}{suffix}", schema(from).example(computed).unwrap());
            assert_eq!(
                text_at(to, path).problem(&value),
                None,
                "{from}.{computed} in {to}.{path:?}"
            );
        }
        // ... and the mistakes they are there to catch.
        let queue_url = schema("sqs.queue").example("url").unwrap();
        assert!(
            text_at("sqs.queue", &["redrive_policy", "dead_letter_queue"])
                .problem(queue_url)
                .is_some()
        );
        let function_arn = schema("lambda.function").example("arn").unwrap();
        assert!(
            text_at("apigateway.rest_api", &["lambda_invoke_arn"])
                .problem(function_arn)
                .is_some()
        );
    }
}
