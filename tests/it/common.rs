//! Shared test support: a private emulator per test on a free port, the built `strata`
//! binary run in a temporary directory, and SDK clients to read back what exists.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A ministack instance bound to 127.0.0.1 on a free port, stopped on drop.
pub struct Emulator {
    pub port: u16,
    pub endpoint: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    /// An emulator that evaluates IAM for every call (`AUTH=true`), as AWS does: keys it
    /// does not know are refused, and a user gets only what its policies allow. `test`/`test`
    /// is the account root.
    pub fn strict() -> Emulator {
        Emulator::start_with(&[("AUTH", "true")])
    }

    fn start_with(env: &[(&str, &str)]) -> Emulator {
        // The port is free when it is chosen, but another process (a proxy of a test running
        // at once, or a test in another process that chose the same port) may bind it, or
        // start an emulator on it, before this emulator does. `scripts/local-aws` then exits
        // with PORT_TAKEN, and another port is tried.
        const PORT_TAKEN: i32 = 3;
        for _ in 0..5 {
            let port = free_port();
            let out = Command::new(repo().join("scripts/local-aws"))
                .args(["start", "--fresh", "--port", &port.to_string()])
                .envs(env.iter().copied())
                .output()
                .expect("scripts/local-aws runs");
            if out.status.code() == Some(PORT_TAKEN) {
                continue;
            }
            assert!(
                out.status.success(),
                "emulator did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let endpoint = String::from_utf8(out.stdout).unwrap().trim().to_string();
            assert_eq!(endpoint, format!("http://127.0.0.1:{port}"));
            return Emulator { port, endpoint };
        }
        panic!("no free port for the emulator after 5 tries");
    }

    /// SDK clients for the emulator, with the test keys and region (never read from this
    /// process's environment, which tests running at once share).
    pub async fn clients(&self) -> strata::aws::Clients {
        clients_at(&self.endpoint, TEST_REGION).await
    }
}

/// The Python of the emulator's virtual environment (boto3 and the SQS Extended Client are
/// installed in it), where `scripts/local-aws` puts it: under `STRATA_LOCAL_DIR`, else
/// `.local` in the repository.
pub fn emulator_python() -> PathBuf {
    let local = std::env::var_os("STRATA_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".local"));
    let local = if local.is_absolute() {
        local
    } else {
        repo().join(local)
    };
    local.join("aws-venv/bin/python")
}

/// A port no other test of this run was given, free when chosen: the kernel can hand the
/// same free port to two tests starting at once, and the second would then share (and lose,
/// when the first stops it) the first one's emulator.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/local-aws"))
            .args(["stop", "--port", &self.port.to_string()])
            .output();
    }
}

