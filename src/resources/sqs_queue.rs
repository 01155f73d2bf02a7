//! `sqs.queue`: a standard or FIFO queue, its attributes, redrive policy and tags.

use crate::schema::{Attribute, Default, Schema, Type, attr};

pub const REDRIVE_POLICY: &[Attribute] = &[
    attr("dead_letter_queue", Type::String(None)).required(),
    attr("max_receive_count", Type::Int { min: 1, max: 1000 }).required(),
];

pub const SCHEMA: Schema = Schema {
    type_name: "sqs.queue",
    description: "an SQS queue",
    attributes: &[
        attr("name", Type::String(Some(check_queue_name)))
            .required()
            .force_new(),
        attr("fifo_queue", Type::Bool)
            .force_new()
            .default(Default::Bool(false)),
        attr("content_based_deduplication", Type::Bool),
        attr("delay_seconds", Type::Int { min: 0, max: 900 }).default(Default::Int(0)),
        attr(
            "maximum_message_size",
            Type::Int {
                min: 1024,
                max: 1_048_576,
            },
        )
        .default(Default::Int(262_144)),
        attr(
            "message_retention_seconds",
            Type::Int {
                min: 60,
                max: 1_209_600,
            },
        )
        .default(Default::Int(345_600)),
        attr("receive_wait_time_seconds", Type::Int { min: 0, max: 20 }).default(Default::Int(0)),
        attr(
            "visibility_timeout_seconds",
            Type::Int {
                min: 0,
                max: 43_200,
            },
        )
        .default(Default::Int(30)),
        attr("redrive_policy", Type::Object(REDRIVE_POLICY)),
        attr("sqs_managed_sse_enabled", Type::Bool),
        attr("kms_master_key_id", Type::String(None)),
        attr("tags", Type::Map(&Type::String(None))),
    ],
    computed: &["arn", "url"],
};

/// SQS queue names: 1-80 characters of letters, digits, hyphens and underscores; a FIFO
/// queue's name ends in `.fifo`.
pub fn check_queue_name(name: &str) -> Result<(), String> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if name.is_empty() || name.len() > 80 {
        return Err(format!(
            "`{name}` is not a valid queue name: it must be 1 to 80 characters long"
        ));
    }
    if !base
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` is not a valid queue name: only letters, digits, hyphens and underscores are allowed"
        ));
    }
    Ok(())
}
