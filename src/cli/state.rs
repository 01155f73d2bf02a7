//! `strata state ...` (list, show, rm, pull, push, history, migrate) and `strata bootstrap`.
//! Each state command works on the stack's store, local or S3, through the store interface;
//! only `history` (bucket versions) and `migrate` (both stores) need to know which it is.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use strata::aws::{Clients, Target};
use strata::config::Stack;
use strata::config::address::address;
use strata::ops::{self, Store};
use strata::state::bootstrap::{BootstrapOptions, STEPS, bootstrap as make_bucket};
use strata::state::store::{StateStore, save};
use strata::state::{State, StateError};

use super::deploy::{lock, open_store, runtime, target, unlock};
use super::out::{out, outln, sayln};
use super::{StackArgs, TargetArgs, load};

fn with_stack(
    args: &StackArgs,
    body: impl FnOnce(Stack) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    match load(args) {
        Ok(stack) => body(stack),
        Err(code) => Ok(code),
    }
}

pub fn list(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let state = runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            anyhow::Ok(store.read().await?)
        })?;
        let mut rows: Vec<(String, &str)> = state
            .resources
            .iter()
            .map(|(name, r)| (address(&r.type_name, name), r.id.as_str()))
            .collect();
        rows.sort();
        for (address, id) in rows {
            outln!("{address}\t{id}")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `RESOURCE` as `name` or `type.name` (in a module `module.tenant["a"].name` or
/// `module.tenant["a"].type.name`).
fn resource_name<'a>(state: &'a State, resource: &str) -> anyhow::Result<&'a str> {
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
    Err(anyhow!(
        "the state has no resource `{resource}`; it has: {}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ))
}

pub fn show(
    args: &StackArgs,
    resource: &str,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let state = runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            anyhow::Ok(store.read().await?)
        })?;
        let name = resource_name(&state, resource)?;
        outln!(
            "{}",
            serde_json::to_string_pretty(&state.resources[name]).expect("serialises")
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn rm(
    args: &StackArgs,
    resource: &str,
    auto_approve: bool,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            let lock = lock(&*store, "state rm", &args.file).await?;
            let result = async {
                let mut state = store.read().await?;
                let name = resource_name(&state, resource)?.to_string();
                let r = &state.resources[&name];
                let address = address(&r.type_name, &name);
                sayln!(
                    "{address} (id {}) will be forgotten: strata stops managing it, and the object stays in AWS.",
                    r.id
                );
                if !auto_approve && !confirm("state rm")? {
                    eprintln!("state rm cancelled.");
                    return anyhow::Ok(ExitCode::from(1));
                }
                state.resources.shift_remove(&name);
                save(&*store, &mut state).await?;
                sayln!(
                    "Removed {address} from the state at {} (serial {}).",
                    store.location(),
                    state.serial
                );
                Ok(ExitCode::SUCCESS)
            }
            .await;
            unlock(&*store, lock, result).await
        })
    })
}

/// Prints the state. A stack never applied has none: like `terraform state pull`, nothing
/// is printed on stdout (exit 0), and stderr says so.
pub fn pull(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let (state, location) = runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            anyhow::Ok((store.read().await?, store.location()))
        })?;
        // Every write raises the serial: 0 is a state that was never written.
        if state.serial == 0 {
            eprintln!(
                "No state: stack `{}` (stage `{}`) has never been applied with the state at {location}.",
                stack.name,
                ops::stage_of(&stack)
            );
            return Ok(ExitCode::SUCCESS);
        }
        outln!("{}", serde_json::to_string_pretty(&state)?)?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn push(
    args: &StackArgs,
    file: &Path,
    force: bool,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let pushed = State::parse_given(
            &text,
            &file.display().to_string(),
            &stack.name,
            &ops::stage_of(&stack),
        )?;
        runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            let lock = lock(&*store, "state push", &args.file).await?;
            let result = async {
                let current = store.read().await?;
                let exists = current.serial > 0;
                if exists && !force {
                    if pushed.lineage != current.lineage {
                        bail!(
                            "{} is another state (lineage {}) than the one at {} (lineage {}); nothing was written. Pass --force to replace it",
                            file.display(),
                            pushed.lineage,
                            store.location(),
                            current.lineage
                        );
                    }
                    if pushed.serial < current.serial {
                        bail!(
                            "{} is older (serial {}) than the state at {} (serial {}); nothing was written. Pass --force to replace it",
                            file.display(),
                            pushed.serial,
                            store.location(),
                            current.serial
                        );
                    }
                }
                let mut written = pushed.clone();
                written.serial = pushed.serial.max(current.serial + 1);
                store.write(&written, current.serial).await?;
                sayln!(
                    "Pushed {} to {} (serial {}, lineage {}).",
                    file.display(),
                    store.location(),
                    written.serial,
                    written.lineage
                );
                anyhow::Ok(ExitCode::SUCCESS)
            }
            .await;
            unlock(&*store, lock, result).await
        })
    })
}

