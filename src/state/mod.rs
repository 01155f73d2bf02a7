//! The state: what strata created, so it never loses track of it. Versioned (format
//! version, serial, lineage) and written after every resource. Each object records its
//! physical id, attributes and dependencies, so destroy order survives a stack file that
//! changed or lost resources. Where it is kept is a [`store::StateStore`]: the local file
//! ([`local::LocalStore`]) or an S3 object ([`s3::S3Store`]). Where `state migrate` moved
//! a state away, a [`Moved`] marker takes its place, so a run pointed at the old place is
//! refused instead of starting over from nothing.

pub mod bootstrap;
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

/// What `state migrate` leaves where a state was: where it went. Written in place of the
/// state (same file, same S3 key), so that anything reading the old place learns where
/// the state is, and an older strata that does not know the marker refuses it as a
/// damaged state rather than starting from an empty one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Moved {
    /// The state's new place: `s3://bucket/key`, or a local state file.
    pub moved_to: String,
    pub stack: String,
    pub stage: String,
    pub lineage: String,
    /// The serial of the state that was moved.
    pub serial: u64,
    /// Seconds since the Unix epoch.
    pub moved_at: u64,
}

impl Moved {
    /// The marker of `state`, moved to `moved_to` now.
    pub fn of(state: &State, moved_to: &str) -> Moved {
        Moved {
            moved_to: moved_to.to_string(),
            stack: state.stack.clone(),
            stage: state.stage.clone(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            moved_at: lock::now(),
        }
    }
}

/// What a state's place holds.
#[derive(Clone, Debug)]
pub enum Stored {
    State(Box<State>),
    Moved(Moved),
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
    /// What AWS answered to a create that goes on after the call (Cloud Control's request
    /// token): the next run follows the request to its end instead of looking for the
    /// object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
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
    #[error("{}", moved_message(path, moved))]
    Moved { path: String, moved: Box<Moved> },
    /// A file given as a state (`state push`) is not one.
    #[error("{path} is not a strata state: {problem}; nothing was written")]
    NotAState { path: String, problem: String },
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

fn moved_message(path: &str, moved: &Moved) -> String {
    let age = crate::state::lock::age_of(moved.moved_at);
    let how = match moved.moved_to.strip_prefix("s3://") {
        Some(place) => {
            let (bucket, key) = place.split_once('/').unwrap_or((place, ""));
            format!(
                "declare `[backend] s3 = {{ bucket = \"{bucket}\", key = \"{key}\" }}` in the stack, or pass `--backend-config bucket={bucket},key={key}`"
            )
        }
        None => "remove `[backend]` from the stack or pass `--backend-config local` (and `--state-dir` with the folder of that file, if it is not the default)".to_string(),
    };
    format!(
        "the state of stack `{}` (stage `{}`) is no longer at {path}: `strata state migrate` moved it to {} {age} ago (serial {}). Nothing was read or changed. To work with it, {how}",
        moved.stack, moved.stage, moved.moved_to, moved.serial
    )
}

impl State {
    /// Sets the entry `name` as a journal record says it is at `serial`: its resource and
    /// its pending create, each `None` when there is none.
    pub fn set_entry(
        &mut self,
        name: String,
        resource: Option<ResourceState>,
        pending: Option<PendingCreate>,
        serial: u64,
    ) {
        match resource {
            Some(r) => {
                self.resources.insert(name.clone(), r);
            }
            None => {
                self.resources.shift_remove(&name);
            }
        }
        match pending {
            Some(p) => {
                self.pending.insert(name, p);
            }
            None => {
                self.pending.shift_remove(&name);
            }
        }
        self.serial = serial;
    }

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
    /// and `stage`. `location` names where it was read from, for messages. A [`Moved`]
    /// marker is refused with [`StateError::Moved`].
    pub fn parse(
        text: &str,
        location: &str,
        stack: &str,
        stage: &str,
    ) -> Result<State, StateError> {
        match State::parse_stored(text, location, stack, stage)? {
            Stored::State(state) => Ok(*state),
            Stored::Moved(moved) => Err(StateError::Moved {
                path: location.to_string(),
                moved: Box::new(moved),
            }),
        }
    }

