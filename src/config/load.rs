//! Reading stack files: bytes -> UTF-8 text -> TOML with spans -> [`Node`] tree, and
//! following `extends` from a file to its parents.

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::node::{Entry, Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::{FileId, Sources, Span, display_path};

/// The files of an `extends` chain, the root ancestor first and the file asked for last.
pub struct Chain {
    pub documents: Vec<(FileId, Node)>,
}

/// Loads `path` and every file it extends. Errors name the file and, for a broken
/// `extends`, the line that referenced it.
pub fn load_chain(path: &Path, sources: &mut Sources) -> Result<Chain, Vec<Diagnostic>> {
    let mut documents = Vec::new();
    let mut next: Option<(PathBuf, Option<Span>)> = Some((path.to_path_buf(), None));
    // Canonical paths of the files seen so far, child first, to spell out a cycle.
    let mut seen: Vec<(PathBuf, Option<Span>)> = Vec::new();

    while let Some((path, referenced_at)) = next.take() {
        let canonical = match path.canonicalize() {
            Ok(p) => p,
            Err(err) => return Err(vec![missing_file(&path, referenced_at.as_ref(), &err)]),
        };
        if let Some(pos) = seen.iter().position(|(p, _)| *p == canonical) {
            return Err(vec![extends_cycle(
                &seen[pos..],
                &canonical,
                referenced_at,
                sources,
            )]);
        }
        seen.push((canonical.clone(), referenced_at.clone()));
        let (file, node) = load_file(&path, canonical, referenced_at.as_ref(), sources)?;

        if let Some(entry) = node.as_table().and_then(|t| t.get("extends")) {
            match &entry.node.value {
                NodeValue::Str(parent) => {
                    let base = path.parent().unwrap_or(Path::new("."));
                    next = Some((base.join(parent), Some(entry.node.span.clone())));
                }
                _ => {
                    return Err(vec![
                        Diagnostic::error("`extends` must be a path")
                            .at(
                                &entry.node.span,
                                format!("expected a string, found {}", entry.node.kind()),
                            )
                            .help("write `extends = \"parent.toml\"`, relative to this file"),
                    ]);
                }
            }
        }
        documents.push((file, node));
    }
    documents.reverse();
    Ok(Chain { documents })
}

fn missing_file(path: &Path, referenced_at: Option<&Span>, err: &std::io::Error) -> Diagnostic {
    let shown = display_path(path);
    match referenced_at {
        Some(span) => {
            Diagnostic::error(format!("cannot read extended stack file `{shown}`: {err}"))
                .at(span, "extended here")
                .help("`extends` paths are relative to the file that contains them")
        }
        None => Diagnostic::error(format!("cannot read stack file `{shown}`: {err}")),
    }
}

fn extends_cycle(
    cycle: &[(PathBuf, Option<Span>)],
    back_to: &Path,
    closing_edge: Option<Span>,
    sources: &Sources,
) -> Diagnostic {
    let mut names: Vec<String> = cycle.iter().map(|(p, _)| display_path(p)).collect();
    names.push(display_path(back_to));
    let mut d = Diagnostic::error(format!("`extends` forms a cycle: {}", names.join(" -> ")));
    if let Some(span) = closing_edge {
        d = d.at(&span, "this closes the cycle");
    }
    for (_, edge) in cycle.iter().skip(1) {
        if let Some(span) = edge {
            d = d.related(span, "extended here");
        }
    }
    let _ = sources;
    d.help("a stack may extend a parent, and that parent its own, but never back")
}

/// Reads and parses one file. All TOML errors in it are reported together.
fn load_file(
    path: &Path,
    canonical: PathBuf,
    referenced_at: Option<&Span>,
    sources: &mut Sources,
) -> Result<(FileId, Node), Vec<Diagnostic>> {
    let shown = display_path(path);
    let bytes = match sources.snapshot(&canonical) {
        Some(text) => text.as_bytes().to_vec(),
        None => std::fs::read(path).map_err(|err| vec![missing_file(path, referenced_at, &err)])?,
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(err.as_bytes()).into_owned();
            let file = sources.add(canonical, shown.clone(), lossy);
            return Err(vec![
                Diagnostic::error(format!("stack file `{shown}` is not valid UTF-8"))
                    .at(
                        &Span::new(file, offset..offset + '\u{FFFD}'.len_utf8()),
                        "invalid byte here",
                    )
                    .help("stack files are TOML, which must be UTF-8 encoded"),
            ]);
        }
    };
    let is_empty = text.trim().is_empty();
    let file = sources.add(canonical, shown.clone(), text);
    if is_empty {
        return Err(vec![
            Diagnostic::error(format!("stack file `{shown}` is empty"))
                .help("a stack needs at least `[stack]` with a `name`, and resources"),
        ]);
    }
    let text = &sources.get(file).text;
    let (table, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| {
                let message = e.message().trim().to_string();
                let range = e.span().unwrap_or(0..0);
                Diagnostic::error(format!("invalid TOML: {}", first_line(&message)))
                    .at(&Span::new(file, range), first_line(&message).to_string())
            })
            .collect());
    }
    if table.get_ref().is_empty() {
        return Err(vec![
            Diagnostic::error(format!(
                "stack file `{shown}` is empty (it has only comments)"
            ))
            .help("a stack needs at least `[stack]` with a `name`, and resources"),
        ]);
    }
    let mut diagnostics = Vec::new();
    let span = Span::new(file, table.span());
    let node = Node::new(
        NodeValue::Table(convert_table(table.get_ref(), file, &mut diagnostics)),
        span,
    );
    if diagnostics.is_empty() {
        Ok((file, node))
    } else {
        Err(diagnostics)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn convert_table(table: &DeTable<'_>, file: FileId, diagnostics: &mut Vec<Diagnostic>) -> Table {
    table
        .iter()
        .map(|(key, value)| {
            let entry = Entry {
                key_span: Span::new(file, key.span()),
                node: convert(value, file, diagnostics),
            };
            (key.get_ref().to_string(), entry)
        })
        .collect()
}

fn convert(value: &Spanned<DeValue<'_>>, file: FileId, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let span = Span::new(file, value.span());
    let v = match value.get_ref() {
        DeValue::String(s) => NodeValue::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let digits = digits
                .trim_start_matches("0x")
                .trim_start_matches("0o")
                .trim_start_matches("0b");
            match i64::from_str_radix(digits, i.radix()) {
                Ok(n) => NodeValue::Int(n),
                Err(_) => {
                    diagnostics.push(
                        Diagnostic::error("integer too large")
                            .at(&span, "does not fit in a signed 64-bit integer"),
                    );
                    NodeValue::Int(0)
                }
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            let n = match text.as_str() {
                "inf" | "+inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "+nan" | "-nan" => f64::NAN,
                t => t.parse().unwrap_or(f64::NAN),
            };
            NodeValue::Float(n)
        }
        DeValue::Boolean(b) => NodeValue::Bool(*b),
        DeValue::Datetime(d) => NodeValue::Datetime(d.to_string()),
        DeValue::Array(a) => {
            NodeValue::Array(a.iter().map(|v| convert(v, file, diagnostics)).collect())
        }
        DeValue::Table(t) => NodeValue::Table(convert_table(t, file, diagnostics)),
    };
    Node::new(v, span)
}
