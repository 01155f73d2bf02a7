//! The executor: carries out a [`Plan`] exactly as it was made. Each resource's action and
//! values come from the plan; only values the plan could not know (an ARN of something
//! created first) are filled in from what this run recorded. Resources run in dependency
//! order through [`walk`]; state is written after every resource, and a create is recorded
//! before it starts, so a killed run is adopted by the next.

pub mod walk;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::aws::{AwsError, Clients, Identity};
use crate::config::expr::evaluate;
use crate::config::model::{BaseScope, Stack};
use crate::graph::DependencyQueue;
use crate::plan::diff::changes;
use crate::plan::{Action, ActionReason, Plan, ResourcePlan};
use crate::resources::{Resource, Settle, implementation};
use crate::state::store::{StateStore, save, save_entry};
use crate::state::{OutputState, PendingCreate, ResourceState, State, StateError};
use crate::value::{Attrs, Value, attrs_from_json, attrs_to_json};

pub use walk::Outcome;
use walk::WalkEvent;

/// What the run reports as it goes; the views turn these into lines.
#[derive(Clone, Debug)]
pub enum Event {
    Started {
        address: String,
        action: Action,
    },
    StillRunning {
        address: String,
        action: Action,
        elapsed: Duration,
    },
    Done {
        address: String,
        action: Action,
        elapsed: Duration,
    },
    Failed {
        address: String,
        action: Action,
        error: String,
    },
    /// A call of the resource's action is being tried again: an SDK retry of a transient
    /// fault, or a wait for eventual consistency or a quota; the run goes on.
    Retrying {
        address: String,
        action: Action,
        reason: String,
    },
    /// Never run: `because` (an address) failed or was skipped.
    Skipped {
        address: String,
        because: String,
    },
    /// Not started: the user interrupted the walk.
    NotStarted {
        address: String,
    },
}

pub type Events = Arc<dyn Fn(Event) + Send + Sync>;

/// Resolves when the user asks the run to stop (Ctrl-C).
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// How the walk runs: at most `parallelism` resources at once, reporting to `events`,
/// stopping new work when `stop` resolves.
pub struct Options {
    pub parallelism: usize,
    pub events: Events,
    pub stop: Stop,
}

/// The state, shared by the resources running at once; every change is written through.
struct Recorder {
    state: tokio::sync::Mutex<State>,
    store: Arc<dyn StateStore>,
}

impl Recorder {
    async fn update(&self, change: impl FnOnce(&mut State)) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        change(&mut state);
        save(self.store.as_ref(), &mut state).await
    }

    /// Like [`Recorder::update`] for a change to the entry `name` alone: the store can
    /// record just that entry, so the cost does not grow with the state, and the state is
    /// free for other resources while the store finishes (see
    /// [`StateStore::write_entry`]).
    async fn update_entry(
        &self,
        name: &str,
        change: impl FnOnce(&mut State),
    ) -> Result<(), StateError> {
        let written = {
            let mut state = self.state.lock().await;
            change(&mut state);
            save_entry(self.store.as_ref(), &mut state, name)?
        };
        written.await
    }
}

