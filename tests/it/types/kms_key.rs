//! `kms.key` on the emulator: a key with rotation, policy and tags; changes in place, a
//! replacement for its spec, drift, import, and a destroy that schedules the deletion and
//! says when.

use super::{assert_policy_names, assert_refused, plan, planned, strata_ok};
use crate::common::{Workspace, read_state, stdout};

const SYMMETRIC: &str =
    "key_spec = \"SYMMETRIC_DEFAULT\"\nenable_key_rotation = true\nrotation_period_in_days = 180";
const HMAC: &str = "key_spec = \"HMAC_256\"\nkey_usage = \"GENERATE_VERIFY_MAC\"";

fn stack(description: &str, key: &str) -> String {
    format!(
        r#"
[stack]
name = "keys"

[resources.key]
type = "kms.key"
description = "{description}"
{key}
deletion_window_in_days = 7
tags = {{ team = "sec" }}
policy = {{ Version = "2012-10-17", Statement = [
  {{ Sid = "Root", Effect = "Allow", Principal = {{ AWS = "arn:aws:iam::000000000000:root" }}, Action = "kms:*", Resource = "*" }},
] }}
"#
    )
}

async fn key_state(clients: &strata::aws::Clients, id: &str) -> Option<String> {
    let described = clients.kms.describe_key().key_id(id).send().await.ok()?;
    described
        .key_metadata
        .and_then(|m| m.key_state().map(|s| s.as_str().to_string()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_lives_its_life_and_its_deletion_is_scheduled() {
    let ws = Workspace::new();
    let clients = ws.clients().await;
    let dir = ws.dir();
    let file = "keys.toml";
    std::fs::write(dir.join(file), stack("app key", SYMMETRIC)).unwrap();

    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    let state = read_state(dir, "keys", "default");
    let id = state["resources"]["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        state["resources"]["key"]["attributes"]["key_id"],
        id.as_str()
    );

    // Read back: description, spec, rotation, policy, tags (and the create token).
    let meta = clients
        .kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.description(), Some("app key"));
    assert_eq!(
        meta.key_spec().map(|s| s.as_str()),
        Some("SYMMETRIC_DEFAULT")
    );
    assert!(meta.enabled());
    let rotation = clients
        .kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(180));
    let policy = clients
        .kms
        .get_key_policy()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Sid"], "Root");
    let tags = clients
        .kms
        .list_resource_tags()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| t.tag_key().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["strata:create-token", "team"]);
    assert_eq!(planned(&plan(&ws, file, &[]), "key").0, "no_op");

    // In place: the description; drift: a key disabled outside strata.
    std::fs::write(dir.join(file), stack("the app key", SYMMETRIC)).unwrap();
    clients.kms.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        planned(&plan(&ws, file, &[]), "key"),
        (
            "update".to_string(),
            vec![
                ("description".to_string(), false),
                ("enabled".to_string(), false)
            ]
        )
    );
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    assert_eq!(key_state(&clients, &id).await.as_deref(), Some("Enabled"));
    assert_eq!(
        read_state(dir, "keys", "default")["resources"]["key"]["id"],
        id.as_str()
    );

    // Import after losing the state: an empty plan.
    std::fs::remove_file(dir.join(".strata/keys-default.state.json")).unwrap();
    let arn = meta.arn().unwrap().to_string();
    strata_ok(&ws, &["import", file, "key", &arn], 0);
    assert_eq!(
        read_state(dir, "keys", "default")["resources"]["key"]["id"],
        id.as_str()
    );
    let imported = plan(&ws, file, &[]);
    assert_eq!(planned(&imported, "key").0, "no_op", "{imported}");

    assert_policy_names(
        &ws,
        file,
        &[],
        &[
            "kms:CreateKey",
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:PutKeyPolicy",
            "kms:EnableKeyRotation",
            "kms:ListResourceTags",
            "kms:ListKeys",
            "kms:ScheduleKeyDeletion",
        ],
    );

    // Replace: the spec. The old key's deletion is scheduled, as the plan says.
    std::fs::write(dir.join(file), stack("the app key", HMAC)).unwrap();
    let out = strata_ok(&ws, &["plan", file], 0);
    assert!(
        stdout(&out)
            .contains("the object is scheduled for deletion after a 7-day waiting period (on "),
        "{}",
        stdout(&out)
    );
    let (action, changes) = planned(&plan(&ws, file, &[]), "key");
    assert_eq!(action, "replace");
    assert!(
        changes.contains(&("key_spec".to_string(), true)),
        "{changes:?}"
    );
    strata_ok(&ws, &["apply", file, "--auto-approve"], 0);
    assert_eq!(
        key_state(&clients, &id).await.as_deref(),
        Some("PendingDeletion")
    );
    let new_id = read_state(dir, "keys", "default")["resources"]["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, id);

    // Destroy: scheduled too.
    let out = strata_ok(&ws, &["destroy", file, "--auto-approve"], 0);
    assert!(
        stdout(&out).contains("scheduled for deletion"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        key_state(&clients, &new_id).await.as_deref(),
        Some("PendingDeletion")
    );
}

/// Bad input fails in `validate` with where it is, before any AWS call.
#[test]
fn bad_keys_are_refused_by_validate() {
    for (body, expected) in [
        (
            "key_spec = \"RSA_2048\"\nkey_usage = \"SIGN_VERIFY\"\nenable_key_rotation = true\n",
            "only symmetric encryption keys rotate automatically",
        ),
        (
            "deletion_window_in_days = 3\n",
            "3 is out of range: expected 7 to 30",
        ),
        (
            "rotation_period_in_days = 90\n",
            "`rotation_period_in_days` is set but rotation is not enabled",
        ),
        ("key_spec = \"AES\"\n", "key_spec"),
        ("nonsense = 1\n", "nonsense"),
    ] {
        assert_refused("kms.key", body, expected);
    }
}
