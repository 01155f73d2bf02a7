//! The stack language: loading files with spans, following `extends`, merging, `${...}`
//! references, variables and validation against the resource schemas. Nothing here talks
//! to AWS.

pub mod diagnostic;
pub mod explain;
pub mod expr;
pub mod load;
pub mod merge;
pub mod model;
pub mod node;
pub mod source;
pub mod validate;

use std::path::Path;

pub use diagnostic::Diagnostic;
pub use model::Stack;
pub use source::Sources;

/// A stack that failed to load: every diagnostic, and the sources they point into.
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

impl LoadError {
    pub fn render(&self) -> String {
        diagnostic::render_all(&self.diagnostics, &self.sources)
    }
}

/// Loads, merges and validates the stack in `path` with `--var` overrides.
pub fn load_stack(path: &Path, vars: &[(String, String)]) -> Result<Stack, LoadError> {
    load_with(path, vars, Sources::default())
}

/// Loads the stack as `snapshot` holds its files (canonical path -> text), as a saved plan
/// recorded them, instead of as they are on disk now.
pub fn load_stack_from_snapshot(
    path: &Path,
    vars: &[(String, String)],
    snapshot: std::collections::HashMap<std::path::PathBuf, String>,
) -> Result<Stack, LoadError> {
    load_with(path, vars, Sources::with_snapshot(snapshot))
}

fn load_with(
    path: &Path,
    vars: &[(String, String)],
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
    match validate::validate(merged, files, vars, sources, diagnostics) {
        Ok(stack) => Ok(stack),
        Err((diagnostics, sources)) => Err(LoadError {
            diagnostics,
            sources,
        }),
    }
}
