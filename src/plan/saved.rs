//! A saved plan (`plan --out`): the [`Plan`] record as the reviewer saw it, plus what it was
//! made from (the variables and a copy of every stack file with its hash), so that
//! `apply PLAN` executes exactly it and refuses it once anything it rests on has moved.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Plan;
use crate::config::Stack;

const FORMAT: &str = "strata-saved-plan";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: u32,
    /// The strata that made it.
    pub strata_version: String,
    /// The stack file the plan was made for (canonical path).
    pub stack_file: PathBuf,
    /// Every `--var` given to the plan.
    pub variables: Vec<(String, String)>,
    /// Every file of the `extends` chain, as it was read.
    pub files: Vec<SavedFile>,
    pub plan: Plan,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedFile {
    /// Canonical path.
    pub path: PathBuf,
    pub sha256: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error(
        "{path} is not a valid saved plan (corrupted or from another tool); make a new one with `strata plan --out`"
    )]
    Invalid { path: String },
    #[error(
        "{path} is a saved plan of format version {found}; this strata reads version {FORMAT_VERSION}. Make a new plan with this strata"
    )]
    OtherVersion { path: String, found: u32 },
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SavedPlan {
    pub fn new(
        stack: &Stack,
        stack_file: PathBuf,
        variables: &[(String, String)],
        plan: Plan,
    ) -> SavedPlan {
        let files = stack
            .sources
            .files()
            .map(|(_, f)| SavedFile {
                path: f.path.clone(),
                sha256: sha256_hex(f.text.as_bytes()),
                text: f.text.clone(),
            })
            .collect();
        SavedPlan {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            strata_version: env!("CARGO_PKG_VERSION").to_string(),
            stack_file,
            variables: variables.to_vec(),
            files,
            plan,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan serialises")
    }

    /// Reads `bytes` as a saved plan; `None` when they are not one at all (not JSON, so a
    /// stack file).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Option<SavedPlan>, SavedPlanError> {
        if bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_none_or(|b| *b != b'{')
        {
            return Ok(None);
        }
        let invalid = || SavedPlanError::Invalid {
            path: path.display().to_string(),
        };
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|_| invalid())?;
        if header.format != FORMAT {
            return Err(invalid());
        }
        if header.format_version != FORMAT_VERSION {
            return Err(SavedPlanError::OtherVersion {
                path: path.display().to_string(),
                found: header.format_version,
            });
        }
        serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|_| invalid())
    }

    /// The stack files that are no longer what the plan was made from, each with how.
    pub fn changed_files(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|f| {
                let shown = crate::diagnostics::source::display_path(&f.path);
                match std::fs::read(&f.path) {
                    Ok(now) if sha256_hex(&now) == f.sha256 => None,
                    Ok(_) => Some(format!("{shown} was edited")),
                    Err(e) => Some(format!("{shown} cannot be read ({e})")),
                }
            })
            .collect()
    }

    /// The files as the plan saw them, to load the stack from instead of the disk.
    pub fn snapshot(&self) -> HashMap<PathBuf, String> {
        self.files
            .iter()
            .map(|f| (f.path.clone(), f.text.clone()))
            .collect()
    }
}
