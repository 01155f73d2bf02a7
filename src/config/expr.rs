//! `${...}` references inside strings: parsing them (with exact spans) and evaluating a
//! value tree against a scope that knows variables, the stack, AWS facts and resources.

use indexmap::IndexMap;

use super::node::{Node, NodeValue};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
use crate::value::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Resource { name: String, attribute: String },
    Var(String),
    Stack(String),
    Aws(String),
}

#[derive(Clone, Debug)]
pub struct Reference {
    pub target: Target,
    /// The `${...}` in the file.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Part {
    Literal(String),
    Ref(Reference),
}

/// Splits a string node into literal parts and references. `$${` is a literal `${`.
pub fn parse_template(node: &Node, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos..];
        if after.starts_with("$${") {
            literal.push_str(&rest[..pos]);
            literal.push_str("${");
            rest = &rest[pos + 3..];
            consumed += pos + 3;
            continue;
        }
        if !after.starts_with("${") {
            literal.push_str(&rest[..pos + 1]);
            rest = &rest[pos + 1..];
            consumed += pos + 1;
            continue;
        }
        literal.push_str(&rest[..pos]);
        let start = consumed + pos;
        let Some(close) = after.find('}') else {
            diagnostics.push(
                Diagnostic::error("unterminated reference")
                    .at(
                        &sub_span(node, text, start, text.len()),
                        "`${` is never closed",
                    )
                    .help("close it with `}`, or write `$${` for a literal `${`"),
            );
            return parts;
        };
        let inner = &after[2..close];
        let span = sub_span(node, text, start, start + close + 1);
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        match parse_target(inner.trim()) {
            Ok(target) => parts.push(Part::Ref(Reference { target, span })),
            Err(why) => diagnostics.push(
                Diagnostic::error(format!("invalid reference `${{{inner}}}`"))
                    .at(&span, why)
                    .help("references look like `${resource.attribute}`, `${var.name}`, `${stack.name}`, `${aws.account_id}` or `${aws.region}`"),
            ),
        }
        rest = &after[close + 1..];
        consumed = start + close + 1;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    parts
}

fn parse_target(inner: &str) -> Result<Target, &'static str> {
    if inner.is_empty() {
        return Err("empty reference");
    }
    let segments: Vec<&str> = inner.split('.').collect();
    if segments.iter().any(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err("expected dot-separated names");
    }
    let [head, attribute] = segments[..] else {
        return Err("expected exactly two names, like `queue.arn`");
    };
    let attribute = attribute.to_string();
    Ok(match head {
        "var" => Target::Var(attribute),
        "stack" => Target::Stack(attribute),
        "aws" => Target::Aws(attribute),
        name => Target::Resource {
            name: name.to_string(),
            attribute,
        },
    })
}

/// The span of `text[start..end]` inside a string node. Exact when the string is written
/// without escapes (the common case); otherwise the whole string.
fn sub_span(node: &Node, text: &str, start: usize, end: usize) -> Span {
    let r = &node.span.range;
    // A basic or literal string: one quote character, the text, one quote.
    if r.end >= r.start + 2 && r.end - r.start - 2 == text.len() {
        return Span::new(node.span.file, r.start + 1 + start..r.start + 1 + end);
    }
    node.span.clone()
}

/// Every reference in a value tree, in order.
pub fn references(node: &Node, diagnostics: &mut Vec<Diagnostic>) -> Vec<Reference> {
    let mut out = Vec::new();
    collect(node, diagnostics, &mut out);
    out
}

fn collect(node: &Node, diagnostics: &mut Vec<Diagnostic>, out: &mut Vec<Reference>) {
    match &node.value {
        NodeValue::Str(s) => {
            for part in parse_template(node, s, diagnostics) {
                if let Part::Ref(r) = part {
                    out.push(r);
                }
            }
        }
        NodeValue::Array(items) => items.iter().for_each(|n| collect(n, diagnostics, out)),
        NodeValue::Table(t) => t.values().for_each(|e| collect(&e.node, diagnostics, out)),
        _ => {}
    }
}

