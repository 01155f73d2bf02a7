//! `${...}` references and `depends_on` targets: each must name something declared.

use crate::config::expr::{Reference, Target, evaluate, instance_name, references, split_instance};
use crate::config::model::{BaseScope, Stack};
use crate::diagnostics::Diagnostic;
use crate::value::Value;

const AWS_FACTS: &[&str] = &["account_id", "region", "partition"];

/// The scope used while validating: AWS facts and computed attributes are unknown.
pub fn validation_scope(stack: &Stack) -> BaseScope<'_, impl Fn(&str, &str) -> Value + '_> {
    scope_with_facts(stack, None)
}

/// The validation scope with stand-ins for the AWS facts: every resource is deployed in
/// the same account and region, so names that differ only there cannot differ in AWS, and
/// names that are equal with the stand-ins are equal in AWS.
pub(super) fn same_account_scope(
    stack: &Stack,
) -> BaseScope<'_, impl Fn(&str, &str) -> Value + '_> {
    scope_with_facts(stack, Some(["(account)", "(region)", "(partition)"]))
}

fn scope_with_facts<'a>(
    stack: &'a Stack,
    facts: Option<[&'a str; 3]>,
) -> BaseScope<'a, impl Fn(&str, &str) -> Value + 'a> {
    let [account_id, region, partition] = facts.map_or([None; 3], |f| f.map(Some));
    BaseScope {
        stack,
        account_id,
        region,
        partition,
        data: None,
        resources: move |name: &str, attribute: &str| {
            let Some(entry) = stack
                .resources
                .get(name)
                .and_then(|r| r.attributes.get(attribute))
            else {
                return Value::Unknown;
            };
            // One level only: a literal attribute is known, anything with references is not.
            let inner = BaseScope {
                stack,
                account_id,
                region,
                partition,
                data: None,
                resources: |_: &str, _: &str| Value::Unknown,
            };
            evaluate(&entry.node, &inner)
        },
    }
}

pub(super) fn check_references(
    stack: &Stack,
    declared: &[String],
    declared_data: &[String],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let output_refs: Vec<Reference> = stack
        .outputs
        .values()
        .flat_map(|o| references(&o.value, diagnostics))
        .collect();
    let all = stack
        .resources
        .values()
        .flat_map(|r| r.references.iter())
        .chain(stack.data.values().flat_map(|d| d.references.iter()))
        .chain(output_refs.iter());
    for reference in all {
        let broken_declaration = matches!(&reference.target, Target::Resource { name, .. }
            if !stack.resources.contains_key(name)
                && declared.iter().any(|d| d == split_instance(name).0)
                && !stack.resources.contains_key(split_instance(name).0)
                && !stack.for_each.contains_key(split_instance(name).0));
        if broken_declaration {
            continue;
        }
        if let Target::Data { name, attribute } = &reference.target {
            diagnostics.extend(super::data::check_data_reference(
                stack,
                declared_data,
                name,
                attribute,
                &reference.span,
            ));
            continue;
        }
        if let Some(d) = check_reference(stack, reference) {
            diagnostics.push(d);
        }
    }
    for decl in stack.resources.values() {
        for (target, span) in &decl.depends_on {
            let known = stack.resources.contains_key(target) || stack.for_each.contains_key(target);
            if !known && declared.contains(target) {
                continue;
            } else if !known {
                diagnostics.push(
                    Diagnostic::error(format!("`depends_on` names unknown resource `{target}`"))
                        .at(span, "no resource with this name")
                        .suggest(target, stack.resources.keys().map(String::as_str)),
                );
            } else if *target == split_instance(&decl.name).0 {
                diagnostics.push(
                    Diagnostic::error(format!("resource `{target}` depends on itself"))
                        .at(span, "remove this"),
                );
            }
        }
    }
}

