//! `plan`, `apply`, `destroy`, `output` and `force-unlock`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use strata::apply::{self, Event};
use strata::aws::{Clients, Target};
use strata::config::Stack;
use strata::plan::build::{PlanError, adopt_pending, plan as make_plan};
use strata::plan::{Action, Plan};
use strata::state::lock::{Lock, force_unlock as unlock};
use strata::state::{State, StateFile};
use strata::views::json::plan_json;
use strata::views::{Style, progress_line, render_plan, summary};

use super::{RunArgs, StackArgs, TargetArgs, load};

pub struct PlanFlags {
    pub json: bool,
    pub out: Option<PathBuf>,
    pub detailed_exitcode: bool,
    pub destroy: bool,
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn stage_of(stack: &Stack) -> String {
    stack.stage().unwrap_or("default").to_string()
}

fn state_file(stack: &Stack, dir: &Path) -> StateFile {
    StateFile::for_stack(dir, &stack.name, &stage_of(stack))
}

pub(super) fn target(args: &TargetArgs) -> Target {
    Target {
        endpoint_url: args.endpoint_url.clone(),
        local: args.local,
    }
}

/// Turns plan errors into what the user should read (diagnostics rendered with sources).
fn plan_error(stack: &Stack, err: PlanError) -> anyhow::Error {
    match err {
        PlanError::Invalid(diagnostics) => {
            anyhow!(
                "{}",
                strata::config::diagnostic::render_all(&diagnostics, &stack.sources).trim_end()
            )
        }
        other => anyhow!(other),
    }
}

pub fn plan(
    args: &StackArgs,
    target_args: &TargetArgs,
    flags: PlanFlags,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let file = state_file(&stack, &target_args.state_dir);
    let mut state = file.load(&stack.name, &stage_of(&stack))?;
    let rt = runtime()?;
    let plan = rt.block_on(async {
        let aws = Clients::connect(&target(target_args)).await?;
        // Only in memory: a plan never writes state.
        adopt_pending(&mut state, &aws)
            .await
            .map_err(|e| plan_error(&stack, e))?;
        let (plan, _) = make_plan(&stack, &state, &aws, flags.destroy)
            .await
            .map_err(|e| plan_error(&stack, e))?;
        anyhow::Ok(plan)
    })?;
    if flags.json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
    } else {
        print!(
            "{}",
            render_plan(&plan, Style::detect(target_args.no_color))
        );
    }
    if let Some(out) = &flags.out {
        save_plan(out, &plan, args)?;
        if !flags.json {
            println!(
                "\nSaved the plan to {}. Apply exactly it with: strata apply {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if flags.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// A saved plan: the JSON plan, plus what is needed to load the same stack again.
fn save_plan(path: &Path, plan: &Plan, args: &StackArgs) -> anyhow::Result<()> {
    let mut doc = plan_json(plan);
    let stack_file = std::fs::canonicalize(&args.file)?;
    doc["saved_plan"] = json!({
        "stack_file": stack_file,
        "variables": args.vars.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    });
    write_private(path, &serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("cannot write plan file {}", path.display()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A saved plan read back: the stack it was made for and the actions it holds.
struct SavedPlan {
    stack_file: PathBuf,
    vars: Vec<(String, String)>,
    serial: u64,
    lineage: String,
    destroy: bool,
    actions: Vec<(String, Action)>,
}

fn read_saved_plan(path: &Path) -> anyhow::Result<Option<SavedPlan>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // A saved plan is JSON; anything else is taken for a stack file.
    if text
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|b| *b != b'{')
    {
        return Ok(None);
    }
    let bad = || {
        anyhow!(
            "{} is not a valid saved plan (corrupted or from another tool); make a new one with `strata plan --out`",
            path.display()
        )
    };
    let doc: serde_json::Value = serde_json::from_slice(&text).map_err(|_| bad())?;
    let saved = doc.get("saved_plan").ok_or_else(bad)?;
    let actions = doc["resources"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|r| {
            let name = r["name"].as_str().ok_or_else(bad)?.to_string();
            let action: Action = serde_json::from_value(r["action"].clone()).map_err(|_| bad())?;
            Ok((name, action))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(SavedPlan {
        stack_file: PathBuf::from(saved["stack_file"].as_str().ok_or_else(bad)?),
        vars: saved["variables"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
            .collect(),
        serial: doc["state_serial"].as_u64().ok_or_else(bad)?,
        lineage: doc["state_lineage"].as_str().ok_or_else(bad)?.to_string(),
        destroy: doc["destroy"].as_bool().unwrap_or(false),
        actions,
    }))
}

pub fn apply(
    args: &StackArgs,
    target_args: &TargetArgs,
    run: &RunArgs,
    destroy: bool,
) -> anyhow::Result<ExitCode> {
    let saved = if destroy {
        None
    } else {
        read_saved_plan(&args.file)?
    };
    let stack_args = match &saved {
        Some(s) => StackArgs {
            file: s.stack_file.clone(),
            vars: s.vars.clone(),
        },
        None => StackArgs {
            file: args.file.clone(),
            vars: args.vars.clone(),
        },
    };
    let stack = match load(&stack_args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let destroy = destroy || saved.as_ref().is_some_and(|s| s.destroy);
    let style = Style::detect(target_args.no_color);
    let file = state_file(&stack, &target_args.state_dir);
    let operation = if destroy { "destroy" } else { "apply" };
    let lock = Lock::acquire(&file.path, operation)?;
    let state = file.load(&stack.name, &stage_of(&stack))?;

    if let Some(saved) = &saved
        // A plan made before the first apply has no lineage to compare yet.
        && (saved.serial != state.serial || (state.serial > 0 && saved.lineage != state.lineage))
    {
        bail!(
            "the saved plan is stale: {}. Make a new plan",
            if saved.lineage != state.lineage {
                "it was made from another state (another lineage)".to_string()
            } else {
                format!(
                    "it was made from state serial {} and the state is now at serial {}",
                    saved.serial, state.serial
                )
            }
        );
    }

    let rt = runtime()?;
    let code = rt.block_on(async {
        let aws = Arc::new(Clients::connect(&target(target_args)).await?);
        // One cheap call first: a wrong or dead endpoint is one clear error, before any plan.
        aws.account_id().await?;
        let mut state = state;
        let had_pending = !state.pending.is_empty();
        let adopted = adopt_pending(&mut state, &aws).await.map_err(|e| plan_error(&stack, e))?;
        if !adopted.is_empty() {
            println!("Adopted {} left by an interrupted run: {}", if adopted.len() == 1 { "a resource" } else { "resources" }, adopted.join(", "));
        }
        let (plan, refreshed) = make_plan(&stack, &state, &aws, destroy).await.map_err(|e| plan_error(&stack, e))?;
        if let Some(saved) = &saved {
            let now: Vec<(String, Action)> = plan.resources.iter().map(|r| (r.name.clone(), r.action)).collect();
            if now != saved.actions {
                bail!("the saved plan is stale: AWS or the stack changed since it was made, and a fresh plan differs. Make a new plan");
            }
        }
        print!("{}", render_plan(&plan, style));
        if !plan.has_changes() {
            // Nothing to do in AWS; still forget what was deleted outside strata, and record
            // outputs a state written before they were declared lacks.
            let forget = plan.resources.iter().any(|r| refreshed.live.get(&r.name).is_some_and(Option::is_none));
            let outputs_missing = !destroy && !stack.outputs.is_empty() && state.outputs.len() != stack.outputs.len() && !state.resources.is_empty();
            if forget || outputs_missing || had_pending {
                apply::apply(Some(&stack).filter(|_| !destroy), &plan, state, file.clone(), &refreshed.live, aws, apply::Options { parallelism: 1, events: Arc::new(|_| {}) }).await?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        if saved.is_none() && !run.auto_approve && !confirm(operation)? {
            eprintln!("{} cancelled.", if destroy { "Destroy" } else { "Apply" });
            return Ok(ExitCode::from(1));
        }
        println!();
        let events: apply::Events = Arc::new(|event: Event| {
            let line = progress_line(&event);
            if matches!(event, Event::Failed { .. }) { eprintln!("{line}") } else { println!("{line}") }
        });
        let stack_for_walk = if destroy { None } else { Some(&stack) };
        let (state, outcome) =
            apply::apply(stack_for_walk, &plan, state, file.clone(), &refreshed.live, aws, apply::Options { parallelism: usize::from(run.parallelism), events }).await?;
        println!();
        if outcome.success() {
            let verb = if destroy { "Destroy" } else { "Apply" };
            println!("{} {verb} complete! {}", style.green("✓"), summary(&plan).replace("Plan: ", "Resources: ").replace(" to add", " added").replace(" to change", " changed").replace(" to destroy", " destroyed"));
            if !destroy && !state.outputs.is_empty() {
                println!("\nOutputs:\n");
                print_outputs(&state, None, false)?;
            }
            Ok(ExitCode::SUCCESS)
        } else if outcome.interrupted && outcome.failed.is_empty() {
            eprintln!(
                "{} {operation} interrupted: {} done, {} not started. State records everything that was created; run {operation} again to finish.",
                style.red("✗"),
                outcome.done.len(),
                outcome.skipped.len()
            );
            Ok(ExitCode::from(1))
        } else {
            eprintln!(
                "{} {operation} failed: {} failed, {} skipped, {} done. State records everything that was created; run {operation} again to converge.",
                style.red("✗"),
                outcome.failed.len(),
                outcome.skipped.len(),
                outcome.done.len()
            );
            for (name, error) in &outcome.failed {
                eprintln!("  {name}: {error}");
            }
            Ok(ExitCode::from(1))
        }
    })?;
    drop(lock);
    Ok(code)
}

/// Asks on the terminal; refuses to go on without one.
fn confirm(operation: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{operation} needs confirmation, but there is no terminal: pass --auto-approve to {operation} without asking"
        );
    }
    print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

pub fn output(
    args: &StackArgs,
    name: Option<&str>,
    json_out: bool,
    state_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let state = state_file(&stack, state_dir).load(&stack.name, &stage_of(&stack))?;
    if state.outputs.is_empty() {
        bail!(
            "no outputs: stack `{}` (stage `{}`) has no applied state in {} (is --state-dir right?)",
            stack.name,
            stage_of(&stack),
            state_dir.display()
        );
    }
    print_outputs(&state, name, json_out)?;
    Ok(ExitCode::SUCCESS)
}

fn print_outputs(state: &State, name: Option<&str>, json_out: bool) -> anyhow::Result<()> {
    let text = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    match name {
        Some(name) => {
            let output = state.outputs.get(name).ok_or_else(|| {
                anyhow!(
                    "no output `{name}`; the outputs are: {}",
                    state.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            if json_out {
                println!("{}", output.value)
            } else {
                println!("{}", text(&output.value))
            }
        }
        None if json_out => {
            let all: serde_json::Map<String, serde_json::Value> = state
                .outputs
                .iter()
                .map(|(k, o)| {
                    (
                        k.clone(),
                        json!({ "value": o.value, "sensitive": o.sensitive }),
                    )
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        None => {
            for (k, o) in &state.outputs {
                let shown = if o.sensitive {
                    "(sensitive)".to_string()
                } else {
                    text(&o.value)
                };
                println!("{k} = {shown}");
            }
        }
    }
    Ok(())
}

pub fn force_unlock(args: &StackArgs, id: &str, state_dir: &Path) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let info = unlock(&state_file(&stack, state_dir).path, id)?;
    println!(
        "Removed the lock {} held by {} (pid {}) for `{}`.",
        info.id, info.who, info.pid, info.operation
    );
    Ok(ExitCode::SUCCESS)
}
