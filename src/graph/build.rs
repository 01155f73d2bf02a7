//! The dependency graph of a stack, built from what config validated (config describes
//! what was written; the order it implies is the graph's concern), and loading a stack
//! together with its graph, its cycles reported with the stack's other problems.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Edge, EdgeKind, Graph};
use crate::config::expr::{Target, instance_name, split_instance};
use crate::config::{LoadError, Stack};
use crate::diagnostics::Diagnostic;
use crate::schema::Schema;

/// Loads and validates the stack in `path` (see [`crate::config::load_stack`]) and builds
/// its graph; a dependency cycle is reported with the stack's other problems, where it is
/// written.
pub fn load_stack(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
) -> Result<(Stack, Graph), LoadError> {
    crate::config::load_stack(path, vars, schemas, with_cycles)
}

/// [`load_stack`] from the files as `snapshot` holds them (as a saved plan recorded them).
pub fn load_stack_from_snapshot(
    path: &Path,
    vars: &[(String, String)],
    schemas: &[&'static Schema],
    snapshot: HashMap<PathBuf, String>,
) -> Result<(Stack, Graph), LoadError> {
    crate::config::load_stack_from_snapshot(path, vars, schemas, snapshot, with_cycles)
}

/// The stack's graph, and its first cycle as a diagnostic.
pub fn with_cycles(stack: &Stack) -> (Graph, Vec<Diagnostic>) {
    let graph = from_stack(stack);
    let cycle = graph.order().err().map(|cycle| cycle.diagnostic());
    (graph, cycle.into_iter().collect())
}

/// The dependency graph of a stack: an edge for each reference to another resource and
/// for each `depends_on` (on every instance of a `for_each` resource).
pub fn from_stack(stack: &Stack) -> Graph {
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
            if *target == split_instance(&decl.name).0 {
                continue;
            }
            // `depends_on` a `for_each` resource: on every instance of it.
            let targets = match stack.for_each.get(target) {
                Some(fe) => fe.keys.iter().map(|k| instance_name(target, k)).collect(),
                None if stack.resources.contains_key(target) => vec![target.clone()],
                None => Vec::new(),
            };
            for to in targets {
                graph.add_edge(Edge {
                    from: decl.name.clone(),
                    to,
                    span: span.clone(),
                    kind: EdgeKind::DependsOn,
                });
            }
        }
    }
    graph
}

/// `strata graph` of `stack`: its resources and their edges ([`Graph::to_dot`]), and its
/// data sources as ellipses, a dotted edge from each resource or data source that reads
/// one. They are not in the dependency graph: they are read before anything is planned.
pub fn dot_with_data(stack: &Stack, graph: &Graph) -> String {
    let mut dot = graph.to_dot(|name| stack.resources[name].address());
    let mut extra = String::new();
    for decl in stack.data.values() {
        let address = decl.address();
        extra.push_str(&format!(
            "  {address:?} [label = {:?}, shape = ellipse];\n",
            format!("{address} ({})", decl.source.type_name())
        ));
    }
    let readers = stack
        .resources
        .values()
        .map(|r| (r.name.clone(), &r.references))
        .chain(stack.data.values().map(|d| (d.address(), &d.references)));
    for (from, references) in readers {
        let mut read: Vec<String> = Vec::new();
        for reference in references {
            if let Target::Data { name, .. } = &reference.target
                && let Some(decl) = stack.data.get(name)
                && !read.contains(&decl.address())
            {
                read.push(decl.address());
            }
        }
        for to in read {
            extra.push_str(&format!("  {from:?} -> {to:?} [style = dotted];\n"));
        }
    }
    let end = dot.rfind('}').expect("DOT ends with `}`");
    dot.insert_str(end, &extra);
    dot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str) -> Graph {
        match crate::config::load_test_files(&[("stack.toml", text)], &[], with_cycles) {
            Ok((_, graph)) => graph,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn depends_on_a_for_each_resource_is_on_each_of_its_instances() {
        let graph = graph(
            r#"
[stack]
name = "fe"
[resources.queue]
type = "sqs.queue"
for_each = ["a", "b", "c"]
name = "${stack.name}-${each.key}"
[resources.dlq]
type = "sqs.queue"
for_each = { a = 60, b = 120 }
name = "${stack.name}-dlq-${each.key}"
depends_on = ["queue"]
[resources.main]
type = "sqs.queue"
name = "${stack.name}-main"
redrive_policy = { dead_letter_queue = '${queue["b"].arn}', max_receive_count = 3 }
"#,
        );
        let deps: Vec<&str> = graph.dependencies("dlq[\"a\"]").collect();
        assert_eq!(deps, ["queue[\"a\"]", "queue[\"b\"]", "queue[\"c\"]"]);
        let deps: Vec<&str> = graph.dependencies("main").collect();
        assert_eq!(deps, ["queue[\"b\"]"]);
    }

    #[test]
    fn an_instance_depends_on_the_instance_of_the_same_key() {
        let graph = graph(
            r#"
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
"#,
        );
        let deps: Vec<&str> = graph.dependencies("dlq[\"b\"]").collect();
        assert_eq!(deps, ["queue[\"b\"]"]);
    }

    #[test]
    fn a_cycle_is_reported_with_the_stacks_other_errors() {
        let text = "[stack]\nname = \"fe\"\n[resources.a]\ntype = \"sqs.queue\"\nname = \"a\"\ndepends_on = [\"b\"]\n[resources.b]\ntype = \"sqs.queue\"\nname = \"b\"\ndepends_on = [\"a\"]\nbogus = 1\n";
        let Err(err) = crate::config::load_test_files(&[("stack.toml", text)], &[], with_cycles)
        else {
            panic!("the stack loaded");
        };
        assert!(
            err.contains("error: dependency cycle: a -> b -> a\n"),
            "{err}"
        );
        assert!(err.contains("due to 2 previous errors"), "{err}");
    }
}
