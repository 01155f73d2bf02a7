//! `lambda.permission`: one statement in a function's resource policy. Every attribute
//! forces a replacement: a statement cannot be edited, only removed and added again.

use crate::schema::{Default, Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "lambda.permission",
    description: "a statement in a Lambda function's resource policy",
    attributes: &[
        attr("function_name", Type::String(None))
            .required()
            .force_new(),
        attr("statement_id", Type::String(None)).force_new(),
        attr("action", Type::String(None))
            .force_new()
            .default(Default::Str("lambda:InvokeFunction")),
        attr("principal", Type::String(None)).required().force_new(),
        attr("source_arn", Type::String(None)).force_new(),
        attr("source_account", Type::String(None)).force_new(),
    ],
    computed: &[],
};
