//! Building a plan: refresh every resource in state from AWS (one concurrent read round),
//! evaluate the stack's attributes with what is known, diff, and choose the actions.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt, stream};

use super::diff::{action, changes, with_creation_defaults};
use super::selection::Selection;
use super::{Action, ActionReason, Change, Plan, ResourcePlan};
use crate::aws::{AwsError, Clients};
use crate::config::check::check_attributes;
use crate::config::model::{BaseScope, Stack};
use crate::diagnostics::Diagnostic;
use crate::graph::DependencyQueue;
use crate::resources::implementation;
use crate::schema::Schema;
use crate::state::{ResourceState, State};
use crate::value::{Attrs, Value, attrs_from_json};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<(String, String)>),
    #[error("the stack is not valid with the values known now")]
    Invalid(Vec<Diagnostic>),
    /// The plan breaks a resource's `lifecycle` rules (`prevent_destroy`).
    #[error("the plan breaks the stack's lifecycle rules")]
    Refused(Vec<Diagnostic>),
    /// `--target` or `--exclude` names no resource.
    #[error("{0}")]
    Selection(String),
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

/// Reads every resource recorded in state, at most `concurrency` at a time.
pub async fn refresh(
    state: &State,
    aws: &Clients,
    concurrency: usize,
) -> Result<Refreshed, PlanError> {
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
        let live = read_recorded(aws, r).await?;
        Ok::<_, AwsError>((name.clone(), live))
    });
    let live = stream::iter(reads)
        .buffer_unordered(concurrency.max(1))
        .try_collect::<HashMap<_, _>>()
        .await?;
    Ok(Refreshed { live })
}

