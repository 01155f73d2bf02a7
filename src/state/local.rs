//! The local state store: `<dir>/<stack>-<stage>.state.json`, written atomically (a
//! temporary file created 0600, fsync, rename, fsync of the folder), and locked with an OS
//! file lock on `<stack>-<stage>.lock` that the kernel drops when the process dies, so a
//! kill -9 never leaves a lock behind.
//!
//! Writing the whole state after each resource would make an apply of n resources write
//! O(n²) bytes. A write that changes one entry ([`StateStore::write_entry`]) is instead
//! appended to a journal, `<stack>-<stage>.state.journal`, one JSON line per entry, synced
//! before the write returns. Reading replays the journal over the state file (records with
//! a serial the file already has are skipped, a torn last line is ignored). The journal is
//! compacted into the state file (a full write, then the journal removed) whenever it
//! holds more records than the state has resources, so it never costs more to replay than
//! the state costs to read, and at every full write (the start and the end of each run).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock::{Holder, LockError, LockInfo, held_error};
use super::store::{StateLock, StateStore, Written};
use super::{Moved, PendingCreate, ResourceState, State, StateError, Stored};

pub struct LocalStore {
    pub path: PathBuf,
    stack: String,
    stage: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The serial this process last read or wrote; a write expecting another is refused.
    last_serial: Option<u64>,
    /// The journal, open for appending once this process has written to it.
    journal: Option<File>,
    /// Records in the journal since the state file was last written.
    records: usize,
}

/// One line of the journal: the entry `name` of the state of `lineage` as of `serial`
/// (`None`: no such entry).
#[derive(serde::Serialize, serde::Deserialize)]
struct JournalRecord {
    lineage: String,
    serial: u64,
    name: String,
    #[serde(default)]
    resource: Option<ResourceState>,
    #[serde(default)]
    pending: Option<PendingCreate>,
}

impl LocalStore {
    /// The store of `stack` at `stage` in `dir`.
    pub fn new(dir: &Path, stack: &str, stage: &str) -> LocalStore {
        LocalStore {
            path: dir.join(format!("{stack}-{stage}.state.json")),
            stack: stack.to_string(),
            stage: stage.to_string(),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.with_extension("journal")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// The state, or a new empty one when the file does not exist yet.
    pub fn load(&self) -> Result<State, StateError> {
        let location = self.location();
        let mut state = match fs::read_to_string(&self.path) {
            Ok(text) => match State::parse_stored(&text, &location, &self.stack, &self.stage)? {
                Stored::State(state) => *state,
                Stored::Moved(moved) => {
                    // Only `state migrate` writes over a marker, expecting its serial.
                    self.inner.lock().expect("store lock").last_serial = Some(moved.serial);
                    return Err(StateError::Moved {
                        path: location,
                        moved: Box::new(moved),
                    });
                }
            },
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
        let records = self.replay(&mut state)?;
        let mut inner = self.inner.lock().expect("store lock");
        inner.last_serial = Some(state.serial);
        inner.records = records;
        Ok(state)
    }

    /// Applies the journal's records newer than `state` to it; returns how many records
    /// the journal holds.
    fn replay(&self, state: &mut State) -> Result<usize, StateError> {
        let path = self.journal_path();
        let location = crate::diagnostics::source::display_path(&path);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => {
                return Err(StateError::Read {
                    path: location,
                    error,
                });
            }
        };
        let mut records = 0;
        // A line without its newline was being written when the process died: its write
        // never returned, so nothing relied on it.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            records += 1;
            let record: JournalRecord =
                serde_json::from_str(line).map_err(|error| StateError::Corrupt {
                    path: location.clone(),
                    error,
                })?;
            if record.lineage != state.lineage || record.serial <= state.serial {
                continue;
            }
            state.set_entry(record.name, record.resource, record.pending, record.serial);
        }
        Ok(records)
    }

    fn check_serial(&self, inner: &Inner, expected_serial: u64) -> Result<(), StateError> {
        match inner.last_serial {
            Some(found) if found != expected_serial => Err(StateError::Conflict {
                path: self.location(),
                expected: expected_serial,
                found,
            }),
            _ => Ok(()),
        }
    }

    fn store(&self, state: &State, expected_serial: u64) -> Result<(), StateError> {
        let mut inner = self.inner.lock().expect("store lock");
        self.check_serial(&inner, expected_serial)?;
        self.store_whole(&mut inner, state)
    }

    /// Writes the whole state, then drops the journal it now contains.
    fn store_whole(&self, inner: &mut Inner, state: &State) -> Result<(), StateError> {
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        self.replace(inner, text, state.serial)
    }

    /// Puts `text` (a state, or a marker of a moved one, at `serial`) in the state file's
    /// place, then drops the journal: whatever it recorded is in `text`, or moved away.
    fn replace(&self, inner: &mut Inner, mut text: String, serial: u64) -> Result<(), StateError> {
        text.push('\n');
        write_private(&self.path, text.as_bytes()).map_err(|error| StateError::Write {
            path: self.location(),
            error,
        })?;
        inner.last_serial = Some(serial);
        // Once the file is in place the journal's records are all older than it, so a
        // crash before the removal only leaves records the next read skips.
        inner.journal = None;
        inner.records = 0;
        match fs::remove_file(self.journal_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::Write {
                path: crate::diagnostics::source::display_path(&self.journal_path()),
                error: e,
            }),
            _ => Ok(()),
        }
    }

