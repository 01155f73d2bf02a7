//! Validation: the merged document becomes a [`Stack`], or every problem in it is reported.
//! Checks the document's shape, variables, each resource against its schema, every
//! reference; the caller's own checks of the stack (its dependency graph's) join them.

use indexmap::IndexMap;

use super::check::check_attributes;
use super::expr::{
    Part, Reference, Target, evaluate, instance_name, parse_template, references, split_instance,
    substitute_each, valid_key,
};
use super::model::{
    Backend, BaseScope, ForEach, OutputDecl, ResourceDecl, Stack, VarType, Variable,
};
use super::node::{Entry, Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::{Sources, Span};
use crate::schema::Schema;
use crate::schema::rules::BUCKET_NAME;
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
const RESOURCE_META: &[&str] = &["type", "depends_on", "for_each", "moved_from"];
const VARIABLE_KEYS: &[&str] = &["type", "default", "description", "allowed", "sensitive"];
const VARIABLE_TYPES: &[&str] = &["string", "list", "table"];
const OUTPUT_KEYS: &[&str] = &["value", "description", "sensitive"];
const AWS_FACTS: &[&str] = &["account_id", "region", "partition"];

/// `derive` builds what the caller needs from the stack (`graph::load_stack`: the dependency
/// graph) and returns the problems it found there, reported with the stack's own.
pub fn validate<T>(
    document: Node,
    files: Vec<String>,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    sources: Sources,
    mut diagnostics: Vec<Diagnostic>,
    derive: impl FnOnce(&Stack) -> (T, Vec<Diagnostic>),
) -> Result<(Stack, T), (Vec<Diagnostic>, Sources)> {
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
    check_stage(top, &variables, &mut diagnostics);
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
        for_each: IndexMap::new(),
        outputs: IndexMap::new(),
        sources,
    };
    (stack.resources, stack.for_each) = resource_decls(
        top,
        schemas,
        &stack.variables,
        &stack.declared_variables,
        &mut diagnostics,
    );
    // Resources that failed to validate are still declared: references to them are not
    // reported a second time.
    let declared: Vec<String> = top
        .get("resources")
        .and_then(|e| e.node.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    stack.outputs = outputs(top, &mut diagnostics);

    check_resource_attributes(&stack, &mut diagnostics);
    check_identities(&stack, &mut diagnostics);
    check_references(&stack, &declared, &mut diagnostics);
    check_moves(&stack, &mut diagnostics);
    let (derived, found) = derive(&stack);
    diagnostics.extend(found);

    let mut unique: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
    for d in diagnostics {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    let diagnostics = unique;
    if diagnostics.is_empty() {
        Ok((stack, derived))
    } else {
        Err((diagnostics, stack.sources))
    }
}

pub(super) fn check_keys(
    table: &Table,
    allowed: &[&str],
    place: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
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
        && let Some(problem) = BUCKET_NAME.problem(bucket)
    {
        diagnostics.push(
            Diagnostic::error(format!("invalid state bucket name `{bucket}`"))
                .at(&entry.node.span, problem),
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
    let stage = variables.get("stage").and_then(|v| v.value.as_str());
    // An invalid stage is reported once, as the stage's error.
    if stage.is_some_and(|s| stage_problem(s).is_some()) {
        return None;
    }
    let key = key.and_then(|(key, entry)| match backend_key(&key, stack_name, stage) {
        Ok(key) => Some(key),
        Err(message) => {
            diagnostics.push(
                Diagnostic::error(format!("invalid state key `{key}`"))
                    .at(&entry.node.span, message)
                    .note("a state key may use `${stack.name}` and `${var.stage}` only"),
            );
            None
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

/// What is wrong with `stage` as part of a state file's name or a state key, if anything:
/// it must stay one name, never a path that leads elsewhere.
pub fn stage_problem(stage: &str) -> Option<&'static str> {
    if stage.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if stage.contains("..") {
        Some("it contains `..`")
    } else if stage.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// The stage names the state (`<stack>-<stage>.state.json`, `${var.stage}` in a state
/// key): a value that is a path is refused before anything reads or writes a state.
fn check_stage(
    top: &Table,
    variables: &IndexMap<String, Variable>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(stage) = variables.get("stage") else {
        return;
    };
    let Some(value) = stage.value.as_str() else {
        return;
    };
    let Some(problem) = stage_problem(value) else {
        return;
    };
    let default = top
        .get("variables")
        .and_then(|e| e.node.as_table())
        .and_then(|t| t.get("stage"))
        .and_then(|e| e.node.as_table())
        .and_then(|t| t.get("default"));
    let d = Diagnostic::error(format!("invalid stage `{value}`: {problem}"));
    let d = match default.filter(|_| !stage.from_command_line) {
        Some(default) => d.at(&default.node.span, "the stage names the state file"),
        None => d
            .at(&stage.span, "the stage names the state file")
            .note(format!("the value was set with --var stage={value}")),
    };
    diagnostics.push(d.help("a stage is one name such as `dev` or `prod`: no `/`, `\\` or `..`"));
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
    if out.contains('\\') || out.chars().any(char::is_control) {
        return Err("the key must not contain `\\` or control characters".into());
    }
    if out.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err("the key's parts between `/` must be names, not empty, `.` or `..`".into());
    }
    Ok(out)
}

/// Whether S3 accepts `name` for a new bucket (the rule `s3.bucket` names are checked by).
pub fn valid_bucket_name(name: &str) -> bool {
    BUCKET_NAME.problem(name).is_none()
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
        let Some(ty) = variable_type(name, decl, diagnostics) else {
            continue;
        };
        let default = decl.get("default").and_then(|e| {
            let value = typed_default(ty, &e.node);
            if value.is_none() {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "the default of variable `{name}` is not a {}",
                        ty.name()
                    ))
                    .at(
                        &e.node.span,
                        format!("expected {}, found {}", type_description(ty), e.node.kind()),
                    )
                    .help(type_help(ty)),
                );
            }
            value
        });
        let description = decl
            .get("description")
            .and_then(|e| string_at(e, "description", diagnostics));
        let sensitive = decl
            .get("sensitive")
            .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true)));
        // A message names a sensitive variable's value as this, whatever its length.
        let shown = |text: &str| {
            if sensitive {
                "(sensitive)".to_string()
            } else {
                text.to_string()
            }
        };
        let given = vars.iter().rev().find(|(k, _)| k == name);
        let from_command_line = given.is_some();
        let given = match given {
            Some((_, text)) => match parse_var(ty, text) {
                Ok(value) => Some(value),
                Err(BadVar::Items(found)) => {
                    let items = if ty == VarType::List {
                        "items"
                    } else {
                        "values"
                    };
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "--var {name}={}: the {items} of {} variable `{name}` must be strings",
                            shown(text),
                            ty.name()
                        ))
                        .at(&entry.key_span, format!("declared as a {} here", ty.name()))
                        .note(format!("found {found}"))
                        .help(format!("quote each of them: {}", var_example(ty, name))),
                    );
                    continue;
                }
                Err(bad) => {
                    let mut d = Diagnostic::error(format!(
                        "--var {name}={}: variable `{name}` is a {}",
                        shown(text),
                        ty.name()
                    ))
                    .at(&entry.key_span, format!("declared as a {} here", ty.name()));
                    if let BadVar::Shape(found) = bad {
                        d = d.note(format!("the value is {found}"));
                    }
                    diagnostics.push(d.help(format!(
                        "write {} values as TOML: {}",
                        ty.name(),
                        var_example(ty, name)
                    )));
                    continue;
                }
            },
            None => None,
        };
        let has_default = decl.contains_key("default");
        let Some(value) = given.or(default) else {
            if has_default {
                continue; // its default was reported as invalid above
            }
            diagnostics.push(
                Diagnostic::error(format!("variable `{name}` is required but has no value"))
                    .at(&entry.key_span, "declared here without a default")
                    .help(format!("pass `{}`", var_example(ty, name))),
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
            let text = value.as_str().unwrap_or_default().to_string();
            if !values.contains(&text) {
                let value = shown(&text);
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
                ty,
                sensitive,
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

/// A variable's declared type (a string when it says none); `None` when it is not one
/// strata knows (reported).
fn variable_type(name: &str, decl: &Table, diagnostics: &mut Vec<Diagnostic>) -> Option<VarType> {
    let Some(entry) = decl.get("type") else {
        return Some(VarType::String);
    };
    match entry.node.as_str() {
        Some("string") => Some(VarType::String),
        Some("list") => Some(VarType::List),
        Some("table") => Some(VarType::Table),
        written => {
            let mut d = Diagnostic::error(format!("unknown type for variable `{name}`")).at(
                &entry.node.span,
                format!(
                    "expected one of {}",
                    crate::schema::quoted_list(VARIABLE_TYPES)
                ),
            );
            if let Some(written) = written {
                d = d.suggest(written, VARIABLE_TYPES.iter().copied());
            }
            diagnostics.push(d);
            None
        }
    }
}

fn type_description(ty: VarType) -> &'static str {
    match ty {
        VarType::String => "a string",
        VarType::List => "a list of strings",
        VarType::Table => "a table of strings",
    }
}

fn type_help(ty: VarType) -> &'static str {
    match ty {
        VarType::String => {
            "write `default = \"...\"`, or declare `type = \"list\"` or `type = \"table\"`"
        }
        VarType::List => "write `default = [\"a\", \"b\"]`",
        VarType::Table => "write `default = { a = \"1\", b = \"2\" }`",
    }
}

fn var_example(ty: VarType, name: &str) -> String {
    match ty {
        VarType::String => format!("--var {name}=VALUE"),
        VarType::List => format!("--var '{name}=[\"a\", \"b\"]'"),
        VarType::Table => format!("--var '{name}={{ a = \"1\", b = \"2\" }}'"),
    }
}

/// A declaration's default as a value of its type: strings, or lists and tables of strings.
fn typed_default(ty: VarType, node: &Node) -> Option<Value> {
    match (ty, &node.value) {
        (VarType::String, NodeValue::Str(s)) => Some(Value::Str(s.clone())),
        (VarType::List, NodeValue::Array(items)) => items
            .iter()
            .map(|n| n.as_str().map(|s| Value::Str(s.to_string())))
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        (VarType::Table, NodeValue::Table(t)) => t
            .iter()
            .map(|(k, e)| {
                e.node
                    .as_str()
                    .map(|s| (k.clone(), Value::Str(s.to_string())))
            })
            .collect::<Option<IndexMap<_, _>>>()
            .map(Value::Map),
        _ => None,
    }
}

/// Why a `--var` value is not a value of its variable's type.
#[derive(Debug, PartialEq, Eq)]
pub enum BadVar {
    /// Not a TOML value (`a,b` for a list).
    Syntax,
    /// A TOML value of another kind (a table for a list): what it is.
    Shape(&'static str),
    /// A list or table with an item that is not a string: what that item is.
    Items(&'static str),
}

/// A `--var` value: a string as written; a list or table as a TOML value
/// (`["a", "b"]`, `{ a = "1" }`) whose items are strings.
pub fn parse_var(ty: VarType, text: &str) -> Result<Value, BadVar> {
    if ty == VarType::String {
        return Ok(Value::Str(text.to_string()));
    }
    let mut doc: toml::Table =
        toml::from_str(&format!("v = {text}")).map_err(|_| BadVar::Syntax)?;
    let value = doc.remove("v").ok_or(BadVar::Syntax)?;
    let string = |v: toml::Value| match v {
        toml::Value::String(s) => Ok(Value::Str(s)),
        other => Err(BadVar::Items(toml_kind(&other))),
    };
    match (ty, value) {
        (VarType::List, toml::Value::Array(items)) => items
            .into_iter()
            .map(string)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (VarType::Table, toml::Value::Table(t)) => t
            .into_iter()
            .map(|(k, v)| string(v).map(|v| (k, v)))
            .collect::<Result<IndexMap<_, _>, _>>()
            .map(Value::Map),
        (_, other) => Err(BadVar::Shape(toml_kind(&other))),
    }
}

fn toml_kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// The instances of a `for_each` resource: (key, value) pairs, from a literal list or
/// table, or from a list or table variable. `None` when it cannot be known (reported).
fn for_each_instances(
    resource: &str,
    entry: &Entry,
    variables: &IndexMap<String, Variable>,
    declared_variables: &[String],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Value)>> {
    let node = &entry.node;
    // (key, value, where it is written)
    let mut found: Vec<(String, Value, Span)> = Vec::new();
    let mut ok = true;
    match &node.value {
        NodeValue::Array(items) => {
            for item in items {
                match &item.value {
                    NodeValue::Str(s) => {
                        found.push((s.clone(), Value::Str(s.clone()), item.span.clone()))
                    }
                    _ => {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "`for_each` of `{resource}` must list strings"
                            ))
                            .at(
                                &item.span,
                                format!("expected a string, found {}", item.kind()),
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        NodeValue::Table(table) => {
            for (key, e) in table {
                let value = match &e.node.value {
                    NodeValue::Str(s) => Value::Str(s.clone()),
                    NodeValue::Int(i) => Value::Int(*i),
                    _ => {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "`for_each` of `{resource}` must map keys to strings or integers"
                            ))
                            .at(
                                &e.node.span,
                                format!("expected a string, found {}", e.node.kind()),
                            ),
                        );
                        ok = false;
                        continue;
                    }
                };
                found.push((key.clone(), value, e.key_span.clone()));
            }
        }
        NodeValue::Str(text) => {
            let mut broken = Vec::new();
            let parts = parse_template(node, text, &mut broken);
            if !broken.is_empty() {
                diagnostics.extend(broken);
                return None;
            }
            let [Part::Ref(reference)] = &parts[..] else {
                diagnostics.push(
                    Diagnostic::error(format!("`for_each` of `{resource}` must be a list or a table"))
                        .at(&node.span, "expected a list, a table or `\"${var.name}\"`, found a string")
                        .help("write `for_each = [\"a\", \"b\"]`, `{ a = \"1\" }` or `\"${var.names}\"` with a list variable"),
                );
                return None;
            };
            let Target::Var(var) = &reference.target else {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`for_each` of `{resource}` depends on a value unknown until apply"
                    ))
                    .at(&reference.span, "known only after apply")
                    .note("the instances of a resource must be known when the plan is made")
                    .help("use a list, a table, or a list or table variable"),
                );
                return None;
            };
            let Some(variable) = variables.get(var) else {
                // A declared variable without a usable value was reported with the variables.
                if declared_variables.contains(var) {
                    return None;
                }
                diagnostics.push(
                    Diagnostic::error(format!("unknown variable `{var}`"))
                        .at(&reference.span, "not declared in `[variables]`")
                        .suggest(var, variables.keys().map(String::as_str)),
                );
                return None;
            };
            if variable.sensitive {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`for_each` of `{resource}` uses sensitive variable `{var}`"
                    ))
                    .at(&reference.span, "sensitive")
                    .related(&variable.span, "declared sensitive here")
                    .note(
                        "the keys name the instances in plans and state, so they cannot be hidden",
                    ),
                );
                return None;
            }
            match &variable.value {
                Value::List(items) => {
                    for item in items {
                        let s = item.as_str().unwrap_or_default().to_string();
                        found.push((s.clone(), item.clone(), reference.span.clone()));
                    }
                }
                Value::Map(map) => {
                    for (k, v) in map {
                        found.push((k.clone(), v.clone(), reference.span.clone()));
                    }
                }
                _ => {
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "`for_each` of `{resource}` must be a list or a table"
                        ))
                        .at(&reference.span, format!("variable `{var}` is a string"))
                        .related(&variable.span, "declared here")
                        .help("declare it with `type = \"list\"` or `type = \"table\"`"),
                    );
                    return None;
                }
            }
        }
        _ => {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`for_each` of `{resource}` must be a list or a table"
                ))
                .at(
                    &node.span,
                    format!("expected a list or a table, found {}", node.kind()),
                ),
            );
            return None;
        }
    }
    let mut seen: IndexMap<String, Span> = IndexMap::new();
    for (key, _, span) in &found {
        if !valid_key(key) {
            diagnostics.push(
                Diagnostic::error(format!("invalid `for_each` key `{key}` in `{resource}`"))
                    .at(
                        span,
                        "keys name instances: not empty, without `\"`, `\\`, `$`, `{`, `}`",
                    )
                    .note(format!(
                        "the instance would be named `{}`",
                        instance_name(resource, key)
                    )),
            );
            ok = false;
        } else if let Some(first) = seen.get(key) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "duplicate key `{key}` in `for_each` of `{resource}`"
                ))
                .at(span, "this key is already used")
                .related(first, "first used here")
                .note("each key names one instance, so keys must be unique"),
            );
            ok = false;
        } else {
            seen.insert(key.clone(), span.clone());
        }
    }
    ok.then(|| found.into_iter().map(|(k, v, _)| (k, v)).collect())
}

