//! `[outputs]`.

use indexmap::IndexMap;

use super::{check_keys, string_at, table_at};
use crate::config::model::OutputDecl;
use crate::config::node::{NodeValue, Table};
use crate::diagnostics::Diagnostic;

const OUTPUT_KEYS: &[&str] = &["value", "description", "sensitive"];

pub(super) fn outputs(
    top: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, OutputDecl> {
    let mut out = IndexMap::new();
    let Some(outputs) = table_at(top, "outputs", diagnostics) else {
        return out;
    };
    for (name, entry) in outputs {
        let decl = match &entry.node.value {
            NodeValue::Table(t) => {
                check_keys(t, OUTPUT_KEYS, &format!("in output `{name}`"), diagnostics);
                let Some(value) = t.get("value") else {
                    diagnostics.push(
                        Diagnostic::error(format!("output `{name}` has no `value`"))
                            .at(&entry.key_span, "add `value = \"${resource.attribute}\"`"),
                    );
                    continue;
                };
                OutputDecl {
                    name: name.clone(),
                    value: value.node.clone(),
                    description: t
                        .get("description")
                        .and_then(|e| string_at(e, "description", diagnostics)),
                    sensitive: t
                        .get("sensitive")
                        .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true))),
                }
            }
            _ => OutputDecl {
                name: name.clone(),
                value: entry.node.clone(),
                description: None,
                sensitive: false,
            },
        };
        out.insert(name.clone(), decl);
    }
    out
}
