//! Orchestration: the steps of `plan`, `apply` and `destroy` as the command line runs them
//! (read state, adopt what a killed run left, plan, check a saved plan, execute). The CLI
//! parses arguments, calls these and renders what they return; it holds no engine logic.

pub mod chain;
pub mod format;
pub mod import;
pub mod output;
pub mod policy;
pub mod preview;
pub mod run;
pub mod schemas;
pub mod stacks;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};

use crate::apply::{self, Options, Outcome};
use crate::aws::{AwsError, Clients};
use crate::config::LoadError;
use crate::config::model::Backend;
use crate::plan::build::{PlanError, adopt_pending, plan as make_plan, read_recorded};
use crate::plan::data::StackOutputs;
use crate::plan::diff::changes;
use crate::plan::saved::{SavedPlan, SavedPlanError};
pub use crate::plan::selection::Selection;
use crate::plan::{Action, ActionReason, Plan};
use crate::resources::implementation;
use crate::state::local::LocalStore;
use crate::state::lock::LockError;
use crate::state::s3::S3Store;
use crate::state::store::{StateLock, StateStore};
use crate::state::{Placement, State, StateError};

pub use self::import::import;
pub use crate::config::Stack;
/// What the command line holds between loading a stack and handing it back here, and
/// renders (`validate`, `graph`, `docs`).
pub use crate::config::address::address;
pub use crate::config::explain::explain;
pub use crate::graph::{Graph, dot_with_data};
pub use crate::resources::SCHEMAS;

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
    /// A file the command reads or writes (a saved plan, a state to push).
    #[error("cannot {what} {}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The command cannot be carried out as asked; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The command failed, and its lock could not be released either.
    #[error("{0}")]
    Unlock(String),
    #[error(transparent)]
    Bootstrap(#[from] crate::state::bootstrap::BootstrapError),
    #[error(transparent)]
    Chain(Box<crate::chain::ChainError>),
    /// A payload could not be sent.
    #[error("sending `{key}`")]
    Send {
        key: String,
        #[source]
        source: Box<crate::chain::ChainError>,
    },
}

impl From<crate::chain::ChainError> for OpsError {
    fn from(err: crate::chain::ChainError) -> Self {
        OpsError::Chain(Box::new(err))
    }
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

/// Loads the stack in `file` with the `--var` values and its dependency graph, keeping
/// the values of its sensitive variables out of every log line from then on.
pub fn load(file: &Path, vars: &[(String, String)]) -> Result<(Stack, Graph), LoadError> {
    let (stack, graph) = crate::graph::load_stack(file, vars, &SCHEMAS)?;
    redact_sensitive(&stack);
    Ok((stack, graph))
}

/// Where a command's AWS calls go and where the stack's state is kept, as the command line
/// gives them.
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub endpoint_url: Option<String>,
    pub local: bool,
    pub state_dir: PathBuf,
    pub backend_config: Option<BackendOverride>,
}

impl Access {
    /// Where AWS calls go: the flags, and the region the stack pins, if any.
    pub fn target(&self, stack: Option<&Stack>) -> crate::aws::Target {
        crate::aws::Target {
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
            region: stack.and_then(|s| s.region.clone()),
            credentials: None,
        }
    }

    /// Clients for `stack`'s account and region (the flags' alone without a stack).
    pub async fn clients(&self, stack: Option<&Stack>) -> Result<Clients, OpsError> {
        Ok(Clients::connect(&self.target(stack)).await?)
    }

    /// The stack's state store: its `[backend]` (or `--backend-config`), else the local
    /// state directory.
    pub async fn store(&self, stack: &Stack) -> Result<Store, OpsError> {
        open_store(
            stack,
            &self.state_dir,
            self.backend_config.as_ref(),
            &self.target(Some(stack)),
        )
        .await
    }
}

/// Reads other stacks' outputs for `strata.stack` data sources: each stack file is loaded
/// (with its variables' defaults), its store opened where its own `[backend]` says (or in
/// the local state directory), and its state read. Never locked: a reader does not stop
/// that stack's own runs.
pub struct OtherStacks {
    pub access: Access,
}

#[async_trait::async_trait]
impl StackOutputs for OtherStacks {
    async fn outputs(
        &self,
        file: &Path,
    ) -> Result<indexmap::IndexMap<String, (crate::value::Value, bool)>, String> {
        let (stack, _) = crate::graph::load_stack(file, &[], &SCHEMAS)
            .map_err(|err| format!("the stack does not load:\n{}", err.render()))?;
        // `--backend-config` is this stack's; the other one is where it says.
        let access = Access {
            backend_config: None,
            ..self.access.clone()
        };
        let store = access.store(&stack).await.map_err(|e| run::chain(&e))?;
        let store = store.shared();
        let state = store.read().await.map_err(|e| run::chain(&e))?;
        if state.serial == 0 {
            return Err(format!(
                "its state at {} is empty: apply that stack first",
                store.location()
            ));
        }
        Ok(state
            .outputs
            .iter()
            .map(|(name, o)| {
                let value = crate::value::Value::from_json(&o.value);
                (name.clone(), (value, o.sensitive))
            })
            .collect())
    }
}

/// Takes the state lock for `operation`; a held lock's message names `file` in the
/// `force-unlock` command it suggests.
pub(crate) async fn lock(
    store: &dyn StateStore,
    operation: &str,
    file: &Path,
) -> Result<StateLock, LockError> {
    store
        .lock(operation)
        .await
        .map_err(|e| e.for_stack_file(file))
}

/// Runs `body` holding the state lock for `operation`, and releases it after; a failure to
/// release it is reported, with the command's own error first when both failed.
pub(crate) async fn locked<T>(
    store: &dyn StateStore,
    operation: &str,
    file: &Path,
    body: impl AsyncFnOnce() -> Result<T, OpsError>,
) -> Result<T, OpsError> {
    let lock = lock(store, operation, file).await?;
    let result = body().await;
    unlock(store, lock, result, OpsError::Unlock).await
}

/// Releases `lock` after `result`; a failure to release it is reported, with the command's
/// own error first when both failed (made into an error by `both`).
pub(crate) async fn unlock<T, E>(
    store: &dyn StateStore,
    lock: StateLock,
    result: Result<T, E>,
    both: impl FnOnce(String) -> E,
) -> Result<T, E>
where
    E: std::error::Error + From<LockError>,
{
    match (result, store.unlock(lock).await) {
        (result, Ok(())) => result,
        (Ok(_), Err(unlock)) => Err(unlock.into()),
        (Err(err), Err(unlock)) => Err(both(format!(
            "{}; the lock could not be released either: {unlock}",
            run::chain(&err)
        ))),
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
    stacks: &dyn StackOutputs,
) -> Result<Planned, OpsError> {
    let adopted = adopt(stack, state, aws).await?;
    let plan = make_plan(stack, state, aws, destroy, concurrency, selection, stacks)
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
/// strata to forget, creates to adopt, or outputs the state lacks or no longer declares (other
/// stacks read them by name).
pub fn needs_recording(stack: &Stack, plan: &Plan, state: &State, adopted: bool) -> bool {
    let forget = plan
        .resources
        .iter()
        .any(|r| r.reason == ActionReason::AlreadyGone);
    let outputs_missing = !plan.destroy
        && !state.resources.is_empty()
        && (state.outputs.len() != stack.outputs.len()
            || stack.outputs.keys().any(|n| !state.outputs.contains_key(n)));
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
