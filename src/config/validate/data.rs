//! `[data.NAME]`: data sources. Each names a type strata can read by id (`id = "..."`),
//! `sts.caller_identity`, or `strata.stack` (`stack = "other.toml"`); an `id` may refer to
//! variables, stack and AWS facts and other data sources, never to a managed resource
//! (data sources are read before anything is planned).

use indexmap::IndexMap;

use super::{check_keys, string_at, table_at};
use crate::config::address::split_module;
use crate::config::expr::{Target, references};
use crate::config::model::{
    CALLER_IDENTITY, DataDecl, DataSource, STACK_OUTPUTS, Stack, data_address,
};
use crate::config::node::{NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::resources::cloudcontrol::is_cloudcontrol;
use crate::schema::Schema;

const OBJECT_KEYS: &[&str] = &["type", "id"];
const IDENTITY_KEYS: &[&str] = &["type"];
const STACK_KEYS: &[&str] = &["type", "stack"];

/// The data sources the document declares; those that are broken are reported and left
/// out.
pub(super) fn data_decls(
    top: &Table,
    schemas: &[&'static Schema],
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, DataDecl> {
    let mut out = IndexMap::new();
    let Some(data) = table_at(top, "data", diagnostics) else {
        return out;
    };
    for (name, entry) in data {
        if !super::resources::valid_identifier(split_module(name).1) {
            diagnostics.push(
                Diagnostic::error(format!("invalid data source name `{name}`")).at(
                    &entry.key_span,
                    "expected letters, digits and underscores, starting with a letter",
                ),
            );
            continue;
        }
        let address = data_address(name);
        let NodeValue::Table(table) = &entry.node.value else {
            diagnostics.push(
                Diagnostic::error(format!("data source `{address}` must be a table"))
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help(format!(
                        "write `[data.{name}]` followed by `type = \"...\"` and `id = \"...\"`"
                    )),
            );
            continue;
        };
        let known = known_types(schemas);
        let Some(type_entry) = table.get("type") else {
            diagnostics.push(
                Diagnostic::error(format!("data source `{address}` has no `type`"))
                    .at(&entry.key_span, "add `type = \"...\"` to this data source")
                    .note(format!("data source types: {}", known.join(", "))),
            );
            continue;
        };
        let Some(type_name) = string_at(type_entry, &format!("data.{name}.type"), diagnostics)
        else {
            continue;
        };
        let place = format!("in data source `{address}`");
        let source = match type_name.as_str() {
            CALLER_IDENTITY => {
                check_keys(table, IDENTITY_KEYS, &place, diagnostics);
                DataSource::CallerIdentity
            }
            STACK_OUTPUTS => {
                check_keys(table, STACK_KEYS, &place, diagnostics);
                let Some(stack) = stack_file(name, &address, entry, table, diagnostics) else {
                    continue;
                };
                stack
            }
            _ if is_cloudcontrol(&type_name) => {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{type_name}` cannot be read as a data source"
                    ))
                    .at(&type_entry.node.span, "this type has no read by id in strata")
                    .note("data sources read the types strata implements itself, `sts.caller_identity` and `strata.stack`")
                    .note(format!("data source types: {}", known.join(", "))),
                );
                continue;
            }
            _ => {
                let Some(schema) = schemas.iter().copied().find(|s| s.type_name == type_name)
                else {
                    diagnostics.push(
                        Diagnostic::error(format!("unknown data source type `{type_name}`"))
                            .at(&type_entry.node.span, "not a type strata can read")
                            .suggest(&type_name, known.iter().copied())
                            .note(format!("data source types: {}", known.join(", "))),
                    );
                    continue;
                };
                check_keys(table, OBJECT_KEYS, &place, diagnostics);
                DataSource::Object(schema)
            }
        };
        let id = match (&source, table.get("id")) {
            (DataSource::Object(_), None) => {
                diagnostics.push(
                    Diagnostic::error(format!("data source `{address}` has no `id`"))
                        .at(
                            &entry.key_span,
                            format!("add `id = \"...\"`: the id of the {type_name} to read"),
                        )
                        .help("the id is what `strata state show` shows for an object of this type (a name, for most)"),
                );
                continue;
            }
            (DataSource::Object(_), Some(id)) => {
                if string_at(id, &format!("data.{name}.id"), diagnostics).is_none() {
                    continue;
                }
                Some(id.node.clone())
            }
            _ => None,
        };
        let references = id
            .as_ref()
            .map(|node| references(node, diagnostics))
            .unwrap_or_default();
        out.insert(
            name.clone(),
            DataDecl {
                name: name.clone(),
                source,
                span: entry.key_span.clone(),
                id,
                references,
            },
        );
    }
    out
}

