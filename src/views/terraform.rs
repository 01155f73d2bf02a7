//! The plan in Terraform's JSON plan shape (`plan --json --format terraform-compatible`),
//! for policy tools written against `terraform show -json` (conftest, OPA, Checkov): each
//! resource becomes a `resource_changes[]` entry with Terraform's action lists and
//! before/after objects. Sensitive values are never written: they are null, and marked
//! `true` in `before_sensitive` / `after_sensitive`. docs/policy-tools.md says what is
//! carried and what is not.

use serde_json::{Map, Value as Json, json};

use crate::config::address::split_module;
use crate::plan::{Action, ActionReason, Plan, ResourcePlan};
use crate::resources::implementation;
use crate::value::{Attrs, Value};

/// The version of Terraform's format this follows (1.x readers accept any 1.y).
pub const FORMAT_VERSION: &str = "1.2";

pub fn plan_json(plan: &Plan) -> Json {
    json!({
        "format_version": FORMAT_VERSION,
        "strata_version": env!("CARGO_PKG_VERSION"),
        "applyable": plan.has_changes(),
        "complete": plan.selection.is_whole(),
        "errored": false,
        "resource_changes": plan.resources.iter().map(resource_change).collect::<Vec<_>>(),
    })
}

/// Terraform's action list: a replace is a delete and a create, in the order apply runs
/// them.
pub fn actions(rp: &ResourcePlan) -> &'static [&'static str] {
    match rp.action {
        Action::NoOp => &["no-op"],
        Action::Create => &["create"],
        Action::Update => &["update"],
        Action::Delete => &["delete"],
        Action::Replace if rp.create_before_destroy => &["create", "delete"],
        Action::Replace => &["delete", "create"],
    }
}

fn resource_change(rp: &ResourcePlan) -> Json {
    let (module, local) = split_module(&rp.name);
    // `queue["orders"]`: the name is `queue`, the for_each key its index.
    let (name, index) = match local.split_once("[\"") {
        Some((name, key)) => (name, Some(key.trim_end_matches("\"]"))),
        None => (local, None),
    };
    let sensitive = |attribute: &str| {
        rp.sensitive.iter().any(|s| s == attribute)
            || rp
                .changes
                .iter()
                .any(|c| c.sensitive && top_level(&c.path) == attribute)
    };
    let before = match rp.action {
        Action::Create => None,
        _ => rp.before.as_ref(),
    };
    // A no-op leaves the object as it is; a delete (and a forgotten resource) leaves none.
    let after = match rp.action {
        Action::NoOp if rp.reason != ActionReason::AlreadyGone => rp.before.as_ref(),
        Action::NoOp | Action::Delete => None,
        _ => rp.after.as_ref(),
    };
    let mut entry = Map::new();
    entry.insert("address".into(), json!(rp.address()));
    if !module.is_empty() {
        entry.insert("module_address".into(), json!(module.trim_end_matches('.')));
    }
    entry.insert("mode".into(), json!("managed"));
    entry.insert("type".into(), json!(rp.type_name));
    entry.insert("name".into(), json!(name));
    if let Some(index) = index {
        entry.insert("index".into(), json!(index));
    }
    entry.insert("provider_name".into(), json!("strata"));
    entry.insert(
        "change".into(),
        json!({
            "actions": actions(rp),
            "before": before.map(|a| values(a, &sensitive)),
            "after": after.map(|a| values(a, &sensitive)),
            "after_unknown": after.map_or_else(|| json!({}), |a| unknown_marks(rp, a)),
            "before_sensitive": before.map_or(json!(false), |a| sensitive_marks(a, &sensitive)),
            "after_sensitive": after.map_or(json!(false), |a| sensitive_marks(a, &sensitive)),
        }),
    );
    Json::Object(entry)
}

/// `public_access_block.block_public_acls` -> `public_access_block`; `tags["a"]` -> `tags`.
fn top_level(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or_default()
}

