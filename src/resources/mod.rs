//! Resource types: one module per type, each with its schema and (from the engine on) its
//! AWS implementation. [`SCHEMAS`] is the one registry of every type strata knows.

pub mod apigateway_rest_api;
pub mod cloudtrail_trail;
pub mod iam_role;
pub mod lambda_function;
pub mod lambda_permission;
pub mod s3_bucket;
pub mod s3_bucket_notification;
pub mod s3_bucket_policy;
pub mod sqs_queue;
pub mod sqs_queue_policy;

use crate::schema::Schema;

/// Every resource type, in the order `strata validate` lists them.
pub static SCHEMAS: &[&Schema] = &[
    &s3_bucket::SCHEMA,
    &s3_bucket_policy::SCHEMA,
    &s3_bucket_notification::SCHEMA,
    &sqs_queue::SCHEMA,
    &sqs_queue_policy::SCHEMA,
    &iam_role::SCHEMA,
    &lambda_function::SCHEMA,
    &lambda_permission::SCHEMA,
    &apigateway_rest_api::SCHEMA,
    &cloudtrail_trail::SCHEMA,
];

pub fn schema(type_name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().copied().find(|s| s.type_name == type_name)
}
