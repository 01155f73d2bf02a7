//! `lambda.permission`: one statement in a function's resource policy. Every attribute
//! forces a replacement: a statement cannot be edited, only removed and added again.

use crate::schema::rules::ACCOUNT_ID;
use crate::schema::{Default, Identity, Schema, Text, Type, attr};

/// A function's name, ARN or partial ARN (`ACCOUNT:function:NAME`), with an optional
/// version or alias.
pub const FUNCTION: Text = Text::len(1, 140).pattern(
    r"^(arn:aws[a-zA-Z-]*:lambda:)?([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]:)?([0-9]{12}:)?(function:)?[A-Za-z0-9_-]+(:(\$LATEST|[A-Za-z0-9_-]+))?$",
    "a function name or ARN (the function's `name` or `arn`)",
);

/// Who may call: a service principal, an account id, an IAM ARN, or `*`.
const PRINCIPAL: Text = Text::len(1, 2048).pattern(
    r"^(\*|[0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:[A-Za-z0-9_+=,.@/-]+|[a-z0-9][a-z0-9.-]*\.(amazonaws\.com|amazonaws\.com\.cn|amazon\.com))$",
    "a service principal (`apigateway.amazonaws.com`), an account id, an IAM ARN, or `*`",
);

/// What the reference page (docs/resources/lambda.permission.md) says beyond the attribute table.
const NOTES: &str = "\
A statement cannot be edited, so every attribute forces a
replacement. Without `statement_id`, strata derives one from what the statement grants.";

pub const SCHEMA: Schema = Schema {
    type_name: "lambda.permission",
    description: "a statement in a Lambda function's resource policy",
    import_id: "FUNCTION/STATEMENT_ID",
    notes: NOTES,
    attributes: &[
        attr("function_name", Type::String(FUNCTION))
            .required()
            .force_new(),
        attr(
            "statement_id",
            Type::String(
                Text::len(1, 100).pattern(r"^[A-Za-z0-9_-]+$", "letters, digits, `-` and `_`"),
            ),
        )
        .force_new(),
        attr(
            "action",
            Type::String(Text::len(1, 256).pattern(
                r"^(lambda:[*]|lambda:[A-Za-z]+|[*])$",
                "a Lambda action such as `lambda:InvokeFunction`",
            )),
        )
        .force_new()
        .default(Default::Str("lambda:InvokeFunction")),
        attr("principal", Type::String(PRINCIPAL))
            .required()
            .force_new(),
        attr(
            "source_arn",
            Type::String(Text::len(1, 2048).pattern(
                r"^arn:aws[a-zA-Z0-9-]*:[a-zA-Z0-9-]+:[a-z0-9-]*:([0-9]{12})?:.+$",
                "an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`",
            )),
        )
        .force_new(),
        attr("source_account", Type::String(ACCOUNT_ID)).force_new(),
    ],
    computed: &[],
    examples: &[],
    identity: Identity::of(&["function_name", "statement_id"]),
    check: None,
};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::iam::{Permission, Place, Step, allow, name_or_any};
use super::support::{Gone, changed, not_ours, opt_str, own_lost_create, req_str};
use super::{Created, Resource};
use crate::aws::retry::{Backoff, retry_send};
use crate::aws::{AwsError, Clients, sdk};
use crate::value::{Attrs, Value};

pub struct LambdaPermission;

fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

/// What a statement grants: a statement of our id that grants all of this is ours.
const GRANT: [&str; 4] = ["action", "principal", "source_arn", "source_account"];

/// AddPermission's answer for a statement id in use.
fn already_exists(e: &AwsError) -> bool {
    e.code_is(&["ResourceConflictException"]) && e.message_contains("already exists")
}

/// The function is still finishing an update (ResourceConflictException also means "the
/// statement id is in use").
fn busy(e: &AwsError) -> bool {
    e.code_is(&["ResourceConflictException"]) && !already_exists(e)
}

/// One lock per function for AddPermission and RemovePermission: concurrent changes to one
/// function's policy can drop statements (acknowledged by AWS; the Terraform provider
/// serialises them per function too), so this process makes them one at a time.
fn policy_writes(function: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::OnceLock::new();
    let locks = LOCKS.get_or_init(std::default::Default::default);
    locks
        .lock()
        .expect("policy lock table")
        .entry(function.to_string())
        .or_default()
        .clone()
}

