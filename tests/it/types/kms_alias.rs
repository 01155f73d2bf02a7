//! `kms.alias` on the emulator: an alias of a key made in the same stack, moved to another
//! key in place, renamed by replacement, imported, refused when someone else's, destroyed.

use super::{assert_policy_names, assert_refused, plan, planned, strata_ok};
use crate::common::{Workspace, assert_exit, read_state, stderr};

fn stack(alias: &str, target: &str) -> String {
    format!(
        r#"
[stack]
name = "aliases"

[resources.blue]
type = "kms.key"
description = "blue"
deletion_window_in_days = 7

[resources.green]
type = "kms.key"
description = "green"
deletion_window_in_days = 7

[resources.alias]
type = "kms.alias"
name = "{alias}"
target_key_id = "${{{target}.arn}}"
"#
    )
}

async fn target_of(clients: &strata::aws::Clients, alias: &str) -> Option<String> {
    let aliases = clients.kms.list_aliases().send().await.unwrap();
    aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(alias))
        .and_then(|a| a.target_key_id().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_follows_its_key() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let file = "aliases.toml";
    std::fs::write(dir.join(file), stack("alias/app", "blue")).unwrap();
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    let state = read_state(dir, "aliases", "default");
    let blue = state["resources"]["blue"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let green = state["resources"]["green"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(state["resources"]["alias"]["id"], "alias/app");
    assert_eq!(target_of(&clients, "alias/app").await, Some(blue.clone()));
    assert_eq!(planned(&plan(&ws, file, &[]), "alias").0, "no_op");

    // Another key: an update in place.
    std::fs::write(dir.join(file), stack("alias/app", "green")).unwrap();
    assert_eq!(
        planned(&plan(&ws, file, &[]), "alias"),
        (
            "update".to_string(),
            vec![("target_key_id".to_string(), false)]
        )
    );
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    assert_eq!(target_of(&clients, "alias/app").await, Some(green.clone()));

    // Drift: the alias moved back outside strata.
    clients
        .kms
        .update_alias()
        .alias_name("alias/app")
        .target_key_id(&blue)
        .send()
        .await
        .unwrap();
    assert_eq!(planned(&plan(&ws, file, &[]), "alias").0, "update");
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    assert_eq!(target_of(&clients, "alias/app").await, Some(green.clone()));

    // Import by ARN after forgetting it: an empty plan.
    strata_ok(&ws, &["state", "rm", file, "alias", "--auto-approve"], 0);
    strata_ok(
        &ws,
        &[
            "import",
            file,
            "alias",
            "arn:aws:kms:us-east-1:000000000000:alias/app",
        ],
        0,
    );
    assert_eq!(planned(&plan(&ws, file, &[]), "alias").0, "no_op");

    // A new name: a replacement.
    std::fs::write(dir.join(file), stack("alias/app-2", "green")).unwrap();
    let (action, changes) = planned(&plan(&ws, file, &[]), "alias");
    assert_eq!(action, "replace");
    assert!(changes.contains(&("name".to_string(), true)), "{changes:?}");
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    assert_eq!(target_of(&clients, "alias/app").await, None);
    assert_eq!(
        target_of(&clients, "alias/app-2").await,
        Some(green.clone())
    );

    assert_policy_names(
        &ws,
        file,
        &[],
        &[
            "kms:CreateAlias",
            "kms:UpdateAlias",
            "kms:DeleteAlias",
            "kms:ListAliases",
            "arn:aws:kms:us-east-1:000000000000:alias/app-2",
        ],
    );

    strata_ok(&ws, &["destroy", file, "--auto-approve"], 0);
    assert_eq!(target_of(&clients, "alias/app-2").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_alias_is_refused() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let theirs = clients.kms.create_key().send().await.unwrap();
    let theirs = theirs.key_metadata.unwrap().key_id().to_string();
    clients
        .kms
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&theirs)
        .send()
        .await
        .unwrap();
    std::fs::write(dir.join("aliases.toml"), stack("alias/app", "blue")).unwrap();
    let out = ws.run(&["apply", "aliases.toml", "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("kms.alias `alias/app` already exists (in us-east-1)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(target_of(&clients, "alias/app").await, Some(theirs));
}

#[test]
fn bad_aliases_are_refused_by_validate() {
    for (body, expected) in [
        (
            "name = \"alias/aws/s3\"\ntarget_key_id = \"alias/x\"\n",
            "`alias/aws/` is reserved",
        ),
        (
            "name = \"my-app-key\"\ntarget_key_id = \"alias/x\"\n",
            "`alias/` followed by letters",
        ),
        (
            "name = \"alias/a\"\n",
            "missing required attribute `target_key_id`",
        ),
    ] {
        assert_refused("kms.alias", body, expected);
    }
}
