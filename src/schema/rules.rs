//! AWS's rules that several resource types share (tags, bucket names, ARNs of the objects
//! one type points another at, KMS keys, policy documents), the pattern matcher the
//! schema's [`Text`] rules use, and small readers for [`Combination`] checks.
//!
//! The patterns come from the services' API references (the `pattern` and length
//! constraints of each request member); where a reference gives none, from the rules its
//! user guide states in words.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use indexmap::IndexMap;

use super::{Map, Path, PolicyRules, Problem, Size, Text, Type};
use crate::value::{Attrs, Value};

/// Whether `value` matches the (anchored) `pattern` of a schema rule.
pub fn matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: OnceLock<Mutex<HashMap<&'static str, regex_lite::Regex>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    compiled
        .entry(pattern)
        .or_insert_with(|| {
            regex_lite::Regex::new(pattern)
                .unwrap_or_else(|e| panic!("schema pattern {pattern:?} does not compile: {e}"))
        })
        .is_match(value)
}

// --- tags ---------------------------------------------------------------------------------

/// Tag keys, as IAM, Lambda, S3, SQS, API Gateway and CloudTrail take them: 1 to 128
/// letters, digits, spaces and `_ . : / = + - @`, not starting with `aws:`.
pub const TAG_KEY: Text = Text::len(1, 128).check(check_tag_key);
/// Tag values: up to 256 of the same characters.
pub const TAG_VALUE: Text = Text::len(0, 256).check(check_tag_characters);

/// A resource's tags: at most 50 (the limit of every service strata manages).
pub const TAGS: Type = Type::Map(Map {
    keys: TAG_KEY,
    values: &Type::String(TAG_VALUE),
    max: 50,
});

/// CloudTrail's tags: its API refuses an empty value.
pub const CLOUDTRAIL_TAGS: Type = Type::Map(Map {
    keys: TAG_KEY,
    values: &Type::String(Text::len(1, 256).check(check_tag_characters)),
    max: 50,
});

/// Letters, digits and white space of any script (Unicode's L, N and Z classes, which the
/// services' `[\p{L}\p{Z}\p{N}_.:/=+\-@]` pattern names), and `_ . : / = + - @`.
fn check_tag_characters(text: &str) -> Result<(), String> {
    let allowed = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    };
    match text.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "{c:?} is not allowed: tags may use letters, digits, spaces and `_ . : / = + - @`"
        )),
        None => Ok(()),
    }
}

fn check_tag_key(key: &str) -> Result<(), String> {
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err("keys starting with `aws:` are reserved for AWS".into());
    }
    check_tag_characters(key)
}

// --- names and identifiers ----------------------------------------------------------------

/// S3's rules for general purpose bucket names, the ones every region enforces: used for
/// the buckets strata creates, CloudTrail's log bucket and the state bucket.
pub const BUCKET_NAME: Text = Text::len(3, 63)
    .pattern(
        r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        "lowercase letters, digits, `.` and `-`, beginning and ending with a letter or digit",
    )
    .check(check_bucket_name);

/// Whether S3 accepts `name` for a new bucket: the state bucket of `[backend]`, `--backend`
/// and `strata bootstrap` is checked by the rule of `s3.bucket` names.
pub fn valid_bucket_name(name: &str) -> bool {
    BUCKET_NAME.problem(name).is_none()
}

/// The name of a bucket that may predate today's rules (us-east-1 allowed capitals and
/// underscores until 2018): what a bucket policy or notification may point at.
pub const BUCKET_REFERENCE: Text = Text::len(3, 255).pattern(
    r"^[A-Za-z0-9._-]+$",
    "a bucket name (letters, digits, `.`, `_`, `-`), not an ARN or URL",
);

