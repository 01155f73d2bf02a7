//! Every CloudFormation-registered type through the AWS Cloud Control API: a stack names a
//! type (`type = "AWS::SNS::Topic"`) and writes its `properties`; strata creates, reads,
//! updates (with an RFC 6902 patch) and deletes it with Cloud Control's generic calls. The
//! type's registry schema ([`schema`]) says which properties exist, which force a
//! replacement, which only AWS sets (references may use them) and which AWS never returns.
//!
//! Crash safety: a create's request token is recorded in state as soon as AWS answers, and
//! before the first poll; a run killed while the request runs is resumed by the next one
//! ([`Resource::resume`]), which adopts the object the request made. Every create carries a
//! client token, so the SDK's retry of a create whose reply was lost is the same request.

pub mod patch;
pub mod registry;
pub mod request;
pub mod schema;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use async_trait::async_trait;

use super::iam::{Permission, Place, Step, allow};
use super::{Created, Resource, Resumable};
use crate::aws::{AwsError, Clients, ErrorKind, sdk};
use crate::schema::{Schema, sealed};
use crate::value::{Attrs, Value};
use request::{Ended, ended, token_of, wait};
use schema::{SchemaError, TypeSchema};

/// Whether a type name is a CloudFormation one (`AWS::SNS::Topic`), managed through Cloud
/// Control, rather than one of strata's native types (`sns.topic`).
pub fn is_cloudcontrol(type_name: &str) -> bool {
    type_name.contains("::")
}

/// One Cloud Control type, as its cached registry schema describes it.
pub struct CloudControl {
    pub ty: TypeSchema,
}

/// The types loaded by this process: each schema is read and leaked once.
static LOADED: LazyLock<Mutex<HashMap<String, &'static CloudControl>>> =
    LazyLock::new(Default::default);

/// The Cloud Control type `type_name`, from the schema cache.
pub fn load(type_name: &str) -> Result<&'static CloudControl, SchemaError> {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cc) = loaded.get(type_name) {
        return Ok(cc);
    }
    let ty = schema::load(&schema::cache_dir(), type_name)?;
    let cc: &'static CloudControl = Box::leak(Box::new(CloudControl { ty }));
    loaded.insert(type_name.to_string(), cc);
    Ok(cc)
}

/// The resources whose type had no cached schema when the stack was checked, with their
/// types: what a command with credentials fetches before checking again.
static MISSING: LazyLock<Mutex<Vec<(String, String)>>> = LazyLock::new(Default::default);

/// Notes that resource `name`'s type `type_name` has no cached schema.
pub fn note_missing(name: &str, type_name: &str) {
    let mut missing = MISSING.lock().unwrap_or_else(|e| e.into_inner());
    missing.push((name.to_string(), type_name.to_string()));
}