fn check_reference(stack: &Stack, reference: &Reference) -> Option<Diagnostic> {
    let span = &reference.span;
    match &reference.target {
        Target::Var(name)
            if !stack.variables.contains_key(name) && !declared_variable(stack, name) =>
        {
            Some(
                Diagnostic::error(format!("unknown variable `{name}`"))
                    .at(span, "not declared in `[variables]`")
                    .suggest(name, stack.variables.keys().map(String::as_str)),
            )
        }
        Target::Stack(attr) if attr != "name" => Some(
            Diagnostic::error(format!("unknown stack attribute `{attr}`"))
                .at(span, "`stack` has only `name`")
                .help("use `${stack.name}`; the stage is `${var.stage}`"),
        ),
        Target::Aws(attr) if !AWS_FACTS.contains(&attr.as_str()) => Some(
            Diagnostic::error(format!("unknown AWS fact `{attr}`"))
                .at(
                    span,
                    format!("expected one of {}", crate::schema::quoted_list(AWS_FACTS)),
                )
                .suggest(attr, AWS_FACTS.iter().copied()),
        ),
        Target::Each(attr) if attr == "key" || attr == "value" => Some(
            Diagnostic::error(format!("`${{each.{attr}}}` outside a `for_each` resource"))
                .at(span, "there is no `each` here")
                .help(
                    "`each.key` and `each.value` are available only in a resource with `for_each`",
                ),
        ),
        Target::Each(attr) => Some(
            Diagnostic::error(format!("unknown `each` attribute `{attr}`"))
                .at(span, "expected `each.key` or `each.value`")
                .suggest(attr, ["key", "value"]),
        ),
        Target::Resource { name, .. } if stack.for_each.contains_key(name) => {
            let keys = &stack.for_each[name].keys;
            let example = keys.first().map_or("key", String::as_str);
            Some(
                Diagnostic::error(format!(
                    "`{name}` has `for_each`: a reference must name one of its instances"
                ))
                .at(span, "no instance key")
                .help(format!(
                    "write `${{{}}}`",
                    Target::Resource {
                        name: instance_name(name, example),
                        attribute: match &reference.target {
                            Target::Resource { attribute, .. } => attribute.clone(),
                            _ => unreachable!(),
                        },
                    }
                ))
                .related(&stack.for_each[name].span, "`for_each` is set here"),
            )
        }
        Target::Resource { name, .. }
            if !stack.resources.contains_key(name) && split_instance(name).1.is_some() =>
        {
            let (base, key) = split_instance(name);
            let key = key.unwrap_or_default();
            Some(match stack.for_each.get(base) {
                Some(fe) => Diagnostic::error(format!("no instance `{name}`"))
                    .at(span, format!("`{base}` has no key `{key}`"))
                    .related(&fe.span, "its keys come from here")
                    .suggest(key, fe.keys.iter().map(String::as_str))
                    .note(format!(
                        "`{base}` has: {}",
                        if fe.keys.is_empty() {
                            "no instances".to_string()
                        } else {
                            fe.keys.join(", ")
                        }
                    )),
                None if stack.resources.contains_key(base) => {
                    Diagnostic::error(format!("`{base}` has no `for_each`, so no instances"))
                        .at(span, "instance key on a single resource")
                        .help(format!("refer to it as `${{{base}.ATTRIBUTE}}`"))
                }
                None => Diagnostic::error(format!("unknown resource `{base}`"))
                    .at(span, "no resource with this name")
                    .suggest(
                        base,
                        stack
                            .resources
                            .keys()
                            .map(|n| split_instance(n).0)
                            .collect::<Vec<_>>(),
                    ),
            })
        }
        Target::Resource { name, attribute } => match stack.resources.get(name) {
            None => Some(
                Diagnostic::error(format!("unknown resource `{name}`"))
                    .at(span, "no resource with this name")
                    .suggest(name, stack.resources.keys().map(String::as_str)),
            ),
            Some(decl) if !decl.schema.referable().any(|a| a == attribute) => Some(
                Diagnostic::error(format!(
                    "`{}` has no attribute `{attribute}`",
                    decl.address()
                ))
                .at(span, "unknown attribute")
                .suggest(attribute, decl.schema.referable())
                .note(format!(
                    "{} has: {}",
                    decl.type_name(),
                    decl.schema.referable().collect::<Vec<_>>().join(", ")
                )),
            ),
            Some(_) => None,
        },
        _ => None,
    }
}

/// A variable declared in the file but without a usable value (already reported).
fn declared_variable(stack: &Stack, name: &str) -> bool {
    stack.declared_variables.iter().any(|v| v == name)
}
