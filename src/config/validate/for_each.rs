//! `for_each`: the instances of a resource, from a list, a table or a variable.

use indexmap::IndexMap;

use crate::config::expr::{Part, Target, instance_name, parse_template, valid_key};
use crate::config::model::Variable;
use crate::config::node::{Entry, NodeValue};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
use crate::value::Value;

/// The instances of a `for_each` resource: (key, value) pairs, from a literal list or
/// table, or from a list or table variable. `None` when it cannot be known (reported).
pub(crate) fn for_each_instances(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;

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
