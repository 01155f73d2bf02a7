//! Orchestration: the steps of `plan`, `apply` and `destroy` as the command line runs them
//! (read state, adopt what a killed run left, plan, check a saved plan, execute). The CLI
//! parses arguments, calls these and renders what they return; it holds no engine logic.

pub mod policy;
pub mod run;

use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};

use crate::apply::{self, Options, Outcome};
use crate::aws::{AwsError, Clients};
use crate::config::model::Backend;
use crate::config::{LoadError, Stack};
use crate::plan::build::{PlanError, adopt_pending, plan as make_plan, read_recorded};
use crate::plan::diff::changes;
use crate::plan::saved::{SavedPlan, SavedPlanError};
pub use crate::plan::selection::Selection;
use crate::plan::{Action, ActionReason, Plan};
use crate::resources::{SCHEMAS, implementation};
use crate::state::local::LocalStore;
use crate::state::lock::LockError;
use crate::state::s3::S3Store;
use crate::state::store::StateStore;
use crate::state::{Placement, State, StateError};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
    /// A plan error, rendered with the stack's sources.
    #[error("{0}")]
    Plan(String),
    /// The stack is valid on its own, but not with the values known when planning (the
    /// account, the region, live attributes): its diagnostics, rendered, each with its own
    /// `error:` heading.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the saved plan is stale: {0}. Nothing was changed; make a new plan with `strata plan --out`"
    )]
    Stale(String),
    #[error(
        "the state at {location} belongs to {recorded}, but the credentials and region in use are for {caller}. Nothing was changed. Run with the credentials and region the stack was deployed with (a stack can pin its region with `[stack] region`)"
    )]
    WrongPlacement {
        location: String,
        recorded: Box<Placement>,
        caller: Box<Placement>,
    },
    #[error(
        "the credentials in use are for account {account}, which stack `{stack}` does not allow (allowed_account_ids: {allowed}). Nothing was changed"
    )]
    AccountNotAllowed {
        stack: String,
        account: String,
        allowed: String,
    },
    #[error("{0}")]
    Import(String),
    #[error("{0}")]
    Backend(String),
}

impl OpsError {
    fn plan(stack: &Stack, err: PlanError) -> OpsError {
        match err {
            PlanError::Invalid(diagnostics) => {
                let mut rendered = crate::diagnostics::render_each(&diagnostics, &stack.sources);
                // A value built from a sensitive variable is named, never shown.
                for secret in stack.sensitive_values() {
                    rendered = rendered.replace(secret, "(sensitive)");
                }
                OpsError::Invalid(format!(
                    "{rendered}error: the stack is not valid with the account, region and live values known now; nothing was changed"
                ))
            }
            PlanError::Refused(diagnostics) => {
                let rendered = crate::diagnostics::render_each(&diagnostics, &stack.sources);
                OpsError::Invalid(format!(
                    "{rendered}error: the plan breaks the stack's lifecycle rules; nothing was changed"
                ))
            }
            PlanError::Aws(e) => OpsError::Aws(e),
            other => OpsError::Plan(other.to_string()),
        }
    }
}

/// Keeps the values of the stack's `sensitive` variables out of every log line.
pub fn redact_sensitive(stack: &Stack) {
    for value in stack.sensitive_values() {
        crate::log::add_secret(value);
    }
}

/// The stage a stack is deployed as; it names the state.
pub fn stage_of(stack: &Stack) -> String {
    stack.stage().unwrap_or("default").to_string()
}

/// The local store of `stack` in `dir`.
pub fn local_store(stack: &Stack, dir: &Path) -> LocalStore {
    LocalStore::new(dir, &stack.name, &stage_of(stack))
}

/// Where a stack's state is kept, as chosen by its `[backend]` and the command line.
#[derive(Clone)]
pub enum Store {
    Local(Arc<LocalStore>),
    S3(Arc<S3Store>),
}

impl Store {
    /// The store as the engine sees it.
    pub fn shared(&self) -> Arc<dyn StateStore> {
        match self {
            Store::Local(s) => s.clone(),
            Store::S3(s) => s.clone(),
        }
    }
}

/// `--backend-config` / `STRATA_BACKEND_CONFIG`: `local`, or `bucket=B,key=K,region=R`
/// (each part optional when the stack declares `[backend] s3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendOverride {
    pub local: bool,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub region: Option<String>,
}

