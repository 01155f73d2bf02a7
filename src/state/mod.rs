//! The state: what strata created, so it never loses track of it. Versioned (format
//! version, serial, lineage) and written after every resource. Each object records its
//! physical id, attributes and dependencies, so destroy order survives a stack file that
//! changed or lost resources. Where it is kept is a [`store::StateStore`]; the local file
//! ([`local::LocalStore`]) is the first.

pub mod local;
pub mod lock;
pub mod s3;
pub mod store;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Increases with every write; a saved plan remembers the serial it was made from.
    pub serial: u64,
    /// Names this state's history; a plan from another lineage is refused.
    pub lineage: String,
    pub stack: String,
    pub stage: String,
    /// The account, region and partition the resources live in, recorded by the first
    /// apply: a run with credentials or a region that do not match is refused, so objects
    /// are never looked for (and found missing, or deleted) in the wrong place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    pub resources: IndexMap<String, ResourceState>,
    #[serde(default)]
    pub outputs: IndexMap<String, OutputState>,
    /// Creates that were started but not seen to finish (the process may have been
    /// killed): the next run looks for each object and adopts it, so nothing is lost.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pending: IndexMap<String, PendingCreate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub account_id: String,
    pub region: String,
    pub partition: String,
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account {} in {}", self.account_id, self.region)?;
        if self.partition != "aws" {
            write!(f, " (partition {})", self.partition)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingCreate {
    #[serde(rename = "type")]
    pub type_name: String,
    /// What the create asked for: enough to find the object again.
    pub desired: serde_json::Value,
    pub dependencies: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResourceState {
    #[serde(rename = "type")]
    pub type_name: String,
    pub id: String,
    /// Attributes as last read from AWS (and strata's own settings such as force_destroy).
    pub attributes: serde_json::Value,
    /// Resources this one depended on when it was last applied: destroy deletes it first.
    pub dependencies: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputState {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error(
        "state file {path} is corrupted ({error}); nothing was changed in AWS. Restore the file from a backup or version control before running strata again"
    )]
    Corrupt {
        path: String,
        error: serde_json::Error,
    },
    #[error(
        "state file {path} has format version {found}; this strata reads version {FORMAT_VERSION}. Use a newer strata"
    )]
    NewerFormat { path: String, found: u32 },
    #[error(
        "state file {path} belongs to stack `{found}` (stage `{found_stage}`), not `{expected}` (stage `{expected_stage}`)"
    )]
    OtherStack {
        path: String,
        found: String,
        found_stage: String,
        expected: String,
        expected_stage: String,
    },
    #[error("cannot write state file {path}: {error}")]
    Write { path: String, error: std::io::Error },
    /// A remote store's call failed (missing bucket, no permission, ...); nothing was written.
    #[error("cannot use the state at {path}: {error}; nothing was written")]
    Remote { path: String, error: String },
    #[error(
        "the state at {path} was written by someone else (expected serial {expected}, found {found}); nothing more was written. Run the command again to work from the current state"
    )]
    Conflict {
        path: String,
        expected: u64,
        found: u64,
    },
}

impl State {
    /// Records the object of `old` under `new` (a resource renamed in the stack), with every
    /// recorded dependency on it following. Nothing happens unless `old` is recorded and
    /// `new` is not.
    pub fn rename(&mut self, old: &str, new: &str) -> bool {
        if self.resources.contains_key(new) {
            return false;
        }
        let Some(index) = self.resources.get_index_of(old) else {
            return false;
        };
        let (_, entry) = self
            .resources
            .shift_remove_index(index)
            .expect("index exists");
        self.resources.shift_insert(index, new.to_string(), entry);
        for resource in self.resources.values_mut() {
            for dep in &mut resource.dependencies {
                if dep == old {
                    *dep = new.to_string();
                }
            }
        }
        true
    }

    pub fn new(stack: &str, stage: &str) -> State {
        State {
            version: FORMAT_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            stack: stack.to_string(),
            stage: stage.to_string(),
            placement: None,
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            pending: IndexMap::new(),
        }
    }
}

impl State {
    /// Parses a stored state, checking its format version and that it belongs to `stack`
    /// and `stage`. `location` names where it was read from, for messages.
    pub fn parse(
        text: &str,
        location: &str,
        stack: &str,
        stage: &str,
    ) -> Result<State, StateError> {
        let path = location.to_string();
        // The version is checked first so a newer format is reported as such, not as corrupt.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        match serde_json::from_str::<Version>(text) {
            Ok(v) if v.version > FORMAT_VERSION => {
                return Err(StateError::NewerFormat {
                    path,
                    found: v.version,
                });
            }
            Ok(_) => {}
            Err(error) => return Err(StateError::Corrupt { path, error }),
        }
        let state: State = serde_json::from_str(text).map_err(|error| StateError::Corrupt {
            path: path.clone(),
            error,
        })?;
        if state.stack != stack || state.stage != stage {
            return Err(StateError::OtherStack {
                path,
                found: state.stack,
                found_stage: state.stage,
                expected: stack.into(),
                expected_stage: stage.into(),
            });
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_newer_and_foreign_states_are_refused() {
        assert!(matches!(
            State::parse("{\"version\": 1, \"serial\": 3, ", "s", "s", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            State::parse("{\"version\": 99}", "s", "s", "dev"),
            Err(StateError::NewerFormat { found: 99, .. })
        ));
        let other = serde_json::to_string(&State::new("other", "dev")).unwrap();
        assert!(matches!(
            State::parse(&other, "s", "s", "dev"),
            Err(StateError::OtherStack { .. })
        ));
        let mine = serde_json::to_string(&State::new("s", "dev")).unwrap();
        assert_eq!(State::parse(&mine, "s", "s", "dev").unwrap().stack, "s");
    }
}
