//! `iam.role`: a role with its trust policy, inline policies, managed policies and tags.

use crate::schema::rules::{IDENTITY_POLICY, TAGS, TRUST_POLICY};
use crate::schema::{Default, Identity, Map, Path, Problem, Schema, Text, Type, attr};

/// Role and inline policy names: IAM's `[\w+=,.@-]+`.
const NAME_PATTERN: &str = r"^[A-Za-z0-9_+=,.@-]+$";
const NAME_CHARACTERS: &str = "letters, digits and `+ = , . @ _ -`";

pub const ROLE_NAME: Text = Text::len(1, 64).pattern(NAME_PATTERN, NAME_CHARACTERS);

/// `/` or `/a/path/` of printable ASCII.
pub const ROLE_PATH: Text = Text::len(1, 512).pattern(
    r"^(/|/[\x21-\x7E]+/)$",
    "`/`, or a path of printable ASCII characters that begins and ends with `/`",
);

/// The most managed policies a role can have attached (IAM's quota is 10 by default, and
/// can be raised to 20).
const MANAGED_POLICIES: usize = 20;

/// The size IAM allows for all of a role's inline policies together, in characters
/// without white space.
const INLINE_POLICIES_SIZE: usize = 10_240;

/// What the reference page (docs/resources/iam.role.md) says beyond the attribute table.
const NOTES: &str = "\
Policies (trust and inline) are compared as normalised JSON.
Delete removes inline policies and detaches managed ones first.

`path` is kept when left out so that an imported role is not replaced for it.";

pub const SCHEMA: Schema = Schema {
    type_name: "iam.role",
    description: "an IAM role",
    import_id: "the role name",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(ROLE_NAME))
            .required()
            .force_new(),
        attr("path", Type::String(ROLE_PATH))
            .force_new()
            .default(Default::Str("/"))
            .keep_live(),
        attr(
            "description",
            Type::String(Text::len(0, 1000).pattern(
                r"^[\t\n\r\x20-\x7E\xA1-\xFF]*$",
                "printable Latin-1 characters (no emoji or other scripts)",
            )),
        ),
        attr("assume_role_policy", Type::TrustPolicy(&TRUST_POLICY)).required(),
        attr(
            "inline_policies",
            Type::Map(Map {
                keys: Text::len(1, 128).pattern(NAME_PATTERN, NAME_CHARACTERS),
                values: &Type::Policy(&IDENTITY_POLICY),
                max: usize::MAX,
            }),
        ),
        attr(
            "managed_policy_arns",
            Type::List {
                item: &Type::String(Text::len(20, 2048).pattern(
                    r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9_+=,.@/-]+$",
                    "a managed policy ARN, `arn:aws:iam::ACCOUNT:policy/NAME` or `arn:aws:iam::aws:policy/NAME`",
                )),
                min: 0,
                max: MANAGED_POLICIES,
                unique: true,
            },
        ),
        attr(
            "max_session_duration",
            Type::Int {
                min: 3600,
                max: 43_200,
            },
        )
        .default(Default::Int(3600))
        .keep_live(),
        attr("tags", TAGS),
    ],
    computed: &["arn", "unique_id"],
    examples: &[
        ("arn", "arn:aws:iam::123456789012:role/role"),
        ("unique_id", "AROA3XFRBF23EXAMPLE"),
    ],
    identity: Identity {
        attributes: &["name"],
        ignore_case: true,
    },
    check: Some(check_role),
};

/// IAM compares tag keys without case, and counts all inline policies together.
fn check_role(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(Value::Map(tags)) = attrs.get("tags") {
        let mut seen: Vec<&str> = Vec::new();
        for key in tags.keys() {
            match seen.iter().find(|k| k.eq_ignore_ascii_case(key)) {
                Some(first) => out.push(Problem::new(
                    Path::attr("tags").key(key),
                    format!("tag keys `{first}` and `{key}` differ only in case"),
                    "IAM sees the same key twice",
                )),
                None => seen.push(key),
            }
        }
    }
    if let Some(policies) = attrs.get("inline_policies").filter(|p| p.is_known()) {
        let size: usize = policies
            .as_map()
            .into_iter()
            .flat_map(|m| m.values())
            .map(|p| {
                p.to_json()
                    .to_string()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .count()
            })
            .sum();
        if size > INLINE_POLICIES_SIZE {
            out.push(
                Problem::new(
                    Path::attr("inline_policies"),
                    "a role's inline policies are too large",
                    format!("{size} characters together: IAM allows {INLINE_POLICIES_SIZE}"),
                )
                .help("move some statements to a managed policy (`managed_policy_arns`)"),
            );
        }
    }
    out
}

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use futures::future::try_join_all;
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, find_by_name, not_ours, opt_i64, opt_str, own_lost_create, parse_json,
    percent_decode, req_str, sync_tags, tags, tags_value,
};
use super::{Created, Resource};
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::policy;
use crate::value::{Attrs, Value};

