//! `ssm.parameter`: a Systems Manager parameter (String, StringList or SecureString), its
//! tier, key, allowed pattern and tags. A parameter's value is sensitive: a SecureString's
//! value is recorded only as its seal ([`crate::schema::sealed`]) with the version it was
//! written as, so a plan tells a changed value (or a write made outside strata, which makes a
//! new version) without state ever holding it.

use crate::schema::rules::{KMS_KEY, TAGS, known_str};
use crate::schema::{Identity, Path, Problem, Schema, Text, Type, attr};

/// Parameter names: letters, digits, `_ . -` and `/` between the levels of a hierarchy.
pub const PARAMETER_NAME: Text = Text::len(1, 2048)
    .pattern(
        r"^[a-zA-Z0-9_.\-/]+$",
        "letters, digits, `_`, `.`, `-` and `/` between hierarchy levels",
    )
    .check(check_parameter_name);

/// SSM's rules that a pattern cannot say: reserved prefixes and hierarchy paths.
fn check_parameter_name(name: &str) -> Result<(), String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let prefix = bare.get(..3).unwrap_or(bare);
    if prefix.eq_ignore_ascii_case("aws") || prefix.eq_ignore_ascii_case("ssm") {
        return Err("names beginning with `aws` or `ssm` (in any case) are reserved".into());
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(
                "a name with levels (`/`) must be fully qualified: begin it with `/`".into(),
            );
        }
        if name.ends_with('/') || name.contains("//") {
            return Err("every level needs a name: no `//` and no `/` at the end".into());
        }
        if name.matches('/').count() > 15 {
            return Err("at most 15 hierarchy levels".into());
        }
    }
    Ok(())
}

const TYPES: &[&str] = &["String", "StringList", "SecureString"];
const TIERS: &[&str] = &["Standard", "Advanced", "Intelligent-Tiering"];
/// The largest value of a Standard parameter, in bytes (Advanced: 8 KB).
const STANDARD_VALUE_BYTES: usize = 4096;

pub const SCHEMA: Schema = Schema {
    type_name: "ssm.parameter",
    description: "an SSM Parameter Store parameter",
    import_id: "the parameter's name (or its ARN)",
    notes: "\
The value is sensitive: plans show neither the old nor the new value, and state keeps only a
salted hash of it with the version it was written as, so a changed value, or a write made
outside strata (which makes a new version), shows in the plan without state ever holding
it. Give the value from a `sensitive` variable. The attribute is `parameter_type` (`type`
names the resource type).",
    attributes: &[
        attr("name", Type::String(PARAMETER_NAME))
            .required()
            .force_new(),
        attr("parameter_type", Type::Enum(TYPES))
            .required()
            .force_new(),
        attr("value", Type::String(Text::len(1, 8192)))
            .required()
            .sensitive(),
        attr("description", Type::String(Text::len(0, 1024))),
        // An Advanced parameter cannot go back to Standard: omitted, the tier stays.
        attr("tier", Type::Enum(TIERS)).keep_live(),
        attr("key_id", Type::String(KMS_KEY)),
        attr("allowed_pattern", Type::String(Text::len(0, 1024))),
        attr(
            "data_type",
            Type::Enum(&["text", "aws:ec2:image", "aws:ssm:integration"]),
        ),
        attr("tags", TAGS),
    ],
    computed: &["arn", "version"],
    examples: &[
        (
            "arn",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password",
        ),
        ("version", "1"),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_parameter),
};

