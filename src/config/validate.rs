//! Validation: the merged document becomes a [`Stack`], or every problem in it is reported.
//! Checks the document's shape, variables, each resource against its schema, every
//! reference, and the dependency graph.

use indexmap::IndexMap;

use super::check::check_attributes;
use super::expr::{Reference, Target, evaluate, references};
use super::model::{Backend, BaseScope, OutputDecl, ResourceDecl, Stack, Variable};
use super::node::{Entry, Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::{Sources, Span};
use crate::graph::{Edge, EdgeKind, Graph};
use crate::schema::Schema;
use crate::value::Value;

const TOP_LEVEL: &[&str] = &[
    "extends",
    "stack",
    "backend",
    "variables",
    "resources",
    "outputs",
];
const BACKEND_KEYS: &[&str] = &["bucket", "key", "region"];
const RESOURCE_META: &[&str] = &["type", "depends_on"];
const VARIABLE_KEYS: &[&str] = &["default", "description", "allowed", "sensitive"];
const OUTPUT_KEYS: &[&str] = &["value", "description", "sensitive"];
const AWS_FACTS: &[&str] = &["account_id", "region", "partition"];

pub fn validate(
    document: Node,
    files: Vec<String>,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    sources: Sources,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Stack, (Vec<Diagnostic>, Sources)> {
    let empty = Table::new();
    let top = document.as_table().unwrap_or(&empty);
    check_keys(
        top,
        TOP_LEVEL,
        "at the top of a stack file",
        &mut diagnostics,
    );

    let name = stack_name(top, &document.span, &mut diagnostics);
    let (region, allowed_account_ids) = stack_pins(top, &mut diagnostics);
    let variables = variables(top, vars, &mut diagnostics);
    let backend = backend(top, &name, &variables, &mut diagnostics);
    let declared_variables = top
        .get("variables")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let mut stack = Stack {
        name,
        region,
        allowed_account_ids,
        backend,
        files,
        variables,
        declared_variables,
        resources: IndexMap::new(),
        outputs: IndexMap::new(),
        graph: Graph::default(),
        sources,
    };
    stack.resources = resource_decls(top, schemas, &mut diagnostics);
    // Resources that failed to validate are still declared: references to them are not
    // reported a second time.
    let declared: Vec<String> = top
        .get("resources")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    stack.outputs = outputs(top, &mut diagnostics);

    check_resource_attributes(&stack, &mut diagnostics);
    check_references(&stack, &declared, &mut diagnostics);
    stack.graph = build_graph(&stack);
    if let Err(cycle) = stack.graph.order() {
        diagnostics.push(cycle.diagnostic());
    }

    if diagnostics.is_empty() {
        Ok(stack)
    } else {
        Err((diagnostics, stack.sources))
    }
}

fn check_keys(table: &Table, allowed: &[&str], place: &str, diagnostics: &mut Vec<Diagnostic>) {
    for (key, entry) in table {
        if !allowed.contains(&key.as_str()) {
            diagnostics.push(
                Diagnostic::error(format!("unknown key `{key}` {place}"))
                    .at(
                        &entry.key_span,
                        format!("expected one of {}", crate::schema::quoted_list(allowed)),
                    )
                    .suggest(key, allowed.iter().copied()),
            );
        }
    }
}

/// The table under `key`, or an error if it is something else.
fn table_at<'a>(
    table: &'a Table,
    key: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'a Table> {
    let entry = table.get(key)?;
    match &entry.node.value {
        NodeValue::Table(t) => Some(t),
        _ => {
            diagnostics.push(Diagnostic::error(format!("`{key}` must be a table")).at(
                &entry.node.span,
                format!("expected a table, found {}", entry.node.kind()),
            ));
            None
        }
    }
}

fn string_at(entry: &Entry, what: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match &entry.node.value {
        NodeValue::Str(s) => Some(s.clone()),
        _ => {
            diagnostics.push(Diagnostic::error(format!("`{what}` must be a string")).at(
                &entry.node.span,
                format!("expected a string, found {}", entry.node.kind()),
            ));
            None
        }
    }
}

fn stack_name(top: &Table, document_span: &Span, diagnostics: &mut Vec<Diagnostic>) -> String {
    let Some(stack) = table_at(top, "stack", diagnostics) else {
        if !top.contains_key("stack") {
            diagnostics.push(
                Diagnostic::error("missing `[stack]` table")
                    .at(&Span::new(document_span.file, 0..0), "a stack needs a name")
                    .help("add `[stack]` with `name = \"my-stack\"`"),
            );
        }
        return String::new();
    };
    check_keys(
        stack,
        &["name", "description", "region", "allowed_account_ids"],
        "in `[stack]`",
        diagnostics,
    );
    let Some(entry) = stack.get("name") else {
        let span = &top["stack"].key_span;
        diagnostics.push(
            Diagnostic::error("missing `name` in `[stack]`").at(span, "add `name = \"...\"` here"),
        );
        return String::new();
    };
    let name = string_at(entry, "stack.name", diagnostics).unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !valid && matches!(entry.node.value, NodeValue::Str(_)) {
        diagnostics.push(
            Diagnostic::error(format!("invalid stack name `{name}`"))
                .at(
                    &entry.node.span,
                    "expected lowercase letters, digits and hyphens, starting with a letter",
                )
                .note("the name becomes part of AWS resource names and of the state file's name"),
        );
    }
    name
}

/// `[stack] region` and `allowed_account_ids`, Terraform's provider pins: where the stack
/// may be deployed.
fn stack_pins(top: &Table, diagnostics: &mut Vec<Diagnostic>) -> (Option<String>, Vec<String>) {
    let Some(stack) = top.get("stack").and_then(|e| e.node.as_table()) else {
        return (None, Vec::new());
    };
    let region = stack.get("region").and_then(|entry| {
        let region = string_at(entry, "stack.region", diagnostics)?;
        let parts: Vec<&str> = region.split('-').collect();
        let valid = parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].parse::<u8>().is_ok();
        if !valid {
            diagnostics.push(Diagnostic::error(format!("invalid region `{region}`")).at(
                &entry.node.span,
                "expected an AWS region such as `eu-west-1`",
            ));
            return None;
        }
        Some(region)
    });
    let mut accounts = Vec::new();
    if let Some(entry) = stack.get("allowed_account_ids") {
        match &entry.node.value {
            NodeValue::Array(items) => {
                for item in items {
                    match &item.value {
                        NodeValue::Str(id)
                            if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) =>
                        {
                            accounts.push(id.clone())
                        }
                        _ => diagnostics.push(
                            Diagnostic::error("invalid account id in `allowed_account_ids`")
                                .at(&item.span, "expected a 12-digit account id, as a string"),
                        ),
                    }
                }
            }
            _ => diagnostics.push(
                Diagnostic::error("`stack.allowed_account_ids` must be a list").at(
                    &entry.node.span,
                    format!(
                        "expected a list of account ids, found {}",
                        entry.node.kind()
                    ),
                ),
            ),
        }
    }
    (region, accounts)
}

