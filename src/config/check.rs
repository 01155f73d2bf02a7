//! The attribute checker: a resource's table as written (with spans) against its schema
//! (types, AWS's rules for each value, and the schema's rules across attributes), at
//! validation and again at plan time with live facts.

use super::check_policy::check_policy;
use super::expr::{Part, Scope, Target, evaluate, parse_template};
use super::node::{Entry, Node, NodeValue};
use crate::diagnostics::source::Span;
use crate::diagnostics::{Diagnostic, nearest};
use crate::schema::rules;
use crate::schema::{Attribute, Path, Schema, Step, Text, Type, coerce};
use crate::value::{Attrs, Value};

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
    let before = diagnostics.len();
    check_fields(
        schema.attributes,
        attributes,
        resource_span,
        &owner,
        resource,
        scope,
        diagnostics,
    );
    // The rules across attributes read well-formed values only.
    let Some(combination) = schema.check.filter(|_| diagnostics.len() == before) else {
        return;
    };
    let values: Attrs = attributes
        .iter()
        .filter_map(|(name, entry)| {
            let attribute = schema.attribute(name)?;
            Some((
                name.to_string(),
                coerce(&attribute.ty, evaluate(&entry.node, scope)),
            ))
        })
        .collect();
    for problem in combination(&values) {
        let span = locate(attributes, &problem.at).unwrap_or(resource_span);
        let mut d =
            Diagnostic::error(format!("{owner}: {}", problem.message)).at(span, problem.label);
        if let Some(help) = problem.help {
            d = d.help(help);
        }
        diagnostics.push(d);
    }
}

/// What is wrong with a value that is not known yet but whose form is: made of references
/// to what the resource types give examples of (a queue's `url` where its `arn` is
/// wanted), it does not match `text`'s pattern.
pub(super) fn example_problem(node: &Node, text: &Text, scope: &dyn Scope) -> Option<String> {
    let pattern = text.pattern?;
    let Value::Str(example) = evaluate(node, &WithExamples(scope)) else {
        return None;
    };
    (!rules::matches(pattern, &example))
        .then(|| format!("this will be like `{example}`: expected {}", text.expected))
}

/// A scope that answers what is not known yet with an example of it ([`Scope::example`]).
struct WithExamples<'a>(&'a dyn Scope);

impl Scope for WithExamples<'_> {
    fn lookup(&self, target: &Target) -> Value {
        match self.0.lookup(target) {
            Value::Unknown => self
                .0
                .example(target)
                .map_or(Value::Unknown, |e| Value::Str(e.to_string())),
            known => known,
        }
    }
}

