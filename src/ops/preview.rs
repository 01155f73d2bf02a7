//! `strata plan`: what an apply or destroy would change, read from AWS without changing
//! anything (the state included), and saved for `apply` when asked.

use std::path::PathBuf;

use super::{Access, OpsError, Stack, check_placement};
use crate::plan::Plan;
use crate::plan::saved::SavedPlan;
use crate::state::local::write_private;

/// What `strata plan` was asked.
pub struct PlanRequest {
    /// The stack file and the `--var` values, recorded in a saved plan.
    pub file: PathBuf,
    pub vars: Vec<(String, String)>,
    pub destroy: bool,
    pub parallelism: usize,
    /// Where to save the plan for `strata apply`, if anywhere.
    pub out: Option<PathBuf>,
    /// `--target` / `--exclude`: the part of the stack to plan.
    pub selection: super::Selection,
}

/// Plans `stack`; the plan is saved (when asked) before it is returned, so that a reader
/// of the rendering that stops early does not stop the save.
pub async fn plan(stack: &Stack, access: &Access, request: &PlanRequest) -> Result<Plan, OpsError> {
    // Only in memory: a plan never writes state.
    let store = access.store(stack).await?.shared();
    let mut state = store.read().await?;
    let aws = access.clients(Some(stack)).await?;
    // A plan only reads: the identity check runs beside the reads (one round trip less),
    // and its refusal wins over whatever the reads found.
    let recorded = state.clone();
    let stacks = super::OtherStacks {
        access: access.clone(),
    };
    let (placement, planned) = tokio::join!(
        check_placement(stack, &recorded, store.location(), &aws),
        super::plan(
            stack,
            &mut state,
            &aws,
            request.destroy,
            request.parallelism,
            &request.selection,
            &stacks,
        )
    );
    placement?;
    let plan = planned?.plan;
    if let Some(out) = &request.out {
        let stack_file = std::fs::canonicalize(&request.file).map_err(|source| OpsError::File {
            what: "read",
            path: request.file.clone(),
            source,
        })?;
        let saved = SavedPlan::new(stack, stack_file, &request.vars, plan.clone());
        write_private(out, saved.to_json().as_bytes()).map_err(|source| OpsError::File {
            what: "write plan file",
            path: out.clone(),
            source,
        })?;
    }
    Ok(plan)
}
