//! `[stack]` (name, region and account pins, the stage) and `[backend]`.

use indexmap::IndexMap;

use super::{check_keys, string_at, table_at};
use crate::config::model::{Backend, Variable};
use crate::config::node::{Entry, NodeValue, Table};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
use crate::schema::rules::BUCKET_NAME;

const BACKEND_KEYS: &[&str] = &["bucket", "key", "region"];

pub(super) fn stack_name(
    top: &Table,
    document_span: &Span,
    diagnostics: &mut Vec<Diagnostic>,
) -> String {
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
pub(super) fn stack_pins(
    top: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<String>, Vec<String>) {
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
pub(super) fn backend(
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
pub(super) fn check_stage(
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

fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}
