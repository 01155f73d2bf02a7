//! Diagnostics: what went wrong, where (file:line:col with the offending line), and a hint.
//! Loading and validation collect them instead of stopping at the first. Ground level: the
//! stack language and the dependency graph report through them, and they import nothing
//! of the rest of strata.

pub mod source;

use std::fmt::Write as _;

use source::{Sources, Span};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    /// Text under the marker, e.g. "expected an integer".
    pub label: String,
    /// Other places that matter (the other half of a conflict, each edge of a cycle).
    pub related: Vec<(Span, String)>,
    /// Lines starting with `help:` or `note:`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span: None,
            label: String::new(),
            related: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, span: &Span, label: impl Into<String>) -> Self {
        self.span = Some(span.clone());
        self.label = label.into();
        self
    }

    pub fn related(mut self, span: &Span, label: impl Into<String>) -> Self {
        self.related.push((span.clone(), label.into()));
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.notes.push(format!("help: {}", text.into()));
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(format!("note: {}", text.into()));
        self
    }

    /// Adds "did you mean `x`?" when a candidate is close enough to `wrong`.
    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match nearest(wrong, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// Renders rustc-style: the message, `--> file:line:col`, the line with a marker, notes.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = format!("error: {}\n", self.message);
        if let Some(span) = &self.span {
            write_snippet(&mut out, sources, span, &self.label, "-->");
        }
        for (span, label) in &self.related {
            write_snippet(&mut out, sources, span, label, ":::");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  = {note}");
        }
        out
    }
}

fn write_snippet(out: &mut String, sources: &Sources, span: &Span, label: &str, arrow: &str) {
    let file = sources.get(span.file);
    let (line, col) = sources.line_col(span.file, span.range.start);
    let line_text = file.text.lines().nth(line - 1).unwrap_or("");
    let width = line.to_string().len();
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad}{arrow} {}:{line}:{col}", file.display);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {line_text}");
    // The marker covers the span on its first line, at least one character.
    let start_char = col - 1;
    let span_text = file
        .text
        .get(span.range.clone())
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("");
    let len = span_text.chars().count().max(1);
    let len = len.min(line_text.chars().count().saturating_sub(start_char).max(1));
    let marker = format!("{}{}", " ".repeat(start_char), "^".repeat(len));
    if label.is_empty() {
        let _ = writeln!(out, "{pad} | {marker}");
    } else {
        let _ = writeln!(out, "{pad} | {marker} {label}");
    }
}

/// Renders all diagnostics and a closing count.
pub fn render_all(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let mut out = render_each(diagnostics, sources);
    let n = diagnostics.len();
    let _ = writeln!(
        out,
        "error: could not load the stack due to {n} previous error{}",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// Renders each diagnostic, in the order of the files and positions they point at.
pub fn render_each(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let mut out = String::new();
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| d.span.as_ref().map(|s| (s.file.0, s.range.start)));
    for d in sorted {
        out.push_str(&d.render(sources));
        out.push('\n');
    }
    out
}

/// The candidate nearest to `wrong` by edit distance, if it is plausibly a typo of it.
pub fn nearest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = wrong.chars().count();
    let limit = match len {
        0..=3 => 1,
        4..=8 => 2,
        _ => len / 3,
    };
    candidates
        .into_iter()
        .map(|c| (levenshtein(wrong, c), c))
        .filter(|(d, c)| {
            (*d <= limit && *d < len)
                || (len >= 3 && (c.starts_with(wrong) || wrong.starts_with(*c)))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_and_ignores_strangers() {
        let names = ["visibility_timeout_seconds", "delay_seconds", "name"];
        assert_eq!(
            nearest("visiblity_timeout_seconds", names),
            Some("visibility_timeout_seconds")
        );
        assert_eq!(nearest("nmae", names), Some("name"));
        assert_eq!(nearest("completely_different", names), None);
    }
}
