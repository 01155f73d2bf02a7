//! Validation: the merged document becomes a [`Stack`], or every problem in it is reported.
//! Checks the document's shape, variables, each resource against its schema, every
//! reference; the caller's own checks of the stack (its dependency graph's) join them.

mod data;
mod for_each;
mod lifecycle;
mod outputs;
mod references;
mod resources;
mod stack;
mod variables;

pub(crate) use data::data_dependencies;
pub(crate) use for_each::for_each_instances;
pub use references::validation_scope;
pub use stack::{backend_key, stage_problem};
pub(crate) use variables::variables;
pub use variables::{BadVar, parse_var};

use indexmap::IndexMap;

use crate::config::model::Stack;
use crate::config::node::{Entry, Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Sources;
use crate::schema::Schema;
use outputs::outputs;
use references::check_references;
use resources::{check_identities, check_moves, check_resource_attributes, resource_decls};
use stack::{backend, check_stage, stack_name, stack_pins};

/// The keys a stack file may have at its top (`modules` is expanded before validation,
/// [`crate::config::module`]).
pub const TOP_LEVEL: &[&str] = &[
    "extends",
    "stack",
    "backend",
    "variables",
    "resources",
    "outputs",
    "data",
    "modules",
];

/// `derive` builds what the caller needs from the stack (`graph::load_stack`: the dependency
/// graph) and returns the problems it found there, reported with the stack's own.
pub fn validate<T>(
    document: Node,
    files: Vec<String>,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    sources: Sources,
    mut diagnostics: Vec<Diagnostic>,
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), (Vec<Diagnostic>, Sources)> {
    let empty = Table::new();
    let top = document.as_table().unwrap_or(&empty);
    check_keys(
        top,
        TOP_LEVEL,
        "at the top of a stack file",
        &mut diagnostics,
    );

    let name = stack_name(top, &document.span, &mut diagnostics);
    let (region, allowed_account_ids) = stack_pins(top, &mut diagnostics);
    let variables = variables(top, vars, &mut diagnostics);
    check_stage(top, &variables, &mut diagnostics);
    let backend = backend(top, &name, &variables, &mut diagnostics);
    let declared_variables = declared_variables(top);
    let mut stack = Stack {
        name,
        region,
        allowed_account_ids,
        backend,
        files,
        variables,
        declared_variables,
        resources: IndexMap::new(),
        for_each: IndexMap::new(),
        outputs: IndexMap::new(),
        data: IndexMap::new(),
        modules: Vec::new(),
        sources,
    };
    (stack.resources, stack.for_each) = resource_decls(
        top,
        schemas,
        &stack.variables,
        &stack.declared_variables,
        &mut diagnostics,
    );
    // Resources that failed to validate are still declared: references to them are not
    // reported a second time.
    let declared: Vec<String> = top
        .get("resources")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    stack.outputs = outputs(top, &mut diagnostics);
    stack.data = data::data_decls(top, schemas, &mut diagnostics);
    let declared_data: Vec<String> = top
        .get("data")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    data::check_data(&mut stack, &mut diagnostics);

    check_resource_attributes(&stack, &mut diagnostics);
    check_identities(&stack, &mut diagnostics);
    check_references(&stack, &declared, &declared_data, &mut diagnostics);
    check_moves(&stack, &mut diagnostics);
    let (derived, found) = derive(&stack);
    diagnostics.extend(found);

    let mut unique: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
    for d in diagnostics {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    let diagnostics = unique;
    if diagnostics.is_empty() {
        Ok((stack, derived))
    } else {
        Err((diagnostics, stack.sources))
    }
}

/// Every variable the document declares, with or without a usable value.
pub(crate) fn declared_variables(top: &Table) -> Vec<String> {
    top.get("variables")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

pub(crate) fn check_keys(
    table: &Table,
    allowed: &[&str],
    place: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (key, entry) in table {
        if !allowed.contains(&key.as_str()) {
            diagnostics.push(
                Diagnostic::error(format!("unknown key `{key}` {place}"))
                    .at(
                        &entry.key_span,
                        format!("expected one of {}", crate::schema::quoted_list(allowed)),
                    )
                    .suggest(key, allowed.iter().copied()),
            );
        }
    }
}

/// The table under `key`, or an error if it is something else.
pub(super) fn table_at<'a>(
    table: &'a Table,
    key: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'a Table> {
    let entry = table.get(key)?;
    match &entry.node.value {
        NodeValue::Table(t) => Some(t),
        _ => {
            diagnostics.push(Diagnostic::error(format!("`{key}` must be a table")).at(
                &entry.node.span,
                format!("expected a table, found {}", entry.node.kind()),
            ));
            None
        }
    }
}

pub(crate) fn string_at(
    entry: &Entry,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    match &entry.node.value {
        NodeValue::Str(s) => Some(s.clone()),
        _ => {
            diagnostics.push(Diagnostic::error(format!("`{what}` must be a string")).at(
                &entry.node.span,
                format!("expected a string, found {}", entry.node.kind()),
            ));
            None
        }
    }
}

#[cfg(test)]
mod testing {
    use super::*;

    /// Loads `text` as a stack file with `--var` pairs: the stack, or the rendered errors.
    pub(super) fn load(text: &str, vars: &[(&str, &str)]) -> Result<Stack, String> {
        load_files(&[("stack.toml", text)], vars)
    }

    pub(super) fn load_files(
        files: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> Result<Stack, String> {
        crate::config::load_test_files(files, vars, |_| ((), Vec::new())).map(|(stack, ())| stack)
    }

    pub(super) const QUEUES: &str = r#"
[stack]
name = "fe"

[variables.queues]
type = "list"
default = ["a", "b", "c"]

[resources.queue]
type = "sqs.queue"
for_each = "${var.queues}"
name = "${stack.name}-${each.key}"

[resources.dlq]
type = "sqs.queue"
for_each = { a = 60, b = 120 }
name = "${stack.name}-dlq-${each.key}"
visibility_timeout_seconds = "${each.value}"
depends_on = ["queue"]

[resources.main]
type = "sqs.queue"
name = "${stack.name}-main"
redrive_policy = { dead_letter_queue = '${queue["b"].arn}', max_receive_count = 3 }

[outputs]
a_arn = '${queue["a"].arn}'
"#;
}
