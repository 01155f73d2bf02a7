//! The S3 state store: the state is one object at `s3://bucket/key`, the lock another at
//! `s3://bucket/key.lock`. Both rely on S3 conditional writes, so no lock table is needed:
//!
//! - the lock object is created with `PutObject If-None-Match: *`: only one run can create
//!   it; it records who holds it (id, user@host, pid, operation, time) for whoever is refused;
//! - every whole write of the state carries `If-Match` with the ETag this process last read
//!   or wrote (`If-None-Match: *` when there was no state yet), so a writer whose view is
//!   stale is refused even if someone forced its lock away. A PutObject replaces the object
//!   whole, so a state is never half written.
//!
//! S3 answers a conditional write that races another one with 409
//! ConditionalRequestConflict; as its documentation says, the ETag is fetched again and the
//! write tried again (the lock's creation, a state write, an unlock, a forced unlock).
//!
//! During an apply, writing the whole state after every resource would cost n PUTs of a
//! state that grows to n resources. Instead, a create's write-ahead (pending) record, the
//! one change that must be durable before the create starts, is written as a small object
//! of its own, `key.journal/<serial>-<session>`; other changes of one entry (a finished
//! create, an update, a deletion) wait in memory, and the whole state is written at most
//! once every [`WHOLE_WRITE_EVERY`] and at the end of the run. Reading replays the journal
//! records written on top of the state object by the process that wrote it (the object
//! and the records carry its session id, and a record counts only if its serial is newer
//! than the object's), so a run killed at any point leaves every create it started either
//! recorded or pending, and the next run adopts what it finds. Records a whole write made
//! obsolete are deleted after it.
//!
//! Each state version carries its serial, writer and session as object metadata, which
//! [`S3Store::history`] reads back from the bucket's versions.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt, stream};

use super::lock::{Holder, LockError, LockInfo, held_error, holder_of};
use super::store::{StateLock, StateStore, Written};
use super::{Moved, PendingCreate, ResourceState, State, StateError, Stored};
use crate::aws::AwsError;
use crate::aws::error::sdk;
use crate::aws::retry::{Backoff, retry};

/// The longest time an entry change (other than a pending create) waits in memory before
/// a whole write of the state records it.
pub const WHOLE_WRITE_EVERY: Duration = Duration::from_secs(5);

/// A 409 ConditionalRequestConflict is a race with another conditional write: over in a
/// moment, or a real conflict the next attempt reports as such.
const CONFLICT: Backoff = Backoff::BRIEF;

pub struct S3Store {
    client: Client,
    pub bucket: String,
    pub key: String,
    stack: String,
    stage: String,
    /// Names this store's writes: a journal record counts only on top of a state object
    /// written by the same session, so the records of a run whose lock was forced away
    /// never land on the state another run wrote since.
    session: String,
    inner: Mutex<Inner>,
    /// Whole writes go one at a time.
    whole: tokio::sync::Mutex<()>,
    /// The longest an entry change waits for a whole write ([`WHOLE_WRITE_EVERY`]).
    whole_every: Duration,
}

#[derive(Default)]
struct Inner {
    /// Whether this process has read the state: a write needs the ETag a read learns.
    read: bool,
    /// The ETag of the object at the state's key as this process last read or wrote it
    /// (`None`: no object).
    etag: Option<String>,
    /// The serial of the last change this process read, wrote or took.
    last_serial: u64,
    /// The serial of this process's last whole write of the state.
    written_serial: Option<u64>,
    /// When the last whole write was taken.
    last_whole: Option<Instant>,
    /// Names whose pending record may be stored (in the state object or a journal record):
    /// withdrawing one must be durable too.
    pending: HashSet<String>,
    /// Journal records in the bucket, by serial, deleted once a whole write covers them.
    journal: Vec<(u64, String)>,
}

/// One journal object: the entry `name` of the state of `lineage` as of `serial`, written
/// by `session` on top of its own whole write.
#[derive(serde::Serialize, serde::Deserialize)]
struct JournalRecord {
    lineage: String,
    session: String,
    serial: u64,
    name: String,
    #[serde(default)]
    resource: Option<ResourceState>,
    #[serde(default)]
    pending: Option<PendingCreate>,
}

/// An object as read: body, ETag and user metadata.
struct Object {
    bytes: Vec<u8>,
    etag: Option<String>,
    metadata: std::collections::HashMap<String, String>,
}

