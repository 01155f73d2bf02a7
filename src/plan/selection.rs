//! `--target` and `--exclude`: a plan restricted to some resources. A target brings what it
//! needs (its dependencies; for a destroy, what depends on it, which must go first); an
//! exclusion takes what needs it along (its dependents; for a destroy, what it depends on,
//! which must stay). Addresses match by equality or as a prefix ending before `.` or `[`:
//! `queue` selects every instance `queue["a"]`, `module.tenant` every resource of that
//! module, whether written as a resource's name or its address (`sqs.queue.queue`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::ResourcePlan;

/// What `--target` and `--exclude` asked for (both empty: the whole stack).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}

impl Selection {
    pub fn is_whole(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }

    /// The flags as the command line took them, for the plan's warning.
    pub fn describe(&self) -> String {
        let flags = self
            .targets
            .iter()
            .map(|t| format!("--target {t}"))
            .chain(self.excludes.iter().map(|e| format!("--exclude {e}")));
        flags.collect::<Vec<_>>().join(" ")
    }

    /// Keeps the resources of `resources` that the selection selects. An address that
    /// matches no resource is an error: a typo must not plan nothing without a word.
    pub fn restrict(&self, resources: &mut Vec<ResourcePlan>, destroy: bool) -> Result<(), String> {
        if self.is_whole() {
            return Ok(());
        }
        let unmatched: Vec<&String> = self
            .targets
            .iter()
            .chain(&self.excludes)
            .filter(|a| !resources.iter().any(|rp| matches(a, rp)))
            .collect();
        if !unmatched.is_empty() {
            let names: Vec<String> = unmatched.iter().map(|a| format!("`{a}`")).collect();
            return Err(format!(
                "{} {} no resource of the stack or its state; resources are named as plans show them (`queue`, `queue[\"a\"]` or `sqs.queue.queue`)",
                names.join(", "),
                if names.len() == 1 { "matches" } else { "match" }
            ));
        }
        let dependencies: HashMap<&str, Vec<&str>> = resources
            .iter()
            .map(|rp| {
                let deps = rp.dependencies.iter().map(String::as_str).collect();
                (rp.name.as_str(), deps)
            })
            .collect();
        let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, deps) in &dependencies {
            for dep in deps {
                dependents.entry(dep).or_default().push(name);
            }
        }
        // A destroy walks the other way: deleting a resource needs its dependents gone.
        let (needed, needing) = if destroy {
            (&dependents, &dependencies)
        } else {
            (&dependencies, &dependents)
        };
        let matching = |patterns: &[String]| -> Vec<&str> {
            resources
                .iter()
                .filter(|rp| patterns.iter().any(|p| matches(p, rp)))
                .map(|rp| rp.name.as_str())
                .collect()
        };
        let mut kept: HashSet<&str> = if self.targets.is_empty() {
            resources.iter().map(|rp| rp.name.as_str()).collect()
        } else {
            closure(matching(&self.targets), needed)
        };
        for name in closure(matching(&self.excludes), needing) {
            kept.remove(name);
        }
        let kept: HashSet<String> = kept.into_iter().map(str::to_string).collect();
        resources.retain(|rp| kept.contains(&rp.name));
        Ok(())
    }
}

/// `start` and everything reachable from it along `edges`.
fn closure<'a>(start: Vec<&'a str>, edges: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut todo = start;
    while let Some(name) = todo.pop() {
        if seen.insert(name) {
            todo.extend(edges.get(name).into_iter().flatten().copied());
        }
    }
    seen
}

/// Whether `pattern` names `rp`: its name or address, or a prefix of either that ends
/// before a `.` or a `[`.
pub fn matches(pattern: &str, rp: &ResourcePlan) -> bool {
    [rp.name.clone(), rp.address()].iter().any(|address| {
        address == pattern
            || address
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, ActionReason};

    fn rp(name: &str, deps: &[&str]) -> ResourcePlan {
        ResourcePlan {
            name: name.into(),
            type_name: "sqs.queue".into(),
            action: Action::Create,
            reason: ActionReason::New,
            changes: Vec::new(),
            id: None,
            declared_at: None,
            before: None,
            after: None,
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
            moved_from: None,
            deletion: None,
            create_before_destroy: false,
            sensitive: Vec::new(),
        }
    }

    fn kept(selection: &Selection, destroy: bool) -> Vec<String> {
        let mut resources = vec![
            rp("dlq", &[]),
            rp("queue[\"a\"]", &["dlq"]),
            rp("queue[\"b\"]", &["dlq"]),
            rp("module.tenant[\"alpha\"].bucket", &[]),
            rp("alarm", &["queue[\"a\"]"]),
        ];
        selection.restrict(&mut resources, destroy).unwrap();
        resources.into_iter().map(|r| r.name).collect()
    }

    fn targets(targets: &[&str]) -> Selection {
        Selection {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            excludes: Vec::new(),
        }
    }

    fn excludes(excludes: &[&str]) -> Selection {
        Selection {
            targets: Vec::new(),
            excludes: excludes.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_target_brings_its_dependencies_and_a_destroy_its_dependents() {
        assert_eq!(
            kept(&targets(&["alarm"]), false),
            ["dlq", "queue[\"a\"]", "alarm"]
        );
        assert_eq!(
            kept(&targets(&["sqs.queue.queue[\"b\"]"]), false),
            ["dlq", "queue[\"b\"]"]
        );
        assert_eq!(
            kept(&targets(&["dlq"]), true),
            ["dlq", "queue[\"a\"]", "queue[\"b\"]", "alarm"]
        );
    }

    #[test]
    fn a_prefix_selects_every_instance_and_module_resource() {
        assert_eq!(
            kept(&targets(&["queue"]), false),
            ["dlq", "queue[\"a\"]", "queue[\"b\"]"]
        );
        assert_eq!(
            kept(&targets(&["module.tenant"]), false),
            ["module.tenant[\"alpha\"].bucket"]
        );
        assert_eq!(
            kept(&targets(&["module.tenant[\"alpha\"]"]), false),
            ["module.tenant[\"alpha\"].bucket"]
        );
        // Not a prefix ending at a separator.
        let mut resources = vec![rp("queue_two", &[])];
        assert!(targets(&["queue"]).restrict(&mut resources, false).is_err());
    }

    #[test]
    fn an_exclusion_takes_its_dependents_and_a_destroy_keeps_its_dependencies() {
        assert_eq!(
            kept(&excludes(&["queue[\"a\"]"]), false),
            ["dlq", "queue[\"b\"]", "module.tenant[\"alpha\"].bucket"]
        );
        assert_eq!(
            kept(&excludes(&["queue[\"a\"]"]), true),
            ["queue[\"b\"]", "module.tenant[\"alpha\"].bucket", "alarm"]
        );
    }

    #[test]
    fn an_address_that_matches_nothing_is_an_error() {
        let mut resources = vec![rp("dlq", &[])];
        let err = targets(&["dql"])
            .restrict(&mut resources, false)
            .unwrap_err();
        assert!(err.starts_with("`dql` matches no resource"), "{err}");
    }
}
