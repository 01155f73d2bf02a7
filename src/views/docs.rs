//! The resource-type reference, written from the schemas: one Markdown page per type and an
//! index. `strata docs --out DIR` writes them; docs/resources/ holds the pages as checked
//! in, and a test fails when they differ from what the schemas say, so the reference
//! cannot drift from what `validate` checks.

use std::fmt::Write as _;

use crate::schema::{Attribute, Default, PolicyRules, Schema, Size, Text, Type};

/// Every page of the reference: (file name, contents), the index first.
pub fn pages(schemas: &[&Schema]) -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), index(schemas))];
    out.extend(
        schemas
            .iter()
            .map(|s| (format!("{}.md", s.type_name), page(s))),
    );
    out
}

/// The list of types, each linked to its page.
pub fn index(schemas: &[&Schema]) -> String {
    let mut out = String::from(
        "# Resource types\n\n\
         <!-- Written by `strata docs --out docs/resources` from the schemas; do not edit. -->\n\n\
         How to read a type's page:\n\n\
         - *required*: the stack must set the attribute.\n\
         - *default*: the value an omitted attribute has; strata sets it back when it \
         drifts, except for the attributes listed under *Kept when left out*, which an \
         existing object keeps (only a new object gets the default).\n\
         - *replaces*: a change cannot be made in place: the object is deleted and created \
         again, and the plan says which attribute forces it.\n\
         - *type and rules*: what AWS accepts (lengths count characters); `strata validate` \
         checks them before any AWS call.\n\
         - *Computed*: attributes only AWS knows, for references (`${name.arn}`).\n\
         - *Import id*: what `strata import FILE RESOURCE ID` takes.\n\n\
         | type | what it is | import id |\n|---|---|---|\n",
    );
    for s in schemas {
        let _ = writeln!(
            out,
            "| [`{t}`]({t}.md) | {} | {} |",
            s.description,
            s.import_id,
            t = s.type_name
        );
    }
    out
}

/// One type's page: its attributes and their rules, what is computed, what is kept when
/// left out, and the type's own notes.
pub fn page(schema: &Schema) -> String {
    let mut out = format!(
        "# {} — {}\n\n<!-- Written by `strata docs --out docs/resources` from the schema; do not edit. -->\n\n\
         Import id: {}.\n\n",
        schema.type_name, schema.description, schema.import_id
    );
    attribute_table(&mut out, schema.attributes);
    let list = |names: &mut dyn Iterator<Item = &str>| {
        names
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if schema.computed.is_empty() {
        out.push_str("\nComputed: none.\n");
    } else {
        let _ = writeln!(
            out,
            "\nComputed: {}.",
            list(&mut schema.computed.iter().copied())
        );
    }
    let kept: Vec<&str> = schema
        .attributes
        .iter()
        .filter(|a| a.keep_live)
        .map(|a| a.name)
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            out,
            "\nKept when left out: {}.",
            list(&mut kept.into_iter())
        );
    }
    if !schema.notes.is_empty() {
        let _ = write!(out, "\n{}\n", schema.notes.trim());
    }
    out
}

fn attribute_table(out: &mut String, attributes: &[Attribute]) {
    out.push_str(
        "| attribute | type and rules | required | default | replaces |\n|---|---|---|---|---|\n",
    );
    for a in attributes {
        let mut rules = describe(&a.ty);
        if a.local {
            rules.push_str("; strata's own setting, never sent to AWS");
        }
        if a.sensitive {
            rules.push_str("; sensitive: never shown, and state keeps only a salted hash");
        }
        if !a.doc.is_empty() {
            let _ = write!(rules, ". {}", a.doc);
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            a.name,
            rules.replace('|', "\\|"),
            if a.required { "yes" } else { "" },
            a.default.map(default_text).unwrap_or_default(),
            if a.force_new { "yes" } else { "" },
        );
    }
}

fn default_text(d: Default) -> String {
    match d {
        Default::Bool(b) => format!("`{b}`"),
        Default::Int(i) => format!("`{i}`"),
        Default::Str(s) => format!("`{s}`"),
    }
}

