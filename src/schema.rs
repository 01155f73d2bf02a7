//! Resource schemas: the attributes each resource type takes, their types, AWS's rules for
//! their values (lengths, patterns, ranges, enums, and checks across attributes) and
//! defaults, and which ones force a replacement; and value equality under a type. Pure data
//! and pure functions; the stack's checker (config::check), the planner and the resource
//! implementations read the same tables. The rules are data where AWS states them as data
//! (a pattern, a length, a range, an enum), so that they can be exported as they are; a
//! check function says only what a pattern cannot ([`Text::check`], [`Schema::check`]).

pub mod rules;
pub mod sealed;

use crate::policy;
use crate::value::{Attrs, Value};

pub struct Schema {
    pub type_name: &'static str,
    pub description: &'static str,
    /// What `strata import` takes as the id of an object of this type.
    pub import_id: &'static str,
    /// What the reference page says beyond the attribute table (Markdown): how the type
    /// behaves, AWS's rules across attributes, what AWS does that a user should know.
    pub notes: &'static str,
    pub attributes: &'static [Attribute],
    /// Attributes that only AWS knows (ARNs, URLs), available to references.
    pub computed: &'static [&'static str],
    /// What each computed attribute looks like, as an example AWS could give: lets a
    /// stack be told, before anything exists, that it passes a queue's `url` where an ARN
    /// is wanted.
    pub examples: &'static [(&'static str, &'static str)],
    /// The attributes that name the object in AWS (a bucket's `name`, a policy's
    /// `bucket`): two resources of one stack must not name the same object.
    pub identity: Identity,
    /// AWS's rules that tie attributes together (a FIFO queue's name ends in `.fifo`).
    pub check: Option<Combination>,
}

/// What names a resource's object in AWS ([`Schema::identity`]).
pub struct Identity {
    pub attributes: &'static [&'static str],
    /// AWS compares these names without case (IAM's).
    pub ignore_case: bool,
}

impl Identity {
    /// Several objects may share every attribute (an API's name is not unique).
    pub const NONE: Identity = Identity {
        attributes: &[],
        ignore_case: false,
    };

    pub const fn of(attributes: &'static [&'static str]) -> Identity {
        Identity {
            attributes,
            ignore_case: false,
        }
    }
}

/// The rules across a resource's attributes: what is wrong with `attrs` (the stack's
/// values, [`Value::Unknown`] where they are not known yet). A rule that needs an unknown
/// value says nothing; it runs again at plan time, when more is known.
pub type Combination = fn(&Attrs) -> Vec<Problem>;

/// One broken rule: where (an attribute, or a value inside one), what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub at: Path,
    pub message: String,
    /// Under the marker; what is wrong at that place.
    pub label: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(at: Path, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            at,
            message: message.into(),
            label: label.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A place inside a resource's attributes: `lifecycle_rules`, then `1`, then `id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Step>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn attr(name: &str) -> Path {
        Path(vec![Step::Key(name.to_string())])
    }

    pub fn key(mut self, key: &str) -> Path {
        self.0.push(Step::Key(key.to_string()));
        self
    }

    pub fn index(mut self, i: usize) -> Path {
        self.0.push(Step::Index(i));
        self
    }
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
    /// What the reference says of the attribute beyond its type and rules (Markdown).
    pub doc: &'static str,
    /// A secret: sent to AWS and nowhere else. State and the write-ahead record of a create
    /// keep its seal ([`sealed`]), and plans show neither its old nor its new value.
    pub sensitive: bool,
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

/// A rule a pattern cannot say; `Err` holds what is wrong, in words.
pub type Check = fn(&str) -> Result<(), String>;

