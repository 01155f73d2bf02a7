//! The executor: walks the plan's resources as a dependency graph. A resource starts as
//! soon as everything it waits for is done (no level barrier); at most `parallelism` run at
//! once; when one fails, what depends on it is skipped and independent work finishes.
//! State is written after every resource, and as soon as a create has made something.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::aws::{AwsError, Clients};
use crate::config::expr::evaluate;
use crate::config::model::{BaseScope, Stack};
use crate::plan::diff::changes;
use crate::plan::{Action, Plan};
use crate::resources::{Resource, implementation};
use crate::state::{OutputState, PendingCreate, ResourceState, State, StateError, StateFile};
use crate::value::{Attrs, Value, attrs_from_json, attrs_to_json};

/// What the walk reports as it goes; the views turn these into lines.
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

#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    /// Ctrl-C stopped the walk: what was running finished, nothing new started.
    pub interrupted: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The state shared by the walk and by creates that report what they made.
struct Recorder {
    state: State,
    file: StateFile,
}

impl Recorder {
    fn save(&mut self) -> Result<(), StateError> {
        self.file.save(&mut self.state)
    }
}

struct Node {
    name: String,
    type_name: String,
    waits_for: HashSet<String>,
}

/// How the walk runs: at most `parallelism` resources at once, reporting to `events`.
pub struct Options {
    pub parallelism: usize,
    pub events: Events,
}

/// Applies `plan`. `stack` is needed for everything but a destroy; `live` is what the plan
/// read.
pub async fn apply(
    stack: Option<&Stack>,
    plan: &Plan,
    state: State,
    file: StateFile,
    live: &HashMap<String, Option<Attrs>>,
    aws: Arc<Clients>,
    options: Options,
) -> Result<(State, Outcome), ApplyError> {
    let Options {
        parallelism,
        events,
    } = options;
    let recorder = Arc::new(Mutex::new(Recorder { state, file }));
    {
        // Refresh what the plan read, and forget what is already gone.
        let mut r = recorder.lock().expect("state lock");
        for rp in &plan.resources {
            match live.get(&rp.name) {
                Some(Some(attrs)) if rp.action == Action::NoOp || rp.action == Action::Update => {
                    if let Some(s) = r.state.resources.get_mut(&rp.name) {
                        s.attributes = attrs_to_json(attrs);
                    }
                }
                Some(None) => {
                    r.state.resources.shift_remove(&rp.name);
                }
                _ => {}
            }
        }
        r.save()?;
    }

    let nodes = build_nodes(stack, plan, &recorder.lock().expect("state lock").state);
    let account_id = match stack {
        Some(_) => Some(aws.account_id().await?.to_string()),
        None => None,
    };
    let mut outcome = Outcome::default();
    let mut waiting: HashMap<String, Node> =
        nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
    let mut ready: VecDeque<String> = VecDeque::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut running = JoinSet::new();
    let order: Vec<String> = plan.resources.iter().map(|r| r.name.clone()).collect();
    // The first Ctrl-C stops new work; what is in flight finishes and is recorded, so the
    // state stays true. (A second one kills the process as usual.)
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);

    loop {
        // Move newly ready nodes to the queue, in plan order for stable output.
        for name in &order {
            if let Some(node) = waiting.get(name)
                && node.waits_for.iter().all(|d| finished.contains(d))
            {
                ready.push_back(name.clone());
                let _ = waiting.remove(name);
            }
        }
        while running.len() < parallelism.max(1)
            && let Some(name) = ready.pop_front()
        {
            let rp = plan.get(&name).expect("node from plan");
            let resource =
                implementation(&rp.type_name).expect("plan only holds implemented types");
            let address = format!("{}.{}", rp.type_name, rp.name);
            let job = {
                let r = recorder.lock().expect("state lock");
                let prior = r.state.resources.get(&name).cloned();
                let desired = match (stack, rp.action) {
                    (Some(stack), Action::Create | Action::Update | Action::Replace) => Some(
                        desired_now(stack, &name, &r.state, account_id.as_deref(), &aws.region),
                    ),
                    _ => None,
                };
                let dependencies = stack
                    .map(|s| s.graph.dependencies(&name).map(str::to_string).collect())
                    .unwrap_or_default();
                Job {
                    name: name.clone(),
                    address: address.clone(),
                    action: rp.action,
                    resource,
                    prior,
                    desired,
                    dependencies,
                }
            };
            events(Event::Started {
                address,
                action: rp.action,
            });
            let aws = aws.clone();
            let recorder = recorder.clone();
            let events = events.clone();
            running.spawn(async move {
                let name = job.name.clone();
                (name, run(job, aws, recorder, events).await)
            });
        }
        if outcome.interrupted {
            ready.clear();
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            _ = &mut interrupt, if !outcome.interrupted => {
                outcome.interrupted = true;
                let mut left: Vec<(String, String)> =
                    waiting.drain().map(|(name, node)| (name, node.type_name)).collect();
                left.extend(ready.drain(..).map(|name| {
                    let type_name = plan.get(&name).map(|r| r.type_name.clone()).unwrap_or_default();
                    (name, type_name)
                }));
                for (name, type_name) in left {
                    events(Event::NotStarted { address: format!("{type_name}.{name}") });
                    outcome.skipped.push(name);
                }
                // A second Ctrl-C ends the process at once; pending records keep the state
                // true even then.
                tokio::spawn(async {
                    let _ = tokio::signal::ctrl_c().await;
                    eprintln!("interrupted again: stopping now");
                    std::process::exit(130);
                });
                continue;
            }
        };
        let Some(joined) = joined else {
            break;
        };
        let (name, result) = joined.expect("resource task panicked");
        match result {
            Ok(()) => {
                outcome.done.push(name.clone());
                finished.insert(name);
            }
            Err(error) => {
                outcome.failed.push((name.clone(), error));
                // Everything that waits on it, directly or not, is skipped.
                let mut blocked = vec![name.clone()];
                while let Some(b) = blocked.pop() {
                    let dependents: Vec<String> = waiting
                        .values()
                        .filter(|n| n.waits_for.contains(&b))
                        .map(|n| n.name.clone())
                        .collect();
                    for d in dependents {
                        let node = waiting.remove(&d).expect("listed above");
                        events(Event::Skipped {
                            address: format!("{}.{}", node.type_name, node.name),
                            because: b.clone(),
                        });
                        outcome.skipped.push(d.clone());
                        blocked.push(d);
                    }
                }
            }
        }
    }

    let mut r = recorder.lock().expect("state lock");
    if let Some(stack) = stack {
        r.state.outputs = outputs(stack, &r.state, account_id.as_deref(), &aws.region);
    } else {
        r.state.outputs.clear();
    }
    r.save()?;
    Ok((r.state.clone(), outcome))
}