impl std::str::FromStr for BackendOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut out = BackendOverride::default();
        if text.trim() == "local" {
            out.local = true;
            return Ok(out);
        }
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                format!("`{part}` is not NAME=VALUE (expected bucket=..., key=..., region=... or `local`)")
            })?;
            let value = Some(value.trim().to_string());
            match name.trim() {
                "bucket" => out.bucket = value,
                "key" => out.key = value,
                "region" => out.region = value,
                other => {
                    return Err(format!(
                        "unknown backend setting `{other}` (expected bucket, key or region)"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The stack's S3 backend after the command line's overrides; `None` for local state.
pub fn backend_of(
    stack: &Stack,
    overrides: Option<&BackendOverride>,
) -> Result<Option<Backend>, OpsError> {
    let Some(o) = overrides else {
        return Ok(stack.backend.clone());
    };
    if o.local {
        return Ok(None);
    }
    let stage = stack.stage();
    let key = match &o.key {
        Some(key) => Some(
            crate::config::validate::backend_key(key, &stack.name, stage)
                .map_err(|e| OpsError::Backend(format!("invalid state key `{key}`: {e}")))?,
        ),
        None => None,
    };
    let base = stack.backend.clone();
    let bucket = o
        .bucket
        .clone()
        .or_else(|| base.as_ref().map(|b| b.bucket.clone()));
    let Some(bucket) = bucket else {
        return Err(OpsError::Backend(
            "the backend settings name no bucket, and the stack declares no `[backend] s3`: pass bucket=..."
                .into(),
        ));
    };
    if !crate::schema::rules::valid_bucket_name(&bucket) {
        return Err(OpsError::Backend(format!(
            "invalid state bucket name `{bucket}`"
        )));
    }
    let key = key
        .or_else(|| base.as_ref().map(|b| b.key.clone()))
        .unwrap_or_else(|| format!("strata/{}-{}.state.json", stack.name, stage_of(stack)));
    let region = o.region.clone().or_else(|| base.and_then(|b| b.region));
    Ok(Some(Backend {
        bucket,
        key,
        region,
    }))
}

/// Opens the store of `stack`: its S3 backend (a client for the bucket's region, built
/// from the same configuration as the stack's), or the local state directory `dir`.
pub async fn open_store(
    stack: &Stack,
    dir: &Path,
    overrides: Option<&BackendOverride>,
    target: &crate::aws::Target,
) -> Result<Store, OpsError> {
    match backend_of(stack, overrides)? {
        None => Ok(Store::Local(Arc::new(local_store(stack, dir)))),
        Some(backend) => Ok(Store::S3(Arc::new(
            s3_store(stack, &backend, target).await?,
        ))),
    }
}

/// The S3 store of `stack` at `backend`.
pub async fn s3_store(
    stack: &Stack,
    backend: &Backend,
    target: &crate::aws::Target,
) -> Result<S3Store, OpsError> {
    let mut target = target.clone();
    if backend.region.is_some() {
        target.region = backend.region.clone();
    }
    let clients = Clients::connect(&target).await?;
    Ok(S3Store::new(
        clients.s3.clone(),
        &backend.bucket,
        &backend.key,
        &stack.name,
        &stage_of(stack),
    ))
}

/// A plan, and the names of resources adopted from creates a killed run left pending.
pub struct Planned {
    pub plan: Plan,
    pub adopted: Vec<String>,
}

/// Adopts into `state` (in memory) the objects of creates a killed run left pending;
/// returns their names.
pub async fn adopt(
    stack: &Stack,
    state: &mut State,
    aws: &Clients,
) -> Result<Vec<String>, OpsError> {
    adopt_pending(state, aws)
        .await
        .map_err(|e| OpsError::plan(stack, e))
}

/// The account, region and partition the credentials and configuration point at.
pub async fn caller_placement(aws: &Clients) -> Result<Placement, OpsError> {
    let identity = aws.identity().await?;
    Ok(Placement {
        account_id: identity.account_id.clone(),
        region: aws.region.clone(),
        partition: identity.partition.clone(),
    })
}

/// Refuses to touch a state's objects from another account, region or partition than the
/// one the state records: there, they would all look deleted (or another account's objects
/// of the same names would be changed).
pub async fn check_placement(
    stack: &Stack,
    state: &State,
    location: String,
    aws: &Clients,
) -> Result<Placement, OpsError> {
    let caller = caller_placement(aws).await?;
    if !stack.allowed_account_ids.is_empty()
        && !stack.allowed_account_ids.contains(&caller.account_id)
    {
        return Err(OpsError::AccountNotAllowed {
            stack: stack.name.clone(),
            account: caller.account_id,
            allowed: stack.allowed_account_ids.join(", "),
        });
    }
    match &state.placement {
        Some(recorded) if *recorded != caller => Err(OpsError::WrongPlacement {
            location,
            recorded: Box::new(recorded.clone()),
            caller: Box::new(caller),
        }),
        _ => Ok(caller),
    }
}

/// Adopts what a killed run left pending (in `state`, in memory), then plans, reading at
/// most `concurrency` resources at once, the resources `selection` selects.
pub async fn plan(
    stack: &Stack,
    state: &mut State,
    aws: &Clients,
    destroy: bool,
    concurrency: usize,
    selection: &Selection,
) -> Result<Planned, OpsError> {
    let adopted = adopt(stack, state, aws).await?;
    let plan = make_plan(stack, state, aws, destroy, concurrency, selection)
        .await
        .map_err(|e| OpsError::plan(stack, e))?;
    Ok(Planned { plan, adopted })
}

/// Reads a saved plan; `None` when `path` is not one (a stack file).
pub fn read_saved_plan(path: &Path) -> Result<Option<SavedPlan>, OpsError> {
    // A file that cannot be read is no saved plan: loading it as a stack file reports why,
    // as a stack file.
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    Ok(SavedPlan::parse(&bytes, path)?)
}

/// The stack a saved plan was made from, loaded from the plan's own copy of its files,
/// after checking that the files on disk are still those files.
pub fn stack_of_saved_plan(saved: &SavedPlan) -> Result<Result<Stack, LoadError>, OpsError> {
    let changed = saved.changed_files();
    if !changed.is_empty() {
        return Err(OpsError::Stale(format!(
            "the stack changed since the plan was made: {}",
            changed.join(", ")
        )));
    }
    Ok(crate::graph::load_stack_from_snapshot(
        &saved.stack_file,
        &saved.variables,
        &SCHEMAS,
        saved.snapshot(),
    )
    .map(|(stack, _)| stack))
}

/// Checks that the state a saved plan was made from is still the state: same lineage,
/// same serial. Needs no AWS call.
pub fn check_saved_plan_state(plan: &Plan, state: &State) -> Result<(), OpsError> {
    // A plan made before the first apply has no lineage to compare yet.
    if state.serial > 0 && plan.state_lineage != state.lineage {
        return Err(OpsError::Stale(format!(
            "it was made from another state (another lineage: {}; this state's is {})",
            plan.state_lineage, state.lineage
        )));
    }
    if plan.state_serial != state.serial {
        return Err(OpsError::Stale(format!(
            "it was made from state serial {} and the state is now at serial {}: another run changed it",
            plan.state_serial, state.serial
        )));
    }
    Ok(())
}

/// Checks that every resource a saved plan touches reads from AWS as it did when the plan
/// was made.
pub async fn check_saved_plan_live(
    plan: &Plan,
    state: &State,
    aws: &Clients,
    concurrency: usize,
) -> Result<(), OpsError> {
    let touched = plan
        .resources
        .iter()
        .filter(|rp| rp.action != Action::NoOp && !matches!(rp.reason, ActionReason::Destroy));
    let reads = touched.filter_map(|rp| {
        let recorded = state
            .resources
            .get(&rp.name)
            .or_else(|| state.resources.get(rp.moved_from.as_deref()?))?;
        Some(async move {
            let now = read_recorded(aws, recorded).await?;
            Ok::<_, AwsError>(drift(rp, now))
        })
    });
    let drifted: Vec<String> = stream::iter(reads)
        .buffer_unordered(concurrency.max(1))
        .try_filter_map(|d| async move { Ok(d) })
        .try_collect()
        .await?;
    if drifted.is_empty() {
        Ok(())
    } else {
        Err(OpsError::Stale(format!(
            "AWS changed since the plan was made: {}",
            drifted.join("; ")
        )))
    }
}

/// How the object `rp` touches differs now from what the plan read, if it does.
fn drift(rp: &crate::plan::ResourcePlan, now: Option<crate::value::Attrs>) -> Option<String> {
    let address = rp.address();
    match (&rp.before, now) {
        (None, None) => None,
        (Some(_), None) => Some(format!("{address} was deleted outside strata")),
        (None, Some(_)) => Some(format!("{address} exists again")),
        (Some(before), Some(now)) => {
            let schema = implementation(&rp.type_name)?.schema();
            let moved: Vec<String> = changes(schema, before, &now)
                .into_iter()
                .map(|c| {
                    format!(
                        "`{}` is {} (the plan read {})",
                        c.path,
                        c.before.map_or("unset".into(), |v| v.render()),
                        c.after.map_or("unset".into(), |v| v.render())
                    )
                })
                .collect();
            (!moved.is_empty()).then(|| format!("{address}: {}", moved.join(", ")))
        }
    }
}

/// Whether a plan with no changes still has something to record: objects deleted outside
/// strata to forget, creates to adopt, or outputs the state lacks.
pub fn needs_recording(stack: &Stack, plan: &Plan, state: &State, adopted: bool) -> bool {
    let forget = plan
        .resources
        .iter()
        .any(|r| r.reason == ActionReason::AlreadyGone);
    let outputs_missing = !plan.destroy
        && !stack.outputs.is_empty()
        && state.outputs.len() != stack.outputs.len()
        && !state.resources.is_empty();
    forget || outputs_missing || adopted
}

/// Executes `plan` (see [`apply::apply`]), after checking once more that the state is for
/// this account and region; the first apply records them in the state.
pub async fn apply(
    stack: Arc<Stack>,
    plan: &Plan,
    mut state: State,
    store: Arc<dyn StateStore>,
    aws: Arc<Clients>,
    options: Options,
) -> Result<(State, Outcome), OpsError> {
    let caller = check_placement(&stack, &state, store.location(), &aws).await?;
    state.placement.get_or_insert(caller);
    let stack = (!plan.destroy).then_some(stack);
    Ok(apply::apply(stack, plan, state, store, aws, options).await?)
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
            "{type_name}.{other} already holds this object (`{recorded}`): importing it as {address} would manage one object from two resources. Nothing was imported"
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
