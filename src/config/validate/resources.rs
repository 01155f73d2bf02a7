//! `[resources]`: each resource's table, type, `depends_on` and `moved_from`, its
//! attributes against its schema, and objects two resources would both name.

use indexmap::IndexMap;

use super::for_each::for_each_instances;
use super::lifecycle::lifecycle;
use super::references::{same_account_scope, validation_scope};
use super::{string_at, table_at};
use crate::config::address::split_module;
use crate::config::check::check_attributes;
use crate::config::expr::{evaluate, instance_name, references, split_instance, substitute_each};
use crate::config::model::{ForEach, ResourceDecl, Stack, Variable};
use crate::config::node::{Entry, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
use crate::resources::cloudcontrol::schema::SchemaError;
use crate::resources::cloudcontrol::{is_cloudcontrol, load, note_missing};
use crate::schema::Schema;
use crate::value::Value;

const RESOURCE_META: &[&str] = &["type", "depends_on", "for_each", "moved_from", "lifecycle"];

pub(super) fn resource_decls(
    top: &Table,
    schemas: &[&'static Schema],
    variables: &IndexMap<String, Variable>,
    declared_variables: &[String],
    diagnostics: &mut Vec<Diagnostic>,
) -> (IndexMap<String, ResourceDecl>, IndexMap<String, ForEach>) {
    let mut out = IndexMap::new();
    let mut for_each = IndexMap::new();
    let Some(resources) = table_at(top, "resources", diagnostics) else {
        return (out, for_each);
    };
    for (name, entry) in resources {
        // A module's resources come prefixed with its instance (`module.tenant.bucket`).
        if !valid_identifier(split_module(name).1) {
            diagnostics.push(
                Diagnostic::error(format!("invalid resource name `{name}`")).at(
                    &entry.key_span,
                    "expected letters, digits and underscores, starting with a letter",
                ),
            );
            continue;
        }
        let NodeValue::Table(table) = &entry.node.value else {
            diagnostics.push(
                Diagnostic::error(format!("resource `{name}` must be a table"))
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help(format!(
                        "write `[resources.{name}]` followed by `type = \"...\"` and its attributes"
                    )),
            );
            continue;
        };
        let Some(type_entry) = table.get("type") else {
            diagnostics.push(
                Diagnostic::error(format!("resource `{name}` has no `type`"))
                    .at(&entry.key_span, "add `type = \"...\"` to this resource")
                    .note(format!("known types: {}", type_names(schemas).join(", "))),
            );
            continue;
        };
        let Some(type_name) = string_at(type_entry, &format!("{name}.type"), diagnostics) else {
            continue;
        };
        let cloudcontrol = is_cloudcontrol(&type_name);
        let found = if cloudcontrol {
            match load(&type_name) {
                Ok(cc) => Some(cc.ty.schema),
                Err(error) => {
                    if matches!(error, SchemaError::NotCached { .. }) {
                        note_missing(name, &type_name);
                    }
                    diagnostics.push(
                        Diagnostic::error(format!("cannot check `{name}` ({type_name})"))
                            .at(&type_entry.node.span, "no usable schema for this type")
                            .note(error.to_string()),
                    );
                    continue;
                }
            }
        } else {
            schemas.iter().copied().find(|s| s.type_name == type_name)
        };
        let Some(schema) = found else {
            diagnostics.push(
                Diagnostic::error(format!("unknown resource type `{type_name}`"))
                    .at(&type_entry.node.span, "not a resource type strata knows")
                    .suggest(&type_name, type_names(schemas))
                    .note(format!("known types: {}", type_names(schemas).join(", "))),
            );
            continue;
        };
        let depends_on = depends_on(table, diagnostics);
        let moved = moved_from(name, table, diagnostics);
        let lifecycle = lifecycle(name, table.get("lifecycle"), schema, diagnostics);
        let attributes: IndexMap<String, Entry> = if cloudcontrol {
            let Some(properties) = properties(name, table, diagnostics) else {
                continue;
            };
            properties
        } else {
            table
                .iter()
                .filter(|(k, _)| !RESOURCE_META.contains(&k.as_str()))
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect()
        };
        let instances = match table.get("for_each") {
            Some(entry) => {
                let Some(instances) =
                    for_each_instances(name, entry, variables, declared_variables, diagnostics)
                else {
                    continue;
                };
                for_each.insert(
                    name.clone(),
                    ForEach {
                        keys: instances.iter().map(|(k, _)| k.clone()).collect(),
                        span: entry.node.span.clone(),
                        overrides: entry.node.overrides.clone(),
                    },
                );
                instances
                    .into_iter()
                    .map(|(key, value)| (instance_name(name, &key), Some((key, value))))
                    .collect()
            }
            None => vec![(name.clone(), None)],
        };
        // Broken references are reported once, from the resource as written (with
        // `[each.key]` made an instance key, so that it is not reported).
        for attr in attributes.values() {
            if table.contains_key("for_each") {
                let key = Value::Str("key".into());
                references(&substitute_each(&attr.node, "key", &key), diagnostics);
            } else {
                references(&attr.node, diagnostics);
            }
        }
        if let (Some(Moved::Keys(keys)), Some(each)) = (&moved, for_each.get(name)) {
            check_renamed_keys(name, keys, &each.keys, diagnostics);
        }
        for (instance, each) in instances {
            let moved_from = match (&moved, &each) {
                (Some(Moved::Name(old, span)), _) => Some((old.clone(), span.clone())),
                (Some(Moved::Keys(keys)), Some((key, _))) => keys
                    .iter()
                    .find(|(_, (new, _))| new == key)
                    .map(|(old, (_, span))| (instance_name(name, old), span.clone())),
                _ => None,
            };
            let attributes: IndexMap<String, Entry> = match &each {
                Some((key, value)) => attributes
                    .iter()
                    .map(|(k, e)| {
                        let mut e = e.clone();
                        e.node = substitute_each(&e.node, key, value);
                        (k.clone(), e)
                    })
                    .collect(),
                None => attributes.clone(),
            };
            let refs = attributes
                .values()
                .flat_map(|attr| references(&attr.node, &mut Vec::new()))
                .collect();
            out.insert(
                instance.clone(),
                ResourceDecl {
                    name: instance,
                    schema,
                    span: entry.key_span.clone(),
                    attributes,
                    depends_on: depends_on.clone(),
                    references: refs,
                    moved_from,
                    lifecycle: lifecycle.clone(),
                },
            );
        }
    }
    (out, for_each)
}

/// A Cloud Control resource's `properties` table, whose entries are its attributes (the
/// type's properties, as its registry schema names them).
fn properties(
    name: &str,
    table: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<IndexMap<String, Entry>> {
    let mut ok = true;
    for (key, entry) in table {
        if !RESOURCE_META.contains(&key.as_str()) && key != "properties" {
            diagnostics.push(
                Diagnostic::error(format!("`{name}.{key}` is outside `properties`"))
                    .at(
                        &entry.key_span,
                        "a CloudFormation type's properties go in `properties`",
                    )
                    .help(format!("write `properties = {{ {key} = ... }}`")),
            );
            ok = false;
        }
    }
    let properties = match table.get("properties") {
        None => IndexMap::new(),
        Some(entry) => match &entry.node.value {
            NodeValue::Table(properties) => properties.clone(),
            _ => {
                diagnostics.push(
                    Diagnostic::error(format!("`{name}.properties` must be a table")).at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    ),
                );
                return None;
            }
        },
    };
    ok.then_some(properties)
}

fn type_names(schemas: &[&'static Schema]) -> Vec<&'static str> {
    schemas.iter().map(|s| s.type_name).collect()
}

pub(super) fn valid_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name a resource may have had: in a module or not, an instance of a `for_each`
/// resource or not (`module.tenant["a"].bucket`, `bucket["a"]`).
fn valid_former_name(name: &str) -> bool {
    let (base, key) = split_instance(split_module(name).1);
    valid_identifier(base) && key.is_none_or(crate::config::expr::valid_key)
}

/// What `moved_from` says: a resource's former name, or the renamed keys of a `for_each`
/// resource (old key -> new key, with the span that says it).
enum Moved {
    Name(String, Span),
    Keys(IndexMap<String, (String, Span)>),
}

/// `moved_from = "old_name"`: a former name of this resource; on a `for_each` resource,
/// `moved_from = { "old_key" = "new_key" }`: instances whose keys were renamed.
fn moved_from(name: &str, table: &Table, diagnostics: &mut Vec<Diagnostic>) -> Option<Moved> {
    let entry = table.get("moved_from")?;
    if table.contains_key("for_each") {
        let Some(renames) = entry.node.as_table() else {
            diagnostics.push(
                Diagnostic::error("on a `for_each` resource, `moved_from` renames keys")
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help("write the former key of each renamed instance with its new key: `moved_from = { \"old_key\" = \"new_key\" }`"),
            );
            return None;
        };
        let mut keys = IndexMap::new();
        for (old, rename) in renames {
            let new = string_at(rename, &format!("{name}.moved_from.{old}"), diagnostics)?;
            if old.is_empty() || new.is_empty() || *old == new {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`moved_from` of `{name}` must rename a key to another key"
                    ))
                    .at(&rename.node.span, "expected `\"old_key\" = \"new_key\"`"),
                );
                return None;
            }
            keys.insert(old.clone(), (new, rename.node.span.clone()));
        }
        return Some(Moved::Keys(keys));
    }
    let old = string_at(entry, &format!("{name}.moved_from"), diagnostics)?;
    if old == name || !valid_former_name(&old) {
        diagnostics.push(
            Diagnostic::error(format!(
                "`moved_from` of `{name}` must name its former name"
            ))
            .at(
                &entry.node.span,
                "expected another resource name: letters, digits and underscores, in a module `module.NAME.resource`",
            ),
        );
        return None;
    }
    Some(Moved::Name(old, entry.node.span.clone()))
}

/// Each renamed key must be one of the resource's keys now, and claimed once.
fn check_renamed_keys(
    name: &str,
    renames: &IndexMap<String, (String, Span)>,
    keys: &[String],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut claimed: IndexMap<&str, &str> = IndexMap::new();
    for (old, (new, span)) in renames {
        if !keys.contains(new) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`moved_from` of `{name}` renames `{old}` to `{new}`, which is not one of its keys"
                ))
                .at(span, format!("its keys are: {}", keys.join(", "))),
            );
        } else if let Some(first) = claimed.insert(new, old) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`moved_from` of `{name}` renames both `{first}` and `{old}` to `{new}`"
                ))
                .at(span, "one former key per instance"),
            );
        }
    }
}