/// Where the value at `path` is written: the deepest part of it the stack writes.
fn locate<'a>(attributes: &[(&str, &'a Entry)], path: &Path) -> Option<&'a Span> {
    let mut steps = path.0.iter();
    let Some(Step::Key(name)) = steps.next() else {
        return None;
    };
    let entry = attributes.iter().find(|(n, _)| n == name)?.1;
    let mut node = &entry.node;
    for step in steps {
        let next = match (step, &node.value) {
            (Step::Key(k), NodeValue::Table(t)) => t.get(k).map(|e| &e.node),
            (Step::Index(i), NodeValue::Array(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    Some(&node.span)
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
            } else if let Type::String(text) = ty
                && let Some(problem) = example_problem(node, text, scope)
            {
                diagnostics.push(
                    Diagnostic::error(format!("invalid value for `{what}`"))
                        .at(&node.span, problem),
                );
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
        (Type::Any, _) => {}
        (
            Type::List {
                item,
                min,
                max,
                unique,
            },
            NodeValue::Array(items),
        ) => {
            if items.len() < *min {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{what}` needs at least {min} item{}",
                        if *min == 1 { "" } else { "s" }
                    ))
                    .at(&node.span, "too few items"),
                );
            }
            if items.len() > *max {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` has too many items"))
                        .at(&node.span, format!("{} items: at most {max}", items.len())),
                );
            }
            for (i, item_node) in items.iter().enumerate() {
                check_value(item, item_node, &format!("{what}[{i}]"), scope, diagnostics);
            }
            if *unique {
                let values: Vec<Value> = items.iter().map(|n| evaluate(n, scope)).collect();
                for (j, value) in values.iter().enumerate() {
                    if let Some(i) = values[..j]
                        .iter()
                        .position(|v| value.is_known() && v == value)
                    {
                        diagnostics.push(
                            Diagnostic::error(format!("duplicate item in `{what}`"))
                                .at(&items[j].span, format!("`{what}[{i}]` is the same")),
                        );
                    }
                }
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
        (Type::Map(map), NodeValue::Table(table)) => {
            if table.len() > map.max {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` has too many entries")).at(
                        &node.span,
                        format!("{} entries: at most {}", table.len(), map.max),
                    ),
                );
            }
            for (key, entry) in table {
                if let Some(problem) = map.keys.problem(key) {
                    diagnostics.push(
                        Diagnostic::error(format!("invalid key `{key}` in `{what}`"))
                            .at(&entry.key_span, problem),
                    );
                }
                check_value(
                    map.values,
                    &entry.node,
                    &format!("{what}.{key}"),
                    scope,
                    diagnostics,
                );
            }
        }
        (Type::Policy(rules), NodeValue::Table(table)) => {
            check_policy(rules, false, node, table, what, scope, diagnostics)
        }
        (Type::TrustPolicy(rules), NodeValue::Table(table)) => {
            check_policy(rules, true, node, table, what, scope, diagnostics)
        }
        (
            Type::List { .. }
            | Type::Object(_)
            | Type::Map(_)
            | Type::Policy(_)
            | Type::TrustPolicy(_),
            _,
        ) => mismatch(diagnostics),
        (_, NodeValue::Str(s)) => {
            check_resolved(ty, &Value::Str(s.clone()), node, what, diagnostics)
        }
        (_, NodeValue::Int(i)) => check_resolved(ty, &Value::Int(*i), node, what, diagnostics),
        (_, NodeValue::Bool(b)) => check_resolved(ty, &Value::Bool(*b), node, what, diagnostics),
        (Type::Float { .. }, NodeValue::Float(f)) => {
            check_resolved(ty, &Value::Float(*f), node, what, diagnostics)
        }
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
        // A value made from references is shown as it resolved.
        (Type::String(text), Value::Str(s)) if is_template => {
            text.problem(s).map(|p| format!("`{s}`: {p}"))
        }
        (Type::String(text), Value::Str(s)) => text.problem(s),
        (Type::Int { min, max }, Value::Int(i)) => (!(*min..=*max).contains(i))
            .then(|| format!("{i} is out of range: expected {min} to {max}")),
        (Type::Float { min, max }, Value::Int(_) | Value::Float(_)) => {
            let n = crate::schema::number(value).unwrap_or(f64::NAN);
            (!(*min..=*max).contains(&n))
                .then(|| format!("{n} is out of range: expected {min} to {max}"))
        }
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
        (Type::Directory, Value::Str(_)) | (Type::Any, _) => None,
        (Type::List { .. } | Type::Map(_), Value::List(_) | Value::Map(_)) => {
            container_problem(ty, value)
        }
        (
            Type::Object(_) | Type::Policy(_) | Type::TrustPolicy(_),
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

/// What is wrong with a list or table that a reference gave (a variable): the first
/// problem of its size, keys or items.
fn container_problem(ty: &Type, value: &Value) -> Option<String> {
    let item_problem = |item_ty: &Type, item: &Value| match (item_ty, item) {
        (Type::String(text), Value::Str(s)) => text.problem(s).map(|p| format!("`{s}`: {p}")),
        (Type::Enum(allowed), Value::Str(s)) if !allowed.contains(&s.as_str()) => Some(format!(
            "`{s}` is not allowed: expected {}",
            crate::schema::quoted_list(allowed)
        )),
        _ => None,
    };
    match (ty, value) {
        (Type::List { item, min, max, .. }, Value::List(items)) => {
            if items.len() < *min || items.len() > *max {
                return Some(format!("{} items: expected {min} to {max}", items.len()));
            }
            items.iter().find_map(|i| item_problem(item, i))
        }
        (Type::Map(map), Value::Map(entries)) => {
            if entries.len() > map.max {
                return Some(format!("{} entries: at most {}", entries.len(), map.max));
            }
            entries.iter().find_map(|(k, v)| {
                map.keys
                    .problem(k)
                    .map(|p| format!("key `{k}`: {p}"))
                    .or_else(|| item_problem(map.values, v))
            })
        }
        _ => Some(format!(
            "expected {}, found {}",
            ty.describe(),
            value_kind(value)
        )),
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
