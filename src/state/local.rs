//! The local state store: `<dir>/<stack>-<stage>.state.json`, written atomically (a
//! temporary file created 0600, fsync, rename, fsync of the folder), and locked with an OS
//! file lock on `<stack>-<stage>.lock` that the kernel drops when the process dies, so a
//! kill -9 never leaves a lock behind.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock::{LockError, LockInfo, held_error};
use super::store::{StateLock, StateStore};
use super::{State, StateError};

pub struct LocalStore {
    pub path: PathBuf,
    stack: String,
    stage: String,
    /// The serial this process last read or wrote; a write expecting another is refused.
    last_serial: Mutex<Option<u64>>,
}

impl LocalStore {
    /// The store of `stack` at `stage` in `dir`.
    pub fn new(dir: &Path, stack: &str, stage: &str) -> LocalStore {
        LocalStore {
            path: dir.join(format!("{stack}-{stage}.state.json")),
            stack: stack.to_string(),
            stage: stage.to_string(),
            last_serial: Mutex::new(None),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// The state, or a new empty one when the file does not exist yet.
    pub fn load(&self) -> Result<State, StateError> {
        let location = self.location();
        let state = match fs::read_to_string(&self.path) {
            Ok(text) => State::parse(&text, &location, &self.stack, &self.stage)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                State::new(&self.stack, &self.stage)
            }
            Err(error) => {
                return Err(StateError::Read {
                    path: location,
                    error,
                });
            }
        };
        *self.last_serial.lock().expect("serial lock") = Some(state.serial);
        Ok(state)
    }

    fn store(&self, state: &State, expected_serial: u64) -> Result<(), StateError> {
        let mut last = self.last_serial.lock().expect("serial lock");
        if let Some(found) = *last
            && found != expected_serial
        {
            return Err(StateError::Conflict {
                path: self.location(),
                expected: expected_serial,
                found,
            });
        }
        let mut text = serde_json::to_string_pretty(state).expect("state serialises");
        text.push('\n');
        write_private(&self.path, text.as_bytes()).map_err(|error| StateError::Write {
            path: self.location(),
            error,
        })?;
        *last = Some(state.serial);
        Ok(())
    }
}

#[async_trait]
impl StateStore for LocalStore {
    fn location(&self) -> String {
        crate::diagnostics::source::display_path(&self.path)
    }

    async fn read(&self) -> Result<State, StateError> {
        self.load()
    }

    async fn write(&self, state: &State, expected_serial: u64) -> Result<(), StateError> {
        self.store(state, expected_serial)
    }

    async fn lock(&self, operation: &str) -> Result<StateLock, LockError> {
        let path = self.lock_path();
        let io = |error| LockError::Io {
            path: path.display().to_string(),
            error,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(held_error(read_info(&mut file))),
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Held: say who holds it, for whoever is refused.
        let info = LockInfo::new(operation);
        let text = serde_json::to_string_pretty(&info).expect("lock info serialises");
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|_| file.sync_all())
            .map_err(io)?;
        Ok(StateLock {
            info,
            handle: Box::new(file),
        })
    }

    async fn unlock(&self, lock: StateLock) -> Result<(), LockError> {
        if let Ok(file) = lock.handle.downcast::<File>() {
            // Clear the holder first; closing the file releases the OS lock.
            let _ = file.set_len(0);
        }
        Ok(())
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        let path = self.lock_path();
        let io = |error| LockError::Io {
            path: path.display().to_string(),
            error,
        };
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LockError::NotHeld { given: id.into() });
            }
            Err(e) => return Err(io(e)),
        };
        match file.try_lock() {
            // Nobody holds it: the kernel released it when its holder exited.
            Ok(()) => Err(LockError::NotHeld { given: id.into() }),
            Err(fs::TryLockError::WouldBlock) => match read_info(&mut file) {
                Some(info) if info.id == id => Err(LockError::HeldByLiveProcess {
                    id: info.id,
                    who: info.who,
                    pid: info.pid,
                }),
                Some(info) => Err(LockError::WrongId {
                    given: id.into(),
                    held: format!("held with id {}", info.id),
                }),
                None => Err(LockError::WrongId {
                    given: id.into(),
                    held: "held by an unknown process".into(),
                }),
            },
            Err(fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `bytes` to `path` atomically with mode 0600, whatever mode an existing file had:
/// a new temporary file in the same folder, fsync, rename over `path`, fsync the folder.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    // NamedTempFile creates the file exclusively with mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".strata-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceState;
    use crate::state::store::save;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn save_then_load_round_trips_with_mode_0600_and_rising_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path(), "s", "dev");
        let mut state = store.read().await.unwrap();
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
        save(&store, &mut state).await.unwrap();
        save(&store, &mut state).await.unwrap();
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.serial, 2);
        assert_eq!(loaded.lineage, state.lineage);
        assert_eq!(loaded.resources["q"].id, "url");
        assert_eq!(mode(&store.path), 0o600);
    }

    #[test]
    fn a_file_with_a_wider_mode_is_replaced_by_a_0600_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[tokio::test]
    async fn a_writer_whose_serial_is_stale_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path(), "s", "dev");
        let mut state = store.read().await.unwrap();
        save(&store, &mut state).await.unwrap();
        let mut stale = state.clone();
        save(&store, &mut state).await.unwrap();
        let err = save(&store, &mut stale).await.unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Conflict {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(stale.serial, 1, "a refused write leaves the serial alone");
        assert_eq!(store.load().unwrap().serial, 2);
    }

    #[tokio::test]
    async fn a_second_lock_names_the_holder_and_the_lock_dies_with_its_file_handle() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path(), "s", "dev");
        let first = store.lock("apply").await.unwrap();
        let err = store.lock("destroy").await.err().unwrap();
        let text = err.to_string();
        assert!(text.contains("for `apply`"), "{text}");
        assert!(text.contains(&first.info.id), "{text}");
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        // A live holder cannot be unlocked by force; a wrong id is refused.
        assert!(matches!(
            store.force_unlock("wrong").await,
            Err(LockError::WrongId { .. })
        ));
        assert!(matches!(
            store.force_unlock(&first.info.id).await,
            Err(LockError::HeldByLiveProcess { .. })
        ));
        // Dropping the guard is what a dying process does: the OS releases the lock.
        drop(first);
        let again = store.lock("apply").await.unwrap();
        store.unlock(again).await.unwrap();
        assert!(matches!(
            store.force_unlock("any").await,
            Err(LockError::NotHeld { .. })
        ));
    }
}
