//! A deployed producer-consumer stack in a fresh directory, with the producer and the
//! consumer run against it as users run them: `send` without any AWS credential (it only
//! talks to the presign endpoint and S3's presigned URLs), `receive` with them.

use std::path::Path;
use std::process::Output;

use serde_json::Value as Json;

use crate::common::{Emulator, assert_exit, copy_stacks, output_of, run, stdout, strata_command};

pub struct Deployed {
    pub emulator: Emulator,
    pub dir: tempfile::TempDir,
    pub stack: String,
}

/// The producer-consumer stack, applied on a fresh emulator.
pub fn deploy() -> Deployed {
    deploy_on(Emulator::start(), str::to_string)
}

/// The producer-consumer stack, applied on EMULATOR; `edit` changes the copied upload stack
/// first.
pub fn deploy_on(emulator: Emulator, edit: impl FnOnce(&str) -> String) -> Deployed {
    let dir = tempfile::tempdir().unwrap();
    let stacks = copy_stacks(dir.path());
    let upload = stacks.join("upload-form.toml");
    let text = std::fs::read_to_string(&upload).unwrap();
    std::fs::write(&upload, edit(&text)).unwrap();
    let stack = stacks.join("producer-consumer.toml").display().to_string();
    assert_exit(
        &run(dir.path(), &emulator, &["apply", &stack, "--auto-approve"]),
        0,
    );
    Deployed {
        emulator,
        dir,
        stack,
    }
}

impl Deployed {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn output(&self, name: &str) -> String {
        output_of(self.path(), &self.stack, name, &[])
    }

    /// `strata send` with every AWS credential variable removed.
    pub fn send(&self, args: &[&str]) -> Output {
        let mut full = vec!["send", "--stack", self.stack.as_str()];
        full.extend(args);
        let mut cmd = strata_command(self.path(), &full);
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
        cmd.output().unwrap()
    }

    /// `strata receive --json` on the emulator.
    pub fn receive(&self, args: &[&str]) -> Output {
        let mut full = vec![
            "receive",
            "--stack",
            self.stack.as_str(),
            "--endpoint-url",
            self.emulator.endpoint.as_str(),
            "--json",
        ];
        full.extend(args);
        strata_command(self.path(), &full).output().unwrap()
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
