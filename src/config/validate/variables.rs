//! `[variables]`: declarations, types, defaults, `allowed`, and `--var` values.

use indexmap::IndexMap;

use super::{check_keys, string_at, table_at};
use crate::config::model::{VarType, Variable};
use crate::config::node::{Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::value::Value;

const VARIABLE_KEYS: &[&str] = &["type", "default", "description", "allowed", "sensitive"];

const VARIABLE_TYPES: &[&str] = &["string", "list", "table"];

pub(crate) fn variables(
    top: &Table,
    vars: &[(String, String)],
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, Variable> {
    let mut out = IndexMap::new();
    let empty = Table::new();
    let declared = table_at(top, "variables", diagnostics).unwrap_or(&empty);
    for (name, entry) in declared {
        let NodeValue::Table(decl) = &entry.node.value else {
            diagnostics.push(
                Diagnostic::error(format!("variable `{name}` must be a table"))
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help(format!(
                        "write `[variables.{name}]` with `default = \"...\"`"
                    )),
            );
            continue;
        };
        check_keys(
            decl,
            VARIABLE_KEYS,
            &format!("in variable `{name}`"),
            diagnostics,
        );
        let Some(ty) = variable_type(name, decl, diagnostics) else {
            continue;
        };
        let default = decl.get("default").and_then(|e| {
            let value = typed_default(ty, &e.node);
            if value.is_none() {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "the default of variable `{name}` is not a {}",
                        ty.name()
                    ))
                    .at(
                        &e.node.span,
                        format!("expected {}, found {}", type_description(ty), e.node.kind()),
                    )
                    .help(type_help(ty)),
                );
            }
            value
        });
        let description = decl
            .get("description")
            .and_then(|e| string_at(e, "description", diagnostics));
        let sensitive = decl
            .get("sensitive")
            .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true)));
        // A message names a sensitive variable's value as this, whatever its length.
        let shown = |text: &str| {
            if sensitive {
                "(sensitive)".to_string()
            } else {
                text.to_string()
            }
        };
        let given = vars.iter().rev().find(|(k, _)| k == name);
        let from_command_line = given.is_some();
        let given = match given {
            Some((_, text)) => match parse_var(ty, text) {
                Ok(value) => Some(value),
                Err(BadVar::Items(found)) => {
                    let items = if ty == VarType::List {
                        "items"
                    } else {
                        "values"
                    };
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "--var {name}={}: the {items} of {} variable `{name}` must be strings",
                            shown(text),
                            ty.name()
                        ))
                        .at(&entry.key_span, format!("declared as a {} here", ty.name()))
                        .note(format!("found {found}"))
                        .help(format!("quote each of them: {}", var_example(ty, name))),
                    );
                    continue;
                }
                Err(bad) => {
                    let mut d = Diagnostic::error(format!(
                        "--var {name}={}: variable `{name}` is a {}",
                        shown(text),
                        ty.name()
                    ))
                    .at(&entry.key_span, format!("declared as a {} here", ty.name()));
                    if let BadVar::Shape(found) = bad {
                        d = d.note(format!("the value is {found}"));
                    }
                    diagnostics.push(d.help(format!(
                        "write {} values as TOML: {}",
                        ty.name(),
                        var_example(ty, name)
                    )));
                    continue;
                }
            },
            None => None,
        };
        let has_default = decl.contains_key("default");
        let Some(value) = given.or(default) else {
            if has_default {
                continue; // its default was reported as invalid above
            }
            diagnostics.push(
                Diagnostic::error(format!("variable `{name}` is required but has no value"))
                    .at(&entry.key_span, "declared here without a default")
                    .help(format!("pass `{}`", var_example(ty, name))),
            );
            continue;
        };
        if let Some(allowed) = decl.get("allowed") {
            let values: Vec<String> = match &allowed.node.value {
                NodeValue::Array(items) => items
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let text = value.as_str().unwrap_or_default().to_string();
            if !values.contains(&text) {
                let value = shown(&text);
                let allowed_list = crate::schema::quoted_list(
                    &values.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                let mut d = Diagnostic::error(format!(
                    "variable `{name}` is `{value}`, which is not allowed"
                ));
                d = match decl.get("default").filter(|_| !from_command_line) {
                    Some(default) => d
                        .at(
                            &default.node.span,
                            format!("expected one of {allowed_list}"),
                        )
                        .related(&allowed.node.span, "allowed values"),
                    None => d
                        .at(&allowed.node.span, format!("allowed: {allowed_list}"))
                        .note("the value was set with --var"),
                };
                diagnostics.push(d);
            }
        }
        out.insert(
            name.clone(),
            Variable {
                value,
                ty,
                sensitive,
                description,
                from_command_line,
                span: entry.key_span.clone(),
            },
        );
    }
    for (name, _) in vars {
        if !declared.contains_key(name) {
            diagnostics.push(
                Diagnostic::error(format!("unknown variable `{name}` set with --var"))
                    .note(format!(
                        "this stack declares: {}",
                        if declared.is_empty() {
                            "no variables".to_string()
                        } else {
                            declared.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ))
                    .suggest(name, declared.keys().map(String::as_str)),
            );
        }
    }
    out
}

/// A variable's declared type (a string when it says none); `None` when it is not one
/// strata knows (reported).
fn variable_type(name: &str, decl: &Table, diagnostics: &mut Vec<Diagnostic>) -> Option<VarType> {
    let Some(entry) = decl.get("type") else {
        return Some(VarType::String);
    };
    match entry.node.as_str() {
        Some("string") => Some(VarType::String),
        Some("list") => Some(VarType::List),
        Some("table") => Some(VarType::Table),
        written => {
            let mut d = Diagnostic::error(format!("unknown type for variable `{name}`")).at(
                &entry.node.span,
                format!(
                    "expected one of {}",
                    crate::schema::quoted_list(VARIABLE_TYPES)
                ),
            );
            if let Some(written) = written {
                d = d.suggest(written, VARIABLE_TYPES.iter().copied());
            }
            diagnostics.push(d);
            None
        }
    }
}

fn type_description(ty: VarType) -> &'static str {
    match ty {
        VarType::String => "a string",
        VarType::List => "a list of strings",
        VarType::Table => "a table of strings",
    }
}