/// One stored version of the state, newest first in [`S3Store::history`].
#[derive(Clone, Debug)]
pub struct Version {
    pub version_id: String,
    pub serial: Option<u64>,
    pub writer: Option<String>,
    /// Where `state migrate` moved the state, for a version that is the marker it left.
    pub moved_to: Option<String>,
    /// RFC 3339.
    pub time: String,
    pub latest: bool,
    pub deleted: bool,
    /// Seconds and nanoseconds since the epoch, for ordering (`time` is text).
    order: (i64, u32),
}

fn order(t: Option<&aws_smithy_types::DateTime>) -> (i64, u32) {
    t.map_or((0, 0), |t| (t.secs(), t.subsec_nanos()))
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> String {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .unwrap_or_default()
}

/// What a held S3 lock needs to be released: the ETag of the lock object this run created.
struct LockHandle {
    etag: String,
}

/// What a whole write puts at the state's key.
enum Whole<'a> {
    State,
    Moved(&'a str),
}

impl S3Store {
    pub fn new(client: Client, bucket: &str, key: &str, stack: &str, stage: &str) -> S3Store {
        S3Store {
            client,
            bucket: bucket.to_string(),
            key: key.to_string(),
            stack: stack.to_string(),
            stage: stage.to_string(),
            session: uuid::Uuid::new_v4().simple().to_string(),
            inner: Mutex::new(Inner::default()),
            whole: tokio::sync::Mutex::new(()),
            whole_every: WHOLE_WRITE_EVERY,
        }
    }

    /// The same store, writing the whole state at most once every `every` during a run
    /// (zero: at every entry change).
    pub fn with_whole_write_every(mut self, every: Duration) -> S3Store {
        self.whole_every = every;
        self
    }

    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// The folder of the journal's objects.
    pub fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    fn lock_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.lock_key())
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("store state")
    }

    /// A failed call on the state object as a state error, saying plainly what a missing
    /// bucket or a refused permission means.
    fn state_error(&self, err: AwsError) -> StateError {
        StateError::Remote {
            path: self.location(),
            error: explain(&self.bucket, &err),
        }
    }

    fn lock_error(&self, err: AwsError) -> LockError {
        LockError::Remote {
            location: self.lock_location(),
            error: explain(&self.bucket, &err),
        }
    }

    /// The object at `key`, `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Object>, AwsError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag.clone();
                let metadata = out.metadata.clone().unwrap_or_default();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::new("GetObject", format!("reading the body: {e}")))?
                    .into_bytes()
                    .to_vec();
                Ok(Some(Object {
                    bytes,
                    etag,
                    metadata,
                }))
            }
            Err(err) => {
                let err = sdk("GetObject")(err);
                if err.code_is(&["NoSuchKey"]) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Stored, StateError> {
        let text = String::from_utf8_lossy(bytes);
        State::parse_stored(&text, &self.location(), &self.stack, &self.stage)
    }

    /// The serial of what `object` holds, for a conflict's message.
    fn serial_of(&self, object: Option<&Object>) -> u64 {
        match object.map(|o| self.parse(&o.bytes)) {
            Some(Ok(Stored::State(state))) => state.serial,
            Some(Ok(Stored::Moved(moved))) => moved.serial,
            _ => 0,
        }
    }

    /// The stored versions of the state, newest first (the bucket must have versioning on
    /// for there to be more than one). The journal's objects are left out.
    pub async fn history(&self) -> Result<Vec<Version>, StateError> {
        let mut versions = Vec::new();
        let mut key_marker = None;
        let mut version_marker = None;
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                // The journal's objects roll up into one common prefix, unlisted.
                .delimiter("/")
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(sdk("ListObjectVersions"))
                .map_err(|e| self.state_error(e))?;
            for v in out.versions() {
                if v.key() != Some(self.key.as_str()) {
                    continue;
                }
                let version_id = v.version_id().unwrap_or("null").to_string();
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .version_id(&version_id)
                    .send()
                    .await
                    .map_err(sdk("HeadObject"))
                    .map_err(|e| self.state_error(e))?;
                let meta = head.metadata();
                versions.push(Version {
                    version_id,
                    serial: meta
                        .and_then(|m| m.get("serial"))
                        .and_then(|s| s.parse().ok()),
                    writer: meta.and_then(|m| m.get("writer")).cloned(),
                    moved_to: meta.and_then(|m| m.get("moved-to")).cloned(),
                    time: rfc3339(v.last_modified()),
                    latest: v.is_latest().unwrap_or(false),
                    deleted: false,
                    order: order(v.last_modified()),
                });
            }
            for m in out.delete_markers() {
                if m.key() != Some(self.key.as_str()) {
                    continue;
                }
                versions.push(Version {
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    serial: None,
                    writer: None,
                    moved_to: None,
                    time: rfc3339(m.last_modified()),
                    latest: m.is_latest().unwrap_or(false),
                    deleted: true,
                    order: order(m.last_modified()),
                });
            }
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_string);
                version_marker = out.next_version_id_marker().map(str::to_string);
            } else {
                break;
            }
        }
        // Newest first; writes within the same millisecond by serial.
        versions.sort_by_key(|v| std::cmp::Reverse((v.latest, v.order, v.serial)));
        Ok(versions)
    }

    /// The lock object's record and ETag, `None` when nobody holds the lock.
    async fn read_lock(&self) -> Result<Option<(LockInfo, String)>, LockError> {
        let Some(object) = self
            .get(&self.lock_key())
            .await
            .map_err(|e| self.lock_error(e))?
        else {
            return Ok(None);
        };
        let info =
            serde_json::from_slice::<LockInfo>(&object.bytes).map_err(|e| LockError::Garbage {
                location: self.lock_location(),
                error: e.to_string(),
            })?;
        Ok(Some((info, object.etag.unwrap_or_default())))
    }

    /// Deletes the lock object if its ETag is still `etag`. `Ok(true)` when it is gone
    /// (deleted now, or before: a retried delete whose first attempt removed it is answered
    /// 404), `Ok(false)` when the lock object there is another one. A 409 is retried after
    /// fetching the ETag again.
    async fn delete_lock(&self, etag: &str) -> Result<bool, AwsError> {
        let attempt = || async move {
            let mut delete = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.lock_key());
            if !etag.is_empty() {
                delete = delete.if_match(etag);
            }
            match delete.send().await.map_err(sdk("DeleteObject")) {
                Ok(_) => Ok(true),
                Err(err) if err.code_is(&["NoSuchKey"]) || err.status == Some(404) => Ok(true),
                Err(err) if precondition_failed(&err) => Ok(false),
                Err(err) if is_conflict(&err) => match self.get(&self.lock_key()).await? {
                    None => Ok(true),
                    // Still the lock to delete: try again.
                    Some(object) if object.etag.as_deref() == Some(etag) => Err(err),
                    Some(_) => Ok(false),
                },
                Err(err) => Err(err),
            }
        };
        retry(CONFLICT, is_conflict, attempt).await
    }

    /// Puts `body` at the state's key if the object there is still the one with `etag`
    /// (`None`: no object), and returns the new ETag. A 409 is retried after fetching the
    /// ETag again; a refusal (412), or a 409 after which the object is another one, is a
    /// conflict, unless the object there is exactly `body` (the SDK retried a write whose
    /// answer was lost, or the conflict was with our own write).
    async fn put_state_object(
        &self,
        body: &[u8],
        metadata: &[(&str, String)],
        etag: Option<&str>,
        expected_serial: u64,
    ) -> Result<Option<String>, StateError> {
        let conflict = |object: Option<&Object>| StateError::Conflict {
            path: self.location(),
            expected: expected_serial,
            found: self.serial_of(object),
        };
        let attempt = || async move {
            let mut request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .body(ByteStream::from(body.to_vec()));
            for (name, value) in metadata {
                request = request.metadata(*name, value);
            }
            let request = match etag {
                Some(etag) => request.if_match(etag),
                None => request.if_none_match("*"),
            };
            let err = match request.send().await.map_err(sdk("PutObject")) {
                Ok(out) => return Ok(Ok(out.e_tag)),
                Err(err) if precondition_failed(&err) || is_conflict(&err) => err,
                Err(err) => return Err(err),
            };
            let current = self.get(&self.key).await?;
            Ok(match &current {
                Some(object) if object.bytes == body => Ok(object.etag.clone()),
                // Still the object the write expects: a 409 is tried again.
                Some(object) if is_conflict(&err) && object.etag.as_deref() == etag => {
                    return Err(err);
                }
                None if is_conflict(&err) && etag.is_none() => return Err(err),
                _ => Err(conflict(current.as_ref())),
            })
        };
        retry(CONFLICT, is_conflict, attempt)
            .await
            .map_err(|e| self.state_error(e))?
    }

    /// Writes `body` (the state at `serial`, or the marker of a moved state) whole, on top
    /// of the object this process last read or wrote. A state write that a newer whole
    /// write of this process already covers is skipped.
    async fn write_whole(
        &self,
        body: Vec<u8>,
        serial: u64,
        expected_serial: u64,
        what: Whole<'_>,
    ) -> Result<(), StateError> {
        let _one_at_a_time = self.whole.lock().await;
        let etag = {
            let inner = self.inner();
            if matches!(what, Whole::State) && inner.written_serial.is_some_and(|s| s >= serial) {
                return Ok(());
            }
            inner.etag.clone()
        };
        let mut metadata = vec![
            ("serial", serial.to_string()),
            ("writer", LockInfo::new("write").who),
            ("session", self.session.clone()),
        ];
        if let Whole::Moved(to) = what {
            metadata.push(("moved-to", to.to_string()));
        }
        let etag = self
            .put_state_object(&body, &metadata, etag.as_deref(), expected_serial)
            .await?;
        let obsolete: Vec<String> = {
            let mut inner = self.inner();
            inner.etag = etag;
            inner.written_serial = Some(serial);
            let (done, later): (Vec<_>, Vec<_>) =
                inner.journal.drain(..).partition(|(s, _)| *s <= serial);
            inner.journal = later;
            done.into_iter().map(|(_, key)| key).collect()
        };
        self.delete_records(obsolete).await;
        Ok(())
    }

    /// Deletes journal records a whole write made obsolete. A failure is only logged: a
    /// reader skips such records, and the next whole write tries again.
    async fn delete_records(&self, keys: Vec<String>) {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        for chunk in keys.chunks(1000) {
            let objects: Vec<ObjectIdentifier> = chunk
                .iter()
                .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
                .collect();
            let Ok(delete) = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
            else {
                continue;
            };
            let result = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(sdk("DeleteObjects"));
            let failed: Vec<String> = match result {
                Ok(out) => out
                    .errors()
                    .iter()
                    .filter_map(|e| e.key().map(str::to_string))
                    .collect(),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot delete old state journal records");
                    chunk.to_vec()
                }
            };
            if !failed.is_empty() {
                // Tried again after the next whole write.
                self.inner()
                    .journal
                    .extend(failed.into_iter().map(|key| (0, key)));
            }
        }
    }

    /// Applies to `state` (as read from the state object, written by `session`) the
    /// journal records written on top of it; remembers every record found, to delete once
    /// the next whole write covers it.
    async fn replay(&self, state: &mut State, session: Option<&str>) -> Result<(), StateError> {
        let prefix = self.journal_prefix();
        let keys: Vec<String> = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(sdk("ListObjectsV2"))
            .map_err(|e| self.state_error(e))?
            .into_iter()
            .flat_map(|page| page.contents.unwrap_or_default())
            .filter_map(|o| o.key)
            .collect();
        let mut found = Vec::new();
        let mut wanted = Vec::new();
        for key in keys {
            let Some(serial) = record_serial(&key, &prefix) else {
                continue;
            };
            let newer =
                serial > state.serial && session.is_some_and(|s| key.ends_with(&format!("-{s}")));
            if newer {
                wanted.push(key.clone());
            }
            found.push((serial, key));
        }
        let records: Vec<Option<JournalRecord>> = stream::iter(wanted)
            .map(|key| async move {
                let object = self.get(&key).await?;
                Ok::<_, AwsError>(object.and_then(|o| serde_json::from_slice(&o.bytes).ok()))
            })
            .buffered(16)
            .try_collect()
            .await
            .map_err(|e| self.state_error(e))?;
        let mut records: Vec<JournalRecord> = records
            .into_iter()
            .flatten()
            .filter(|r| r.lineage == state.lineage && Some(r.session.as_str()) == session)
            .collect();
        records.sort_by_key(|r| r.serial);
        for record in records {
            state.set_entry(record.name, record.resource, record.pending, record.serial);
        }
        self.inner().journal = found;
        Ok(())
    }

    /// Writes one journal record; once it returns, the record is durable.
    async fn put_record(&self, record: &JournalRecord) -> Result<(), StateError> {
        let key = format!(
            "{}{:020}-{}",
            self.journal_prefix(),
            record.serial,
            record.session
        );
        let body = serde_json::to_vec(record).expect("journal record serialises");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk("PutObject"))
            .map_err(|e| self.state_error(e))?;
        self.inner().journal.push((record.serial, key));
        Ok(())
    }

    /// Reads first when this process has not: a write needs the ETag a read learns.
    async fn ensure_read(&self) -> Result<(), StateError> {
        if !self.inner().read {
            self.read().await?;
        }
        Ok(())
    }

    fn check_serial(&self, inner: &Inner, expected_serial: u64) -> Result<(), StateError> {
        if inner.last_serial == expected_serial {
            Ok(())
        } else {
            Err(StateError::Conflict {
                path: self.location(),
                expected: expected_serial,
                found: inner.last_serial,
            })
        }
    }
}

