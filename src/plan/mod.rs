//! Plans: for each resource an [`Action`], the attribute [`Change`]s and the reason.
//! Deciding the action is pure ([`diff`]); building a plan reads live state ([`build`]).

pub mod build;
pub mod data;
pub mod diff;
pub mod lifecycle;
pub mod saved;
pub mod selection;

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
                value = Value::Str(crate::diagnostics::source::display_path(&base.join(path)));
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

    /// Whether the action makes or changes the object (and so needs desired attributes).
    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Replace)
    }
}

/// Why a resource gets its action. Renderings word it; the record keeps the facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionReason {
    /// The stack and AWS agree: nothing to do.
    Unchanged,
    /// The stack declares it and strata has not made it yet.
    New,
    /// State records it, but AWS no longer has it: it is created again.
    DeletedOutsideStrata,
    /// These attributes differ between the stack and AWS (an edit, or drift).
    AttributesChanged { attributes: Vec<String> },
    /// These attributes cannot change in place.
    ReplacementRequired { attributes: Vec<String> },
    /// Values that come from these dependencies change, because they are (re)created.
    DependencyReplaced { dependencies: Vec<String> },
    /// The stack now declares it with another type.
    TypeChanged { from: String, to: String },
    /// State records it and the stack no longer declares it.
    NoLongerInStack,
    /// `destroy`: everything in state goes.
    Destroy,
    /// State records it, AWS no longer has it and the stack does not want it: forgotten.
    AlreadyGone,
}

impl ActionReason {
    /// The note a human plan shows beside the heading, where the action alone does not
    /// say enough.
    pub fn note(&self) -> Option<String> {
        let list = |items: &[String]| {
            items
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            ActionReason::Unchanged
            | ActionReason::New
            | ActionReason::AttributesChanged { .. }
            | ActionReason::Destroy => None,
            ActionReason::DeletedOutsideStrata => Some("deleted outside strata".into()),
            ActionReason::ReplacementRequired { attributes } => Some(format!(
                "{} cannot change in place: the resource is replaced",
                list(attributes)
            )),
            // Said of the dependencies, never of this resource: it is updated in place.
            ActionReason::DependencyReplaced { dependencies } => Some(match dependencies.len() {
                1 => format!(
                    "{} is created anew, so the values it gives change",
                    list(dependencies)
                ),
                _ => format!(
                    "{} are created anew, so the values they give change",
                    list(dependencies)
                ),
            }),
            ActionReason::TypeChanged { from, to } => {
                Some(format!("its type changed from {from} to {to}"))
            }
            ActionReason::NoLongerInStack => Some("no longer in the stack".into()),
            ActionReason::AlreadyGone => {
                Some("already deleted outside strata; it will be forgotten".into())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResourcePlan {
    pub name: String,
    pub type_name: String,
    pub action: Action,
    pub reason: ActionReason,
    pub changes: Vec<Change>,
    /// The physical id, for resources that exist.
    pub id: Option<String>,
    /// The file and line that declares the resource (none for deletes).
    pub declared_at: Option<String>,
    /// The object as the plan read it from AWS; `None` when it does not exist or was not
    /// read (a destroy plan reads nothing). Applying a saved plan checks it again.
    pub before: Option<Attrs>,
    /// The attributes a create, update or replace writes, `Unknown` where only the apply
    /// will know (an ARN of a resource created first).
    pub after: Option<Attrs>,
    /// The resources this one depends on in the stack (recorded in state for destroy).
    pub dependencies: Vec<String>,
    /// The name the state records it under, when the stack renamed it (`moved_from`): apply
    /// renames it in state instead of replacing the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// What deleting the object does beyond deleting it (a deletion only scheduled), for a
    /// delete or a replace ([`crate::resources::Resource::deletion_note`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<String>,
    /// A replace that creates the new object before it deletes the old one
    /// (`lifecycle.create_before_destroy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// The attributes whose values no rendering shows: those the type marks sensitive and
    /// those the stack sets from a sensitive variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
}

impl ResourcePlan {
    pub fn address(&self) -> String {
        crate::config::address::address(&self.type_name, &self.name)
    }
}

/// The plan: what apply will do, as a record. The human view, the JSON plan and the saved
/// plan are renderings of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    pub stage: String,
    /// The state this plan was made from; apply refuses a plan whose state has moved on.
    pub state_serial: u64,
    pub state_lineage: String,
    pub resources: Vec<ResourcePlan>,
    pub destroy: bool,
    /// `--target` / `--exclude`: the plan leaves the other resources out.
    #[serde(default, skip_serializing_if = "selection::Selection::is_whole")]
    pub selection: selection::Selection,
    /// What the data sources read: the values the plan was made with, which its apply
    /// uses (a saved plan does not read them again).
    #[serde(default, skip_serializing_if = "indexmap::IndexMap::is_empty")]
    pub data: crate::config::model::DataValues,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.resources.iter().filter(|r| r.action == action).count()
    }

    pub fn has_changes(&self) -> bool {
        self.resources
            .iter()
            .any(|r| r.action != Action::NoOp || r.moved_from.is_some())
    }

    pub fn get(&self, name: &str) -> Option<&ResourcePlan> {
        self.resources.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(reason: ActionReason) -> Plan {
        Plan {
            stack: "s".into(),
            stage: "dev".into(),
            state_serial: 1,
            state_lineage: "l".into(),
            destroy: false,
            selection: Default::default(),
            data: Default::default(),
            resources: vec![ResourcePlan {
                name: "permission".into(),
                type_name: "lambda.permission".into(),
                action: Action::Update,
                reason,
                changes: Vec::new(),
                id: Some("f/s".into()),
                declared_at: None,
                before: None,
                after: None,
                dependencies: Vec::new(),
                moved_from: None,
                deletion: None,
                create_before_destroy: false,
                sensitive: Vec::new(),
            }],
        }
    }

    /// Issue 22: an update in place whose values come from a replaced dependency read
    /// "will be updated in place (values from `api` change: it is replaced)", as if the
    /// resource itself were replaced.
    #[test]
    fn an_update_from_a_replaced_dependency_says_the_dependency_is_the_one_replaced() {
        let style = crate::views::Style { color: false };
        let one = ActionReason::DependencyReplaced {
            dependencies: vec!["api".into()],
        };
        let heading = crate::views::render_plan(&updated(one), style);
        assert!(
            heading.contains(
                "# lambda.permission.permission will be updated in place (`api` is created anew, so the values it gives change)\n"
            ),
            "{heading}"
        );
        assert!(!heading.contains("replaced"), "{heading}");
        let two = ActionReason::DependencyReplaced {
            dependencies: vec!["api".into(), "function".into()],
        };
        assert_eq!(
            two.note().unwrap(),
            "`api`, `function` are created anew, so the values they give change"
        );
    }
}
