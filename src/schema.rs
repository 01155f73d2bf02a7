//! Resource schemas: the attributes each resource type takes, their types, AWS's ranges
//! and defaults, and which ones force a replacement. Pure data plus a checker; the stack
//! validator and the resource implementations read the same tables.

use crate::config::diagnostic::Diagnostic;
use crate::config::expr::{Part, Scope, parse_template};
use crate::config::node::{Node, NodeValue};
use crate::value::Value;

pub struct Schema {
    pub type_name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
    /// Attributes that only AWS knows (ARNs, URLs), available to references.
    pub computed: &'static [&'static str],
}

pub struct Attribute {
    pub name: &'static str,
    pub ty: Type,
    pub required: bool,
    /// A change cannot be made in place: the resource is replaced.
    pub force_new: bool,
    /// AWS's value when the attribute is omitted; plans compare against it.
    pub default: Option<Default>,
    /// strata's own setting, never sent to AWS (e.g. `force_destroy`).
    pub local: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Default {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl Default {
    pub fn value(self) -> Value {
        match self {
            Default::Bool(b) => Value::Bool(b),
            Default::Int(i) => Value::Int(i),
            Default::Str(s) => Value::Str(s.to_string()),
        }
    }
}

pub type Check = fn(&str) -> Result<(), String>;

pub enum Type {
    String(Option<Check>),
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Enum(&'static [&'static str]),
    List {
        item: &'static Type,
        min: usize,
    },
    Object(&'static [Attribute]),
    /// A table of string keys to values of one type (tags, environment).
    Map(&'static Type),
    /// An IAM policy document written as a TOML table, compared as normalised JSON.
    Policy,
    /// An IAM trust policy: a full document, or `{ service = "x.amazonaws.com" }`.
    TrustPolicy,
    /// A directory, relative to the stack file that names it.
    Directory,
}

/// Shorthand constructors keep the schema tables short and readable.
pub const fn attr(name: &'static str, ty: Type) -> Attribute {
    Attribute {
        name,
        ty,
        required: false,
        force_new: false,
        default: None,
        local: false,
    }
}

impl Attribute {
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    pub const fn default(mut self, d: Default) -> Self {
        self.default = Some(d);
        self
    }
    pub const fn local(mut self) -> Self {
        self.local = true;
        self
    }
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every name a reference `${resource.NAME}` may use.
    pub fn referable(&self) -> impl Iterator<Item = &str> {
        self.attributes
            .iter()
            .map(|a| a.name)
            .chain(self.computed.iter().copied())
    }
}

impl Type {
    pub fn describe(&self) -> String {
        match self {
            Type::String(_) => "a string".into(),
            Type::Int { min, max } => format!("an integer from {min} to {max}"),
            Type::Bool => "a boolean".into(),
            Type::Enum(values) => format!("one of {}", quoted_list(values)),
            Type::List { item, .. } => format!("an array of {}", strip_article(&item.describe())),
            Type::Object(_) => "a table".into(),
            Type::Map(item) => format!("a table of {}", strip_article(&item.describe())),
            Type::Policy => "a policy document table (with `Statement`)".into(),
            Type::TrustPolicy => {
                "a trust policy table: `{ service = \"...\" }` or a full document".into()
            }
            Type::Directory => "a directory path".into(),
        }
    }
}

fn strip_article(s: &str) -> String {
    let plural = s.trim_start_matches("an ").trim_start_matches("a ");
    format!("{plural}s").replace("ss", "s")
}

pub fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a resource's attribute table against its schema. Values that depend on something
/// unknown until apply are checked as far as they are known.
pub fn check_attributes(
    schema: &Schema,
    resource: &str,
    attributes: &[(&str, &crate::config::node::Entry)],
    resource_span: &crate::config::source::Span,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let owner = format!("{} `{resource}`", schema.type_name);
    check_fields(
        schema.attributes,
        attributes,
        resource_span,
        &owner,
        resource,
        scope,
        diagnostics,
    );
}

fn check_fields(
    fields: &[Attribute],
    entries: &[(&str, &crate::config::node::Entry)],
    owner_span: &crate::config::source::Span,
    owner: &str,
    path: &str,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (name, entry) in entries {
        match fields.iter().find(|f| f.name == *name) {
            Some(field) => check_value(
                &field.ty,
                &entry.node,
                &format!("{path}.{name}"),
                scope,
                diagnostics,
            ),
            None => diagnostics.push(
                Diagnostic::error(format!("unknown attribute `{name}` in {owner}"))
                    .at(&entry.key_span, "not an attribute of this type")
                    .suggest(name, fields.iter().map(|f| f.name)),
            ),
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if !entries.iter().any(|(n, _)| *n == field.name) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "missing required attribute `{}` in {owner}",
                    field.name
                ))
                .at(
                    owner_span,
                    format!("`{}` ({}) is required", field.name, field.ty.describe()),
                ),
            );
        }
    }
}