/// The serial in a journal record's key, `<prefix><serial>-<session>`.
fn record_serial(key: &str, prefix: &str) -> Option<u64> {
    let name = key.strip_prefix(prefix)?;
    let (serial, _) = name.split_once('-')?;
    serial.parse().ok()
}

fn to_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("state serialises");
    text.push('\n');
    text.into_bytes()
}

/// Says what a failed S3 call means for the state bucket.
fn explain(bucket: &str, err: &AwsError) -> String {
    if err.code_is(&["NoSuchBucket"]) {
        format!(
            "the state bucket `{bucket}` does not exist (create it with `strata bootstrap {bucket}`)"
        )
    } else if err.code_is(&["AccessDenied", "AllAccessDisabled"]) || err.status == Some(403) {
        format!(
            "access denied to the state bucket `{bucket}` ({err}); the credentials in use need s3:ListBucket on the bucket and s3:GetObject, s3:PutObject and s3:DeleteObject on the state's key, its `.lock` and its `.journal/` objects; `strata state history` needs s3:ListBucketVersions on the bucket and s3:GetObjectVersion on the state's key"
        )
    } else {
        err.to_string()
    }
}

fn precondition_failed(err: &AwsError) -> bool {
    err.status == Some(412) || err.code_is(&["PreconditionFailed"])
}