/// The (resource, type) pairs noted since the last call, which forgets them.
pub fn take_missing() -> Vec<(String, String)> {
    std::mem::take(&mut *MISSING.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Forgets the loaded schema of `type_name`: the next [`load`] reads the cache again (the
/// one loaded before stays, leaked, for whoever holds it).
pub fn forget(type_name: &str) {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    loaded.remove(type_name);
}

/// How many times a create or update whose request FAILED for a passing reason (the
/// handler was throttled) is requested again.
const ATTEMPTS: usize = 3;

impl CloudControl {
    fn type_name(&self) -> &'static str {
        self.ty.type_name
    }

    /// Write-only properties as strata records them: AWS never returns them, so the value
    /// written (sealed, when a string) stands for the live one.
    fn with_written(&self, mut live: Attrs, prior: &Attrs) -> Attrs {
        for name in &self.ty.write_only {
            live.shift_remove(name);
            let value = match prior.get(name) {
                Some(Value::Str(clear)) if !sealed::is_sealed(&Value::Str(clear.clone())) => {
                    sealed::seal(clear)
                }
                Some(v) => v.clone(),
                None => continue,
            };
            live.insert(name.clone(), value);
        }
        live
    }

    /// Sends one mutating request (`send` returns its answer's progress event), records
    /// its token with `noted`, and waits for it to end.
    async fn run_request<F, Fut>(
        &self,
        aws: &Clients,
        operation: &'static str,
        noted: Option<Resumable<'_>>,
        send: F,
    ) -> Result<Ended, AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<
                Output = Result<Option<aws_sdk_cloudcontrol::types::ProgressEvent>, AwsError>,
            >,
    {
        let mut attempt = 1;
        loop {
            let event = send().await?;
            let token = token_of(event.as_ref(), operation)?;
            if let Some(noted) = noted {
                noted(token.clone()).await?;
            }
            let outcome = match event.as_ref().and_then(|e| ended(self.type_name(), e)) {
                Some(ended) => ended,
                None => wait(aws, self.type_name(), &token).await?,
            };
            match outcome {
                Ended::Failed(error, None)
                    if error.kind == ErrorKind::Transient && attempt < ATTEMPTS =>
                {
                    crate::aws::observe::retrying(format!("{error}; requesting again"));
                    attempt += 1;
                }
                outcome => return Ok(outcome),
            }
        }
    }
}

#[async_trait]
impl Resource for CloudControl {
    fn schema(&self) -> &'static Schema {
        self.ty.schema
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let answer = aws
            .cloudcontrol
            .get_resource()
            .type_name(self.type_name())
            .identifier(id)
            .send()
            .await
            .map_err(sdk("GetResource"));
        let out = match answer {
            Err(e) if e.is_not_found() => return Ok(None),
            other => other?,
        };
        let properties = out
            .resource_description()
            .and_then(|d| d.properties())
            .unwrap_or("{}");
        let json: serde_json::Value = serde_json::from_str(properties).map_err(|e| {
            AwsError::new(
                "GetResource",
                format!("the model of {} `{id}` is not JSON: {e}", self.type_name()),
            )
        })?;
        let live = match Value::from_json(&json) {
            Value::Map(map) => map,
            _ => Attrs::new(),
        };
        Ok(Some(self.with_written(live, prior)))
    }

    async fn lookup_id(
        &self,
        aws: &Clients,
        given: &str,
        _desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .read(aws, given, &Attrs::new())
            .await?
            .map(|_| given.to_string()))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        self.create_resumable(aws, desired, created, None).await
    }

    async fn create_resumable(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
        noted: Option<Resumable<'_>>,
    ) -> Result<String, AwsError> {
        let state = patch::desired_state(self.schema(), desired).to_string();
        let outcome = self
            .run_request(aws, "CreateResource", noted, || async {
                // One client token per request: the SDK's retry of a create whose reply
                // was lost is then the same request, not a second object.
                aws.cloudcontrol
                    .create_resource()
                    .type_name(self.type_name())
                    .desired_state(state.clone())
                    .client_token(uuid::Uuid::new_v4().to_string())
                    .send()
                    .await
                    .map(|out| out.progress_event)
                    .map_err(sdk("CreateResource"))
            })
            .await?;
        match outcome {
            Ended::Success(Some(id)) => {
                created(&id);
                Ok(id)
            }
            Ended::Success(None) => Err(AwsError::new(
                "CreateResource",
                format!(
                    "Cloud Control created a {} but named no identifier",
                    self.type_name()
                ),
            )),
            Ended::Failed(error, made) => {
                // The handler made the object but it did not stabilise: it is recorded,
                // so that the next run sees it rather than making another.
                if let Some(id) = made {
                    created(&id);
                }
                Err(error)
            }
        }
    }

    async fn resume(&self, aws: &Clients, request: &str) -> Result<Option<String>, AwsError> {
        match wait(aws, self.type_name(), request).await {
            Ok(Ended::Success(id) | Ended::Failed(_, id)) => Ok(id),
            // AWS keeps requests for days; one it no longer knows cannot be followed.
            Err(e) if e.code_is(&["RequestTokenNotFoundException"]) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update(
        &self,
        aws: &Clients,
        id: &str,
        live: &Attrs,
        desired: &Attrs,
    ) -> Result<(), AwsError> {
        let document = patch::patch(self.schema(), desired, live);
        if document.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let document = document.to_string();
        let outcome = self
            .run_request(aws, "UpdateResource", None, || async {
                aws.cloudcontrol
                    .update_resource()
                    .type_name(self.type_name())
                    .identifier(id)
                    .patch_document(document.clone())
                    .client_token(uuid::Uuid::new_v4().to_string())
                    .send()
                    .await
                    .map(|out| out.progress_event)
                    .map_err(sdk("UpdateResource"))
            })
            .await?;
        match outcome {
            Ended::Success(_) => Ok(()),
            Ended::Failed(error, _) => Err(error),
        }
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let outcome = self
            .run_request(aws, "DeleteResource", None, || async {
                aws.cloudcontrol
                    .delete_resource()
                    .type_name(self.type_name())
                    .identifier(id)
                    .client_token(uuid::Uuid::new_v4().to_string())
                    .send()
                    .await
                    .map(|out| out.progress_event)
                    .map_err(sdk("DeleteResource"))
            })
            .await;
        match outcome {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(Ended::Success(_)) => Ok(()),
            Ok(Ended::Failed(error, _)) if error.code_is(&["NotFound"]) => Ok(()),
            Ok(Ended::Failed(error, _)) => Err(error),
        }
    }

    /// Cloud Control's own actions (IAM names them `cloudformation:`), and the actions the
    /// type's handlers call with the caller's credentials, as its schema lists them. The
    /// handlers' objects are not known by ARN before they exist: their actions are allowed
    /// on any resource.
    fn permissions(&self, _desired: &Attrs, _at: &Place) -> Vec<Permission> {
        let any = ["*".to_string()];
        let h = &self.ty.handlers;
        let with = |step, own: &[&'static str], handlers: &[&[&'static str]]| {
            let mut actions: Vec<&'static str> = own.to_vec();
            for list in handlers {
                actions.extend_from_slice(list);
            }
            actions.sort_unstable();
            actions.dedup();
            // Passing a role is granted apart, for the stack's own roles only (`strata
            // policy` narrows it): it must not take the type's other actions with it.
            actions.retain(|a| *a != "iam:PassRole");
            allow(step, &actions, &any)
        };
        let mut out = vec![
            with(
                Step::Read,
                // DescribeType: the type's schema, asked before every plan.
                &[
                    "cloudformation:DescribeType",
                    "cloudformation:GetResource",
                    "cloudformation:GetResourceRequestStatus",
                ],
                &[&h.read],
            ),
            with(
                Step::Write,
                &[
                    "cloudformation:CreateResource",
                    "cloudformation:UpdateResource",
                    "cloudformation:GetResourceRequestStatus",
                ],
                &[&h.create, &h.update, &h.read],
            ),
            with(
                Step::Delete,
                &[
                    "cloudformation:DeleteResource",
                    "cloudformation:GetResourceRequestStatus",
                ],
                &[&h.delete, &h.read],
            ),
        ];
        if h.create.contains(&"iam:PassRole") || h.update.contains(&"iam:PassRole") {
            out.push(allow(Step::Write, &["iam:PassRole"], &any));
        }
        out
    }
}
