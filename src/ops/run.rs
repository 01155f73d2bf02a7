//! One `apply` or `destroy`, start to end: read a saved plan or load the stack, lock the
//! state, read it, check where it belongs, adopt and plan (or check the saved plan), ask,
//! execute, unlock. The command line says how to ask ([`Confirm`]) and renders what the
//! run reports ([`Sink`]) and how it ended ([`Ending`]); the run decides everything else.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::Instrument;

use super::{BackendOverride, OpsError};
use crate::apply;
use crate::aws::{AwsError, Clients, Target};
use crate::config::Stack;
use crate::state::StateError;
use crate::state::lock::LockError;

pub use crate::apply::{Event, Outcome, Stop};
pub use crate::plan::{Action, Plan};
pub use crate::state::State;

/// What to run, as the command line was given it.
pub struct RunRequest {
    /// The stack file, or a plan saved with `plan --out`.
    pub file: PathBuf,
    pub vars: Vec<(String, String)>,
    pub destroy: bool,
    pub parallelism: usize,
    pub endpoint_url: Option<String>,
    pub local: bool,
    pub state_dir: PathBuf,
    pub backend_config: Option<BackendOverride>,
    /// `--target` / `--exclude`.
    pub selection: super::Selection,
    /// Resolves when the run must stop starting changes (Ctrl-C).
    pub stop: Stop,
}

/// Asks whoever runs strata whether to make the planned changes.
pub trait Confirm {
    /// Whether anyone can answer: a stream read by a program has nobody to.
    fn can_answer(&self) -> bool {
        true
    }

    /// Whether to perform `operation` (`apply`, `destroy`); an error when the question
    /// cannot be asked.
    fn confirm(&self, operation: &str) -> Result<bool, String>;
}

/// What a run reports as it goes, for the command line to render.
pub trait Sink: Send + Sync {
    /// Creates a killed run left pending, found and adopted.
    fn adopted(&self, names: &[String]);
    /// The plan that is about to be carried out (or that has nothing to do).
    fn planned(&self, plan: &Plan);
    /// The changes begin: progress events follow.
    fn applying(&self);
    fn progress(&self, event: Event);
}

/// How a locked run ended (the lock is released by then).
pub enum Ending {
    /// Nothing to change (and what needed recording was recorded).
    NoChanges(Box<Plan>),
    /// The user said no.
    Cancelled,
    Ran(Box<(Plan, State, Outcome)>),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stack does not load: its diagnostics, rendered.
    #[error("{0}")]
    Stack(String),
    /// Nobody can answer the question, and the run needs it answered.
    #[error("{0}")]
    CannotConfirm(String),
    /// The request cannot be carried out as given (`--var` with a saved plan), or the
    /// question could not be asked.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The run failed, and its lock could not be released either.
    #[error("{0}")]
    Unlock(String),
}

impl From<AwsError> for RunError {
    fn from(err: AwsError) -> Self {
        RunError::Ops(err.into())
    }
}

impl From<StateError> for RunError {
    fn from(err: StateError) -> Self {
        RunError::Ops(err.into())
    }
}

impl From<LockError> for RunError {
    fn from(err: LockError) -> Self {
        RunError::Ops(err.into())
    }
}

impl RunRequest {
    /// Where AWS calls go and state is kept, as the flags say.
    fn access(&self) -> super::Access {
        super::Access {
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
            state_dir: self.state_dir.clone(),
            backend_config: self.backend_config.clone(),
        }
    }

    /// Where AWS calls go: the flags, and the region the stack pins, if any.
    fn target(&self, stack: &Stack) -> Target {
        Target {
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
            region: stack.region.clone(),
            credentials: None,
        }
    }
}

