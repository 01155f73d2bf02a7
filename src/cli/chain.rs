//! `strata send` and `strata receive`: the producer and consumer of the deployed
//! producer/consumer stack.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use futures::FutureExt;
use serde_json::json;
use strata::ops;
use strata::ops::chain::{
    Mode, Options, ReceiveRequest, SendEnd, SendRequest, Shared, Transfer, human_size, parse_size,
};

use super::deploy::runtime;
use super::out::sayln;
use super::{StackArgs, TargetArgs, load};

/// An output of the stack's state, unless given on the command line.
/// The state is read from the stack's backend (or `--backend-config` /
/// `STRATA_BACKEND_CONFIG`), else from the state directory.
fn output(stack_args: &StackArgs, target_args: &TargetArgs, name: &str) -> anyhow::Result<String> {
    let stack = load(stack_args)
        .map_err(|_| anyhow!("cannot load {} to find `{name}`", stack_args.file.display()))?;
    Ok(runtime()?.block_on(ops::output::text(&stack, &target_args.access(), name))?)
}

/// How payloads are split and how many transfers run at once (the AWS CLI's defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct TransferArgs {
    /// Payloads of at least this size go as a multipart upload of parallel parts (when
    /// sending) or as parallel ranged GETs (when receiving). E.g. 8MB, 64MiB, 1GB.
    #[arg(long, value_name = "SIZE", default_value = "8MB", value_parser = parse_size)]
    pub multipart_threshold: u64,
    /// Size of each part or range (5 MiB to 5 GiB); grown to keep within 10,000 parts.
    #[arg(long, value_name = "SIZE", default_value = "8MB", value_parser = parse_size)]
    pub part_size: u64,
    /// Transfers in flight at once (payloads, parts and ranges together).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub concurrency: usize,
}

impl TransferArgs {
    fn shared(&self) -> anyhow::Result<Shared> {
        let transfer = Transfer {
            threshold: self.multipart_threshold,
            part_size: self.part_size,
            concurrency: self.concurrency,
        };
        transfer.check().map_err(|e| anyhow!(e))?;
        Ok(Shared::new(transfer))
    }
}

/// Ctrl-C stops the transfers (a multipart upload is aborted first; a receive puts its
/// unfinished messages back on the queue) instead of killing the process mid-request.
fn cancel_on_ctrl_c(shared: &Shared) {
    let cancel = shared.cancel.clone();
    // Polled once here: the handler is in place before the first request, instead of
    // whenever the task below is first scheduled (until then SIGINT still kills).
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    if let Some(result) = (&mut ctrl_c).now_or_never() {
        if result.is_ok() {
            cancel.cancel();
        }
        return;
    }
    tokio::spawn(async move {
        if ctrl_c.await.is_ok() {
            cancel.cancel();
        }
    });
}

pub struct SendArgs {
    pub files: Vec<PathBuf>,
    pub api_url: Option<String>,
    pub key: Option<String>,
    pub prefix: String,
    pub json: bool,
    pub transfer: TransferArgs,
}

pub fn send(stack: &StackArgs, state_dir: &Path, args: SendArgs) -> anyhow::Result<ExitCode> {
    if args.key.is_some() && args.files.len() > 1 {
        bail!(
            "--key names one payload; it cannot be used with {} files",
            args.files.len()
        );
    }
    if !args.prefix.ends_with('/') {
        bail!("--prefix must end with `/` (got `{}`)", args.prefix);
    }
    let api_url = match args.api_url {
        Some(url) => url,
        None => output(
            stack,
            &super::deploy::state_dir_target(state_dir)?,
            "api_url",
        )?,
    };
    let shared = args.transfer.shared()?;
    let request = SendRequest {
        api_url,
        files: args.files,
        key: args.key,
        prefix: args.prefix,
        progress: !args.json,
    };
    let json_out = args.json;
    let on_sent = |sent: &ops::chain::Sent| {
        if let Some(note) = &sent.note {
            eprintln!("warning: {note}");
        }
        if json_out {
            sayln!(
                "{}",
                json!({ "key": sent.key, "size": sent.size, "parts": sent.parts })
            );
        } else {
            sayln!("sent {} ({})", sent.key, human_size(sent.size));
        }
    };
    let end = runtime()?.block_on(async {
        cancel_on_ctrl_c(&shared);
        ops::chain::send(request, &shared, on_sent).await
    })?;
    match end {
        SendEnd::Done => Ok(ExitCode::SUCCESS),
        SendEnd::Interrupted { key, error } => {
            eprintln!("error: sending `{key}`: {error}");
            Ok(ExitCode::from(130))
        }
    }
}

pub struct ReceiveArgs {
    pub queue_url: Option<String>,
    pub api_url: Option<String>,
    pub out: PathBuf,
    pub follow: bool,
    pub max: Option<usize>,
    pub wait: i32,
    pub json: bool,
    pub transfer: TransferArgs,
}

pub fn receive(
    stack: &StackArgs,
    target_args: &TargetArgs,
    args: ReceiveArgs,
) -> anyhow::Result<ExitCode> {
    let queue_url = match args.queue_url {
        Some(url) => url,
        None => output(stack, target_args, "queue_url")?,
    };
    let api_url = match args.api_url {
        Some(url) => url,
        None => output(stack, target_args, "api_url")?,
    };
    let shared = args.transfer.shared()?;
    let options = Options {
        out_dir: args.out.clone(),
        mode: if args.follow {
            Mode::Follow
        } else {
            Mode::Once
        },
        max: args.max,
        wait_seconds: args.wait,
    };
    let request = ReceiveRequest {
        queue_url,
        api_url,
        options,
    };
    let json_out = args.json;
    let summary = runtime()?.block_on(async {
        cancel_on_ctrl_c(&shared);
        ops::chain::receive(
            request,
            &target_args.access(),
            &shared,
            |r| {
                if json_out {
                    sayln!(
                        "{}",
                        json!({ "key": r.key, "size": r.size, "path": r.path, "via": r.via })
                    );
                } else {
                    sayln!("{}\t{}\t{}", r.key, r.size, r.path.display());
                }
            },
            |e| eprintln!("error: {e}"),
        )
        .await
    })?;
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
