//! Credentials from profiles, as real users have them: a `credential_process` profile
//! deploys; an SSO profile without a login, a failing `credential_process` and keys the
//! service does not know are credentials errors naming the profile and the fix, at once and
//! before any request. And a bucket in another region is reported with its region.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{
    Proxy, Workspace, assert_exit, files_under, planned_changes, stderr, stdout, strata_command,
};

/// The state files under DIR/.strata.
fn state_files(dir: &Path) -> Vec<PathBuf> {
    let states = dir.join(".strata");
    if !states.exists() {
        return Vec::new();
    }
    files_under(&states)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".state.json"))
        .collect()
}

/// The one state file under DIR/.strata, parsed.
fn state_of(dir: &Path) -> serde_json::Value {
    let states = state_files(dir);
    assert_eq!(states.len(), 1, "{states:?}");
    serde_json::from_str(&std::fs::read_to_string(&states[0]).unwrap()).unwrap()
}

const STACK: &str = r#"
[stack]
name = "creds"

[resources.jobs]
type = "sqs.queue"
name = "creds-jobs"

[resources.files]
type = "s3.bucket"
name = "creds-files"
"#;

/// A HOME of its own with `~/.aws/config` and `~/.aws/credentials` (also named by
/// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str, credentials: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let aws = dir.path().join(".aws");
        std::fs::create_dir_all(&aws).unwrap();
        std::fs::write(aws.join("config"), config).unwrap();
        std::fs::write(aws.join("credentials"), credentials).unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An executable script in this HOME.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `strata ARGS --endpoint-url ENDPOINT` in `dir` with only this HOME's profile
    /// `profile` as credentials: no keys in the environment, no instance metadata.
    fn strata(&self, dir: &Path, profile: &str, endpoint: &str, args: &[&str]) -> Output {
        let aws = self.path().join(".aws");
        strata_command(dir, args)
            .args(["--endpoint-url", endpoint])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .env_remove("AWS_ROLE_ARN")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", self.path())
            .env("AWS_CONFIG_FILE", aws.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"))
            .env("AWS_PROFILE", profile)
            .output()
            .expect("strata runs")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_process_profile_deploys_and_plans_no_change() {
    let ws = Workspace::new();
    let (dir, endpoint) = (ws.dir(), &ws.emulator().endpoint);
    let home = Home::new("", "");
    let calls = home.path().join("calls");
    let process = home.script(
        "emulator-keys",
        &format!(
            "echo called >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"test\", \"SecretAccessKey\": \"test\"}}'",
            calls.display()
        ),
    );
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile deployer]\ncredential_process = {}\nregion = us-east-1\n",
            process.display()
        ),
    )
    .unwrap();
    ws.write("creds.toml", STACK);

    let out = home.strata(
        dir,
        "deployer",
        endpoint,
        &["apply", "creds.toml", "--auto-approve"],
    );
    assert_exit(&out, 0);
    // One process run per strata run: the keys are cached, not asked for per call.
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "called\n");

    // The process's keys are the emulator's account, recorded as the state's.
    assert_eq!(state_of(dir)["placement"]["account_id"], "000000000000");
    let clients = ws.clients().await;
    let queue = clients
        .sqs
        .get_queue_url()
        .queue_name("creds-jobs")
        .send()
        .await
        .expect("the queue exists");
    assert!(queue.queue_url().unwrap().ends_with("/creds-jobs"));
    clients
        .s3
        .head_bucket()
        .bucket("creds-files")
        .send()
        .await
        .expect("the bucket exists");

    let out = home.strata(dir, "deployer", endpoint, &["plan", "creds.toml", "--json"]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        planned_changes(&plan),
        Vec::<(String, String, Vec<String>)>::new()
    );
    assert_eq!(plan["resources"].as_array().unwrap().len(), 2, "{plan}");
}