/// Runs `request`: `apply`, `destroy`, or the plan saved in `request.file`.
pub async fn run(
    request: RunRequest,
    confirm: &dyn Confirm,
    sink: Arc<dyn Sink>,
) -> Result<Ending, RunError> {
    let saved = if request.destroy {
        None
    } else {
        super::read_saved_plan(&request.file)?
    };
    // A saved plan applies the values it was made with: a `--var` given now would be
    // ignored without a word, so it is refused.
    if saved.is_some() && !request.vars.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for (name, _) in &request.vars {
            let flag = format!("--var {name}");
            if !names.contains(&flag) {
                names.push(flag);
            }
        }
        return Err(RunError::Refused(format!(
            "{file} is a saved plan: it applies the variables it was made with, and {} cannot change them. Nothing was changed. For other values, make a new plan: strata plan STACK_FILE --var NAME=VALUE --out {file}",
            names.join(", "),
            file = request.file.display(),
        )));
    }
    if saved.is_some() && !request.selection.is_whole() {
        return Err(RunError::Refused(format!(
            "{file} is a saved plan: it applies the resources it was made for, and {} cannot change them. Nothing was changed. Give them to `strata plan --out` instead",
            request.selection.describe(),
            file = request.file.display(),
        )));
    }
    let loaded = match &saved {
        Some(saved) => super::stack_of_saved_plan(saved)?,
        None => crate::graph::load_stack(&request.file, &request.vars, &crate::resources::SCHEMAS)
            .map(|(stack, _)| stack),
    };
    let stack = Arc::new(loaded.map_err(|err| RunError::Stack(err.render()))?);
    super::redact_sensitive(&stack);
    let destroy = request.destroy || saved.as_ref().is_some_and(|s| s.plan.destroy);
    let from_saved_plan = saved.is_some();
    let operation = if destroy { "destroy" } else { "apply" };
    // A saved plan was reviewed when it was made.
    if !from_saved_plan && !confirm.can_answer() {
        return Err(RunError::CannotConfirm(format!(
            "{operation} --json cannot ask for confirmation: pass --auto-approve, or apply a plan saved with `plan --out`"
        )));
    }

    let store = super::open_store(
        &stack,
        &request.state_dir,
        request.backend_config.as_ref(),
        &request.target(&stack),
    )
    .await?
    .shared();
    let lock = super::lock(&*store, operation, &request.file).await?;
    let parallelism = request.parallelism;
    let result = async {
        let mut state = store.read().await?;
        if let Some(saved) = &saved {
            super::check_saved_plan_state(&saved.plan, &state)?;
        }
        let aws = Arc::new(Clients::connect(&request.target(&stack)).await?);
        // One cheap call first: a wrong or dead endpoint is one clear error, before any
        // plan; and the state must be this account's and region's.
        super::check_placement(&stack, &state, store.location(), &aws).await?;
        let had_pending = !state.pending.is_empty();
        let plan = match saved {
            Some(saved) => {
                // The plan saw the creates a killed run left as adopted; so must the check.
                super::adopt(&stack, &mut state, &aws).await?;
                super::check_saved_plan_live(&saved.plan, &state, &aws, parallelism).await?;
                saved.plan
            }
            None => {
                let planned = super::plan(
                    &stack,
                    &mut state,
                    &aws,
                    destroy,
                    parallelism,
                    &request.selection,
                    &super::OtherStacks {
                        access: request.access(),
                    },
                )
                .await?;
                if !planned.adopted.is_empty() {
                    sink.adopted(&planned.adopted);
                }
                planned.plan
            }
        };
        sink.planned(&plan);
        if !plan.has_changes() {
            // Nothing to do in AWS; still forget what was deleted outside strata, and
            // record adopted creates and outputs a state written before they were declared
            // lacks.
            if super::needs_recording(&stack, &plan, &state, had_pending) {
                let options = apply::Options {
                    parallelism: 1,
                    events: Arc::new(|_| {}),
                    stop: Box::pin(std::future::pending()),
                };
                super::apply(stack.clone(), &plan, state, store.clone(), aws, options).await?;
            }
            return Ok(Ending::NoChanges(Box::new(plan)));
        }
        if !from_saved_plan && !confirm.confirm(operation).map_err(RunError::Refused)? {
            return Ok(Ending::Cancelled);
        }
        sink.applying();
        let progress = sink.clone();
        let options = apply::Options {
            parallelism,
            events: Arc::new(move |event: Event| progress.progress(event)),
            stop: request.stop,
        };
        let (state, outcome) =
            super::apply(stack.clone(), &plan, state, store.clone(), aws, options).await?;
        Ok(Ending::Ran(Box::new((plan, state, outcome))))
    }
    .instrument(tracing::info_span!("run", operation))
    .await;
    super::unlock(&*store, lock, result, RunError::Unlock).await
}

/// An error and its causes on one line, `error: cause: cause`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
