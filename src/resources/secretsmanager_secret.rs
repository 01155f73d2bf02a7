//! `secretsmanager.secret`: a Secrets Manager secret with a string value, its description,
//! key and tags. The value is sensitive: state records its seal
//! ([`crate::schema::sealed`]) with the id of the version it was written as, so that a
//! plan tells a changed value (or a value put outside strata, which makes a new version)
//! without state ever holding it. Destroy schedules the deletion after a recovery window
//! unless the stack asks for it at once.

use crate::schema::rules::{KMS_KEY, TAGS};
use crate::schema::{Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// Secret names: 1-512 of letters, digits and `/_+=.@-`.
pub const SECRET_NAME: Text = Text::len(1, 512).pattern(
    r"^[a-zA-Z0-9/_+=.@-]+$",
    "letters, digits and `/`, `_`, `+`, `=`, `.`, `@`, `-`",
);

pub const SCHEMA: Schema = Schema {
    type_name: "secretsmanager.secret",
    description: "a Secrets Manager secret",
    import_id: "the secret's ARN or name",
    notes: "\
The value (`secret_string`) is sensitive: plans show neither the old nor the new value, and
state keeps only a salted hash of it with the id of the version it was written as. Give it
from a `sensitive` variable. Destroy schedules the deletion after the recovery window
(`recovery_window_in_days`, 7 to 30 days; the plan says when) unless
`force_delete_without_recovery` is set; while it is scheduled, the name cannot be used
again. The ARN ends in six random characters that AWS chooses.",
    attributes: &[
        attr("name", Type::String(SECRET_NAME))
            .required()
            .force_new(),
        attr("description", Type::String(Text::len(0, 2048))),
        attr("kms_key_id", Type::String(KMS_KEY)),
        attr("secret_string", Type::String(Text::len(1, 65536)))
            .required()
            .sensitive(),
        // What destroy does, strata's own settings: Secrets Manager hears of them only then.
        attr("recovery_window_in_days", Type::Int { min: 7, max: 30 })
            .default(Default::Int(30))
            .local(),
        attr("force_delete_without_recovery", Type::Bool)
            .default(Default::Bool(false))
            .local(),
        attr("tags", TAGS),
    ],
    computed: &["arn", "version_id"],
    examples: &[
        (
            "arn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbC123",
        ),
        ("version_id", "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE"),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_secret),
};

fn check_secret(attrs: &Attrs) -> Vec<Problem> {
    let force = attrs.get("force_delete_without_recovery") == Some(&Value::Bool(true));
    let window = attrs.get("recovery_window_in_days");
    if force && window.is_some_and(|w| *w != Value::Int(30)) {
        return vec![
            Problem::new(
                Path::attr("recovery_window_in_days"),
                "a secret is deleted at once or after a recovery window, not both",
                "`force_delete_without_recovery = true` is set too",
            )
            .help("remove one of the two"),
        ];
    }
    Vec::new()
}

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use sha2::{Digest, Sha256};

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, day, day_in, not_ours, opt_bool, opt_i64, opt_str, req_str, sealed_live,
    sync_tags, tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SecretsmanagerSecret;

/// The ClientRequestToken of the create of secret `name`: the same for every attempt, so
/// that Secrets Manager takes a retry whose first attempt was carried out for that one and
/// strata can tell its own secret from someone else's by its first version's id. Derived
/// from the name only: never from the value, which a version id would then give away.
pub fn create_token(name: &str) -> String {
    let digest = Sha256::digest(format!("strata create-token secretsmanager.secret {name}"));
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What destroy does with a secret recorded with `prior`, in words.
pub fn deletion(prior: &Attrs) -> String {
    if opt_bool(prior, "force_delete_without_recovery") == Some(true) {
        return "deleted at once, without recovery (force_delete_without_recovery)".into();
    }
    let days = opt_i64(prior, "recovery_window_in_days").unwrap_or(30);
    let on = day_in(days);
    format!(
        "scheduled for deletion after a {days}-day recovery window (on {on}); its name stays taken until then (`aws secretsmanager restore-secret` brings it back)"
    )
}

struct Found {
    arn: String,
    deleted: Option<String>,
    versions: Vec<String>,
}

impl SecretsmanagerSecret {
    async fn describe(&self, aws: &Clients, id: &str) -> Result<Option<Found>, AwsError> {
        let out = aws
            .secretsmanager
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(sdk("DescribeSecret"))
            .or_gone()?;
        Ok(out.map(|out| Found {
            arn: out.arn().unwrap_or(id).to_string(),
            deleted: out.deleted_date().map(day),
            versions: out
                .version_ids_to_stages()
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default(),
        }))
    }

    fn scheduled(name: &str, on: &str) -> AwsError {
        AwsError::new(
            "CreateSecret",
            format!(
                "secret `{name}` is scheduled for deletion (on {on}) and its name cannot be used until then: restore it (`aws secretsmanager restore-secret --secret-id {name}`) and `strata import` it, or give this secret another name"
            ),
        )
    }
}

#[async_trait]
impl Resource for SecretsmanagerSecret {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let name = name_or_any(desired, "name");
        let on_secret = [arn::secret_pattern(at, &name)];
        let by_name = [arn::secret_by_name(at, &name)];
        let mut out = vec![
            allow(
                Step::Read,
                &[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                ],
                &on_secret,
            ),
            allow(
                Step::Write,
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:UntagResource",
                ],
                &on_secret,
            ),
            allow(Step::Delete, &["secretsmanager:DeleteSecret"], &on_secret),
            // The lookup by name before a create (and after a lost reply) and the create
            // itself name a secret that does not exist yet: IAM has no stored ARN to match.
            allow(Step::Read, &["secretsmanager:DescribeSecret"], &by_name),
            allow(
                Step::Write,
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DescribeSecret",
                ],
                &by_name,
            ),
        ];
        if let Some(key) = desired.get("kms_key_id") {
            let key = match key {
                Value::Str(k) if k.starts_with("arn:") => k.clone(),
                _ => arn::kms_key(at, "*"),
            };
            out.push(allow(
                Step::Read,
                &["kms:Decrypt"],
                std::slice::from_ref(&key),
            ));
            out.push(allow(
                Step::Write,
                &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                &[key],
            ));
        }
        out
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .describe(aws, given)
            .await?
            .filter(|f| f.deleted.is_none())
            .map(|f| f.arn))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        // `...:secret:NAME-XXXXXX`: the name is what comes before the random suffix.
        let name = arn::parse(id)
            .and_then(|a| a.resource.strip_prefix("secret:"))
            .map(|rest| rest.rsplit_once('-').map_or(rest, |(name, _)| name))
            .unwrap_or(id);
        Attrs::from([
            ("name".to_string(), Value::Str(name.to_string())),
            ("arn".to_string(), Value::Str(id.to_string())),
        ])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let name = req_str(desired, "name")?;
        Ok(self
            .describe(aws, name)
            .await?
            .filter(|f| f.deleted.is_none())
            .map(|f| f.arn))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let described = aws
            .secretsmanager
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(sdk("DescribeSecret"))
            .or_gone()?;
        // A secret scheduled for deletion is gone for the stack (it cannot be read or
        // changed); its name stays taken, which a create says.
        let Some(out) = described.filter(|d| d.deleted_date().is_none()) else {
            return Ok(None);
        };
        let current = out.version_ids_to_stages().and_then(|versions| {
            versions
                .iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(id, _)| id.clone())
        });
        let text = |v: Option<&str>| Value::Str(v.unwrap_or_default().to_string());
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), text(out.name()));
        attrs.insert("description".into(), text(out.description()));
        if let Some(key) = out.kms_key_id() {
            attrs.insert("kms_key_id".into(), Value::Str(key.to_string()));
        }
        if let Some(version) = &current {
            let version = Value::Str(version.clone());
            let value = sealed_live(prior, "secret_string", "version_id", &version, || async {
                let got = aws
                    .secretsmanager
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(sdk("GetSecretValue"))
                    .or_gone()?;
                Ok(got.and_then(|g| g.secret_string))
            })
            .await?;
            if let Some(value) = value {
                attrs.insert("secret_string".into(), value);
            }
            attrs.insert("version_id".into(), version);
        }
        attrs.insert(
            "tags".into(),
            tags_value(
                out.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
            ),
        );
        attrs.insert("arn".into(), text(out.arn()));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        let token = create_token(name);
        let refuse = |found: Found| match found.deleted {
            Some(on) => Self::scheduled(name, &on),
            None => not_ours(&SCHEMA, &format!("`{name}`"), &found.arn, &found.arn),
        };
        if let Some(found) = self.describe(aws, name).await? {
            return Err(refuse(found));
        }
        let tag_list: Vec<Tag> = tags(desired)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let made = aws
            .secretsmanager
            .create_secret()
            .name(name)
            .client_request_token(&token)
            .set_description(opt_str(desired, "description").map(str::to_string))
            .set_kms_key_id(opt_str(desired, "kms_key_id").map(str::to_string))
            .secret_string(req_str(desired, "secret_string")?)
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(sdk("CreateSecret"));
        let arn = match made {
            Ok(out) => out
                .arn()
                .map(str::to_string)
                .ok_or_else(|| AwsError::new("CreateSecret", "no secret ARN in the answer"))?,
            // Nothing had the name a moment ago: a secret whose first version carries this
            // create's token is our own, made by an attempt whose reply was lost.
            Err(e) if e.code_is(&["ResourceExistsException"]) => {
                match self.describe(aws, name).await? {
                    Some(found) if found.deleted.is_none() && found.versions.contains(&token) => {
                        found.arn
                    }
                    Some(found) => return Err(refuse(found)),
                    None => return Err(e),
                }
            }
            Err(e) if e.message_contains("scheduled for deletion") => {
                return Err(Self::scheduled(name, "a later date"));
            }
            Err(e) => return Err(e),
        };
        created(&arn);
        Ok(arn)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let description = changed(&SCHEMA, "description", desired, live);
        let key = changed(&SCHEMA, "kms_key_id", desired, live);
        let value = changed(&SCHEMA, "secret_string", desired, live);
        if description || key || value {
            let owned = |name: &str, send: bool| {
                send.then(|| opt_str(desired, name).map(str::to_string))
                    .flatten()
            };
            aws.secretsmanager
                .update_secret()
                .secret_id(id)
                .set_description(owned("description", description))
                .set_kms_key_id(owned("kms_key_id", key))
                .set_secret_string(owned("secret_string", value))
                .send()
                .await
                .map_err(sdk("UpdateSecret"))?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws
                    .secretsmanager
                    .untag_resource()
                    .secret_id(id)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |new| async move {
                let list = new
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                let request = aws
                    .secretsmanager
                    .tag_resource()
                    .secret_id(id)
                    .set_tags(Some(list));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError> {
        let force = opt_bool(prior, "force_delete_without_recovery") == Some(true);
        let deleted = aws
            .secretsmanager
            .delete_secret()
            .secret_id(id)
            .set_force_delete_without_recovery(force.then_some(true))
            .set_recovery_window_in_days(
                (!force).then(|| opt_i64(prior, "recovery_window_in_days").unwrap_or(30)),
            )
            .send()
            .await
            .map_err(sdk("DeleteSecret"));
        match deleted {
            Ok(out) => {
                if let Some(on) = out.deletion_date() {
                    tracing::info!(secret = id, deletion_date = %day(on), "secret scheduled for deletion");
                }
                Ok(())
            }
            // Already scheduled: as deleted as strata makes it.
            Err(e)
                if e.message_contains("marked for deletion")
                    || e.message_contains("scheduled for deletion") =>
            {
                Ok(())
            }
            Err(e) => Err::<(), _>(e).ok_if_gone(),
        }
    }

    fn deletion_note(&self, prior: &Attrs) -> Option<String> {
        Some(deletion(prior))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_token_is_stable_and_shaped_as_secrets_manager_wants() {
        let token = create_token("app/db");
        assert_eq!(token, create_token("app/db"));
        assert_ne!(token, create_token("app/db2"));
        assert_eq!(token.len(), 36);
        assert!((32..=64).contains(&token.len()));
    }

    #[test]
    fn the_name_is_read_out_of_an_arn_without_its_random_suffix() {
        let attrs = SecretsmanagerSecret.id_attributes(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-key-AbC123",
        );
        assert_eq!(attrs["name"], Value::Str("app/db-key".into()));
    }
}