/// What a test works in: an emulator (its own, or one it shares with another workspace), a
/// temporary directory `strata` runs in, and the environment given to `strata` (to the
/// child process only: tests run at once in this process and share its environment).
pub struct Workspace {
    emulator: Arc<Emulator>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Workspace {
    /// A workspace on a private emulator.
    pub fn new() -> Workspace {
        Workspace::on(Arc::new(Emulator::start()))
    }

    /// A workspace on a private emulator that evaluates IAM ([`Emulator::strict`]).
    pub fn strict() -> Workspace {
        Workspace::on(Arc::new(Emulator::strict()))
    }

    /// A workspace (an empty directory of its own) on an existing emulator.
    pub fn on(emulator: Arc<Emulator>) -> Workspace {
        Workspace {
            emulator,
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// Another workspace on this one's emulator: a second directory, as a second machine or
    /// a colleague's checkout would be.
    pub fn beside(&self) -> Workspace {
        Workspace::on(self.emulator.clone())
    }

    /// With a copy of `stacks/` in the directory ([`copy_stacks`]), so a test can edit a stack
    /// or a function's code.
    pub fn with_stacks(self) -> Workspace {
        copy_stacks(self.dir());
        self
    }

    /// `NAME=VALUE` in the environment of every `strata` this workspace runs.
    pub fn env(mut self, name: &str, value: &str) -> Workspace {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The path of the copied stack `stacks/NAME.toml` (see [`Workspace::with_stacks`]).
    pub fn stack(&self, name: &str) -> String {
        self.dir()
            .join("stacks")
            .join(format!("{name}.toml"))
            .display()
            .to_string()
    }

    /// Writes `text` to `name` in the directory; its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// SDK clients for the emulator (not through any proxy).
    pub async fn clients(&self) -> strata::aws::Clients {
        self.emulator.clients().await
    }

    /// A proxy in front of the emulator, started with `extra` arguments.
    pub fn proxy(&self, extra: &[&str]) -> Proxy {
        Proxy::start(&self.emulator.endpoint, extra)
    }

    /// Runs of `strata` sent to `proxy` instead of straight to the emulator.
    pub fn through<'a>(&'a self, proxy: &'a Proxy) -> Through<'a> {
        Through {
            workspace: self,
            endpoint: &proxy.url,
        }
    }

    /// Runs of `strata` sent straight to the emulator.
    pub fn direct(&self) -> Through<'_> {
        Through {
            workspace: self,
            endpoint: &self.emulator.endpoint,
        }
    }

    /// `strata ARGS` against the emulator.
    pub fn run(&self, args: &[&str]) -> Output {
        self.direct().run(args)
    }

    /// [`Workspace::run`], asserting it succeeds.
    pub fn ok(&self, args: &[&str]) -> Output {
        self.direct().ok(args)
    }

    /// The command of [`Workspace::run`], for a test to add to before it runs it.
    pub fn command(&self, args: &[&str]) -> Command {
        self.direct().command(args)
    }

    /// `plan STACK --json EXTRA` against the emulator, asserted to succeed, parsed.
    pub fn plan_json(&self, stack: &str, extra: &[&str]) -> serde_json::Value {
        self.direct().plan_json(stack, extra)
    }

    /// `strata ARGS` with no endpoint: for commands that make no AWS call.
    pub fn strata(&self, args: &[&str]) -> Output {
        self.offline(args).output().expect("strata runs")
    }

    /// [`Workspace::strata`], asserting it succeeds.
    pub fn ok_offline(&self, args: &[&str]) -> Output {
        let out = self.strata(args);
        assert_exit(&out, 0);
        out
    }

    /// The command of [`Workspace::strata`].
    pub fn offline(&self, args: &[&str]) -> Command {
        let mut cmd = strata_command(self.dir(), args);
        cmd.envs(self.env.iter().map(|(n, v)| (n, v)));
        cmd
    }

    /// The local state of `stack` in `stage`, parsed.
    pub fn state(&self, stack: &str, stage: &str) -> serde_json::Value {
        read_state(self.dir(), stack, stage)
    }
}

/// Runs of a workspace's `strata` sent to one endpoint (the emulator, or a proxy).
pub struct Through<'a> {
    workspace: &'a Workspace,
    endpoint: &'a str,
}

impl Through<'_> {
    /// `strata ARGS --endpoint-url ENDPOINT`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.workspace.offline(args);
        cmd.args(["--endpoint-url", self.endpoint]);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("strata runs")
    }

    /// [`Through::run`], asserting it succeeds.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_exit(&out, 0);
        out
    }

    /// `plan STACK --json EXTRA`, asserted to succeed, parsed.
    pub fn plan_json(&self, stack: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["plan", stack, "--json"];
        args.extend(extra);
        let out = self.ok(&args);
        serde_json::from_slice(&out.stdout).expect("plan --json is JSON")
    }
}