/// `stack = "../network/network.toml"`: the file, which must exist.
fn stack_file(
    name: &str,
    address: &str,
    entry: &crate::config::node::Entry,
    table: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<DataSource> {
    let Some(stack) = table.get("stack") else {
        diagnostics.push(
            Diagnostic::error(format!("data source `{address}` has no `stack`")).at(
                &entry.key_span,
                "add `stack = \"other.toml\"`: the stack file whose outputs to read",
            ),
        );
        return None;
    };
    let written = string_at(stack, &format!("data.{name}.stack"), diagnostics)?;
    Some(DataSource::Stack {
        file: written.into(),
        span: stack.node.span.clone(),
    })
}

/// What `type` may be in a data source.
fn known_types(schemas: &[&'static Schema]) -> Vec<&'static str> {
    let mut known: Vec<&'static str> = schemas.iter().map(|s| s.type_name).collect();
    known.extend([CALLER_IDENTITY, STACK_OUTPUTS]);
    known
}

/// Checks where each `strata.stack` file is (relative to the file that names it), each
/// `id`'s references (never to a managed resource) and that data sources do not refer to
/// each other in a cycle.
pub(super) fn check_data(stack: &mut Stack, diagnostics: &mut Vec<Diagnostic>) {
    for decl in stack.data.values_mut() {
        let address = decl.address();
        if let DataSource::Stack { file, span } = &mut decl.source {
            let base = stack.sources.get(span.file).path.parent();
            let path = base.map_or(file.clone(), |b| b.join(&*file));
            match path.canonicalize() {
                Ok(path) => *file = path,
                Err(err) => diagnostics.push(
                    Diagnostic::error(format!(
                        "cannot read the stack of data source `{address}`, `{}`: {err}",
                        crate::diagnostics::source::display_path(&path)
                    ))
                    .at(span, "no such stack file")
                    .help("`stack` is a stack file, relative to the file that names it"),
                ),
            }
        }
    }
    for decl in stack.data.values() {
        for reference in &decl.references {
            if let Target::Resource { name, .. } = &reference.target {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "the id of data source `{}` refers to resource `{name}`",
                        decl.address()
                    ))
                    .at(&reference.span, "a managed resource")
                    .note("data sources are read before anything is planned, when the resources of this stack may not exist yet")
                    .help("give the id as a literal or a variable; to read what another stack manages, use its outputs (`type = \"strata.stack\"`)"),
                );
            }
        }
    }
    if let Some(cycle) = data_cycle(stack) {
        let first = &stack.data[&cycle[0]];
        let chain: Vec<String> = cycle.iter().map(|n| data_address(n)).collect();
        let mut d = Diagnostic::error(format!(
            "data sources refer to each other in a cycle: {} -> {}",
            chain.join(" -> "),
            chain[0]
        ))
        .at(&first.span, "read here");
        for name in &cycle[1..] {
            d = d.related(&stack.data[name].span, "and here");
        }
        diagnostics.push(
            d.help("a data source's id may use another data source, but never one that uses it"),
        );
    }
}

/// The data sources a data source's `id` refers to, declared ones only.
pub(crate) fn data_dependencies<'a>(stack: &'a Stack, decl: &'a DataDecl) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for reference in &decl.references {
        if let Target::Data { name, .. } = &reference.target
            && stack.data.contains_key(name)
            && !out.contains(&name.as_str())
        {
            out.push(name);
        }
    }
    out
}

/// The first cycle among the data sources, by name, if there is one.
fn data_cycle(stack: &Stack) -> Option<Vec<String>> {
    fn visit(
        stack: &Stack,
        name: &str,
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| p == name) {
            return Some(path[pos..].to_vec());
        }
        if done.iter().any(|d| d == name) {
            return None;
        }
        path.push(name.to_string());
        for next in data_dependencies(stack, &stack.data[name]) {
            if let Some(cycle) = visit(stack, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(name.to_string());
        None
    }
    let mut done = Vec::new();
    stack
        .data
        .keys()
        .find_map(|name| visit(stack, name, &mut Vec::new(), &mut done))
}

/// A reference to a data source: it must be declared and have the attribute.
pub(super) fn check_data_reference(
    stack: &Stack,
    declared: &[String],
    name: &str,
    attribute: &str,
    span: &crate::diagnostics::source::Span,
) -> Option<Diagnostic> {
    let Some(decl) = stack.data.get(name) else {
        // Declared but broken: already reported.
        if declared.iter().any(|d| d == name) {
            return None;
        }
        return Some(
            Diagnostic::error(format!("unknown data source `{}`", data_address(name)))
                .at(span, "no `[data]` block with this name")
                .suggest(name, stack.data.keys().map(String::as_str)),
        );
    };
    let attributes = decl.source.attributes();
    let known = match &decl.source {
        DataSource::Stack { .. } => attribute.starts_with("outputs."),
        _ => attributes.contains(&attribute),
    };
    if known {
        return None;
    }
    let d = Diagnostic::error(format!(
        "`{}` has no attribute `{attribute}`",
        decl.address()
    ))
    .at(span, "unknown attribute");
    Some(match &decl.source {
        DataSource::Stack { .. } => d.help(format!(
            "another stack's outputs are `${{{}.outputs.OUTPUT}}`",
            decl.address()
        )),
        _ => d
            .suggest(attribute, attributes.iter().copied())
            .note(format!(
                "{} has: {}",
                decl.source.type_name(),
                attributes.join(", ")
            )),
    })
}