/// Which nodes wait for which: creates and updates after their dependencies; deletes after
/// everything that depended on them (as recorded in state).
fn build_nodes(stack: Option<&Stack>, plan: &Plan, state: &State) -> Vec<Node> {
    let work: HashSet<&str> = plan
        .resources
        .iter()
        .filter(|r| r.action != Action::NoOp)
        .map(|r| r.name.as_str())
        .collect();
    let mut nodes = Vec::new();
    for rp in plan.resources.iter().filter(|r| r.action != Action::NoOp) {
        let mut waits_for = HashSet::new();
        match rp.action {
            Action::Delete => {
                for (other, s) in &state.resources {
                    if s.dependencies.contains(&rp.name) && work.contains(other.as_str()) {
                        waits_for.insert(other.clone());
                    }
                }
            }
            _ => {
                if let Some(stack) = stack {
                    for dep in stack.graph.dependencies(&rp.name) {
                        if work.contains(dep) {
                            waits_for.insert(dep.to_string());
                        }
                    }
                }
            }
        }
        nodes.push(Node {
            name: rp.name.clone(),
            type_name: rp.type_name.clone(),
            waits_for,
        });
    }
    nodes
}

/// The resource's attributes evaluated with everything applied so far.
fn desired_now(
    stack: &Stack,
    name: &str,
    state: &State,
    account_id: Option<&str>,
    region: &str,
) -> Attrs {
    let scope = state_scope(stack, state, account_id, region);
    crate::plan::desired_attributes(stack, &stack.resources[name], &scope)
}

