//! The machine-readable plan (`plan --json`, and the saved plan file). Documented in
//! docs/plans-and-state.md under "JSON plan format".

use serde_json::{Value as Json, json};

use crate::plan::{Action, Change, Plan, ResourcePlan};

pub const PLAN_FORMAT_VERSION: u32 = 1;

pub fn plan_json(plan: &Plan) -> Json {
    let add = plan.count(Action::Create) + plan.count(Action::Replace);
    let destroy = plan.count(Action::Delete) + plan.count(Action::Replace);
    json!({
        "format_version": PLAN_FORMAT_VERSION,
        "stack": plan.stack,
        "stage": plan.stage,
        "destroy": plan.destroy,
        "partial": !plan.selection.is_whole(),
        "state_serial": plan.state_serial,
        "state_lineage": plan.state_lineage,
        "summary": { "add": add, "change": plan.count(Action::Update), "destroy": destroy },
        "resources": plan.resources.iter().map(resource_json).collect::<Vec<_>>(),
    })
}

fn resource_json(rp: &ResourcePlan) -> Json {
    json!({
        "address": rp.address(),
        "name": rp.name,
        "type": rp.type_name,
        "action": rp.action,
        "reason": rp.reason.note(),
        "action_reason": rp.reason,
        "id": rp.id,
        "declared_at": rp.declared_at,
        "moved_from": rp.moved_from,
        "deletion": rp.deletion,
        "create_before_destroy": rp.create_before_destroy,
        "changes": rp.changes.iter().map(change_json).collect::<Vec<_>>(),
    })
}

fn change_json(c: &Change) -> Json {
    json!({
        "path": c.path,
        "before": c.before.as_ref().filter(|_| !c.sensitive).map(|v| v.to_json()),
        "after": c.after.as_ref().filter(|_| !c.sensitive).map(|v| v.to_json()),
        "sensitive": c.sensitive,
        "after_unknown": c.after.as_ref().is_some_and(|v| !v.is_known()),
        "forces_replacement": c.forces_replacement,
        "origin": c.origin,
    })
}
