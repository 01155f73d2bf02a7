//! `lambda.function`: a function whose code is a directory packaged as a deterministic zip.

use crate::schema::rules::{ROLE_ARN, TAGS};
use crate::schema::{Default, Identity, Map, Path, Problem, Schema, Text, Type, attr};

/// The runtimes Lambda creates new functions with: the managed runtimes not deprecated
/// (Lambda's runtimes page, checked December 2026). CreateFunction refuses a deprecated
/// runtime (python3.9 to 3.11, nodejs18.x and 20.x, java8.al2 to java17, dotnet8,
/// ruby3.2, provided.al2) soon after its deprecation date.
pub const RUNTIMES: &[&str] = &[
    "python3.12",
    "python3.13",
    "python3.14",
    "python3.15",
    "nodejs22.x",
    "nodejs24.x",
    "nodejs26.x",
    "java21",
    "java25",
    "dotnet10",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided.al2023",
];

/// A function's name (not its ARN).
pub const FUNCTION_NAME: Text =
    Text::len(1, 64).pattern(r"^[A-Za-z0-9_-]+$", "letters, digits, `-` and `_`");

/// What Lambda sets itself in every function's environment; it refuses a function
/// configuration that sets them.
pub const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Environment variable names: a letter, then letters, digits and `_` (two characters at
/// least), and none that Lambda reserves.
const VARIABLE_NAME: Text = Text::ANY
    .pattern(
        r"^[A-Za-z][A-Za-z0-9_]+$",
        "a letter, then letters, digits and `_` (2 characters at least)",
    )
    .check(not_reserved);

fn not_reserved(name: &str) -> Result<(), String> {
    if RESERVED_VARIABLES.contains(&name) {
        Err(format!("`{name}` is reserved: Lambda sets it itself"))
    } else {
        Ok(())
    }
}

/// The most a function's environment may hold, in bytes of the variables written as one
/// JSON object (what Lambda measures).
const ENVIRONMENT_SIZE: usize = 4096;

/// What the reference page (docs/resources/lambda.function.md) says beyond the attribute table.
const NOTES: &str = "\
The `code` directory is packaged
as a deterministic zip (entries sorted, fixed timestamps and modes, `__pycache__` and
`*.pyc` left out), so the same folder always has the same `code_sha256`, and a code edit
shows in the plan as `~ code_sha256 = \"old\" -> \"new\"`. Create retries while a new role is
not yet assumable; after every create or update strata waits until the function is
`Active` and its last update `Successful`, polling 250 ms after the first look and then
less often, up to every 2 s (Lambda's control plane allows about 15 calls a second). If the directory no longer has the
`code_sha256` the plan showed (it was edited after the plan was made), the create or
update stops with an error instead of uploading code no one reviewed: make a new plan.

Runtimes: the runtimes Lambda still creates functions with (its runtimes page, December 2026).
Deprecated ones (`python3.9`–`python3.11`, `nodejs18.x`, `nodejs20.x`, `java8.al2`,
`java11`, `java17`, `dotnet8`, `ruby3.2`, `provided.al2`) are refused: CreateFunction
refuses them soon after their deprecation date.

Reserved environment variables (Lambda sets them itself): `_HANDLER`, `_X_AMZN_TRACE_ID`, `AWS_DEFAULT_REGION`, `AWS_REGION`,
`AWS_EXECUTION_ENV`, `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
`AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_INITIALIZATION_TYPE`,
`AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_ACCESS_KEY`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_LAMBDA_RUNTIME_API`, `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`. The 4 KB are measured
as Lambda measures them, on the variables written as one JSON object.

An update changes only what
the stack sets: a `description` or `environment` left out is left as it is.";

pub const SCHEMA: Schema = Schema {
    type_name: "lambda.function",
    description: "a Lambda function",
    import_id: "the function name",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(FUNCTION_NAME))
            .required()
            .force_new(),
        attr("runtime", Type::Enum(RUNTIMES)).required(),
        attr(
            "handler",
            Type::String(Text::len(1, 128).pattern(
                r"^\S+$",
                "a handler without white space, such as `index.handler`",
            )),
        )
        .required(),
        attr("role", Type::String(ROLE_ARN)).required(),
        attr("code", Type::Directory).required().local(),
        attr("description", Type::String(Text::len(0, 256))),
        attr(
            "environment",
            Type::Map(Map {
                keys: VARIABLE_NAME,
                values: &Type::String(Text::ANY),
                max: usize::MAX,
            }),
        ),
        attr("timeout", Type::Int { min: 1, max: 900 })
            .default(Default::Int(3))
            .keep_live(),
        attr(
            "memory_size",
            Type::Int {
                min: 128,
                max: 10_240,
            },
        )
        .default(Default::Int(128))
        .keep_live(),
        attr("architecture", Type::Enum(&["x86_64", "arm64"]))
            .default(Default::Str("x86_64"))
            .keep_live(),
        attr("tags", TAGS),
    ],
    computed: &["arn", "invoke_arn", "code_sha256", "version"],
    examples: &[
        (
            "arn",
            "arn:aws:lambda:us-east-1:123456789012:function:function",
        ),
        (
            "invoke_arn",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:function/invocations",
        ),
        (
            "code_sha256",
            "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
        ),
        ("version", "$LATEST"),
    ],
    identity: Identity::of(&["name"]),
    check: Some(check_function),
};

