//! A deployed producer-consumer stack in a fresh directory, with the producer and the
//! consumer run against it as users run them: `send` without any AWS credential (it only
//! talks to the presign endpoint and S3's presigned URLs), `receive` with them.

use std::path::Path;
use std::process::Output;

use serde_json::Value as Json;

use crate::common::{Proxy, Workspace, output_of, stdout};

pub struct Deployed {
    pub ws: Workspace,
    pub stack: String,
}

/// The producer-consumer stack, applied on a fresh emulator.
pub fn deploy() -> Deployed {
    deploy_in(Workspace::new().with_stacks(), str::to_string)
}

/// The producer-consumer stack, applied in WS (which has copied stacks); `edit` changes the
/// copied upload stack first.
pub fn deploy_in(ws: Workspace, edit: impl FnOnce(&str) -> String) -> Deployed {
    let upload = ws.stack("upload-form");
    let text = std::fs::read_to_string(&upload).unwrap();
    std::fs::write(&upload, edit(&text)).unwrap();
    let stack = ws.stack("producer-consumer");
    ws.ok(&["apply", &stack, "--auto-approve"]);
    Deployed { ws, stack }
}

/// The producer-consumer stack on a fresh emulator, its presign function talking to S3
/// through `scripts/aws-proxy` started with PROXY_ARGS: the function's S3 calls and the URLs
/// it signs (so every upload and download) go through the proxy.
pub fn deploy_behind(proxy_args: &[&str]) -> (Deployed, Proxy) {
    let ws = Workspace::new().with_stacks();
    let proxy = ws.proxy(proxy_args);
    let url_env = format!("AWS_ENDPOINT_URL = \"{}\", S3_BUCKET", proxy.url);
    let deployed = deploy_in(ws, |text| text.replace("S3_BUCKET", &url_env));
    (deployed, proxy)
}

impl Deployed {
    pub fn path(&self) -> &Path {
        self.ws.dir()
    }

    pub fn output(&self, name: &str) -> String {
        output_of(self.path(), &self.stack, name, &[])
    }

    /// The content of KEY in the content bucket, and its ETag.
    pub async fn stored(&self, clients: &strata::aws::Clients, key: &str) -> (Vec<u8>, String) {
        let out = clients
            .s3
            .get_object()
            .bucket(self.output("content_bucket"))
            .key(key)
            .send()
            .await
            .unwrap();
        let etag = out.e_tag().unwrap().to_string();
        (out.body.collect().await.unwrap().to_vec(), etag)
    }

    /// KEY does not exist in the content bucket: HeadObject answers NotFound, nothing else.
    pub async fn assert_absent(&self, clients: &strata::aws::Clients, key: &str) {
        let head = clients
            .s3
            .head_object()
            .bucket(self.output("content_bucket"))
            .key(key)
            .send()
            .await;
        match head {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
            other => panic!("{key} is not absent: {other:?}"),
        }
    }

    /// `strata send` with every AWS credential variable removed.
    pub fn send(&self, args: &[&str]) -> Output {
        self.send_command(args).output().unwrap()
    }

    /// `strata send` of STDIN (its standard input), with every AWS credential variable
    /// removed.
    pub fn send_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .send_command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn send_command(&self, args: &[&str]) -> std::process::Command {
        let mut full = vec!["send", "--stack", self.stack.as_str()];
        full.extend(args);
        let mut cmd = self.ws.offline(&full);
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        cmd
    }

    /// `strata receive --json` on the emulator.
    pub fn receive(&self, args: &[&str]) -> Output {
        self.receive_command(args).output().unwrap()
    }

    /// The command of `strata receive --json` on the emulator, to spawn.
    pub fn receive_command(&self, args: &[&str]) -> std::process::Command {
        let mut full = vec![
            "receive",
            "--stack",
            self.stack.as_str(),
            "--endpoint-url",
            self.ws.emulator().endpoint.as_str(),
            "--json",
        ];
        full.extend(args);
        self.ws.offline(&full)
    }
}

/// Each line of a command's standard output, parsed as JSON.
pub fn json_lines(out: &Output) -> Vec<Json> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// SIZE bytes that do not compress, the same for the same SEED (xorshift).
pub fn payload(size: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