    fn store_entry(
        &self,
        state: &State,
        name: &str,
        expected_serial: u64,
    ) -> Result<(), StateError> {
        let mut inner = self.inner.lock().expect("store lock");
        self.check_serial(&inner, expected_serial)?;
        if inner.records >= state.resources.len() {
            return self.store_whole(&mut inner, state);
        }
        let record = JournalRecord {
            lineage: state.lineage.clone(),
            serial: state.serial,
            name: name.to_string(),
            resource: state.resources.get(name).cloned(),
            pending: state.pending.get(name).cloned(),
        };
        let mut line = serde_json::to_string(&record).expect("journal record serialises");
        line.push('\n');
        let path = self.journal_path();
        let io = |error| StateError::Write {
            path: crate::diagnostics::source::display_path(&path),
            error,
        };
        if inner.journal.is_none() {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            // The journal's own name must survive a power loss too.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
            inner.journal = Some(file);
        }
        let file = inner.journal.as_mut().expect("journal open");
        if let Err(error) = file
            .write_all(line.as_bytes())
            .and_then(|_| file.sync_data())
        {
            // A torn line may be left: the next write must be a whole one, which drops it.
            inner.journal = None;
            inner.records = usize::MAX;
            return Err(io(error));
        }
        inner.records += 1;
        inner.last_serial = Some(state.serial);
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

    /// The journal line is synced before this returns: every change is durable at once.
    fn write_entry<'a>(
        &'a self,
        state: &State,
        name: &str,
        expected_serial: u64,
    ) -> Result<Written<'a>, StateError> {
        self.store_entry(state, name, expected_serial)?;
        Ok(Box::pin(std::future::ready(Ok(()))))
    }

    async fn write_moved(
        &self,
        state: &State,
        moved_to: &str,
        expected_serial: u64,
    ) -> Result<(), StateError> {
        let mut inner = self.inner.lock().expect("store lock");
        self.check_serial(&inner, expected_serial)?;
        let text =
            serde_json::to_string_pretty(&Moved::of(state, moved_to)).expect("marker serialises");
        self.replace(&mut inner, text, state.serial)
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
            Err(fs::TryLockError::WouldBlock) => {
                return Err(held_error(read_info(&mut file), Holder::Running));
            }
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
    use crate::state::store::{save, save_entry};
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

    /// A store in `dir` holding a state of five queues, written whole.
    async fn five_queues(dir: &Path) -> (LocalStore, State) {
        let store = LocalStore::new(dir, "s", "dev");
        let mut state = store.read().await.unwrap();
        for i in 0..5 {
            state
                .resources
                .insert(format!("r{i}"), queue(&format!("r{i}")));
        }
        save(&store, &mut state).await.unwrap();
        (store, state)
    }

    #[tokio::test]
    async fn a_moved_state_leaves_a_marker_that_refuses_reads_and_takes_the_state_back() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut state) = five_queues(dir.path()).await;
        state.resources.shift_remove("r1");
        save_entry(&store, &mut state, "r1").unwrap().await.unwrap();
        store
            .write_moved(&state, "s3://b/k.json", state.serial)
            .await
            .unwrap();
        assert!(!store.journal_path().exists(), "the journal went with it");
        let again = LocalStore::new(dir.path(), "s", "dev");
        let err = again.read().await.unwrap_err();
        assert!(
            matches!(&err, StateError::Moved { moved, .. } if moved.moved_to == "s3://b/k.json" && moved.serial == state.serial),
            "{err}"
        );
        // Moving it back writes over the marker, expecting the marker's serial.
        again.write(&state, state.serial).await.unwrap();
        let back = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(back.serial, state.serial);
        assert_eq!(back.resources.len(), 4);
    }

    fn queue(id: &str) -> ResourceState {
        ResourceState {
            type_name: "sqs.queue".into(),
            id: id.into(),
            attributes: serde_json::json!({"name": id}),
            dependencies: vec![],
        }
    }

    fn journal_lines(store: &LocalStore) -> usize {
        fs::read_to_string(store.journal_path())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Records per-entry writes the way the apply does: pending, then the resource.
    async fn create(store: &LocalStore, state: &mut State, name: &str) {
        let pending = PendingCreate {
            type_name: "sqs.queue".into(),
            desired: serde_json::json!({"name": name}),
            dependencies: vec![],
            request: None,
        };
        state.pending.insert(name.into(), pending);
        save_entry(store, state, name).unwrap().await.unwrap();
        state.pending.shift_remove(name);
        state.resources.insert(name.into(), queue(name));
        save_entry(store, state, name).unwrap().await.unwrap();
    }

    #[tokio::test]
    async fn entry_writes_go_to_the_journal_and_a_read_replays_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path(), "s", "dev");
        let mut state = store.read().await.unwrap();
        for i in 0..20 {
            state
                .resources
                .insert(format!("old{i}"), queue(&format!("old{i}")));
        }
        save(&store, &mut state).await.unwrap();
        let file_before = fs::read_to_string(&store.path).unwrap();
        create(&store, &mut state, "new").await;
        state.resources.shift_remove("old3");
        save_entry(&store, &mut state, "old3")
            .unwrap()
            .await
            .unwrap();
        // The state file was not rewritten: three records in the journal.
        assert_eq!(fs::read_to_string(&store.path).unwrap(), file_before);
        assert_eq!(journal_lines(&store), 3);
        assert_eq!(mode(&store.journal_path()), 0o600);
        // A new process (after a kill -9) sees every change, in the same order.
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.serial, state.serial);
        assert_eq!(
            loaded.resources.keys().collect::<Vec<_>>(),
            state.resources.keys().collect::<Vec<_>>()
        );
        assert!(loaded.pending.is_empty());
        assert_eq!(loaded.resources["new"].id, "new");
        // A whole write compacts: the journal is gone and the file has everything.
        save(&store, &mut state).await.unwrap();
        assert!(!store.journal_path().exists());
        let compacted: State =
            serde_json::from_str(&fs::read_to_string(&store.path).unwrap()).unwrap();
        assert_eq!(compacted.resources.len(), 20);
        assert_eq!(compacted.serial, state.serial);
    }

    #[tokio::test]
    async fn a_pending_create_is_durable_before_the_write_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut state) = five_queues(dir.path()).await;
        state.pending.insert(
            "q".into(),
            PendingCreate {
                type_name: "sqs.queue".into(),
                desired: serde_json::json!({"name": "q"}),
                dependencies: vec![],
                request: None,
            },
        );
        save_entry(&store, &mut state, "q").unwrap().await.unwrap();
        // Killed here, before the create: the next run finds the write-ahead record.
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.pending["q"].desired["name"], "q");
    }

    #[tokio::test]
    async fn a_torn_last_line_and_records_the_file_already_has_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut state) = five_queues(dir.path()).await;
        state.resources.shift_remove("r1");
        save_entry(&store, &mut state, "r1").unwrap().await.unwrap();
        let journal = fs::read_to_string(store.journal_path()).unwrap();
        // A kill during the next append leaves half a line.
        let mut torn = journal.clone();
        torn.push_str(&journal[..journal.len() / 2]);
        fs::write(store.journal_path(), &torn).unwrap();
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.serial, state.serial);
        assert!(!loaded.resources.contains_key("r1"));
        // A journal older than the state file (a kill between the file's rename and the
        // journal's removal) changes nothing: r1 is back in the file at a later serial.
        state.resources.insert("r1".into(), queue("r1-again"));
        save(&store, &mut state).await.unwrap();
        fs::write(store.journal_path(), &journal).unwrap();
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.resources["r1"].id, "r1-again");
        assert_eq!(loaded.serial, state.serial);
    }

    #[tokio::test]
    async fn the_journal_is_compacted_once_it_outgrows_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path(), "s", "dev");
        let mut state = store.read().await.unwrap();
        save(&store, &mut state).await.unwrap();
        let mut whole_writes = 0;
        for i in 0..200 {
            let before = journal_lines(&store);
            create(&store, &mut state, &format!("q{i}")).await;
            let after = journal_lines(&store);
            assert!(after <= state.resources.len() + 1);
            // Two records, unless a whole write dropped the journal in between.
            if after < before + 2 {
                whole_writes += 1;
            }
        }
        // Each whole write is paid for by as many records as the state has resources:
        // O(n) bytes in all, not O(n²).
        assert!(
            whole_writes < 40,
            "{whole_writes} whole writes for 200 creates"
        );
        let loaded = LocalStore::new(dir.path(), "s", "dev").load().unwrap();
        assert_eq!(loaded.resources.len(), 200);
        assert_eq!(loaded.serial, state.serial);
    }
}