/// What a pattern cannot say of a bucket name.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    if name.contains("..") {
        return Err("a bucket name must not contain two adjacent dots".into());
    }
    if looks_like_ip_address(name) {
        return Err("a bucket name must not look like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("a bucket name must not start with `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("a bucket name must not end with `{suffix}`"));
        }
    }
    Ok(())
}

/// Four dot-separated groups of one to three digits (`192.168.5.4`, also `999.1.1.1`).
pub fn looks_like_ip_address(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.chars().all(|c| c.is_ascii_digit()))
}

/// A 12-digit AWS account id.
pub const ACCOUNT_ID: Text = Text::ANY.pattern(r"^[0-9]{12}$", "a 12-digit account id");

/// An SQS queue's ARN (what a redrive policy and an S3 notification point at).
pub const QUEUE_ARN: Text = Text::len(1, 2048).pattern(
    r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$",
    "an SQS queue ARN, `arn:PARTITION:sqs:REGION:ACCOUNT:NAME` (the queue's `arn`, not its `url`)",
);

/// An SQS queue's URL (what SQS calls take).
pub const QUEUE_URL: Text = Text::len(1, 2048).pattern(
    r"^https?://[^/\s]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$",
    "an SQS queue URL, `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (the queue's `url`, not its `arn`)",
);

/// A KMS key: its id, its ARN, an alias (`alias/NAME`) or an alias ARN.
pub const KMS_KEY: Text = Text::len(1, 2048).pattern(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|(mrk-)?[0-9a-fA-F-]{32,36})$",
    "a KMS key id, key ARN, `alias/NAME` or alias ARN",
);

/// A service principal (`lambda.amazonaws.com`).
pub const SERVICE_PRINCIPAL: Text = Text::len(1, 256).pattern(
    r"^[a-z0-9][a-z0-9.-]*\.(amazonaws\.com|amazonaws\.com\.cn|amazon\.com)$",
    "a service principal such as `lambda.amazonaws.com`",
);

/// An IAM role's ARN (a Lambda function's execution role).
pub const ROLE_ARN: Text = Text::len(1, 2048).pattern(
    r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$",
    "an IAM role ARN, `arn:PARTITION:iam::ACCOUNT:role/NAME` (the role's `arn`)",
);

// --- policy documents ---------------------------------------------------------------------

/// Statement ids in IAM's own policies: ASCII letters and digits.
const IAM_SID: Text = Text::ANY.pattern(r"^[A-Za-z0-9]*$", "ASCII letters and digits only");

/// A role's inline policies (IAM counts their size together: see `iam.role`).
pub const IDENTITY_POLICY: PolicyRules = PolicyRules {
    kind: "a role's inline policy",
    principal: false,
    resource: true,
    service: None,
    sid: IAM_SID,
    max_size: Size::Characters(10_240),
    max_statements: usize::MAX,
    max_actions: usize::MAX,
    max_principals: usize::MAX,
    max_conditions: usize::MAX,
};

/// A role's trust policy. IAM's default quota is 2,048 characters; 4,096 is the most an
/// account can raise it to.
pub const TRUST_POLICY: PolicyRules = PolicyRules {
    kind: "a trust policy",
    principal: true,
    resource: false,
    service: Some("sts"),
    sid: IAM_SID,
    max_size: Size::Characters(4_096),
    max_statements: usize::MAX,
    max_actions: usize::MAX,
    max_principals: usize::MAX,
    max_conditions: usize::MAX,
};

/// A bucket policy: up to 20 KB.
pub const BUCKET_POLICY: PolicyRules = PolicyRules {
    kind: "a bucket policy",
    principal: true,
    resource: true,
    service: Some("s3"),
    sid: Text::ANY,
    max_size: Size::Bytes(20_480),
    max_statements: usize::MAX,
    max_actions: usize::MAX,
    max_principals: usize::MAX,
    max_conditions: usize::MAX,
};

/// A queue policy, within SQS's policy quotas (8,192 bytes, 20 statements, 7 actions per
/// statement, 50 principals, 10 conditions).
pub const QUEUE_POLICY: PolicyRules = PolicyRules {
    kind: "a queue policy",
    principal: true,
    resource: true,
    service: Some("sqs"),
    sid: Text::ANY,
    max_size: Size::Bytes(8_192),
    max_statements: 20,
    max_actions: 7,
    max_principals: 50,
    max_conditions: 10,
};

/// IAM's policy grammar, the same wherever a document is used: the keys of a document and
/// of each of its statements, the values of `Version` and `Effect`, the kinds of principal,
/// and the forms of actions, resources, principals and condition keys.
pub const DOCUMENT_KEYS: &[&str] = &["Version", "Id", "Statement"];
pub const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];
pub const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];
pub const EFFECTS: &[&str] = &["Allow", "Deny"];
pub const PRINCIPAL_KINDS: &[&str] = &["AWS", "Service", "Federated", "CanonicalUser"];

