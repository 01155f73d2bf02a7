//! `strata policy`: the IAM policy a stack's plan, apply and destroy need.

use std::process::ExitCode;

use strata::aws::Clients;
use strata::ops::policy::{For, document, permissions, render};
use strata::resources::iam::Place;

use super::deploy::{open_store, runtime, target};
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
    let backend = strata::ops::backend_of(&stack, target_args.backend_config.as_ref())?;
    let runtime = runtime()?;
    // What destroy deletes, and what apply reads and deletes besides the stack's objects.
    let state = runtime.block_on(async {
        let store = open_store(&stack, target_args).await?;
        let state = store.read().await?;
        anyhow::Ok((state, store.location()))
    });
    let (state, state_line) = match state {
        Ok((state, location)) => {
            let line = format!(
                "the state at {location} records {} object(s)",
                state.resources.len()
            );
            (Some(state), line)
        }
        Err(error) => {
            eprintln!(
                "warning: the state could not be read ({error:#}): the policy names the stack's objects only, and misses any object the state records that the stack no longer declares"
            );
            (None, "the state could not be read".to_string())
        }
    };
    // The account, region and partition of the caller; placeholders without credentials.
    let place = runtime.block_on(async {
        let aws = Clients::connect(&target(target_args, Some(&stack)))
            .await
            .ok()?;
        let identity = aws.identity().await.ok()?;
        Some(Place {
            partition: identity.partition.clone(),
            region: aws.region.clone(),
            account: identity.account_id.clone(),
        })
    });
    let known = place.is_some();
    let place = place.unwrap_or_else(|| {
        let region = stack
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()));
        Place::placeholders(region.as_deref())
    });
    let only = commands;
    let commands = commands.map_or(For::ALL.to_vec(), |c| vec![c]);
    let doc = document(&permissions(
        &stack,
        state.as_ref(),
        backend.as_ref(),
        &place,
        &commands,
    ));
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