/// S3's answer to a conditional write that raced another one.
fn is_conflict(err: &AwsError) -> bool {
    err.code_is(&["ConditionalRequestConflict"])
}

#[async_trait]
impl StateStore for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn read(&self) -> Result<State, StateError> {
        let found = self.get(&self.key).await.map_err(|e| self.state_error(e))?;
        let (mut state, etag, session) = match found {
            None => (State::new(&self.stack, &self.stage), None, None),
            Some(object) => match self.parse(&object.bytes)? {
                Stored::State(state) => {
                    (*state, object.etag, object.metadata.get("session").cloned())
                }
                Stored::Moved(moved) => {
                    // Only `state migrate` writes over a marker, expecting its serial.
                    let mut inner = self.inner();
                    inner.read = true;
                    inner.etag = object.etag;
                    inner.last_serial = moved.serial;
                    return Err(StateError::Moved {
                        path: self.location(),
                        moved: Box::new(moved),
                    });
                }
            },
        };
        self.replay(&mut state, session.as_deref()).await?;
        let mut inner = self.inner();
        inner.read = true;
        inner.etag = etag;
        inner.last_serial = state.serial;
        inner.pending = state.pending.keys().cloned().collect();
        Ok(state)
    }

    async fn write(&self, state: &State, expected_serial: u64) -> Result<(), StateError> {
        self.ensure_read().await?;
        {
            let mut inner = self.inner();
            self.check_serial(&inner, expected_serial)?;
            inner.last_whole = Some(Instant::now());
            inner.pending.extend(state.pending.keys().cloned());
        }
        self.write_whole(to_body(state), state.serial, expected_serial, Whole::State)
            .await?;
        self.inner().last_serial = state.serial;
        Ok(())
    }

    /// A pending record (or its withdrawal, when nothing was created) is written as a
    /// journal object before the returned future resolves; every other change waits for
    /// the next whole write, taken here at most once every [`WHOLE_WRITE_EVERY`].
    fn write_entry<'a>(
        &'a self,
        state: &State,
        name: &str,
        expected_serial: u64,
    ) -> Result<Written<'a>, StateError> {
        let mut inner = self.inner();
        if !inner.read {
            // Never read (a caller outside an apply): write it whole.
            drop(inner);
            let state = state.clone();
            return Ok(Box::pin(async move {
                self.write(&state, expected_serial).await
            }));
        }
        self.check_serial(&inner, expected_serial)?;
        inner.last_serial = state.serial;
        let pending = state.pending.get(name).cloned();
        let withdrawn = pending.is_none()
            && inner.pending.contains(name)
            && !state.resources.contains_key(name);
        let record = (pending.is_some() || withdrawn).then(|| JournalRecord {
            lineage: state.lineage.clone(),
            session: self.session.clone(),
            serial: state.serial,
            name: name.to_string(),
            resource: state.resources.get(name).cloned(),
            pending: pending.clone(),
        });
        if pending.is_some() {
            inner.pending.insert(name.to_string());
        } else if withdrawn {
            inner.pending.remove(name);
        }
        let due = inner
            .last_whole
            .is_none_or(|t| t.elapsed() >= self.whole_every);
        let whole = due.then(|| {
            inner.last_whole = Some(Instant::now());
            (to_body(state), state.serial)
        });
        drop(inner);
        Ok(Box::pin(async move {
            match whole {
                // The whole state holds this change too.
                Some((body, serial)) => {
                    self.write_whole(body, serial, expected_serial, Whole::State)
                        .await
                }
                None => match record {
                    Some(record) => self.put_record(&record).await,
                    None => Ok(()),
                },
            }
        }))
    }

    async fn write_moved(
        &self,
        state: &State,
        moved_to: &str,
        expected_serial: u64,
    ) -> Result<(), StateError> {
        self.ensure_read().await?;
        self.check_serial(&self.inner(), expected_serial)?;
        self.write_whole(
            to_body(&Moved::of(state, moved_to)),
            state.serial,
            expected_serial,
            Whole::Moved(moved_to),
        )
        .await?;
        self.inner().last_serial = state.serial;
        Ok(())
    }

    async fn lock(&self, operation: &str) -> Result<StateLock, LockError> {
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info).expect("lock info serialises");
        let body = body.as_slice();
        let put = || async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.lock_key())
                .content_type("application/json")
                .if_none_match("*")
                .body(ByteStream::from(body.to_vec()))
                .send()
                .await
                .map_err(sdk("PutObject"))
        };
        // A 409: another conditional write on the lock (a holder's unlock) raced ours.
        match retry(CONFLICT, is_conflict, put).await {
            Ok(out) => Ok(StateLock {
                info,
                handle: Box::new(LockHandle {
                    etag: out.e_tag.unwrap_or_default(),
                }),
            }),
            Err(err) if precondition_failed(&err) => match self.read_lock().await? {
                // The SDK retried our own create whose answer was lost.
                Some((held, etag)) if held.id == info.id => Ok(StateLock {
                    info,
                    handle: Box::new(LockHandle { etag }),
                }),
                Some((held, _)) => {
                    let holder = holder_of(&held);
                    Err(held_error(Some(held), holder))
                }
                // Released between the two calls: one more try says who has it now.
                None => Err(held_error(None, Holder::Unknown)),
            },
            Err(err) => Err(self.lock_error(err)),
        }
    }

    async fn unlock(&self, lock: StateLock) -> Result<(), LockError> {
        let etag = lock
            .handle
            .downcast::<LockHandle>()
            .map(|h| h.etag)
            .unwrap_or_default();
        // `If-Match` on DeleteObject: a lock someone forced away and another run took since
        // is theirs now, and stays.
        self.delete_lock(&etag)
            .await
            .map(|_| ())
            .map_err(|e| self.lock_error(e))
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        let Some((info, etag)) = self.read_lock().await? else {
            return Err(LockError::NoLockObject {
                given: id.to_string(),
                location: self.lock_location(),
            });
        };
        if info.id != id {
            return Err(LockError::WrongId {
                given: id.to_string(),
                held: format!(
                    "held with id {} by {} (pid {}) for `{}`",
                    info.id, info.who, info.pid, info.operation
                ),
            });
        }
        // Only the lock object read above: if another run took the lock in between, its
        // object has another ETag and is left alone.
        match self.delete_lock(&etag).await {
            Ok(true) => Ok(info),
            Ok(false) => Err(LockError::WrongId {
                given: id.to_string(),
                held: "replaced by another run's lock while unlocking".into(),
            }),
            Err(err) => Err(self.lock_error(err)),
        }
    }
}
