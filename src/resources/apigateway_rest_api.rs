//! `apigateway.rest_api`: a REST API in the LambdaRestApi shape (ANY on `/` and on
//! `/{proxy+}`, Lambda proxy integration), its deployment and one stage.

use crate::schema::rules::TAGS;
use crate::schema::{Default, Identity, Path, Problem, Schema, Text, Type, attr};

/// The URI API Gateway invokes a function by (the function's `invoke_arn`).
const INVOKE_ARN: Text = Text::len(1, 2048).pattern(
    r"^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?/invocations$",
    "a Lambda invoke ARN, `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations` (the function's `invoke_arn`, not its `arn`)",
);

/// What the reference page (docs/resources/apigateway.rest_api.md) says beyond the attribute table.
const NOTES: &str = "\
The LambdaRestApi shape: `ANY /` and `ANY /{proxy+}`, Lambda proxy integrations to
`lambda_invoke_arn`. A new deployment is made only when the model changes (the target
function); the stage moves to it, then the old deployment is deleted. `url` is
`https://{id}.execute-api.{region}.amazonaws.com/{stage}` on AWS and
`{endpoint}/_aws/execute-api/{id}/{stage}` with a custom endpoint.

A new API is `REGIONAL`, where AWS's own default is `EDGE`. Both `endpoint_type` and `binary_media_types` change in place (UpdateRestApi), so
the API keeps its id and URL; new binary media types take effect with a new deployment,
which strata makes. Binary media types are a set: their order does not matter.";

pub const SCHEMA: Schema = Schema {
    type_name: "apigateway.rest_api",
    description: "an API Gateway REST API proxying every request to a Lambda function",
    import_id: "the REST API id",
    notes: NOTES,
    attributes: &[
        attr("name", Type::String(Text::len(1, usize::MAX))).required(),
        attr("description", Type::String(Text::ANY)),
        attr("lambda_invoke_arn", Type::String(INVOKE_ARN)).required(),
        attr(
            "stage_name",
            Type::String(
                Text::len(1, 128).pattern(r"^[A-Za-z0-9_-]+$", "letters, digits, `-` and `_`"),
            ),
        )
        .default(Default::Str("prod")),
        attr(
            "endpoint_type",
            Type::Enum(&["REGIONAL", "EDGE", "PRIVATE"]),
        )
        .default(Default::Str("REGIONAL"))
        .keep_live(),
        attr(
            "binary_media_types",
            Type::List {
                item: &Type::String(Text::len(1, 256).pattern(
                    r"^[A-Za-z0-9!#$&^_.+*-]+/[A-Za-z0-9!#$&^_.+*-]+$",
                    "a media type such as `image/png`, or `*/*`",
                )),
                min: 0,
                max: usize::MAX,
                unique: true,
            },
        ),
        attr("tags", TAGS),
    ],
    computed: &[
        "id",
        "root_resource_id",
        "execution_arn",
        "url",
        "deployment_id",
    ],
    examples: &[
        ("id", "a1b2c3d4e5"),
        ("root_resource_id", "r00t1d"),
        (
            "execution_arn",
            "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5",
        ),
        (
            "url",
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod",
        ),
        ("deployment_id", "d3pl0y"),
    ],
    identity: Identity::NONE,
    check: Some(check_api),
};

/// A private API takes requests only through the VPC endpoints its resource policy
/// allows, and API Gateway refuses to deploy one without a policy: this type writes none.
fn check_api(attrs: &Attrs) -> Vec<Problem> {
    let mut out = Vec::new();
    if attrs.get("endpoint_type").and_then(|v| v.as_str()) == Some("PRIVATE") {
        out.push(
            Problem::new(
                Path::attr("endpoint_type"),
                "a PRIVATE API cannot be deployed without a resource policy",
                "apigateway.rest_api does not manage resource policies",
            )
            .help("use `REGIONAL` or `EDGE`"),
        );
    }
    out
}

use async_trait::async_trait;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation,
};

use aws_sdk_apigateway::types::Resource as ApiResource;

