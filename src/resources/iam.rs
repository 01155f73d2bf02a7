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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_scope_to_any() {
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Unknown);
        assert_eq!(name_or_any(&attrs, "name"), "*");
        attrs.insert("name".into(), Value::Str("q".into()));
        assert_eq!(name_or_any(&attrs, "name"), "q");
    }
}