/// A type and its rules, in words.
pub fn describe(ty: &Type) -> String {
    match ty {
        Type::String(text) => format!("string{}", text_rules(text)),
        Type::Int { min, max } => format!("integer {}–{}", number(*min), number(*max)),
        Type::Float { min, max } if *min == f64::MIN && *max == f64::MAX => {
            "number (integer or decimal)".into()
        }
        Type::Float { min, max } => format!("number {min}–{max}"),
        Type::Bool => "boolean".into(),
        Type::Enum(values) => one_of(values),
        Type::List {
            item,
            min,
            max,
            unique,
        } => {
            let mut counts = Vec::new();
            if *min > 0 {
                counts.push(format!("at least {min}"));
            }
            if *max < usize::MAX {
                counts.push(format!("at most {}", number(*max as i64)));
            }
            let counts = if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            };
            let unique = if *unique { ", each once" } else { "" };
            format!("array{counts}{unique} of {}", describe(item))
        }
        Type::Object(fields) => {
            let fields: Vec<String> = fields.iter().map(field).collect();
            format!("table: {}", fields.join("; "))
        }
        Type::Map(map) => {
            let max = if map.max < usize::MAX {
                format!(" (at most {})", number(map.max as i64))
            } else {
                String::new()
            };
            let keys = match text_rules(&map.keys).strip_prefix(": ") {
                Some(rules) => format!("keys ({rules})"),
                None => "keys".to_string(),
            };
            format!("table{max} of {keys} to {}", describe(map.values))
        }
        Type::Policy(rules) => policy(rules),
        Type::TrustPolicy(rules) => format!(
            "trust policy: `{{ service = \"lambda.amazonaws.com\" }}` (one service principal \
             or a list) or a full document, {}",
            policy(rules)
        ),
        Type::Directory => "directory, relative to the stack file that names it".into(),
        Type::Any => "any value".into(),
    }
}

/// A field of a table, with its rules: `` `id` (string ..., required) ``.
fn field(a: &Attribute) -> String {
    let mut parts = vec![describe(&a.ty)];
    if a.required {
        parts.push("required".into());
    }
    if let Some(d) = a.default {
        parts.push(format!("default {}", default_text(d)));
    }
    if !a.doc.is_empty() {
        parts.push(a.doc.to_string());
    }
    format!("`{}` ({})", a.name, parts.join(", "))
}

fn text_rules(text: &Text) -> String {
    let mut rules = Vec::new();
    match (text.min, text.max) {
        (0, usize::MAX) => {}
        (0, max) => rules.push(format!("up to {} characters", number(max as i64))),
        (min, usize::MAX) => rules.push(format!("at least {min} characters")),
        (min, max) if min == max => rules.push(format!("exactly {min} characters")),
        (min, max) => rules.push(format!("{min}–{} characters", number(max as i64))),
    }
    if !text.expected.is_empty() {
        rules.push(text.expected.to_string());
    }
    if rules.is_empty() {
        String::new()
    } else {
        format!(": {}", rules.join(", "))
    }
}

fn policy(rules: &PolicyRules) -> String {
    let size = match rules.max_size {
        Size::Bytes(n) => format!("{} bytes", number(n as i64)),
        Size::Characters(n) => format!("{} characters, white space not counted", number(n as i64)),
    };
    format!("policy document, as {} (at most {size})", rules.kind)
}

fn one_of(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1,209,600`: thousands separated, as the rest of the documentation writes numbers.
fn number(n: i64) -> String {
    if n == i64::MAX {
        return "any".into();
    }
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in reference (docs/resources/) is exactly what the schemas say. After
    /// changing a schema, write it again with `cargo run -- docs --out docs/resources`.
    #[test]
    fn the_checked_in_reference_is_what_the_schemas_say() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/resources");
        let pages = pages(&crate::resources::SCHEMAS);
        let mut stale = Vec::new();
        for (name, text) in &pages {
            let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            if &on_disk != text {
                stale.push(name.clone());
            }
        }
        let mut extra: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !pages.iter().any(|(p, _)| p == n))
                    .collect()
            })
            .unwrap_or_default();
        extra.sort();
        assert!(
            stale.is_empty() && extra.is_empty(),
            "docs/resources differs from the schemas: stale or missing {stale:?}, \
             no longer a type {extra:?}; run `cargo run -- docs --out docs/resources`"
        );
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(0), "0");
        assert_eq!(number(900), "900");
        assert_eq!(number(1024), "1,024");
        assert_eq!(number(1_209_600), "1,209,600");
        assert_eq!(number(-43_200), "-43,200");
    }

    #[test]
    fn a_type_is_described_with_its_rules() {
        let list = Type::List {
            item: &Type::Enum(&["a", "b"]),
            min: 1,
            max: 5,
            unique: true,
        };
        assert_eq!(
            describe(&list),
            "array (at least 1, at most 5), each once of `a`, `b`"
        );
        let text = Type::String(Text::len(1, 80).pattern("^x$", "letters"));
        assert_eq!(describe(&text), "string: 1–80 characters, letters");
    }
}