pub(super) fn depends_on(table: &Table, diagnostics: &mut Vec<Diagnostic>) -> Vec<(String, Span)> {
    let Some(entry) = table.get("depends_on") else {
        return Vec::new();
    };
    let NodeValue::Array(items) = &entry.node.value else {
        diagnostics.push(
            Diagnostic::error("`depends_on` must be an array of resource names").at(
                &entry.node.span,
                format!("expected an array, found {}", entry.node.kind()),
            ),
        );
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item.as_str() {
            Some(s) => Some((s.to_string(), item.span.clone())),
            None => {
                diagnostics.push(Diagnostic::error("`depends_on` must name resources").at(
                    &item.span,
                    format!("expected a resource name, found {}", item.kind()),
                ));
                None
            }
        })
        .collect()
}

/// Checks attributes against schemas with what is known before any AWS call: variables,
/// the stack name, and literal attributes of other resources.
pub(super) fn check_resource_attributes(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
    let scope = validation_scope(stack);
    for decl in stack.resources.values() {
        let entries: Vec<_> = decl
            .attributes
            .iter()
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        // Instances are checked under the resource's name: a problem all of them share is
        // reported once.
        check_attributes(
            decl.schema,
            split_instance(&decl.name).0,
            &entries,
            &decl.span,
            &scope,
            diagnostics,
        );
    }
}