fn type_help(ty: VarType) -> &'static str {
    match ty {
        VarType::String => {
            "write `default = \"...\"`, or declare `type = \"list\"` or `type = \"table\"`"
        }
        VarType::List => "write `default = [\"a\", \"b\"]`",
        VarType::Table => "write `default = { a = \"1\", b = \"2\" }`",
    }
}

fn var_example(ty: VarType, name: &str) -> String {
    match ty {
        VarType::String => format!("--var {name}=VALUE"),
        VarType::List => format!("--var '{name}=[\"a\", \"b\"]'"),
        VarType::Table => format!("--var '{name}={{ a = \"1\", b = \"2\" }}'"),
    }
}

/// A declaration's default as a value of its type: strings, or lists and tables of strings.
fn typed_default(ty: VarType, node: &Node) -> Option<Value> {
    match (ty, &node.value) {
        (VarType::String, NodeValue::Str(s)) => Some(Value::Str(s.clone())),
        (VarType::List, NodeValue::Array(items)) => items
            .iter()
            .map(|n| n.as_str().map(|s| Value::Str(s.to_string())))
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        (VarType::Table, NodeValue::Table(t)) => t
            .iter()
            .map(|(k, e)| {
                e.node
                    .as_str()
                    .map(|s| (k.clone(), Value::Str(s.to_string())))
            })
            .collect::<Option<IndexMap<_, _>>>()
            .map(Value::Map),
        _ => None,
    }
}