/// The attributes as JSON, a sensitive one as null, an unknown one as null (marked in
/// `after_unknown`).
fn values(attrs: &Attrs, sensitive: &impl Fn(&str) -> bool) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(k, v)| {
                let value = if sensitive(k) {
                    Json::Null
                } else {
                    v.to_json()
                };
                (k.clone(), value)
            })
            .collect(),
    )
}

fn sensitive_marks(attrs: &Attrs, sensitive: &impl Fn(&str) -> bool) -> Json {
    Json::Object(
        attrs
            .keys()
            .filter(|k| sensitive(k))
            .map(|k| (k.clone(), Json::Bool(true)))
            .collect(),
    )
}

/// The shape of `after` with `true` at each unknown value and known leaves left out, as
/// Terraform writes `after_unknown` (lists keep their positions, with `false`). An object
/// being created (or replaced) also has every computed attribute of its type (an ARN, a
/// URL) unknown until AWS answers, though the desired attributes do not list them.
fn unknown_marks(rp: &ResourcePlan, attrs: &Attrs) -> Json {
    let mut marks: Map<String, Json> = attrs
        .iter()
        .filter_map(|(k, v)| unknown(v).map(|m| (k.clone(), m)))
        .collect();
    if matches!(rp.action, Action::Create | Action::Replace)
        && let Some(ty) = implementation(&rp.type_name)
    {
        for computed in ty.schema().computed {
            if !attrs.contains_key(*computed) {
                marks.insert((*computed).to_string(), Json::Bool(true));
            }
        }
    }
    Json::Object(marks)
}

