//! The merge rule for `extends`, written down once:
//!
//! - tables merge key by key, recursively;
//! - a value the child sets wins, and remembers the parent value it overrode;
//! - arrays are replaced whole, never concatenated;
//! - a resource's `for_each` is replaced whole too, even when it is a table: the child
//!   says which instances exist;
//! - a child drops an inherited resource with `[resources.NAME] drop = true`;
//! - a child may not change the `type` of an inherited resource (drop it and declare anew).
//!
//! References are not resolved here: merging works on the text, so `${stack.name}` in an
//! inherited resource later resolves to the child's name.

use super::node::{Entry, Node, NodeValue, Table};
use crate::diagnostics::Diagnostic;

/// Merges `child` over `parent`. Both are whole documents.
pub fn merge_documents(parent: Node, child: Node, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let (NodeValue::Table(mut parent_table), NodeValue::Table(child_table)) =
        (parent.value, child.value)
    else {
        unreachable!("documents are tables")
    };
    parent_table.shift_remove("extends");
    let mut merged = Table::new();
    let mut child_table = child_table;
    child_table.shift_remove("extends");

    // Keep the parent's key order, then the child's new keys: explain output reads top-down.
    for (key, parent_entry) in parent_table {
        match child_table.shift_remove(&key) {
            Some(child_entry) if key == "resources" => {
                let entry = merge_resources(parent_entry, child_entry, diagnostics);
                merged.insert(key, entry);
            }
            Some(child_entry) => {
                merged.insert(key, merge_entry(parent_entry, child_entry));
            }
            None => {
                merged.insert(key, parent_entry);
            }
        }
    }
    for (key, child_entry) in child_table {
        if key == "resources" {
            let entry = strip_drops(child_entry, diagnostics);
            merged.insert(key, entry);
        } else {
            merged.insert(key, child_entry);
        }
    }
    Node::new(NodeValue::Table(merged), child.span)
}

/// The root file of a chain goes through the same `drop` check: there is nothing to drop.
pub fn check_root(document: Node, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let NodeValue::Table(mut table) = document.value else {
        unreachable!("documents are tables")
    };
    table.shift_remove("extends");
    if let Some(entry) = table.shift_remove("resources") {
        let entry = strip_drops(entry, diagnostics);
        table.insert("resources".into(), entry);
    }
    Node::new(NodeValue::Table(table), document.span)
}

fn merge_resources(parent: Entry, child: Entry, diagnostics: &mut Vec<Diagnostic>) -> Entry {
    let (NodeValue::Table(parent_resources), NodeValue::Table(child_resources)) =
        (&parent.node.value, &child.node.value)
    else {
        // A non-table `resources` is reported by validation; the child's value wins.
        return child;
    };
    let mut merged = parent_resources.clone();
    for (name, child_res) in child_resources {
        if is_drop(&child_res.node) {
            if merged.shift_remove(name).is_none() {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "cannot drop resource `{name}`: no parent declares it"
                    ))
                    .at(&child_res.key_span, "dropped here")
                    .suggest(name, parent_resources.keys().map(String::as_str)),
                );
            }
            continue;
        }
        match merged.shift_remove(name) {
            Some(parent_res) => {
                if let Some(conflict) = type_change(name, &parent_res, child_res) {
                    diagnostics.push(conflict);
                }
                let child_for_each = child_res
                    .node
                    .as_table()
                    .and_then(|t| t.get("for_each"))
                    .cloned();
                let parent_for_each = parent_res
                    .node
                    .as_table()
                    .and_then(|t| t.get("for_each"))
                    .map(|e| e.node.span.clone());
                let mut entry = merge_entry(parent_res, child_res.clone());
                if let (Some(mut for_each), NodeValue::Table(table)) =
                    (child_for_each, &mut entry.node.value)
                {
                    for_each.node.overrides = parent_for_each;
                    table.insert("for_each".into(), for_each);
                }
                merged.insert(name.clone(), entry);
            }
            None => {
                merged.insert(name.clone(), child_res.clone());
            }
        }
    }
    Entry {
        key_span: child.key_span,
        node: Node::new(NodeValue::Table(merged), child.node.span),
    }
}

fn strip_drops(entry: Entry, diagnostics: &mut Vec<Diagnostic>) -> Entry {
    let NodeValue::Table(resources) = &entry.node.value else {
        return entry;
    };
    let mut kept = Table::new();
    for (name, res) in resources {
        if is_drop(&res.node) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "cannot drop resource `{name}`: this stack extends no parent"
                ))
                .at(&res.key_span, "dropped here")
                .help("remove the resource instead of dropping it"),
            );
        } else {
            kept.insert(name.clone(), res.clone());
        }
    }
    Entry {
        key_span: entry.key_span,
        node: Node::new(NodeValue::Table(kept), entry.node.span),
    }
}

/// `drop = true` marks a resource the child removes from the merged stack.
fn is_drop(node: &Node) -> bool {
    node.as_table()
        .and_then(|t| t.get("drop"))
        .is_some_and(|e| matches!(e.node.value, NodeValue::Bool(true)))
}

fn type_change(name: &str, parent: &Entry, child: &Entry) -> Option<Diagnostic> {
    let parent_type = parent.node.as_table()?.get("type")?;
    let child_type = child.node.as_table()?.get("type")?;
    let (p, c) = (parent_type.node.as_str()?, child_type.node.as_str()?);
    (p != c).then(|| {
        Diagnostic::error(format!(
            "a child stack cannot change the type of inherited resource `{name}` from `{p}` to `{c}`"
        ))
        .at(&child_type.node.span, "type changed here")
        .related(&parent_type.node.span, "declared here")
        .help(
            "drop the inherited resource (`drop = true`) and declare a new one under another name",
        )
    })
}