pub fn history(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        runtime()?.block_on(async {
            let store = ops::open_store(
                &stack,
                &target_args.state_dir,
                target_args.backend_config.as_ref(),
                &target(target_args, Some(&stack)),
            )
            .await?;
            let Store::S3(s3) = store else {
                eprintln!(
                    "The state of stack `{}` is local ({}): a local state has no history. Keep it in S3 (`[backend] s3`, `strata state migrate`) for one.",
                    stack.name,
                    store.shared().location()
                );
                return anyhow::Ok(ExitCode::from(1));
            };
            let versions = s3.history().await?;
            if versions.is_empty() {
                outln!("No state at {} yet.", s3.location())?;
            }
            outln!("SERIAL\tTIME\tWRITER\tVERSION")?;
            for v in versions {
                let serial = if v.deleted {
                    "(deleted)".to_string()
                } else {
                    v.serial.map_or("?".into(), |s| s.to_string())
                };
                let serial = match &v.moved_to {
                    Some(to) => format!("{serial} (moved to {to})"),
                    None => serial,
                };
                outln!(
                    "{serial}\t{}\t{}\t{}{}",
                    v.time,
                    v.writer.as_deref().unwrap_or("?"),
                    v.version_id,
                    if v.latest { " (current)" } else { "" }
                )?;
            }
            Ok(ExitCode::SUCCESS)
        })
    })
}