/// The rules SSM applies across a parameter's attributes.
fn check_parameter(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    let kind = known_str(attrs, "parameter_type");
    if attrs.contains_key("key_id") && kind.is_some_and(|k| k != "SecureString") {
        out.push(
            Problem::new(
                Path::attr("key_id"),
                "`key_id` is set on a parameter that is not a SecureString",
                "only SecureString parameters are encrypted",
            )
            .help("remove `key_id`, or make it `parameter_type = \"SecureString\"`"),
        );
    }
    if known_str(attrs, "data_type") == Some("aws:ec2:image") && kind.is_some_and(|k| k != "String")
    {
        out.push(Problem::new(
            Path::attr("data_type"),
            "`data_type = \"aws:ec2:image\"` needs `parameter_type = \"String\"`",
            "an AMI id parameter is a String",
        ));
    }
    // The value's length, never the value: it may be a secret.
    let standard = matches!(known_str(attrs, "tier"), None | Some("Standard"));
    if let Some(value) = known_str(attrs, "value")
        && standard
        && value.len() > STANDARD_VALUE_BYTES
    {
        out.push(
            Problem::new(
                Path::attr("value"),
                format!(
                    "the value is {} bytes: a Standard parameter holds at most {STANDARD_VALUE_BYTES}",
                    value.len()
                ),
                "too long for a Standard parameter",
            )
            .help("set `tier = \"Advanced\"` (up to 8 KB), or shorten the value"),
        );
    }
    out
}

use async_trait::async_trait;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, ResourceTypeForTagging, Tag};

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{
    Gone, changed, not_ours, opt_str, own_lost_create, req_str, sealed_live, sync_tags, tags,
    tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct SsmParameter;

/// SSM's "no such parameter" (a 400, which the shared not-found test does not know).
const NOT_FOUND: &str = "ParameterNotFound";

/// [`Gone::or_gone`] that also knows SSM's own not-found code.
fn or_missing<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Err(e) if e.code_is(&[NOT_FOUND]) => Ok(None),
        other => other.or_gone(),
    }
}

