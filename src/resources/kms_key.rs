//! `kms.key`: a customer managed KMS key, its key policy, rotation, state and tags. Keys
//! have no name and CreateKey is not idempotent, so a create tags its key with a token
//! chosen when the plan was made (`strata:create-token`), and a create whose reply was lost
//! is found by that tag instead of made twice. Destroy schedules the deletion: KMS deletes
//! a key only after a waiting period, and the plan says when.

use crate::schema::rules::TAGS;
use crate::schema::{
    Default, Identity, Path, PolicyRules, Problem, Schema, Size, Text, Type, attr,
};

/// A key policy, within KMS's quotas (32 KB).
pub const KEY_POLICY: PolicyRules = PolicyRules {
    kind: "a key policy",
    principal: true,
    resource: true,
    service: Some("kms"),
    sid: Text::ANY,
    max_size: Size::Bytes(32_768),
    max_statements: usize::MAX,
    max_actions: usize::MAX,
    max_principals: usize::MAX,
    max_conditions: usize::MAX,
};

const USAGES: &[&str] = &[
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];
const SPECS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
];

/// The tag a create puts on its key ([`Resource::prepare`] chooses its value).
pub const TOKEN_TAG: &str = "strata:create-token";
/// The desired attribute carrying the token from the plan to the create (not in the schema:
/// never compared, never shown).
const TOKEN: &str = "create_token";

pub const SCHEMA: Schema = Schema {
    type_name: "kms.key",
    description: "a KMS key",
    import_id: "the key id, its ARN, or an alias (`alias/NAME`) of it",
    notes: "\
Keys have no name and CreateKey is not idempotent: a create tags its key with a token chosen
when the plan was made (`strata:create-token`), so a create whose reply was lost is found
by that tag instead of made twice. Destroy schedules the deletion: KMS deletes a key only
after its waiting period (`deletion_window_in_days`), and the plan and destroy say when.",
    attributes: &[
        attr("description", Type::String(Text::len(0, 8192))),
        attr("key_usage", Type::Enum(USAGES))
            .force_new()
            .default(Default::Str("ENCRYPT_DECRYPT")),
        attr("key_spec", Type::Enum(SPECS))
            .force_new()
            .default(Default::Str("SYMMETRIC_DEFAULT")),
        attr("enable_key_rotation", Type::Bool).default(Default::Bool(false)),
        attr("rotation_period_in_days", Type::Int { min: 90, max: 2560 }),
        attr("policy", Type::Policy(&KEY_POLICY)),
        // What destroy does, strata's own setting: KMS hears of it only then.
        attr("deletion_window_in_days", Type::Int { min: 7, max: 30 })
            .default(Default::Int(30))
            .local(),
        attr("enabled", Type::Bool).default(Default::Bool(true)),
        attr("tags", TAGS),
    ],
    computed: &["arn", "key_id"],
    examples: &[
        (
            "arn",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("key_id", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    ],
    identity: Identity::NONE,
    check: Some(check_key),
};

/// KMS's rules across a key's attributes: only symmetric encryption keys rotate.
fn check_key(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let rotates = attrs.get("enable_key_rotation") == Some(&Value::Bool(true));
    let symmetric = |name: &str, default: &str| {
        known_str(attrs, name).is_none_or(|v| v == default)
            || attrs.get(name).is_some_and(|v| !v.is_known())
    };
    if rotates
        && !(symmetric("key_spec", "SYMMETRIC_DEFAULT")
            && symmetric("key_usage", "ENCRYPT_DECRYPT"))
    {
        out.push(
            Problem::new(
                Path::attr("enable_key_rotation"),
                "only symmetric encryption keys rotate automatically",
                "the key is not `SYMMETRIC_DEFAULT` / `ENCRYPT_DECRYPT`",
            )
            .help("remove `enable_key_rotation`, or make the key symmetric"),
        );
    }
    if attrs.contains_key("rotation_period_in_days") && !rotates {
        out.push(
            Problem::new(
                Path::attr("rotation_period_in_days"),
                "`rotation_period_in_days` is set but rotation is not enabled",
                "a period of a rotation that does not happen",
            )
            .help("add `enable_key_rotation = true`, or remove the period"),
        );
    }
    out
}

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, Tag};

use super::iam::{Permission, Place, Step, allow};
use super::support::{
    Gone, changed, day, day_in, json_of, opt_bool, opt_i64, opt_str, parse_json, sync_tags, tags,
    tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::retry::{Backoff, SDK_MAX_ATTEMPTS, wait_until};
use crate::aws::{AwsError, Clients, ErrorKind, sdk};
use crate::schema::rules::known_str;
use crate::value::{Attrs, Value};

pub struct KmsKey;

/// One look, no waiting.
const LOOK_ONCE: Backoff = Backoff {
    budget: Duration::ZERO,
    ..Backoff::BRIEF
};

/// Whether a call that failed may still have been carried out: no answer came (a reset, a
/// timeout) or a 5xx did. A throttling answer says the request was refused.
fn maybe_carried_out(e: &AwsError) -> bool {
    e.status.is_none_or(|status| status >= 500)
}

fn tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .map_err(|e| AwsError::new("TagResource", e.to_string()))
}

impl KmsKey {
    /// The key whose tags hold `token`, among the account's keys in this region.
    async fn with_token(&self, aws: &Clients, token: &str) -> Result<Option<String>, AwsError> {
        self.with_token_among_new(aws, token, &Mutex::default())
            .await
    }

    /// [`KmsKey::with_token`], reading the tags of only the keys not in `not_ours` (keys
    /// already found without the token), to which it adds those it reads: a key's tags
    /// are read once however often the listing is polled.
    async fn with_token_among_new(
        &self,
        aws: &Clients,
        token: &str,
        not_ours: &Mutex<HashSet<String>>,
    ) -> Result<Option<String>, AwsError> {
        let known = |id: &str| not_ours.lock().is_ok_and(|ids| ids.contains(id));
        let mut marker = None;
        loop {
            let page = aws
                .kms
                .list_keys()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(sdk("ListKeys"))?;
            for key in page.keys() {
                let Some(id) = key.key_id() else { continue };
                if known(id) {
                    continue;
                }
                let tagged = aws
                    .kms
                    .list_resource_tags()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(sdk("ListResourceTags"));
                // A key of another principal's that this caller may not read is not ours.
                let Ok(tagged) = tagged else { continue };
                if tagged
                    .tags()
                    .iter()
                    .any(|t| t.tag_key() == TOKEN_TAG && t.tag_value() == token)
                {
                    return Ok(Some(id.to_string()));
                }
                if let Ok(mut ids) = not_ours.lock() {
                    ids.insert(id.to_string());
                }
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_string()),
                _ => return Ok(None),
            }
        }
    }

    async fn set_rotation(&self, aws: &Clients, id: &str, desired: &Attrs) -> Result<(), AwsError> {
        if opt_bool(desired, "enable_key_rotation") == Some(true) {
            aws.kms
                .enable_key_rotation()
                .key_id(id)
                .set_rotation_period_in_days(
                    opt_i64(desired, "rotation_period_in_days").map(|d| d as i32),
                )
                .send()
                .await
                .map(drop)
                .map_err(sdk("EnableKeyRotation"))
        } else {
            aws.kms
                .disable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(sdk("DisableKeyRotation"))
        }
    }

    async fn set_enabled(&self, aws: &Clients, id: &str, enabled: bool) -> Result<(), AwsError> {
        if enabled {
            let sent = aws.kms.enable_key().key_id(id).send().await;
            sent.map(drop).map_err(sdk("EnableKey"))
        } else {
            let sent = aws.kms.disable_key().key_id(id).send().await;
            sent.map(drop).map_err(sdk("DisableKey"))
        }
    }
}