use super::iam::{Permission, Place, Step, allow};
use super::support::{
    Gone, changed, not_ours, opt_str, req_str, strings, sync_tags, tags, tags_value,
};
use super::{Created, Resource, arn};
use crate::aws::retry::{SDK_MAX_ATTEMPTS, within_quota};
use crate::aws::{AwsError, Clients, ErrorKind, sdk};
use crate::value::{Attrs, Value};
use std::time::Duration;

pub struct ApiGatewayRestApi;

const PROXY_PATH: &str = "/{proxy+}";

/// The REST API id in `given` (see [`ApiGatewayRestApi::lookup_id`]); `None` for an ARN or
/// URL of another region.
fn rest_api_id_of<'a>(given: &'a str, region: &str) -> Option<&'a str> {
    if let Some(parsed) = arn::parse(given) {
        let id = parsed.resource.strip_prefix("/restapis/")?;
        return (parsed.region == region).then(|| id.split('/').next().unwrap_or(id));
    }
    let Some((_, rest)) = given.split_once("://") else {
        return Some(given);
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some(path) = path.strip_prefix("_aws/execute-api/") {
        return path.split('/').next();
    }
    let mut labels = host.split('.');
    let id = labels.next()?;
    (labels.next() == Some("execute-api") && labels.next() == Some(region)).then_some(id)
}

fn stage_of(attrs: &Attrs) -> &str {
    opt_str(attrs, "stage_name").unwrap_or("prod")
}