fn merge_entry(parent: Entry, child: Entry) -> Entry {
    Entry {
        key_span: child.key_span,
        node: merge_node(parent.node, child.node),
    }
}

fn merge_node(parent: Node, child: Node) -> Node {
    match (parent.value, child.value) {
        (NodeValue::Table(parent_table), NodeValue::Table(child_table)) => {
            let mut merged = parent_table;
            for (key, child_entry) in child_table {
                let entry = match merged.shift_remove(&key) {
                    Some(parent_entry) => merge_entry(parent_entry, child_entry),
                    None => child_entry,
                };
                merged.insert(key, entry);
            }
            Node::new(NodeValue::Table(merged), child.span)
        }
        (_, value) => Node {
            value,
            span: child.span,
            overrides: Some(parent.span),
            from_each: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::source::{FileId, Span};

    fn doc(file: usize, text: &str) -> Node {
        let table: toml::Table = toml::from_str(text).unwrap();
        node_from(&toml::Value::Table(table), FileId(file))
    }

    fn node_from(v: &toml::Value, file: FileId) -> Node {
        let span = Span::new(file, 0..0);
        let value = match v {
            toml::Value::String(s) => NodeValue::Str(s.clone()),
            toml::Value::Integer(i) => NodeValue::Int(*i),
            toml::Value::Boolean(b) => NodeValue::Bool(*b),
            toml::Value::Array(a) => {
                NodeValue::Array(a.iter().map(|v| node_from(v, file)).collect())
            }
            toml::Value::Table(t) => NodeValue::Table(
                t.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Entry {
                                key_span: span.clone(),
                                node: node_from(v, file),
                            },
                        )
                    })
                    .collect(),
            ),
            other => panic!("unused in tests: {other:?}"),
        };
        Node::new(value, span)
    }

    fn get<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
        path.iter()
            .try_fold(node, |n, key| n.as_table()?.get(*key).map(|e| &e.node))
    }

    #[test]
    fn child_value_wins_and_remembers_the_parent() {
        let parent = doc(
            0,
            "[resources.q]\ntype = \"sqs.queue\"\nname = \"a\"\ndelay_seconds = 1\n",
        );
        let child = doc(
            1,
            "extends = \"p.toml\"\n[resources.q]\ndelay_seconds = 5\n",
        );
        let mut diags = Vec::new();
        let merged = merge_documents(parent, child, &mut diags);
        assert!(diags.is_empty());
        let delay = get(&merged, &["resources", "q", "delay_seconds"]).unwrap();
        assert!(matches!(delay.value, NodeValue::Int(5)));
        assert_eq!(delay.span.file, FileId(1));
        assert_eq!(delay.overrides.as_ref().unwrap().file, FileId(0));
        let name = get(&merged, &["resources", "q", "name"]).unwrap();
        assert_eq!(name.span.file, FileId(0), "omitted is inherited");
        assert!(get(&merged, &["extends"]).is_none());
    }

    #[test]
    fn a_child_replaces_for_each_whole() {
        let parent = doc(
            0,
            "[resources.q]\ntype = \"sqs.queue\"\nfor_each = { a = \"1\", b = \"2\" }\n",
        );
        let child = doc(1, "[resources.q]\nfor_each = { c = \"3\" }\n");
        let mut diags = Vec::new();
        let merged = merge_documents(parent, child, &mut diags);
        let NodeValue::Table(keys) = &get(&merged, &["resources", "q", "for_each"]).unwrap().value
        else {
            panic!("for_each is a table")
        };
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn tables_merge_recursively_and_arrays_are_replaced() {
        let parent = doc(
            0,
            "[resources.q]\ntags = { a = \"1\", b = \"2\" }\nlist = [1, 2, 3]\n",
        );
        let child = doc(1, "[resources.q]\ntags = { b = \"x\" }\nlist = [9]\n");
        let merged = merge_documents(parent, child, &mut Vec::new());
        let tags = get(&merged, &["resources", "q", "tags"])
            .unwrap()
            .as_table()
            .unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["a"].node.as_str(), Some("1"));
        assert_eq!(tags["b"].node.as_str(), Some("x"));
        let NodeValue::Array(list) = &get(&merged, &["resources", "q", "list"]).unwrap().value
        else {
            panic!()
        };
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn drop_removes_an_inherited_resource() {
        let parent = doc(
            0,
            "[resources.a]\ntype = \"sqs.queue\"\n[resources.b]\ntype = \"sqs.queue\"\n",
        );
        let child = doc(1, "[resources.a]\ndrop = true\n");
        let mut diags = Vec::new();
        let merged = merge_documents(parent, child, &mut diags);
        assert!(diags.is_empty());
        let resources = get(&merged, &["resources"]).unwrap().as_table().unwrap();
        assert_eq!(resources.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn dropping_an_unknown_resource_is_an_error_with_a_suggestion() {
        let parent = doc(0, "[resources.queue]\ntype = \"sqs.queue\"\n");
        let child = doc(1, "[resources.quue]\ndrop = true\n");
        let mut diags = Vec::new();
        merge_documents(parent, child, &mut diags);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "cannot drop resource `quue`: no parent declares it"
        );
        assert_eq!(diags[0].notes, ["help: did you mean `queue`?"]);
    }

    #[test]
    fn changing_an_inherited_type_is_an_error() {
        let parent = doc(0, "[resources.a]\ntype = \"sqs.queue\"\n");
        let child = doc(1, "[resources.a]\ntype = \"s3.bucket\"\n");
        let mut diags = Vec::new();
        merge_documents(parent, child, &mut diags);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("from `sqs.queue` to `s3.bucket`"));
    }
}
