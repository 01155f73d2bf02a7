//! `graph`, `plan`, `apply` and `destroy` with `--stacks DIR`: every stack under a
//! directory, ordered by the outputs they read from each other ([`strata::ops::stacks`]).
//! Each stack runs as `strata COMMAND FILE` with the rest of this command line, so each
//! takes its own lock and backend exactly as when run by hand; its output is printed, whole,
//! when it ends.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use strata::ops::stacks::{self, StackOutcome, Stacks};

use super::deploy::runtime;
use super::out::{out, sayln};

/// How many stacks run at once.
const PARALLELISM: usize = 4;

/// `strata graph --stacks DIR`: the stacks and which reads which, as Graphviz DOT.
pub fn graph(dir: &Path) -> anyhow::Result<ExitCode> {
    let stacks = match discover(dir) {
        Ok(stacks) => stacks,
        Err(code) => return Ok(code),
    };
    out!("{}", stacks.dot())?;
    Ok(ExitCode::SUCCESS)
}

/// `strata apply|destroy --stacks DIR`: several stacks are changed without a question
/// each, so `--auto-approve` is required.
pub fn run_changes(command: &str, dir: &Path, auto_approve: bool) -> anyhow::Result<ExitCode> {
    if !auto_approve {
        eprintln!(
            "error: `{command} --stacks` changes several stacks without asking about each: \
             review them with `strata plan --stacks {}`, then pass --auto-approve",
            dir.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    run(command, dir, command == "destroy")
}

/// Runs `strata COMMAND FILE ...` for every stack under `dir`, in dependency order
/// (`reverse` for destroy); exit 0 when every stack succeeded.
pub fn run(command: &str, dir: &Path, reverse: bool) -> anyhow::Result<ExitCode> {
    let stacks = match discover(dir) {
        Ok(stacks) => stacks,
        Err(code) => return Ok(code),
    };
    let exe = std::env::current_exe()?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (mut succeeded, mut failed, mut skipped) = (0, 0, 0);
    let all_ok = runtime()?.block_on(stacks::run(
        &stacks,
        reverse,
        PARALLELISM,
        |file| {
            let mut child = tokio::process::Command::new(&exe);
            child
                .args(child_args(&args, command, file))
                .stdin(std::process::Stdio::null());
            child
        },
        |file, outcome| {
            let name = stacks.name(file);
            match outcome {
                StackOutcome::Succeeded(output) | StackOutcome::Failed(output) => {
                    let ok = output.status.success();
                    if ok {
                        succeeded += 1;
                    } else {
                        failed += 1;
                    }
                    sayln!(
                        "── {name}: {command} {}",
                        if ok { "succeeded" } else { "FAILED" }
                    );
                    super::out::best_effort(format_args!(
                        "{}",
                        String::from_utf8_lossy(&output.stdout)
                    ));
                    eprint!("{}", String::from_utf8_lossy(&output.stderr));
                }
                StackOutcome::NotStarted(error) => {
                    failed += 1;
                    sayln!("── {name}: {command} FAILED");
                    eprintln!("error: cannot start strata for {name}: {error}");
                }
                StackOutcome::Skipped { because } => {
                    skipped += 1;
                    sayln!(
                        "── {name}: skipped, because {} did not succeed",
                        stacks.name(because)
                    );
                }
            }
        },
    ));
    sayln!("Stacks: {succeeded} succeeded, {failed} failed, {skipped} skipped.");
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn discover(dir: &Path) -> Result<Stacks, ExitCode> {
    stacks::discover(dir).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::FAILURE
    })
}

/// This command line for one stack: `--stacks DIR` left out, the stack's file after the
/// command's name.
fn child_args(args: &[OsString], command: &str, file: &Path) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut inserted = false;
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if arg == "--stacks" {
            skip_value = true;
            continue;
        }
        if arg.to_string_lossy().starts_with("--stacks=") {
            continue;
        }
        out.push(arg.clone());
        if !inserted && arg == command {
            out.push(file.as_os_str().to_owned());
            inserted = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_runs_with_the_same_command_line_and_its_file_instead_of_the_directory() {
        let args: Vec<OsString> = [
            "--log-file",
            "l",
            "apply",
            "--stacks",
            "team",
            "--auto-approve",
            "--local",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let got = child_args(&args, "apply", Path::new("/t/a.toml"));
        assert_eq!(
            got,
            [
                "--log-file",
                "l",
                "apply",
                "/t/a.toml",
                "--auto-approve",
                "--local"
            ]
        );
        let args: Vec<OsString> = ["plan", "--stacks=team"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            child_args(&args, "plan", Path::new("b.toml")),
            ["plan", "b.toml"]
        );
    }
}
