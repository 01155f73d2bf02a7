//! `ssm.parameter` on the emulator: a SecureString whose value comes from a sensitive
//! variable is written to SSM and nowhere else (no output, log, plan or state holds it),
//! drift made with the SDK shows, import reproduces an empty plan, an existing name is
//! refused, destroy deletes it.

use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging};

use super::{all_output, apply_keeping_secret, assert_policy_names, plan, planned, strata_ok};
use crate::common::{Workspace, read_state, stderr};

const SECRET: &str = "pw-7Hq2-unmistakable-9Zx";
const SECRET_2: &str = "pw-second-4Kd8-unmistakable";

fn stack(description: &str, name: &str) -> String {
    format!(
        r#"
[stack]
name = "params"

[variables.db_password]
sensitive = true

[resources.password]
type = "ssm.parameter"
name = "{name}"
parameter_type = "SecureString"
value = "${{var.db_password}}"
description = "{description}"
tags = {{ team = "data" }}

[resources.plain]
type = "ssm.parameter"
name = "/app/plain"
parameter_type = "String"
value = "hello"
"#
    )
}

async fn value_of(clients: &strata::aws::Clients, name: &str) -> Option<String> {
    clients
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter)
        .and_then(|p| p.value)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_string_lives_in_ssm_and_nowhere_else() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let file = "params.toml";
    std::fs::write(dir.join(file), stack("db password", "/app/db/password")).unwrap();
    let var = format!("db_password={SECRET}");
    let vars = ["--var", var.as_str()];

    // Apply: the plan, the progress and the debug log never show the value.
    let (human_plan, state) = apply_keeping_secret(&ws, file, &var, SECRET, "PutParameter");
    assert!(
        human_plan.contains("value") && human_plan.contains("(sensitive value)"),
        "{human_plan}"
    );

    // Read back with the SDK: every attribute.
    assert_eq!(
        value_of(&clients, "/app/db/password").await.as_deref(),
        Some(SECRET)
    );
    let p = clients
        .ssm
        .get_parameter()
        .name("/app/db/password")
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(p.r#type(), Some(&ParameterType::SecureString));
    let tags = clients
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/app/db/password")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags
        .tag_list()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("team", "data")]);
    assert_eq!(
        value_of(&clients, "/app/plain").await.as_deref(),
        Some("hello")
    );
    let recorded = &state["resources"]["password"]["attributes"];
    assert_eq!(recorded["description"], "db password");
    assert_eq!(recorded["version"], 1);
    assert!(recorded["value"]["sha256"].is_string(), "{recorded}");
    assert!(recorded["value"]["salt"].is_string(), "{recorded}");
    assert_eq!(state["resources"]["password"]["id"], "/app/db/password");
    assert_eq!(planned(&plan(&ws, file, &vars), "password").0, "no_op");

    // A new value: an update in place, shown as sensitive, never in clear.
    let var_2 = format!("db_password={SECRET_2}");
    let changed = plan(&ws, file, &["--var", &var_2]);
    assert_eq!(
        planned(&changed, "password"),
        ("update".to_string(), vec![("value".to_string(), false)])
    );
    assert!(!changed.to_string().contains(SECRET_2));
    let out = strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    assert!(!all_output(&out).contains(SECRET_2));
    assert_eq!(
        value_of(&clients, "/app/db/password").await.as_deref(),
        Some(SECRET_2)
    );
    let vars_2 = ["--var", var_2.as_str()];
    assert_eq!(planned(&plan(&ws, file, &vars_2), "password").0, "no_op");

    // Drift: a value put outside strata makes a new version; the plan puts ours back.
    clients
        .ssm
        .put_parameter()
        .name("/app/db/password")
        .value("changed-outside")
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    clients
        .ssm
        .put_parameter()
        .name("/app/plain")
        .value("drifted")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let drift = plan(&ws, file, &vars_2);
    assert_eq!(
        planned(&drift, "password"),
        ("update".to_string(), vec![("value".to_string(), false)])
    );
    assert_eq!(
        planned(&drift, "plain"),
        ("update".to_string(), vec![("value".to_string(), false)])
    );
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    assert_eq!(
        value_of(&clients, "/app/db/password").await.as_deref(),
        Some(SECRET_2)
    );
    assert_eq!(
        value_of(&clients, "/app/plain").await.as_deref(),
        Some("hello")
    );

    // In place: the description. Replace: the name.
    std::fs::write(dir.join(file), stack("the db password", "/app/db/password")).unwrap();
    assert_eq!(
        planned(&plan(&ws, file, &vars_2), "password"),
        (
            "update".to_string(),
            vec![("description".to_string(), false)]
        )
    );
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    std::fs::write(dir.join(file), stack("the db password", "/app/db/pw")).unwrap();
    let replace = plan(&ws, file, &vars_2);
    let (action, changes) = planned(&replace, "password");
    assert_eq!(action, "replace");
    assert!(changes.contains(&("name".to_string(), true)), "{changes:?}");
    strata_ok(&ws, &["apply", file, "--auto-approve", "--var", &var_2], 0);
    assert_eq!(value_of(&clients, "/app/db/password").await, None);
    assert_eq!(
        value_of(&clients, "/app/db/pw").await.as_deref(),
        Some(SECRET_2)
    );

    // Import after losing the state: an empty plan, and still no value in the state.
    std::fs::remove_file(dir.join(".strata/params-default.state.json")).unwrap();
    for (resource, id) in [
        (
            "password",
            "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/pw",
        ),
        ("plain", "/app/plain"),
    ] {
        strata_ok(&ws, &["import", file, resource, id, "--var", &var_2], 0);
    }
    let after_import = plan(&ws, file, &vars_2);
    assert_eq!(
        planned(&after_import, "password").0,
        "no_op",
        "{after_import}"
    );
    assert_eq!(planned(&after_import, "plain").0, "no_op", "{after_import}");
    let state_text =
        std::fs::read_to_string(dir.join(".strata/params-default.state.json")).unwrap();
    assert!(!state_text.contains(SECRET_2));

    // The policy names what each step calls.
    assert_policy_names(
        &ws,
        file,
        &vars_2,
        &[
            "ssm:PutParameter",
            "ssm:GetParameter",
            "ssm:DescribeParameters",
            "ssm:AddTagsToResource",
            "ssm:RemoveTagsFromResource",
            "ssm:ListTagsForResource",
            "ssm:DeleteParameter",
            "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/pw",
        ],
    );

    // Destroy leaves nothing.
    strata_ok(
        &ws,
        &["destroy", file, "--auto-approve", "--var", &var_2],
        0,
    );
    assert_eq!(value_of(&clients, "/app/db/pw").await, None);
    assert_eq!(value_of(&clients, "/app/plain").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_parameter_is_refused_not_overwritten() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    std::fs::write(dir.join("params.toml"), stack("d", "/app/db/password")).unwrap();
    clients
        .ssm
        .put_parameter()
        .name("/app/db/password")
        .value("theirs")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let var = format!("db_password={SECRET}");
    let out = ws.run(&["apply", "params.toml", "--auto-approve", "--var", &var]);
    crate::common::assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "ssm.parameter `/app/db/password` already exists (in us-east-1) and is not in this stack's state"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!all_output(&out).contains(SECRET));
    assert_eq!(
        value_of(&clients, "/app/db/password").await.as_deref(),
        Some("theirs")
    );
    let state = read_state(dir, "params", "default");
    assert!(state["resources"].get("password").is_none(), "{state}");
}

#[test]
fn bad_parameters_are_refused_by_validate() {
    let ok = "parameter_type = \"SecureString\"\nvalue = \"${var.secret}\"\n";
    for (body, expected) in [
        (
            format!("name = \"app/db\"\n{ok}"),
            "must be fully qualified: begin it with `/`",
        ),
        (format!("name = \"/aws/x\"\n{ok}"), "are reserved"),
        (
            format!("name = \"/a b\"\n{ok}"),
            "letters, digits, `_`, `.`, `-` and `/`",
        ),
        (
            "name = \"/p\"\nparameter_type = \"String\"\nvalue = \"v\"\nkey_id = \"alias/k\"\n"
                .to_string(),
            "`key_id` is set on a parameter that is not a SecureString",
        ),
        (
            format!(
                "name = \"/p\"\nparameter_type = \"String\"\nvalue = \"{}\"\n",
                "x".repeat(4097)
            ),
            "a Standard parameter holds at most 4096",
        ),
        (format!("name = \"/p\"\n{ok}tier = \"Premium\"\n"), "tier"),
    ] {
        super::assert_refused("ssm.parameter", &body, expected);
    }
}