#[test]
fn an_sso_profile_without_a_login_fails_at_once_with_the_login_command() {
    let proxy = Proxy::in_front_of_nothing();
    let home = Home::new(
        "[profile sso-dev]\n\
         sso_session = corp\n\
         sso_account_id = 111111111111\n\
         sso_role_name = Deployer\n\
         region = us-east-1\n\
         \n\
         [sso-session corp]\n\
         sso_start_url = https://corp.awsapps.com/start\n\
         sso_region = us-east-1\n",
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("creds.toml"), STACK).unwrap();

    for command in [
        vec!["plan", "creds.toml"],
        vec!["apply", "creds.toml", "--auto-approve"],
        vec!["destroy", "creds.toml", "--auto-approve"],
    ] {
        let out = home.strata(dir, "sso-dev", &proxy.url, &command);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("credentials: the SSO login of profile `sso-dev` is missing or expired")
                && err.contains("run `aws sso login --profile sso-dev`"),
            "{command:?}: {err}"
        );
        assert!(!err.contains("cannot reach"), "{err}");
    }
    // Nothing was sent: not to STS, not to any service.
    assert_eq!(proxy.stats()["total"], 0, "{}", proxy.stats());
    assert_eq!(state_files(dir), Vec::<PathBuf>::new());
}

#[test]
fn a_failing_credential_process_is_run_once_and_reported_with_its_message() {
    let proxy = Proxy::in_front_of_nothing();
    let home = Home::new("", "");
    let calls = home.path().join("calls");
    let process = home.script(
        "vault-keys",
        &format!(
            "echo called >> '{}'\necho 'vault: session locked, unlock it first' >&2\nexit 3",
            calls.display()
        ),
    );
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile vault]\ncredential_process = {}\n",
            process.display()
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("creds.toml"), STACK).unwrap();

    let out = home.strata(dir, "vault", &proxy.url, &["plan", "creds.toml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("credentials: the credential_process of profile `vault` failed: ")
            && err.contains("vault: session locked, unlock it first"),
        "{err}"
    );
    // Not retried: the SDK's retry budget is for transient faults, not for this.
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "called\n");
    assert_eq!(proxy.stats()["total"], 0, "{}", proxy.stats());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_the_account_does_not_know_are_reported_as_invalid_credentials() {
    let ws = Workspace::strict();
    let (dir, endpoint) = (ws.dir(), &ws.emulator().endpoint);
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYNOTASECRET";
    let home = Home::new(
        "[profile stale]\nregion = us-east-1\n\n[profile root]\nregion = us-east-1\n",
        &format!(
            "[stale]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {secret}\n\n\
             [root]\naws_access_key_id = test\naws_secret_access_key = test\n"
        ),
    );
    ws.write("creds.toml", STACK);

    // The emulator is strict and healthy: the account root's keys plan.
    let out = home.strata(dir, "root", endpoint, &["plan", "creds.toml"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("2 to add"), "{}", stdout(&out));

    for command in [
        vec!["plan", "creds.toml"],
        vec!["apply", "creds.toml", "--auto-approve"],
    ] {
        let out = home.strata(dir, "stale", endpoint, &command);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(
                "credentials: the credentials of profile `stale` (access key id AKIAIOSFODNN7EXAMPLE) \
                 are not valid for this account and endpoint (InvalidClientTokenId: "
            ),
            "{command:?}: {err}"
        );
        assert!(!err.contains(secret), "the secret is shown: {err}");
        assert!(!err.contains("cannot reach"), "{err}");
    }
    // Nothing was created, and no state was written.
    let clients = ws.clients().await;
    let queues = clients.sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls().len(), 0);
    assert_eq!(state_files(dir), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_in_another_region_is_reported_with_its_region() {
    let ws = Workspace::new();
    let eu = crate::common::clients_at(&ws.emulator().endpoint, "eu-west-1").await;
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    eu.s3
        .create_bucket()
        .bucket("far-away-bucket")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();

    ws.write(
        "far.toml",
        "[stack]\nname = \"far\"\n\n[resources.bucket]\ntype = \"s3.bucket\"\nname = \"far-away-bucket\"\n",
    );
    let out = ws.run(&["import", "far.toml", "bucket", "far-away-bucket"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "PermanentRedirect: bucket far-away-bucket is in eu-west-1, not us-east-1 (the region in use)"
        ),
        "{err}"
    );
    assert!(!err.contains("without an error code"), "{err}");
    assert_eq!(state_files(ws.dir()), Vec::<PathBuf>::new());
    // The bucket is where it was, in eu-west-1.
    eu.s3
        .head_bucket()
        .bucket("far-away-bucket")
        .send()
        .await
        .expect("the bucket is still in eu-west-1");
}

/// An unsigned JWT naming `issuer`, as an OIDC provider (EKS, a CI system) writes it to the
/// file AWS_WEB_IDENTITY_TOKEN_FILE names. The emulator reads its claims without checking a
/// signature; AWS checks it against the OIDC provider's keys.
fn web_identity_token(issuer: &str) -> String {
    use base64::Engine;
    let part = |json: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    };
    format!(
        "{}.{}.",
        part(serde_json::json!({ "alg": "none" })),
        part(serde_json::json!({ "iss": issuer, "sub": "ci", "aud": "sts.amazonaws.com" }))
    )
}

