//! `apigateway.rest_api`: a REST API in the LambdaRestApi shape (ANY on `/` and on
//! `/{proxy+}`, Lambda proxy integration), its deployment and one stage.

use crate::schema::{Default, Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "apigateway.rest_api",
    description: "an API Gateway REST API proxying every request to a Lambda function",
    attributes: &[
        attr("name", Type::String(None)).required(),
        attr("description", Type::String(None)),
        attr("lambda_invoke_arn", Type::String(None)).required(),
        attr("stage_name", Type::String(Some(check_stage_name))).default(Default::Str("prod")),
        attr(
            "endpoint_type",
            Type::Enum(&["REGIONAL", "EDGE", "PRIVATE"]),
        )
        .default(Default::Str("REGIONAL")),
        attr(
            "binary_media_types",
            Type::List {
                item: &Type::String(None),
                min: 0,
            },
        ),
        attr("tags", Type::Map(&Type::String(None))),
    ],
    computed: &[
        "id",
        "root_resource_id",
        "execution_arn",
        "url",
        "deployment_id",
    ],
};

fn check_stage_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` is not a valid stage name: letters, digits, hyphens or underscores"
        ));
    }
    Ok(())
}
