//! Where a stack's state is kept: read it, write it expecting the serial last seen, and
//! hold the lock that keeps two runs apart. The engine sees only this interface, so a
//! remote store (S3) can be added beside the local file without touching it.

use async_trait::async_trait;

use super::lock::{LockError, LockInfo};
use super::{State, StateError};

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
    /// is the entry `name` in `state.resources` and in `state.pending`: a store may record
    /// just that entry (the local store appends it to a journal), so writing after each
    /// resource costs the same whatever the size of the state. Once it returns, the change
    /// is as durable as a full write.
    async fn write_entry(
        &self,
        state: &State,
        name: &str,
        expected_serial: u64,
    ) -> Result<(), StateError> {
        let _ = name;
        self.write(state, expected_serial).await
    }

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
/// write (see [`StateStore::write_entry`]).
pub async fn save_entry(
    store: &dyn StateStore,
    state: &mut State,
    name: &str,
) -> Result<(), StateError> {
    let expected = state.serial;
    state.serial += 1;
    let result = store.write_entry(state, name, expected).await;
    if result.is_err() {
        state.serial = expected;
    }
    result
}