fn patch(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// A JSON Pointer token (RFC 6901), as a patch path names a media type: `image/png` is
/// `image~1png`.
fn pointer_token(text: &str) -> String {
    text.replace('~', "~0").replace('/', "~1")
}

/// The binary media types of `attrs`, sorted: API Gateway keeps them as a set.
fn media_types(attrs: &Attrs) -> Vec<String> {
    let mut types = strings(attrs.get("binary_media_types"));
    types.sort();
    types.dedup();
    types
}

/// The UpdateRestApi operations that bring the endpoint type and the binary media types
/// from `live` to `desired`, in place: `replace /endpointConfiguration/types/{current}`
/// with the new type, `add` and `remove /binaryMediaTypes/{type}`. Neither needs a new
/// API (and a new URL); media types take effect with the next deployment.
fn endpoint_and_media_patches(
    live: &Attrs,
    desired: &Attrs,
) -> Result<Vec<PatchOperation>, AwsError> {
    let mut out = Vec::new();
    if changed(&SCHEMA, "endpoint_type", desired, live) {
        let from = req_str(live, "endpoint_type")?;
        out.push(patch(
            &format!("/endpointConfiguration/types/{from}"),
            req_str(desired, "endpoint_type")?,
        ));
    }
    if changed(&SCHEMA, "binary_media_types", desired, live) {
        let (have, want) = (media_types(live), media_types(desired));
        for (op, types, other) in [(Op::Remove, &have, &want), (Op::Add, &want, &have)] {
            for media_type in types.iter().filter(|t| !other.contains(t)) {
                out.push(
                    PatchOperation::builder()
                        .op(op.clone())
                        .path(format!("/binaryMediaTypes/{}", pointer_token(media_type)))
                        .build(),
                );
            }
        }
    }
    Ok(out)
}

/// Every resource (path) of an API, all pages; with `methods`, their methods and
/// integrations too.
async fn api_resources(
    aws: &Clients,
    api: &str,
    methods: bool,
) -> Result<Vec<ApiResource>, AwsError> {
    aws.apigateway
        .get_resources()
        .rest_api_id(api)
        .set_embed(methods.then(|| vec!["methods".to_string()]))
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(sdk("GetResources"))
}

impl ApiGatewayRestApi {
    /// ANY on `/` and on `/{proxy+}`, each a Lambda proxy integration to `invoke_arn`.
    /// PutMethod and PutIntegration overwrite, so this also repoints an existing API.
    async fn put_model(&self, aws: &Clients, api: &str, invoke_arn: &str) -> Result<(), AwsError> {
        let gw = &aws.apigateway;
        let resources = api_resources(aws, api, false).await?;
        let root = resources
            .iter()
            .find(|r| r.path() == Some("/"))
            .and_then(|r| r.id())
            .ok_or_else(|| {
                AwsError::new(
                    "GetResources",
                    format!("REST API {api} has no root resource"),
                )
            })?
            .to_string();
        let proxy = match resources
            .iter()
            .find(|r| r.path() == Some(PROXY_PATH))
            .and_then(|r| r.id())
        {
            Some(id) => id.to_string(),
            None => {
                let created = gw
                    .create_resource()
                    .rest_api_id(api)
                    .parent_id(&root)
                    .path_part("{proxy+}")
                    .send()
                    .await
                    .map_err(sdk("CreateResource"));
                match created {
                    Ok(resource) => resource.id().unwrap_or_default().to_string(),
                    // Our own create whose reply was lost, retried: the path is there now.
                    Err(e) if e.code_is(&["ConflictException"]) => api_resources(aws, api, false)
                        .await?
                        .iter()
                        .find(|r| r.path() == Some(PROXY_PATH))
                        .and_then(|r| r.id())
                        .map(str::to_string)
                        .ok_or(e)?,
                    Err(e) => return Err(e),
                }
            }
        };
        for resource in [&root, &proxy] {
            let has_method = resources
                .iter()
                .find(|r| r.id() == Some(resource.as_str()))
                .and_then(|r| r.resource_methods())
                .is_some_and(|m| m.contains_key("ANY"));
            if !has_method {
                let put = gw
                    .put_method()
                    .rest_api_id(api)
                    .resource_id(resource.as_str())
                    .http_method("ANY")
                    .authorization_type("NONE")
                    .send()
                    .await
                    .map_err(sdk("PutMethod"));
                match put {
                    // "Method already exists": our own PutMethod whose reply was lost.
                    Err(e) if !e.code_is(&["ConflictException"]) => return Err(e),
                    _ => {}
                }
            }
            gw.put_integration()
                .rest_api_id(api)
                .resource_id(resource.as_str())
                .http_method("ANY")
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(invoke_arn)
                .send()
                .await
                .map_err(sdk("PutIntegration"))?;
        }
        Ok(())
    }

    /// A new deployment of the current model; the stage moves to it, then the old
    /// deployment is removed.
    async fn deploy(
        &self,
        aws: &Clients,
        api: &str,
        stage: &str,
        old: Option<&str>,
    ) -> Result<(), AwsError> {
        let gw = &aws.apigateway;
        // A lost reply makes a second deployment; the stage points at one, and the API's
        // deletion takes both with it.
        let deployment = within_quota("CreateDeployment", || {
            gw.create_deployment()
                .rest_api_id(api)
                .description("strata")
                .send()
        })
        .await?;
        let deployment_id = deployment.id().unwrap_or_default();
        match gw
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
            .map_err(sdk("GetStage"))
        {
            Ok(_) => {
                gw.update_stage()
                    .rest_api_id(api)
                    .stage_name(stage)
                    .patch_operations(patch("/deploymentId", deployment_id))
                    .send()
                    .await
                    .map_err(sdk("UpdateStage"))?;
            }
            Err(e) if e.is_not_found() => {
                let created = gw
                    .create_stage()
                    .rest_api_id(api)
                    .stage_name(stage)
                    .deployment_id(deployment_id)
                    .send()
                    .await
                    .map_err(sdk("CreateStage"));
                match created {
                    Ok(_) => {}
                    // Our own CreateStage whose reply was lost, retried: point it at this
                    // deployment, as it already should.
                    Err(e) if e.code_is(&["ConflictException"]) => {
                        gw.update_stage()
                            .rest_api_id(api)
                            .stage_name(stage)
                            .patch_operations(patch("/deploymentId", deployment_id))
                            .send()
                            .await
                            .map_err(sdk("UpdateStage"))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        if let Some(old) = old.filter(|o| *o != deployment_id && !o.is_empty()) {
            within_quota("DeleteDeployment", || {
                gw.delete_deployment()
                    .rest_api_id(api)
                    .deployment_id(old)
                    .send()
            })
            .await
            .ok_if_gone()?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for ApiGatewayRestApi {
    fn permissions(&self, _desired: &Attrs, at: &Place) -> Vec<Permission> {
        // API Gateway authorizes HTTP verbs on paths; a REST API's id is only known once
        // it exists, so the scope is the REST APIs (and their tags) of the region.
        let apis = ["/restapis", "/restapis/*", "/tags/*"]
            .map(|path| arn::apigateway(&at.partition, &at.region, path));
        vec![
            allow(Step::Read, &["apigateway:GET"], &apis),
            allow(
                Step::Write,
                &[
                    "apigateway:GET",
                    "apigateway:POST",
                    "apigateway:PUT",
                    "apigateway:PATCH",
                    "apigateway:DELETE",
                ],
                &apis,
            ),
            allow(Step::Delete, &["apigateway:DELETE"], &apis),
        ]
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The API's id, its ARN (`arn:...:apigateway:REGION::/restapis/ID`) or its invoke URL
    /// (`https://ID.execute-api.REGION...`, or the emulator's `.../_aws/execute-api/ID/...`).
    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(rest_api_id_of(given, &aws.region).map(str::to_string))
    }

    /// REST APIs have generated ids: the one with the wanted name (the newest if several).
    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let name = req_str(desired, "name")?;
        let apis: Vec<_> = aws
            .apigateway
            .get_rest_apis()
            .limit(500)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk("GetRestApis"))?;
        let newest = apis
            .iter()
            .filter(|a| a.name() == Some(name))
            .max_by_key(|a| a.created_date().map(|d| d.secs()))
            .and_then(|a| a.id());
        Ok(newest.map(str::to_string))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        Attrs::from([("id".to_string(), Value::Str(id.to_string()))])
    }

    /// Binary media types are a set: read returns them sorted, so the stack's are too.
    fn prepare(&self, desired: &mut Attrs) {
        if desired.contains_key("binary_media_types") {
            let sorted = media_types(desired).into_iter().map(Value::Str).collect();
            desired.insert("binary_media_types".into(), Value::List(sorted));
        }
    }

    fn id_from_read(&self, live: &Attrs) -> Option<String> {
        live.get("id").and_then(Value::as_str).map(str::to_string)
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let gw = &aws.apigateway;
        // Every read at once: one round trip. When the API is gone, GetRestApi says so and
        // the other answers (404s too) are not looked at.
        let stage_name = stage_of(prior).to_string();
        let (api, resources, stage, identity) = tokio::join!(
            gw.get_rest_api().rest_api_id(id).send(),
            api_resources(aws, id, true),
            gw.get_stage()
                .rest_api_id(id)
                .stage_name(&stage_name)
                .send(),
            aws.identity(),
        );
        let Some(api) = api.map_err(sdk("GetRestApi")).or_gone()? else {
            return Ok(None);
        };
        let resources = resources?;
        let mut attrs = Attrs::new();
        attrs.insert("id".into(), Value::Str(id.to_string()));
        attrs.insert(
            "name".into(),
            Value::Str(api.name().unwrap_or_default().to_string()),
        );
        if let Some(d) = api.description().filter(|d| !d.is_empty()) {
            attrs.insert("description".into(), Value::Str(d.to_string()));
        }
        if let Some(t) = api.endpoint_configuration().and_then(|e| e.types().first()) {
            attrs.insert("endpoint_type".into(), Value::Str(t.as_str().to_string()));
        }
        let mut binary: Vec<&String> = api.binary_media_types().iter().collect();
        binary.sort();
        attrs.insert(
            "binary_media_types".into(),
            Value::List(binary.into_iter().map(|t| Value::Str(t.clone())).collect()),
        );
        let tag_map = api.tags().cloned().unwrap_or_default();
        attrs.insert(
            "tags".into(),
            tags_value(tag_map.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        if let Some(root) = api.root_resource_id() {
            attrs.insert("root_resource_id".into(), Value::Str(root.to_string()));
        }
        // The integration target, when both halves of the LambdaRestApi shape point at the
        // same function; anything else is drift and shows as a change.
        let target = |path: &str| {
            resources
                .iter()
                .find(|r| r.path() == Some(path))
                .and_then(|r| r.resource_methods())
                .and_then(|m| m.get("ANY"))
                .and_then(|m| m.method_integration())
                .filter(|i| i.r#type() == Some(&IntegrationType::AwsProxy))
                .and_then(|i| i.uri())
                .map(str::to_string)
        };
        let invoke_arn = match (target("/"), target(PROXY_PATH)) {
            (Some(a), Some(b)) if a == b => a,
            _ => String::new(),
        };
        attrs.insert("lambda_invoke_arn".into(), Value::Str(invoke_arn));
        match stage.map_err(sdk("GetStage")) {
            Ok(stage) => {
                attrs.insert("stage_name".into(), Value::Str(stage_name.clone()));
                attrs.insert(
                    "deployment_id".into(),
                    Value::Str(stage.deployment_id().unwrap_or_default().to_string()),
                );
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let identity = identity?;
        let partition = &identity.partition;
        attrs.insert(
            "execution_arn".into(),
            Value::Str(arn::execute_api(
                partition,
                &aws.region,
                &identity.account_id,
                id,
            )),
        );
        let url = match &aws.endpoint {
            Some(endpoint) => format!(
                "{}/_aws/execute-api/{id}/{stage_name}",
                endpoint.trim_end_matches('/')
            ),
            None => arn::rest_api_url(partition, &aws.region, id, &stage_name),
        };
        attrs.insert("url".into(), Value::Str(url));
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let binary = media_types(desired);
        let tag_map: std::collections::HashMap<String, String> =
            tags(desired).into_iter().collect();
        // REST API names are not unique, so CreateRestApi would make a second API beside
        // an existing one: that is someone else's, or one a lost state forgot, and either
        // way not this state's to shadow. (Two creates racing make two APIs and take over
        // nothing.)
        let name = req_str(desired, "name")?;
        if let Some(existing) = self.find(aws, desired).await? {
            let account = aws.account_id().await?;
            return Err(not_ours(
                &SCHEMA,
                &format!("`{name}` (id {existing})"),
                &format!("in account {account}, {}", aws.region),
                &existing,
            ));
        }
        // CreateRestApi is not idempotent: a retry after a reply that was lost makes a second
        // API. So the SDK does not retry it; strata looks for the API (by name: none had it
        // a moment ago) before sending it again.
        let create = || {
            aws.apigateway
                .create_rest_api()
                .name(name)
                .set_description(opt_str(desired, "description").map(str::to_string))
                .endpoint_configuration(
                    EndpointConfiguration::builder()
                        .types(EndpointType::from(
                            opt_str(desired, "endpoint_type").unwrap_or("REGIONAL"),
                        ))
                        .build(),
                )
                .set_binary_media_types((!binary.is_empty()).then(|| binary.clone()))
                .set_tags((!tag_map.is_empty()).then(|| tag_map.clone()))
                .customize()
                .config_override(
                    aws_sdk_apigateway::config::Builder::default()
                        .retry_config(aws_sdk_apigateway::config::retry::RetryConfig::disabled()),
                )
                .send()
        };
        let mut attempts = 0;
        let id = loop {
            attempts += 1;
            match within_quota("CreateRestApi", create).await {
                Ok(api) => break api.id().unwrap_or_default().to_string(),
                Err(e) if e.kind == ErrorKind::Transient && attempts < SDK_MAX_ATTEMPTS => {
                    if let Some(id) = self.find(aws, desired).await? {
                        break id;
                    }
                    let wait = Duration::from_millis(100 << attempts.min(6));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        created(&id);
        self.put_model(aws, &id, req_str(desired, "lambda_invoke_arn")?)
            .await?;
        self.deploy(aws, &id, stage_of(desired), None).await?;
        Ok(id)
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let gw = &aws.apigateway;
        let mut patches = Vec::new();
        if changed(&SCHEMA, "name", desired, live) {
            patches.push(patch("/name", req_str(desired, "name")?));
        }
        if changed(&SCHEMA, "description", desired, live) {
            patches.push(patch(
                "/description",
                opt_str(desired, "description").unwrap_or(""),
            ));
        }
        patches.extend(endpoint_and_media_patches(live, desired)?);
        if !patches.is_empty() {
            gw.update_rest_api()
                .rest_api_id(id)
                .set_patch_operations(Some(patches))
                .send()
                .await
                .map_err(sdk("UpdateRestApi"))?;
        }
        let model_changed = changed(&SCHEMA, "lambda_invoke_arn", desired, live);
        if model_changed {
            self.put_model(aws, id, req_str(desired, "lambda_invoke_arn")?)
                .await?;
        }
        let old_stage = opt_str(live, "stage_name");
        let new_stage = stage_of(desired);
        // New binary media types apply to the stage with a new deployment.
        let media_changed = changed(&SCHEMA, "binary_media_types", desired, live);
        if model_changed || media_changed || old_stage.is_none() {
            self.deploy(aws, id, new_stage, opt_str(live, "deployment_id"))
                .await?;
        } else if old_stage != Some(new_stage) {
            // A renamed stage: the new one on the current deployment, then the old one goes.
            gw.create_stage()
                .rest_api_id(id)
                .stage_name(new_stage)
                .deployment_id(opt_str(live, "deployment_id").unwrap_or_default())
                .send()
                .await
                .map_err(sdk("CreateStage"))?;
            if let Some(old) = old_stage {
                gw.delete_stage()
                    .rest_api_id(id)
                    .stage_name(old)
                    .send()
                    .await
                    .map_err(sdk("DeleteStage"))?;
            }
        }
        let arn = &arn::rest_api(aws.partition().await?, &aws.region, id);
        sync_tags(
            &SCHEMA,
            desired,
            live,
            |keys| async move {
                let request = gw
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys));
                request.send().await.map(drop).map_err(sdk("UntagResource"))
            },
            |tags| async move {
                let tags = Some(tags.into_iter().collect());
                let request = gw.tag_resource().resource_arn(arn).set_tags(tags);
                request.send().await.map(drop).map_err(sdk("TagResource"))
            },
        )
        .await
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        // DeleteRestApi: 1 per 30 s per account. A lost reply's retry finds it gone.
        within_quota("DeleteRestApi", || {
            aws.apigateway.delete_rest_api().rest_api_id(id).send()
        })
        .await
        .ok_if_gone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(endpoint: &str, media: &[&str]) -> Attrs {
        let media = media.iter().map(|t| Value::Str(t.to_string())).collect();
        Attrs::from([
            (
                "endpoint_type".to_string(),
                Value::Str(endpoint.to_string()),
            ),
            ("binary_media_types".to_string(), Value::List(media)),
        ])
    }

    #[test]
    fn endpoint_type_and_media_types_change_by_patch() {
        let live = api("EDGE", &["image/png", "application/x~y"]);
        let mut desired = api("REGIONAL", &["application/octet-stream", "image/png"]);
        ApiGatewayRestApi.prepare(&mut desired);
        let ops: Vec<(String, String, Option<String>)> =
            endpoint_and_media_patches(&live, &desired)
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p.op().unwrap().as_str().to_string(),
                        p.path().unwrap().to_string(),
                        p.value().map(str::to_string),
                    )
                })
                .collect();
        let op =
            |o: &str, p: &str, v: Option<&str>| (o.to_string(), p.to_string(), v.map(String::from));
        assert_eq!(
            ops,
            [
                op(
                    "replace",
                    "/endpointConfiguration/types/EDGE",
                    Some("REGIONAL")
                ),
                op("remove", "/binaryMediaTypes/application~1x~0y", None),
                op("add", "/binaryMediaTypes/application~1octet-stream", None),
            ]
        );
        let same = api("EDGE", &["application/x~y", "image/png"]);
        let mut reordered = api("EDGE", &["image/png", "application/x~y"]);
        ApiGatewayRestApi.prepare(&mut reordered);
        assert!(
            endpoint_and_media_patches(&same, &reordered)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_rest_api_is_named_by_its_id_arn_or_url() {
        let region = "eu-west-1";
        for given in [
            "a1b2c3d4e5",
            "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5",
            "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/prod",
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod",
            "http://127.0.0.1:4566/_aws/execute-api/a1b2c3d4e5/prod",
        ] {
            assert_eq!(rest_api_id_of(given, region), Some("a1b2c3d4e5"), "{given}");
        }
        for other_region in [
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5",
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod",
        ] {
            assert_eq!(rest_api_id_of(other_region, region), None, "{other_region}");
        }
    }
}