pub struct IamRole;

/// IAM returns policy documents URL-encoded.
fn document(encoded: &str) -> Value {
    parse_json(&percent_decode(encoded))
}

/// The trust policy to send: the stack's `{ service = ... }` shorthand expanded.
fn trust_policy(desired: &Attrs) -> Result<String, AwsError> {
    let doc = desired
        .get("assume_role_policy")
        .filter(|v| v.is_known())
        .ok_or_else(|| {
            AwsError::new(
                "prepare",
                "attribute `assume_role_policy` is missing or not known yet",
            )
        })?;
    Ok(policy::expand_trust_policy(&doc.to_json()).to_string())
}

fn inline_policies(attrs: &Attrs) -> IndexMap<String, Value> {
    attrs
        .get("inline_policies")
        .and_then(Value::as_map)
        .cloned()
        .unwrap_or_default()
}

fn managed_policy_arns(attrs: &Attrs) -> Vec<String> {
    super::support::strings(attrs.get("managed_policy_arns"))
}

fn iam_tags(
    pairs: &IndexMap<String, String>,
    operation: &'static str,
) -> Result<Vec<Tag>, AwsError> {
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::new(operation, e.to_string()))
        })
        .collect()
}

/// Puts the inline policies that are new or differ, deletes the ones no longer wanted.
async fn sync_inline_policies(
    aws: &Clients,
    role: &str,
    live: &Attrs,
    desired: &Attrs,
) -> Result<(), AwsError> {
    let wanted = inline_policies(desired);
    let have = inline_policies(live);
    for (name, doc) in &wanted {
        if have
            .get(name)
            .is_some_and(|h| policy::equivalent(&doc.to_json(), &h.to_json()))
        {
            continue;
        }
        if !doc.is_known() {
            return Err(AwsError::new(
                "PutRolePolicy",
                format!("inline policy `{name}` is not known yet"),
            ));
        }
        let text = doc.to_json().to_string();
        // The policy name cannot be missing: NoSuchEntity means a role created a moment
        // ago is not visible to this call yet.
        retry_send(
            Backoff::CONSISTENCY,
            AwsError::is_not_found,
            "PutRolePolicy",
            || {
                aws.iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .policy_document(&text)
                    .send()
            },
        )
        .await?;
    }
    for name in have.keys().filter(|n| !wanted.contains_key(*n)) {
        delete_inline_policy(aws, role, name).await?;
    }
    Ok(())
}

async fn sync_managed_policies(
    aws: &Clients,
    role: &str,
    live: &Attrs,
    desired: &Attrs,
) -> Result<(), AwsError> {
    let wanted = managed_policy_arns(desired);
    let have = managed_policy_arns(live);
    for arn in wanted.iter().filter(|a| !have.contains(*a)) {
        // As for PutRolePolicy: a new role may not be visible yet.
        retry_send(
            Backoff::CONSISTENCY,
            AwsError::is_not_found,
            "AttachRolePolicy",
            || {
                aws.iam
                    .attach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
            },
        )
        .await?;
    }
    for arn in have.iter().filter(|a| !wanted.contains(*a)) {
        detach_managed_policy(aws, role, arn).await?;
    }
    Ok(())
}

async fn delete_inline_policy(aws: &Clients, role: &str, name: &str) -> Result<(), AwsError> {
    aws.iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .map_err(sdk("DeleteRolePolicy"))
        .ok_if_gone()
}

async fn detach_managed_policy(aws: &Clients, role: &str, arn: &str) -> Result<(), AwsError> {
    aws.iam
        .detach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
        .map_err(sdk("DetachRolePolicy"))
        .ok_if_gone()
}

