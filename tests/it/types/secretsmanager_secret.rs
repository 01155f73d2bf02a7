//! `secretsmanager.secret` on the emulator: the secret string, from a sensitive variable,
//! is in Secrets Manager and nowhere else; drift, import, no takeover of an existing name
//! (nor of one scheduled for deletion, which says so), and a destroy that says it schedules
//! the deletion and does.

use super::{all_output, apply_keeping_secret, assert_policy_names, plan, planned, strata_ok};
use crate::common::{Workspace, assert_exit, stderr, stdout};

const SECRET: &str = "sm-3Jk9-unmistakable-Qw7";
const SECRET_2: &str = "sm-second-8Rt1-unmistakable";

fn stack(description: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
[stack]
name = "secrets"

[variables.api_key]
sensitive = true

[resources.api]
type = "secretsmanager.secret"
name = "{name}"
description = "{description}"
secret_string = "${{var.api_key}}"
recovery_window_in_days = 7
tags = {{ team = "web" }}
{extra}
"#
    )
}

async fn secret_value(clients: &strata::aws::Clients, id: &str) -> Option<String> {
    clients
        .secretsmanager
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .ok()
        .and_then(|o| o.secret_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_lives_in_secrets_manager_and_nowhere_else() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let file = "secrets.toml";
    std::fs::write(dir.join(file), stack("api key", "app/api-key", "")).unwrap();
    let var = format!("api_key={SECRET}");
    let vars = ["--var", var.as_str()];
    let (_, state) = apply_keeping_secret(&ws, file, &var, SECRET, "CreateSecret");

    // Read back: the value, the description, the tags; the ARN as AWS made it.
    let arn = state["resources"]["api"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(arn.contains(":secret:app/api-key-"), "{arn}");
    assert_eq!(state["resources"]["api"]["attributes"]["arn"], arn.as_str());
    assert!(state["resources"]["api"]["attributes"]["secret_string"]["sha256"].is_string());
    assert_eq!(
        secret_value(&clients, "app/api-key").await.as_deref(),
        Some(SECRET)
    );
    let described = clients
        .secretsmanager
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.description(), Some("api key"));
    let tags: Vec<_> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags, [("team", "web")]);
    assert_eq!(planned(&plan(&ws, file, &vars), "api").0, "no_op");

    // A new value and a new description: in place, the value never shown.
    std::fs::write(dir.join(file), stack("the api key", "app/api-key", "")).unwrap();
    let var_2 = format!("api_key={SECRET_2}");
    let vars_2 = ["--var", var_2.as_str()];
    let changed = plan(&ws, file, &vars_2);
    assert_eq!(
        planned(&changed, "api"),
        (
            "update".to_string(),
            vec![
                ("description".to_string(), false),
                ("secret_string".to_string(), false)
            ]
        )
    );
    assert!(!changed.to_string().contains(SECRET_2));
    let out = strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    assert!(!all_output(&out).contains(SECRET_2));
    assert_eq!(
        secret_value(&clients, &arn).await.as_deref(),
        Some(SECRET_2)
    );
    assert_eq!(planned(&plan(&ws, file, &vars_2), "api").0, "no_op");

    // Drift: a value put outside strata is a new version.
    clients
        .secretsmanager
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("changed-outside")
        .send()
        .await
        .unwrap();
    assert_eq!(
        planned(&plan(&ws, file, &vars_2), "api"),
        (
            "update".to_string(),
            vec![("secret_string".to_string(), false)]
        )
    );
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    assert_eq!(
        secret_value(&clients, &arn).await.as_deref(),
        Some(SECRET_2)
    );

    // Import by name after losing the state: the ARN is recorded, the plan is empty.
    std::fs::remove_file(dir.join(".strata/secrets-default.state.json")).unwrap();
    strata_ok(
        &ws,
        &["import", file, "api", "app/api-key", "--var", &var_2],
        0,
    );
    let state = crate::common::read_state(dir, "secrets", "default");
    assert_eq!(state["resources"]["api"]["id"], arn.as_str());
    assert_eq!(planned(&plan(&ws, file, &vars_2), "api").0, "no_op");

    // Replace: the name. The old secret is scheduled for deletion, as the plan says.
    std::fs::write(dir.join(file), stack("the api key", "app/api-key-2", "")).unwrap();
    let out = strata_ok(&ws, &["plan", file, "--var", &var_2], 0);
    assert!(
        stdout(&out)
            .contains("the object is scheduled for deletion after a 7-day recovery window (on "),
        "{}",
        stdout(&out)
    );
    let (action, changes) = planned(&plan(&ws, file, &vars_2), "api");
    assert_eq!(action, "replace");
    assert!(changes.contains(&("name".to_string(), true)), "{changes:?}");
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    let old = clients
        .secretsmanager
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert!(old.deleted_date().is_some(), "{old:?}");
    assert_eq!(
        secret_value(&clients, "app/api-key-2").await.as_deref(),
        Some(SECRET_2)
    );

    // The old name is blocked while its secret waits: a create says so.
    std::fs::write(
        dir.join("again.toml"),
        stack("x", "app/api-key", "").replace("name = \"secrets\"", "name = \"again\""),
    )
    .unwrap();
    let out = ws.run(&["apply", "again.toml", "--auto-approve", "--var", &var_2]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("secret `app/api-key` is scheduled for deletion (on "),
        "{}",
        stderr(&out)
    );

    assert_policy_names(
        &ws,
        file,
        &vars_2,
        &[
            "secretsmanager:CreateSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:UpdateSecret",
            "secretsmanager:TagResource",
            "secretsmanager:UntagResource",
            "secretsmanager:DeleteSecret",
            "secret:app/api-key-2-??????",
        ],
    );

    // Destroy with force_delete_without_recovery: gone at once.
    std::fs::write(
        dir.join(file),
        stack(
            "the api key",
            "app/api-key-2",
            "force_delete_without_recovery = true",
        )
        .replace("recovery_window_in_days = 7\n", ""),
    )
    .unwrap();
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    let out = strata_ok(
        &ws,
        &["destroy", file, "--auto-approve", "--var", &var_2],
        0,
    );
    assert!(
        stdout(&out).contains("deleted at once, without recovery"),
        "{}",
        stdout(&out)
    );
    let gone = clients
        .secretsmanager
        .describe_secret()
        .secret_id("app/api-key-2")
        .send()
        .await;
    assert!(gone.is_err(), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_secret_is_refused() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("secrets.toml"), stack("d", "app/theirs", "")).unwrap();
    let theirs = clients
        .secretsmanager
        .create_secret()
        .name("app/theirs")
        .secret_string("their-value")
        .send()
        .await
        .unwrap();
    let var = format!("api_key={SECRET}");
    let out = ws.run(&["apply", "secrets.toml", "--auto-approve", "--var", &var]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "secretsmanager.secret `app/theirs` already exists ({})",
            theirs.arn().unwrap()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!all_output(&out).contains(SECRET));
    assert_eq!(
        secret_value(&clients, "app/theirs").await.as_deref(),
        Some("their-value")
    );
}

#[test]
fn bad_secrets_are_refused_by_validate() {
    let ok = "secret_string = \"${var.secret}\"\n";
    for (body, expected) in [
        (
            format!("name = \"a secret\"\n{ok}"),
            "letters, digits and `/`",
        ),
        (
            format!("name = \"s\"\n{ok}recovery_window_in_days = 3\n"),
            "3 is out of range: expected 7 to 30",
        ),
        (
            format!(
                "name = \"s\"\n{ok}recovery_window_in_days = 7\nforce_delete_without_recovery = true\n"
            ),
            "a secret is deleted at once or after a recovery window, not both",
        ),
        (
            "name = \"s\"\n".to_string(),
            "missing required attribute `secret_string`",
        ),
    ] {
        super::assert_refused("secretsmanager.secret", &body, expected);
    }
}