fn resource_decls(
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
        let moved = moved_from(name, table, diagnostics);
        let attributes: IndexMap<String, Entry> = table
            .iter()
            .filter(|(k, _)| !RESOURCE_META.contains(&k.as_str()))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
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
                },
            );
        }
    }
    (out, for_each)
}

fn type_names(schemas: &[&'static Schema]) -> Vec<&'static str> {
    schemas.iter().map(|s| s.type_name).collect()
}

fn valid_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    if old == name || !valid_identifier(&old) {
        diagnostics.push(
            Diagnostic::error(format!(
                "`moved_from` of `{name}` must name its former name"
            ))
            .at(
                &entry.node.span,
                "expected another resource name: letters, digits and underscores",
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
fn check_identities(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
    let scope = validation_scope(stack);
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

/// A former name must not be a name the stack still declares, nor claimed twice.
fn check_moves(stack: &Stack, diagnostics: &mut Vec<Diagnostic>) {
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
            if !stack.resources.contains_key(name)
                && declared.iter().any(|d| d == split_instance(name).0)
                && !stack.resources.contains_key(split_instance(name).0)
                && !stack.for_each.contains_key(split_instance(name).0));
        if broken_declaration {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as a stack file with `--var` pairs: the stack, or the rendered errors.
    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Stack, String> {
        load_files(&[("stack.toml", text)], vars)
    }

    fn load_files(files: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<Stack, String> {
        crate::config::load_test_files(files, vars, |_| ((), Vec::new())).map(|(stack, ())| stack)
    }

    const QUEUES: &str = r#"
[stack]
name = "fe"

[variables.queues]
type = "list"
default = ["a", "b", "c"]

[resources.queue]
type = "sqs.queue"
for_each = "${var.queues}"
name = "${stack.name}-${each.key}"

[resources.dlq]
type = "sqs.queue"
for_each = { a = 60, b = 120 }
name = "${stack.name}-dlq-${each.key}"
visibility_timeout_seconds = "${each.value}"
depends_on = ["queue"]

[resources.main]
type = "sqs.queue"
name = "${stack.name}-main"
redrive_policy = { dead_letter_queue = '${queue["b"].arn}', max_receive_count = 3 }

[outputs]
a_arn = '${queue["a"].arn}'
"#;

    #[test]
    fn for_each_expands_a_list_variable_and_a_table_into_named_instances() {
        let stack = load(QUEUES, &[]).unwrap();
        let names: Vec<&str> = stack.resources.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "queue[\"a\"]",
                "queue[\"b\"]",
                "queue[\"c\"]",
                "dlq[\"a\"]",
                "dlq[\"b\"]",
                "main"
            ]
        );
        let name = &stack.resources["queue[\"b\"]"].attributes["name"].node;
        assert_eq!(name.as_str(), Some("${stack.name}-b"));
        let timeout = &stack.resources["dlq[\"b\"]"].attributes["visibility_timeout_seconds"];
        assert!(matches!(timeout.node.value, NodeValue::Int(120)));
        // Table values written as strings are converted where the schema wants an integer,
        // as a reference's value is; one out of range is reported.
        let text = QUEUES.replace("{ a = 60, b = 120 }", "{ a = \"60\", b = \"120\" }");
        let stack = load(&text, &[]).unwrap();
        let node = &stack.resources["dlq[\"b\"]"].attributes["visibility_timeout_seconds"].node;
        assert_eq!(node.as_str(), Some("120"));
        let text = QUEUES.replace("{ a = 60, b = 120 }", "{ a = \"60\", b = \"50000\" }");
        let err = load(&text, &[]).err().unwrap();
        assert!(
            err.contains("error: invalid value for `dlq.visibility_timeout_seconds`"),
            "{err}"
        );
        assert_eq!(stack.for_each["queue"].keys, ["a", "b", "c"]);
    }

    #[test]
    fn a_child_stack_overrides_for_each_and_explain_says_so() {
        let parent = "[stack]\nname = \"fe\"\n[resources.q]\ntype = \"sqs.queue\"\nfor_each = { a = \"1\", b = \"2\" }\nname = \"${each.key}-${each.value}\"\n";
        let child = "extends = \"parent.toml\"\n[resources.q]\nfor_each = { c = \"3\" }\n";
        let stack = load_files(&[("parent.toml", parent), ("child.toml", child)], &[]).unwrap();
        assert_eq!(stack.resources.keys().collect::<Vec<_>>(), ["q[\"c\"]"]);
        assert_eq!(
            stack.resources["q[\"c\"]"].attributes["name"].node.as_str(),
            Some("c-3")
        );
        let explained = crate::config::explain::explain(&stack);
        assert!(
            explained.contains("for_each key \"c\"")
                && explained.contains("child.toml:3 (overrides ")
                && explained.contains("parent.toml:5)"),
            "{explained}"
        );
    }

    #[test]
    fn an_instance_refers_to_the_instance_of_the_same_key() {
        let text = r#"
[stack]
name = "fe"
[resources.queue]
type = "sqs.queue"
for_each = ["a", "b"]
name = "${each.key}"
[resources.dlq]
type = "sqs.queue"
for_each = ["a", "b"]
name = "${each.key}-dlq"
redrive_policy = { dead_letter_queue = '${queue[each.key].arn}', max_receive_count = 3 }
"#;
        let stack = load(text, &[]).unwrap();
        assert!(stack.resources.contains_key("dlq[\"b\"]"));
        // Outside a for_each resource `[each.key]` is no reference.
        let text = text.replace(
            "for_each = [\"a\", \"b\"]\nname = \"${each.key}-dlq\"",
            "name = \"dlq\"",
        );
        let err = load(&text, &[]).err().unwrap();
        assert!(
            err.contains("error: `[each.key]` outside a `for_each` resource\n"),
            "{err}"
        );
        assert!(
            err.contains("= help: `each.key` is available only inside a resource with `for_each`; elsewhere, name the instance: `${queue[\"KEY\"].arn}`"),
            "{err}"
        );
        assert!(!err.contains("dot-separated"), "{err}");
    }

    #[test]
    fn a_list_var_on_the_command_line_replaces_the_default() {
        let stack = load(QUEUES, &[("queues", r#"["a", "b"]"#)]).unwrap();
        assert!(stack.resources.contains_key("queue[\"b\"]"));
        assert!(!stack.resources.contains_key("queue[\"c\"]"));
        // ... and `main` now refers to a missing instance.
        let err = load(QUEUES, &[("queues", r#"["a"]"#)]).err().unwrap();
        assert!(err.contains("error: no instance `queue[\"b\"]`"), "{err}");
        assert!(err.contains("note: `queue` has: a"), "{err}");
    }

    #[test]
    fn a_list_var_that_is_not_toml_is_refused_with_the_syntax() {
        let err = load(QUEUES, &[("queues", "a,b")]).err().unwrap();
        assert!(
            err.contains("error: --var queues=a,b: variable `queues` is a list"),
            "{err}"
        );
        assert!(err.contains(r#"--var 'queues=["a", "b"]'"#), "{err}");
        assert!(
            err.contains("could not load the stack due to 1 previous error"),
            "{err}"
        );
    }

    #[test]
    fn a_list_var_with_items_that_are_not_strings_says_so() {
        let err = load(QUEUES, &[("queues", "[1,2]")]).err().unwrap();
        assert!(
            err.contains(
                "error: --var queues=[1,2]: the items of list variable `queues` must be strings\n"
            ),
            "{err}"
        );
        assert!(err.contains("= note: found an integer\n"), "{err}");
        assert!(!err.contains("is a list"), "{err}");
        let err = load(QUEUES, &[("queues", "{ a = \"1\" }")]).err().unwrap();
        assert!(
            err.contains("error: --var queues={ a = \"1\" }: variable `queues` is a list\n"),
            "{err}"
        );
        assert!(err.contains("= note: the value is a table\n"), "{err}");
    }

    #[test]
    fn parse_var_reads_lists_and_tables_as_toml_values() {
        assert_eq!(
            parse_var(VarType::List, r#"["x","y"]"#),
            Ok(Value::List(vec![
                Value::Str("x".into()),
                Value::Str("y".into())
            ]))
        );
        assert_eq!(
            parse_var(VarType::Table, r#"{ x = "1" }"#),
            Ok(Value::Map(
                [("x".to_string(), Value::Str("1".into()))]
                    .into_iter()
                    .collect()
            ))
        );
        assert_eq!(
            parse_var(VarType::List, "[1, 2]"),
            Err(BadVar::Items("an integer"))
        );
        assert_eq!(
            parse_var(VarType::Table, "{ x = true }"),
            Err(BadVar::Items("a boolean"))
        );
        assert_eq!(
            parse_var(VarType::Table, r#"["x"]"#),
            Err(BadVar::Shape("an array"))
        );
        assert_eq!(parse_var(VarType::List, "a,b"), Err(BadVar::Syntax));
        assert_eq!(
            parse_var(VarType::String, "[x"),
            Ok(Value::Str("[x".into()))
        );
    }

    #[test]
    fn for_each_diagnostics() {
        let base = "[stack]\nname = \"fe\"\n";
        let cases: &[(&str, &str)] = &[
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = [\"a\", \"a\"]\nname = \"${each.key}\"\n",
                "duplicate key `a` in `for_each` of `q`",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nname = \"${each.value}\"\n",
                "`${each.value}` outside a `for_each` resource",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = [\"a\"]\nname = \"${each.kee}\"\n",
                "unknown `each` attribute `kee`",
            ),
            (
                "[resources.p]\ntype = \"sqs.queue\"\nname = \"p\"\n[resources.q]\ntype = \"sqs.queue\"\nfor_each = \"${p.arn}\"\nname = \"${each.key}\"\n",
                "`for_each` of `q` depends on a value unknown until apply",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = [\"a\"]\nname = \"${each.key}\"\n[outputs]\nx = \"${q.arn}\"\n",
                "`q` has `for_each`: a reference must name one of its instances",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = [\"a\"]\nname = \"${each.key}\"\n[outputs]\nx = '${q[\"b\"].arn}'\n",
                "no instance `q[\"b\"]`",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nname = \"q\"\n[outputs]\nx = '${q[\"b\"].arn}'\n",
                "`q` has no `for_each`, so no instances",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = [\"a\\\"b\"]\nname = \"${each.key}\"\n",
                "invalid `for_each` key `a\"b` in `q`",
            ),
            (
                "[resources.q]\ntype = \"sqs.queue\"\nfor_each = 3\nname = \"${each.key}\"\n",
                "`for_each` of `q` must be a list or a table",
            ),
            (
                "[variables.v]\ntype = \"list\"\ndefault = [\"a\"]\nsensitive = true\n[resources.q]\ntype = \"sqs.queue\"\nfor_each = \"${var.v}\"\nname = \"${each.key}\"\n",
                "`for_each` of `q` uses sensitive variable `v`",
            ),
            (
                "[variables.v]\ntype = \"list\"\ndefault = [\"a\"]\n[resources.q]\ntype = \"sqs.queue\"\nfor_each = \"${var.w}\"\nname = \"${each.key}\"\n",
                "unknown variable `w`",
            ),
        ];
        for (text, expected) in cases {
            let Err(err) = load(&format!("{base}{text}"), &[]) else {
                panic!("`{expected}`: the stack loaded");
            };
            assert!(
                err.contains(&format!("error: {expected}\n")),
                "expected `{expected}` in:\n{err}"
            );
            assert!(
                err.contains("due to 1 previous error"),
                "one error only for `{expected}`:\n{err}"
            );
        }
    }
}