/// `service:Action` with wildcards, or `*`.
pub const ACTION: Text = Text::ANY.pattern(
    r"^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$",
    "`*` or `service:Action` (wildcards `*` and `?` allowed), such as `s3:GetObject`",
);
/// `*` or an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, wildcards allowed).
pub const RESOURCE: Text = Text::ANY.pattern(
    r"^(\*|arn:[^:\s]+:[^:\s]*:[^:\s]*:[^:\s]*:\S+)$",
    "`*` or an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`",
);
/// `Principal = { AWS = ... }`.
pub const AWS_PRINCIPAL: Text = Text::ANY.pattern(
    r"^(\*|[0-9]{12}|arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:\S+)$",
    "`*`, an account id, or an IAM or STS ARN (`arn:aws:iam::ACCOUNT:root`, `...:role/NAME`)",
);
/// `Principal = { Federated = ... }`.
pub const FEDERATED_PRINCIPAL: Text = Text::ANY.pattern(
    r"^(arn:aws[a-z-]*:iam::[0-9]{12}:(saml-provider|oidc-provider)/\S+|[a-z0-9.-]+\.[a-z]+)$",
    "a SAML or OIDC provider ARN, or an identity provider's domain (`cognito-identity.amazonaws.com`)",
);
/// `Principal = { CanonicalUser = ... }`.
pub const CANONICAL_USER: Text =
    Text::ANY.pattern(r"^[0-9a-f]{64}$", "a canonical user id (64 hex digits)");
/// A condition key: `aws:SourceArn`, `s3:x-amz-acl`, `token.actions.githubusercontent.com:sub`.
pub const CONDITION_KEY: Text = Text::ANY.pattern(
    r"^[A-Za-z0-9._-]+:\S+$",
    "a condition key, `prefix:name` such as `aws:SourceArn`",
);

/// IAM's condition operators; each also comes with `IfExists` (but `Null`) and under
/// `ForAllValues:` or `ForAnyValue:`.
pub const CONDITION_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// Whether `operator` is a condition operator IAM knows.
pub fn condition_operator(operator: &str) -> bool {
    let base = operator
        .strip_prefix("ForAllValues:")
        .or_else(|| operator.strip_prefix("ForAnyValue:"))
        .unwrap_or(operator);
    let base = match base.strip_suffix("IfExists") {
        Some(b) if b != "Null" => b,
        _ => base,
    };
    CONDITION_OPERATORS.contains(&base)
}

// --- reading values in combination checks -------------------------------------------------

/// The known string at `name`, if any.
pub fn known_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(Value::as_str)
}

/// The boolean at `name`, `default` when the stack leaves it out, `None` when it is not
/// known yet.
pub fn bool_or(attrs: &Attrs, name: &str, default: bool) -> Option<bool> {
    match attrs.get(name) {
        None => Some(default),
        Some(v) => v.as_bool(),
    }
}

/// The items of the list at `name` (empty when absent or unknown).
pub fn items<'a>(attrs: &'a Attrs, name: &str) -> &'a [Value] {
    attrs.get(name).and_then(Value::as_list).unwrap_or(&[])
}

/// SQS's and SNS's FIFO rules, the same for a queue and a topic (`noun`): a FIFO one's name
/// ends in `.fifo` and only it does, and only it takes `content_based_deduplication`.
/// `flag` is the attribute that makes it FIFO (`fifo_queue`).
pub fn fifo_problems(attrs: &Attrs, noun: &str, flag: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let fifo = bool_or(attrs, flag, false);
    if let Some(name) = known_str(attrs, "name") {
        let fifo_name = name.ends_with(".fifo");
        if fifo_name && fifo == Some(false) {
            out.push(
                Problem::new(
                    Path::attr("name"),
                    format!(
                        "{noun} name `{name}` ends in `.fifo`, but the {noun} is not a FIFO {noun}"
                    ),
                    format!("only a FIFO {noun}'s name ends in `.fifo`"),
                )
                .help(format!("add `{flag} = true`, or take `.fifo` off the name")),
            );
        }
        if !fifo_name && fifo == Some(true) {
            out.push(
                Problem::new(
                    Path::attr("name"),
                    format!("FIFO {noun} name `{name}` does not end in `.fifo`"),
                    format!("a FIFO {noun}'s name must end in `.fifo`"),
                )
                .help(format!("name it `{name}.fifo`")),
            );
        }
    }
    if fifo == Some(false) && attrs.contains_key("content_based_deduplication") {
        out.push(
            Problem::new(
                Path::attr("content_based_deduplication"),
                format!("`content_based_deduplication` is set on a standard {noun}"),
                format!("only FIFO {noun}s take this attribute"),
            )
            .help(format!(
                "remove it, or make the {noun} a FIFO {noun} (`{flag} = true`, name ending in `.fifo`)"
            )),
        );
    }
    out
}