/// Moves the state from the local directory into the stack's S3 backend, or back with
/// `to_local`, keeping lineage and serial. Both stores are locked meanwhile. The old place
/// is left with a marker naming the new one, so that a command still pointed there is
/// refused (saying where the state went) instead of planning from an empty state.
pub fn migrate(
    args: &StackArgs,
    to_local: bool,
    force: bool,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let backend = ops::backend_of(&stack, target_args.backend_config.as_ref())?
            .ok_or_else(|| {
                anyhow!(
                    "stack `{}` has no S3 backend to migrate {}: declare `[backend] s3 = {{ bucket = \"...\", key = \"...\" }}` or pass --backend-config bucket=...,key=...",
                    stack.name,
                    if to_local { "from" } else { "to" }
                )
            })?;
        runtime()?.block_on(async {
            let local = ops::local_store(&stack, &target_args.state_dir);
            // Where the marker in S3 says the state went: a path that means the same
            // wherever it is read.
            let local_place = std::path::absolute(&local.path)
                .unwrap_or_else(|_| local.path.clone())
                .display()
                .to_string();
            let local: Arc<dyn StateStore> = Arc::new(local);
            let remote: Arc<dyn StateStore> = Arc::new(
                ops::s3_store(&stack, &backend, &target(target_args, Some(&stack))).await?,
            );
            let (from, to, to_place) = if to_local {
                (remote, local, local_place)
            } else {
                let place = remote.location();
                (local, remote, place)
            };
            let from_lock = lock(&*from, "state migrate", &args.file).await?;
            let to_lock = match lock(&*to, "state migrate", &args.file).await {
                Ok(lock) => lock,
                Err(err) => return unlock(&*from, from_lock, Err(err)).await,
            };
            let result = async {
                let state = from.read().await?;
                if state.serial == 0 {
                    bail!(
                        "there is no state at {} to migrate; nothing was written",
                        from.location()
                    );
                }
                // The destination may hold nothing, the marker of an earlier move, or a
                // state, replaced only with --force.
                let expected = match to.read().await {
                    Ok(existing) if existing.serial > 0 && !force => bail!(
                        "{} already holds a state (serial {}, lineage {}); nothing was written. Pass --force to replace it",
                        to.location(),
                        existing.serial,
                        existing.lineage
                    ),
                    Ok(existing) => existing.serial,
                    Err(StateError::Moved { moved, .. }) => moved.serial,
                    Err(err) => return Err(err.into()),
                };
                to.write(&state, expected).await?;
                from.write_moved(&state, &to_place, state.serial).await?;
                anyhow::Ok(state)
            }
            .await;
            let result = unlock(&*to, to_lock, result).await;
            let state = unlock(&*from, from_lock, result).await?;
            sayln!(
                "Migrated the state (serial {}, lineage {}) from {} to {}.",
                state.serial,
                state.lineage,
                from.location(),
                to.location()
            );
            sayln!(
                "{} now holds only a marker saying where the state went: a command still pointed there is refused.",
                from.location()
            );
            if to_local {
                sayln!(
                    "Remove `[backend]` from the stack (or pass --backend-config local) for commands to use the local state."
                );
            } else if stack.backend.is_none() {
                sayln!(
                    "The stack declares no `[backend]`: add `[backend] s3 = {{ bucket = \"{}\", key = \"{}\" }}` (or keep passing --backend-config) for commands to use it.",
                    backend.bucket, backend.key
                );
            }
            Ok(ExitCode::SUCCESS)
        })
    })
}

/// Creates a state bucket, or finishes one of the caller's that a bootstrap left half
/// configured; on a finished one it changes nothing and says so.
pub fn bootstrap(
    bucket: &str,
    region: Option<String>,
    days: i32,
    local: bool,
    endpoint_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !strata::schema::rules::valid_bucket_name(bucket) {
        bail!(
            "invalid bucket name `{bucket}`: expected 3-63 lowercase letters, digits, dots and hyphens"
        );
    }
    runtime()?.block_on(async {
        let aws = Clients::connect(&Target {
            endpoint_url,
            local,
            region,
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
                expire_versions_after_days: days,
            },
        )
        .await?;
        let settings = format!(
            "versioning on, encrypted (AES256 unless it has a key of its own), public access blocked, TLS-only policy, old versions expire after {days} days"
        );
        if done.created {
            sayln!(
                "Created the state bucket `{bucket}` in {}: {settings}.",
                aws.region
            );
        } else if done.written.is_empty() {
            sayln!(
                "The bucket `{bucket}` is already a state bucket ({settings}): nothing to do."
            );
            return anyhow::Ok(ExitCode::SUCCESS);
        } else {
            let kept: Vec<&str> = STEPS
                .into_iter()
                .filter(|s| !done.written.contains(s))
                .collect();
            sayln!(
                "Finished the state bucket `{bucket}` (yours, in {}): set {}{}.",
                aws.region,
                done.written.join(", "),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("; already in place: {}", kept.join(", "))
                }
            );
        }
        sayln!(
            "Use it in a stack with:\n\n[backend]\ns3 = {{ bucket = \"{bucket}\", key = \"stacks/${{stack.name}}-${{var.stage}}.json\", region = \"{}\" }}",
            aws.region
        );
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Asks on the terminal; refuses to go on without one.
fn confirm(operation: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{operation} needs confirmation, but there is no terminal: pass --auto-approve to {operation} without asking"
        );
    }
    out!("\nDo you want to go on? Only 'yes' will be accepted: ")
        .map_err(|e| anyhow!("cannot ask for confirmation on standard output: {e}"))?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
