//! `${...}` references inside strings: parsing them (with exact spans) and evaluating a
//! value tree against a scope that knows variables, the stack, AWS facts and resources.

use indexmap::IndexMap;

use super::node::{Node, NodeValue};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
use crate::value::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Resource {
        name: String,
        attribute: String,
    },
    /// `${data.NAME.ATTRIBUTE}`: an attribute a data source read at plan time; for a
    /// `strata.stack` source the attribute is `outputs.OUTPUT`.
    Data {
        name: String,
        attribute: String,
    },
    Var(String),
    Stack(String),
    Aws(String),
    /// `${each.key}` / `${each.value}`: only inside a resource with `for_each`, where it is
    /// replaced by the instance's key or value before anything else sees the resource.
    Each(String),
}

impl std::fmt::Display for Target {
    /// The reference as written inside `${...}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Resource { name, attribute } => write!(f, "{name}.{attribute}"),
            Target::Data { name, attribute } => {
                let (module, local) = super::address::split_module(name);
                write!(f, "{module}data.{local}.{attribute}")
            }
            Target::Var(a) => write!(f, "var.{a}"),
            Target::Stack(a) => write!(f, "stack.{a}"),
            Target::Aws(a) => write!(f, "aws.{a}"),
            Target::Each(a) => write!(f, "each.{a}"),
        }
    }
}

/// The name of one instance of a `for_each` resource: `queue["orders"]`. Stable, and a
/// valid JSON object key, so state and plans use it as the resource's name.
pub fn instance_name(resource: &str, key: &str) -> String {
    format!("{resource}[\"{key}\"]")
}

