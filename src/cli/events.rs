//! `apply --json` and `destroy --json`: one JSON object per line on standard output for
//! each event of the run, so that CI systems can follow it without parsing text. The format
//! is documented in docs/plans-and-state.md ("JSON event stream"); every object carries `format_version`
//! ([`EVENTS_FORMAT_VERSION`]) and `type`.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{Value as Json, json};
use strata::ops::run::{Action, Event, Outcome, Plan, State};
use strata::views::json::plan_json;

pub const EVENTS_FORMAT_VERSION: u32 = 1;

/// Writes one event as one line; `type` first, then `format_version`, then the fields.
pub fn emit(kind: &str, fields: Json) {
    let mut line = serde_json::Map::new();
    line.insert("type".into(), json!(kind));
    line.insert("format_version".into(), json!(EVENTS_FORMAT_VERSION));
    if let Json::Object(fields) = fields {
        line.extend(fields);
    }
    let text = Json::Object(line).to_string();
    // One write per line, under the lock: events from resources running at once never mix.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// An event of the engine.
pub fn event(event: &Event) {
    match event {
        Event::Started { address, action } => {
            emit("started", json!({ "address": address, "action": action }))
        }
        Event::StillRunning {
            address,
            action,
            elapsed,
        } => emit(
            "still_running",
            json!({ "address": address, "action": action, "elapsed_ms": elapsed.as_millis() as u64 }),
        ),
        Event::Done {
            address,
            action,
            elapsed,
        } => emit(
            "finished",
            json!({ "address": address, "action": action, "duration_ms": elapsed.as_millis() as u64 }),
        ),
        Event::Failed {
            address,
            action,
            error,
        } => emit(
            "failed",
            json!({ "address": address, "action": action, "error": error }),
        ),
        Event::Retrying {
            address,
            action,
            reason,
        } => emit(
            "retried",
            json!({ "address": address, "action": action, "reason": reason }),
        ),
        Event::Skipped { address, because } => emit(
            "skipped",
            json!({ "address": address, "reason": "dependency_failed", "because": because }),
        ),
        Event::NotStarted { address } => emit(
            "skipped",
            json!({ "address": address, "reason": "interrupted", "because": null }),
        ),
    }
}

/// The plan about to be applied, in the JSON plan format.
pub fn planned(plan: &Plan) {
    emit("planned", json!({ "plan": plan_json(plan) }));
}

/// Resources an interrupted run created and this one adopted into state.
pub fn adopted(names: &[String]) {
    emit("adopted", json!({ "resources": names }));
}

/// The stack's outputs after the run; a sensitive output's value is `null`.
pub fn outputs(state: &State) {
    let outputs: serde_json::Map<String, Json> = state
        .outputs
        .iter()
        .map(|(name, o)| {
            let value = if o.sensitive {
                Json::Null
            } else {
                o.value.clone()
            };
            (
                name.clone(),
                json!({ "value": value, "sensitive": o.sensitive }),
            )
        })
        .collect();
    emit("outputs", json!({ "outputs": outputs }));
}

/// The last line: what was done, and the exit code the process ends with.
pub fn summary(operation: &str, plan: Option<&Plan>, outcome: Option<&Outcome>, exit_code: u8) {
    let actions: HashMap<&str, Action> = plan
        .iter()
        .flat_map(|p| &p.resources)
        .map(|r| (r.name.as_str(), r.action))
        .collect();
    let (mut added, mut changed, mut destroyed) = (0, 0, 0);
    let empty = Outcome::default();
    let outcome = outcome.unwrap_or(&empty);
    for name in &outcome.done {
        match actions.get(name.as_str()) {
            Some(Action::Create) => added += 1,
            Some(Action::Update) => changed += 1,
            Some(Action::Delete) => destroyed += 1,
            Some(Action::Replace) => {
                added += 1;
                destroyed += 1;
            }
            _ => {}
        }
    }
    emit(
        "summary",
        json!({
            "operation": operation,
            "success": exit_code == 0,
            "interrupted": outcome.interrupted,
            "added": added,
            "changed": changed,
            "destroyed": destroyed,
            "done": outcome.done.len(),
            "failed": outcome.failed.len(),
            "skipped": outcome.skipped.len(),
            "exit_code": exit_code,
        }),
    );
}

/// A failure of the run outside any resource (state, credentials, the plan).
pub fn error(operation: &str, message: &str) {
    emit(
        "error",
        json!({ "operation": operation, "message": message }),
    );
}
