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

/// Whether the holder of a lock still runs, as far as this process can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The system holds the lock for a running process (a local lock).
    Running,
    /// The holder ran on this host and no process with its pid runs any more: the lock
    /// outlived a run that was killed or crashed.
    Gone,
    /// It ran on another host (or this system cannot tell): it may run, or be gone.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{0}")]
    Held(Box<Held>),
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
    #[error("cannot use the state lock {location}: {error}")]
    Remote { location: String, error: String },
    #[error(
        "the lock object {location} is not a strata lock ({error}); nothing was changed. Look at it, and delete it if no run is under way"
    )]
    Garbage { location: String, error: String },
    #[error("no lock is held (lock id {given} is gone: there is no lock object {location})")]
    NoLockObject { given: String, location: String },
}

/// A lock someone else holds: who, and what to do about it.
#[derive(Debug)]
pub struct Held {
    pub id: String,
    pub who: String,
    pub pid: u32,
    pub operation: String,
    pub age: String,
    pub holder: Holder,
    /// The stack file, to spell out the `force-unlock` command (see
    /// [`LockError::for_stack_file`]).
    pub stack_file: Option<String>,
}

impl LockError {
    /// Names the stack file in the `force-unlock` command a held lock's message suggests.
    pub fn for_stack_file(mut self, file: &std::path::Path) -> LockError {
        if let LockError::Held(held) = &mut self {
            held.stack_file = Some(file.display().to_string());
        }
        self
    }
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Held {
            id,
            who,
            pid,
            operation,
            age,
            holder,
            stack_file,
        } = self;
        let held = format!(
            "the state is locked by {who} (pid {pid}) for `{operation}` since {age} ago (lock id {id})"
        );
        let unlock = format!(
            "`strata force-unlock {} {id}`",
            stack_file.as_deref().unwrap_or("STACK_FILE")
        );
        f.write_str(&held_message(&held, &unlock, *pid, *holder))
    }
}

fn held_message(held: &str, unlock: &str, pid: u32, holder: Holder) -> String {
    match holder {
        Holder::Running => format!(
            "{held}. That process is running: wait for it to finish, or stop it (kill {pid}). A local lock is released the moment its process exits, so it never needs {unlock}"
        ),
        Holder::Gone => format!(
            "{held}, but no process {pid} runs on this host any more: that run was killed or crashed and left its lock. Remove the lock with {unlock}"
        ),
        Holder::Unknown => format!(
            "{held}. If that run is still going, wait for it to finish. If it is not (it was killed, crashed, or its machine is gone), its lock stays until you remove it with {unlock}"
        ),
    }
}

/// The error for a lock someone else holds, naming them when the record says who.
/// `holder` is what the store knows of the holder; for a store whose locks outlive their
/// process, [`holder_of`] finds out what it can.
pub fn held_error(info: Option<LockInfo>, holder: Holder) -> LockError {
    LockError::Held(Box::new(match info {
        Some(info) => Held {
            age: age(now().saturating_sub(info.created)),
            id: info.id,
            who: info.who,
            pid: info.pid,
            operation: info.operation,
            holder,
            stack_file: None,
        },
        None => Held {
            id: "unknown".into(),
            who: "an unknown process".into(),
            pid: 0,
            operation: "unknown".into(),
            age: "an unknown time".into(),
            holder,
            stack_file: None,
        },
    }))
}

/// Whether the process that took the lock `info` still runs: it can only be told on the
/// host it ran on (its `who` is `user@host`), from the system's process table.
pub fn holder_of(info: &LockInfo) -> Holder {
    let host = info.who.rsplit_once('@').map_or("", |(_, host)| host);
    let proc = std::path::Path::new("/proc");
    if host != hostname() || !proc.join("self").exists() {
        return Holder::Unknown;
    }
    if proc.join(info.pid.to_string()).exists() {
        // Some process has that pid: the holder, or another one that took its number.
        Holder::Unknown
    } else {
        Holder::Gone
    }
}

/// How long ago `created` (seconds since the Unix epoch) was, as messages say it.
pub fn age_of(created: u64) -> String {
    age(now().saturating_sub(created))
}

pub(crate) fn now() -> u64 {
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
