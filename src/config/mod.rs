//! The stack language: loading files with spans, following `extends`, merging, `${...}`
//! references, variables and validation against the resource schemas. Nothing here talks
//! to AWS.

pub mod address;
pub mod check;
mod check_policy;
pub mod explain;
pub mod expr;
pub mod format;
pub mod load;
pub mod merge;
pub mod model;
pub mod module;
pub mod node;
pub mod validate;

use std::path::Path;

pub use model::Stack;

use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Sources;
use crate::schema::Schema;
use node::{Node, NodeValue};

/// A stack that failed to load: every diagnostic, and the sources they point into.
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
    /// The values of the variables declared `sensitive`: a diagnostic may quote a value
    /// built from one (`q-tok-123 is not a valid queue name`), and must not show it.
    pub secrets: Vec<String>,
}

impl LoadError {
    pub fn render(&self) -> String {
        let mut text = crate::diagnostics::render_all(&self.diagnostics, &self.sources);
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "(sensitive)");
        }
        text
    }
}

/// The text of every sensitive variable's default and `--var` value, the strings inside a
/// list or table included; values too short to tell from ordinary words are left out (as
/// in the logs).
fn sensitive_texts(document: &Node, vars: &[(String, String)]) -> Vec<String> {
    fn strings(node: &Node, out: &mut Vec<String>) {
        match &node.value {
            NodeValue::Str(s) => out.push(s.clone()),
            NodeValue::Array(items) => items.iter().for_each(|n| strings(n, out)),
            NodeValue::Table(table) => table.values().for_each(|e| strings(&e.node, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let declared = document
        .as_table()
        .and_then(|top| top.get("variables"))
        .and_then(|e| e.node.as_table());
    for (name, entry) in declared.into_iter().flatten() {
        let Some(decl) = entry.node.as_table() else {
            continue;
        };
        if !decl
            .get("sensitive")
            .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true)))
        {
            continue;
        }
        if let Some(default) = decl.get("default") {
            strings(&default.node, &mut out);
        }
        for (_, text) in vars.iter().filter(|(n, _)| n == name) {
            out.push(text.clone());
            // A list or table value: its items, as they will be parsed.
            if let Ok(toml::Value::Table(t)) = format!("v = {text}").parse::<toml::Value>() {
                let mut items = Vec::new();
                collect_toml_strings(&t["v"], &mut items);
                out.extend(items);
            }
        }
    }
    out.retain(|s| s.len() >= crate::log::MIN_SECRET_LEN);
    // Longest first: a secret that contains another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn collect_toml_strings(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(items) => items.iter().for_each(|v| collect_toml_strings(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| collect_toml_strings(v, out)),
        _ => {}
    }
}

/// Loads, merges and validates the stack in `path` with `--var` overrides, against the
/// resource types in `schemas` (the caller's registry, e.g. `resources::SCHEMAS`).
/// `derive` builds what the caller needs from the valid stack and returns the problems it
/// finds there, reported with the stack's own (`graph::load_stack` builds the dependency
/// graph and reports its cycles).
pub fn load_stack<T>(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), LoadError> {
    load_with(path, vars, schemas, Sources::default(), derive)
}

/// Loads the stack as `snapshot` holds its files (canonical path -> text), as a saved plan
/// recorded them, instead of as they are on disk now.
pub fn load_stack_from_snapshot<T>(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    snapshot: std::collections::HashMap<std::path::PathBuf, String>,
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), LoadError> {
    load_with(
        path,
        vars,
        schemas,
        Sources::with_snapshot(snapshot),
        derive,
    )
}

fn load_with<T>(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    mut sources: Sources,
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), LoadError> {
    let chain = match load::load_chain(path, &mut sources) {
        Ok(chain) => chain,
        Err(diagnostics) => {
            return Err(LoadError {
                diagnostics,
                sources,
                secrets: Vec::new(),
            });
        }
    };
    let files = chain
        .documents
        .iter()
        .map(|(id, _)| sources.get(*id).display.clone())
        .collect();
    let mut diagnostics = Vec::new();
    let merged = merged(chain, &mut diagnostics);
    let secrets = sensitive_texts(&merged, vars);
    let (merged, modules) = module::expand(merged, path, vars, &mut sources, &mut diagnostics);
    // A broken module would only add confusing follow-ups to its own errors.
    if !modules.is_empty() && !diagnostics.is_empty() {
        return Err(LoadError {
            diagnostics,
            sources,
            secrets,
        });
    }
    match validate::validate(merged, files, vars, schemas, sources, diagnostics, derive) {
        Ok((mut stack, derived)) => {
            stack.modules = modules;
            Ok((stack, derived))
        }
        Err((diagnostics, sources)) => Err(LoadError {
            diagnostics,
            sources,
            secrets,
        }),
    }
}

/// The documents of an `extends` chain merged into one, the child's values winning.
fn merged(chain: load::Chain, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let mut documents = chain.documents.into_iter().map(|(_, node)| node);
    let root = documents.next().expect("a chain has at least one file");
    let root = merge::check_root(root, diagnostics);
    documents.fold(root, |parent, child| {
        merge::merge_documents(parent, child, diagnostics)
    })
}

/// Writes `files` into a fresh directory and loads the last one with `--var` pairs: the
/// stack, or the rendered errors.
#[cfg(test)]
pub(crate) fn load_test_files<T>(
    files: &[(&str, &str)],
    vars: &[(&str, &str)],
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "strata-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = dir.join(files.last().unwrap().0);
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let result =
        load_stack(&path, &vars, &crate::resources::SCHEMAS, derive).map_err(|e| e.render());
    let _ = std::fs::remove_dir_all(&dir);
    result
}
