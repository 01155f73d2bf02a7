//! The one dependency-ordering engine: a queue that hands out nodes whose dependencies are
//! all finished (cargo's DependencyQueue). It orders validate's listing, drives apply's walk
//! and, built over reversed edges, destroy's. Each finish or failure costs only the edges
//! of that node, so a whole walk is O((n + e) log n).

use std::collections::{BTreeSet, HashMap};

/// Nodes waiting on their dependencies. Among nodes ready together, the one added first
/// comes first, so orders and progress output are stable.
#[derive(Debug, Default)]
pub struct DependencyQueue {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// How many unfinished dependencies each node still waits for.
    waiting_on: Vec<usize>,
    /// Who waits for each node.
    dependents: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
    /// Handed out, finished, failed or skipped: no longer waiting.
    gone: Vec<bool>,
    pending: usize,
}

impl DependencyQueue {
    /// `nodes` in their preferred order, each with what it waits for. A dependency that is
    /// not itself a node is taken as already satisfied.
    pub fn new<N, D>(nodes: N) -> DependencyQueue
    where
        N: IntoIterator<Item = (String, D)>,
        D: IntoIterator<Item = String>,
    {
        let nodes: Vec<(String, D)> = nodes.into_iter().collect();
        let mut queue = DependencyQueue::default();
        for (name, _) in &nodes {
            if !queue.index.contains_key(name) {
                queue.index.insert(name.clone(), queue.names.len());
                queue.names.push(name.clone());
            }
        }
        let n = queue.names.len();
        queue.waiting_on = vec![0; n];
        queue.dependents = vec![Vec::new(); n];
        queue.gone = vec![false; n];
        queue.pending = n;
        for (name, deps) in nodes {
            let node = queue.index[&name];
            let mut seen = BTreeSet::new();
            for dep in deps {
                if let Some(&d) = queue.index.get(&dep)
                    && d != node
                    && seen.insert(d)
                {
                    queue.waiting_on[node] += 1;
                    queue.dependents[d].push(node);
                }
            }
        }
        queue.ready = (0..n).filter(|&i| queue.waiting_on[i] == 0).collect();
        queue
    }

    /// The next node whose dependencies are all finished, if any is ready now.
    pub fn pop_ready(&mut self) -> Option<String> {
        let next = self.ready.pop_first()?;
        self.gone[next] = true;
        Some(self.names[next].clone())
    }

    /// `name` finished: what waited only on it becomes ready.
    pub fn finish(&mut self, name: &str) {
        let Some(&node) = self.index.get(name) else {
            return;
        };
        self.pending -= 1;
        for &d in &self.dependents[node] {
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 && !self.gone[d] {
                self.ready.insert(d);
            }
        }
    }

    /// `name` failed: everything that waits on it, directly or not, will never run.
    /// Returns those nodes, each with the node it was blocked by, and removes them.
    pub fn fail(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(&node) = self.index.get(name) else {
            return Vec::new();
        };
        self.pending -= 1;
        let mut blocked = Vec::new();
        let mut stack = vec![node];
        while let Some(b) = stack.pop() {
            for &d in &self.dependents[b] {
                if !self.gone[d] {
                    self.gone[d] = true;
                    self.ready.remove(&d);
                    self.pending -= 1;
                    blocked.push((self.names[d].clone(), self.names[b].clone()));
                    stack.push(d);
                }
            }
        }
        blocked
    }

    /// Takes every node not yet handed out (ready or waiting), in their order: for a walk
    /// that stops early.
    pub fn drain(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        for i in 0..self.names.len() {
            if !self.gone[i] {
                self.gone[i] = true;
                self.pending -= 1;
                left.push(self.names[i].clone());
            }
        }
        self.ready.clear();
        left
    }

    /// Nodes neither finished, failed, skipped nor drained (handed-out ones count until
    /// they finish).
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Every node in an order where each comes after what it waits for; the nodes left in
    /// a cycle come last, in their own order.
    pub fn into_order(mut self) -> Vec<String> {
        let mut order = Vec::with_capacity(self.names.len());
        loop {
            while let Some(name) = self.pop_ready() {
                self.finish(&name);
                order.push(name);
            }
            if self.pending == 0 {
                return order;
            }
            // Only a cycle is left: release its first node and go on.
            let first = (0..self.names.len())
                .find(|&i| !self.gone[i])
                .expect("pending nodes exist");
            self.waiting_on[first] = 0;
            self.ready.insert(first);
        }
    }
}

/// A queue from `(node, what it waits for)` pairs, for tests.
#[cfg(test)]
pub fn queue(nodes: &[(&str, &[&str])]) -> DependencyQueue {
    DependencyQueue::new(
        nodes
            .iter()
            .map(|(n, deps)| (n.to_string(), deps.iter().map(|d| d.to_string()))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_ties_keep_the_given_order() {
        let q = queue(&[("app", &["role", "bucket"]), ("bucket", &[]), ("role", &[])]);
        assert_eq!(q.into_order(), ["bucket", "role", "app"]);
    }

    #[test]
    fn a_node_is_ready_only_when_all_it_waits_for_finished() {
        let mut q = queue(&[("a", &[]), ("b", &[]), ("c", &["a", "b"]), ("x", &["gone"])]);
        assert_eq!(q.pop_ready().as_deref(), Some("a"));
        assert_eq!(q.pop_ready().as_deref(), Some("b"));
        assert_eq!(
            q.pop_ready().as_deref(),
            Some("x"),
            "unknown deps are satisfied"
        );
        assert_eq!(q.pop_ready(), None);
        q.finish("a");
        assert_eq!(q.pop_ready(), None, "c still waits for b");
        q.finish("b");
        assert_eq!(q.pop_ready().as_deref(), Some("c"));
        q.finish("c");
        q.finish("x");
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn a_failure_removes_everything_downstream_and_nothing_else() {
        let mut q = queue(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
            ("e", &["d", "c"]),
        ]);
        assert_eq!(q.pop_ready().as_deref(), Some("a"));
        assert_eq!(q.pop_ready().as_deref(), Some("d"));
        let mut blocked = q.fail("a");
        blocked.sort();
        assert_eq!(
            blocked,
            [
                ("b".to_string(), "a".to_string()),
                ("c".to_string(), "b".to_string()),
                ("e".to_string(), "c".to_string())
            ]
        );
        q.finish("d");
        assert_eq!(q.pop_ready(), None);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn drain_takes_what_was_not_handed_out() {
        let mut q = queue(&[("a", &[]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(q.pop_ready().as_deref(), Some("a"));
        assert_eq!(q.drain(), ["b", "c"]);
        assert_eq!(q.pending(), 1, "a is still running");
        q.finish("a");
        assert_eq!(q.pop_ready(), None, "drained nodes never become ready");
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn a_long_chain_orders_in_linear_steps() {
        // 20,000 nodes each waiting on the one before: quadratic code would take minutes.
        let n = 20_000;
        let q = DependencyQueue::new((0..n).rev().map(|i| {
            let deps: Vec<String> = if i > 0 {
                vec![format!("n{}", i - 1)]
            } else {
                vec![]
            };
            (format!("n{i}"), deps)
        }));
        let order = q.into_order();
        assert_eq!(order.len(), n);
        assert_eq!(order[0], "n0");
        assert_eq!(order[n - 1], format!("n{}", n - 1));
    }
}
