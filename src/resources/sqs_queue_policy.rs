//! `sqs.queue_policy`: the access policy of one queue (its `Policy` attribute).

use crate::schema::{Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "sqs.queue_policy",
    description: "the access policy of an SQS queue",
    attributes: &[
        attr("queue_url", Type::String(None)).required().force_new(),
        attr("policy", Type::Policy).required(),
    ],
    computed: &[],
};
