//! The stack language: loading files with spans, following `extends`, merging, `${...}`
//! references, variables and validation against the resource schemas. Nothing here talks
//! to AWS.

pub mod check;
mod check_policy;
pub mod explain;
pub mod expr;
pub mod load;
pub mod merge;
pub mod model;
pub mod node;
pub mod validate;

use std::path::Path;

pub use model::Stack;

use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Sources;
use crate::schema::Schema;

/// A stack that failed to load: every diagnostic, and the sources they point into.
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

impl LoadError {
    pub fn render(&self) -> String {
        crate::diagnostics::render_all(&self.diagnostics, &self.sources)
    }
}

/// Loads, merges and validates the stack in `path` with `--var` overrides, against the
/// resource types in `schemas` (the caller's registry, e.g. `resources::SCHEMAS`).
pub fn load_stack(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
) -> Result<Stack, LoadError> {
    load_with(path, vars, schemas, Sources::default())
}

/// Loads the stack as `snapshot` holds its files (canonical path -> text), as a saved plan
/// recorded them, instead of as they are on disk now.
pub fn load_stack_from_snapshot(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    snapshot: std::collections::HashMap<std::path::PathBuf, String>,
) -> Result<Stack, LoadError> {
    load_with(path, vars, schemas, Sources::with_snapshot(snapshot))
}

fn load_with(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    mut sources: Sources,
) -> Result<Stack, LoadError> {
    let chain = match load::load_chain(path, &mut sources) {
        Ok(chain) => chain,
        Err(diagnostics) => {
            return Err(LoadError {
                diagnostics,
                sources,
            });
        }
    };
    let files = chain
        .documents
        .iter()
        .map(|(id, _)| sources.get(*id).display.clone())
        .collect();
    let mut diagnostics = Vec::new();
    let mut documents = chain.documents.into_iter().map(|(_, node)| node);
    let root = documents.next().expect("a chain has at least one file");
    let root = merge::check_root(root, &mut diagnostics);
    let merged = documents.fold(root, |parent, child| {
        merge::merge_documents(parent, child, &mut diagnostics)
    });
    match validate::validate(merged, files, vars, schemas, sources, diagnostics) {
        Ok(stack) => Ok(stack),
        Err((diagnostics, sources)) => Err(LoadError {
            diagnostics,
            sources,
        }),
    }
}
