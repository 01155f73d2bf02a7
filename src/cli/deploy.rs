//! `plan`, `apply`, `destroy`, `output` and `force-unlock`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use serde_json::json;
use strata::ops;
use strata::ops::import::ImportRequest;
use strata::ops::preview::PlanRequest;
use strata::ops::run::{
    Confirm, Ending, Event, Outcome, Plan, RunError, RunRequest, Sink, State, Stop,
};
use strata::views::json::plan_json;
use strata::views::{Style, progress_line, render_plan, summary};

use super::out::{out, outln, say, sayln};
use super::{RunArgs, StackArgs, TargetArgs, events, load};

pub struct PlanFlags {
    pub json: bool,
    /// `--format terraform-compatible`: the JSON plan in Terraform's shape.
    pub terraform_compatible: bool,
    pub out: Option<PathBuf>,
    pub detailed_exitcode: bool,
    pub destroy: bool,
    pub parallelism: u16,
    pub selection: ops::Selection,
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn plan(
    args: &StackArgs,
    target_args: &TargetArgs,
    flags: PlanFlags,
) -> anyhow::Result<ExitCode> {
    fetch_schemas(args, target_args)?;
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let request = PlanRequest {
        file: args.file.clone(),
        vars: args.vars.clone(),
        destroy: flags.destroy,
        parallelism: usize::from(flags.parallelism),
        out: flags.out.clone(),
        selection: flags.selection.clone(),
    };
    // Saved (with --out) before anything is printed: a reader that stops reading early
    // does not stop it.
    let plan = runtime()?.block_on(ops::preview::plan(&stack, &target_args.access(), &request))?;
    let changes = plan.has_changes();
    let text = if flags.terraform_compatible {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&strata::views::terraform::plan_json(&plan))?
        )
    } else if flags.json {
        format!("{}\n", serde_json::to_string_pretty(&plan_json(&plan))?)
    } else {
        render_plan(&plan, Style::detect(target_args.no_color))
    };
    out!("{text}")?;
    if let Some(out) = &flags.out
        && !flags.json
    {
        outln!(
            "\nSaved the plan to {}. Apply exactly it with: strata apply {}",
            out.display(),
            out.display()
        )?;
    }
    Ok(if flags.detailed_exitcode && changes {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The current schemas of the stack's Cloud Control types, into the cache, before the
/// stack is checked; warnings on stderr.
fn fetch_schemas(args: &StackArgs, target_args: &TargetArgs) -> anyhow::Result<()> {
    let warnings = runtime()?.block_on(ops::schemas::fetch(
        &args.file,
        &args.vars,
        &target_args.access(),
    ))?;
    for warning in warnings {
        eprintln!("{warning}");
    }
    Ok(())
}

/// A failure already reported on stderr (a stack's diagnostics), ending the process with
/// `code`.
#[derive(Debug)]
struct Reported {
    message: String,
    code: u8,
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Reported {}

/// `apply` and `destroy`. With `--json`, every failure, however early (an invalid stack, a
/// held lock, an unreadable state), ends the stream with an `error` and a `summary` event.
pub fn apply(
    args: &StackArgs,
    target_args: &TargetArgs,
    run: &RunArgs,
    destroy: bool,
) -> anyhow::Result<ExitCode> {
    let operation = if destroy { "destroy" } else { "apply" };
    let err = match run_apply(args, target_args, run, destroy) {
        Ok(code) => return Ok(code),
        Err(err) => err,
    };
    let (message, code) = match err.downcast_ref::<Reported>() {
        Some(reported) => (reported.message.trim_end().to_string(), reported.code),
        None => (format!("{err:#}"), 1),
    };
    if run.json {
        events::error(operation, &message);
        events::summary(operation, None, None, code);
    }
    match err.downcast::<Reported>() {
        Ok(reported) => Ok(ExitCode::from(reported.code)),
        Err(err) => Err(err),
    }
}

/// The terminal's answer, or yes without asking (`--auto-approve`), or nobody to ask
/// (`--json` without `--auto-approve`).
enum Approval {
    Terminal,
    Auto,
    Nobody,
}

impl Confirm for Approval {
    fn can_answer(&self) -> bool {
        !matches!(self, Approval::Nobody)
    }

    fn confirm(&self, operation: &str) -> Result<bool, String> {
        match self {
            Approval::Auto => Ok(true),
            Approval::Terminal | Approval::Nobody => confirm(operation),
        }
    }
}

/// The run's reports as progress lines on the terminal, or as `--json` events.
struct Render {
    json: bool,
    style: Style,
}

impl Sink for Render {
    fn adopted(&self, names: &[String]) {
        if self.json {
            events::adopted(names);
        } else {
            sayln!(
                "Adopted {} left by an interrupted run: {}",
                if names.len() == 1 {
                    "a resource"
                } else {
                    "resources"
                },
                names.join(", ")
            );
        }
    }

    fn planned(&self, plan: &Plan) {
        if self.json {
            events::planned(plan);
        } else {
            say!("{}", render_plan(plan, self.style));
        }
    }

    fn applying(&self) {
        if !self.json {
            sayln!();
        }
    }

    fn progress(&self, event: Event) {
        if self.json {
            return events::event(&event);
        }
        let line = progress_line(&event);
        match event {
            // In the log (debug), not among the progress lines.
            Event::Retrying { .. } => {}
            Event::Failed { .. } => eprintln!("{line}"),
            _ => sayln!("{line}"),
        }
    }
}

fn run_apply(
    args: &StackArgs,
    target_args: &TargetArgs,
    run: &RunArgs,
    destroy: bool,
) -> anyhow::Result<ExitCode> {
    fetch_schemas(args, target_args)?;
    let style = Style::detect(target_args.no_color);
    let json = run.json;
    let approval = match (run.auto_approve, json) {
        (true, _) => Approval::Auto,
        (false, false) => Approval::Terminal,
        (false, true) => Approval::Nobody,
    };
    let request = RunRequest {
        file: args.file.clone(),
        vars: args.vars.clone(),
        destroy,
        parallelism: usize::from(run.parallelism),
        endpoint_url: target_args.endpoint_url.clone(),
        local: target_args.local,
        state_dir: target_args.state_dir.clone(),
        backend_config: target_args.backend_config.clone(),
        selection: run.select.selection(),
        stop: interrupt(),
    };
    let sink = Arc::new(Render { json, style });
    let ending = match runtime()?.block_on(ops::run::run(request, &approval, sink)) {
        Ok(ending) => ending,
        Err(RunError::Stack(rendered)) => {
            eprint!("{rendered}");
            return Err(Reported {
                message: rendered,
                code: 1,
            }
            .into());
        }
        Err(RunError::CannotConfirm(message)) => {
            eprintln!("error: {message}");
            return Err(Reported { message, code: 2 }.into());
        }
        // As an `OpsError`, which says how it is printed.
        Err(RunError::Ops(err)) => return Err(err.into()),
        Err(err) => return Err(err.into()),
    };
    match ending {
        Ending::NoChanges(plan) => {
            if json {
                events::summary(
                    if plan.destroy { "destroy" } else { "apply" },
                    Some(&plan),
                    None,
                    0,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Ending::Cancelled => {
            eprintln!("{} cancelled.", if destroy { "Destroy" } else { "Apply" });
            Ok(ExitCode::from(1))
        }
        Ending::Ran(ran) => {
            let (plan, state, outcome) = *ran;
            let operation = if plan.destroy { "destroy" } else { "apply" };
            if json {
                return Ok(report_json(&plan, &state, &outcome, operation));
            }
            sayln!();
            report(&plan, &state, &outcome, operation, style)
        }
    }
}

pub fn import(
    args: &StackArgs,
    resource: &str,
    id: &str,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let request = ImportRequest {
        file: &args.file,
        resource,
        id,
    };
    let imported = runtime()?.block_on(ops::import::run(&stack, &target_args.access(), request))?;
    let (address, recorded) = (&imported.address, &imported.recorded);
    if recorded == id {
        sayln!("Imported {address} (id {id}). The plan that follows:\n");
    } else {
        sayln!("Imported {address} (id {recorded}, given as {id}). The plan that follows:\n");
    }
    say!(
        "{}",
        render_plan(&imported.plan, Style::detect(target_args.no_color))
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves at the first Ctrl-C; a second one ends the process at once (pending records
/// keep the state true even then).
fn interrupt() -> Stop {
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("interrupted again: stopping now");
            std::process::exit(130);
        });
    })
}

/// The closing lines of an apply or destroy, and its exit code.
fn report(
    plan: &Plan,
    state: &State,
    outcome: &Outcome,
    operation: &str,
    style: Style,
) -> anyhow::Result<ExitCode> {
    if outcome.success() {
        let verb = if plan.destroy { "Destroy" } else { "Apply" };
        sayln!(
            "{} {verb} complete! {}",
            style.green("✓"),
            summary(plan)
                .replace("Plan: ", "Resources: ")
                .replace(" to add", " added")
                .replace(" to change", " changed")
                .replace(" to destroy", " destroyed")
        );
        if !plan.destroy && !state.outputs.is_empty() {
            sayln!("\nOutputs:\n");
            // A report of what was done: printing it cannot fail the apply.
            let _ = print_outputs(state, None, false);
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
}

/// The closing events of `apply --json` / `destroy --json`, and the exit code (the same as
/// the human [`report`]'s).
fn report_json(plan: &Plan, state: &State, outcome: &Outcome, operation: &str) -> ExitCode {
    let code = if outcome.success() { 0 } else { 1 };
    if outcome.success() && !plan.destroy && !state.outputs.is_empty() {
        events::outputs(state);
    }
    events::summary(operation, Some(plan), Some(outcome), code);
    ExitCode::from(code)
}

/// Asks on the terminal; refuses to go on without one.
fn confirm(operation: &str) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{operation} needs confirmation, but there is no terminal: pass --auto-approve to {operation} without asking"
        ));
    }
    out!("\nDo you want to perform these actions? Only 'yes' will be accepted: ")
        .map_err(|e| format!("cannot ask for confirmation on standard output: {e}"))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer.trim() == "yes")
}

/// The target of a command given only a state directory: its stack's backend (or
/// `STRATA_BACKEND_CONFIG`, refused when it does not parse), else the directory.
pub(super) fn state_dir_target(state_dir: &Path) -> anyhow::Result<TargetArgs> {
    let backend_config = match std::env::var("STRATA_BACKEND_CONFIG") {
        Ok(text) => Some(
            text.parse()
                .map_err(|e| anyhow!("STRATA_BACKEND_CONFIG={text}: {e}"))?,
        ),
        Err(_) => None,
    };
    Ok(TargetArgs {
        local: false,
        endpoint_url: None,
        state_dir: state_dir.to_path_buf(),
        backend_config,
        no_color: false,
    })
}

#[allow(dead_code)]
pub fn output(
    args: &StackArgs,
    name: Option<&str>,
    json_out: bool,
    state_dir: &Path,
) -> anyhow::Result<ExitCode> {
    output_at(args, name, json_out, &state_dir_target(state_dir)?)
}

pub fn output_at(
    args: &StackArgs,
    name: Option<&str>,
    json_out: bool,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let state = runtime()?.block_on(ops::output::read(&stack, &target_args.access()))?;
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
                outln!("{}", output.value)?
            } else {
                outln!("{}", text(&output.value))?
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
            outln!("{}", serde_json::to_string_pretty(&all)?)?;
        }
        None => {
            for (k, o) in &state.outputs {
                let shown = if o.sensitive {
                    "(sensitive)".to_string()
                } else {
                    text(&o.value)
                };
                outln!("{k} = {shown}")?;
            }
        }
    }
    Ok(())
}

#[allow(dead_code)]
pub fn force_unlock(args: &StackArgs, id: &str, state_dir: &Path) -> anyhow::Result<ExitCode> {
    force_unlock_at(args, id, &state_dir_target(state_dir)?)
}

pub fn force_unlock_at(
    args: &StackArgs,
    id: &str,
    target_args: &TargetArgs,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let info = runtime()?.block_on(ops::state::force_unlock(&stack, &target_args.access(), id))?;
    sayln!(
        "Removed the lock {} held by {} (pid {}) for `{}`.",
        info.id,
        info.who,
        info.pid,
        info.operation
    );
    Ok(ExitCode::SUCCESS)
}