fn check_value(
    ty: &Type,
    node: &Node,
    what: &str,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // A string made only of references may stand for any type; check what it resolves to.
    if let NodeValue::Str(text) = &node.value {
        let mut broken = Vec::new();
        let parts = parse_template(node, text, &mut broken);
        if !broken.is_empty() {
            return; // the broken reference is reported on its own
        }
        if parts.iter().any(|p| matches!(p, Part::Ref(_))) {
            let value = crate::config::expr::evaluate(node, scope);
            if value.is_known() {
                check_resolved(ty, &value, node, what, diagnostics);
            }
            return;
        }
    }
    let mismatch = |diagnostics: &mut Vec<Diagnostic>| {
        diagnostics.push(
            Diagnostic::error(format!("`{what}` has the wrong type")).at(
                &node.span,
                format!("expected {}, found {}", ty.describe(), node.kind()),
            ),
        )
    };
    match (ty, &node.value) {
        (Type::List { item, min }, NodeValue::Array(items)) => {
            if items.len() < *min {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{what}` needs at least {min} item{}",
                        if *min == 1 { "" } else { "s" }
                    ))
                    .at(&node.span, "too few items"),
                );
            }
            for (i, item_node) in items.iter().enumerate() {
                check_value(item, item_node, &format!("{what}[{i}]"), scope, diagnostics);
            }
        }
        (Type::Object(fields), NodeValue::Table(table)) => {
            let entries: Vec<_> = table.iter().map(|(k, e)| (k.as_str(), e)).collect();
            check_fields(
                fields,
                &entries,
                &node.span,
                &format!("`{what}`"),
                what,
                scope,
                diagnostics,
            );
        }
        (Type::Map(item), NodeValue::Table(table)) => {
            for (key, entry) in table {
                check_value(
                    item,
                    &entry.node,
                    &format!("{what}.{key}"),
                    scope,
                    diagnostics,
                );
            }
        }
        (Type::Policy, NodeValue::Table(table)) => {
            if !table.contains_key("Statement") {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` is not a policy document"))
                        .at(&node.span, "expected a `Statement` key")
                        .help("write `{ Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", ... }] }`"),
                );
            }
        }
        (Type::TrustPolicy, NodeValue::Table(table)) => {
            if !table.contains_key("Statement") && !table.contains_key("service") {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` is not a trust policy"))
                        .at(&node.span, "expected `service` or `Statement`")
                        .help("write `{ service = \"lambda.amazonaws.com\" }` or a full policy document"),
                );
            }
        }
        (
            Type::List { .. } | Type::Object(_) | Type::Map(_) | Type::Policy | Type::TrustPolicy,
            _,
        ) => mismatch(diagnostics),
        (_, NodeValue::Str(s)) => {
            check_resolved(ty, &Value::Str(s.clone()), node, what, diagnostics)
        }
        (_, NodeValue::Int(i)) => check_resolved(ty, &Value::Int(*i), node, what, diagnostics),
        (_, NodeValue::Bool(b)) => check_resolved(ty, &Value::Bool(*b), node, what, diagnostics),
        _ => mismatch(diagnostics),
    }
}

/// Variables are strings: `"${var.timeout}"` set to `"30"` is the integer 30 where the
/// schema wants an integer (and "true"/"false" a boolean).
pub fn coerce(ty: &Type, value: Value) -> Value {
    match (ty, value) {
        (Type::Int { .. }, Value::Str(s)) => {
            s.trim().parse().map(Value::Int).unwrap_or(Value::Str(s))
        }
        (Type::Bool, Value::Str(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (_, v) => v,
    }
}

/// Checks a fully known value (a literal, or a reference that resolved at validation).
fn check_resolved(
    ty: &Type,
    value: &Value,
    node: &Node,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let is_template = matches!(&node.value, NodeValue::Str(s) if s.contains("${"));
    let value = &if is_template {
        coerce(ty, value.clone())
    } else {
        value.clone()
    };
    let problem = match (ty, value) {
        (Type::String(check), Value::Str(s)) => check.and_then(|c| c(s).err()),
        (Type::Int { min, max }, Value::Int(i)) => (!(*min..=*max).contains(i))
            .then(|| format!("{i} is out of range: expected {min} to {max}")),
        (Type::Bool, Value::Bool(_)) => None,
        (Type::Enum(allowed), Value::Str(s)) => (!allowed.contains(&s.as_str())).then(|| {
            let hint = crate::config::diagnostic::nearest(s, allowed.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            format!(
                "`{s}` is not allowed: expected {}{hint}",
                ty.describe().trim_start_matches("one of ")
            )
        }),
        (Type::Directory, Value::Str(_)) => None,
        (
            Type::List { .. } | Type::Map(_) | Type::Object(_) | Type::Policy | Type::TrustPolicy,
            Value::List(_) | Value::Map(_),
        ) => None,
        _ => Some(format!(
            "expected {}, found {}",
            ty.describe(),
            value_kind(value)
        )),
    };
    if let Some(problem) = problem {
        diagnostics
            .push(Diagnostic::error(format!("invalid value for `{what}`")).at(&node.span, problem));
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::List(_) => "an array",
        Value::Map(_) => "a table",
        Value::Unknown => "an unknown value",
    }
}
