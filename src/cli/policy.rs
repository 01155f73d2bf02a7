//! `strata policy`: the IAM policy a stack's plan, apply and destroy need.

use std::process::ExitCode;

use strata::aws::Clients;
use strata::ops::policy::{For, document, permissions, render};
use strata::resources::iam::Place;

use super::deploy::{runtime, target};
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
    // The account, region and partition of the caller; placeholders without credentials.
    let place = runtime()?.block_on(async {
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
    let commands = commands.map_or(For::ALL.to_vec(), |c| vec![c]);
    let doc = document(&permissions(&stack, backend.as_ref(), &place, &commands));
    if json {
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        let what: Vec<&str> = commands
            .iter()
            .map(|c| match c {
                For::Plan => "plan",
                For::Apply => "apply",
                For::Destroy => "destroy",
            })
            .collect();
        outln!(
            "IAM permissions to {} stack {} ({}):\n",
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
        outln!(
            "\n`strata policy {} --json` prints the policy document.",
            args.file.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
