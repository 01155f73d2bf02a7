//! `strata import`: records an object that exists in AWS as one of the stack's resources,
//! under the state lock, then plans, so that the command shows what the stack would still
//! change about it.

use std::path::Path;

use super::{Access, OpsError, check_placement, locked};
use crate::aws::Clients;
use crate::config::Stack;
use crate::plan::Plan;
use crate::resources::implementation;
use crate::state::State;
use crate::state::store::StateStore;

/// What `strata import` was asked.
pub struct ImportRequest<'a> {
    /// The stack file, named in the `force-unlock` command a held lock's message suggests.
    pub file: &'a Path,
    /// The stack's resource: its name or its address.
    pub resource: &'a str,
    /// The object's id, in any form the type takes.
    pub id: &'a str,
}

/// What an import did, for the command line to render.
pub struct Imported {
    pub address: String,
    /// The id recorded, in the form a create records it.
    pub recorded: String,
    /// The plan after the import.
    pub plan: Plan,
}

/// Imports under the state lock, then plans.
pub async fn run(
    stack: &Stack,
    access: &Access,
    request: ImportRequest<'_>,
) -> Result<Imported, OpsError> {
    let store = access.store(stack).await?.shared();
    locked(&*store, "import", request.file, async || {
        let mut state = store.read().await?;
        let aws = access.clients(Some(stack)).await?;
        let (address, recorded) = import(
            stack,
            &mut state,
            &*store,
            &aws,
            request.resource,
            request.id,
        )
        .await?;
        let planned = super::plan(
            stack,
            &mut state,
            &aws,
            false,
            10,
            &super::Selection::default(),
            &super::OtherStacks {
                access: access.clone(),
            },
        )
        .await?;
        Ok(Imported {
            address,
            recorded,
            plan: planned.plan,
        })
    })
    .await
}

/// What identifies an object of each type, as `strata import` takes it.
pub fn import_id_form(type_name: &str) -> &'static str {
    implementation(type_name).map_or("its id", |r| r.schema().import_id)
}

/// The stack's resource that `resource` names: its name (`content_queue`,
/// `queue["a"]`) or its address (`sqs.queue.content_queue`), as plans and `state list` show
/// it.
fn declared<'a>(
    stack: &'a Stack,
    resource: &str,
) -> Option<&'a crate::config::model::ResourceDecl> {
    stack.resources.get(resource).or_else(|| {
        stack
            .resources
            .values()
            .find(|decl| decl.address() == resource)
    })
}

/// Records an existing object as the stack's resource `resource` (a name or an address),
/// after checking that it exists, is of the resource's type, is in this state's account and
/// region, and is not already recorded. The id is recorded in the form a create would
/// record it, whatever form `id` has (a queue's name or ARN becomes its URL, a function's
/// ARN its name; see [`crate::resources::Resource::lookup_id`]). The state is written;
/// nothing in AWS changes. Returns the resource's address and the id recorded.
pub async fn import(
    stack: &Stack,
    state: &mut State,
    store: &dyn StateStore,
    aws: &Clients,
    resource: &str,
    id: &str,
) -> Result<(String, String), OpsError> {
    let refuse = |message: String| Err(OpsError::Import(message));
    let Some(decl) = declared(stack, resource) else {
        let names: Vec<&str> = stack.resources.keys().map(String::as_str).collect();
        return refuse(format!(
            "the stack has no resource `{resource}`; its resources are: {}",
            names.join(", ")
        ));
    };
    let name = decl.name.as_str();
    let address = decl.address();
    if let Some(recorded) = state.resources.get(name) {
        return refuse(format!(
            "{address} is already in the state, as `{}`; nothing was imported",
            recorded.id
        ));
    }
    let type_name = decl.type_name();
    let implementation = implementation(type_name).ok_or_else(|| {
        OpsError::Import(format!("this version of strata cannot import {type_name}"))
    })?;
    let held_by = |id: &str, live: Option<&crate::value::Attrs>| {
        state.resources.iter().find(|(_, r)| {
            r.type_name == type_name
                && (implementation.same_object(&r.id, id)
                    || live.is_some_and(|live| same_arn(&r.attributes, live)))
        })
    };
    let held = |other: &str, recorded: &str| {
        refuse(format!(
            "{} already holds this object (`{recorded}`): importing it as {address} would manage one object from two resources. Nothing was imported",
            crate::config::address::address(type_name, other)
        ))
    };
    if let Some((other, r)) = held_by(id, None) {
        return held(other, &r.id);
    }
    let caller = check_placement(stack, state, store.location(), aws).await?;
    let desired = desired_from_state(stack, decl, state, aws).await?;
    let missing = || {
        refuse(format!(
            "there is no {type_name} `{id}` in {caller} (the id of a {type_name} is {})",
            import_id_form(type_name)
        ))
    };
    let Some(looked_up) = implementation.lookup_id(aws, id, &desired).await? else {
        return missing();
    };
    let Some(mut live) = implementation.read(aws, &looked_up, &desired).await? else {
        return missing();
    };
    let recorded = implementation.id_from_read(&live).unwrap_or(looked_up);
    if let Some((other, r)) = held_by(&recorded, Some(&live)) {
        return held(other, &r.id);
    }
    // strata's own settings (force_destroy) are not in AWS: they come from the stack.
    for attr in implementation
        .schema()
        .attributes
        .iter()
        .filter(|a| a.local)
    {
        if let Some(v) = desired.get(attr.name) {
            live.insert(attr.name.to_string(), v.clone());
        }
    }
    state.resources.insert(
        name.to_string(),
        crate::state::ResourceState {
            type_name: type_name.to_string(),
            id: recorded.clone(),
            attributes: crate::value::attrs_to_json(&live),
            dependencies: crate::graph::from_stack(stack)
                .dependencies(name)
                .map(str::to_string)
                .collect(),
        },
    );
    state.placement.get_or_insert(caller);
    crate::state::store::save(store, state).await?;
    Ok((address, recorded))
}

/// Whether an object recorded in state (its attributes as JSON) and one read live carry
/// the same ARN: the same object, even under ids of two forms.
fn same_arn(recorded: &serde_json::Value, live: &crate::value::Attrs) -> bool {
    match (
        recorded.get("arn").and_then(serde_json::Value::as_str),
        live.get("arn").and_then(crate::value::Value::as_str),
    ) {
        (Some(a), Some(b)) => !a.is_empty() && a == b,
        _ => false,
    }
}

/// A resource's desired attributes with what the state knows of the others.
async fn desired_from_state(
    stack: &Stack,
    decl: &crate::config::model::ResourceDecl,
    state: &State,
    aws: &Clients,
) -> Result<crate::value::Attrs, OpsError> {
    let identity = aws.identity().await?;
    let scope = crate::config::model::BaseScope {
        stack,
        account_id: Some(&identity.account_id),
        region: Some(&aws.region),
        partition: Some(&identity.partition),
        data: None,
        resources: |other: &str, attribute: &str| {
            state
                .resources
                .get(other)
                .and_then(|r| r.attributes.get(attribute))
                .map(crate::value::Value::from_json)
                .unwrap_or(crate::value::Value::Unknown)
        },
    };
    Ok(crate::plan::desired_attributes(stack, decl, &scope))
}
