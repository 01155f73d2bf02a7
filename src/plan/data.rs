//! Reading the stack's data sources when it plans: each object read by its id (as a
//! refresh reads a managed one), `sts.caller_identity` from the run's one
//! GetCallerIdentity, another stack's outputs from its state. The reads run beside the
//! refresh; a data source waits only for the data sources its `id` uses.

use std::path::Path;

use async_trait::async_trait;
use futures::{StreamExt, stream};
use indexmap::IndexMap;

use super::build::PlanError;
use crate::aws::Clients;
use crate::config::expr::{Target, evaluate};
use crate::config::model::{BaseScope, DataDecl, DataSource, DataValues, Stack};
use crate::config::validate::data_dependencies;
use crate::diagnostics::Diagnostic;
use crate::resources::implementation;
use crate::value::{Attrs, Value};

/// Reads the outputs another stack's state records, without taking its lock.
#[async_trait]
pub trait StackOutputs: Send + Sync {
    /// The outputs of the stack in `file` (absolute): name -> (value, sensitive).
    async fn outputs(&self, file: &Path) -> Result<IndexMap<String, (Value, bool)>, String>;
}

/// For runs whose stacks read no other stack (tests, `import`'s replan of one stack):
/// every read is refused.
pub struct NoOtherStacks;

#[async_trait]
impl StackOutputs for NoOtherStacks {
    async fn outputs(&self, file: &Path) -> Result<IndexMap<String, (Value, bool)>, String> {
        Err(format!(
            "reading the outputs of {} is not possible here",
            file.display()
        ))
    }
}

/// Reads every data source of `stack`, at most `concurrency` at once. A data source that
/// finds nothing is a plan error naming it and what it looked for.
pub async fn read_data(
    stack: &Stack,
    aws: &Clients,
    stacks: &dyn StackOutputs,
    concurrency: usize,
) -> Result<DataValues, PlanError> {
    let mut values = DataValues::new();
    let mut left: Vec<&DataDecl> = stack.data.values().collect();
    let mut diagnostics = Vec::new();
    // Round by round: a data source whose id uses another is read once that one is.
    while !left.is_empty() {
        let (ready, waiting): (Vec<&DataDecl>, Vec<&DataDecl>) =
            left.into_iter().partition(|decl| {
                data_dependencies(stack, decl)
                    .iter()
                    .all(|d| values.contains_key(*d))
            });
        if ready.is_empty() {
            // What they wait for failed (reported) or is a cycle (refused by validation).
            break;
        }
        let known = &values;
        let reads = ready.into_iter().map(|decl| async move {
            let read = read_one(stack, decl, aws, stacks, known).await;
            (decl.name.clone(), read)
        });
        let results: Vec<_> = stream::iter(reads)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (name, result) in results {
            match result? {
                Ok(attrs) => {
                    values.insert(name, attrs);
                }
                Err(d) => diagnostics.push(d),
            }
        }
        left = waiting;
        if !diagnostics.is_empty() {
            break;
        }
    }
    if diagnostics.is_empty() {
        diagnostics = missing_outputs(stack, &values);
    }
    if diagnostics.is_empty() {
        // Declaration order, whatever order the reads finished in.
        let mut ordered = DataValues::new();
        for name in stack.data.keys() {
            if let Some(attrs) = values.shift_remove(name) {
                ordered.insert(name.clone(), attrs);
            }
        }
        Ok(ordered)
    } else {
        Err(PlanError::Invalid(diagnostics))
    }
}

