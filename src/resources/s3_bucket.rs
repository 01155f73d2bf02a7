//! `s3.bucket`: a bucket with encryption, public access block, versioning, lifecycle and tags.

use crate::schema::{Attribute, Default, Schema, Type, attr};

pub const LIFECYCLE_RULE: &[Attribute] = &[
    attr("id", Type::String(None)).required(),
    attr("prefix", Type::String(None)),
    attr("enabled", Type::Bool).default(Default::Bool(true)),
    attr(
        "expiration_days",
        Type::Int {
            min: 1,
            max: 2_147_483_647,
        },
    ),
    attr(
        "noncurrent_version_expiration_days",
        Type::Int {
            min: 1,
            max: 2_147_483_647,
        },
    ),
    attr(
        "abort_incomplete_multipart_upload_days",
        Type::Int {
            min: 1,
            max: 2_147_483_647,
        },
    ),
];

pub const PUBLIC_ACCESS_BLOCK: &[Attribute] = &[
    attr("block_public_acls", Type::Bool).default(Default::Bool(false)),
    attr("ignore_public_acls", Type::Bool).default(Default::Bool(false)),
    attr("block_public_policy", Type::Bool).default(Default::Bool(false)),
    attr("restrict_public_buckets", Type::Bool).default(Default::Bool(false)),
];

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket",
    description: "an S3 bucket",
    attributes: &[
        attr("name", Type::String(Some(check_bucket_name)))
            .required()
            .force_new(),
        attr(
            "sse_algorithm",
            Type::Enum(&["AES256", "aws:kms", "aws:kms:dsse"]),
        )
        .default(Default::Str("AES256")),
        attr("kms_key_id", Type::String(None)),
        attr("public_access_block", Type::Object(PUBLIC_ACCESS_BLOCK)),
        attr("versioning", Type::Bool).default(Default::Bool(false)),
        attr(
            "lifecycle_rules",
            Type::List {
                item: &Type::Object(LIFECYCLE_RULE),
                min: 0,
            },
        ),
        attr("tags", Type::Map(&Type::String(None))),
        attr("force_destroy", Type::Bool)
            .default(Default::Bool(false))
            .local(),
    ],
    computed: &["arn", "domain_name", "regional_domain_name", "region"],
};

/// S3's general purpose bucket naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("`{name}` is not a valid bucket name: {why}"));
    if !(3..=63).contains(&name.len()) {
        return fail("it must be 3 to 63 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return fail("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let first_last = [name.chars().next(), name.chars().last()];
    if first_last
        .iter()
        .flatten()
        .any(|c| !c.is_ascii_alphanumeric())
    {
        return fail("it must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return fail("it must not contain two adjacent dots");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return fail("it must not look like an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return fail(&format!("it must not start with `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return fail(&format!("it must not end with `{suffix}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket_name("producer-consumer-dev-content-000000000000").is_ok());
        assert!(check_bucket_name("a.b-c").is_ok());
        for bad in [
            "ab",
            "Upper",
            "-start",
            "end-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "x-s3alias",
            "under_score",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert!(check_bucket_name(&"a".repeat(64)).is_err());
    }
}