/// Applies `plan`. `stack` is the stack the plan was made from; it is needed for values
/// known only during the apply and for the outputs, and is `None` for a destroy.
pub async fn apply(
    stack: Option<Arc<Stack>>,
    plan: &Plan,
    state: State,
    store: Arc<dyn StateStore>,
    aws: Arc<Clients>,
    options: Options,
) -> Result<(State, Outcome), ApplyError> {
    let Options {
        parallelism,
        events,
        stop,
    } = options;
    let recorder = Arc::new(Recorder {
        state: tokio::sync::Mutex::new(state),
        store,
    });
    // Record renames, what the plan read, and forget what is already gone.
    recorder
        .update(|state| {
            for rp in &plan.resources {
                if let Some(old) = &rp.moved_from {
                    state.rename(old, &rp.name);
                }
            }
            for rp in &plan.resources {
                match (&rp.reason, &rp.before) {
                    (ActionReason::AlreadyGone | ActionReason::DeletedOutsideStrata, _) => {
                        state.resources.shift_remove(&rp.name);
                    }
                    (_, Some(before)) if matches!(rp.action, Action::NoOp | Action::Update) => {
                        if let Some(s) = state.resources.get_mut(&rp.name) {
                            s.attributes = attrs_to_json(before);
                        }
                    }
                    _ => {}
                }
            }
        })
        .await?;

    let identity = match stack {
        Some(_) => Some(aws.identity().await?.clone()),
        None => None,
    };
    let queue = work_queue(plan, &*recorder.state.lock().await);
    let by_name: HashMap<&str, &ResourcePlan> = plan
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let address = |name: &str| by_name[name].address();
    let on_event = |event: WalkEvent| {
        events(match event {
            WalkEvent::Skipped { name, because } => Event::Skipped {
                address: address(&name),
                because: by_name
                    .get(because.as_str())
                    .map_or(because, |rp| rp.address()),
            },
            WalkEvent::NotStarted { name } => Event::NotStarted {
                address: address(&name),
            },
        })
    };
    let context = Arc::new(Context {
        stack: stack.clone(),
        identity,
        region: aws.region.clone(),
        data: plan.data.clone(),
    });
    let run = |name: String| {
        let rp = by_name[name.as_str()].clone();
        let aws = aws.clone();
        let recorder = recorder.clone();
        let events = events.clone();
        let context = context.clone();
        // Created here, inside the command's span: the task it runs in has none.
        let span = tracing::info_span!(
            "resource",
            address = %rp.address(),
            action = ?rp.action
        );
        async move { run(rp, context, aws, recorder, events).await }.instrument(span)
    };
    let outcome = walk::walk(queue, parallelism, stop, &on_event, run).await;

    let mut state = recorder.state.lock().await;
    match &stack {
        Some(stack) => {
            state.outputs = outputs(stack, &state, &context);
        }
        None => state.outputs.clear(),
    }
    save(recorder.store.as_ref(), &mut state).await?;
    Ok((state.clone(), outcome))
}

/// The resources with work to do, each waiting for what must happen first: a create or
/// update waits for its dependencies; a delete waits for the deletion of everything that
/// depended on it (as recorded in state).
fn work_queue(plan: &Plan, state: &State) -> DependencyQueue {
    let work: HashSet<&str> = plan
        .resources
        .iter()
        .filter(|r| r.action != Action::NoOp)
        .map(|r| r.name.as_str())
        .collect();
    let mut dependents: HashMap<&str, Vec<String>> = HashMap::new();
    for (other, s) in &state.resources {
        if work.contains(other.as_str()) {
            for dep in &s.dependencies {
                dependents
                    .entry(dep.as_str())
                    .or_default()
                    .push(other.clone());
            }
        }
    }
    DependencyQueue::new(
        plan.resources
            .iter()
            .filter(|r| r.action != Action::NoOp)
            .map(|rp| {
                let waits_for: Vec<String> = match rp.action {
                    Action::Delete => dependents.remove(rp.name.as_str()).unwrap_or_default(),
                    _ => rp
                        .dependencies
                        .iter()
                        .filter(|d| work.contains(d.as_str()))
                        .cloned()
                        .collect(),
                };
                (rp.name.clone(), waits_for)
            }),
    )
}

/// What every resource task needs to fill in values known only now.
struct Context {
    stack: Option<Arc<Stack>>,
    identity: Option<Identity>,
    region: String,
    /// What the plan's data sources read.
    data: crate::config::model::DataValues,
}

/// The values `rp` writes: the plan's, with each value the plan did not know taken from
/// what this run recorded.
fn desired_now(rp: &ResourcePlan, context: &Context, state: &State) -> Result<Attrs, String> {
    let planned = rp.after.clone().unwrap_or_default();
    if planned.values().all(Value::is_known) {
        return Ok(planned);
    }
    let stack = context
        .stack
        .as_deref()
        .ok_or_else(|| "values known only during apply need the stack".to_string())?;
    let scope = state_scope(stack, state, context);
    let now = crate::plan::desired_attributes(stack, &stack.resources[&rp.name], &scope);
    planned
        .into_iter()
        .map(|(name, value)| {
            let filled = fill_unknowns(&value, now.get(&name)).ok_or_else(|| {
                format!("`{name}` is still unknown: what it refers to was not applied")
            })?;
            Ok((name, filled))
        })
        .collect()
}

