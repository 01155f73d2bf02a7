//! `strata output`: the outputs the last apply recorded in the stack's state.

use super::{Access, OpsError, Stack, stage_of};
use crate::state::State;

/// The state holding the stack's outputs; refused when there are none (a stack never
/// applied, or a state directory that is not the one it was applied with).
pub async fn read(stack: &Stack, access: &Access) -> Result<State, OpsError> {
    let store = access.store(stack).await?.shared();
    let state = store.read().await?;
    if state.outputs.is_empty() {
        return Err(OpsError::Refused(format!(
            "no outputs: stack `{}` (stage `{}`) has no applied state at {} (is --state-dir right?)",
            stack.name,
            stage_of(stack),
            store.location()
        )));
    }
    Ok(state)
}

/// The text of the output `name` (a URL `send` and `receive` use).
pub async fn text(stack: &Stack, access: &Access, name: &str) -> Result<String, OpsError> {
    let store = access.store(stack).await?.shared();
    let state = store.read().await?;
    let value = state
        .outputs
        .get(name)
        .and_then(|o| o.value.as_str().map(str::to_string));
    value.ok_or_else(|| {
        OpsError::Refused(format!(
            "stack `{}` (stage `{}`) has no output `{name}` at {}: apply it first, or pass the URL",
            stack.name,
            stage_of(stack),
            store.location()
        ))
    })
}
