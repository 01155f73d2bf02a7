//! The dependency graph between resources: edges from `${...}` references and from
//! `depends_on`, cycle detection with the cycle spelled out, walk order and DOT.

pub mod build;
pub mod queue;

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::Span;
pub use build::{dot_with_data, from_stack, load_stack, load_stack_from_snapshot};
pub use queue::DependencyQueue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    Reference,
    DependsOn,
}

/// `from` depends on `to`: `to` is created first and destroyed last.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub span: Span,
    pub kind: EdgeKind,
}

#[derive(Debug, Default)]
pub struct Graph {
    /// Nodes in declaration order; each with the edges leaving it (its dependencies).
    nodes: IndexMap<String, Vec<Edge>>,
}

/// A dependency cycle, as the edges that make it.
#[derive(Debug)]
pub struct Cycle {
    pub edges: Vec<Edge>,
}

impl Cycle {
    pub fn diagnostic(&self) -> Diagnostic {
        let mut names: Vec<&str> = self.edges.iter().map(|e| e.from.as_str()).collect();
        names.push(&self.edges[0].from);
        let mut d = Diagnostic::error(format!("dependency cycle: {}", names.join(" -> ")));
        for (i, edge) in self.edges.iter().enumerate() {
            let how = match edge.kind {
                EdgeKind::Reference => "refers to",
                EdgeKind::DependsOn => "depends on",
            };
            let label = format!("`{}` {how} `{}`", edge.from, edge.to);
            d = if i == 0 {
                d.at(&edge.span, label)
            } else {
                d.related(&edge.span, label)
            };
        }
        d.help("break the cycle: one of these resources must not need the other")
    }
}

impl Graph {
    pub fn add_node(&mut self, name: &str) {
        self.nodes.entry(name.to_string()).or_default();
    }

    pub fn add_edge(&mut self, edge: Edge) {
        let edges = self.nodes.entry(edge.from.clone()).or_default();
        if !edges.iter().any(|e| e.to == edge.to) {
            edges.push(edge);
        }
    }

    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.nodes.contains_key(name)
    }

    /// What `name` depends on.
    pub fn dependencies(&self, name: &str) -> impl Iterator<Item = &str> {
        self.nodes
            .get(name)
            .into_iter()
            .flatten()
            .map(|e| e.to.as_str())
    }

    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.nodes.values().flatten()
    }

    /// Dependencies first; among nodes that are ready together, declaration order.
    pub fn order(&self) -> Result<Vec<String>, Cycle> {
        if let Some(cycle) = self.find_cycle() {
            return Err(cycle);
        }
        Ok(self.queue().into_order())
    }

    /// The graph as a queue that hands out each node once its dependencies are done.
    pub fn queue(&self) -> DependencyQueue {
        DependencyQueue::new(self.nodes.iter().map(|(name, edges)| {
            let deps: Vec<String> = edges.iter().map(|e| e.to.clone()).collect();
            (name.clone(), deps)
        }))
    }

    /// The first cycle found by a depth-first search, in declaration order.
    fn find_cycle(&self) -> Option<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks: HashMap<&str, Mark> =
            self.nodes.keys().map(|n| (n.as_str(), Mark::New)).collect();
        let mut path: Vec<&Edge> = Vec::new();

        fn visit<'a>(
            graph: &'a Graph,
            node: &'a str,
            marks: &mut HashMap<&'a str, Mark>,
            path: &mut Vec<&'a Edge>,
        ) -> Option<Vec<Edge>> {
            marks.insert(node, Mark::OnPath);
            for edge in graph.nodes.get(node).into_iter().flatten() {
                match marks.get(edge.to.as_str()).copied().unwrap_or(Mark::Done) {
                    Mark::OnPath => {
                        let start = path
                            .iter()
                            .position(|e| e.from == edge.to)
                            .unwrap_or(path.len());
                        let mut cycle: Vec<Edge> =
                            path[start..].iter().map(|e| (*e).clone()).collect();
                        cycle.push(edge.clone());
                        return Some(cycle);
                    }
                    Mark::New => {
                        path.push(edge);
                        if let Some(c) = visit(graph, &edge.to, marks, path) {
                            return Some(c);
                        }
                        path.pop();
                    }
                    Mark::Done => {}
                }
            }
            marks.insert(node, Mark::Done);
            None
        }

        for node in self.nodes.keys() {
            if marks[node.as_str()] == Mark::New
                && let Some(edges) = visit(self, node, &mut marks, &mut path)
            {
                return Some(Cycle { edges });
            }
        }
        None
    }

    /// Graphviz DOT; `label` gives each node's label (`type.name`).
    pub fn to_dot(&self, label: impl Fn(&str) -> String) -> String {
        let mut out = String::from(
            "digraph strata {\n  rankdir = \"BT\";\n  node [shape = box, fontname = \"Helvetica\"];\n",
        );
        for node in self.nodes.keys() {
            out.push_str(&format!("  {:?} [label = {:?}];\n", node, label(node)));
        }
        for edge in self.edges() {
            let style = match edge.kind {
                EdgeKind::Reference => "",
                EdgeKind::DependsOn => " [style = dashed]",
            };
            out.push_str(&format!("  {:?} -> {:?}{style};\n", edge.from, edge.to));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::source::FileId;

    fn graph(edges: &[(&str, &str)], nodes: &[&str]) -> Graph {
        let mut g = Graph::default();
        for n in nodes {
            g.add_node(n);
        }
        for (i, (from, to)) in edges.iter().enumerate() {
            g.add_edge(Edge {
                from: from.to_string(),
                to: to.to_string(),
                span: Span::new(FileId(0), i..i + 1),
                kind: EdgeKind::Reference,
            });
        }
        g
    }

    #[test]
    fn order_puts_dependencies_first_and_keeps_declaration_order() {
        let g = graph(
            &[
                ("notification", "policy"),
                ("policy", "queue"),
                ("queue", "dlq"),
            ],
            &["notification", "policy", "queue", "dlq", "bucket"],
        );
        assert_eq!(
            g.order().ok().unwrap(),
            ["dlq", "queue", "policy", "notification", "bucket"]
        );
    }

    #[test]
    fn cycle_is_spelled_out_edge_by_edge() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a")], &["x", "a", "b", "c"]);
        let Err(cycle) = g.order() else {
            panic!("expected a cycle")
        };
        let d = cycle.diagnostic();
        assert_eq!(d.message, "dependency cycle: a -> b -> c -> a");
        assert_eq!(d.related.len(), 2);
        assert_eq!(d.label, "`a` refers to `b`");
    }

    #[test]
    fn dot_lists_nodes_and_edges() {
        let g = graph(&[("a", "b")], &["a", "b"]);
        let dot = g.to_dot(|n| format!("t.{n}"));
        assert!(dot.contains("\"a\" [label = \"t.a\"];"));
        assert!(dot.contains("\"a\" -> \"b\";"));
    }
}