/// `planned` with every unknown part replaced by the same part of `now`; `None` if `now`
/// does not know it either.
fn fill_unknowns(planned: &Value, now: Option<&Value>) -> Option<Value> {
    match (planned, now) {
        (Value::Unknown, Some(now)) if now.is_known() => Some(now.clone()),
        (Value::Unknown, _) => None,
        (Value::List(items), now) if !planned.is_known() => {
            let now = now.and_then(Value::as_list);
            items
                .iter()
                .enumerate()
                .map(|(i, item)| fill_unknowns(item, now.and_then(|n| n.get(i))))
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
        }
        (Value::Map(map), now) if !planned.is_known() => {
            let now = now.and_then(Value::as_map);
            map.iter()
                .map(|(k, v)| Some((k.clone(), fill_unknowns(v, now.and_then(|n| n.get(k)))?)))
                .collect::<Option<_>>()
                .map(Value::Map)
        }
        (known, _) => Some(known.clone()),
    }
}

fn state_scope<'a>(
    stack: &'a Stack,
    state: &'a State,
    context: &'a Context,
) -> BaseScope<'a, impl Fn(&str, &str) -> Value + 'a> {
    BaseScope {
        stack,
        account_id: context.identity.as_ref().map(|i| i.account_id.as_str()),
        region: Some(&context.region),
        partition: context.identity.as_ref().map(|i| i.partition.as_str()),
        data: Some(&context.data),
        resources: move |other: &str, attribute: &str| {
            state
                .resources
                .get(other)
                .and_then(|r| r.attributes.get(attribute))
                .map(Value::from_json)
                .unwrap_or(Value::Unknown)
        },
    }
}

fn outputs(
    stack: &Stack,
    state: &State,
    context: &Context,
) -> indexmap::IndexMap<String, OutputState> {
    let scope = state_scope(stack, state, context);
    stack
        .outputs
        .values()
        .filter_map(|o| {
            let value = evaluate(&o.value, &scope);
            value.is_known().then(|| {
                (
                    o.name.clone(),
                    OutputState {
                        value: value.to_json(),
                        sensitive: o.sensitive || stack.is_sensitive(&o.value),
                    },
                )
            })
        })
        .collect()
}

/// Runs one resource's action, reporting progress every 10 s, and records the result.
async fn run(
    rp: ResourcePlan,
    context: Arc<Context>,
    aws: Arc<Clients>,
    recorder: Arc<Recorder>,
    events: Events,
) -> Result<(), String> {
    let address = rp.address();
    events(Event::Started {
        address: address.clone(),
        action: rp.action,
    });
    let start = Instant::now();
    let report: crate::aws::observe::RetryReport = {
        let events = events.clone();
        let address = address.clone();
        let action = rp.action;
        Arc::new(move |reason: String| {
            events(Event::Retrying {
                address: address.clone(),
                action,
                reason,
            })
        })
    };
    let work =
        crate::aws::observe::reporting_retries(report, execute(&rp, &context, &aws, &recorder));
    tokio::pin!(work);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(10),
        Duration::from_secs(10),
    );
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticker.tick() => events(Event::StillRunning { address: address.clone(), action: rp.action, elapsed: start.elapsed() }),
        }
    };
    match &result {
        Ok(()) => tracing::info!(elapsed_ms = start.elapsed().as_millis() as u64, "done"),
        Err(error) => {
            tracing::warn!(elapsed_ms = start.elapsed().as_millis() as u64, error = %error, "failed")
        }
    }
    match result {
        Ok(()) => {
            events(Event::Done {
                address,
                action: rp.action,
                elapsed: start.elapsed(),
            });
            Ok(())
        }
        Err(error) => {
            events(Event::Failed {
                address,
                action: rp.action,
                error: error.clone(),
            });
            Err(error)
        }
    }
}