fn state_scope<'a>(
    stack: &'a Stack,
    state: &'a State,
    account_id: Option<&'a str>,
    region: &'a str,
) -> BaseScope<'a, impl Fn(&str, &str) -> Value + 'a> {
    BaseScope {
        stack,
        account_id,
        region: Some(region),
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
    account_id: Option<&str>,
    region: &str,
) -> indexmap::IndexMap<String, OutputState> {
    let scope = state_scope(stack, state, account_id, region);
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

struct Job {
    name: String,
    address: String,
    action: Action,
    resource: &'static dyn Resource,
    prior: Option<ResourceState>,
    desired: Option<Attrs>,
    dependencies: Vec<String>,
}

/// Runs one resource's action, reporting progress every 10 s, and records the result.
async fn run(
    job: Job,
    aws: Arc<Clients>,
    recorder: Arc<Mutex<Recorder>>,
    events: Events,
) -> Result<(), String> {
    let start = Instant::now();
    let work = execute(&job, &aws, &recorder);
    tokio::pin!(work);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(10),
        Duration::from_secs(10),
    );
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticker.tick() => events(Event::StillRunning { address: job.address.clone(), action: job.action, elapsed: start.elapsed() }),
        }
    };
    match result {
        Ok(()) => {
            events(Event::Done {
                address: job.address.clone(),
                action: job.action,
                elapsed: start.elapsed(),
            });
            Ok(())
        }
        Err(e) => {
            let error = e.to_string();
            events(Event::Failed {
                address: job.address.clone(),
                action: job.action,
                error: error.clone(),
            });
            Err(error)
        }
    }
}

async fn execute(
    job: &Job,
    aws: &Clients,
    recorder: &Arc<Mutex<Recorder>>,
) -> Result<(), ApplyError> {
    let prior_attrs = job
        .prior
        .as_ref()
        .map(|p| attrs_from_json(&p.attributes))
        .unwrap_or_default();
    let record = |id: &str, attributes: &Attrs| -> Result<(), StateError> {
        let mut r = recorder.lock().expect("state lock");
        r.state.pending.shift_remove(&job.name);
        r.state.resources.insert(
            job.name.clone(),
            ResourceState {
                type_name: job.resource.schema().type_name.to_string(),
                id: id.to_string(),
                attributes: attrs_to_json(attributes),
                dependencies: job.dependencies.clone(),
            },
        );
        r.save()
    };
    let forget = || -> Result<(), StateError> {
        let mut r = recorder.lock().expect("state lock");
        r.state.resources.shift_remove(&job.name);
        r.save()
    };

    if matches!(job.action, Action::Delete | Action::Replace)
        && let Some(prior) = &job.prior
    {
        job.resource.delete(aws, &prior.id, &prior_attrs).await?;
        forget()?;
    }
    let Some(desired) = &job.desired else {
        return Ok(());
    };
    let id = match job.action {
        Action::Create | Action::Replace => {
            // Write ahead: if the process dies during the create, the next run finds
            // the object by what was asked for and adopts it.
            {
                let mut r = recorder.lock().expect("state lock");
                let pending = PendingCreate {
                    type_name: job.resource.schema().type_name.to_string(),
                    desired: attrs_to_json(desired),
                    dependencies: job.dependencies.clone(),
                };
                r.state.pending.insert(job.name.clone(), pending);
                r.save()?;
            }
            // Record the object the moment it exists, so a failure later in the create
            // never leaves it untracked.
            let on_created = |id: &str| {
                let _ = record(id, &Attrs::new());
            };
            job.resource.create(aws, desired, &on_created).await?
        }
        Action::Update => {
            let prior = job.prior.as_ref().expect("an update has state");
            let live = job
                .resource
                .read(aws, &prior.id, &prior_attrs)
                .await?
                .unwrap_or_default();
            job.resource.update(aws, &prior.id, &live, desired).await?;
            prior.id.clone()
        }
        Action::NoOp | Action::Delete => return Ok(()),
    };
    let live = settle(job.resource, aws, &id, desired).await?;
    record(&id, &live)?;
    Ok(())
}

/// Reads the object back until it shows what was written (eventual consistency), briefly;
/// returns the last read either way, with strata's own settings added.
async fn settle(
    resource: &dyn Resource,
    aws: &Clients,
    id: &str,
    desired: &Attrs,
) -> Result<Attrs, AwsError> {
    let schema = resource.schema();
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
    loop {
        let live = resource.read(aws, id, desired).await?.map(with_local);
        match live {
            Some(live)
                if changes(schema, desired, &live).is_empty()
                    || start.elapsed() > Duration::from_secs(10) =>
            {
                return Ok(live);
            }
            None if start.elapsed() > Duration::from_secs(10) => {
                return Err(AwsError::new(
                    "read",
                    format!(
                        "{} `{id}` was written but cannot be read back",
                        schema.type_name
                    ),
                ));
            }
            _ => {}
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}
