//! `lambda.function`: a function whose code is a directory packaged as a deterministic zip.

use crate::schema::{Default, Schema, Type, attr};

pub const RUNTIMES: &[&str] = &[
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "java11",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.3",
    "provided.al2",
    "provided.al2023",
];

pub const SCHEMA: Schema = Schema {
    type_name: "lambda.function",
    description: "a Lambda function",
    attributes: &[
        attr("name", Type::String(Some(check_function_name)))
            .required()
            .force_new(),
        attr("runtime", Type::Enum(RUNTIMES)).required(),
        attr("handler", Type::String(None)).required(),
        attr("role", Type::String(None)).required(),
        attr("code", Type::Directory).required(),
        attr("description", Type::String(None)),
        attr("environment", Type::Map(&Type::String(None))),
        attr("timeout", Type::Int { min: 1, max: 900 }).default(Default::Int(3)),
        attr(
            "memory_size",
            Type::Int {
                min: 128,
                max: 10_240,
            },
        )
        .default(Default::Int(128)),
        attr("architecture", Type::Enum(&["x86_64", "arm64"])).default(Default::Str("x86_64")),
        attr("tags", Type::Map(&Type::String(None))),
    ],
    computed: &["arn", "invoke_arn", "code_sha256", "version"],
};

fn check_function_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` is not a valid function name: 1 to 64 letters, digits, hyphens or underscores"
        ));
    }
    Ok(())
}