async fn execute(
    rp: &ResourcePlan,
    context: &Context,
    aws: &Clients,
    recorder: &Recorder,
) -> Result<(), String> {
    let resource = implementation(&rp.type_name)
        .ok_or_else(|| format!("this version of strata cannot apply {}", rp.type_name))?;
    let (prior, desired) = {
        let state = recorder.state.lock().await;
        let prior = state.resources.get(&rp.name).cloned();
        let desired = if rp.action.writes() {
            Some(desired_now(rp, context, &state)?)
        } else {
            None
        };
        (prior, desired)
    };
    apply_one(resource, rp, prior, desired, aws, recorder)
        .await
        .map_err(|e| e.to_string())
}

async fn apply_one(
    resource: &'static dyn Resource,
    rp: &ResourcePlan,
    prior: Option<ResourceState>,
    desired: Option<Attrs>,
    aws: &Clients,
    recorder: &Recorder,
) -> Result<(), ApplyError> {
    let type_name = resource.schema().type_name.to_string();
    let prior_attrs = prior
        .as_ref()
        .map(|p| attrs_from_json(&p.attributes))
        .unwrap_or_default();
    let record = |id: String, attributes: &Attrs| {
        let resource_state = ResourceState {
            type_name: type_name.clone(),
            id,
            attributes: attrs_to_json(attributes),
            dependencies: rp.dependencies.clone(),
        };
        recorder.update_entry(&rp.name, move |state| {
            state.pending.shift_remove(&rp.name);
            state.resources.insert(rp.name.clone(), resource_state);
        })
    };

    // `create_before_destroy`: the old object is recorded under another name first, so
    // that a run killed after the create still deletes it (the next plan finds it no
    // longer in the stack); it is deleted once the new one is recorded.
    let deposed = match &prior {
        Some(prior) if rp.action == Action::Replace && rp.create_before_destroy => {
            let deposed = deposed_name(&rp.name);
            recorder
                .update(|state| {
                    if let Some(entry) = state.resources.shift_remove(&rp.name) {
                        state.resources.insert(deposed.clone(), entry);
                    }
                })
                .await?;
            Some((deposed, prior.clone()))
        }
        _ => None,
    };
    if matches!(rp.action, Action::Delete | Action::Replace)
        && deposed.is_none()
        && let Some(prior) = &prior
    {
        resource.delete(aws, &prior.id, &prior_attrs).await?;
        recorder
            .update_entry(&rp.name, |state| {
                state.resources.shift_remove(&rp.name);
            })
            .await?;
    }
    let Some(desired) = &desired else {
        return Ok(());
    };
    let id = match rp.action {
        Action::Create | Action::Replace => {
            // Write ahead: if the process dies during the create, the next run finds the
            // object by what was asked for and adopts it.
            let pending = PendingCreate {
                type_name: type_name.clone(),
                // Secrets are recorded sealed: finding the object needs only its name.
                desired: attrs_to_json(&crate::schema::sealed::seal_attributes(
                    resource.schema(),
                    desired,
                )),
                dependencies: rp.dependencies.clone(),
                request: None,
            };
            recorder
                .update_entry(&rp.name, |state| {
                    state.pending.insert(rp.name.clone(), pending);
                })
                .await?;
            // A create that goes on in AWS after its call: what resumes it is recorded
            // before it is waited for.
            let noted = |request: String| -> futures::future::BoxFuture<'_, Result<(), AwsError>> {
                Box::pin(async move {
                    recorder
                        .update_entry(&rp.name, |state| {
                            if let Some(pending) = state.pending.get_mut(&rp.name) {
                                pending.request = Some(request);
                            }
                        })
                        .await
                        .map_err(|e| AwsError::new("record", e.to_string()))
                })
            };
            // The id as soon as the object exists: a failure later in the create must not
            // leave it untracked.
            let created: Mutex<Option<String>> = Mutex::new(None);
            let on_created = |id: &str| *created.lock().expect("created id") = Some(id.to_string());
            match resource
                .create_resumable(aws, desired, &on_created, Some(&noted))
                .await
            {
                Ok(id) => id,
                Err(error) => {
                    let made = created.lock().expect("created id").take();
                    if let Some(id) = made {
                        record(id, &Attrs::new()).await?;
                    } else if crate::resources::support::is_not_ours(&error) {
                        // Refused before anything was created: the write-ahead record must
                        // not make the next run adopt the object that was already there,
                        // and the old object of a replacement stays the resource's.
                        recorder
                            .update(|state| {
                                state.pending.shift_remove(&rp.name);
                                if let Some((deposed, _)) = &deposed
                                    && let Some(entry) = state.resources.shift_remove(deposed)
                                {
                                    state.resources.insert(rp.name.clone(), entry);
                                }
                            })
                            .await?;
                    }
                    return Err(error.into());
                }
            }
        }
        Action::Update => {
            let prior = prior.as_ref().expect("an update has state");
            let live = resource
                .read(aws, &prior.id, &prior_attrs)
                .await?
                .unwrap_or_default();
            resource.update(aws, &prior.id, &live, desired).await?;
            prior.id.clone()
        }
        Action::NoOp | Action::Delete => return Ok(()),
    };
    let live = settle(resource, aws, &id, desired).await?;
    record(id, &live).await?;
    if let Some((deposed, old)) = deposed {
        resource
            .delete(aws, &old.id, &attrs_from_json(&old.attributes))
            .await?;
        recorder
            .update_entry(&deposed, |state| {
                state.resources.shift_remove(&deposed);
            })
            .await?;
    }
    Ok(())
}

