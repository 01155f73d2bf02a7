//! Building a plan: refresh every resource in state from AWS (one concurrent read round),
//! evaluate the stack's attributes with what is known, diff, and choose the actions.

use std::collections::HashMap;

use futures::future::join_all;

use super::diff::{action, changes, replace_reason};
use super::{Action, Change, Plan, ResourcePlan};
use crate::aws::{AwsError, Clients};
use crate::config::Diagnostic;
use crate::config::model::{BaseScope, Stack};
use crate::resources::implementation;
use crate::schema::check_attributes;
use crate::state::State;
use crate::value::{Attrs, Value, attrs_from_json};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<(String, String)>),
    #[error("the stack is not valid with the values known now")]
    Invalid(Vec<Diagnostic>),
}

fn unsupported_message(items: &[(String, String)]) -> String {
    let list: Vec<String> = items
        .iter()
        .map(|(name, ty)| format!("{ty}.{name}"))
        .collect();
    format!(
        "this version of strata cannot yet deploy: {}",
        list.join(", ")
    )
}

/// What a plan knows about each resource besides the plan itself: live attributes (None
/// when gone) for resources in state.
pub struct Refreshed {
    pub live: HashMap<String, Option<Attrs>>,
}

/// Reads every resource recorded in state, concurrently.
pub async fn refresh(state: &State, aws: &Clients) -> Result<Refreshed, PlanError> {
    let unsupported: Vec<(String, String)> = state
        .resources
        .iter()
        .filter(|(_, r)| implementation(&r.type_name).is_none())
        .map(|(n, r)| (n.clone(), r.type_name.clone()))
        .collect();
    if !unsupported.is_empty() {
        return Err(PlanError::Unsupported(unsupported));
    }
    let reads = state.resources.iter().map(|(name, r)| async move {
        let resource = implementation(&r.type_name).expect("checked above");
        let prior = attrs_from_json(&r.attributes);
        let live = resource.read(aws, &r.id, &prior).await?;
        // strata's own settings are not in AWS: carry them over from state.
        let live = live.map(|mut attrs| {
            for attr in resource.schema().attributes.iter().filter(|a| a.local) {
                if let Some(v) = prior.get(attr.name) {
                    attrs.insert(attr.name.to_string(), v.clone());
                }
            }
            attrs
        });
        Ok::<_, AwsError>((name.clone(), live))
    });
    let live = join_all(reads)
        .await
        .into_iter()
        .collect::<Result<HashMap<_, _>, _>>()?;
    Ok(Refreshed { live })
}

/// Resolves creates that a killed run left pending: each object that exists is adopted
/// into `state` (read live), the others are forgotten. Returns the names adopted.
pub async fn adopt_pending(state: &mut State, aws: &Clients) -> Result<Vec<String>, PlanError> {
    let mut adopted = Vec::new();
    for (name, pending) in std::mem::take(&mut state.pending) {
        let Some(resource) = implementation(&pending.type_name) else {
            continue;
        };
        let desired = attrs_from_json(&pending.desired);
        let Some(id) = resource.find(aws, &desired).await? else {
            continue;
        };
        let Some(live) = resource.read(aws, &id, &desired).await? else {
            continue;
        };
        state.resources.insert(
            name.clone(),
            crate::state::ResourceState {
                type_name: pending.type_name.clone(),
                id,
                attributes: crate::value::attrs_to_json(&live),
                dependencies: pending.dependencies.clone(),
            },
        );
        adopted.push(name);
    }
    Ok(adopted)
}

/// Plans the stack against refreshed state. `destroy` plans the deletion of everything in
/// state instead, without reading it first.
pub async fn plan(
    stack: &Stack,
    state: &State,
    aws: &Clients,
    destroy: bool,
) -> Result<(Plan, Refreshed), PlanError> {
    if !destroy {
        let unsupported: Vec<(String, String)> = stack
            .resources
            .values()
            .filter(|r| implementation(r.type_name()).is_none())
            .map(|r| (r.name.clone(), r.type_name().to_string()))
            .collect();
        if !unsupported.is_empty() {
            return Err(PlanError::Unsupported(unsupported));
        }
    }
    // Destroy needs no refresh: deleting what is already gone counts as done, and state
    // holds what each delete needs. That spares a full read of every resource.
    let refreshed = if destroy {
        Refreshed {
            live: HashMap::new(),
        }
    } else {
        refresh(state, aws).await?
    };
    let mut resources = Vec::new();
    if !destroy {
        let account_id = aws.account_id().await?.to_string();
        resources = plan_stack(stack, state, &refreshed, &account_id, &aws.region)?;
    }
    // Resources in state that the stack no longer declares are deleted, dependents first.
    let declared: Vec<&str> = if destroy {
        Vec::new()
    } else {
        stack.resources.keys().map(String::as_str).collect()
    };
    for name in delete_order(state, &declared) {
        let r = &state.resources[&name];
        let gone = refreshed.live.get(&name).is_some_and(Option::is_none);
        resources.push(ResourcePlan {
            name: name.clone(),
            type_name: r.type_name.clone(),
            action: if gone { Action::NoOp } else { Action::Delete },
            changes: Vec::new(),
            reason: if gone {
                Some("already deleted outside strata; it will be forgotten".into())
            } else if destroy {
                None
            } else {
                Some("no longer in the stack".into())
            },
            id: Some(r.id.clone()),
            declared_at: None,
        });
    }
    let plan = Plan {
        stack: stack.name.clone(),
        stage: state.stage.clone(),
        state_serial: state.serial,
        state_lineage: state.lineage.clone(),
        resources,
        destroy,
    };
    Ok((plan, refreshed))
}

