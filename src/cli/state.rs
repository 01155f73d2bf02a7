//! `strata state ...` (list, show, rm, pull, push, history, migrate) and `strata bootstrap`:
//! the arguments, the question `state rm` asks, and the lines each prints; the work is
//! in [`strata::ops::state`].

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use strata::ops::state::{BootstrapRequest, History};
use strata::ops::{self, Stack, address};

use super::deploy::runtime;
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
        let (state, _) = runtime()?.block_on(ops::state::read(&stack, &target_args.access()))?;
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

pub fn show(
    args: &StackArgs,
    resource: &str,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let (state, _) = runtime()?.block_on(ops::state::read(&stack, &target_args.access()))?;
        let name = ops::state::resource_name(&state, resource)?;
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
        let ask = |address: &str, id: &str| {
            sayln!(
                "{address} (id {id}) will be forgotten: strata stops managing it, and the object stays in AWS."
            );
            if auto_approve {
                Ok(true)
            } else {
                confirm("state rm").map_err(|e| format!("{e:#}"))
            }
        };
        let removed = runtime()?.block_on(ops::state::rm(
            &stack,
            &target_args.access(),
            &args.file,
            resource,
            ask,
        ))?;
        let Some(removed) = removed else {
            eprintln!("state rm cancelled.");
            return Ok(ExitCode::from(1));
        };
        sayln!(
            "Removed {} from the state at {} (serial {}).",
            removed.address,
            removed.location,
            removed.serial
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints the state. A stack never applied has none: like `terraform state pull`, nothing
/// is printed on stdout (exit 0), and stderr says so.
pub fn pull(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let (state, location) =
            runtime()?.block_on(ops::state::read(&stack, &target_args.access()))?;
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
        let pushed = runtime()?.block_on(ops::state::push(
            &stack,
            &target_args.access(),
            &args.file,
            file,
            force,
        ))?;
        sayln!(
            "Pushed {} to {} (serial {}, lineage {}).",
            file.display(),
            pushed.location,
            pushed.serial,
            pushed.lineage
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn history(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let history = runtime()?.block_on(ops::state::history(&stack, &target_args.access()))?;
        let (location, versions) = match history {
            History::Local(location) => {
                eprintln!(
                    "The state of stack `{}` is local ({location}): a local state has no history. Keep it in S3 (`[backend] s3`, `strata state migrate`) for one.",
                    stack.name,
                );
                return Ok(ExitCode::from(1));
            }
            History::S3 { location, versions } => (location, versions),
        };
        if versions.is_empty() {
            outln!("No state at {location} yet.")?;
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
}

/// Moves the state between the local directory and the stack's S3 backend (see
/// [`ops::state::migrate`]), and says what to change in the stack to follow it.
pub fn migrate(
    args: &StackArgs,
    to_local: bool,
    force: bool,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    with_stack(args, |stack| {
        let migrated = runtime()?.block_on(ops::state::migrate(
            &stack,
            &target_args.access(),
            &args.file,
            to_local,
            force,
        ))?;
        sayln!(
            "Migrated the state (serial {}, lineage {}) from {} to {}.",
            migrated.serial,
            migrated.lineage,
            migrated.from,
            migrated.to
        );
        sayln!(
            "{} now holds only a marker saying where the state went: a command still pointed there is refused.",
            migrated.from
        );
        if to_local {
            sayln!(
                "Remove `[backend]` from the stack (or pass --backend-config local) for commands to use the local state."
            );
        } else if stack.backend.is_none() {
            sayln!(
                "The stack declares no `[backend]`: add `[backend] s3 = {{ bucket = \"{}\", key = \"{}\" }}` (or keep passing --backend-config) for commands to use it.",
                migrated.bucket,
                migrated.key
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `strata bootstrap` (see [`ops::state::bootstrap`]); on a finished bucket it says there
/// was nothing to do.
pub fn bootstrap(
    bucket: &str,
    region: Option<String>,
    days: i32,
    local: bool,
    endpoint_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let done = runtime()?.block_on(ops::state::bootstrap(BootstrapRequest {
        bucket: bucket.to_string(),
        region,
        days,
        local,
        endpoint_url,
    }))?;
    let region = &done.region;
    let settings = format!(
        "versioning on, encrypted (AES256 unless it has a key of its own), public access blocked, TLS-only policy, old versions expire after {days} days"
    );
    if done.created {
        sayln!("Created the state bucket `{bucket}` in {region}: {settings}.");
    } else if done.written.is_empty() {
        sayln!("The bucket `{bucket}` is already a state bucket ({settings}): nothing to do.");
        return Ok(ExitCode::SUCCESS);
    } else {
        sayln!(
            "Finished the state bucket `{bucket}` (yours, in {region}): set {}{}.",
            done.written.join(", "),
            if done.kept.is_empty() {
                String::new()
            } else {
                format!("; already in place: {}", done.kept.join(", "))
            }
        );
    }
    sayln!(
        "Use it in a stack with:\n\n[backend]\ns3 = {{ bucket = \"{bucket}\", key = \"stacks/${{stack.name}}-${{var.stage}}.json\", region = \"{region}\" }}"
    );
    Ok(ExitCode::SUCCESS)
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