fn check_function(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(environment) = attrs.get("environment").filter(|e| e.is_known()) {
        let size = environment.to_json().to_string().len();
        if size > ENVIRONMENT_SIZE {
            out.push(
                Problem::new(
                    Path::attr("environment"),
                    "the function's environment is too large",
                    format!("{size} bytes as JSON: Lambda allows {ENVIRONMENT_SIZE}"),
                )
                .help("keep large values in S3 or a parameter store, and pass their names"),
            );
        }
    }
    out
}

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use indexmap::IndexMap;

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::package::{Package, package_dir};
use super::support::{
    Gone, changed, find_by_name, not_ours, opt_i64, opt_str, own_lost_create, req_str, sync_tags,
    tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::retry::{Backoff, retry_send, wait_until};
use crate::aws::{AwsError, Clients, ErrorKind, sdk};
use crate::value::{Attrs, Value};

pub struct LambdaFunction;

/// IAM is eventually consistent: a role created a moment ago may not be assumable yet (for
/// a function with environment variables, Lambda says so through the KMS grant).
fn role_not_ready(e: &AwsError) -> bool {
    e.message_contains("cannot be assumed by Lambda")
        || e.message_contains("role defined for the function")
        || e.message_contains("unable to configure access to your environment variables")
}

/// CreateFunction's answer for a name in use (ResourceConflictException also means "busy").
fn already_exists(e: &AwsError) -> bool {
    e.code_is(&["ResourceConflictException"]) && e.message_contains("already exist")
}

/// Another update still in progress on the function.
fn busy(e: &AwsError) -> bool {
    e.code_is(&["ResourceConflictException"])
}

/// Whether a function of that name exists.
async fn function_exists(aws: &Clients, name: &str) -> Result<bool, AwsError> {
    let found = aws
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(sdk("GetFunction"))
        .or_gone()?;
    Ok(found.is_some())
}

fn package(desired: &Attrs) -> Result<Package, AwsError> {
    let dir = req_str(desired, "code")?;
    package_dir(std::path::Path::new(dir))
        .map_err(|e| AwsError::new("package", format!("cannot package {dir}: {e}")))
}

/// The code to upload, which must be the code the plan showed: a directory edited after the
/// plan was made would otherwise deploy code no one reviewed.
fn package_as_planned(desired: &Attrs) -> Result<Package, AwsError> {
    let code = package(desired)?;
    match opt_str(desired, "code_sha256") {
        Some(planned) if planned != code.sha256 => Err(AwsError::new(
            "package",
            format!(
                "the code in {} changed since the plan was made (planned sha256 {planned}, now {}); make a new plan",
                req_str(desired, "code")?,
                code.sha256
            ),
        )),
        _ => Ok(code),
    }
}

fn architecture(desired: &Attrs) -> Architecture {
    Architecture::from(opt_str(desired, "architecture").unwrap_or("x86_64"))
}

fn environment(desired: &Attrs) -> Environment {
    let vars: std::collections::HashMap<String, String> = desired
        .get("environment")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Environment::builder().set_variables(Some(vars)).build()
}

/// How a function's state is polled while it settles: a quarter second after the first
/// look, doubling to every 2 s, for up to five minutes. Lambda's control plane allows about
/// 15 calls a second per account (GetFunctionConfiguration among them), and several
/// functions settling at once must leave room for the rest of the apply; every poll also
/// waits its turn at the Lambda limiter.
pub const READY_POLL: Backoff = Backoff {
    first: Duration::from_millis(250),
    max: Duration::from_secs(2),
    budget: Duration::from_secs(300),
};

/// Waits until the function is Active and its last update Successful (or says why not).
async fn wait_ready(aws: &Clients, name: &str) -> Result<(), AwsError> {
    let ready = wait_until(READY_POLL, || async {
        let out = aws
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(sdk("GetFunctionConfiguration"))?;
        if out.state() == Some(&State::Failed)
            || out.last_update_status() == Some(&LastUpdateStatus::Failed)
        {
            let reason = out
                .last_update_status_reason()
                .or(out.state_reason())
                .unwrap_or("no reason given");
            return Err(AwsError::new(
                "CreateFunction",
                format!("function `{name}` failed to become ready: {reason}"),
            ));
        }
        let active = out.state().is_none_or(|s| *s == State::Active);
        let updated = out
            .last_update_status()
            .is_none_or(|s| *s == LastUpdateStatus::Successful);
        Ok((active && updated).then_some(()))
    })
    .await?;
    ready.ok_or_else(|| {
        AwsError::new(
            "GetFunctionConfiguration",
            format!("function `{name}` did not become ready in 5 minutes"),
        )
    })
}

/// The tags in GetFunction's answer. Lambda sends them only to a caller allowed
/// `lambda:ListTags`, and otherwise a `TagsError` instead: that is an error, never "no
/// tags" (which would show as drift on every plan, and re-tag on every apply).
fn tags_of(out: &GetFunctionOutput) -> Result<Value, AwsError> {
    if let Some(error) = out.tags_error() {
        return Err(AwsError {
            operation: "GetFunction",
            code: Some(error.error_code().to_string()),
            message: format!(
                "Lambda answered without the function's tags ({}: {}); reading them needs lambda:ListTags on the function",
                error.error_code(),
                error.message()
            ),
            status: None,
            kind: ErrorKind::Service,
        });
    }
    let tag_map = out.tags().cloned().unwrap_or_default();
    Ok(tags_value(
        tag_map.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`.
pub fn function_arn(at: &Place, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    arn::function(&at.partition, &at.region, &at.account, name)
}

#[async_trait]
impl Resource for LambdaFunction {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_function = [function_arn(at, &name_or_any(desired, "name"))];
        // GetFunction answers the function's tags only to a caller allowed lambda:ListTags
        // (without it, a TagsError instead: `tags_of`).
        let mut out = vec![
            allow(
                Step::Read,
                &["lambda:GetFunction", "lambda:ListTags"],
                &on_function,
            ),
            allow(
                Step::Write,
                &[
                    "lambda:CreateFunction",
                    "lambda:GetFunction",
                    "lambda:ListTags",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                ],
                &on_function,
            ),
            allow(Step::Delete, &["lambda:DeleteFunction"], &on_function),
        ];
        // Creating or updating the function hands it its role. The policy keeps this
        // only for roles the stack creates.
        if let Some(Value::Str(role)) = desired.get("role") {
            let mut pass = allow(Step::Write, &["iam:PassRole"], std::slice::from_ref(role));
            pass.condition = Some(serde_json::json!({
                "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" }
            }));
            out.push(pass);
        }
        out
    }

    fn named_attribute(&self, desired: &Attrs, attribute: &str, at: &Place) -> Value {
        let Some(Value::Str(name)) = desired.get("name") else {
            return Value::Unknown;
        };
        match attribute {
            "arn" => Value::Str(function_arn(at, name)),
            "invoke_arn" => Value::Str(arn::lambda_invoke(
                &at.partition,
                &at.region,
                &function_arn(at, name),
            )),
            _ => Value::Unknown,
        }
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        find_by_name(self, aws, desired).await
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("name".to_string(), Value::Str(id.to_string()))])
    }

    /// GetFunction takes the function's ARN or partial ARN too: the id is its name.
    fn id_from_read(&self, live: &Attrs) -> Option<String> {
        live.get("name").and_then(Value::as_str).map(str::to_string)
    }

    /// The code hash is known before apply: a code change shows as `code_sha256`.
    fn prepare(&self, desired: &mut Attrs) {
        if let Ok(package) = package(desired) {
            desired.insert("code_sha256".into(), Value::Str(package.sha256));
        }
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let Some(out) = aws
            .lambda
            .get_function()
            .function_name(id)
            .send()
            .await
            .map_err(sdk("GetFunction"))
            .or_gone()?
        else {
            return Ok(None);
        };
        let Some(c) = out.configuration() else {
            return Ok(None);
        };
        let partition = aws.partition().await?;
        let mut attrs = Attrs::new();
        let mut put = |k: &str, v: Value| {
            attrs.insert(k.to_string(), v);
        };
        let arn = c.function_arn().unwrap_or_default().to_string();
        put(
            "name",
            Value::Str(c.function_name().unwrap_or(id).to_string()),
        );
        if let Some(r) = c.runtime() {
            put("runtime", Value::Str(r.as_str().to_string()));
        }
        put(
            "handler",
            Value::Str(c.handler().unwrap_or_default().to_string()),
        );
        put("role", Value::Str(c.role().unwrap_or_default().to_string()));
        if let Some(d) = c.description().filter(|d| !d.is_empty()) {
            put("description", Value::Str(d.to_string()));
        }
        let env: IndexMap<String, Value> = c
            .environment()
            .and_then(|e| e.variables())
            .map(|v| {
                v.iter()
                    .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        put("environment", Value::Map(env));
        put("timeout", Value::Int(c.timeout().unwrap_or(3).into()));
        put(
            "memory_size",
            Value::Int(c.memory_size().unwrap_or(128).into()),
        );
        let arch = c
            .architectures()
            .first()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| "x86_64".into());
        put("architecture", Value::Str(arch));
        put("tags", tags_of(&out)?);
        put(
            "code_sha256",
            Value::Str(c.code_sha256().unwrap_or_default().to_string()),
        );
        put(
            "version",
            Value::Str(c.version().unwrap_or("$LATEST").to_string()),
        );
        put(
            "invoke_arn",
            Value::Str(arn::lambda_invoke(partition, &aws.region, &arn)),
        );
        put("arn", Value::Str(arn));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let name = req_str(desired, "name")?;
        // CreateFunction answers ResourceConflictException "already exist" for a name in
        // use, and also to the SDK's own retry of a create whose reply was lost. So
        // existence is asked first: a function there now is not ours. Between this
        // GetFunction and the CreateFunction, only a caller with this account's credentials
        // creating the same name at the same moment could slip in: that is two deploys of
        // one stack from two states racing, which no check here can order, and the window
        // is one round trip. So an "already exists" after a "not found" is taken as our own
        // create whose reply was lost.
        if function_exists(aws, name).await? {
            let account = aws.account_id().await?;
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}`"),
                &format!("in account {account}, {}", aws.region),
                name,
            ));
        }
        let blob = Blob::new(package_as_planned(desired)?.bytes);
        let tag_map: std::collections::HashMap<String, String> =
            tags(desired).into_iter().collect();
        let made = retry_send(
            Backoff::PROPAGATION,
            role_not_ready,
            "CreateFunction",
            || {
                aws.lambda
                    .create_function()
                    .function_name(name)
                    .runtime(Runtime::from(
                        opt_str(desired, "runtime").unwrap_or_default(),
                    ))
                    .handler(opt_str(desired, "handler").unwrap_or_default())
                    .role(opt_str(desired, "role").unwrap_or_default())
                    .code(FunctionCode::builder().zip_file(blob.clone()).build())
                    .set_description(opt_str(desired, "description").map(str::to_string))
                    .set_timeout(opt_i64(desired, "timeout").map(|t| t as i32))
                    .set_memory_size(opt_i64(desired, "memory_size").map(|m| m as i32))
                    .architectures(architecture(desired))
                    .environment(environment(desired))
                    .set_tags((!tag_map.is_empty()).then(|| tag_map.clone()))
                    .send()
            },
        )
        .await;
        match made {
            Ok(_) => {}
            Err(e) if already_exists(&e) => {
                let what = format!("function `{name}`");
                own_lost_create("CreateFunction", &what, || async {
                    Ok(function_exists(aws, name).await?.then_some(()))
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
        created(name);
        wait_ready(aws, name).await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let lambda = &aws.lambda;
        // The architecture is set with the code: one UpdateFunctionCode carries both. Left
        // out of the stack, it stays what it is.
        let code_changed = desired.get("code_sha256") != live.get("code_sha256");
        if code_changed || changed(&SCHEMA, "architecture", desired, live) {
            let blob = Blob::new(package_as_planned(desired)?.bytes);
            let kept = if desired.contains_key("architecture") {
                desired
            } else {
                live
            };
            retry_send(Backoff::CONSISTENCY, busy, "UpdateFunctionCode", || {
                lambda
                    .update_function_code()
                    .function_name(id)
                    .zip_file(blob.clone())
                    .architectures(architecture(kept))
                    .send()
            })
            .await?;
            wait_ready(aws, id).await?;
        }
        let config = [
            "runtime",
            "handler",
            "role",
            "description",
            "environment",
            "timeout",
            "memory_size",
        ];
        if config.iter().any(|k| changed(&SCHEMA, k, desired, live)) {
            let eventual = |e: &AwsError| busy(e) || role_not_ready(e);
            retry_send(
                Backoff::PROPAGATION,
                eventual,
                "UpdateFunctionConfiguration",
                || {
                    lambda
                        .update_function_configuration()
                        .function_name(id)
                        .runtime(Runtime::from(
                            opt_str(desired, "runtime").unwrap_or_default(),
                        ))
                        .handler(opt_str(desired, "handler").unwrap_or_default())
                        .role(opt_str(desired, "role").unwrap_or_default())
                        // What the stack leaves out is left as it is.
                        .set_description(opt_str(desired, "description").map(str::to_string))
                        .set_timeout(opt_i64(desired, "timeout").map(|t| t as i32))
                        .set_memory_size(opt_i64(desired, "memory_size").map(|m| m as i32))
                        .set_environment(
                            desired
                                .contains_key("environment")
                                .then(|| environment(desired)),
                        )
                        .send()
                },
            )
            .await?;
            wait_ready(aws, id).await?;
        }
        let arn = opt_str(live, "arn").unwrap_or(id);
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = lambda
                    .untag_resource()
                    .resource(arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |tags| async move {
                let tags = Some(tags.into_iter().collect());
                let request = lambda.tag_resource().resource(arn).set_tags(tags);
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        aws.lambda
            .delete_function()
            .function_name(id)
            .send()
            .await
            .map_err(sdk("DeleteFunction"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::types::TagsError;

    /// Issue 22: a settling function was polled every 50 ms for two seconds (40 calls of
    /// Lambda's ~15 per second). The polls of a function that takes 6 s to settle:
    #[tokio::test(start_paused = true)]
    async fn a_settling_function_is_polled_at_a_quarter_second_growing_to_two() {
        let start = tokio::time::Instant::now();
        let polls = std::sync::Mutex::new(Vec::new());
        let ready: Option<()> = wait_until(READY_POLL, || {
            polls.lock().unwrap().push(start.elapsed().as_millis());
            let settled = start.elapsed() >= Duration::from_secs(6);
            async move { Ok(settled.then_some(())) }
        })
        .await
        .unwrap();
        assert_eq!(ready, Some(()));
        assert_eq!(
            polls.into_inner().unwrap(),
            [0, 250, 750, 1750, 3750, 5750, 7750]
        );
    }

    #[test]
    fn a_tags_error_in_get_function_is_an_error_not_no_tags() {
        let denied = GetFunctionOutput::builder()
            .tags_error(
                TagsError::builder()
                    .error_code("AccessDeniedException")
                    .message("not authorized to perform: lambda:ListTags")
                    .build()
                    .unwrap(),
            )
            .build();
        let error = tags_of(&denied).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(error.kind, ErrorKind::Service);
        assert_eq!(
            error.message,
            "Lambda answered without the function's tags (AccessDeniedException: not authorized to perform: lambda:ListTags); reading them needs lambda:ListTags on the function"
        );

        let tagged = GetFunctionOutput::builder()
            .tags("stage", "dev")
            .tags("app", "x")
            .build();
        assert_eq!(
            tags_of(&tagged).unwrap(),
            tags_value([("app", "x"), ("stage", "dev")])
        );
        let untagged = GetFunctionOutput::builder().build();
        assert_eq!(tags_of(&untagged).unwrap(), tags_value([]));
    }

    #[test]
    fn code_edited_after_the_plan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.py"),
            "def handler(e, c):\n    return 1\n",
        )
        .unwrap();
        let path = dir.path().display().to_string();
        let mut desired = Attrs::new();
        desired.insert("code".into(), Value::Str(path.clone()));
        LambdaFunction.prepare(&mut desired);
        let planned = opt_str(&desired, "code_sha256").unwrap().to_string();
        assert_eq!(package_as_planned(&desired).unwrap().sha256, planned);

        std::fs::write(
            dir.path().join("index.py"),
            "def handler(e, c):\n    return 2\n",
        )
        .unwrap();
        let now = package(&desired).unwrap().sha256;
        assert_ne!(now, planned);
        let err = package_as_planned(&desired).err().expect("refused");
        assert_eq!(
            err.message,
            format!(
                "the code in {path} changed since the plan was made (planned sha256 {planned}, now {now}); make a new plan"
            )
        );
    }
}