/// Two resources must not name the same object in AWS (the same bucket, queue or role
/// name; two policies of one bucket): the second create would fail, or the two would
/// overwrite each other on every apply.
pub(super) fn check_identities(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
    let scope = same_account_scope(stack);
    let mut seen: IndexMap<(&str, Vec<String>), &ResourceDecl> = IndexMap::new();
    for decl in stack.resources.values() {
        let identity = &decl.schema.identity;
        let Some(names) = identity
            .attributes
            .iter()
            .map(|a| match evaluate(&decl.attributes.get(*a)?.node, &scope) {
                Value::Str(s) if identity.ignore_case => Some(s.to_lowercase()),
                Value::Str(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .filter(|names| !names.is_empty())
        else {
            continue;
        };
        let attribute = identity.attributes[0];
        let Some(first) = seen.get(&(decl.type_name(), names.clone())) else {
            seen.insert((decl.type_name(), names), decl);
            continue;
        };
        let first_span = &first.attributes[attribute].node.span;
        let (first_name, name) = (split_instance(&first.name).0, split_instance(&decl.name).0);
        let message = if first_name == name {
            format!(
                "the instances of `{name}` are the same {} in AWS",
                decl.type_name()
            )
        } else {
            format!(
                "`{}` and `{}` are the same {} in AWS",
                first.name,
                decl.name,
                decl.type_name()
            )
        };
        let mut d = Diagnostic::error(message).at(
            &decl.attributes[attribute].node.span,
            format!(
                "the same {} as `{}`",
                identity.attributes.join(" and "),
                first.name
            ),
        );
        if first_name == name {
            d = d.help(format!(
                "every instance of `{name}` gets the same value: use `${{each.key}}` in it"
            ));
        } else if split_module(&decl.name).1 == split_module(&first.name).1
            && *first_span == decl.attributes[attribute].node.span
        {
            // Two instances of one module, written once in the module's file.
            d = d.help(
                "the instances of a module get the same value: give each its own with the module's `vars`, such as `vars = { stage = \"${each.key}\" }`",
            );
        } else {
            d = d
                .related(first_span, "also here")
                .help("give each resource its own object, or declare it once");
        }
        if identity.ignore_case {
            d = d.note("AWS compares these names without case");
        }
        diagnostics.push(d);
    }
}

/// A former name must not be a name the stack still declares, nor claimed twice.
pub(super) fn check_moves(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
    let mut claimed: IndexMap<&str, &str> = IndexMap::new();
    for decl in stack.resources.values() {
        let Some((old, span)) = &decl.moved_from else {
            continue;
        };
        if stack.resources.contains_key(old) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` moves from `{old}`, which the stack still declares",
                    decl.name
                ))
                .at(span, "a former name must not be declared any more"),
            );
        } else if let Some(first) = claimed.insert(old, &decl.name) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{old}` cannot move to both `{first}` and `{}`",
                    decl.name
                ))
                .at(span, "one resource takes over a former name"),
            );
        }
    }
}
