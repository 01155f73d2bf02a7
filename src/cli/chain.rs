//! `strata send` and `strata receive`: the producer and consumer of the deployed
//! producer/consumer stack.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use futures::{FutureExt, StreamExt};
use serde_json::json;
use strata::aws::Clients;
use strata::chain::consumer::{Consumer, Mode, Options};
use strata::chain::endpoint::{Action, Endpoint};
use strata::chain::producer::{Sender, Source, human_size};
use strata::chain::transfer::{Shared, Transfer, parse_size};
use strata::ops;

use super::deploy::{runtime, target};
use super::out::sayln;
use super::{StackArgs, TargetArgs, load};

/// An output of the stack's state, unless given on the command line.
/// The state is read from the stack's backend (or `--backend-config` /
/// `STRATA_BACKEND_CONFIG`), else from the state directory.
fn output(stack_args: &StackArgs, target_args: &TargetArgs, name: &str) -> anyhow::Result<String> {
    let stack = load(stack_args)
        .map_err(|_| anyhow!("cannot load {} to find `{name}`", stack_args.file.display()))?;
    let stage = ops::stage_of(&stack);
    let (state, location) = runtime()?.block_on(async {
        let store = super::deploy::open_store(&stack, target_args).await?;
        anyhow::Ok((store.read().await?, store.location()))
    })?;
    let value = state
        .outputs
        .get(name)
        .and_then(|o| o.value.as_str().map(str::to_string));
    value.ok_or_else(|| {
        anyhow!("stack `{}` (stage `{stage}`) has no output `{name}` at {location}: apply it first, or pass the URL", stack.name)
    })
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
    let endpoint = Endpoint::new(&api_url);
    let shared = args.transfer.shared()?;
    let rt = runtime()?;
    rt.block_on(async {
        cancel_on_ctrl_c(&shared);
        let sources: Vec<(Source, String)> = if args.files.is_empty() {
            let name = args
                .key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            vec![(Source::Stdin, name)]
        } else {
            args.files
                .iter()
                .map(|f| {
                    let name = args.key.clone().unwrap_or_else(|| {
                        f.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    });
                    (Source::File(f), name)
                })
                .collect()
        };
        // Progress on a terminal for one payload only: several would overwrite each other.
        let sender = Sender {
            endpoint: &endpoint,
            shared: &shared,
            progress: !args.json && sources.len() == 1,
            prefetched: Default::default(),
        };
        let mut chunks: Vec<Vec<(Source, String)>> = Vec::new();
        for (i, (source, name)) in sources.into_iter().enumerate() {
            let key = if name.starts_with(&args.prefix) {
                name
            } else {
                format!("{}{name}", args.prefix)
            };
            if i % 100 == 0 {
                chunks.push(Vec::new());
            }
            chunks.last_mut().expect("pushed").push((source, key));
        }
        for chunk in chunks {
            // The single PUTs of a hundred files: their URLs in one request.
            let mut small = Vec::new();
            for (source, key) in &chunk {
                if let Source::File(path) = source
                    && let Ok(meta) = std::fs::metadata(path)
                    && shared.transfer.parts(meta.len()).is_none()
                    && chunk.len() > 1
                {
                    small.push(key.clone());
                }
            }
            if !small.is_empty() {
                sender
                    .prefetched
                    .fetch(&endpoint, Action::Put, &small)
                    .await;
            }
            // Several files at once, reported in the order given; every request of every
            // file takes one of the `--concurrency` permits.
            let sender = &sender;
            let mut results = futures::stream::iter(
                chunk
                    .into_iter()
                    .map(|(source, key)| async move { (sender.send(source, &key).await, key) }),
            )
            .buffered(shared.transfer.concurrency.max(1));
            while let Some((result, key)) = results.next().await {
                if let Err(e) = &result
                    && e.is_interrupted()
                {
                    eprintln!("error: sending `{key}`: {e}");
                    return anyhow::Ok(ExitCode::from(130));
                }
                let sent = result.with_context(|| format!("sending `{key}`"))?;
                if let Some(note) = &sent.note {
                    eprintln!("warning: {note}");
                }
                if args.json {
                    sayln!(
                        "{}",
                        json!({ "key": sent.key, "size": sent.size, "parts": sent.parts })
                    );
                } else {
                    sayln!("sent {} ({})", sent.key, human_size(sent.size));
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
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
    let endpoint = Endpoint::new(&api_url);
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
    let json_out = args.json;
    let rt = runtime()?;
    let summary = rt.block_on(async {
        cancel_on_ctrl_c(&shared);
        let aws = Clients::connect(&target(target_args, None)).await?;
        let consumer = Consumer {
            sqs: &aws.sqs,
            s3: &aws.s3,
            endpoint: &endpoint,
            queue_url: &queue_url,
            shared: &shared,
        };
        let summary = consumer
            .run(
                &options,
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
            .await?;
        anyhow::Ok(summary)
    })?;
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
