//! `strata policy`: the IAM policy a stack's plan, apply and destroy need.

use std::process::ExitCode;

use strata::ops::policy::{For, Report, for_stack, render};

use super::deploy::runtime;
use super::out::{out, outln};
use super::{StackArgs, TargetArgs, load};

pub fn policy(
    args: &StackArgs,
    target_args: &TargetArgs,
    commands: Option<For>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let stack = match load(args) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    let only = commands;
    let commands = commands.map_or(For::ALL.to_vec(), |c| vec![c]);
    let Report {
        document: doc,
        state,
        place,
        known,
    } = runtime()?.block_on(for_stack(&stack, &target_args.access(), &commands))?;
    let state_line = match state {
        Ok((location, objects)) => {
            format!("the state at {location} records {objects} object(s)")
        }
        Err(error) => {
            eprintln!(
                "warning: the state could not be read ({error}): the policy names the stack's objects only, and misses any object the state records that the stack no longer declares"
            );
            "the state could not be read".to_string()
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        let name = |c: &For| match c {
            For::Plan => "plan",
            For::Apply => "apply",
            For::Destroy => "destroy",
        };
        let what: Vec<&str> = commands.iter().map(name).collect();
        outln!(
            "IAM permissions to {} stack {} ({}; {state_line}):\n",
            what.join(", "),
            stack.name,
            if known {
                format!("account {}, region {}", place.account, place.region)
            } else {
                format!(
                    "no working credentials: ACCOUNT_ID is a placeholder, region {}",
                    place.region
                )
            }
        )?;
        out!("{}", render(&doc))?;
        let for_command = only.map_or(String::new(), |c| format!(" --for {}", name(&c)));
        outln!(
            "\n`strata policy {}{for_command} --json` prints the policy document.",
            args.file.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
