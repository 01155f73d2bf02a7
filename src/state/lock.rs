//! The state lock's record: who holds it, since when, for what. Each store decides how the
//! lock itself is held (an OS file lock locally); the messages are shared.

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

impl LockInfo {
    /// A new lock record for this process.
    pub fn new(operation: &str) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who: format!("{}@{}", whoami(), hostname()),
            pid: std::process::id(),
            created: now(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state is locked by {who} (pid {pid}) for `{operation}` since {age} ago (lock id {id}). Wait for it to finish, or stop that process"
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
    #[error(
        "no lock is held (lock id {given} is gone): a local lock is released by the system the moment its process exits, so there is nothing to unlock"
    )]
    NotHeld { given: String },
    #[error(
        "the lock {id} is held by {who} (pid {pid}), a process that is still running; stop it (kill {pid}) instead of unlocking"
    )]
    HeldByLiveProcess { id: String, who: String, pid: u32 },
    #[error("cannot lock the state at {location}: {error}")]
    Remote { location: String, error: String },
    #[error(
        "the lock object {location} is not a strata lock ({error}); nothing was changed. Look at it, and delete it if no run is under way"
    )]
    Garbage { location: String, error: String },
    #[error("no lock is held (lock id {given} is gone: there is no lock object {location})")]
    NoLockObject { given: String, location: String },
}

/// The error for a lock someone else holds, naming them when the record says who.
pub fn held_error(info: Option<LockInfo>) -> LockError {
    match info {
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
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
