//! Plans: for each resource an [`Action`], the attribute [`Change`]s and the reason.
//! Deciding the action is pure ([`diff`]); building a plan reads live state ([`build`]).

pub mod build;
pub mod diff;

use serde::{Deserialize, Serialize};

use crate::config::expr::{Scope, evaluate};
use crate::config::model::{ResourceDecl, Stack};
use crate::resources::implementation;
use crate::schema::Type;
use crate::value::{Attrs, Value};

/// A resource's desired attributes with what is known in `scope`: evaluated, directories
/// made absolute (relative to the file that names them), defaults filled in, and completed
/// by the resource type itself (deterministic ids, code hashes).
pub fn desired_attributes(stack: &Stack, decl: &ResourceDecl, scope: &dyn Scope) -> Attrs {
    let configured: Attrs = decl
        .attributes
        .iter()
        .map(|(name, entry)| {
            let mut value = evaluate(&entry.node, scope);
            let is_directory = decl
                .schema
                .attribute(name)
                .is_some_and(|a| matches!(a.ty, Type::Directory));
            if let (true, Value::Str(path)) = (is_directory, &value) {
                let file = &stack.sources.get(entry.node.span.file).path;
                let base = file.parent().unwrap_or(std::path::Path::new("."));
                value = Value::Str(crate::config::source::display_path(&base.join(path)));
            }
            (name.clone(), value)
        })
        .collect();
    let mut desired = diff::with_defaults(decl.schema, &configured);
    if let Some(resource) = implementation(decl.type_name()) {
        resource.prepare(&mut desired);
    }
    desired
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The attribute, dotted for nested ones.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub forces_replacement: bool,
    /// The file and line that set the attribute (it may come from a parent stack).
    pub origin: Option<String>,
    /// Derived from a sensitive variable: plans show neither value.
    pub sensitive: bool,
}

#[derive(Clone, Debug)]
pub struct ResourcePlan {
    pub name: String,
    pub type_name: String,
    pub action: Action,
    pub changes: Vec<Change>,
    /// Why: "drifted", "deleted outside strata", "`name` forces replacement", ...
    pub reason: Option<String>,
    /// The physical id, for resources that exist.
    pub id: Option<String>,
    /// The file and line that declares the resource (none for deletes).
    pub declared_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub stack: String,
    pub stage: String,
    /// The state this plan was made from; apply refuses a plan whose state has moved on.
    pub state_serial: u64,
    pub state_lineage: String,
    pub resources: Vec<ResourcePlan>,
    pub destroy: bool,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.resources.iter().filter(|r| r.action == action).count()
    }

    pub fn has_changes(&self) -> bool {
        self.resources.iter().any(|r| r.action != Action::NoOp)
    }

    pub fn get(&self, name: &str) -> Option<&ResourcePlan> {
        self.resources.iter().find(|r| r.name == name)
    }
}