/// The name the state records a replaced object under while its replacement is created
/// first (`create_before_destroy`): not a name a stack can declare, so the next plan
/// deletes it if a run stops between the create and the delete.
pub fn deposed_name(name: &str) -> String {
    format!("{name}~deposed")
}

/// Reads the object back until it shows what was written (eventual consistency): as many
/// reads in a row as the resource type asks for must agree, within its budget. Returns the
/// last read either way, with strata's own settings added.
async fn settle(
    resource: &dyn Resource,
    aws: &Clients,
    id: &str,
    desired: &Attrs,
) -> Result<Attrs, AwsError> {
    let schema = resource.schema();
    let Settle {
        agreeing_reads,
        budget,
    } = resource.settle();
    let with_local = |mut live: Attrs| {
        for attr in schema.attributes.iter().filter(|a| a.local) {
            if let Some(v) = desired.get(attr.name) {
                live.insert(attr.name.to_string(), v.clone());
            }
        }
        live
    };
    // Short first waits: on most endpoints the first read already agrees.
    let start = Instant::now();
    let mut wait = Duration::from_millis(25);
    let mut agreed = 0;
    loop {
        let live = resource.read(aws, id, desired).await?.map(with_local);
        let out_of_time = start.elapsed() > budget;
        match live {
            Some(live) if changes(schema, desired, &live).is_empty() => {
                agreed += 1;
                if agreed >= agreeing_reads || out_of_time {
                    return Ok(live);
                }
                // Agreeing reads are spaced evenly: a service that answers old and new
                // values in turn shows it within a few of them.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Some(live) if out_of_time => return Ok(live),
            None if out_of_time => {
                return Err(AwsError::new(
                    "read",
                    format!(
                        "{} `{id}` was written but cannot be read back",
                        schema.type_name
                    ),
                ));
            }
            _ => agreed = 0,
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::indexmap;

    #[test]
    fn only_the_unknown_parts_of_a_planned_value_are_filled_in() {
        let planned = Value::Map(indexmap! {
            "dead_letter_queue".into() => Value::Unknown,
            "max_receive_count".into() => Value::Int(5),
        });
        let now = Value::Map(indexmap! {
            "dead_letter_queue".into() => Value::Str("arn:dlq".into()),
            "max_receive_count".into() => Value::Int(9),
        });
        assert_eq!(
            fill_unknowns(&planned, Some(&now)),
            Some(Value::Map(indexmap! {
                "dead_letter_queue".into() => Value::Str("arn:dlq".into()),
                "max_receive_count".into() => Value::Int(5),
            })),
            "the planned 5 stays, whatever the stack says now"
        );
        assert_eq!(fill_unknowns(&planned, None), None);
        assert_eq!(
            fill_unknowns(&Value::Int(60), Some(&Value::Int(120))),
            Some(Value::Int(60))
        );
    }
}