fn built<T>(
    what: &'static str,
    result: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, AwsError> {
    result.map_err(|e| AwsError::new(what, e.to_string()))
}

/// The attributes an overwrite sends besides the value: any of them changed means a put.
const PUT_ATTRIBUTES: &[&str] = &[
    "value",
    "description",
    "tier",
    "key_id",
    "allowed_pattern",
    "data_type",
];

impl SsmParameter {
    /// PutParameter with the desired attributes; tags only on a create (SSM refuses tags
    /// with Overwrite: updates tag with AddTagsToResource).
    async fn put(&self, aws: &Clients, desired: &Attrs, overwrite: bool) -> Result<(), AwsError> {
        let tag_list = if overwrite {
            None
        } else {
            let list = tags(desired)
                .into_iter()
                .map(|(k, v)| built("PutParameter", Tag::builder().key(k).value(v).build()))
                .collect::<Result<Vec<_>, _>>()?;
            (!list.is_empty()).then_some(list)
        };
        let owned = |name: &str| opt_str(desired, name).map(str::to_string);
        aws.ssm
            .put_parameter()
            .name(req_str(desired, "name")?)
            .value(req_str(desired, "value")?)
            .r#type(ParameterType::from(req_str(desired, "parameter_type")?))
            .set_description(owned("description"))
            .set_tier(owned("tier").map(|t| t.as_str().into()))
            .set_key_id(owned("key_id"))
            .set_allowed_pattern(owned("allowed_pattern"))
            .set_data_type(owned("data_type"))
            .set_tags(tag_list)
            .overwrite(overwrite)
            .send()
            .await
            .map(drop)
            .map_err(sdk("PutParameter"))
    }

    async fn exists(&self, aws: &Clients, name: &str) -> Result<Option<String>, AwsError> {
        let got = aws
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .map_err(sdk("GetParameter"));
        Ok(or_missing(got)?
            .and_then(|out| out.parameter)
            .and_then(|p| p.name))
    }
}

#[async_trait]
impl Resource for SsmParameter {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_parameter = [arn::ssm_parameter(at, &name_or_any(desired, "name"))];
        // A SecureString with its own key: SSM encrypts and decrypts with the caller's
        // rights on that key (the default `aws/ssm` key needs none).
        let key = match opt_str(desired, "key_id") {
            Some(key) if key.starts_with("arn:") => key.to_string(),
            Some(_) | None => arn::kms_key(at, "*"),
        };
        let mut out = vec![
            allow(
                Step::Read,
                &["ssm:GetParameter", "ssm:ListTagsForResource"],
                &on_parameter,
            ),
            // DescribeParameters is not scoped to a parameter in IAM.
            allow(Step::Read, &["ssm:DescribeParameters"], &["*".to_string()]),
            allow(
                Step::Write,
                &[
                    "ssm:PutParameter",
                    "ssm:GetParameter",
                    "ssm:AddTagsToResource",
                    "ssm:RemoveTagsFromResource",
                ],
                &on_parameter,
            ),
            allow(Step::Delete, &["ssm:DeleteParameter"], &on_parameter),
        ];
        if desired.contains_key("key_id") {
            out.push(allow(
                Step::Read,
                &["kms:Decrypt"],
                std::slice::from_ref(&key),
            ));
            out.push(allow(
                Step::Write,
                &["kms:Encrypt", "kms:GenerateDataKey"],
                &[key],
            ));
        }
        out
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        match (attribute, desired.get("name")) {
            ("arn", Some(Value::Str(name))) => Value::Str(arn::ssm_parameter(at, name)),
            _ => Value::Unknown,
        }
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let Some(parsed) = arn::parse(given) else {
            return self.exists(aws, given).await;
        };
        // `parameter/a/b` is `/a/b`; `parameter/a` is `a` or `/a`.
        let Some(path) = parsed.resource.strip_prefix("parameter") else {
            return Ok(None);
        };
        if parsed.service != "ssm" || parsed.region != aws.region {
            return Ok(None);
        }
        for name in [path, path.trim_start_matches('/')] {
            if let Some(found) = self.exists(aws, name).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        self.exists(aws, req_str(desired, "name")?).await
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let got = aws
            .ssm
            .get_parameter()
            .name(id)
            .send()
            .await
            .map_err(sdk("GetParameter"));
        let Some(parameter) = or_missing(got)?.and_then(|out| out.parameter) else {
            return Ok(None);
        };
        let filter = built(
            "DescribeParameters",
            ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .values(id)
                .build(),
        )?;
        let (described, tag_list) = tokio::join!(
            aws.ssm
                .describe_parameters()
                .parameter_filters(filter)
                .send(),
            aws.ssm
                .list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(id)
                .send(),
        );
        let described = described.map_err(sdk("DescribeParameters"))?;
        let meta = described
            .parameters()
            .iter()
            .find(|m| m.name() == parameter.name());
        let kind = parameter.r#type().map(|t| t.as_str()).unwrap_or("String");
        let version = Value::Int(parameter.version());
        let text = |v: Option<&str>| Value::Str(v.unwrap_or_default().to_string());

        let mut attrs = Attrs::new();
        attrs.insert("name".into(), text(parameter.name()));
        attrs.insert("parameter_type".into(), Value::Str(kind.to_string()));
        let value = if kind == "SecureString" {
            // SSM shows a SecureString only when asked to decrypt it, and strata asks only
            // when the version it recorded is no longer the live one.
            sealed_live(prior, "value", "version", &version, || async {
                let got = aws
                    .ssm
                    .get_parameter()
                    .name(id)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(sdk("GetParameter"));
                Ok(or_missing(got)?
                    .and_then(|out| out.parameter)
                    .and_then(|p| p.value))
            })
            .await?
        } else {
            parameter.value().map(|v| Value::Str(v.to_string()))
        };
        if let Some(value) = value {
            attrs.insert("value".into(), value);
        }
        attrs.insert(
            "description".into(),
            text(meta.and_then(|m| m.description())),
        );
        // Intelligent-Tiering is a choice, not a tier: SSM answers the tier it chose.
        let tier = match opt_str(prior, "tier") {
            Some(chosen @ "Intelligent-Tiering") => Some(chosen),
            _ => meta.and_then(|m| m.tier()).map(|t| t.as_str()),
        };
        if let Some(tier) = tier {
            attrs.insert("tier".into(), Value::Str(tier.to_string()));
        }
        if let Some(key) = meta.and_then(|m| m.key_id()).filter(|k| !k.is_empty()) {
            attrs.insert("key_id".into(), Value::Str(key.to_string()));
        }
        attrs.insert(
            "allowed_pattern".into(),
            text(meta.and_then(|m| m.allowed_pattern())),
        );
        attrs.insert(
            "data_type".into(),
            Value::Str(parameter.data_type().unwrap_or("text").to_string()),
        );
        let tag_list = tag_list.map_err(sdk("ListTagsForResource"))?;
        attrs.insert(
            "tags".into(),
            tags_value(tag_list.tag_list().iter().map(|t| (t.key(), t.value()))),
        );
        attrs.insert("version".into(), version);
        attrs.insert("arn".into(), text(parameter.arn()));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // PutParameter without Overwrite refuses an existing name, but so it does the SDK's
        // retry of our own put whose reply was lost: existence is asked first, so that an
        // "already exists" after "not found" is our own put.
        if self.exists(aws, name).await?.is_some() {
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in {}", aws.region),
                name,
            ));
        }
        match self.put(aws, desired, false).await {
            Ok(()) => {}
            Err(e) if e.code_is(&["ParameterAlreadyExists"]) => {
                own_lost_create("PutParameter", &format!("parameter `{name}`"), || {
                    self.exists(aws, name)
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
        if PUT_ATTRIBUTES
            .iter()
            .any(|a| changed(&SCHEMA, a, desired, live))
        {
            self.put(aws, desired, true).await?;
        }
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = aws
                    .ssm
                    .remove_tags_from_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(id)
                    .set_tag_keys(Some(keys));
                request
                    .send()
                    .await
                    .map(drop)
                    .map_err(sdk("RemoveTagsFromResource"))
            },
            |new| async move {
                let list = new
                    .into_iter()
                    .map(|(k, v)| {
                        built("AddTagsToResource", Tag::builder().key(k).value(v).build())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let request = aws
                    .ssm
                    .add_tags_to_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(id)
                    .set_tags(Some(list));
                request
                    .send()
                    .await
                    .map(drop)
                    .map_err(sdk("AddTagsToResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let deleted = aws
            .ssm
            .delete_parameter()
            .name(id)
            .send()
            .await
            .map_err(sdk("DeleteParameter"));
        or_missing(deleted).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::{changes, with_defaults};
    use crate::schema::sealed::seal;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// The plan compares the stack's value with the recorded seal, and a change of it is
    /// sensitive: neither value is shown.
    #[test]
    fn a_secure_value_is_compared_with_its_seal_and_never_shown() {
        let s = |v: &str| Value::Str(v.into());
        let desired = with_defaults(
            &SCHEMA,
            &attrs(&[
                ("name", s("/p")),
                ("parameter_type", s("SecureString")),
                ("value", s("hunter2")),
            ]),
        );
        let mut live = desired.clone();
        live.insert("value".into(), seal("hunter2"));
        assert_eq!(changes(&SCHEMA, &desired, &live), vec![]);
        live.insert("value".into(), seal("other"));
        let found = changes(&SCHEMA, &desired, &live);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "value");
        assert!(found[0].sensitive);
    }

    #[test]
    fn a_standard_parameter_holds_four_kilobytes() {
        let s = |v: &str| Value::Str(v.into());
        let long = "x".repeat(5000);
        let standard = attrs(&[("parameter_type", s("String")), ("value", s(&long))]);
        let problems = check_parameter(&standard);
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].message.contains(&long));
        let mut advanced = standard.clone();
        advanced.insert("tier".into(), s("Advanced"));
        assert_eq!(check_parameter(&advanced), vec![]);
        let key_on_string = attrs(&[("parameter_type", s("String")), ("key_id", s("alias/k"))]);
        assert_eq!(check_parameter(&key_on_string).len(), 1);
    }

    #[test]
    fn names_follow_ssm_hierarchy_rules() {
        for good in ["db_password", "/app/db/password", "/a", "a.b-c_d"] {
            assert_eq!(PARAMETER_NAME.problem(good), None, "{good}");
        }
        for bad in [
            "app/db",
            "/app//db",
            "/app/",
            "awsThing",
            "/SSM/x",
            "has space",
            "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16",
        ] {
            assert!(PARAMETER_NAME.problem(bad).is_some(), "{bad}");
        }
    }
}
