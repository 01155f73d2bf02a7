//! Resource schemas: the attributes each resource type takes, their types, AWS's ranges
//! and defaults, and which ones force a replacement; and value equality under a type. Pure
//! data and pure functions; the stack's checker (config::check), the planner and the
//! resource implementations read the same tables.

use crate::policy;
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
    /// Omitted from the stack, an existing object keeps its live value (Terraform's
    /// Optional+Computed): resetting it would shrink a limit, weaken a protection or move
    /// the object to another platform the user never asked for. `default` then applies to
    /// new objects only (AWS's own default when there is none).
    pub keep_live: bool,
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
        keep_live: false,
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
    pub const fn keep_live(mut self) -> Self {
        self.keep_live = true;
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

/// Whether the live value already is what the stack wants.
pub fn same(ty: &Type, want: &Value, have: Option<&Value>) -> bool {
    if !want.is_known() {
        return false;
    }
    let Some(have) = have else {
        return matches!(want, Value::Null);
    };
    match (ty, want, have) {
        (Type::Policy | Type::TrustPolicy, _, _) => {
            let want = if matches!(ty, Type::TrustPolicy) {
                policy::expand_trust_policy(&want.to_json())
            } else {
                want.to_json()
            };
            policy::equivalent(&want, &have.to_json())
        }
        (Type::Object(fields), Value::Map(w), Value::Map(h)) => w
            .iter()
            .all(|(k, v)| field(fields, k).is_some_and(|f| same(&f.ty, v, h.get(k)))),
        (Type::List { item, .. }, Value::List(w), Value::List(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| same(item, a, Some(b)))
        }
        (Type::Map(item), Value::Map(w), Value::Map(h)) => {
            w.len() == h.len() && w.iter().all(|(k, v)| same(item, v, h.get(k)))
        }
        _ => want == have,
    }
}

/// The field `name` of an object type.
pub fn field<'a>(fields: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    fields.iter().find(|f| f.name == name)
}