/// Names in state not in `declared`, in an order that deletes dependents before what they
/// depend on (by the dependencies recorded in state).
pub fn delete_order(state: &State, declared: &[&str]) -> Vec<String> {
    let doomed: Vec<&String> = state
        .resources
        .keys()
        .filter(|n| !declared.contains(&n.as_str()))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut remaining = doomed.clone();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|name| {
            // Ready when nothing still to delete depends on it.
            let blocked = doomed.iter().any(|other| {
                !order.contains(other)
                    && *other != *name
                    && state.resources[*other].dependencies.contains(name)
            });
            if !blocked {
                order.push((*name).clone());
            }
            blocked
        });
        if remaining.len() == before {
            // A cycle in recorded dependencies cannot happen from a valid stack; take the rest as they are.
            order.extend(remaining.drain(..).cloned());
        }
    }
    order
}

fn plan_stack(
    stack: &Stack,
    state: &State,
    refreshed: &Refreshed,
    account_id: &str,
    region: &str,
) -> Result<Vec<ResourcePlan>, PlanError> {
    let order = stack.graph.order().expect("validated stacks have no cycle");
    let mut desired_by_name: HashMap<String, Attrs> = HashMap::new();
    let mut actions: HashMap<String, Action> = HashMap::new();
    let mut out = Vec::new();
    let mut diagnostics = Vec::new();

    for name in &order {
        let decl = &stack.resources[name];
        let schema = decl.schema;
        let scope = BaseScope {
            stack,
            account_id: Some(account_id),
            region: Some(region),
            resources: |other: &str, attribute: &str| {
                lookup(
                    stack,
                    &desired_by_name,
                    &actions,
                    refreshed,
                    other,
                    attribute,
                )
            },
        };
        let entries: Vec<_> = decl
            .attributes
            .iter()
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        check_attributes(
            schema,
            &decl.name,
            &entries,
            &decl.span,
            &scope,
            &mut diagnostics,
        );
        let desired = super::desired_attributes(stack, decl, &scope);

        let in_state = state.resources.get(name);
        let live = refreshed.live.get(name).and_then(Option::as_ref);
        let (action, changes, reason) = match (in_state, live) {
            (Some(prior), _) if prior.type_name != schema.type_name => (
                Action::Replace,
                created_changes(&desired),
                Some(format!(
                    "its type changed from {} to {}",
                    prior.type_name, schema.type_name
                )),
            ),
            (None, _) => (Action::Create, created_changes(&desired), None),
            (Some(_), None) => (
                Action::Create,
                created_changes(&desired),
                Some("deleted outside strata".into()),
            ),
            (Some(_), Some(live)) => {
                let changes = changes(schema, &desired, live);
                let action = action(&changes);
                let reason = replace_reason(&changes);
                (action, changes, reason)
            }
        };
        let mut changes = changes;
        for change in &mut changes {
            let attribute = change.path.split(['.', '[']).next().unwrap_or_default();
            if let Some(entry) = decl.attributes.get(attribute) {
                change.origin = Some(stack.sources.short_location(&entry.node.span));
                change.sensitive = stack.is_sensitive(&entry.node);
            }
        }
        actions.insert(name.clone(), action);
        desired_by_name.insert(name.clone(), desired);
        out.push(ResourcePlan {
            name: name.clone(),
            type_name: schema.type_name.to_string(),
            action,
            changes,
            reason,
            id: in_state.filter(|_| live.is_some()).map(|r| r.id.clone()),
            declared_at: Some(stack.sources.short_location(&decl.span)),
        });
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(PlanError::Invalid(diagnostics))
    }
}

/// A create shows every attribute the stack sets.
fn created_changes(desired: &Attrs) -> Vec<Change> {
    desired
        .iter()
        .map(|(k, v)| Change {
            path: k.clone(),
            before: None,
            after: Some(v.clone()),
            forces_replacement: false,
            origin: None,
            sensitive: false,
        })
        .collect()
}

/// What `${other.attribute}` is at plan time: a configured attribute is what the stack
/// says; a computed one is known from AWS unless the resource is being (re)created.
fn lookup(
    stack: &Stack,
    desired: &HashMap<String, Attrs>,
    actions: &HashMap<String, Action>,
    refreshed: &Refreshed,
    other: &str,
    attribute: &str,
) -> Value {
    let configured = stack
        .resources
        .get(other)
        .is_some_and(|r| r.schema.attribute(attribute).is_some());
    if configured {
        return desired
            .get(other)
            .and_then(|d| d.get(attribute))
            .cloned()
            .unwrap_or(Value::Null);
    }
    match actions.get(other) {
        Some(Action::Create | Action::Replace) | None => Value::Unknown,
        Some(_) => refreshed
            .live
            .get(other)
            .and_then(Option::as_ref)
            .and_then(|live| live.get(attribute))
            .cloned()
            .unwrap_or(Value::Unknown),
    }
}
