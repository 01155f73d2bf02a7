//! What a resource's `lifecycle` does to its plan: attributes whose drift is never planned
//! (`ignore_changes`), plans refused because they would delete a protected object
//! (`prevent_destroy`), and replacements that create first (`create_before_destroy`),
//! refused when the new object would take the old one's name.

use super::{Action, ResourcePlan};
use crate::config::model::{ResourceDecl, Stack};
use crate::diagnostics::Diagnostic;
use crate::value::{Attrs, Value};

/// Makes the desired value of each ignored attribute what AWS has, so that neither drift
/// nor an edit of it is planned, and an update of another attribute leaves it as it is.
pub fn ignore_changes(decl: &ResourceDecl, desired: &mut Attrs, live: &Attrs) {
    for (attribute, _) in &decl.lifecycle.ignore_changes {
        match live.get(attribute) {
            Some(value) => desired.insert(attribute.clone(), value.clone()),
            None => desired.shift_remove(attribute),
        };
    }
}

/// The problems of `resources` (a finished plan of `stack`) with the lifecycle rules: a
/// protected object deleted or replaced, a replacement created first under its old name.
pub fn check(stack: &Stack, resources: &[ResourcePlan]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rp in resources {
        let Some(decl) = stack.resources.get(&rp.name) else {
            continue;
        };
        let address = rp.address();
        if let Some(span) = &decl.lifecycle.prevent_destroy {
            let what = match rp.action {
                Action::Delete => Some("destroy"),
                Action::Replace => Some("replace"),
                _ => None,
            };
            if let Some(what) = what {
                out.push(
                    Diagnostic::error(format!(
                        "{address} has `prevent_destroy`, and this plan would {what} it"
                    ))
                    .at(span, "`prevent_destroy` is set here")
                    .help(
                        "nothing was changed; to really delete the object, remove `prevent_destroy` first",
                    ),
                );
            }
        }
        if let (Some(span), true) = (
            &decl.lifecycle.create_before_destroy,
            rp.create_before_destroy,
        ) && let Some(name) = same_identity(decl, rp)
        {
            out.push(
                Diagnostic::error(format!(
                    "{address} cannot be created before it is destroyed: the new {} would be named `{name}`, as the old one is",
                    rp.type_name
                ))
                .at(span, "`create_before_destroy` is set here")
                .help("give the replacement another name in the same change, or remove `create_before_destroy` (the old object is then deleted first)"),
            );
        }
    }
    out
}

/// The name the old and the new object of a replacement would share, if the type's
/// identity (its name) stays the same; `None` when it changes or is not known yet.
fn same_identity(decl: &ResourceDecl, rp: &ResourcePlan) -> Option<String> {
    let identity = &decl.schema.identity;
    let (before, after) = (rp.before.as_ref()?, rp.after.as_ref()?);
    if identity.attributes.is_empty() {
        return None;
    }
    let mut names = Vec::new();
    for attribute in identity.attributes {
        let (Some(Value::Str(old)), Some(Value::Str(new))) =
            (before.get(*attribute), after.get(*attribute))
        else {
            return None;
        };
        let same = if identity.ignore_case {
            old.eq_ignore_ascii_case(new)
        } else {
            old == new
        };
        if !same {
            return None;
        }
        names.push(new.as_str());
    }
    Some(names.join("/"))
}