/// One data source: its attributes, or the diagnostic that says why there are none.
async fn read_one(
    stack: &Stack,
    decl: &DataDecl,
    aws: &Clients,
    stacks: &dyn StackOutputs,
    known: &DataValues,
) -> Result<Result<Attrs, Diagnostic>, PlanError> {
    let address = decl.address();
    match &decl.source {
        DataSource::CallerIdentity => {
            // The answer the account check already asked for: no second call.
            let identity = aws.identity().await?;
            let text = |s: &str| Value::Str(s.to_string());
            Ok(Ok(Attrs::from([
                ("account_id".to_string(), text(&identity.account_id)),
                ("arn".to_string(), text(&identity.arn)),
                ("user_id".to_string(), text(&identity.user_id)),
                ("partition".to_string(), text(&identity.partition)),
            ])))
        }
        DataSource::Stack { file, span } => match stacks.outputs(file).await {
            Ok(outputs) => {
                // A sensitive output stays in its stack: here it would show in plans.
                let (hidden, shared): (Vec<_>, Vec<_>) = outputs
                    .into_iter()
                    .partition(|(_, (_, sensitive))| *sensitive);
                let table = shared.into_iter().map(|(k, (v, _))| (k, v)).collect();
                let hidden = hidden.into_iter().map(|(k, _)| Value::Str(k)).collect();
                Ok(Ok(Attrs::from([
                    ("outputs".to_string(), Value::Map(table)),
                    (SENSITIVE_OUTPUTS.to_string(), Value::List(hidden)),
                ])))
            }
            Err(why) => Ok(Err(Diagnostic::error(format!(
                "data source `{address}` cannot read the outputs of {}: {why}",
                crate::diagnostics::source::display_path(file)
            ))
            .at(span, "the stack read here"))),
        },
        DataSource::Object(schema) => {
            let Some(node) = &decl.id else {
                unreachable!("validation requires an id for an object");
            };
            let identity = if uses_identity(decl) {
                Some(aws.identity().await?)
            } else {
                None
            };
            let scope = BaseScope {
                stack,
                account_id: identity.map(|i| i.account_id.as_str()),
                region: Some(&aws.region),
                partition: identity.map(|i| i.partition.as_str()),
                data: Some(known),
                resources: |_: &str, _: &str| Value::Unknown,
            };
            let Value::Str(given) = evaluate(node, &scope) else {
                return Ok(Err(Diagnostic::error(format!(
                    "the id of data source `{address}` is not known when planning"
                ))
                .at(&node.span, "not a known string")));
            };
            let resource = implementation(schema.type_name)
                .expect("data sources name implemented types (validated)");
            let found = match resource.lookup_id(aws, &given, &Attrs::new()).await? {
                Some(id) => resource.read(aws, &id, &Attrs::new()).await?,
                None => None,
            };
            Ok(found.ok_or_else(|| {
                Diagnostic::error(format!(
                    "data source `{address}`: there is no {} with id `{given}`",
                    schema.type_name
                ))
                .at(&node.span, "nothing has this id")
                .note("a data source reads an object that exists; strata never creates it")
            }))
        }
    }
}

/// Where a stack data source keeps the names of the outputs it does not share.
const SENSITIVE_OUTPUTS: &str = "sensitive_outputs";

/// `${data.NAME.outputs.OUTPUT}` where the other stack's state has no such output: an
/// unknown value would pass for one only the apply knows.
fn missing_outputs(stack: &Stack, values: &DataValues) -> Vec<Diagnostic> {
    let references = stack
        .resources
        .values()
        .flat_map(|r| r.references.clone())
        .chain(stack.data.values().flat_map(|d| d.references.clone()))
        .chain(
            stack
                .outputs
                .values()
                .flat_map(|o| crate::config::expr::references(&o.value, &mut Vec::new())),
        );
    let mut out = Vec::new();
    for reference in references {
        let Target::Data { name, attribute } = &reference.target else {
            continue;
        };
        let (Some(output), Some(decl)) = (attribute.strip_prefix("outputs."), stack.data.get(name))
        else {
            continue;
        };
        let DataSource::Stack { file, .. } = &decl.source else {
            continue;
        };
        let Some(read) = values.get(name) else {
            continue;
        };
        let shared: Vec<&str> = read
            .get("outputs")
            .and_then(Value::as_map)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if shared.contains(&output) {
            continue;
        }
        let sensitive = read
            .get(SENSITIVE_OUTPUTS)
            .and_then(Value::as_list)
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(output)));
        let shown = crate::diagnostics::source::display_path(file);
        let d = Diagnostic::error(format!(
            "stack {shown} (`{}`) has no output `{output}`",
            decl.address()
        ))
        .at(&reference.span, "unknown output");
        out.push(if sensitive {
            d.note(format!(
                "`{output}` is sensitive: it is not shared with other stacks"
            ))
        } else {
            d.suggest(output, shared.iter().copied())
                .note(if shared.is_empty() {
                    "its state records no outputs (has it been applied?)".to_string()
                } else {
                    format!("its outputs: {}", shared.join(", "))
                })
        });
    }
    out
}

/// Whether a data source's id needs the account or partition.
fn uses_identity(decl: &DataDecl) -> bool {
    decl.references
        .iter()
        .any(|r| matches!(&r.target, Target::Aws(fact) if fact != "region"))
}
