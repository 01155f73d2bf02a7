//! `iam.role`: a role with its trust policy, inline policies, managed policies and tags.

use crate::schema::{Default, Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "iam.role",
    description: "an IAM role",
    attributes: &[
        attr("name", Type::String(Some(check_role_name)))
            .required()
            .force_new(),
        attr("path", Type::String(Some(check_path)))
            .force_new()
            .default(Default::Str("/")),
        attr("description", Type::String(None)),
        attr("assume_role_policy", Type::TrustPolicy).required(),
        attr("inline_policies", Type::Map(&Type::Policy)),
        attr(
            "managed_policy_arns",
            Type::List {
                item: &Type::String(None),
                min: 0,
            },
        ),
        attr(
            "max_session_duration",
            Type::Int {
                min: 3600,
                max: 43_200,
            },
        )
        .default(Default::Int(3600)),
        attr("tags", Type::Map(&Type::String(None))),
    ],
    computed: &["arn", "unique_id"],
};

fn check_role_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(format!(
            "`{name}` is not a valid role name: 1 to 64 letters, digits or `+=,.@_-`"
        ));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
        return Err(format!(
            "`{path}` is not a valid IAM path: it must begin and end with `/`"
        ));
    }
    Ok(())
}