#[async_trait]
impl Resource for LambdaPermission {
    fn permissions(&self, desired: &Attrs, at: &Place) -> Vec<Permission> {
        let on_function = [super::lambda_function::function_arn(
            at,
            &name_or_any(desired, "function_name"),
        )];
        vec![
            allow(Step::Read, &["lambda:GetPolicy"], &on_function),
            allow(
                Step::Write,
                &["lambda:AddPermission", "lambda:GetPolicy"],
                &on_function,
            ),
            allow(Step::Delete, &["lambda:RemovePermission"], &on_function),
        ]
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(&self, aws: &Clients, desired: &Attrs) -> Result<Option<String>, AwsError> {
        let id = format!(
            "{}/{}",
            req_str(desired, "function_name")?,
            req_str(desired, "statement_id")?
        );
        Ok(self.read(aws, &id, desired).await?.map(|_| id))
    }

    /// `FUNCTION/STATEMENT_ID`, the function by name or ARN; recorded with the function as
    /// the stack names it (what a create records), else by its name.
    async fn lookup_id(
        &self,
        _aws: &Clients,
        given: &str,
        desired: &Attrs,
    ) -> Result<Option<String>, AwsError> {
        let (function, sid) = split_id(given);
        let name = super::arn::function_name_of(function);
        let function = match opt_str(desired, "function_name") {
            Some(stack) if super::arn::function_name_of(stack) == name => stack,
            _ => name,
        };
        Ok(Some(format!("{function}/{sid}")))
    }

    fn id_attributes(&self, id: &str) -> Attrs {
        let (function, sid) = split_id(id);
        Attrs::from([
            (
                "function_name".to_string(),
                Value::Str(function.to_string()),
            ),
            ("statement_id".to_string(), Value::Str(sid.to_string())),
        ])
    }

    fn same_object(&self, a: &str, b: &str) -> bool {
        let (fa, sa) = split_id(a);
        let (fb, sb) = split_id(b);
        sa == sb && super::arn::function_name_of(fa) == super::arn::function_name_of(fb)
    }

    /// Without a statement id, one derived from what the statement grants: the same
    /// stack always writes the same id.
    fn prepare(&self, desired: &mut Attrs) {
        if desired.contains_key("statement_id") {
            return;
        }
        let parts = [
            "function_name",
            "principal",
            "action",
            "source_arn",
            "source_account",
        ];
        if parts
            .iter()
            .any(|p| desired.get(*p).is_some_and(|v| !v.is_known()))
        {
            desired.insert("statement_id".into(), Value::Unknown);
            return;
        }
        let text: Vec<&str> = parts
            .iter()
            .map(|p| opt_str(desired, p).unwrap_or(""))
            .collect();
        let digest = Sha256::digest(text.join("\n").as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        desired.insert("statement_id".into(), Value::Str(format!("strata-{hex}")));
    }

    async fn read(
        &self,
        aws: &Clients,
        id: &str,
        _prior: &Attrs,
    ) -> Result<Option<Attrs>, AwsError> {
        let (function, sid) = split_id(id);
        let Some(out) = aws
            .lambda
            .get_policy()
            .function_name(function)
            .send()
            .await
            .map_err(sdk("GetPolicy"))
            .or_gone()?
        else {
            return Ok(None);
        };
        let policy: serde_json::Value =
            serde_json::from_str(out.policy().unwrap_or("{}")).unwrap_or_default();
        let statements = match &policy["Statement"] {
            serde_json::Value::Array(items) => items.clone(),
            single @ serde_json::Value::Object(_) => vec![single.clone()],
            _ => Vec::new(),
        };
        let Some(statement) = statements.iter().find(|s| s["Sid"] == sid) else {
            return Ok(None);
        };
        let principal = match &statement["Principal"] {
            serde_json::Value::String(s) => s.clone(),
            p => p["Service"]
                .as_str()
                .or(p["AWS"].as_str())
                .unwrap_or_default()
                .to_string(),
        };
        let mut attrs = Attrs::new();
        attrs.insert("function_name".into(), Value::Str(function.to_string()));
        attrs.insert("statement_id".into(), Value::Str(sid.to_string()));
        attrs.insert("principal".into(), Value::Str(principal));
        let action = match &statement["Action"] {
            serde_json::Value::Array(a) => a
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            a => a.as_str().unwrap_or_default().to_string(),
        };
        attrs.insert("action".into(), Value::Str(action));
        if let Some(arn) = statement["Condition"]["ArnLike"]["AWS:SourceArn"].as_str() {
            attrs.insert("source_arn".into(), Value::Str(arn.to_string()));
        }
        if let Some(account) = statement["Condition"]["StringEquals"]["AWS:SourceAccount"].as_str()
        {
            attrs.insert("source_account".into(), Value::Str(account.to_string()));
        }
        Ok(Some(attrs))
    }

    async fn create(
        &self,
        aws: &Clients,
        desired: &Attrs,
        created: Created<'_>,
    ) -> Result<String, AwsError> {
        let function = req_str(desired, "function_name")?;
        let sid = req_str(desired, "statement_id")?;
        let id = format!("{function}/{sid}");
        let _one_at_a_time = policy_writes(function).lock_owned().await;
        // AddPermission answers ResourceConflictException "The statement id (...) provided
        // already exists" for a statement id in use, and also to the SDK's own retry of an
        // AddPermission whose reply was lost. So the policy is read first: a statement of
        // this id there now is not ours. Between this GetPolicy and the AddPermission, only
        // a caller with this account's credentials adding the same statement id at the same
        // moment could slip in (two deploys of one stack from two states racing; the window
        // is one round trip). So an "already exists" after a "no such statement" is taken as
        // our own AddPermission whose reply was lost, if the statement grants what we asked.
        if self.read(aws, &id, desired).await?.is_some() {
            return Err(not_ours(
                &SCHEMA,
                &format!("statement `{sid}`"),
                &format!("in the policy of function `{function}`"),
                &id,
            ));
        }
        // The function may still be finishing an update.
        let added = retry_send(Backoff::CONSISTENCY, busy, "AddPermission", || {
            aws.lambda
                .add_permission()
                .function_name(function)
                .statement_id(sid)
                .action(opt_str(desired, "action").unwrap_or("lambda:InvokeFunction"))
                .principal(req_str(desired, "principal").unwrap_or_default())
                .set_source_arn(opt_str(desired, "source_arn").map(str::to_string))
                .set_source_account(opt_str(desired, "source_account").map(str::to_string))
                .send()
        })
        .await;
        match added {
            Ok(_) => {}
            Err(e) if already_exists(&e) => {
                let what = format!("statement `{sid}` of function `{function}`");
                let live = own_lost_create("AddPermission", &what, || self.read(aws, &id, desired))
                    .await?;
                if let Some(differs) = GRANT.iter().find(|a| changed(&SCHEMA, a, desired, &live)) {
                    return Err(AwsError {
                        message: format!(
                            "{what} was not there before AddPermission, and the statement there now differs in `{differs}` from the one asked for: another deploy added it at the same moment; {}",
                            e.message
                        ),
                        ..e
                    });
                }
            }
            Err(e) => return Err(e),
        }
        created(&id);
        Ok(id)
    }

    async fn update(
        &self,
        _aws: &Clients,
        _id: &str,
        _live: &Attrs,
        _desired: &Attrs,
    ) -> Result<(), AwsError> {
        // Every attribute forces a replacement; nothing changes in place.
        Ok(())
    }

    async fn delete(&self, aws: &Clients, id: &str, _prior: &Attrs) -> Result<(), AwsError> {
        let (function, sid) = split_id(id);
        let _one_at_a_time = policy_writes(function).lock_owned().await;
        aws.lambda
            .remove_permission()
            .function_name(function)
            .statement_id(sid)
            .send()
            .await
            .map_err(sdk("RemovePermission"))
            .ok_if_gone()
    }
}

#[cfg(test)]
mod policy_write_tests {
    use super::policy_writes;

    #[tokio::test]
    async fn writes_to_one_function_wait_for_each_other_and_others_do_not() {
        let held = policy_writes("f").lock_owned().await;
        assert!(
            policy_writes("f").try_lock_owned().is_err(),
            "the same function waits"
        );
        assert!(
            policy_writes("g").try_lock_owned().is_ok(),
            "another function does not"
        );
        drop(held);
        assert!(policy_writes("f").try_lock_owned().is_ok());
    }
}
