//! The attribute checker: a resource's table as written (with spans) against its schema,
//! at validation and again at plan time with live facts.

use super::expr::{Part, Scope, evaluate, parse_template};
use super::node::{Entry, Node, NodeValue};
use crate::diagnostics::source::Span;
use crate::diagnostics::{Diagnostic, nearest};
use crate::schema::{Attribute, Schema, Type, coerce};
use crate::value::Value;

/// Checks a resource's attribute table against its schema. Values that depend on something
/// unknown until apply are checked as far as they are known.
pub fn check_attributes(
    schema: &Schema,
    resource: &str,
    attributes: &[(&str, &Entry)],
    resource_span: &Span,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let owner = format!("{} `{resource}`", schema.type_name);
    check_fields(
        schema.attributes,
        attributes,
        resource_span,
        &owner,
        resource,
        scope,
        diagnostics,
    );
}

fn check_fields(
    fields: &[Attribute],
    entries: &[(&str, &Entry)],
    owner_span: &Span,
    owner: &str,
    path: &str,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (name, entry) in entries {
        match fields.iter().find(|f| f.name == *name) {
            Some(field) => check_value(
                &field.ty,
                &entry.node,
                &format!("{path}.{name}"),
                scope,
                diagnostics,
            ),
            None => diagnostics.push(
                Diagnostic::error(format!("unknown attribute `{name}` in {owner}"))
                    .at(&entry.key_span, "not an attribute of this type")
                    .suggest(name, fields.iter().map(|f| f.name)),
            ),
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if !entries.iter().any(|(n, _)| *n == field.name) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "missing required attribute `{}` in {owner}",
                    field.name
                ))
                .at(
                    owner_span,
                    format!("`{}` ({}) is required", field.name, field.ty.describe()),
                ),
            );
        }
    }
}

fn check_value(
    ty: &Type,
    node: &Node,
    what: &str,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // A string made only of references may stand for any type; check what it resolves to.
    if let NodeValue::Str(text) = &node.value {
        let mut broken = Vec::new();
        let parts = parse_template(node, text, &mut broken);
        if !broken.is_empty() {
            return; // the broken reference is reported on its own
        }
        if node.from_each || parts.iter().any(|p| matches!(p, Part::Ref(_))) {
            let value = evaluate(node, scope);
            if value.is_known() {
                check_resolved(ty, &value, node, what, diagnostics);
            }
            return;
        }
    }
    let mismatch = |diagnostics: &mut Vec<Diagnostic>| {
        diagnostics.push(
            Diagnostic::error(format!("`{what}` has the wrong type")).at(
                &node.span,
                format!("expected {}, found {}", ty.describe(), node.kind()),
            ),
        )
    };
    match (ty, &node.value) {
        (Type::List { item, min }, NodeValue::Array(items)) => {
            if items.len() < *min {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{what}` needs at least {min} item{}",
                        if *min == 1 { "" } else { "s" }
                    ))
                    .at(&node.span, "too few items"),
                );
            }
            for (i, item_node) in items.iter().enumerate() {
                check_value(item, item_node, &format!("{what}[{i}]"), scope, diagnostics);
            }
        }
        (Type::Object(fields), NodeValue::Table(table)) => {
            let entries: Vec<_> = table.iter().map(|(k, e)| (k.as_str(), e)).collect();
            check_fields(
                fields,
                &entries,
                &node.span,
                &format!("`{what}`"),
                what,
                scope,
                diagnostics,
            );
        }
        (Type::Map(item), NodeValue::Table(table)) => {
            for (key, entry) in table {
                check_value(
                    item,
                    &entry.node,
                    &format!("{what}.{key}"),
                    scope,
                    diagnostics,
                );
            }
        }
        (Type::Policy, NodeValue::Table(table)) => {
            if !table.contains_key("Statement") {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` is not a policy document"))
                        .at(&node.span, "expected a `Statement` key")
                        .help("write `{ Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", ... }] }`"),
                );
            }
        }
        (Type::TrustPolicy, NodeValue::Table(table)) => {
            if !table.contains_key("Statement") && !table.contains_key("service") {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` is not a trust policy"))
                        .at(&node.span, "expected `service` or `Statement`")
                        .help("write `{ service = \"lambda.amazonaws.com\" }` or a full policy document"),
                );
            }
        }
        (
            Type::List { .. } | Type::Object(_) | Type::Map(_) | Type::Policy | Type::TrustPolicy,
            _,
        ) => mismatch(diagnostics),
        (_, NodeValue::Str(s)) => {
            check_resolved(ty, &Value::Str(s.clone()), node, what, diagnostics)
        }
        (_, NodeValue::Int(i)) => check_resolved(ty, &Value::Int(*i), node, what, diagnostics),
        (_, NodeValue::Bool(b)) => check_resolved(ty, &Value::Bool(*b), node, what, diagnostics),
        _ => mismatch(diagnostics),
    }
}

/// Checks a fully known value (a literal, or a reference that resolved at validation).
fn check_resolved(
    ty: &Type,
    value: &Value,
    node: &Node,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let is_template =
        node.from_each || matches!(&node.value, NodeValue::Str(s) if s.contains("${"));
    let value = &if is_template {
        coerce(ty, value.clone())
    } else {
        value.clone()
    };
    let problem = match (ty, value) {
        (Type::String(check), Value::Str(s)) => check.and_then(|c| c(s).err()),
        (Type::Int { min, max }, Value::Int(i)) => (!(*min..=*max).contains(i))
            .then(|| format!("{i} is out of range: expected {min} to {max}")),
        (Type::Bool, Value::Bool(_)) => None,
        (Type::Enum(allowed), Value::Str(s)) => (!allowed.contains(&s.as_str())).then(|| {
            let hint = nearest(s, allowed.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            format!(
                "`{s}` is not allowed: expected {}{hint}",
                ty.describe().trim_start_matches("one of ")
            )
        }),
        (Type::Directory, Value::Str(_)) => None,
        (
            Type::List { .. } | Type::Map(_) | Type::Object(_) | Type::Policy | Type::TrustPolicy,
            Value::List(_) | Value::Map(_),
        ) => None,
        _ => Some(format!(
            "expected {}, found {}",
            ty.describe(),
            value_kind(value)
        )),
    };
    if let Some(problem) = problem {
        diagnostics
            .push(Diagnostic::error(format!("invalid value for `{what}`")).at(&node.span, problem));
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::List(_) => "an array",
        Value::Map(_) => "a table",
        Value::Unknown => "an unknown value",
    }
}
