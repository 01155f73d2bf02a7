//! Argument parsing and exit codes. Each command is a thin function over the library.
//!
//! Exit codes: 0 success; 1 error; `plan --detailed-exitcode` exits 2 when there are changes;
//! `fmt --check` exits 3 when files are not formatted.

// Standard output goes through `out`, never `println!`, which panics on a closed pipe.
#![deny(clippy::print_stdout)]

mod chain;
mod deploy;
mod events;
mod fmt;
mod out;
mod policy;
mod stacks;
mod state;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
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
    /// Write debug logs (every AWS call) to this file; `STRATA_LOG` sets the level
    /// (`debug`, `trace`, or filters such as `aws_smithy_runtime=trace`) and, alone, logs to
    /// standard error. Secrets are redacted.
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
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
        stack: StackOrStacks,
    },
    /// Show what apply would change, after reading every resource live.
    Plan {
        #[command(flatten)]
        stack: StackOrStacks,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        select: SelectArgs,
        /// Print the plan as JSON (format in docs/plans-and-state.md).
        #[arg(long)]
        json: bool,
        /// The JSON plan's shape: strata's own, or Terraform's (`terraform show -json`) for
        /// policy tools (docs/policy-tools.md).
        #[arg(long, value_enum, requires = "json", default_value_t = PlanFormat::Strata)]
        format: PlanFormat,
        /// Save the plan; `strata apply FILE` applies exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 2 when the plan has changes (0 when none, 1 on error).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the destruction of everything in state.
        #[arg(long)]
        destroy: bool,
        /// At most this many resources read from AWS at once.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Create, update and delete resources so AWS matches the stack (or apply a saved plan).
    #[command(mut_arg("file", |file| file.help(
        "The stack file, or a plan saved with `plan --out` (applied exactly as saved, with the \
         variables it was made with: --var is refused then)"
    )))]
    Apply {
        #[command(flatten)]
        stack: StackOrStacks,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Delete every resource recorded in the stack's state, dependents first.
    Destroy {
        #[command(flatten)]
        stack: StackOrStacks,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Record an existing AWS object as one of the stack's resources, then show the plan.
    Import {
        #[command(flatten)]
        stack: StackArgs,
        /// The resource's name in the stack.
        resource: String,
        /// The object's id: bucket name (s3.*), queue URL (sqs.*), role name, function name,
        /// FUNCTION/STATEMENT_ID (lambda.permission), REST API id or trail name.
        id: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print the stack's outputs from state.
    Output {
        #[command(flatten)]
        stack: StackArgs,
        /// Only this output, as a bare value (a sensitive one too).
        name: Option<String>,
        /// As JSON: `{"NAME": {"value": ..., "sensitive": false}, ...}`, or with NAME its
        /// value. Sensitive values are printed.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Producer: upload payloads through the stack's presign endpoint (no AWS credentials).
    Send {
        /// Files to send; standard input when none.
        files: Vec<PathBuf>,
        /// The deployed stack whose `api_url` output to use.
        #[arg(long, default_value = "stacks/producer-consumer.toml")]
        stack: PathBuf,
        /// Set a variable of the stack (to find its state): `--var stage=prod`. Repeatable.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// The presign endpoint, instead of the stack's output.
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Object key (one payload only); default: the file name, or a UUID for stdin.
        #[arg(long)]
        key: Option<String>,
        /// Key prefix the stack notifies on.
        #[arg(long, default_value = "input/")]
        prefix: String,
        /// One JSON object per payload.
        #[arg(long)]
        json: bool,
        /// Where state files live (for the stack's outputs).
        #[arg(
            long,
            value_name = "DIR",
            default_value = ".strata",
            env = "STRATA_STATE_DIR"
        )]
        state_dir: PathBuf,
        #[command(flatten)]
        transfer: chain::TransferArgs,
    },
    /// Consumer: receive payloads announced on the stack's queue and save them.
    Receive {
        /// The deployed stack whose `queue_url` and `api_url` outputs to use.
        #[arg(long, default_value = "stacks/producer-consumer.toml")]
        stack: PathBuf,
        /// Set a variable of the stack (to find its state): `--var stage=prod`. Repeatable.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        #[command(flatten)]
        target: TargetArgs,
        /// The queue to receive from, instead of the stack's `queue_url` output.
        #[arg(long, value_name = "URL")]
        queue_url: Option<String>,
        /// The presign endpoint, instead of the stack's `api_url` output.
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
        /// Where payloads are written (as DIR/<object key>).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// One receive round, then exit (the default).
        #[arg(long, conflicts_with = "follow")]
        once: bool,
        /// Keep receiving until stopped (or --max payloads).
        #[arg(long)]
        follow: bool,
        /// Stop after this many payloads.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
        /// Long-poll wait per receive, in seconds (0-20).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(0..=20))]
        wait: i32,
        /// One JSON object per payload.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        transfer: chain::TransferArgs,
    },
    /// Inspect and change the stack's state (local or S3) without touching AWS objects.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Create an S3 bucket for state: versioning, encryption, no public access, TLS only,
    /// old versions expiring. Refuses a bucket that exists.
    Bootstrap {
        /// The bucket to create.
        bucket: String,
        /// The bucket's region (default: the environment's).
        #[arg(long)]
        region: Option<String>,
        /// Delete state versions this many days after a newer one replaced them.
        #[arg(long, value_name = "N", default_value_t = 90, value_parser = clap::value_parser!(i32).range(1..))]
        expire_versions_after_days: i32,
        /// Use the local emulator: http://127.0.0.1:4566, dummy credentials, us-east-1.
        #[arg(long)]
        local: bool,
        /// Send every AWS request to this endpoint (AWS_ENDPOINT_URL is honoured too).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
    /// Print shell completions: `strata completions bash > /etc/bash_completion.d/strata`.
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `strata man > strata.1`. With --dir, write it and the
    /// page of every command it names (strata-plan.1, strata-state-list.1, ...) into DIR.
    Man {
        /// Write every page into this directory (created if missing) instead of printing one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write the resource-type reference (one Markdown page per type, from the schemas
    /// `validate` checks against) into DIR, or print one type's page.
    Docs {
        /// Write the index and every type's page into this directory (created if missing).
        #[arg(long, value_name = "DIR", conflicts_with = "type_name")]
        out: Option<PathBuf>,
        /// Print this type's page (`sqs.queue`); without it and --out, the index.
        #[arg(value_name = "TYPE")]
        type_name: Option<String>,
    },
    /// The CloudFormation registry schemas of the types a stack manages through Cloud
    /// Control (`type = "AWS::SNS::Topic"`), cached in the user's cache directory.
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
    /// Rewrite stack files in the canonical layout (comments and key order kept); print the
    /// files changed.
    Fmt {
        /// Stack files, or directories whose stack files (`*.toml` with a stack's top-level
        /// keys, not in subdirectories) are formatted; default: the current directory.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that are not formatted, and exit 3 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Print the JSON Schema (Draft 4) of stack files, for editors: taplo and Even Better
    /// TOML complete and check a stack that starts with `#:schema PATH`.
    Schema,
    /// Print the least-privilege IAM policy the stack's plan, apply and destroy need,
    /// scoped to its own ARNs (account, region and partition from the caller).
    Policy {
        #[command(flatten)]
        stack: StackArgs,
        /// Only what this command needs (default: all three).
        #[arg(long = "for", value_name = "COMMAND", value_parser = parse_for)]
        for_command: Option<strata::ops::policy::For>,
        /// Print the policy document itself.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Remove a state lock left by a process that is gone.
    ForceUnlock {
        #[command(flatten)]
        stack: StackArgs,
        /// The lock id, as the lock error showed it.
        id: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `plan --json --format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PlanFormat {
    /// strata's JSON plan (README, "JSON plan format").
    Strata,
    /// Terraform's JSON plan shape, for OPA, conftest and other policy tools.
    TerraformCompatible,
}

#[derive(Subcommand)]
enum StateCommand {
    /// List the resources in state: `type.name<TAB>id`.
    List {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print one resource's state (`name` or `type.name`) as JSON.
    Show {
        #[command(flatten)]
        stack: StackArgs,
        /// The resource: `name` or `type.name`, as `state list` prints it.
        resource: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Forget a resource: strata stops managing it; the object stays in AWS.
    Rm {
        #[command(flatten)]
        stack: StackArgs,
        /// The resource: `name` or `type.name`, as `state list` prints it.
        resource: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print the whole state as JSON.
    Pull {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Replace the stored state with a JSON file (refuses an older serial or another
    /// lineage unless --force).
    Push {
        #[command(flatten)]
        stack: StackArgs,
        /// The state JSON to store (as `state pull` prints it).
        state: PathBuf,
        /// Store it even if its lineage differs or its serial is older.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The state's versions in its S3 bucket: serial, time, writer.
    History {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Move the local state into the stack's S3 backend (or back with --to-local), keeping
    /// lineage and serial.
    Migrate {
        #[command(flatten)]
        stack: StackArgs,
        /// From S3 back to the local state directory.
        #[arg(long)]
        to_local: bool,
        /// Replace a state already at the destination.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// One stack file, or with `--stacks DIR` every stack under a directory.
#[derive(Args)]
struct StackOrStacks {
    /// The stack file.
    #[arg(required_unless_present = "stacks")]
    file: Option<PathBuf>,
    /// Set a variable: `--var stage=prod`. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Every stack under DIR instead of one file, each after the stacks whose outputs it
    /// reads (`strata.stack` data sources), each as its own run.
    #[arg(long, value_name = "DIR", conflicts_with = "file")]
    stacks: Option<PathBuf>,
}

/// The one stack of a command whose `--stacks` was matched before (clap requires the file
/// without it).
fn one(stack: StackOrStacks) -> StackArgs {
    let vars = stack.vars;
    StackArgs {
        file: stack.file.unwrap_or_default(),
        vars,
    }
}

#[derive(Args)]
struct StackArgs {
    /// The stack file.
    file: PathBuf,
    /// Set a variable: `--var stage=prod`. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

#[derive(Args)]
struct TargetArgs {
    /// Use the local emulator: http://127.0.0.1:4566, dummy credentials, us-east-1.
    #[arg(long)]
    local: bool,
    /// Send every AWS request to this endpoint (AWS_ENDPOINT_URL is honoured too).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Where state files live.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".strata",
        env = "STRATA_STATE_DIR"
    )]
    state_dir: PathBuf,
    /// Where the state lives instead of the stack's `[backend]`: `local`, or
    /// `bucket=B,key=K,region=R` for S3 (each part optional when the stack declares
    /// `[backend] s3`; the key may use `${stack.name}` and `${var.stage}`).
    #[arg(
        long,
        value_name = "SETTINGS",
        env = "STRATA_BACKEND_CONFIG",
        value_parser = parse_backend
    )]
    backend_config: Option<strata::ops::BackendOverride>,
    /// No colour in the output (also NO_COLOR).
    #[arg(long)]
    no_color: bool,
}

impl TargetArgs {
    /// Where the command's AWS calls go and its state is.
    fn access(&self) -> strata::ops::Access {
        strata::ops::Access {
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
            state_dir: self.state_dir.clone(),
            backend_config: self.backend_config.clone(),
        }
    }
}

fn parse_for(s: &str) -> Result<strata::ops::policy::For, String> {
    use strata::ops::policy::For;
    match s {
        "plan" => Ok(For::Plan),
        "apply" => Ok(For::Apply),
        "destroy" => Ok(For::Destroy),
        other => Err(format!("`{other}`: expected plan, apply or destroy")),
    }
}

fn parse_backend(s: &str) -> Result<strata::ops::BackendOverride, String> {
    s.parse()
}

/// `--target` and `--exclude`: plan, apply or destroy part of the stack.
#[derive(Args)]
struct SelectArgs {
    /// Only this resource and what it depends on (for destroy: what depends on it). A name,
    /// an instance (`queue["a"]`), an address (`sqs.queue.queue`) or a prefix of one
    /// (`queue`, `module.tenant`). Repeatable.
    #[arg(long = "target", value_name = "ADDRESS")]
    targets: Vec<String>,
    /// Everything but this resource and what depends on it (for destroy: what it depends
    /// on). Same forms as --target. Repeatable.
    #[arg(long = "exclude", value_name = "ADDRESS")]
    excludes: Vec<String>,
}

impl SelectArgs {
    fn selection(&self) -> strata::ops::Selection {
        strata::ops::Selection {
            targets: self.targets.clone(),
            excludes: self.excludes.clone(),
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// At most this many resources read or changed at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    parallelism: u16,
    /// Stream one JSON object per event on standard output (format in
    /// docs/plans-and-state.md); needs --auto-approve or a saved plan.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    select: SelectArgs,
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
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let filter = std::env::var("STRATA_LOG").ok();
    let json_logs = std::env::var("STRATA_LOG_FORMAT").is_ok_and(|f| f == "json");
    if let Err(err) = strata::log::init(filter.as_deref(), cli.log_file.as_deref(), json_logs) {
        eprintln!("error: {err}");
        return ExitCode::from(1);
    }
    // Every event of the run (the SDK's included) is inside this span.
    let span = tracing::info_span!(
        "command",
        name = matches.subcommand_name().unwrap_or("strata"),
        version = env!("CARGO_PKG_VERSION")
    );
    let _entered = span.enter();
    // Not the arguments: a `--var` may hold a secret, registered only once the stack loads.
    tracing::debug!("start");
    let result = match cli.command {
        Command::Completions { shell } => {
            // Generated into memory first: clap_complete panics on a write error (a closed
            // pipe), printing is ours to fail cleanly.
            let mut text = Vec::new();
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "strata", &mut text);
            out::out!("{}", String::from_utf8_lossy(&text))
                .map(|()| ExitCode::SUCCESS)
                .map_err(anyhow::Error::from)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Docs { out, type_name } => docs(out.as_deref(), type_name.as_deref()),
        Command::Schemas {
            command: SchemasCommand::Import { dir, region },
        } => import_schemas(&dir, region.as_deref()),
        Command::Fmt { paths, check } => fmt::fmt(&paths, check),
        Command::Schema => out::out!(
            "{}",
            strata::views::stack_schema::text(&strata::ops::SCHEMAS)
        )
        .map(|()| ExitCode::SUCCESS)
        .map_err(anyhow::Error::from),
        Command::Validate { stack, explain } => validate::validate(&stack, explain),
        Command::Graph {
            stack: StackOrStacks {
                stacks: Some(dir), ..
            },
        } => stacks::graph(&dir),
        Command::Graph { stack } => validate::graph(&one(stack)),
        Command::Plan {
            stack: StackOrStacks {
                stacks: Some(dir), ..
            },
            ..
        } => stacks::run("plan", &dir, false),
        Command::Apply {
            stack: StackOrStacks {
                stacks: Some(dir), ..
            },
            run,
            ..
        } => stacks::run_changes("apply", &dir, run.auto_approve),
        Command::Destroy {
            stack: StackOrStacks {
                stacks: Some(dir), ..
            },
            run,
            ..
        } => stacks::run_changes("destroy", &dir, run.auto_approve),
        Command::Plan {
            stack,
            target,
            select,
            json,
            format,
            out,
            detailed_exitcode,
            destroy,
            parallelism,
        } => deploy::plan(
            &one(stack),
            &target,
            deploy::PlanFlags {
                json,
                terraform_compatible: format == PlanFormat::TerraformCompatible,
                out,
                detailed_exitcode,
                destroy,
                parallelism,
                selection: select.selection(),
            },
        ),
        Command::Apply { stack, target, run } => deploy::apply(&one(stack), &target, &run, false),
        Command::Destroy { stack, target, run } => deploy::apply(&one(stack), &target, &run, true),
        Command::Import {
            stack,
            resource,
            id,
            target,
        } => deploy::import(&stack, &resource, &id, &target),
        Command::Output {
            stack,
            name,
            json,
            target,
        } => deploy::output_at(&stack, name.as_deref(), json, &target),
        Command::State { command } => match command {
            StateCommand::List { stack, target } => state::list(&stack, &target),
            StateCommand::Show {
                stack,
                resource,
                target,
            } => state::show(&stack, &resource, &target),
            StateCommand::Rm {
                stack,
                resource,
                auto_approve,
                target,
            } => state::rm(&stack, &resource, auto_approve, &target),
            StateCommand::Pull { stack, target } => state::pull(&stack, &target),
            StateCommand::Push {
                stack,
                state: file,
                force,
                target,
            } => state::push(&stack, &file, force, &target),
            StateCommand::History { stack, target } => state::history(&stack, &target),
            StateCommand::Migrate {
                stack,
                to_local,
                force,
                target,
            } => state::migrate(&stack, to_local, force, &target),
        },
        Command::Bootstrap {
            bucket,
            region,
            expire_versions_after_days,
            local,
            endpoint_url,
        } => state::bootstrap(
            &bucket,
            region,
            expire_versions_after_days,
            local,
            endpoint_url,
        ),
        Command::Policy {
            stack,
            for_command,
            json,
            target,
        } => policy::policy(&stack, &target, for_command, json),
        Command::ForceUnlock { stack, id, target } => deploy::force_unlock_at(&stack, &id, &target),
        Command::Send {
            files,
            stack,
            vars,
            api_url,
            key,
            prefix,
            json,
            state_dir,
            transfer,
        } => chain::send(
            &StackArgs { file: stack, vars },
            &state_dir,
            chain::SendArgs {
                files,
                api_url,
                key,
                prefix,
                json,
                transfer,
            },
        ),
        Command::Receive {
            stack,
            vars,
            target,
            queue_url,
            api_url,
            out,
            once: _,
            follow,
            max,
            wait,
            json,
            transfer,
        } => chain::receive(
            &StackArgs { file: stack, vars },
            &target,
            chain::ReceiveArgs {
                queue_url,
                api_url,
                out,
                follow,
                max,
                wait,
                json,
                transfer,
            },
        ),
    };
    match result {
        Ok(code) => {
            tracing::debug!(exit_code = ?code, "end");
            code
        }
        // The reader of standard output went away (`strata state list FILE | head -1`): it
        // took what it wanted. A quiet exit 0, as ripgrep does (see `out`).
        Err(err) if out::is_broken_pipe(&err) => {
            tracing::debug!("end: standard output closed by its reader");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::debug!(error = %format!("{err:#}"), "end");
            report_error(&err);
            ExitCode::from(1)
        }
    }
}

/// Prints a command's error on standard error, `error: ` first. Diagnostics arrive rendered,
/// each with its own `error:` heading, and are printed as they are.
fn report_error(err: &anyhow::Error) {
    match err.downcast_ref::<strata::ops::OpsError>() {
        Some(strata::ops::OpsError::Invalid(rendered)) => eprintln!("{rendered}"),
        _ => eprintln!("error: {err:#}"),
    }
}

/// `strata man`: the main page on standard output, or every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    // `help` has no page of its own: the main page must not name one that is not written.
    let command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        }
        None => {
            let mut text = Vec::new();
            clap_mangen::Man::new(command).render(&mut text)?;
            out::out!("{}", String::from_utf8_lossy(&text))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `strata schemas`: the registry schemas of Cloud Control types.
#[derive(Subcommand)]
enum SchemasCommand {
    /// Copy the registry schemas (`*.json`, as CloudFormation's DescribeType returns them
    /// and as the cfn-lint package ships them) in DIR into the cache, for offline use.
    Import {
        /// The directory of schema files; other JSON files in it are skipped.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The region the schemas are for (default: the environment's, else us-east-1).
        #[arg(long)]
        region: Option<String>,
    },
}

fn import_schemas(from: &std::path::Path, region: Option<&str>) -> anyhow::Result<ExitCode> {
    let imported = strata::ops::schemas::import(&strata::ops::schemas::ImportRequest {
        from: from.to_path_buf(),
        region: region.map(str::to_string),
    })?;
    if imported.types.is_empty() {
        anyhow::bail!("{} holds no resource type schema", from.display());
    }
    for type_name in &imported.types {
        out::outln!("{type_name}")?;
    }
    eprintln!(
        "imported {} schema{} into {}",
        imported.types.len(),
        if imported.types.len() == 1 { "" } else { "s" },
        imported.into.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `strata docs`: the resource-type reference, into `dir` or on standard output.
fn docs(dir: Option<&std::path::Path>, type_name: Option<&str>) -> anyhow::Result<ExitCode> {
    let schemas = &strata::ops::SCHEMAS;
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, text) in strata::views::docs::pages(schemas) {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = match type_name {
        None => strata::views::docs::index(schemas),
        Some(name) => match schemas.iter().find(|s| s.type_name == name) {
            Some(schema) => strata::views::docs::page(schema),
            None => {
                let known: Vec<&str> = schemas.iter().map(|s| s.type_name).collect();
                anyhow::bail!(
                    "no resource type `{name}`; strata knows {}",
                    known.join(", ")
                );
            }
        },
    };
    out::out!("{text}")?;
    Ok(ExitCode::SUCCESS)
}

/// Loads the stack or prints its diagnostics.
fn load(args: &StackArgs) -> Result<strata::ops::Stack, ExitCode> {
    load_with_graph(args).map(|(stack, _)| stack)
}

/// Loads the stack and its dependency graph, or prints the diagnostics.
fn load_with_graph(args: &StackArgs) -> Result<(strata::ops::Stack, strata::ops::Graph), ExitCode> {
    strata::ops::load(&args.file, &args.vars).map_err(|err| {
        eprint!("{}", err.render());
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, with the commands that lead to it.
    fn arguments(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((path.to_string(), arg.clone()));
        }
        for sub in command.get_subcommands() {
            arguments(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_and_argument_has_help() {
        let mut command = <Cli as clap::CommandFactory>::command();
        command.build();
        let mut missing = Vec::new();
        let mut all = Vec::new();
        arguments(&command, "strata", &mut all);
        for (path, arg) in all {
            if arg.get_help().is_none() && !arg.is_hide_set() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        fn commands(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                commands(sub, &path, missing);
            }
        }
        commands(&command, "strata", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}
