//! The one implementation of every resource type whose whole state is a policy document
//! attached to a target object (a bucket's policy, a queue's `Policy` attribute). Each such
//! type is a file with its schema and three calls ([`PolicyCalls`]); reading, planning,
//! creating, updating and deleting are the same for all of them.

use async_trait::async_trait;

use super::iam::{Permission, Place};
use super::support::{Gone, json_of, parse_json, req_str};
use super::{Created, Resource};
use crate::aws::{AwsError, Clients};
use crate::schema::Schema;
use crate::value::{Attrs, Value};

/// The service calls of one policy type. The object's id is the target's.
#[async_trait]
pub trait PolicyCalls: Send + Sync {
    /// The schema: `TARGET` and `policy`.
    const SCHEMA: &'static Schema;
    /// The attribute naming the target (`bucket`, `queue_url`).
    const TARGET: &'static str;

    /// The policy text, `None` when the target has none; a not-found error when the target
    /// itself is gone.
    async fn get(&self, aws: &Clients, target: &str) -> Result<Option<String>, AwsError>;

    /// Writes the whole policy, replacing what the target had.
    async fn put(&self, aws: &Clients, target: &str, policy: &str) -> Result<(), AwsError>;

    /// Removes the policy from the target.
    async fn remove(&self, aws: &Clients, target: &str) -> Result<(), AwsError>;

    /// What `get`, `put` and `remove` call, on the target that `desired` names.
    fn permissions(&self, _desired: &Attrs, _at: &Place) -> Vec<Permission> {
        Vec::new()
    }

    /// The target a user names `given` (see [`Resource::lookup_id`]).
    async fn lookup(&self, _aws: &Clients, given: &str) -> Result<Option<String>, AwsError> {
        Ok(Some(given.to_string()))
    }
}

/// A policy type as a [`Resource`].
pub struct PolicyDocument<C>(pub C);

#[async_trait]
impl<C: PolicyCalls> Resource for PolicyDocument<C> {
    fn schema(&self) -> &'static Schema {
        C::SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        self.0.permissions(desired, at)
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        self.0.lookup(aws, given).await
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([(C::TARGET.to_string(), Value::Str(id.to_string()))])
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(policy) = self.0.get(aws, id).await.or_gone()? else {
            return Ok(None);
        };
        let mut attrs = Attrs::new();
        attrs.insert(C::TARGET.into(), Value::Str(id.into()));
        // A target whose policy was removed outside strata: the plan puts it back.
        if let Some(text) = policy.filter(|p| !p.is_empty()) {
            attrs.insert("policy".into(), parse_json(&text));
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let target = req_str(desired, C::TARGET)?;
        self.0
            .put(aws, target, &json_of(desired, "policy")?)
            .await?;
        created(target);
        Ok(target.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        _live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        self.0.put(aws, id, &json_of(desired, "policy")?).await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        self.0.remove(aws, id).await.ok_if_gone()
    }
}
