//! The IAM permissions each resource type needs, per step of a run: reading it (plan and
//! the reads that confirm a write), writing it (create and update) and deleting it. Each
//! type declares them next to the calls it makes ([`super::Resource::permissions`]), with
//! resources scoped to the object's own ARN; `strata policy` assembles them into a policy.

use serde_json::Value as Json;

use crate::value::{Attrs, Value};

/// Where the stack is deployed: the parts of an ARN that are not the object's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Place {
    /// Placeholders for when the caller is not known (no working credentials).
    pub fn placeholders(region: Option<&str>) -> Place {
        Place {
            partition: "aws".into(),
            region: region.unwrap_or("REGION").into(),
            account: "ACCOUNT_ID".into(),
        }
    }
}

/// The step of a run a permission is needed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Reading the live object: plan's refresh, the adoption of an interrupted create, and
    /// the reads that confirm a write.
    Read,
    /// Creating or updating the object.
    Write,
    /// Deleting the object (with whatever a delete reads or empties first).
    Delete,
}

/// Actions allowed on resources, for one step, optionally under a condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Permission {
    pub step: Step,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    pub condition: Option<Json>,
}

/// `actions` on `resources` for `step`.
pub fn allow(step: Step, actions: &[&'static str], resources: &[String]) -> Permission {
    Permission {
        step,
        actions: actions.to_vec(),
        resources: resources.to_vec(),
        condition: None,
    }
}

/// The known string attribute `key`, or `*` (any name) when the stack leaves it unknown.
pub fn name_or_any(desired: &Attrs, key: &str) -> String {
    match desired.get(key) {
        Some(Value::Str(s)) => s.clone(),
        _ => "*".into(),
    }
}

/// Calls every run makes that AWS authorizes without any permission, so a policy does not
/// list them: STS GetCallerIdentity answers even when a policy denies it explicitly
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>).
pub const NEEDS_NO_PERMISSION: &[&str] = &["sts:GetCallerIdentity"];

/// The service prefix of an action (`s3` of `s3:GetObject`).
pub fn service_of(action: &str) -> &str {
    action.split(':').next().unwrap_or(action)
}

/// The IAM action an API call is authorized as, for the calls strata makes
/// (`service:Operation` as a request log names them). Most are the operation's own name;
/// S3 and API Gateway are the exceptions.
pub fn action_of_call(service: &str, operation: &str) -> String {
    let s3 = |a: &str| format!("s3:{a}");
    match (service, operation) {
        ("s3", "HeadBucket" | "ListObjects" | "ListObjectsV2") => s3("ListBucket"),
        ("s3", "ListObjectVersions") => s3("ListBucketVersions"),
        ("s3", "DeleteObjects") => s3("DeleteObject"),
        ("s3", "HeadObject") => s3("GetObject"),
        ("s3", "GetBucketEncryption") => s3("GetEncryptionConfiguration"),
        ("s3", "PutBucketEncryption" | "DeleteBucketEncryption") => {
            s3("PutEncryptionConfiguration")
        }
        ("s3", "GetBucketLifecycleConfiguration") => s3("GetLifecycleConfiguration"),
        ("s3", "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle") => {
            s3("PutLifecycleConfiguration")
        }
        ("s3", "GetPublicAccessBlock") => s3("GetBucketPublicAccessBlock"),
        ("s3", "PutPublicAccessBlock" | "DeletePublicAccessBlock") => {
            s3("PutBucketPublicAccessBlock")
        }
        ("s3", "DeleteBucketTagging") => s3("PutBucketTagging"),
        ("s3", "GetBucketNotificationConfiguration") => s3("GetBucketNotification"),
        ("s3", "PutBucketNotificationConfiguration") => s3("PutBucketNotification"),
        ("lambda", "ListTags") => "lambda:ListTags".into(),
        (svc, op) => format!("{svc}:{op}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_calls_authorize_as_their_iam_actions() {
        assert_eq!(action_of_call("s3", "HeadBucket"), "s3:ListBucket");
        assert_eq!(
            action_of_call("s3", "DeleteBucketLifecycle"),
            "s3:PutLifecycleConfiguration"
        );
        assert_eq!(action_of_call("sqs", "CreateQueue"), "sqs:CreateQueue");
    }

    #[test]
    fn unknown_names_scope_to_any() {
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Unknown);
        assert_eq!(name_or_any(&attrs, "name"), "*");
        attrs.insert("name".into(), Value::Str("q".into()));
        assert_eq!(name_or_any(&attrs, "name"), "q");
    }
}