/// `[backend] s3 = { bucket = "...", key = "...", region = "..." }`.
fn backend(
    top: &Table,
    stack_name: &str,
    variables: &IndexMap<String, Variable>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Backend> {
    let backend = table_at(top, "backend", diagnostics)?;
    check_keys(backend, &["s3"], "in `[backend]`", diagnostics);
    let entry = backend.get("s3")?;
    let Some(s3) = entry.node.as_table() else {
        diagnostics.push(Diagnostic::error("`backend.s3` must be a table").at(
            &entry.node.span,
            format!(
                "expected `{{ bucket = \"...\", key = \"...\" }}`, found {}",
                entry.node.kind()
            ),
        ));
        return None;
    };
    check_keys(s3, BACKEND_KEYS, "in `backend.s3`", diagnostics);
    let mut field = |name: &str| -> Option<(String, &Entry)> {
        let entry = s3.get(name)?;
        Some((
            string_at(entry, &format!("backend.s3.{name}"), diagnostics)?,
            entry,
        ))
    };
    let bucket = field("bucket");
    let key = field("key");
    let region = field("region");
    let mut ok = true;
    for (name, found) in [("bucket", bucket.is_some()), ("key", key.is_some())] {
        if !found && !s3.contains_key(name) {
            diagnostics.push(
                Diagnostic::error(format!("missing `{name}` in `backend.s3`"))
                    .at(&entry.key_span, format!("add `{name} = \"...\"`")),
            );
        }
        ok &= found;
    }
    if let Some((bucket, entry)) = &bucket
        && !valid_bucket_name(bucket)
    {
        diagnostics.push(
            Diagnostic::error(format!("invalid state bucket name `{bucket}`")).at(
                &entry.node.span,
                "expected 3-63 lowercase letters, digits, dots and hyphens",
            ),
        );
        ok = false;
    }
    if let Some((region, entry)) = &region
        && !valid_region(region)
    {
        diagnostics.push(Diagnostic::error(format!("invalid region `{region}`")).at(
            &entry.node.span,
            "expected an AWS region such as `eu-west-1`",
        ));
        ok = false;
    }
    let key = key.and_then(|(key, entry)| {
        let stage = variables.get("stage").map(|v| v.value.as_str());
        match backend_key(&key, stack_name, stage) {
            Ok(key) => Some(key),
            Err(message) => {
                diagnostics.push(
                    Diagnostic::error(format!("invalid state key `{key}`"))
                        .at(&entry.node.span, message)
                        .note("a state key may use `${stack.name}` and `${var.stage}` only"),
                );
                None
            }
        }
    });
    if !ok {
        return None;
    }
    Some(Backend {
        bucket: bucket?.0,
        key: key?,
        region: region.map(|(r, _)| r),
    })
}

/// Replaces `${stack.name}` and `${var.stage}` in a state key; anything else in `${...}`
/// is refused (the key must be known before any AWS call or resource).
pub fn backend_key(key: &str, stack_name: &str, stage: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = key;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err("an unclosed `${`".into());
        };
        let reference = rest[start + 2..start + end].trim();
        match reference {
            "stack.name" => out.push_str(stack_name),
            "var.stage" => match stage {
                Some(stage) => out.push_str(stage),
                None => return Err("`${var.stage}` needs a `stage` variable".into()),
            },
            other => return Err(format!("`${{{other}}}` cannot be used in a state key")),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let out = out.trim_start_matches('/').to_string();
    if out.is_empty() || out.ends_with('/') {
        return Err("the key must name an object (not empty, not ending with `/`)".into());
    }
    Ok(out)
}

pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn variables(
    top: &Table,
    vars: &[(String, String)],
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, Variable> {
    let mut out = IndexMap::new();
    let empty = Table::new();
    let declared = table_at(top, "variables", diagnostics).unwrap_or(&empty);
    for (name, entry) in declared {
        let NodeValue::Table(decl) = &entry.node.value else {
            diagnostics.push(
                Diagnostic::error(format!("variable `{name}` must be a table"))
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help(format!(
                        "write `[variables.{name}]` with `default = \"...\"`"
                    )),
            );
            continue;
        };
        check_keys(
            decl,
            VARIABLE_KEYS,
            &format!("in variable `{name}`"),
            diagnostics,
        );
        let default = decl
            .get("default")
            .and_then(|e| string_at(e, &format!("variables.{name}.default"), diagnostics));
        let description = decl
            .get("description")
            .and_then(|e| string_at(e, "description", diagnostics));
        let given = vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        let from_command_line = given.is_some();
        let has_default = decl.contains_key("default");
        let Some(value) = given.or(default) else {
            if has_default {
                continue; // its default was reported as invalid above
            }
            diagnostics.push(
                Diagnostic::error(format!("variable `{name}` is required but has no value"))
                    .at(&entry.key_span, "declared here without a default")
                    .help(format!("pass `--var {name}=VALUE`")),
            );
            continue;
        };
        if let Some(allowed) = decl.get("allowed") {
            let values: Vec<String> = match &allowed.node.value {
                NodeValue::Array(items) => items
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            if !values.contains(&value) {
                let allowed_list = crate::schema::quoted_list(
                    &values.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                let mut d = Diagnostic::error(format!(
                    "variable `{name}` is `{value}`, which is not allowed"
                ));
                d = match decl.get("default").filter(|_| !from_command_line) {
                    Some(default) => d
                        .at(
                            &default.node.span,
                            format!("expected one of {allowed_list}"),
                        )
                        .related(&allowed.node.span, "allowed values"),
                    None => d
                        .at(&allowed.node.span, format!("allowed: {allowed_list}"))
                        .note("the value was set with --var"),
                };
                diagnostics.push(d);
            }
        }
        out.insert(
            name.clone(),
            Variable {
                value,
                sensitive: decl
                    .get("sensitive")
                    .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true))),
                description,
                from_command_line,
                span: entry.key_span.clone(),
            },
        );
    }
    for (name, _) in vars {
        if !declared.contains_key(name) {
            diagnostics.push(
                Diagnostic::error(format!("unknown variable `{name}` set with --var"))
                    .note(format!(
                        "this stack declares: {}",
                        if declared.is_empty() {
                            "no variables".to_string()
                        } else {
                            declared.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ))
                    .suggest(name, declared.keys().map(String::as_str)),
            );
        }
    }
    out
}

fn resource_decls(
    top: &Table,
    schemas: &[&'static Schema],
    diagnostics: &mut Vec<Diagnostic>,
) -> IndexMap<String, ResourceDecl> {
    let mut out = IndexMap::new();
    let Some(resources) = table_at(top, "resources", diagnostics) else {
        return out;
    };
    for (name, entry) in resources {
        if !valid_identifier(name) {
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
        let Some(schema) = schemas.iter().copied().find(|s| s.type_name == type_name) else {
            diagnostics.push(
                Diagnostic::error(format!("unknown resource type `{type_name}`"))
                    .at(&type_entry.node.span, "not a resource type strata knows")
                    .suggest(&type_name, type_names(schemas))
                    .note(format!("known types: {}", type_names(schemas).join(", "))),
            );
            continue;
        };
        let depends_on = depends_on(table, diagnostics);
        let attributes: IndexMap<String, Entry> = table
            .iter()
            .filter(|(k, _)| !RESOURCE_META.contains(&k.as_str()))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let mut refs = Vec::new();
        for attr in attributes.values() {
            refs.extend(references(&attr.node, diagnostics));
        }
        out.insert(
            name.clone(),
            ResourceDecl {
                name: name.clone(),
                schema,
                span: entry.key_span.clone(),
                attributes,
                depends_on,
                references: refs,
            },
        );
    }
    out
}

fn type_names(schemas: &[&'static Schema]) -> Vec<&'static str> {
    schemas.iter().map(|s| s.type_name).collect()
}

fn valid_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn depends_on(table: &Table, diagnostics: &mut Vec<Diagnostic>) -> Vec<(String, Span)> {
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

fn outputs(top: &Table, diagnostics: &mut Vec<Diagnostic>) -> IndexMap<String, OutputDecl> {
    let mut out = IndexMap::new();
    let Some(outputs) = table_at(top, "outputs", diagnostics) else {
        return out;
    };
    for (name, entry) in outputs {
        let decl = match &entry.node.value {
            NodeValue::Table(t) => {
                check_keys(t, OUTPUT_KEYS, &format!("in output `{name}`"), diagnostics);
                let Some(value) = t.get("value") else {
                    diagnostics.push(
                        Diagnostic::error(format!("output `{name}` has no `value`"))
                            .at(&entry.key_span, "add `value = \"${resource.attribute}\"`"),
                    );
                    continue;
                };
                OutputDecl {
                    name: name.clone(),
                    value: value.node.clone(),
                    description: t
                        .get("description")
                        .and_then(|e| string_at(e, "description", diagnostics)),
                    sensitive: t
                        .get("sensitive")
                        .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true))),
                }
            }
            _ => OutputDecl {
                name: name.clone(),
                value: entry.node.clone(),
                description: None,
                sensitive: false,
            },
        };
        out.insert(name.clone(), decl);
    }
    out
}

/// Checks attributes against schemas with what is known before any AWS call: variables,
/// the stack name, and literal attributes of other resources.
fn check_resource_attributes(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
    let scope = validation_scope(stack);
    for decl in stack.resources.values() {
        let entries: Vec<_> = decl
            .attributes
            .iter()
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        check_attributes(
            decl.schema,
            &decl.name,
            &entries,
            &decl.span,
            &scope,
            diagnostics,
        );
    }
}

/// The scope used while validating: AWS facts and computed attributes are unknown.
pub fn validation_scope(stack: &Stack) -> BaseScope<'_, impl Fn(&str, &str) -> Value + '_> {
    BaseScope {
        stack,
        account_id: None,
        region: None,
        partition: None,
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
                account_id: None,
                region: None,
                partition: None,
                resources: |_: &str, _: &str| Value::Unknown,
            };
            evaluate(&entry.node, &inner)
        },
    }
}

fn check_references(stack: &Stack, declared: &[String], diagnostics: &mut Vec<Diagnostic>) {
    let output_refs: Vec<Reference> = stack
        .outputs
        .values()
        .flat_map(|o| references(&o.value, diagnostics))
        .collect();
    let all = stack
        .resources
        .values()
        .flat_map(|r| r.references.iter())
        .chain(output_refs.iter());
    for reference in all {
        let broken_declaration = matches!(&reference.target, Target::Resource { name, .. }
            if !stack.resources.contains_key(name) && declared.contains(name));
        if broken_declaration {
            continue;
        }
        if let Some(d) = check_reference(stack, reference) {
            diagnostics.push(d);
        }
    }
    for decl in stack.resources.values() {
        for (target, span) in &decl.depends_on {
            if !stack.resources.contains_key(target) && declared.contains(target) {
                continue;
            } else if !stack.resources.contains_key(target) {
                diagnostics.push(
                    Diagnostic::error(format!("`depends_on` names unknown resource `{target}`"))
                        .at(span, "no resource with this name")
                        .suggest(target, stack.resources.keys().map(String::as_str)),
                );
            } else if *target == decl.name {
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

fn build_graph(stack: &Stack) -> Graph {
    let mut graph = Graph::default();
    for name in stack.resources.keys() {
        graph.add_node(name);
    }
    for decl in stack.resources.values() {
        for reference in &decl.references {
            if let Target::Resource { name, .. } = &reference.target
                && stack.resources.contains_key(name)
            {
                graph.add_edge(Edge {
                    from: decl.name.clone(),
                    to: name.clone(),
                    span: reference.span.clone(),
                    kind: EdgeKind::Reference,
                });
            }
        }
        for (target, span) in &decl.depends_on {
            if stack.resources.contains_key(target) && *target != decl.name {
                graph.add_edge(Edge {
                    from: decl.name.clone(),
                    to: target.clone(),
                    span: span.clone(),
                    kind: EdgeKind::DependsOn,
                });
            }
        }
    }
    graph
}

/// A variable declared in the file but without a usable value (already reported).
fn declared_variable(stack: &Stack, name: &str) -> bool {
    stack.declared_variables.iter().any(|v| v == name)
}