/// Asserts the changes a plan (`plan --json`) makes, in its order: (address, action, changed
/// paths) of every resource whose action is not `no_op`, exactly.
pub fn assert_plan(plan: &serde_json::Value, expected: &[(&str, &str, &[&str])]) {
    let expected: Vec<(String, String, Vec<String>)> = expected
        .iter()
        .map(|(address, action, paths)| {
            (
                address.to_string(),
                action.to_string(),
                paths.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(planned_changes(plan), expected, "{plan}");
}

/// Asserts a plan (`plan --json`) changes nothing.
pub fn assert_no_changes(plan: &serde_json::Value) {
    assert_plan(plan, &[]);
}

/// The region every test works in.
pub const TEST_REGION: &str = "us-east-1";

/// The emulator's account root keys, `test`/`test`.
pub fn test_credentials() -> strata::aws::Credentials {
    strata::aws::Credentials::new("test", "test", None, None, "strata-tests")
}

/// SDK clients for `endpoint` in `region` with the test keys.
pub async fn clients_at(endpoint: &str, region: &str) -> strata::aws::Clients {
    strata::aws::Clients::connect(&strata::aws::Target {
        endpoint_url: Some(endpoint.to_string()),
        region: Some(region.to_string()),
        credentials: Some(test_credentials()),
        ..Default::default()
    })
    .await
    .expect("clients")
}

/// The `strata` binary, run in `dir` with test credentials.
pub fn strata(dir: &Path, args: &[&str]) -> Output {
    strata_command(dir, args).output().expect("strata runs")
}

/// `strata ARGS` in `dir`, its environment set here and only here: the test keys and
/// region, no colour, and none of this process's own AWS or strata settings (a profile, an
/// endpoint, a state directory, a log level). A test adds what it needs with `.env()`.
pub fn strata_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("AWS_") || name.starts_with("STRATA_") || name == "NO_COLOR" {
            cmd.env_remove(&*name);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", TEST_REGION)
        .env("NO_COLOR", "1");
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The lines of standard output (a JSON event stream), each parsed; the test fails on one
/// that is not JSON.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}` is not JSON")))
        .collect()
}

/// Asserts the exit code, showing both streams when it is not what was expected.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// A copy of `stacks/` in `dir`, so a test can edit a stack or a function's code.
pub fn copy_stacks(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "__pycache__" {
                    copy(&entry.path(), &target);
                }
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let stacks = dir.join("stacks");
    copy(&repo().join("stacks"), &stacks);
    stacks
}

/// Runs `strata` against the emulator (adds `--endpoint-url`).
pub fn run(dir: &Path, emulator: &Emulator, args: &[&str]) -> Output {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--endpoint-url", &emulator.endpoint]);
    strata(dir, &full)
}

/// `plan --json` of STACK run in DIR against EMULATOR (exit 0), parsed; for the lifecycle
/// tests that keep their own directory.
pub fn plan_json(
    dir: &Path,
    emulator: &Emulator,
    stack: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["plan", stack, "--json"];
    args.extend(extra);
    let out = run(dir, emulator, &args);
    assert_exit(&out, 0);
    serde_json::from_slice(&out.stdout).expect("plan --json is JSON")
}

/// (address, action, changed paths) of every resource the plan changes.
pub fn planned_changes(plan: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] != "no_op")
        .map(|r| {
            let paths = r["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["path"].as_str().unwrap().to_string())
                .collect();
            (
                r["address"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                paths,
            )
        })
        .collect()
}

pub fn read_state(dir: &Path, stack: &str, stage: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(dir.join(format!(".strata/{stack}-{stage}.state.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn output_of(dir: &Path, stack: &str, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["output", stack, name];
    args.extend(extra);
    let out = strata(dir, &args);
    assert_exit(&out, 0);
    stdout(&out).trim().to_string()
}

/// Every file under DIR (directories left out), recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Compares `actual` with tests/snapshots/NAME; `STRATA_BLESS=1` rewrites the snapshot.
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = repo().join("tests/snapshots").join(name);
    if std::env::var_os("STRATA_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with STRATA_BLESS=1",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (STRATA_BLESS=1 rewrites it after an intended change)"
    );
}

/// `scripts/aws-proxy` in front of an endpoint: counts requests and, with `--fault-rate`,
/// answers some with faults. Stopped (SIGTERM to the pid it wrote) on drop.
pub struct Proxy {
    /// The URL to give strata as `--endpoint-url`.
    pub url: String,
    pid: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts the proxy in front of `upstream` with `extra` arguments (e.g. fault flags).
    pub fn start(upstream: &str, extra: &[&str]) -> Proxy {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("proxy.pid");
        let mut child = Command::new(repo().join("scripts/aws-proxy"))
            .arg("--upstream")
            .arg(upstream)
            .arg("--pid-file")
            .arg(&pid_file)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("scripts/aws-proxy runs");
        // The first line, printed once it accepts connections, is its URL.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let status = child.wait().unwrap();
            panic!("the proxy did not start ({status}); it printed {line:?}");
        }
        // Written before the URL is printed: the real process (not a wrapper such as a shim).
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_string();
        Proxy {
            url,
            pid,
            child,
            _dir: dir,
        }
    }

    /// A counting proxy in front of nothing (port 1, where nothing listens), for a test
    /// that asserts no call is made: it needs no emulator. A call would still be counted
    /// (and answered 502).
    pub fn in_front_of_nothing() -> Proxy {
        Proxy::start("http://127.0.0.1:1", &[])
    }

    /// GET /_proxy/stats, parsed.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.own("GET", "/_proxy/stats")).unwrap()
    }

    /// Zeroes the proxy's counts.
    pub fn reset(&self) {
        self.own("POST", "/_proxy/reset");
    }

    /// A request to one of the proxy's own endpoints, by hand (the tests need no HTTP client).
    fn own(&self, method: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        body.to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).output();
        let _ = self.child.wait();
    }
}

/// Runs `strata COMMAND` (one resource at a time) through a proxy that answers the first
/// `k` AWS calls and holds the next one, and kills strata with SIGKILL as soon as it waits
/// on that call: a kill at a known point. `false` when the run needed no more than `k`
/// calls and finished by itself.
pub fn kill_after_call(ws: &Workspace, stack: &str, command: &str, k: usize) -> bool {
    kill_after_call_through(ws, stack, command, k, &[])
}

/// [`kill_after_call`] through a proxy started with `proxy_args` besides.
pub fn kill_after_call_through(
    ws: &Workspace,
    stack: &str,
    command: &str,
    k: usize,
    proxy_args: &[&str],
) -> bool {
    let k = k.to_string();
    let mut args = vec!["--stall-after", k.as_str()];
    args.extend(proxy_args);
    let proxy = ws.proxy(&args);
    let mut child = ws
        .through(&proxy)
        .command(&[command, stack, "--auto-approve", "--parallelism", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if proxy.stats()["stalled"].as_u64().unwrap() > 0 {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// One attribute of the queue at `url`, read back from the emulator.
pub async fn queue_attribute(
    clients: &strata::aws::Clients,
    url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> Option<String> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap();
    out.attributes().and_then(|a| a.get(&name)).cloned()
}

/// Every object of the stack's types on the emulator, by physical id.
/// The names of the queues that exist.
pub async fn queue_names(clients: &strata::aws::Clients) -> std::collections::BTreeSet<String> {
    clients
        .sqs
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls()
        .iter()
        .map(|url| url.rsplit('/').next().unwrap().to_string())
        .collect()
}

pub async fn live_ids(clients: &strata::aws::Clients) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    ids.extend(
        clients
            .s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string)),
    );
    ids.extend(
        clients
            .sqs
            .list_queues()
            .send()
            .await
            .unwrap()
            .queue_urls()
            .iter()
            .cloned(),
    );
    ids.extend(
        clients
            .iam
            .list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .map(|r| r.role_name().to_string()),
    );
    ids.extend(
        clients
            .lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .iter()
            .filter_map(|f| f.function_name().map(str::to_string)),
    );
    ids.extend(
        clients
            .apigateway
            .get_rest_apis()
            .send()
            .await
            .unwrap()
            .items()
            .iter()
            .filter_map(|a| a.id().map(str::to_string)),
    );
    ids.extend(
        clients
            .cloudtrail
            .describe_trails()
            .send()
            .await
            .unwrap()
            .trail_list()
            .iter()
            .filter_map(|t| t.name().map(str::to_string)),
    );
    // Log groups too: one Lambda made on a first invocation would outlive the stack.
    ids.extend(
        clients
            .logs
            .describe_log_groups()
            .send()
            .await
            .unwrap()
            .log_groups()
            .iter()
            .filter_map(|g| g.log_group_name().map(str::to_string)),
    );
    ids
}

/// The bucket blocks all public access and encrypts with SSE-S3 (read back from the bucket).
pub async fn assert_locked_down(clients: &strata::aws::Clients, bucket: &str) {
    let pab = clients
        .s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ],
        [Some(true); 4],
        "public access block of {bucket}"
    );
    let encryption = clients
        .s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    let algorithm = rule
        .apply_server_side_encryption_by_default()
        .unwrap()
        .sse_algorithm()
        .as_str()
        .to_string();
    assert_eq!(algorithm, "AES256", "encryption of {bucket}");
}

/// Object ids without the endpoint: the emulator builds queue URLs from the Host a request
/// was sent to, so one queue has another URL through the proxy than directly (on AWS a
/// queue URL never changes).
pub fn without_endpoint(
    ids: std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    ids.into_iter()
        .map(|id| match id.strip_prefix("http://127.0.0.1:") {
            Some(rest) => rest
                .split_once('/')
                .map_or(id.clone(), |(_, path)| path.to_string()),
            None => id,
        })
        .collect()
}

/// The ids the state records for top-level objects (policies and notifications share their
/// parent's id).
pub fn recorded_ids(state: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let top = [
        "s3.bucket",
        "sqs.queue",
        "iam.role",
        "lambda.function",
        "apigateway.rest_api",
        "cloudtrail.trail",
        "logs.log_group",
    ];
    state["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| top.contains(&r["type"].as_str().unwrap()))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}