/// Why a `--var` value is not a value of its variable's type.
#[derive(Debug, PartialEq, Eq)]
pub enum BadVar {
    /// Not a TOML value (`a,b` for a list).
    Syntax,
    /// A TOML value of another kind (a table for a list): what it is.
    Shape(&'static str),
    /// A list or table with an item that is not a string: what that item is.
    Items(&'static str),
}

/// A `--var` value: a string as written; a list or table as a TOML value
/// (`["a", "b"]`, `{ a = "1" }`) whose items are strings.
pub fn parse_var(ty: VarType, text: &str) -> Result<Value, BadVar> {
    if ty == VarType::String {
        return Ok(Value::Str(text.to_string()));
    }
    let mut doc: toml::Table =
        toml::from_str(&format!("v = {text}")).map_err(|_| BadVar::Syntax)?;
    let value = doc.remove("v").ok_or(BadVar::Syntax)?;
    let string = |v: toml::Value| match v {
        toml::Value::String(s) => Ok(Value::Str(s)),
        other => Err(BadVar::Items(toml_kind(&other))),
    };
    match (ty, value) {
        (VarType::List, toml::Value::Array(items)) => items
            .into_iter()
            .map(string)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (VarType::Table, toml::Value::Table(t)) => t
            .into_iter()
            .map(|(k, v)| string(v).map(|v| (k, v)))
            .collect::<Result<IndexMap<_, _>, _>>()
            .map(Value::Map),
        (_, other) => Err(BadVar::Shape(toml_kind(&other))),
    }
}

fn toml_kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;

    #[test]
    fn a_list_var_on_the_command_line_replaces_the_default() {
        let stack = load(QUEUES, &[("queues", r#"["a", "b"]"#)]).unwrap();
        assert!(stack.resources.contains_key("queue[\"b\"]"));
        assert!(!stack.resources.contains_key("queue[\"c\"]"));
        // ... and `main` now refers to a missing instance.
        let err = load(QUEUES, &[("queues", r#"["a"]"#)]).err().unwrap();
        assert!(err.contains("error: no instance `queue[\"b\"]`"), "{err}");
        assert!(err.contains("note: `queue` has: a"), "{err}");
    }

    #[test]
    fn a_list_var_that_is_not_toml_is_refused_with_the_syntax() {
        let err = load(QUEUES, &[("queues", "a,b")]).err().unwrap();
        assert!(
            err.contains("error: --var queues=a,b: variable `queues` is a list"),
            "{err}"
        );
        assert!(err.contains(r#"--var 'queues=["a", "b"]'"#), "{err}");
        assert!(
            err.contains("could not load the stack due to 1 previous error"),
            "{err}"
        );
    }

    #[test]
    fn a_list_var_with_items_that_are_not_strings_says_so() {
        let err = load(QUEUES, &[("queues", "[1,2]")]).err().unwrap();
        assert!(
            err.contains(
                "error: --var queues=[1,2]: the items of list variable `queues` must be strings\n"
            ),
            "{err}"
        );
        assert!(err.contains("= note: found an integer\n"), "{err}");
        assert!(!err.contains("is a list"), "{err}");
        let err = load(QUEUES, &[("queues", "{ a = \"1\" }")]).err().unwrap();
        assert!(
            err.contains("error: --var queues={ a = \"1\" }: variable `queues` is a list\n"),
            "{err}"
        );
        assert!(err.contains("= note: the value is a table\n"), "{err}");
    }

    #[test]
    fn parse_var_reads_lists_and_tables_as_toml_values() {
        assert_eq!(
            parse_var(VarType::List, r#"["x","y"]"#),
            Ok(Value::List(vec![
                Value::Str("x".into()),
                Value::Str("y".into())
            ]))
        );
        assert_eq!(
            parse_var(VarType::Table, r#"{ x = "1" }"#),
            Ok(Value::Map(
                [("x".to_string(), Value::Str("1".into()))]
                    .into_iter()
                    .collect()
            ))
        );
        assert_eq!(
            parse_var(VarType::List, "[1, 2]"),
            Err(BadVar::Items("an integer"))
        );
        assert_eq!(
            parse_var(VarType::Table, "{ x = true }"),
            Err(BadVar::Items("a boolean"))
        );
        assert_eq!(
            parse_var(VarType::Table, r#"["x"]"#),
            Err(BadVar::Shape("an array"))
        );
        assert_eq!(parse_var(VarType::List, "a,b"), Err(BadVar::Syntax));
        assert_eq!(
            parse_var(VarType::String, "[x"),
            Ok(Value::Str("[x".into()))
        );
    }
}
