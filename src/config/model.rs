//! The validated stack: what the rest of strata works from. Attribute values stay as
//! written (with their spans) until the plan evaluates them against live facts.

use indexmap::IndexMap;

use super::expr::{Reference, Scope, Target};
use super::node::{Entry, Node};
use crate::diagnostics::source::{Sources, Span};
use crate::schema::Schema;
use crate::value::Value;

pub struct Stack {
    pub name: String,
    /// `[stack] region`: the region to deploy in, whatever the environment says.
    pub region: Option<String>,
    /// `[stack] allowed_account_ids`: only these accounts may plan or apply it (empty: any).
    pub allowed_account_ids: Vec<String>,
    /// `[backend]`: where the state lives when not in the local state directory.
    pub backend: Option<Backend>,
    /// The files of the `extends` chain, the root ancestor first.
    pub files: Vec<String>,
    pub variables: IndexMap<String, Variable>,
    /// Every variable the files declare, including any without a usable value.
    pub declared_variables: Vec<String>,
    /// One declaration per resource, and per instance of a `for_each` resource (named
    /// `queue["orders"]`).
    pub resources: IndexMap<String, ResourceDecl>,
    /// The `for_each` resources as declared: name -> their instances' keys.
    pub for_each: IndexMap<String, ForEach>,
    pub outputs: IndexMap<String, OutputDecl>,
    /// `[data.NAME]`: objects read at plan time, never managed ([`DataDecl`]).
    pub data: IndexMap<String, DataDecl>,
    /// The instances of `[modules]`, whose resources are among `resources` under their
    /// prefixed names ([`super::module`]).
    pub modules: Vec<super::module::ModuleInstance>,
    pub sources: Sources,
}

/// `[backend] s3 = { bucket, key, region }`, with `${stack.name}` and `${var.stage}` in
/// the key already replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub bucket: String,
    pub key: String,
    /// The bucket's region, when it is not the region the stack deploys to.
    pub region: Option<String>,
}

/// A `for_each` resource: the keys it expanded to, and where `for_each` is written.
pub struct ForEach {
    pub keys: Vec<String>,
    pub span: Span,
    /// The parent's `for_each` a child stack replaced.
    pub overrides: Option<Span>,
}

/// The type a variable declares (`type = "string" | "list" | "table"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    String,
    List,
    Table,
}

impl VarType {
    pub fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::List => "list",
            VarType::Table => "table",
        }
    }
}

pub struct Variable {
    /// A string, a list of strings or a table of strings, as its type says.
    pub value: Value,
    pub ty: VarType,
    /// Values derived from it are masked in plans and outputs.
    pub sensitive: bool,
    pub description: Option<String>,
    /// Where the value came from: `--var` or the declaration's default.
    pub from_command_line: bool,
    pub span: Span,
}

pub struct ResourceDecl {
    pub name: String,
    pub schema: &'static Schema,
    /// The resource's table (merged across files).
    pub span: Span,
    /// Attributes as written, without `type` and `depends_on`.
    pub attributes: IndexMap<String, Entry>,
    pub depends_on: Vec<(String, Span)>,
    pub references: Vec<Reference>,
    /// `moved_from = "old_name"`: the resource was called `old_name`, and the object the
    /// state records under that name is this resource's (renamed, not replaced).
    pub moved_from: Option<(String, Span)>,
    /// `lifecycle = { ... }`: how the plan may treat the resource's object.
    pub lifecycle: Lifecycle,
}

/// A resource's `lifecycle` table (or `[resources.NAME.lifecycle]`).
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    /// `prevent_destroy = true`: plans that would delete or replace the object fail.
    pub prevent_destroy: Option<Span>,
    /// `ignore_changes = ["tags", ...]`: differences in these attributes are never planned.
    pub ignore_changes: Vec<(String, Span)>,
    /// `create_before_destroy = true`: a replacement creates the new object first.
    pub create_before_destroy: Option<Span>,
}

/// `[data.NAME]`: an object strata reads when it plans and never creates, changes or
/// deletes; `${data.NAME.ATTRIBUTE}` refers to what was read.
pub struct DataDecl {
    /// `shared_bucket`, or inside a module instance `module.tenant["a"].shared_bucket`.
    pub name: String,
    pub source: DataSource,
    /// The data source's table.
    pub span: Span,
    /// `id = "..."` for a managed type, as written (it may refer to variables and to
    /// other data sources).
    pub id: Option<Node>,
    /// The references in `id`.
    pub references: Vec<Reference>,
}

/// What a data source reads.
#[derive(Clone)]
pub enum DataSource {
    /// An object of a type strata manages, read by its id as a refresh reads it.
    Object(&'static Schema),
    /// `sts.caller_identity`: who the credentials are.
    CallerIdentity,
    /// `strata.stack`: the outputs another stack's state records.
    Stack {
        /// The other stack's file, absolute or relative to the working directory.
        file: std::path::PathBuf,
        /// `stack = "..."` as written.
        span: Span,
    },
}

/// The type name of `sts.caller_identity`.
pub const CALLER_IDENTITY: &str = "sts.caller_identity";
/// The attributes `sts.caller_identity` gives.
pub const CALLER_IDENTITY_ATTRIBUTES: &[&str] = &["account_id", "arn", "user_id", "partition"];
/// The type name of a data source reading another stack's outputs.
pub const STACK_OUTPUTS: &str = "strata.stack";

impl DataSource {
    pub fn type_name(&self) -> &'static str {
        match self {
            DataSource::Object(schema) => schema.type_name,
            DataSource::CallerIdentity => CALLER_IDENTITY,
            DataSource::Stack { .. } => STACK_OUTPUTS,
        }
    }

