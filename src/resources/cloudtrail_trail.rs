//! `cloudtrail.trail`: a trail writing to an S3 bucket, with S3 data event selectors and
//! logging switched on.

use crate::schema::{Attribute, Default, Schema, Type, attr};

pub const DATA_RESOURCE: &[Attribute] = &[
    attr(
        "type",
        Type::Enum(&[
            "AWS::S3::Object",
            "AWS::Lambda::Function",
            "AWS::DynamoDB::Table",
        ]),
    )
    .required(),
    attr(
        "values",
        Type::List {
            item: &Type::String(None),
            min: 1,
        },
    )
    .required(),
];

pub const EVENT_SELECTOR: &[Attribute] = &[
    attr(
        "read_write_type",
        Type::Enum(&["All", "ReadOnly", "WriteOnly"]),
    )
    .default(Default::Str("All")),
    attr("include_management_events", Type::Bool).default(Default::Bool(true)),
    attr(
        "data_resources",
        Type::List {
            item: &Type::Object(DATA_RESOURCE),
            min: 0,
        },
    ),
];

pub const SCHEMA: Schema = Schema {
    type_name: "cloudtrail.trail",
    description: "a CloudTrail trail",
    attributes: &[
        attr("name", Type::String(Some(check_trail_name)))
            .required()
            .force_new(),
        attr("s3_bucket_name", Type::String(None)).required(),
        attr("s3_key_prefix", Type::String(None)),
        attr("include_global_service_events", Type::Bool).default(Default::Bool(true)),
        attr("is_multi_region_trail", Type::Bool).default(Default::Bool(false)),
        attr("enable_log_file_validation", Type::Bool).default(Default::Bool(false)),
        attr("enable_logging", Type::Bool).default(Default::Bool(true)),
        attr(
            "event_selectors",
            Type::List {
                item: &Type::Object(EVENT_SELECTOR),
                min: 0,
            },
        ),
        attr("tags", Type::Map(&Type::String(None))),
    ],
    computed: &["arn", "home_region"],
};

fn check_trail_name(name: &str) -> Result<(), String> {
    let ok = (3..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(format!(
            "`{name}` is not a valid trail name: 3 to 128 letters, digits, `.`, `_` or `-`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}
