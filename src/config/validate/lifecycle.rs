//! A resource's `lifecycle`: `prevent_destroy`, `ignore_changes` and
//! `create_before_destroy`, checked against the resource's schema.

use super::check_keys;
use crate::config::model::Lifecycle;
use crate::config::node::{Entry, NodeValue};
use crate::diagnostics::Diagnostic;
use crate::schema::Schema;

const KEYS: &[&str] = &["prevent_destroy", "ignore_changes", "create_before_destroy"];

/// The `lifecycle` entry of resource `name`, or the default when there is none.
pub(super) fn lifecycle(
    name: &str,
    entry: Option<&Entry>,
    schema: &Schema,
    diagnostics: &mut Vec<Diagnostic>,
) -> Lifecycle {
    let mut out = Lifecycle::default();
    let Some(entry) = entry else {
        return out;
    };
    let Some(table) = entry.node.as_table() else {
        diagnostics.push(
            Diagnostic::error(format!("`lifecycle` of `{name}` must be a table"))
                .at(
                    &entry.node.span,
                    format!("expected a table, found {}", entry.node.kind()),
                )
                .help("write `lifecycle = { prevent_destroy = true }`"),
        );
        return out;
    };
    check_keys(table, KEYS, "in `lifecycle`", diagnostics);
    let flag = |key: &str, diagnostics: &mut Vec<Diagnostic>| {
        let entry = table.get(key)?;
        match entry.node.value {
            NodeValue::Bool(true) => Some(entry.node.span.clone()),
            NodeValue::Bool(false) => None,
            _ => {
                diagnostics.push(
                    Diagnostic::error(format!("`lifecycle.{key}` must be true or false")).at(
                        &entry.node.span,
                        format!("expected a boolean, found {}", entry.node.kind()),
                    ),
                );
                None
            }
        }
    };
    out.prevent_destroy = flag("prevent_destroy", diagnostics);
    out.create_before_destroy = flag("create_before_destroy", diagnostics);
    let Some(ignored) = table.get("ignore_changes") else {
        return out;
    };
    let NodeValue::Array(items) = &ignored.node.value else {
        diagnostics.push(
            Diagnostic::error("`lifecycle.ignore_changes` must be an array of attribute names").at(
                &ignored.node.span,
                format!("expected an array, found {}", ignored.node.kind()),
            ),
        );
        return out;
    };
    let settable = || {
        schema
            .attributes
            .iter()
            .filter(|a| !a.local)
            .map(|a| a.name)
    };
    for item in items {
        let Some(attribute) = item.as_str() else {
            diagnostics.push(
                Diagnostic::error("`lifecycle.ignore_changes` must name attributes").at(
                    &item.span,
                    format!("expected an attribute name, found {}", item.kind()),
                ),
            );
            continue;
        };
        if settable().any(|a| a == attribute) {
            out.ignore_changes
                .push((attribute.to_string(), item.span.clone()));
        } else {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`ignore_changes` of `{name}` names unknown attribute `{attribute}`"
                ))
                .at(
                    &item.span,
                    format!("{} has no such attribute", schema.type_name),
                )
                .suggest(attribute, settable())
                .note(format!(
                    "{} has: {}",
                    schema.type_name,
                    settable().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    out
}