/// Credentials from web identity: no keys anywhere, a token file and a role to assume with
/// it (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN). On the emulator with IAM enforced, the
/// role's trust policy decides who may assume it and its policy what the run may do. The
/// STS call the credential chain makes goes where AWS_ENDPOINT_URL says.
#[tokio::test(flavor = "multi_thread")]
async fn web_identity_credentials_deploy_and_an_untrusted_token_is_refused() {
    let ws = Workspace::strict();
    let root = ws.clients().await;
    let account = root.account_id().await.unwrap().to_string();
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/token.example.com") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": { "token.example.com:aud": "sts.amazonaws.com" } }
        }]
    });
    let role = root
        .iam
        .create_role()
        .role_name("ci-deployer")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    // Queues only: the stack below needs no more.
    let queues_only = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "sqs:*", "Resource": "*" }]
    });
    root.iam
        .put_role_policy()
        .role_name("ci-deployer")
        .policy_name("queues")
        .policy_document(queues_only.to_string())
        .send()
        .await
        .unwrap();

    let dir = ws.dir();
    ws.write(
        "queue.toml",
        "[stack]\nname = \"oidc\"\n\n[resources.jobs]\ntype = \"sqs.queue\"\nname = \"oidc-jobs\"\n",
    );
    let trusted = dir.join("trusted.jwt");
    std::fs::write(&trusted, web_identity_token("https://token.example.com")).unwrap();
    let untrusted = dir.join("untrusted.jwt");
    std::fs::write(
        &untrusted,
        web_identity_token("https://elsewhere.example.com"),
    )
    .unwrap();
    let with_token = |token: &Path, args: &[&str]| {
        ws.offline(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", token)
            .env("AWS_ROLE_ARN", &role)
            .env("AWS_ROLE_SESSION_NAME", "ci-run")
            .env("AWS_ENDPOINT_URL", &ws.emulator().endpoint)
            .output()
            .unwrap()
    };

    let out = with_token(&trusted, &["apply", "queue.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    let queues = root.sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls().len(), 1, "{queues:?}");
    assert!(queues.queue_urls()[0].ends_with("/oidc-jobs"));
    assert_eq!(state_of(dir)["placement"]["account_id"], account.as_str());
    assert_exit(
        &with_token(&trusted, &["plan", "queue.toml", "--detailed-exitcode"]),
        0,
    );

    // A token from an issuer the role does not trust: a credentials error, nothing done.
    let out = with_token(&untrusted, &["destroy", "queue.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: GetCallerIdentity failed: credentials: the web identity credentials (role `{role}`, token file `{}`) could not be loaded: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity (request id ",
            untrusted.display()
        )),
        "{err}"
    );
    assert_eq!(
        root.sqs
            .list_queues()
            .send()
            .await
            .unwrap()
            .queue_urls()
            .len(),
        1
    );
}