pub enum Type {
    String(Text),
    Int {
        min: i64,
        max: i64,
    },
    /// A number (an alarm's threshold): an integer or a float in the stack, compared by
    /// value (`5` is `5.0`, as AWS reads it back).
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    Enum(&'static [&'static str]),
    List {
        item: &'static Type,
        min: usize,
        max: usize,
        /// No item may appear twice.
        unique: bool,
    },
    Object(&'static [Attribute]),
    /// A table of string keys to values of one type (tags, environment).
    Map(Map),
    /// An IAM policy document written as a TOML table, compared as normalised JSON.
    Policy(&'static PolicyRules),
    /// An IAM trust policy: a full document, or `{ service = "x.amazonaws.com" }`.
    TrustPolicy(&'static PolicyRules),
    /// A directory, relative to the stack file that names it.
    Directory,
    /// Any value (a Cloud Control property whose registry schema gives no single type):
    /// AWS checks it.
    Any,
}

/// What a string may be: AWS's length limits (in characters), a pattern the whole value
/// must match, and a check for what a pattern cannot say (no `aws:` prefix, not an IP
/// address).
#[derive(Clone, Copy)]
pub struct Text {
    pub min: usize,
    pub max: usize,
    /// A regular expression anchored with `^...$`, in the common syntax of JSON Schema and
    /// the `regex-lite` crate (ASCII classes, no look-around).
    pub pattern: Option<&'static str>,
    /// What the pattern allows, in words ("letters, digits, `-` and `_`").
    pub expected: &'static str,
    pub check: Option<Check>,
}

impl Text {
    /// Any string.
    pub const ANY: Text = Text {
        min: 0,
        max: usize::MAX,
        pattern: None,
        expected: "",
        check: None,
    };

    /// A string of `min` to `max` characters.
    pub const fn len(min: usize, max: usize) -> Text {
        Text {
            min,
            max,
            ..Text::ANY
        }
    }

    pub const fn pattern(mut self, pattern: &'static str, expected: &'static str) -> Text {
        self.pattern = Some(pattern);
        self.expected = expected;
        self
    }

    pub const fn check(mut self, check: Check) -> Text {
        self.check = Some(check);
        self
    }

    /// What is wrong with `value`, if anything.
    pub fn problem(&self, value: &str) -> Option<String> {
        let n = value.chars().count();
        if n < self.min || n > self.max {
            let characters = |n: usize| format!("{n} character{}", if n == 1 { "" } else { "s" });
            let expected = match (self.min, self.max) {
                (0, max) => format!("expected at most {}", characters(max)),
                (min, usize::MAX) => format!("expected at least {}", characters(min)),
                (min, max) if min == max => format!("expected exactly {}", characters(min)),
                (min, max) => format!("expected {min} to {}", characters(max)),
            };
            return Some(if n == 0 && self.min == 1 {
                "must not be empty".to_string()
            } else if n == 0 {
                format!("empty: {expected}")
            } else {
                format!("{} long: {expected}", characters(n))
            });
        }
        if let Some(pattern) = self.pattern
            && !rules::matches(pattern, value)
        {
            return Some(format!("expected {}", self.expected));
        }
        self.check.and_then(|check| check(value).err())
    }
}

/// A table of string keys: the rule for its keys, the type of its values, and how many
/// entries it may have.
pub struct Map {
    pub keys: Text,
    pub values: &'static Type,
    pub max: usize,
}

/// How a service measures a policy document's size.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    Bytes(usize),
    /// Characters, white space not counted (IAM).
    Characters(usize),
}

/// What a policy document may contain where it is used: IAM's grammar is the same for
/// every policy, but a bucket policy must name principals and grants only S3 actions, a
/// role's own policies must not name principals, and a trust policy names no resources.
pub struct PolicyRules {
    /// "a bucket policy", for messages.
    pub kind: &'static str,
    /// Statements must name a principal (`Principal` or `NotPrincipal`); when false, they
    /// must not.
    pub principal: bool,
    /// Statements must name a resource (`Resource` or `NotResource`); when false, they
    /// must not.
    pub resource: bool,
    /// The service whose actions the policy grants (`s3`); `None`: any service.
    pub service: Option<&'static str>,
    pub sid: Text,
    /// The largest document the service stores, measured on what strata sends (compact
    /// JSON).
    pub max_size: Size,
    pub max_statements: usize,
    pub max_actions: usize,
    pub max_principals: usize,
    pub max_conditions: usize,
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
        doc: "",
        sensitive: false,
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
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// An example of the computed attribute `name` ([`Schema::examples`]).
    pub fn example(&self, name: &str) -> Option<&'static str> {
        self.examples
            .iter()
            .find(|(attribute, _)| *attribute == name)
            .map(|(_, example)| *example)
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
            Type::Float { min, max } if *min == f64::MIN && *max == f64::MAX => "a number".into(),
            Type::Float { min, max } => format!("a number from {min} to {max}"),
            Type::Bool => "a boolean".into(),
            Type::Enum(values) => format!("one of {}", quoted_list(values)),
            Type::List { item, .. } => format!("an array of {}", plural(item)),
            Type::Object(_) => "a table".into(),
            Type::Map(map) => format!("a table of {}", plural(map.values)),
            Type::Policy(_) => "a policy document table (with `Statement`)".into(),
            Type::TrustPolicy(_) => {
                "a trust policy table: `{ service = \"...\" }` or a full document".into()
            }
            Type::Directory => "a directory path".into(),
            Type::Any => "any value".into(),
        }
    }
}

/// `strings`, `tables`, ...: the plural of a type's name, without its rules.
fn plural(ty: &Type) -> String {
    let name = match ty {
        Type::String(_) => "string",
        Type::Int { .. } => "integer",
        Type::Float { .. } => "number",
        Type::Bool => "boolean",
        Type::Enum(_) => "value",
        Type::List { .. } => "array",
        Type::Object(_) | Type::Map(_) => "table",
        Type::Policy(_) | Type::TrustPolicy(_) => "policy document",
        Type::Directory => "directory path",
        Type::Any => "value",
    };
    format!("{name}s")
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
        (Type::Float { .. }, Value::Str(s)) => {
            s.trim().parse().map(Value::Float).unwrap_or(Value::Str(s))
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
        // A secret is recorded as its seal: the stack's value is compared with what was sealed.
        (Type::String(_), Value::Str(clear), _) if sealed::is_sealed(have) => {
            sealed::opens(have, clear)
        }
        (Type::Policy(_) | Type::TrustPolicy(_), _, _) => {
            let want = if matches!(ty, Type::TrustPolicy(_)) {
                policy::expand_trust_policy(&want.to_json())
            } else {
                want.to_json()
            };
            policy::equivalent(&want, &have.to_json())
        }
        (Type::Float { .. }, _, _) => number(want).is_some() && number(want) == number(have),
        (Type::Object(fields), Value::Map(w), Value::Map(h)) => w
            .iter()
            .all(|(k, v)| field(fields, k).is_some_and(|f| same(&f.ty, v, h.get(k)))),
        (Type::List { item, .. }, Value::List(w), Value::List(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| same(item, a, Some(b)))
        }
        (Type::Map(map), Value::Map(w), Value::Map(h)) => {
            w.len() == h.len() && w.iter().all(|(k, v)| same(map.values, v, h.get(k)))
        }
        _ => want == have,
    }
}

/// An integer or float value as a number.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// The field `name` of an object type.
pub fn field<'a>(fields: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    fields.iter().find(|f| f.name == name)
}