/// The role of that name, if there is one (GetRole alone, without its policies and tags).
async fn get_role(aws: &Clients, name: &str) -> Result<Option<()>, AwsError> {
    let found = aws
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(sdk("GetRole"))
        .or_gone()?;
    Ok(found.map(drop))
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
fn role_arn(desired: &Attrs, at: &Place) -> String {
    let path = match desired.get("path") {
        Some(Value::Str(p)) => p.as_str(),
        _ => "/",
    };
    super::arn::role(
        &at.partition,
        &at.account,
        path,
        &name_or_any(desired, "name"),
    )
}

#[async_trait]
impl Resource for IamRole {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_role = [role_arn(desired, at)];
        let read = [
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRoleTags",
        ];
        vec![
            allow(Step::Read, &read, &on_role),
            allow(
                Step::Write,
                &[
                    "iam:CreateRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:TagRole",
                    "iam:UntagRole",
                ],
                &on_role,
            ),
            allow(
                Step::Delete,
                &[
                    "iam:ListRolePolicies",
                    "iam:DeleteRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:DetachRolePolicy",
                    "iam:DeleteRole",
                ],
                &on_role,
            ),
        ]
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(_))) => Value::Str(role_arn(desired, at)),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        find_by_name(self, aws, desired).await
    }

    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(Some(super::arn::role_name_of(given).to_string()))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    /// IAM names are case-insensitive: the name as IAM spells it.
    fn id_from_read(&self, live: &Attrs) -> Option<String> {
        live.get("name").and_then(Value::as_str).map(str::to_string)
    }

    /// Managed policies are a set: read returns them sorted, so the stack's are too.
    fn prepare(&self, desired: &mut Attrs) {
        if let Some(Value::List(arns)) = desired.get_mut("managed_policy_arns") {
            arns.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            arns.dedup();
        }
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let iam = &aws.iam;
        let (role, inline_names, attached, tag_list) = tokio::join!(
            iam.get_role().role_name(id).send(),
            iam.list_role_policies()
                .role_name(id)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
            iam.list_attached_role_policies()
                .role_name(id)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
            iam.list_role_tags()
                .role_name(id)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        );
        let Some(out) = role.map_err(sdk("GetRole")).or_gone()? else {
            return Ok(None);
        };
        let Some(role) = out.role() else {
            return Ok(None);
        };
        let names = inline_names.map_err(sdk("ListRolePolicies"))?;
        let documents = try_join_all(names.iter().map(|name| async move {
            let found = iam
                .get_role_policy()
                .role_name(id)
                .policy_name(name)
                .send()
                .await
                .map_err(sdk("GetRolePolicy"))
                // Deleted between the list and the get.
                .or_gone()?;
            Ok::<_, AwsError>(found.map(|out| (name.clone(), document(out.policy_document()))))
        }))
        .await?;
        let mut inline: IndexMap<String, Value> = documents.into_iter().flatten().collect();
        inline.sort_keys();
        let mut arns: Vec<String> = attached
            .map_err(sdk("ListAttachedRolePolicies"))?
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        arns.sort();
        arns.dedup();
        let tag_list = tag_list.map_err(sdk("ListRoleTags"))?;

        let mut attrs = Attrs::new();
        attrs.insert("name".into(), Value::Str(role.role_name().into()));
        attrs.insert("path".into(), Value::Str(role.path().into()));
        if let Some(description) = role.description() {
            attrs.insert("description".into(), Value::Str(description.into()));
        }
        if let Some(doc) = role.assume_role_policy_document() {
            attrs.insert("assume_role_policy".into(), document(doc));
        }
        attrs.insert("inline_policies".into(), Value::Map(inline));
        attrs.insert(
            "managed_policy_arns".into(),
            Value::List(arns.into_iter().map(Value::Str).collect()),
        );
        if let Some(seconds) = role.max_session_duration() {
            attrs.insert("max_session_duration".into(), Value::Int(seconds.into()));
        }
        attrs.insert(
            "tags".into(),
            tags_value(tag_list.iter().map(|t| (t.key(), t.value()))),
        );
        attrs.insert("arn".into(), Value::Str(role.arn().into()));
        attrs.insert("unique_id".into(), Value::Str(role.role_id().into()));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        let tag_list = iam_tags(&tags(desired), "CreateRole")?;
        // CreateRole answers EntityAlreadyExists for a name in use, and also to the SDK's
        // own retry of a create whose reply was lost. So existence is asked first: a role
        // there now is not ours. Between this GetRole and the CreateRole, only a caller with
        // this account's credentials creating the same name at the same moment could slip
        // in: that is two deploys of one stack from two states racing, which no check here
        // can order, and the window is one round trip. So an "already exists" after a "no
        // such entity" is taken as our own create whose reply was lost.
        if get_role(aws, name).await?.is_some() {
            let account = aws.account_id().await?;
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in account {account}"),
                name,
            ));
        }
        let created_role = aws
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy(desired)?)
            .set_path(opt_str(desired, "path").map(str::to_string))
            .set_description(opt_str(desired, "description").map(str::to_string))
            .set_max_session_duration(opt_i64(desired, "max_session_duration").map(|s| s as i32))
            .set_tags((!tag_list.is_empty()).then_some(tag_list))
            .send()
            .await
            .map_err(sdk("CreateRole"));
        match created_role {
            Ok(_) => {}
            Err(e) if e.code_is(&["EntityAlreadyExists"]) => {
                own_lost_create("CreateRole", &format!("role `{name}`"), || {
                    get_role(aws, name)
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
        created(name);
        let nothing = Attrs::new();
        sync_inline_policies(aws, name, &nothing, desired).await?;
        sync_managed_policies(aws, name, &nothing, desired).await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let iam = &aws.iam;
        let differs = |name: &str| changed(&SCHEMA, name, desired, live);
        if differs("assume_role_policy") {
            iam.update_assume_role_policy()
                .role_name(id)
                .policy_document(trust_policy(desired)?)
                .send()
                .await
                .map_err(sdk("UpdateAssumeRolePolicy"))?;
        }
        if differs("description") || differs("max_session_duration") {
            iam.update_role()
                .role_name(id)
                .set_description(opt_str(desired, "description").map(str::to_string))
                .set_max_session_duration(
                    opt_i64(desired, "max_session_duration").map(|s| s as i32),
                )
                .send()
                .await
                .map_err(sdk("UpdateRole"))?;
        }
        if differs("inline_policies") {
            sync_inline_policies(aws, id, live, desired).await?;
        }
        if differs("managed_policy_arns") {
            sync_managed_policies(aws, id, live, desired).await?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = iam.untag_role().role_name(id).set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagRole"))
            },
            |tags| async move {
                let tags = Some(iam_tags(&tags, "TagRole")?);
                let request = iam.tag_role().role_name(id).set_tags(tags);
                request.send().await.map(drop).map_err(sdk("TagRole"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let iam = &aws.iam;
        // IAM refuses to delete a role that still has policies: remove them all, including
        // ones added outside strata. Both lists are read at once, and every policy is
        // removed at once: two round trips before DeleteRole, however many policies.
        let inline = async {
            iam.list_role_policies()
                .role_name(id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk("ListRolePolicies"))
                .or_gone()
        };
        let managed = async {
            iam.list_attached_role_policies()
                .role_name(id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk("ListAttachedRolePolicies"))
                .or_gone()
        };
        let (Some(names), Some(attached)) = futures::try_join!(inline, managed)? else {
            return Ok(());
        };
        let removals =
            names
                .iter()
                .map(|name| futures::future::Either::Left(delete_inline_policy(aws, id, name)))
                .chain(attached.iter().filter_map(|p| p.policy_arn()).map(|arn| {
                    futures::future::Either::Right(detach_managed_policy(aws, id, arn))
                }));
        try_join_all(removals).await?;
        // A policy removed a moment ago may still count against the delete, briefly; a
        // real conflict (an instance profile) is reported once this short budget is spent.
        let conflict = |e: &AwsError| e.code_is(&["DeleteConflict"]);
        retry_send(Backoff::BRIEF, conflict, "DeleteRole", || {
            iam.delete_role().role_name(id).send()
        })
        .await
        .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn managed_policy_arns_compare_as_a_set() {
        let mut desired = Attrs::new();
        desired.insert(
            "managed_policy_arns".into(),
            Value::List(vec![s("arn:b"), s("arn:a"), s("arn:b")]),
        );
        IamRole.prepare(&mut desired);
        assert_eq!(
            desired["managed_policy_arns"],
            Value::List(vec![s("arn:a"), s("arn:b")])
        );
    }

    #[test]
    fn an_encoded_trust_policy_reads_back_equal_to_the_shorthand() {
        let live = document(
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
        );
        let shorthand = serde_json::json!({ "service": "lambda.amazonaws.com" });
        assert!(policy::equivalent(
            &policy::expand_trust_policy(&shorthand),
            &live.to_json()
        ));
    }
}