    /// The attributes `${data.NAME.ATTRIBUTE}` may name (a stack's are `outputs.NAME`, any).
    pub fn attributes(&self) -> Vec<&'static str> {
        match self {
            DataSource::Object(schema) => schema.referable().collect(),
            DataSource::CallerIdentity => CALLER_IDENTITY_ATTRIBUTES.to_vec(),
            DataSource::Stack { .. } => vec!["outputs"],
        }
    }
}

impl DataDecl {
    /// `data.shared_bucket` (a module's path first), as plans and messages name it.
    pub fn address(&self) -> String {
        data_address(&self.name)
    }
}

/// The address of data source `name`: `data.NAME`, after its module path if any.
pub fn data_address(name: &str) -> String {
    let (module, local) = super::address::split_module(name);
    format!("{module}data.{local}")
}

/// What the data sources read, by name: what `${data.NAME.ATTRIBUTE}` resolves to. A
/// stack's outputs are one attribute, `outputs`, a table.
pub type DataValues = IndexMap<String, crate::value::Attrs>;

/// `${data.NAME.ATTRIBUTE}` in `values`; `outputs.X` is the output `X`.
pub fn data_value(values: &DataValues, name: &str, attribute: &str) -> Option<Value> {
    let attrs = values.get(name)?;
    match attribute.split_once('.') {
        Some((head, rest)) => attrs.get(head)?.as_map()?.get(rest).cloned(),
        None => attrs.get(attribute).cloned(),
    }
}

pub struct OutputDecl {
    pub name: String,
    pub value: Node,
    pub description: Option<String>,
    pub sensitive: bool,
}

impl ResourceDecl {
    pub fn type_name(&self) -> &'static str {
        self.schema.type_name
    }

    /// `type.name` (a module's path first), the address shown in plans and graphs.
    pub fn address(&self) -> String {
        super::address::address(self.schema.type_name, &self.name)
    }
}

impl Stack {
    /// Whether a value refers to a sensitive variable.
    pub fn is_sensitive(&self, node: &super::node::Node) -> bool {
        super::expr::references(node, &mut Vec::new()).iter().any(|r| {
            matches!(&r.target, Target::Var(name) if self.variables.get(name).is_some_and(|v| v.sensitive))
        })
    }

    /// The strings of the sensitive variables' values (the items of a list or table
    /// included), for the text they must never appear in. Values shorter than
    /// [`crate::log::MIN_SECRET_LEN`] are left out: they cannot be told from ordinary words.
    pub fn sensitive_values(&self) -> Vec<&str> {
        fn strings<'a>(value: &'a crate::value::Value, out: &mut Vec<&'a str>) {
            use crate::value::Value;
            match value {
                Value::Str(s) => out.push(s),
                Value::List(items) => items.iter().for_each(|v| strings(v, out)),
                Value::Map(map) => map.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for variable in self.variables.values().filter(|v| v.sensitive) {
            strings(&variable.value, &mut out);
        }
        out.retain(|s| s.len() >= crate::log::MIN_SECRET_LEN);
        out
    }

    /// The stage this stack is deployed as (`var.stage`), which names its state.
    pub fn stage(&self) -> Option<&str> {
        self.variables.get("stage").and_then(|v| v.value.as_str())
    }
}

/// Looks up variables, stack facts and AWS facts; resources are answered by `resources`.
pub struct BaseScope<'a, F: Fn(&str, &str) -> Value> {
    pub stack: &'a Stack,
    pub account_id: Option<&'a str>,
    pub region: Option<&'a str>,
    /// `aws`, `aws-cn`, `aws-us-gov`: from the caller's ARN.
    pub partition: Option<&'a str>,
    /// What the data sources read; `None` before they are read (validation).
    pub data: Option<&'a DataValues>,
    pub resources: F,
}

impl<F: Fn(&str, &str) -> Value> Scope for BaseScope<'_, F> {
    fn lookup(&self, target: &Target) -> Value {
        let known = |v: Option<&str>| v.map_or(Value::Unknown, |s| Value::Str(s.to_string()));
        match target {
            Target::Var(name) => self
                .stack
                .variables
                .get(name)
                .map_or(Value::Unknown, |v| v.value.clone()),
            Target::Stack(attr) if attr == "name" => Value::Str(self.stack.name.clone()),
            Target::Stack(_) => Value::Unknown,
            Target::Aws(attr) => match attr.as_str() {
                "account_id" => known(self.account_id),
                "region" => known(self.region),
                "partition" => known(self.partition),
                _ => Value::Unknown,
            },
            Target::Resource { name, attribute } => (self.resources)(name, attribute),
            Target::Data { name, attribute } => self
                .data
                .and_then(|values| data_value(values, name, attribute))
                .unwrap_or(Value::Unknown),
            Target::Each(_) => Value::Unknown,
        }
    }

    fn example(&self, target: &Target) -> Option<&'static str> {
        match target {
            Target::Resource { name, attribute } => {
                self.stack.resources.get(name)?.schema.example(attribute)
            }
            Target::Aws(fact) => match fact.as_str() {
                "account_id" => Some("123456789012"),
                "region" => Some("us-east-1"),
                "partition" => Some("aws"),
                _ => None,
            },
            _ => None,
        }
    }
}
