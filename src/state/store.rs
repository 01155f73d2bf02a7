//! Where a stack's state is kept: read it, write it expecting the serial last seen, and
//! hold the lock that keeps two runs apart. The engine sees only this interface, so a
//! remote store (S3) can be added beside the local file without touching it.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use super::lock::{LockError, LockInfo};
use super::{State, StateError};

/// What is left to do to record a change a store has taken (see
/// [`StateStore::write_entry`]).
pub type Written<'a> = Pin<Box<dyn Future<Output = Result<(), StateError>> + Send + 'a>>;

/// Holding the state lock. Release it with [`StateStore::unlock`]; a store may also
/// release it when the guard is dropped or the process dies.
pub struct StateLock {
    pub info: LockInfo,
    /// What the store needs to release the lock (an open file, an object's ETag).
    pub(crate) handle: Box<dyn std::any::Any + Send + Sync>,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Where the state lives, as messages show it.
    fn location(&self) -> String;

    /// The stored state, or a new empty one when there is none yet.
    async fn read(&self) -> Result<State, StateError>;

    /// Replaces the stored state with `state`, only if the stored serial is still
    /// `expected_serial` (the serial this process last read or wrote): a writer whose view
    /// is stale is refused with [`StateError::Conflict`]. A state is never half written.
    async fn write(&self, state: &State, expected_serial: u64) -> Result<(), StateError>;

    /// Like [`StateStore::write`], when the only difference from the state last written
    /// is the entry `name` in `state.resources` and in `state.pending`. It is called while
    /// the caller has the state to itself: the store takes from `state` what it needs at
    /// once (the caller may change it again as soon as this returns) and returns what is
    /// left to do, which the caller awaits without holding the state, so the writes of
    /// resources running at once overlap.
    ///
    /// Once that resolves, the change survives a crash where it has to: a create's pending
    /// record (and the withdrawal of one, when nothing was created) is durable before the
    /// create starts. A store may keep other entry changes (a finished create, an update,
    /// a deletion) for a few seconds and write them with a later whole write: losing one
    /// leaves only what the next run repairs by itself, a pending create it adopts or an
    /// object it finds gone. The local store appends every change to a journal; the S3
    /// store writes the pending records as small objects of their own.
    fn write_entry<'a>(
        &'a self,
        state: &State,
        name: &str,
        expected_serial: u64,
    ) -> Result<Written<'a>, StateError>;

    /// Replaces the stored state with a marker saying it was moved to `moved_to` (another
    /// store), so that a run pointed here is refused instead of starting from an empty
    /// state. Like a write, only if the stored serial is still `expected_serial`.
    async fn write_moved(
        &self,
        state: &State,
        moved_to: &str,
        expected_serial: u64,
    ) -> Result<(), StateError>;

    /// Takes the lock for `operation`, or says who holds it.
    async fn lock(&self, operation: &str) -> Result<StateLock, LockError>;

    async fn unlock(&self, lock: StateLock) -> Result<(), LockError>;

    /// Removes a lock left by another process, if its id is `id`.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError>;
}

/// Writes `state` as the next serial.
pub async fn save(store: &dyn StateStore, state: &mut State) -> Result<(), StateError> {
    let expected = state.serial;
    state.serial += 1;
    let result = store.write(state, expected).await;
    if result.is_err() {
        state.serial = expected;
    }
    result
}

/// Writes `state` as the next serial, when only the entry `name` changed since the last
/// write (see [`StateStore::write_entry`]): the change is taken at once, and the returned
/// future finishes recording it.
pub fn save_entry<'a>(
    store: &'a dyn StateStore,
    state: &mut State,
    name: &str,
) -> Result<Written<'a>, StateError> {
    let expected = state.serial;
    state.serial += 1;
    let result = store.write_entry(state, name, expected);
    if result.is_err() {
        state.serial = expected;
    }
    result
}
