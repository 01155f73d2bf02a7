//! `strata state ...` (list, show, rm, pull, push, history, migrate) and `strata bootstrap`.
//! Each state command works on the stack's store, local or S3, through the store interface;
//! only `history` (bucket versions) and `migrate` (both stores) need to know which it is.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use strata::aws::{Clients, Target};
use strata::config::Stack;
use strata::ops::{self, Store};
use strata::state::State;
use strata::state::s3::{BootstrapOptions, bootstrap as make_bucket};
use strata::state::store::{StateStore, save};

use super::deploy::{open_store, runtime, target};
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
        for (name, r) in &state.resources {
            outln!("{}.{name}\t{}", r.type_name, r.id)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `RESOURCE` as `name` or `type.name`.
fn resource_name<'a>(state: &State, resource: &'a str) -> anyhow::Result<&'a str> {
    let name = match resource.rsplit_once('.') {
        Some((type_name, name))
            if state
                .resources
                .get(name)
                .is_some_and(|r| r.type_name == type_name) =>
        {
            name
        }
        _ => resource,
    };
    if state.resources.contains_key(name) {
        Ok(name)
    } else {
        let names: Vec<String> = state
            .resources
            .iter()
            .map(|(n, r)| format!("{}.{n}", r.type_name))
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
            let lock = store.lock("state rm").await?;
            let result = async {
                let mut state = store.read().await?;
                let name = resource_name(&state, resource)?.to_string();
                let r = &state.resources[&name];
                let address = format!("{}.{name}", r.type_name);
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
            store.unlock(lock).await?;
            result
        })
    })
}

pub fn pull(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let state = runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            anyhow::Ok(store.read().await?)
        })?;
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
        let pushed = State::parse(
            &text,
            &file.display().to_string(),
            &stack.name,
            &ops::stage_of(&stack),
        )?;
        runtime()?.block_on(async {
            let store = open_store(&stack, target_args).await?;
            let lock = store.lock("state push").await?;
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
            store.unlock(lock).await?;
            result
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
/// `to_local`, keeping lineage and serial. Both stores are locked meanwhile.
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
            let local_path = local.path.clone();
            let local: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(local);
            let remote: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(
                ops::s3_store(&stack, &backend, &target(target_args, Some(&stack))).await?,
            );
            let (from, to) = if to_local {
                (remote, local)
            } else {
                (local, remote)
            };
            let from_lock = from.lock("state migrate").await?;
            let to_lock = match to.lock("state migrate").await {
                Ok(lock) => lock,
                Err(err) => {
                    from.unlock(from_lock).await?;
                    return Err(err.into());
                }
            };
            let result = async {
                let state = from.read().await?;
                if state.serial == 0 {
                    bail!(
                        "there is no state at {} to migrate; nothing was written",
                        from.location()
                    );
                }
                let existing = to.read().await?;
                if existing.serial > 0 && !force {
                    bail!(
                        "{} already holds a state (serial {}, lineage {}); nothing was written. Pass --force to replace it",
                        to.location(),
                        existing.serial,
                        existing.lineage
                    );
                }
                to.write(&state, existing.serial).await?;
                anyhow::Ok(state)
            }
            .await;
            to.unlock(to_lock).await?;
            from.unlock(from_lock).await?;
            let state = result?;
            sayln!(
                "Migrated the state (serial {}, lineage {}) from {} to {}.",
                state.serial,
                state.lineage,
                from.location(),
                to.location()
            );
            if to_local {
                sayln!(
                    "The S3 object is left as it was. Remove `[backend]` from the stack (or pass --backend-config local) for commands to use the local state."
                );
            } else {
                // The local copy would only mislead: keep it aside, not where it is read.
                let aside = local_path.with_extension("json.migrated");
                std::fs::rename(&local_path, &aside).with_context(|| {
                    format!("cannot move {} aside", local_path.display())
                })?;
                sayln!(
                    "The local state was moved aside to {}; it is no longer used.",
                    aside.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        })
    })
}

pub fn bootstrap(
    bucket: &str,
    region: Option<String>,
    days: i32,
    local: bool,
    endpoint_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !strata::config::validate::valid_bucket_name(bucket) {
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
        let partition = aws.partition().await?.to_string();
        make_bucket(
            &aws.s3,
            bucket,
            &BootstrapOptions {
                region: aws.region.clone(),
                partition,
                expire_versions_after_days: days,
            },
        )
        .await?;
        sayln!(
            "Created the state bucket `{bucket}` in {}: versioning on, encrypted (AES256), public access blocked, TLS-only policy, old versions expire after {days} days.",
            aws.region
        );
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