/// The statements of a policy document at `at`, each with its path: `Statement` is one
/// table or a list of them.
pub fn statements(policy: &Value, at: Path) -> Vec<(Path, &IndexMap<String, Value>)> {
    let at = at.key("Statement");
    match policy.get("Statement") {
        Some(Value::Map(one)) => vec![(at, one)],
        Some(Value::List(list)) => list
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_map().map(|m| (at.clone().index(i), m)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The known strings of an element that is one string or a list of them (`Action`,
/// `Resource`), each with its path.
pub fn strings(value: Option<&Value>, at: Path) -> Vec<(Path, &str)> {
    match value {
        Some(Value::Str(s)) => vec![(at, s.as_str())],
        Some(Value::List(list)) => list
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| (at.clone().index(i), s)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A problem for each value after the first that `key` maps to the same known key:
/// `list` is the attribute, `field` the member that must be unique.
pub fn duplicates(
    list: &str,
    values: &[Value],
    field: &str,
    key: impl Fn(&str) -> String,
) -> Vec<Problem> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, item) in values.iter().enumerate() {
        let Some(value) = item.get(field).and_then(Value::as_str) else {
            continue;
        };
        if let Some(first) = seen.get(&key(value)) {
            out.push(Problem::new(
                Path::attr(list).index(i).key(field),
                format!("duplicate {field} `{value}` in `{list}`"),
                format!("`{list}[{first}]` has the same {field}"),
            ));
        } else {
            seen.insert(key(value), i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in [
            "abc",
            "my-bucket.logs",
            "a1-b2",
            "1.2.3",
            "x".repeat(63).as_str(),
        ] {
            assert_eq!(BUCKET_NAME.problem(good), None, "{good}");
        }
        for bad in [
            "ab",
            "Bucket",
            "my_bucket",
            "-bucket",
            "bucket.",
            "my..bucket",
            "192.168.5.4",
            "999.1.1.1",
            "xn--bucket",
            "sthree-bucket",
            "amzn-s3-demo-bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
            "bucket.mrap",
            "bucket--x-s3",
            "bucket--table-s3",
            "x".repeat(64).as_str(),
        ] {
            assert!(BUCKET_NAME.problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn tag_keys_and_values_take_any_script_but_not_aws_prefixes() {
        assert_eq!(TAG_KEY.problem("Équipe 1/ops:x=y+z@a.b-c_d"), None);
        assert_eq!(TAG_VALUE.problem(""), None);
        assert_eq!(TAG_VALUE.problem("日本語 テキスト"), None);
        assert!(TAG_KEY.problem("aws:cost").is_some());
        assert!(TAG_KEY.problem("AWS:cost").is_some());
        assert!(TAG_KEY.problem("").is_some());
        assert!(TAG_KEY.problem("a*b").is_some());
        assert!(TAG_VALUE.problem("a\tb").is_some());
        assert!(TAG_VALUE.problem(&"v".repeat(257)).is_some());
    }

    #[test]
    fn condition_operators_with_qualifiers() {
        for good in [
            "StringEquals",
            "StringLikeIfExists",
            "ForAllValues:StringEquals",
            "ForAnyValue:ArnLikeIfExists",
            "Null",
        ] {
            assert!(condition_operator(good), "{good}");
        }
        for bad in [
            "StringEqual",
            "NullIfExists",
            "ForAll:StringEquals",
            "stringequals",
        ] {
            assert!(!condition_operator(bad), "{bad}");
        }
    }

    #[test]
    fn arns_and_urls_of_queues() {
        let arn = "arn:aws:sqs:eu-west-1:123456789012:jobs.fifo";
        assert_eq!(QUEUE_ARN.problem(arn), None);
        assert!(
            QUEUE_ARN
                .problem("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs")
                .is_some()
        );
        assert_eq!(
            QUEUE_URL.problem("http://127.0.0.1:4566/000000000000/jobs"),
            None
        );
        assert!(QUEUE_URL.problem(arn).is_some());
    }
}