/// `queue["orders"]` -> (`queue`, Some(`orders`)); `queue` -> (`queue`, None). The last
/// key is the instance's: `module.tenant["a"].queue["orders"]` is an instance of
/// `module.tenant["a"].queue` (a key never contains `"`).
pub fn split_instance(name: &str) -> (&str, Option<&str>) {
    match name.rfind("[\"") {
        Some(open) if name.ends_with("\"]") && name.len() >= open + 4 => {
            (&name[..open], Some(&name[open + 2..name.len() - 2]))
        }
        _ => (name, None),
    }
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
        let Some(close) = closing_brace(after) else {
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
        let each = ["each.key", "each.value"]
            .into_iter()
            .find(|e| inner.contains(&format!("[{e}]")));
        match parse_target(inner.trim()) {
            Ok(target) => parts.push(Part::Ref(Reference { target, span })),
            // Inside a `for_each` resource `[each.key]` was replaced before parsing.
            Err(_) if each.is_some() => {
                let each = each.unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error(format!("`[{each}]` outside a `for_each` resource"))
                        .at(&span, "there is no `each` here")
                        .help(format!(
                            "`{each}` is available only inside a resource with `for_each`; elsewhere, name the instance: `${{{}}}`",
                            inner.trim().replace(&format!("[{each}]"), "[\"KEY\"]")
                        )),
                )
            }
            Err(why) => diagnostics.push(
                Diagnostic::error(format!("invalid reference `${{{inner}}}`"))
                    .at(&span, why)
                    .help("references look like `${resource.attribute}`, `${data.name.attribute}`, `${var.name}`, `${stack.name}`, `${aws.account_id}` or `${aws.region}`"),
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

/// The `${...}` in `text` as written, unparsed: where each is (its `${` to its `}`) and
/// what is inside. `$${` (a literal `${`) is skipped; an unterminated `${` ends the list
/// (parsing reports it).
pub fn reference_texts(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(pos) = text[at..].find('$') {
        let start = at + pos;
        let after = &text[start..];
        if after.starts_with("$${") {
            at = start + 3;
        } else if after.starts_with("${") {
            let Some(close) = closing_brace(after) else {
                break;
            };
            out.push((start..start + close + 1, &after[2..close]));
            at = start + close + 1;
        } else {
            at = start + 1;
        }
    }
    out
}

/// Where the `}` closing a `${` is: the first one outside a quoted instance key.
fn closing_brace(after: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in after.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_target(inner: &str) -> Result<Target, &'static str> {
    if inner.is_empty() {
        return Err("empty reference");
    }
    // `module.tenant["a"].queue.arn`: a resource of a module instance.
    let (module, rest) = inner.split_at(super::address::module_path_len(inner));
    if !module.is_empty() {
        return match parse_target(rest)? {
            Target::Resource { name, attribute } => Ok(Target::Resource {
                name: format!("{module}{name}"),
                attribute,
            }),
            Target::Data { name, attribute } => Ok(Target::Data {
                name: format!("{module}{name}"),
                attribute,
            }),
            _ => Err("expected `module.NAME.OUTPUT` or `module.NAME.resource.attribute`"),
        };
    }
    // `data.NAME.ATTRIBUTE`, and `data.NAME.outputs.OUTPUT` for another stack's outputs.
    if let Some(rest) = inner.strip_prefix("data.") {
        let segments: Vec<&str> = rest.split('.').collect();
        if segments.iter().any(|s| !valid_segment(s)) {
            return Err("expected `data.NAME.ATTRIBUTE`");
        }
        return match segments[..] {
            [name, attribute] => Ok(Target::Data {
                name: name.to_string(),
                attribute: attribute.to_string(),
            }),
            [name, "outputs", output] => Ok(Target::Data {
                name: name.to_string(),
                attribute: format!("outputs.{output}"),
            }),
            _ => Err("expected `data.NAME.ATTRIBUTE` or `data.NAME.outputs.OUTPUT`"),
        };
    }
    // `name["key"].attribute`: one instance of a `for_each` resource.
    if let Some(open) = inner.find("[\"") {
        let head = &inner[..open];
        let rest = &inner[open + 2..];
        let Some(close) = rest.find("\"]") else {
            return Err("expected `name[\"key\"].attribute`");
        };
        let key = &rest[..close];
        let Some(attribute) = rest[close + 2..].strip_prefix('.') else {
            return Err("expected `.attribute` after the instance key");
        };
        if !valid_segment(head) || !valid_segment(attribute) || !valid_key(key) {
            return Err("expected `name[\"key\"].attribute`");
        }
        return Ok(Target::Resource {
            name: instance_name(head, key),
            attribute: attribute.to_string(),
        });
    }
    let segments: Vec<&str> = inner.split('.').collect();
    if segments.iter().any(|s| !valid_segment(s)) {
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
        "each" => Target::Each(attribute),
        name => Target::Resource {
            name: name.to_string(),
            attribute,
        },
    })
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether a `for_each` key can name an instance: not empty, and nothing that would end
/// the quoted key or start a reference.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '"' | '\\' | '$' | '{' | '}') || c.is_control())
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

/// A copy of a value tree with `${each.key}` and `${each.value}` replaced by an instance's
/// key and value. Other references stay as written; `${each.<other>}` stays, to be reported.
/// A string that is exactly `${each.value}` takes the value's type (a number in a
/// `for_each` table stays a number).
pub fn substitute_each(node: &Node, key: &str, value: &Value) -> Node {
    let mut out = node.clone();
    let value_text = match value {
        Value::Int(i) => i.to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    out.value = match &node.value {
        NodeValue::Str(text) => {
            // `${queue[each.key].arn}`: the instance of another `for_each` resource with
            // the same key.
            let text = &text
                .replace("[each.key]", &format!("[\"{key}\"]"))
                .replace("[each.value]", &format!("[\"{value_text}\"]"));
            let parts = parse_template(node, text, &mut Vec::new());
            if let [Part::Ref(r)] = &parts[..]
                && r.target == Target::Each("value".into())
                && let Value::Int(i) = value
            {
                out.value = NodeValue::Int(*i);
                return out;
            }
            let value = value_text.as_str();
            let uses_each = parts
                .iter()
                .any(|p| matches!(p, Part::Ref(r) if matches!(r.target, Target::Each(_))));
            if !uses_each {
                out.value = NodeValue::Str(text.clone());
                return out;
            }
            let escape = |s: &str| s.replace("${", "$${");
            let mut text = String::new();
            for part in parts {
                match part {
                    Part::Literal(l) => text.push_str(&escape(&l)),
                    Part::Ref(r) => match &r.target {
                        Target::Each(a) if a == "key" => text.push_str(&escape(key)),
                        Target::Each(a) if a == "value" => text.push_str(&escape(value)),
                        target => text.push_str(&format!("${{{target}}}")),
                    },
                }
            }
            out.from_each = true;
            NodeValue::Str(text)
        }
        NodeValue::Array(items) => NodeValue::Array(
            items
                .iter()
                .map(|n| substitute_each(n, key, value))
                .collect(),
        ),
        NodeValue::Table(t) => NodeValue::Table(
            t.iter()
                .map(|(k, e)| {
                    let mut e = e.clone();
                    e.node = substitute_each(&e.node, key, value);
                    (k.clone(), e)
                })
                .collect(),
        ),
        _ => return out,
    };
    out
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

    /// What a value that is not known yet will look like (a queue's `url` is
    /// `https://sqs...`, its `arn` is `arn:...:sqs:...`), when the resource type says.
    fn example(&self, _target: &Target) -> Option<&'static str> {
        None
    }
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
    fn parses_instance_references() {
        let node = string_node("arn=${queue[\"orders.eu\"].arn}!");
        let mut diags = Vec::new();
        let refs = references(&node, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            refs[0].target,
            Target::Resource {
                name: "queue[\"orders.eu\"]".into(),
                attribute: "arn".into()
            }
        );
        assert_eq!(
            split_instance("queue[\"orders.eu\"]"),
            ("queue", Some("orders.eu"))
        );
        assert_eq!(split_instance("queue"), ("queue", None));
    }

    #[test]
    fn substitutes_each_and_keeps_other_references() {
        let node = string_node("${stack.name}-${each.key}-${each.value}-$${x}");
        let out = substitute_each(&node, "orders", &Value::Str("60".into()));
        assert_eq!(out.as_str(), Some("${stack.name}-orders-60-$${x}"),);
        assert_eq!(
            evaluate(&out, &Fixed),
            Value::Str("pc-orders-60-${x}".into())
        );
        let paired = substitute_each(&string_node("${dlq[each.key].arn}"), "orders", &Value::Null);
        assert_eq!(paired.as_str(), Some("${dlq[\"orders\"].arn}"));
        let whole = substitute_each(&string_node("${each.value}"), "orders", &Value::Int(60));
        assert!(matches!(whole.value, NodeValue::Int(60)));
    }

    #[test]
    fn parses_data_references_with_module_paths_and_outputs() {
        let target = |text: &str| {
            let mut diags = Vec::new();
            let refs = references(&string_node(text), &mut diags);
            assert!(diags.is_empty(), "{text}: {diags:?}");
            refs[0].target.clone()
        };
        let data = |name: &str, attribute: &str| Target::Data {
            name: name.into(),
            attribute: attribute.into(),
        };
        assert_eq!(target("${data.me.account_id}"), data("me", "account_id"));
        assert_eq!(
            target("${data.network.outputs.vpc_id}"),
            data("network", "outputs.vpc_id")
        );
        let nested = target("${module.t[\"a\"].data.me.arn}");
        assert_eq!(nested, data("module.t[\"a\"].me", "arn"));
        assert_eq!(nested.to_string(), "module.t[\"a\"].data.me.arn");
        for bad in ["${data.me}", "${data.me.a.b}", "${data.n.outputs.a.b}"] {
            let mut diags = Vec::new();
            references(&string_node(bad), &mut diags);
            assert_eq!(diags.len(), 1, "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "${}",
            "${a.b.c}",
            "${a}",
            "x ${a.b",
            "${a b.c}",
            "${q[\"k\"]}",
            "${q[\"k\"].a.b}",
            "${q[\"\"].arn}",
        ] {
            let mut diags = Vec::new();
            references(&string_node(bad), &mut diags);
            assert_eq!(diags.len(), 1, "{bad}");
        }
    }
}