/// Reads one recorded object from AWS, with strata's own settings (which AWS does not
/// hold) carried over from state. `None` when it is gone.
pub async fn read_recorded(aws: &Clients, r: &ResourceState) -> Result<Option<Attrs>, AwsError> {
    let resource = implementation(&r.type_name).ok_or_else(|| {
        AwsError::new(
            "read",
            format!("this version of strata cannot read {}", r.type_name),
        )
    })?;
    let prior = attrs_from_json(&r.attributes);
    let live = resource.read(aws, &r.id, &prior).await?;
    Ok(live.map(|mut attrs| {
        for attr in resource.schema().attributes.iter().filter(|a| a.local) {
            if let Some(v) = prior.get(attr.name) {
                attrs.insert(attr.name.to_string(), v.clone());
            }
        }
        attrs
    }))
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
        let found = match &pending.request {
            Some(request) => resource.resume(aws, request).await?,
            None => resource.find(aws, &desired).await?,
        };
        let Some(id) = found else {
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

/// Plans the stack against refreshed state, reading at most `concurrency` resources at
/// once. `destroy` plans the deletion of everything in state instead, without reading it.
pub async fn plan(
    stack: &Stack,
    state: &State,
    aws: &Clients,
    destroy: bool,
    concurrency: usize,
    selection: &Selection,
    stacks: &dyn super::data::StackOutputs,
) -> Result<Plan, PlanError> {
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
    // Renamed resources (`moved_from`) are planned under their new names, from the object
    // the state records under the old one.
    let mut moved = HashMap::new();
    let renamed;
    let state = if destroy {
        state
    } else {
        let mut copy = state.clone();
        for decl in stack.resources.values() {
            if let Some((old, _)) = &decl.moved_from
                && copy
                    .resources
                    .get(old)
                    .is_some_and(|r| r.type_name == decl.type_name())
                && copy.rename(old, &decl.name)
            {
                moved.insert(decl.name.clone(), old.clone());
            }
        }
        renamed = copy;
        &renamed
    };
    // Destroy needs no refresh: deleting what is already gone counts as done, and state
    // holds what each delete needs. That spares a full read of every resource.
    // Data sources are read beside the refresh: they add no round trip to a plan.
    let (refreshed, data) = if destroy {
        let live = HashMap::new();
        (Refreshed { live }, Default::default())
    } else {
        futures::try_join!(
            refresh(state, aws, concurrency),
            super::data::read_data(stack, aws, stacks, concurrency)
        )?
    };
    let mut resources = Vec::new();
    if !destroy {
        let identity = aws.identity().await?;
        let facts = Facts {
            account_id: &identity.account_id,
            region: &aws.region,
            partition: &identity.partition,
        };
        resources = plan_stack(stack, state, &refreshed, &data, &facts)?;
        for rp in &mut resources {
            rp.moved_from = moved.remove(&rp.name);
        }
    }
    // Resources in state that the stack no longer declares are deleted, dependents first.
    for name in delete_order(state, |name| !destroy && stack.resources.contains_key(name)) {
        let r = &state.resources[&name];
        let live = refreshed.live.get(&name);
        let gone = live.is_some_and(Option::is_none);
        resources.push(ResourcePlan {
            name: name.clone(),
            type_name: r.type_name.clone(),
            action: if gone { Action::NoOp } else { Action::Delete },
            changes: Vec::new(),
            reason: if gone {
                ActionReason::AlreadyGone
            } else if destroy {
                ActionReason::Destroy
            } else {
                ActionReason::NoLongerInStack
            },
            id: Some(r.id.clone()),
            declared_at: None,
            before: live.cloned().flatten(),
            after: None,
            dependencies: r.dependencies.clone(),
            moved_from: None,
            deletion: (!gone).then(|| deletion_note(r)).flatten(),
            create_before_destroy: false,
            sensitive: implementation(&r.type_name)
                .map(|t| sensitive_attributes(t.schema(), |_| false))
                .unwrap_or_default(),
        });
    }
    selection
        .restrict(&mut resources, destroy)
        .map_err(PlanError::Selection)?;
    let refused = super::lifecycle::check(stack, &resources);
    if !refused.is_empty() {
        return Err(PlanError::Refused(refused));
    }
    Ok(Plan {
        stack: stack.name.clone(),
        stage: state.stage.clone(),
        state_serial: state.serial,
        state_lineage: state.lineage.clone(),
        resources,
        destroy,
        selection: selection.clone(),
        data,
    })
}

/// What deleting the recorded object `r` does beyond deleting it, if its type says.
/// The attributes of `schema` that are sensitive by type, or by `from_variable` (set from a
/// sensitive variable).
fn sensitive_attributes(schema: &Schema, from_variable: impl Fn(&str) -> bool) -> Vec<String> {
    schema
        .attributes
        .iter()
        .filter(|a| a.sensitive || from_variable(a.name))
        .map(|a| a.name.to_string())
        .collect()
}

fn deletion_note(r: &ResourceState) -> Option<String> {
    implementation(&r.type_name)?.deletion_note(&attrs_from_json(&r.attributes))
}

/// Where the stack is deployed, for `${aws.*}`.
struct Facts<'a> {
    account_id: &'a str,
    region: &'a str,
    partition: &'a str,
}

/// Names in state that `keep` does not keep, in an order that deletes dependents before
/// what they depend on (by the dependencies recorded in state).
pub fn delete_order(state: &State, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let doomed: Vec<&String> = state.resources.keys().filter(|n| !keep(n)).collect();
    // Reversed edges: a resource waits for the deletion of everything that depends on it.
    let mut waits_for: HashMap<&str, Vec<String>> = HashMap::new();
    for other in &doomed {
        for dep in &state.resources[*other].dependencies {
            waits_for
                .entry(dep.as_str())
                .or_default()
                .push((*other).clone());
        }
    }
    DependencyQueue::new(doomed.iter().map(|name| {
        let deps = waits_for.remove(name.as_str()).unwrap_or_default();
        ((*name).clone(), deps)
    }))
    .into_order()
}

fn plan_stack(
    stack: &Stack,
    state: &State,
    refreshed: &Refreshed,
    data: &crate::config::model::DataValues,
    facts: &Facts<'_>,
) -> Result<Vec<ResourcePlan>, PlanError> {
    let graph = crate::graph::from_stack(stack);
    let order = graph.order().expect("validated stacks have no cycle");
    let mut desired_by_name: HashMap<String, Attrs> = HashMap::new();
    let mut actions: HashMap<String, Action> = HashMap::new();
    let mut out = Vec::new();
    let mut diagnostics = Vec::new();

    for name in &order {
        let decl = &stack.resources[name];
        let schema = decl.schema;
        let scope = BaseScope {
            stack,
            account_id: Some(facts.account_id),
            region: Some(facts.region),
            partition: Some(facts.partition),
            data: Some(data),
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
        let mut desired = super::desired_attributes(stack, decl, &scope);
        let dependencies: Vec<String> = graph.dependencies(name).map(str::to_string).collect();

        let in_state = state.resources.get(name);
        let live = refreshed.live.get(name).and_then(Option::as_ref);
        let created = |desired: &mut Attrs, reason| {
            with_creation_defaults(schema, desired, None);
            (Action::Create, created_changes(schema, desired), reason)
        };
        let (action, changes, reason) = match (in_state, live) {
            (Some(prior), _) if prior.type_name != schema.type_name => {
                let (_, changes, reason) = created(
                    &mut desired,
                    ActionReason::TypeChanged {
                        from: prior.type_name.clone(),
                        to: schema.type_name.to_string(),
                    },
                );
                (Action::Replace, changes, reason)
            }
            (None, _) => created(&mut desired, ActionReason::New),
            (Some(_), None) => created(&mut desired, ActionReason::DeletedOutsideStrata),
            (Some(_), Some(live)) => {
                super::lifecycle::ignore_changes(decl, &mut desired, live);
                let changes = changes(schema, &desired, live);
                let action = action(&changes);
                if action == Action::Replace {
                    with_creation_defaults(schema, &mut desired, Some(live));
                }
                let reason = update_reason(&changes, &dependencies, &actions);
                (action, changes, reason)
            }
        };
        let mut changes = changes;
        for change in &mut changes {
            let attribute = change.path.split(['.', '[']).next().unwrap_or_default();
            if let Some(entry) = decl.attributes.get(attribute) {
                change.origin = Some(stack.sources.short_location(&entry.node.span));
                change.sensitive |= stack.is_sensitive(&entry.node);
            }
        }
        actions.insert(name.clone(), action);
        out.push(ResourcePlan {
            name: name.clone(),
            type_name: schema.type_name.to_string(),
            action,
            changes,
            reason,
            id: in_state.filter(|_| live.is_some()).map(|r| r.id.clone()),
            declared_at: Some(stack.sources.short_location(&decl.span)),
            before: live.cloned(),
            after: action.writes().then(|| desired.clone()),
            dependencies,
            moved_from: None,
            deletion: in_state
                .filter(|_| action == Action::Replace && live.is_some())
                .and_then(deletion_note),
            create_before_destroy: action == Action::Replace
                && decl.lifecycle.create_before_destroy.is_some(),
            sensitive: sensitive_attributes(schema, |attribute| {
                decl.attributes
                    .get(attribute)
                    .is_some_and(|entry| stack.is_sensitive(&entry.node))
            }),
        });
        desired_by_name.insert(name.clone(), desired);
    }
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(PlanError::Invalid(diagnostics))
    }
}

/// Why an existing resource changes: attributes that force replacement; values that come
/// from a dependency being (re)created; or the attributes that differ.
fn update_reason(
    changes: &[Change],
    dependencies: &[String],
    actions: &HashMap<String, Action>,
) -> ActionReason {
    if changes.is_empty() {
        return ActionReason::Unchanged;
    }
    let forcing: Vec<String> = changes
        .iter()
        .filter(|c| c.forces_replacement)
        .map(|c| c.path.clone())
        .collect();
    if !forcing.is_empty() {
        return ActionReason::ReplacementRequired {
            attributes: forcing,
        };
    }
    let only_unknowns = !changes.is_empty()
        && changes
            .iter()
            .all(|c| c.after.as_ref().is_some_and(|v| !v.is_known()));
    let replaced: Vec<String> = dependencies
        .iter()
        .filter(|d| matches!(actions.get(*d), Some(Action::Create | Action::Replace)))
        .cloned()
        .collect();
    if only_unknowns && !replaced.is_empty() {
        return ActionReason::DependencyReplaced {
            dependencies: replaced,
        };
    }
    ActionReason::AttributesChanged {
        attributes: changes.iter().map(|c| c.path.clone()).collect(),
    }
}

/// A create shows every attribute the stack sets, then those only AWS will know.
fn created_changes(schema: &Schema, desired: &Attrs) -> Vec<Change> {
    // What a type adds for itself beyond its schema (a create token) is not the stack's.
    let set = desired
        .iter()
        .filter(|(k, _)| schema.attribute(k).is_some() || schema.computed.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()));
    let computed = schema
        .computed
        .iter()
        .filter(|c| !desired.contains_key(**c))
        .map(|c| (c.to_string(), Value::Unknown));
    set.chain(computed)
        .map(|(path, after)| Change {
            sensitive: schema.attribute(&path).is_some_and(|a| a.sensitive),
            path,
            before: None,
            after: Some(after),
            forces_replacement: false,
            origin: None,
        })
        .collect()
}

/// What `${other.attribute}` is at plan time: a configured attribute is what the stack
/// says; a computed one (or one left out that the object keeps as it is) is known from AWS
/// unless the resource is being (re)created.
fn lookup(
    stack: &Stack,
    desired: &HashMap<String, Attrs>,
    actions: &HashMap<String, Action>,
    refreshed: &Refreshed,
    other: &str,
    attribute: &str,
) -> Value {
    let configurable = stack
        .resources
        .get(other)
        .and_then(|r| r.schema.attribute(attribute));
    if let Some(configurable) = configurable {
        let set = desired.get(other).and_then(|d| d.get(attribute)).cloned();
        match set {
            Some(value) => return value,
            // Left out, and kept as it is live: known from AWS, as a computed attribute.
            None if configurable.keep_live => {}
            None => return Value::Null,
        }
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