fn unknown(value: &Value) -> Option<Json> {
    match value {
        Value::Unknown => Some(Json::Bool(true)),
        Value::Map(map) => {
            let marks: Map<String, Json> = map
                .iter()
                .filter_map(|(k, v)| unknown(v).map(|m| (k.clone(), m)))
                .collect();
            (!marks.is_empty()).then_some(Json::Object(marks))
        }
        Value::List(items) if !value.is_known() => Some(Json::Array(
            items
                .iter()
                .map(|i| unknown(i).unwrap_or(Json::Bool(false)))
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn rp(name: &str, action: Action) -> ResourcePlan {
        ResourcePlan {
            name: name.into(),
            type_name: "s3.bucket".into(),
            action,
            reason: ActionReason::New,
            changes: Vec::new(),
            id: None,
            declared_at: None,
            before: None,
            after: None,
            dependencies: Vec::new(),
            moved_from: None,
            deletion: None,
            create_before_destroy: false,
            sensitive: Vec::new(),
        }
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn plan(resources: Vec<ResourcePlan>) -> Plan {
        Plan {
            stack: "s".into(),
            stage: "dev".into(),
            state_serial: 1,
            state_lineage: "l".into(),
            destroy: false,
            selection: Default::default(),
            data: Default::default(),
            resources,
        }
    }

    #[test]
    fn actions_are_terraforms_lists_and_a_replace_runs_in_its_order() {
        let list = |action, cbd| {
            let mut r = rp("b", action);
            r.create_before_destroy = cbd;
            actions(&r).to_vec()
        };
        assert_eq!(list(Action::NoOp, false), ["no-op"]);
        assert_eq!(list(Action::Create, false), ["create"]);
        assert_eq!(list(Action::Update, false), ["update"]);
        assert_eq!(list(Action::Delete, false), ["delete"]);
        assert_eq!(list(Action::Replace, false), ["delete", "create"]);
        assert_eq!(list(Action::Replace, true), ["create", "delete"]);
    }

    #[test]
    fn a_keyed_resource_of_a_module_instance_has_its_module_address_name_and_index() {
        let mut r = rp("module.tenant[\"alpha\"].logs[\"eu\"]", Action::Create);
        r.after = Some(attrs(&[("name", Value::Str("x".into()))]));
        let out = plan_json(&plan(vec![r]));
        assert_eq!(
            out["resource_changes"][0],
            json!({
                "address": "module.tenant[\"alpha\"].s3.bucket.logs[\"eu\"]",
                "module_address": "module.tenant[\"alpha\"]",
                "mode": "managed",
                "type": "s3.bucket",
                "name": "logs",
                "index": "eu",
                "provider_name": "strata",
                "change": {
                    "actions": ["create"],
                    "before": null,
                    "after": {"name": "x"},
                    // A bucket being created: its computed attributes are unknown.
                    "after_unknown": {"arn": true, "domain_name": true, "regional_domain_name": true, "region": true},
                    "before_sensitive": false,
                    "after_sensitive": {},
                },
            })
        );
        assert_eq!(out["format_version"], "1.2");
        assert_eq!(out["applyable"], true);
        assert_eq!(out["complete"], true);
    }

    #[test]
    fn unknown_values_are_null_in_after_and_true_in_after_unknown() {
        let mut r = rp("q", Action::Create);
        r.after = Some(attrs(&[
            ("arn", Value::Unknown),
            ("name", Value::Str("q".into())),
            (
                "policy",
                Value::Map(
                    [
                        ("source".to_string(), Value::Unknown),
                        ("kept".to_string(), Value::Int(1)),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
            (
                "list",
                Value::List(vec![Value::Str("a".into()), Value::Unknown]),
            ),
        ]));
        let change = &plan_json(&plan(vec![r]))["resource_changes"][0]["change"];
        assert_eq!(
            change["after"],
            json!({"arn": null, "name": "q", "policy": {"source": null, "kept": 1}, "list": ["a", null]})
        );
        assert_eq!(
            change["after_unknown"],
            json!({"arn": true, "policy": {"source": true}, "list": [false, true],
                "domain_name": true, "regional_domain_name": true, "region": true})
        );
    }

    #[test]
    fn sensitive_values_are_never_written_and_are_marked_on_both_sides() {
        let secret = Value::Str("hunter2".into());
        let mut r = rp("s", Action::Update);
        r.type_name = "secretsmanager.secret".into();
        r.sensitive = vec!["secret_string".into()];
        r.before = Some(attrs(&[
            ("secret_string", secret.clone()),
            ("description", Value::Str("old".into())),
            ("token", Value::Str("t0".into())),
        ]));
        r.after = Some(attrs(&[
            ("secret_string", secret),
            ("description", Value::Str("new".into())),
            ("token", Value::Str("t1".into())),
        ]));
        // Set from a sensitive variable: the plan marks the change.
        r.changes = vec![Change {
            path: "token".into(),
            before: Some(Value::Str("t0".into())),
            after: Some(Value::Str("t1".into())),
            forces_replacement: false,
            origin: None,
            sensitive: true,
        }];
        let out = plan_json(&plan(vec![r]));
        let text = out.to_string();
        for secret in ["hunter2", "t0", "t1"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let change = &out["resource_changes"][0]["change"];
        assert_eq!(
            change["after"],
            json!({"secret_string": null, "description": "new", "token": null})
        );
        assert_eq!(
            change["before_sensitive"],
            json!({"secret_string": true, "token": true})
        );
        assert_eq!(change["after_sensitive"], change["before_sensitive"]);
    }

    #[test]
    fn a_no_op_keeps_the_object_and_a_delete_leaves_none() {
        let live = attrs(&[("name", Value::Str("b".into()))]);
        let mut kept = rp("kept", Action::NoOp);
        kept.reason = ActionReason::Unchanged;
        kept.before = Some(live.clone());
        let mut gone = rp("gone", Action::Delete);
        gone.reason = ActionReason::NoLongerInStack;
        gone.before = Some(live);
        let out = plan_json(&plan(vec![kept, gone]));
        let kept = &out["resource_changes"][0]["change"];
        assert_eq!(kept["before"], json!({"name": "b"}));
        assert_eq!(kept["after"], kept["before"]);
        let gone = &out["resource_changes"][1]["change"];
        assert_eq!(gone["before"], json!({"name": "b"}));
        assert_eq!(gone["after"], Json::Null);
        assert_eq!(gone["after_sensitive"], json!(false));
        assert_eq!(out["applyable"], true);
    }
}