    /// What a state's place holds: a state or a [`Moved`] marker, checked like
    /// [`State::parse`].
    pub fn parse_stored(
        text: &str,
        location: &str,
        stack: &str,
        stage: &str,
    ) -> Result<Stored, StateError> {
        let path = location.to_string();
        // The version is checked first so a newer format is reported as such, not as corrupt.
        #[derive(Deserialize)]
        struct Probe {
            version: Option<u32>,
            moved_to: Option<String>,
        }
        let corrupt = |error| StateError::Corrupt {
            path: path.clone(),
            error,
        };
        let probe = serde_json::from_str::<Probe>(text).map_err(corrupt)?;
        let (found, found_stage, stored) = if probe.moved_to.is_some() {
            let moved: Moved = serde_json::from_str(text).map_err(corrupt)?;
            (
                moved.stack.clone(),
                moved.stage.clone(),
                Stored::Moved(moved),
            )
        } else {
            match probe.version {
                Some(found) if found > FORMAT_VERSION => {
                    return Err(StateError::NewerFormat { path, found });
                }
                _ => {}
            }
            let state: State = serde_json::from_str(text).map_err(corrupt)?;
            (
                state.stack.clone(),
                state.stage.clone(),
                Stored::State(Box::new(state)),
            )
        };
        if found != stack || found_stage != stage {
            return Err(StateError::OtherStack {
                path,
                found,
                found_stage,
                expected: stack.into(),
                expected_stage: stage.into(),
            });
        }
        Ok(stored)
    }

    /// Parses a file given as a state (`state push`): what is not a state is reported as
    /// such, saying what is wrong with it, not as a damaged state to restore.
    pub fn parse_given(
        text: &str,
        location: &str,
        stack: &str,
        stage: &str,
    ) -> Result<State, StateError> {
        let not_a_state = |problem: String| StateError::NotAState {
            path: location.to_string(),
            problem,
        };
        match State::parse(text, location, stack, stage) {
            Err(StateError::Corrupt { error, .. }) => Err(not_a_state(match error.classify() {
                serde_json::error::Category::Data => {
                    format!("it is JSON, but not in the state format ({error})")
                }
                _ => format!("it is not JSON ({error})"),
            })),
            Err(StateError::Moved { moved, .. }) => Err(not_a_state(format!(
                "it is the marker `state migrate` leaves where a state was (moved to {})",
                moved.moved_to
            ))),
            other => other,
        }
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

    #[test]
    fn a_moved_marker_is_refused_saying_where_the_state_went() {
        let moved = Moved {
            moved_to: "s3://team-state/stacks/s-dev.json".into(),
            stack: "s".into(),
            stage: "dev".into(),
            lineage: "l".into(),
            serial: 7,
            moved_at: 0,
        };
        let text = serde_json::to_string(&moved).unwrap();
        let err = State::parse(&text, ".strata/s-dev.state.json", "s", "dev").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StateError::Moved { .. }), "{message}");
        assert!(
            message.contains("moved it to s3://team-state/stacks/s-dev.json")
                && message.contains("`--backend-config bucket=team-state,key=stacks/s-dev.json`"),
            "{message}"
        );
        assert!(matches!(
            State::parse(&text, "x", "other", "dev"),
            Err(StateError::OtherStack { .. })
        ));
    }

    #[test]
    fn a_file_that_is_not_a_state_is_named_so_with_what_is_wrong() {
        let err = State::parse_given("{\"queues\": []}", "q.json", "s", "dev").unwrap_err();
        assert_eq!(
            err.to_string(),
            "q.json is not a strata state: it is JSON, but not in the state format (missing field `version` at line 1 column 14); nothing was written"
        );
        let err = State::parse_given("<html>", "q.html", "s", "dev").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("q.html is not a strata state: it is not JSON (expected value"),
            "{err}"
        );
    }
}