#[async_trait]
impl Resource for KmsKey {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The create token, chosen once when the plan is made: the apply sends the planned
    /// attributes, so a create and its retries (and the next run's adoption of a create
    /// that was interrupted, through the write-ahead record) share it.
    fn prepare(&self, desired: &mut Attrs) {
        if !desired.contains_key(TOKEN) {
            desired.insert(TOKEN.into(), Value::Str(uuid::Uuid::new_v4().to_string()));
        }
    }

    fn permissions(&self, _desired: &Attrs, at: &Place) -> Vec<Permission> {
        // A key's id is KMS's choice: no policy can name it before it exists.
        let on_keys = [arn::kms_key(at, "*")];
        let any = ["*".to_string()];
        vec![
            allow(
                Step::Read,
                &[
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:ListResourceTags",
                ],
                &on_keys,
            ),
            // Finding a key whose create reply was lost lists the account's keys.
            allow(Step::Read, &["kms:ListKeys"], &any),
            // CreateKey names no key; its tags are set with it.
            allow(Step::Write, &["kms:CreateKey", "kms:TagResource"], &any),
            allow(
                Step::Write,
                &[
                    "kms:DescribeKey",
                    "kms:UpdateKeyDescription",
                    "kms:PutKeyPolicy",
                    "kms:EnableKeyRotation",
                    "kms:DisableKeyRotation",
                    "kms:EnableKey",
                    "kms:DisableKey",
                    "kms:TagResource",
                    "kms:UntagResource",
                ],
                &on_keys,
            ),
            allow(
                Step::Delete,
                &["kms:ScheduleKeyDeletion", "kms:DescribeKey"],
                &on_keys,
            ),
        ]
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let described = aws
            .kms
            .describe_key()
            .key_id(given)
            .send()
            .await
            .map_err(sdk("DescribeKey"))
            .or_gone()?;
        Ok(described
            .and_then(|d| d.key_metadata)
            .map(|m| m.key_id().to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("key_id".to_string(), Value::Str(id.to_string()))])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        match opt_str(desired, TOKEN) {
            Some(token) => self.with_token(aws, token).await,
            None => Ok(None),
        }
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let described = aws
            .kms
            .describe_key()
            .key_id(id)
            .send()
            .await
            .map_err(sdk("DescribeKey"))
            .or_gone()?;
        let Some(meta) = described.and_then(|d| d.key_metadata) else {
            return Ok(None);
        };
        // A key waiting for its deletion is gone for the stack: it cannot be used.
        if meta.key_state() == Some(&KeyState::PendingDeletion) {
            return Ok(None);
        }
        // Only symmetric encryption keys rotate; KMS refuses the question for the others.
        let rotates = meta.key_spec() == Some(&KeySpec::SymmetricDefault)
            && meta.key_usage() == Some(&KeyUsageType::EncryptDecrypt);
        let (rotation, policy, tag_list) = tokio::join!(
            async {
                if !rotates {
                    return Ok(None);
                }
                let status = aws.kms.get_key_rotation_status().key_id(id).send().await;
                status.map(Some).map_err(sdk("GetKeyRotationStatus"))
            },
            aws.kms.get_key_policy().key_id(id).send(),
            aws.kms.list_resource_tags().key_id(id).send(),
        );
        let rotation = rotation?;
        let policy = policy.map_err(sdk("GetKeyPolicy"))?;
        let tag_list = tag_list.map_err(sdk("ListResourceTags"))?;
        let mut attrs = Attrs::new();
        attrs.insert(
            "description".into(),
            Value::Str(meta.description().unwrap_or_default().to_string()),
        );
        if let Some(usage) = meta.key_usage() {
            attrs.insert("key_usage".into(), Value::Str(usage.as_str().to_string()));
        }
        if let Some(spec) = meta.key_spec() {
            attrs.insert("key_spec".into(), Value::Str(spec.as_str().to_string()));
        }
        let enabled = rotation.as_ref().is_some_and(|r| r.key_rotation_enabled());
        attrs.insert("enable_key_rotation".into(), Value::Bool(enabled));
        if let Some(days) = rotation
            .as_ref()
            .filter(|_| enabled)
            .and_then(|r| r.rotation_period_in_days())
        {
            attrs.insert("rotation_period_in_days".into(), Value::Int(days.into()));
        }
        if let Some(policy) = policy.policy() {
            attrs.insert("policy".into(), parse_json(policy));
        }
        attrs.insert("enabled".into(), Value::Bool(meta.enabled()));
        attrs.insert(
            "tags".into(),
            tags_value(
                tag_list
                    .tags()
                    .iter()
                    .filter(|t| t.tag_key() != TOKEN_TAG)
                    .map(|t| (t.tag_key(), t.tag_value())),
            ),
        );
        attrs.insert("key_id".into(), Value::Str(meta.key_id().to_string()));
        if let Some(key_arn) = meta.arn() {
            attrs.insert("arn".into(), Value::Str(key_arn.to_string()));
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let token = opt_str(desired, TOKEN)
            .ok_or_else(|| AwsError::new("prepare", "the key's create token is missing"))?;
        let mut tag_list = vec![tag(TOKEN_TAG, token)?];
        for (k, v) in tags(desired) {
            tag_list.push(tag(&k, &v)?);
        }
        let policy = match desired.get("policy") {
            Some(_) => Some(json_of(desired, "policy")?),
            None => None,
        };
        // CreateKey is not idempotent: a retry after a reply that was lost makes a second
        // key. So the SDK does not retry it; strata looks for the key by its token before
        // sending it again. ListKeys is eventually consistent: after a failure that may have
        // made the key (no answer, or a 5xx), the key is looked for over a short window, so
        // that a key made a moment ago is found rather than made twice. A throttled
        // CreateKey was refused: one look suffices.
        let not_ours = Mutex::default();
        let create = || {
            aws.kms
                .create_key()
                .set_description(opt_str(desired, "description").map(str::to_string))
                .set_key_usage(opt_str(desired, "key_usage").map(KeyUsageType::from))
                .set_key_spec(opt_str(desired, "key_spec").map(KeySpec::from))
                .set_policy(policy.clone())
                .set_tags(Some(tag_list.clone()))
                .customize()
                .config_override(
                    aws_sdk_kms::config::Builder::default()
                        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled()),
                )
                .send()
        };
        let mut attempts = 0;
        let id = loop {
            attempts += 1;
            match create().await.map_err(sdk("CreateKey")) {
                Ok(out) => {
                    break out
                        .key_metadata()
                        .map(|m| m.key_id().to_string())
                        .ok_or_else(|| AwsError::new("CreateKey", "no key id in the answer"))?;
                }
                Err(e) if e.kind == ErrorKind::Transient && attempts < SDK_MAX_ATTEMPTS => {
                    let window = if maybe_carried_out(&e) {
                        Backoff::BRIEF
                    } else {
                        LOOK_ONCE
                    };
                    let found =
                        wait_until(window, || self.with_token_among_new(aws, token, &not_ours))
                            .await?;
                    if let Some(id) = found {
                        break id;
                    }
                    tokio::time::sleep(Duration::from_millis(100 << attempts.min(6))).await;
                }
                Err(e) => return Err(e),
            }
        };
        created(&id);
        if opt_bool(desired, "enable_key_rotation") == Some(true) {
            self.set_rotation(aws, &id, desired).await?;
        }
        if opt_bool(desired, "enabled") == Some(false) {
            self.set_enabled(aws, &id, false).await?;
        }
        Ok(id)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        if changed(&SCHEMA, "description", desired, live) {
            aws.kms
                .update_key_description()
                .key_id(id)
                .description(opt_str(desired, "description").unwrap_or_default())
                .send()
                .await
                .map_err(sdk("UpdateKeyDescription"))?;
        }
        if changed(&SCHEMA, "policy", desired, live) {
            aws.kms
                .put_key_policy()
                .key_id(id)
                .policy(json_of(desired, "policy")?)
                .send()
                .await
                .map_err(sdk("PutKeyPolicy"))?;
        }
        if changed(&SCHEMA, "enable_key_rotation", desired, live)
            || changed(&SCHEMA, "rotation_period_in_days", desired, live)
        {
            self.set_rotation(aws, id, desired).await?;
        }
        if changed(&SCHEMA, "enabled", desired, live) {
            self.set_enabled(aws, id, opt_bool(desired, "enabled") != Some(false))
                .await?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws.kms.untag_resource().key_id(id).set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |new| async move {
                let list = new
                    .iter()
                    .map(|(k, v)| tag(k, v))
                    .collect::<Result<Vec<_>, _>>()?;
                let request = aws.kms.tag_resource().key_id(id).set_tags(Some(list));
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, prior: &Attrs) -> Result<(), AwsError> {
        let scheduled = aws
            .kms
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(opt_i64(prior, "deletion_window_in_days").unwrap_or(30) as i32)
            .send()
            .await
            .map_err(sdk("ScheduleKeyDeletion"));
        match scheduled {
            Ok(out) => {
                if let Some(on) = out.deletion_date() {
                    tracing::info!(key = id, deletion_date = %day(on), "key scheduled for deletion");
                }
                Ok(())
            }
            // Already pending deletion: as deleted as strata makes it.
            Err(e)
                if e.code_is(&["KMSInvalidStateException"])
                    && e.message_contains("pending deletion") =>
            {
                Ok(())
            }
            Err(e) => Err::<(), _>(e).ok_if_gone(),
        }
    }

    fn deletion_note(&self, prior: &Attrs) -> Option<String> {
        let days = opt_i64(prior, "deletion_window_in_days").unwrap_or(30);
        let on = day_in(days);
        Some(format!(
            "scheduled for deletion after a {days}-day waiting period (on {on}), not deleted at once: until then it can be recovered (`aws kms cancel-key-deletion`), and nothing can use it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_throttling_answer_says_a_failed_create_key_made_no_key() {
        let failed = |status, code: Option<&str>| AwsError {
            operation: "CreateKey",
            code: code.map(str::to_string),
            message: String::new(),
            status,
            kind: ErrorKind::Transient,
        };
        assert!(maybe_carried_out(&failed(None, None)), "no answer");
        assert!(maybe_carried_out(&failed(
            Some(500),
            Some("KMSInternalException")
        )));
        assert!(maybe_carried_out(&failed(Some(503), None)));
        assert!(!maybe_carried_out(&failed(
            Some(400),
            Some("ThrottlingException")
        )));
    }
}
