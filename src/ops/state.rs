//! `strata state ...` (list, show, rm, pull, push, history, migrate), `strata force-unlock`
//! and `strata bootstrap`. Each state command works on the stack's store, local or S3,
//! through the store interface; only `history` (bucket versions) and `migrate` (both
//! stores) need to know which it is.

use std::path::Path;
use std::sync::Arc;

use super::{Access, OpsError, Stack, Store, locked, stage_of};
use crate::aws::{Clients, Target};
use crate::config::address::address;
use crate::state::bootstrap::{BootstrapOptions, STEPS, bootstrap as make_bucket};
use crate::state::lock::LockInfo;
use crate::state::s3::Version;
use crate::state::store::{StateStore, save};
use crate::state::{State, StateError};

/// The stack's state and where it is kept.
pub async fn read(stack: &Stack, access: &Access) -> Result<(State, String), OpsError> {
    let store = access.store(stack).await?.shared();
    Ok((store.read().await?, store.location()))
}

/// The name in `state` of `resource`, given as `name` or `type.name`.
pub fn resource_name<'a>(state: &'a State, resource: &str) -> Result<&'a str, OpsError> {
    if let Some((name, _)) = state.resources.get_key_value(resource) {
        return Ok(name);
    }
    if let Some((name, _)) = state
        .resources
        .iter()
        .find(|(name, r)| address(&r.type_name, name) == resource)
    {
        return Ok(name);
    }
    let names: Vec<String> = state
        .resources
        .iter()
        .map(|(n, r)| address(&r.type_name, n))
        .collect();
    Err(OpsError::Refused(format!(
        "the state has no resource `{resource}`; it has: {}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )))
}

/// A resource `state rm` forgot.
pub struct Removed {
    pub address: String,
    pub location: String,
    pub serial: u64,
}

/// Forgets `resource` (the object stays in AWS), under the state lock of the stack in
/// `file`, once `confirm` (given the resource's address and id) says yes; `None` when it
/// says no.
pub async fn rm(
    stack: &Stack,
    access: &Access,
    file: &Path,
    resource: &str,
    confirm: impl FnOnce(&str, &str) -> Result<bool, String>,
) -> Result<Option<Removed>, OpsError> {
    let store = access.store(stack).await?.shared();
    locked(&*store, "state rm", file, async || {
        let mut state = store.read().await?;
        let name = resource_name(&state, resource)?.to_string();
        let r = &state.resources[&name];
        let address = address(&r.type_name, &name);
        if !confirm(&address, &r.id).map_err(OpsError::Refused)? {
            return Ok(None);
        }
        state.resources.shift_remove(&name);
        save(&*store, &mut state).await?;
        Ok(Some(Removed {
            address,
            location: store.location(),
            serial: state.serial,
        }))
    })
    .await
}

/// A state `state push` wrote.
pub struct Pushed {
    pub location: String,
    pub serial: u64,
    pub lineage: String,
}

/// Writes the state in `pushed` (a file) as the stack's state, under the lock of the stack
/// in `file`; without `force`, only a newer state of the same lineage.
pub async fn push(
    stack: &Stack,
    access: &Access,
    file: &Path,
    pushed: &Path,
    force: bool,
) -> Result<Pushed, OpsError> {
    let text = std::fs::read_to_string(pushed).map_err(|source| OpsError::File {
        what: "read",
        path: pushed.to_path_buf(),
        source,
    })?;
    let given = State::parse_given(
        &text,
        &pushed.display().to_string(),
        &stack.name,
        &stage_of(stack),
    )?;
    let store = access.store(stack).await?.shared();
    locked(&*store, "state push", file, async || {
        let current = store.read().await?;
        let exists = current.serial > 0;
        if exists && !force {
            if given.lineage != current.lineage {
                return Err(OpsError::Refused(format!(
                    "{} is another state (lineage {}) than the one at {} (lineage {}); nothing was written. Pass --force to replace it",
                    pushed.display(),
                    given.lineage,
                    store.location(),
                    current.lineage
                )));
            }
            if given.serial < current.serial {
                return Err(OpsError::Refused(format!(
                    "{} is older (serial {}) than the state at {} (serial {}); nothing was written. Pass --force to replace it",
                    pushed.display(),
                    given.serial,
                    store.location(),
                    current.serial
                )));
            }
        }
        let mut written = given.clone();
        written.serial = given.serial.max(current.serial + 1);
        store.write(&written, current.serial).await?;
        Ok(Pushed {
            location: store.location(),
            serial: written.serial,
            lineage: written.lineage,
        })
    })
    .await
}

/// The versions of a state kept in S3, newest first.
pub enum History {
    /// A local state has no history: where it is.
    Local(String),
    S3 {
        location: String,
        versions: Vec<Version>,
    },
}

pub async fn history(stack: &Stack, access: &Access) -> Result<History, OpsError> {
    Ok(match access.store(stack).await? {
        Store::S3(s3) => History::S3 {
            location: s3.location(),
            versions: s3.history().await?,
        },
        local => History::Local(local.shared().location()),
    })
}

/// A state `state migrate` moved.
pub struct Migrated {
    pub serial: u64,
    pub lineage: String,
    pub from: String,
    pub to: String,
    /// The S3 backend's bucket and key.
    pub bucket: String,
    pub key: String,
}

/// Moves the state from the local directory into the stack's S3 backend, or back with
/// `to_local`, keeping lineage and serial. Both stores are locked meanwhile. The old place
/// is left with a marker naming the new one, so that a command still pointed there is
/// refused (saying where the state went) instead of planning from an empty state.
pub async fn migrate(
    stack: &Stack,
    access: &Access,
    file: &Path,
    to_local: bool,
    force: bool,
) -> Result<Migrated, OpsError> {
    let backend = super::backend_of(stack, access.backend_config.as_ref())?.ok_or_else(|| {
        OpsError::Backend(format!(
            "stack `{}` has no S3 backend to migrate {}: declare `[backend] s3 = {{ bucket = \"...\", key = \"...\" }}` or pass --backend-config bucket=...,key=...",
            stack.name,
            if to_local { "from" } else { "to" }
        ))
    })?;
    let local = super::local_store(stack, &access.state_dir);
    // Where the marker in S3 says the state went: a path that means the same wherever it
    // is read.
    let local_place = std::path::absolute(&local.path)
        .unwrap_or_else(|_| local.path.clone())
        .display()
        .to_string();
    let local: Arc<dyn StateStore> = Arc::new(local);
    let remote: Arc<dyn StateStore> =
        Arc::new(super::s3_store(stack, &backend, &access.target(Some(stack))).await?);
    let (from, to, to_place) = if to_local {
        (remote, local, local_place)
    } else {
        let place = remote.location();
        (local, remote, place)
    };
    let state = locked(&*from, "state migrate", file, async || {
        locked(&*to, "state migrate", file, async || {
            let state = from.read().await?;
            if state.serial == 0 {
                return Err(OpsError::Refused(format!(
                    "there is no state at {} to migrate; nothing was written",
                    from.location()
                )));
            }
            // The destination may hold nothing, the marker of an earlier move, or a state,
            // replaced only with --force.
            let expected = match to.read().await {
                Ok(existing) if existing.serial > 0 && !force => {
                    return Err(OpsError::Refused(format!(
                        "{} already holds a state (serial {}, lineage {}); nothing was written. Pass --force to replace it",
                        to.location(),
                        existing.serial,
                        existing.lineage
                    )));
                }
                Ok(existing) => existing.serial,
                Err(StateError::Moved { moved, .. }) => moved.serial,
                Err(err) => return Err(err.into()),
            };
            to.write(&state, expected).await?;
            from.write_moved(&state, &to_place, state.serial).await?;
            Ok(state)
        })
        .await
    })
    .await?;
    Ok(Migrated {
        serial: state.serial,
        lineage: state.lineage,
        from: from.location(),
        to: to.location(),
        bucket: backend.bucket,
        key: backend.key,
    })
}

/// Removes the lock `id` from the stack's state.
pub async fn force_unlock(stack: &Stack, access: &Access, id: &str) -> Result<LockInfo, OpsError> {
    let store = access.store(stack).await?.shared();
    Ok(store.force_unlock(id).await?)
}

/// What `strata bootstrap` was asked.
pub struct BootstrapRequest {
    pub bucket: String,
    pub region: Option<String>,
    /// Old state versions expire after this many days.
    pub days: i32,
    pub local: bool,
    pub endpoint_url: Option<String>,
}

/// What a bootstrap did to the bucket.
pub struct Bootstrapped {
    pub region: String,
    /// The bucket was created by this run.
    pub created: bool,
    /// The settings this run wrote.
    pub written: Vec<&'static str>,
    /// The settings that were already as wanted.
    pub kept: Vec<&'static str>,
}

/// Creates a state bucket, or finishes one of the caller's that a bootstrap left half
/// configured; on a finished one it changes nothing.
pub async fn bootstrap(request: BootstrapRequest) -> Result<Bootstrapped, OpsError> {
    let bucket = &request.bucket;
    if !crate::schema::rules::valid_bucket_name(bucket) {
        return Err(OpsError::Refused(format!(
            "invalid bucket name `{bucket}`: expected 3-63 lowercase letters, digits, dots and hyphens"
        )));
    }
    let aws = Clients::connect(&Target {
        endpoint_url: request.endpoint_url,
        local: request.local,
        region: request.region,
        credentials: None,
    })
    .await?;
    let identity = aws.identity().await?.clone();
    let done = make_bucket(
        &aws.s3,
        bucket,
        &BootstrapOptions {
            region: aws.region.clone(),
            account_id: identity.account_id.clone(),
            partition: identity.partition.clone(),
            expire_versions_after_days: request.days,
        },
    )
    .await?;
    let kept = STEPS
        .into_iter()
        .filter(|s| !done.written.contains(s))
        .collect();
    Ok(Bootstrapped {
        region: aws.region.clone(),
        created: done.created,
        written: done.written,
        kept,
    })
}
