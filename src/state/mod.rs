//! The state file: what strata created, so it never loses track of it. Versioned (format
//! version, serial, lineage), written atomically (write, fsync, rename) after every
//! resource, mode 0600. Each object records its physical id, attributes and dependencies,
//! so destroy order survives a stack file that changed or lost resources.

pub mod lock;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    pub resources: IndexMap<String, ResourceState>,
    #[serde(default)]
    pub outputs: IndexMap<String, OutputState>,
    /// Creates that were started but not seen to finish (the process may have been
    /// killed): the next run looks for each object and adopts it, so nothing is lost.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pending: IndexMap<String, PendingCreate>,
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
}

impl State {
    pub fn new(stack: &str, stage: &str) -> State {
        State {
            version: FORMAT_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            stack: stack.to_string(),
            stage: stage.to_string(),
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            pending: IndexMap::new(),
        }
    }
}

/// Where one stack and stage keep their state.
#[derive(Clone, Debug)]
pub struct StateFile {
    pub path: PathBuf,
}

impl StateFile {
    /// `.strata/<stack>-<stage>.state.json` under `dir`.
    pub fn for_stack(dir: &Path, stack: &str, stage: &str) -> StateFile {
        StateFile {
            path: dir.join(format!("{stack}-{stage}.state.json")),
        }
    }

    pub fn display(&self) -> String {
        crate::config::source::display_path(&self.path)
    }

    /// The state, or a new empty one when the file does not exist yet.
    pub fn load(&self, stack: &str, stage: &str) -> Result<State, StateError> {
        let path = self.display();
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::new(stack, stage));
            }
            Err(error) => return Err(StateError::Read { path, error }),
        };
        // The version is checked first so a newer format is reported as such, not as corrupt.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        match serde_json::from_str::<Version>(&text) {
            Ok(v) if v.version > FORMAT_VERSION => {
                return Err(StateError::NewerFormat {
                    path,
                    found: v.version,
                });
            }
            Ok(_) => {}
            Err(error) => return Err(StateError::Corrupt { path, error }),
        }
        let state: State = serde_json::from_str(&text).map_err(|error| StateError::Corrupt {
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

    /// Writes the state atomically with the next serial: a temporary file in the same
    /// folder (mode 0600), fsync, rename over the old file, fsync the folder.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        let err = |error| StateError::Write {
            path: self.display(),
            error,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(err)?;
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.write_all(b"\n").map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(err)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_then_load_round_trips_with_mode_0600_and_rising_serial() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::for_stack(dir.path(), "s", "dev");
        let mut state = file.load("s", "dev").unwrap();
        assert_eq!(state.serial, 0);
        state.resources.insert(
            "q".into(),
            ResourceState {
                type_name: "sqs.queue".into(),
                id: "url".into(),
                attributes: serde_json::json!({"name": "q"}),
                dependencies: vec![],
            },
        );
        file.save(&mut state).unwrap();
        file.save(&mut state).unwrap();
        let loaded = file.load("s", "dev").unwrap();
        assert_eq!(loaded.serial, 2);
        assert_eq!(loaded.lineage, state.lineage);
        assert_eq!(loaded.resources["q"].id, "url");
        let mode = fs::metadata(&file.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn corrupt_newer_and_foreign_states_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::for_stack(dir.path(), "s", "dev");
        fs::write(&file.path, "{\"version\": 1, \"serial\": 3, ").unwrap();
        assert!(matches!(
            file.load("s", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        fs::write(&file.path, "{\"version\": 99}").unwrap();
        assert!(matches!(
            file.load("s", "dev"),
            Err(StateError::NewerFormat { found: 99, .. })
        ));
        let mut other = State::new("other", "dev");
        StateFile {
            path: file.path.clone(),
        }
        .save(&mut other)
        .unwrap();
        assert!(matches!(
            file.load("s", "dev"),
            Err(StateError::OtherStack { .. })
        ));
    }
}