/// What references resolve to. Unknown values (not yet created) come back as
/// [`Value::Unknown`].
pub trait Scope {
    fn lookup(&self, target: &Target) -> Value;
}

/// Evaluates a value tree. A string that is exactly one reference takes the referenced
/// value's type; references inside longer strings are interpolated as text.
pub fn evaluate(node: &Node, scope: &dyn Scope) -> Value {
    match &node.value {
        NodeValue::Str(s) => evaluate_string(node, s, scope),
        NodeValue::Int(i) => Value::Int(*i),
        NodeValue::Float(f) => Value::Float(*f),
        NodeValue::Bool(b) => Value::Bool(*b),
        NodeValue::Datetime(d) => Value::Str(d.clone()),
        NodeValue::Array(items) => Value::List(items.iter().map(|n| evaluate(n, scope)).collect()),
        NodeValue::Table(t) => Value::Map(
            t.iter()
                .map(|(k, e)| (k.clone(), evaluate(&e.node, scope)))
                .collect::<IndexMap<_, _>>(),
        ),
    }
}

fn evaluate_string(node: &Node, text: &str, scope: &dyn Scope) -> Value {
    let parts = parse_template(node, text, &mut Vec::new());
    if let [Part::Ref(r)] = &parts[..] {
        return scope.lookup(&r.target);
    }
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Literal(l) => out.push_str(&l),
            Part::Ref(r) => match scope.lookup(&r.target) {
                Value::Str(s) => out.push_str(&s),
                Value::Int(i) => out.push_str(&i.to_string()),
                Value::Bool(b) => out.push_str(&b.to_string()),
                Value::Float(f) => out.push_str(&f.to_string()),
                _ => return Value::Unknown,
            },
        }
    }
    Value::Str(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::source::FileId;

    fn string_node(text: &str) -> Node {
        // As if written `key = "<text>"` at offset 6.
        Node::new(
            NodeValue::Str(text.into()),
            Span::new(FileId(0), 6..6 + text.len() + 2),
        )
    }

    struct Fixed;
    impl Scope for Fixed {
        fn lookup(&self, target: &Target) -> Value {
            match target {
                Target::Stack(_) => Value::Str("pc".into()),
                Target::Var(_) => Value::Str("dev".into()),
                Target::Resource { attribute, .. } if attribute == "port" => Value::Int(80),
                _ => Value::Unknown,
            }
        }
    }

    #[test]
    fn parses_embedded_references_with_exact_spans() {
        let node = string_node("${stack.name}-${var.stage}-content");
        let mut diags = Vec::new();
        let refs = references(&node, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].target, Target::Stack("name".into()));
        assert_eq!(refs[0].span.range, 7..20);
        assert_eq!(refs[1].target, Target::Var("stage".into()));
        assert_eq!(refs[1].span.range, 21..33);
    }

    #[test]
    fn evaluates_interpolation_whole_references_and_unknowns() {
        let scope = Fixed;
        assert_eq!(
            evaluate(&string_node("${stack.name}-${var.stage}"), &scope),
            Value::Str("pc-dev".into())
        );
        assert_eq!(
            evaluate(&string_node("${api.port}"), &scope),
            Value::Int(80)
        );
        assert_eq!(
            evaluate(&string_node("${queue.arn}/x"), &scope),
            Value::Unknown
        );
        assert_eq!(
            evaluate(&string_node("a$${b}"), &scope),
            Value::Str("a${b}".into())
        );
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in ["${}", "${a.b.c}", "${a}", "x ${a.b", "${a b.c}"] {
            let mut diags = Vec::new();
            references(&string_node(bad), &mut diags);
            assert_eq!(diags.len(), 1, "{bad}");
        }
    }
}
