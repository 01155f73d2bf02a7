//! The state lock: one apply or destroy at a time per stack and stage. The lock file is
//! created exclusively and says who holds it, since when, and for what.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub operation: String,
    pub who: String,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state is locked by {who} (pid {pid}) for `{operation}` since {age} ago (lock id {id}).\nIf that process is gone, remove the lock with `strata force-unlock STACK_FILE {id}` (with the same --var stage and --state-dir)."
    )]
    Held {
        id: String,
        who: String,
        pid: u32,
        operation: String,
        age: String,
    },
    #[error("cannot lock the state at {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("no lock with id {given} (the lock is {held})")]
    WrongId { given: String, held: String },
}

/// Holding the lock; dropping it releases the lock.
pub struct Lock {
    path: PathBuf,
    pub info: LockInfo,
}

pub fn lock_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("lock")
}

impl Lock {
    pub fn acquire(state_path: &Path, operation: &str) -> Result<Lock, LockError> {
        let path = lock_path(state_path);
        let io = |error| LockError::Io {
            path: path.display().to_string(),
            error,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who: format!("{}@{}", whoami(), hostname()),
            pid: std::process::id(),
            created: now(),
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let text = serde_json::to_string_pretty(&info).expect("lock info serialises");
                file.write_all(text.as_bytes())
                    .and_then(|_| file.sync_all())
                    .map_err(io)?;
                Ok(Lock { path, info })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(held(&path)),
            Err(e) => Err(io(e)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn held(path: &Path) -> LockError {
    match read(path) {
        Some(info) => LockError::Held {
            age: age(now().saturating_sub(info.created)),
            id: info.id,
            who: info.who,
            pid: info.pid,
            operation: info.operation,
        },
        None => LockError::Held {
            id: "unknown".into(),
            who: "an unknown process".into(),
            pid: 0,
            operation: "unknown".into(),
            age: "an unknown time".into(),
        },
    }
}

pub fn read(path: &Path) -> Option<LockInfo> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// Removes the lock if its id is `id`.
pub fn force_unlock(state_path: &Path, id: &str) -> Result<LockInfo, LockError> {
    let path = lock_path(state_path);
    let Some(info) = read(&path) else {
        return Err(LockError::WrongId {
            given: id.into(),
            held: "not held".into(),
        });
    };
    if info.id != id {
        return Err(LockError::WrongId {
            given: id.into(),
            held: format!("held with id {}", info.id),
        });
    }
    fs::remove_file(&path).map_err(|error| LockError::Io {
        path: path.display().to_string(),
        error,
    })?;
    Ok(info)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holder_and_force_unlock_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s-dev.state.json");
        let first = Lock::acquire(&state, "apply").unwrap();
        let err = Lock::acquire(&state, "destroy").err().unwrap();
        let text = err.to_string();
        assert!(text.contains("for `apply`"), "{text}");
        assert!(text.contains(&first.info.id), "{text}");
        let id = first.info.id.clone();
        std::mem::forget(first); // as if the process had been killed
        assert!(matches!(
            force_unlock(&state, "wrong"),
            Err(LockError::WrongId { .. })
        ));
        force_unlock(&state, &id).unwrap();
        let again = Lock::acquire(&state, "apply").unwrap();
        drop(again);
        assert!(!lock_path(&state).exists());
    }
}
