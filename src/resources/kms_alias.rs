//! `kms.alias`: a name (`alias/NAME`) for a KMS key; pointing it at another key is an
//! update in place.

use crate::schema::rules::KMS_KEY;
use crate::schema::{Identity, Schema, Text, Type, attr};

/// Alias names: `alias/` and 1-250 of letters, digits and `/_-`; `alias/aws/` is AWS's.
pub const ALIAS_NAME: Text = Text::len(7, 256)
    .pattern(
        r"^alias/[a-zA-Z0-9/_-]+$",
        "`alias/` followed by letters, digits, `/`, `_` and `-`",
    )
    .check(check_alias_name);

fn check_alias_name(name: &str) -> Result<(), String> {
    if name.starts_with("alias/aws/") {
        return Err("`alias/aws/` is reserved for AWS managed keys".into());
    }
    Ok(())
}

pub const SCHEMA: Schema = Schema {
    type_name: "kms.alias",
    description: "a KMS key alias",
    import_id: "the alias name (`alias/NAME`) or its ARN",
    notes: "\
Pointing the alias at another key (`target_key_id`) is an update in place. Names starting
with `alias/aws/` are AWS's own.",
    attributes: &[
        attr("name", Type::String(ALIAS_NAME))
            .required()
            .force_new(),
        attr("target_key_id", Type::String(KMS_KEY)).required(),
    ],
    computed: &["arn"],
    examples: &[("arn", "arn:aws:kms:us-east-1:123456789012:alias/app")],
    identity: Identity::of(&["name"]),
    check: None,
};

use async_trait::async_trait;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, own_lost_create, req_str};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct KmsAlias;

impl KmsAlias {
    /// The id of the key alias `name` points at; `None` when there is no such alias.
    async fn target(&self, aws: &Clients, name: &str) -> Result<Option<String>, AwsError> {
        let mut marker = None;
        loop {
            let page = aws
                .kms
                .list_aliases()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(sdk("ListAliases"))?;
            if let Some(alias) = page.aliases().iter().find(|a| a.alias_name() == Some(name)) {
                return Ok(Some(alias.target_key_id().unwrap_or_default().to_string()));
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_string()),
                _ => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl Resource for KmsAlias {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let alias = arn::kms_alias(at, &name_or_any(desired, "name"));
        // Creating, moving and deleting an alias needs the right on the keys too: the one
        // it points at (a reference to a key created first is not known yet).
        let keys = match desired.get("target_key_id") {
            Some(Value::Str(key)) if key.starts_with("arn:") && key.contains(":key/") => {
                key.clone()
            }
            _ => arn::kms_key(at, "*"),
        };
        let on_both = [alias.clone(), keys];
        vec![
            allow(Step::Read, &["kms:ListAliases"], &["*".to_string()]),
            allow(
                Step::Write,
                &["kms:CreateAlias", "kms:UpdateAlias", "kms:ListAliases"],
                &on_both,
            ),
            allow(Step::Delete, &["kms:DeleteAlias"], &on_both),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(arn::kms_alias(at, name)),
            _ => Value::Unknown,
        }
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let name = match arn::parse(given) {
            Some(parsed) if parsed.service == "kms" => parsed.resource,
            _ => given,
        };
        Ok(self.target(aws, name).await?.map(|_| name.to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let name = req_str(desired, "name")?;
        Ok(self.target(aws, name).await?.map(|_| name.to_string()))
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(target) = self.target(aws, id).await? else {
            return Ok(None);
        };
        // ListAliases names the key by its id; a stack may name it by its ARN (a key's
        // `arn`): the same key reads back in the stack's form.
        let target = match prior.get("target_key_id").and_then(Value::as_str) {
            Some(named) if named.ends_with(&format!("key/{target}")) => named.to_string(),
            _ => target,
        };
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(id.to_string()));
        attrs.insert("target_key_id".into(), Value::Str(target));
        let identity = aws.identity().await?;
        let at = Place {
            partition: identity.partition.clone(),
            region: aws.region.clone(),
            account: identity.account_id.clone(),
        };
        attrs.insert("arn".into(), Value::Str(arn::kms_alias(&at, id)));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // CreateAlias refuses an existing alias, and so it does the SDK's retry of our own
        // create whose reply was lost: existence is asked first, so that an "already
        // exists" after "no such alias" is our own.
        if self.target(aws, name).await?.is_some() {
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in {}", aws.region),
                name,
            ));
        }
        let made = aws
            .kms
            .create_alias()
            .alias_name(name)
            .target_key_id(req_str(desired, "target_key_id")?)
            .send()
            .await
            .map_err(sdk("CreateAlias"));
        match made {
            Ok(_) => {}
            Err(e) if e.code_is(&["AlreadyExistsException"]) => {
                own_lost_create("CreateAlias", &format!("alias `{name}`"), || {
                    self.target(aws, name)
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
        created(name);
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        if changed(&SCHEMA, "target_key_id", desired, live) {
            aws.kms
                .update_alias()
                .alias_name(id)
                .target_key_id(req_str(desired, "target_key_id")?)
                .send()
                .await
                .map_err(sdk("UpdateAlias"))?;
        }
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.kms
            .delete_alias()
            .alias_name(id)
            .send()
            .await
            .map_err(sdk("DeleteAlias"))
            .ok_if_gone()
    }
}
