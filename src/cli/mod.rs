//! Argument parsing and exit codes. Each command is a thin function over the library.
//!
//! Exit codes: 0 success; 1 error; `plan --detailed-exitcode` exits 2 when there are changes.

mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Declarative provisioning for AWS: plan, apply and destroy TOML stacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a stack (following `extends`), check it and print a summary. No AWS call.
    Validate {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the merged stack with the file and line of every value.
        #[arg(long)]
        explain: bool,
    },
    /// Print the dependency graph as Graphviz DOT. No AWS call.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
    },
}

#[derive(Args)]
struct StackArgs {
    /// The stack file.
    file: PathBuf,
    /// Set a variable: `--var stage=prod`. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a valid variable name"));
    }
    Ok((name.to_string(), value.to_string()))
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { stack, explain } => validate::validate(&stack, explain),
        Command::Graph { stack } => validate::graph(&stack),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Loads the stack or prints its diagnostics.
fn load(args: &StackArgs) -> Result<strata::config::Stack, ExitCode> {
    strata::config::load_stack(&args.file, &args.vars).map_err(|err| {
        eprint!("{}", err.render());
        ExitCode::from(1)
    })
}
