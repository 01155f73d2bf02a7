//! `strata policy`: the least-privilege IAM policy a stack needs, assembled from what each
//! resource type declares it calls ([`crate::resources::Resource::permissions`]), scoped to
//! the ARNs of the objects a run touches, plus what every run and the state backend need.
//! Creates and updates touch what the stack names; reads and deletes also touch what the
//! state records (a plan refreshes it, apply deletes what the stack no longer declares and
//! the object a replacement replaces, destroy deletes exactly the state's objects).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value as Json, json};

use crate::config::Stack;
use crate::config::expr::evaluate;
use crate::config::model::{Backend, BaseScope, DataSource};
use crate::resources::arn;
use crate::resources::iam::{Permission, Place, Step, allow, service_of};
use crate::resources::{Resource, implementation};
use crate::state::State;
use crate::value::{Attrs, Value, attrs_from_json};

/// The commands a policy is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum For {
    Plan,
    Apply,
    Destroy,
}

impl For {
    pub const ALL: [For; 3] = [For::Plan, For::Apply, For::Destroy];

    /// The steps of a run of this command on the objects the stack names.
    fn stack_steps(self) -> &'static [Step] {
        match self {
            For::Plan => &[Step::Read],
            // Apply plans first, and replaces or removes what the stack changed.
            For::Apply => &[Step::Read, Step::Write, Step::Delete],
            // Destroy deletes what the state records, whatever the stack says now.
            For::Destroy => &[],
        }
    }

    /// The steps of a run of this command on the objects the state records. A create a
    /// killed run left pending is looked for (read) by every run, then handled as recorded.
    fn state_steps(self) -> &'static [Step] {
        match self {
            For::Plan => &[Step::Read],
            For::Apply => &[Step::Read, Step::Delete],
            For::Destroy => &[Step::Delete],
        }
    }
}

/// The policy `strata policy` prints, and what it was made from.
pub struct Report {
    /// The policy document.
    pub document: Json,
    /// Where the state is and how many objects it records, or why it could not be read
    /// (the policy then names the stack's objects only).
    pub state: Result<(String, usize), String>,
    /// The caller's account, region and partition; placeholders without credentials.
    pub place: Place,
    /// Whether `place` is the caller's (working credentials) or placeholders.
    pub known: bool,
}

/// The policy the stack's runs of `commands` need: the objects the stack names and those
/// its state records, in the caller's account and region.
pub async fn for_stack(
    stack: &Stack,
    access: &super::Access,
    commands: &[For],
) -> Result<Report, super::OpsError> {
    let backend = super::backend_of(stack, access.backend_config.as_ref())?;
    // What destroy deletes, and what apply reads and deletes besides the stack's objects.
    let state = async {
        let store = access.store(stack).await?.shared();
        let state = store.read().await?;
        Ok::<_, super::OpsError>((state, store.location()))
    }
    .await
    .map_err(|error| super::run::chain(&error));
    // The account, region and partition of the caller; placeholders without credentials.
    let place = async {
        let aws = access.clients(Some(stack)).await.ok()?;
        let identity = aws.identity().await.ok()?;
        Some(Place {
            partition: identity.partition.clone(),
            region: aws.region.clone(),
            account: identity.account_id.clone(),
        })
    }
    .await;
    let known = place.is_some();
    let place = place.unwrap_or_else(|| {
        let region = stack
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()));
        Place::placeholders(region.as_deref())
    });
    let recorded = state.as_ref().ok().map(|(state, _)| state);
    let mut all = permissions(stack, recorded, backend.as_ref(), &place, commands);
    if commands.iter().any(|c| *c != For::Destroy) {
        all.extend(data_permissions(stack, &other_backends(stack), &place));
    }
    let document = document(&all);
    Ok(Report {
        document,
        state: state.map(|(state, location)| (location, state.resources.len())),
        place,
        known,
    })
}

/// The stack's resources' attributes as far as they are known before anything exists:
/// names, and the ARNs and URLs that follow from names.
pub fn named_attributes(stack: &Stack, at: &Place) -> BTreeMap<String, Attrs> {
    let order = crate::graph::from_stack(stack)
        .order()
        .unwrap_or_else(|_| stack.resources.keys().cloned().collect());
    let mut out: HashMap<String, Attrs> = HashMap::new();
    for name in order {
        let Some(decl) = stack.resources.get(&name) else {
            continue;
        };
        let scope = BaseScope {
            stack,
            account_id: Some(&at.account),
            region: Some(&at.region),
            partition: Some(&at.partition),
            data: None,
            resources: |other: &str, attribute: &str| {
                let (Some(attrs), Some(other_decl)) = (out.get(other), stack.resources.get(other))
                else {
                    return Value::Unknown;
                };
                match attrs.get(attribute) {
                    Some(v) => v.clone(),
                    None => implementation(other_decl.type_name())
                        .map_or(Value::Unknown, |r| r.named_attribute(attrs, attribute, at)),
                }
            },
        };
        let attrs: Attrs = decl
            .attributes
            .iter()
            .map(|(k, e)| (k.clone(), evaluate(&e.node, &scope)))
            .collect();
        out.insert(name, attrs);
    }
    out.into_iter().collect()
}

/// An object a policy names: its type and what is known of its attributes.
type Object = (&'static dyn Resource, Attrs);

/// What the state records, for [`permissions`]: each object's type and attributes (the
/// recorded ones over what its id says), and the creates left pending.
fn state_objects(state: &State) -> (Vec<Object>, Vec<Object>) {
    let recorded = state
        .resources
        .values()
        .filter_map(|r| {
            let implementation = implementation(&r.type_name)?;
            let mut attrs = implementation.id_attributes(&r.id);
            attrs.extend(attrs_from_json(&r.attributes));
            Some((implementation, attrs))
        })
        .collect();
    let pending = state
        .pending
        .values()
        .filter_map(|p| Some((implementation(&p.type_name)?, attrs_from_json(&p.desired))))
        .collect();
    (recorded, pending)
}

/// Every permission a run of `commands` needs, before merging. `state` is the stack's
/// state as it is now: reads and deletes of the objects it records are scoped to them.
/// Without it (the state could not be read), destroy is granted what the stack names.
pub fn permissions(
    stack: &Stack,
    state: Option<&State>,
    backend: Option<&Backend>,
    at: &Place,
    commands: &[For],
) -> Vec<Permission> {
    let steps: BTreeSet<Step> = commands
        .iter()
        .flat_map(|c| match (c, state) {
            (For::Destroy, None) => &[Step::Delete],
            _ => c.stack_steps(),
        })
        .copied()
        .collect();
    let attributes = named_attributes(stack, at);
    let mut all = Vec::new();
    // Roles the stack creates: the only ones it may pass.
    let mut own_roles = BTreeSet::new();
    for (name, decl) in &stack.resources {
        let Some(r) = implementation(decl.type_name()) else {
            continue;
        };
        if decl.type_name() == "iam.role"
            && let Value::Str(arn) = r.named_attribute(&attributes[name], "arn", at)
        {
            own_roles.insert(arn);
        }
    }
    for (name, decl) in &stack.resources {
        let Some(r) = implementation(decl.type_name()) else {
            continue;
        };
        for mut p in r.permissions(&attributes[name], at) {
            if p.actions.contains(&"iam:PassRole") {
                p.resources.retain(|role| own_roles.contains(role));
                if p.resources.is_empty() {
                    continue;
                }
            }
            if steps.contains(&p.step) {
                all.push(p);
            }
        }
    }
    if let Some(state) = state {
        let (recorded, pending) = state_objects(state);
        let steps: BTreeSet<Step> = commands
            .iter()
            .flat_map(|c| c.state_steps())
            .copied()
            .collect();
        for (implementation, attrs) in &recorded {
            all.extend(
                implementation
                    .permissions(attrs, at)
                    .into_iter()
                    .filter(|p| steps.contains(&p.step)),
            );
        }
        for (implementation, attrs) in &pending {
            all.extend(
                implementation
                    .permissions(attrs, at)
                    .into_iter()
                    .filter(|p| p.step == Step::Read || steps.contains(&p.step)),
            );
        }
    }
    // What every run needs besides: the state. (Who the caller is, sts:GetCallerIdentity,
    // needs no permission: see `iam::NEEDS_NO_PERMISSION`.) The state object, its lock and
    // the journal's objects are read, written and deleted; the bucket is listed (the
    // journal); `state history` lists the state's versions and reads their metadata.
    if let Some(b) = backend {
        let bucket = arn::bucket(&at.partition, &b.bucket);
        let state = format!("{bucket}/{}", b.key);
        let objects = [
            state.clone(),
            format!("{state}.lock"),
            format!("{state}.journal/*"),
        ];
        all.push(allow(
            Step::Read,
            &["s3:ListBucket", "s3:ListBucketVersions"],
            std::slice::from_ref(&bucket),
        ));
        all.push(allow(
            Step::Read,
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            &objects,
        ));
        all.push(allow(Step::Read, &["s3:GetObjectVersion"], &[state]));
    }
    all
}

/// The backends of the stacks the `strata.stack` data sources read, by file; a stack that
/// does not load (the plan says why) or keeps its state locally needs nothing.
fn other_backends(stack: &Stack) -> Vec<Backend> {
    stack
        .data
        .values()
        .filter_map(|decl| match &decl.source {
            DataSource::Stack { file, .. } => {
                crate::graph::load_stack(file, &[], &crate::resources::SCHEMAS).ok()
            }
            _ => None,
        })
        .filter_map(|(other, _)| other.backend)
        .collect()
}

/// What a plan reads for the data sources: an object's read by its id, another stack's
/// state object and the listing of its journal (never its lock: the read takes none). The
/// caller's identity needs no permission.
pub fn data_permissions(stack: &Stack, others: &[Backend], at: &Place) -> Vec<Permission> {
    let mut all = Vec::new();
    for decl in stack.data.values() {
        let (DataSource::Object(schema), Some(id)) = (&decl.source, &decl.id) else {
            continue;
        };
        let Some(r) = implementation(schema.type_name) else {
            continue;
        };
        let scope = BaseScope {
            stack,
            account_id: Some(&at.account),
            region: Some(&at.region),
            partition: Some(&at.partition),
            data: None,
            resources: |_: &str, _: &str| Value::Unknown,
        };
        // An id made from another data source is known only when planning: any object.
        let attrs = match evaluate(id, &scope) {
            Value::Str(id) => r.id_attributes(&id),
            _ => Attrs::new(),
        };
        all.extend(
            r.permissions(&attrs, at)
                .into_iter()
                .filter(|p| p.step == Step::Read),
        );
    }
    for b in others {
        let bucket = arn::bucket(&at.partition, &b.bucket);
        all.push(allow(
            Step::Read,
            &["s3:ListBucket"],
            std::slice::from_ref(&bucket),
        ));
        all.push(allow(
            Step::Read,
            &["s3:GetObject"],
            &[format!("{bucket}/{}", b.key)],
        ));
    }
    all
}

/// The policy document: one statement per set of resources (and condition) sharing the
/// same actions, statements named by service.
pub fn document(permissions: &[Permission]) -> Json {
    // action + condition -> resources
    let mut by_action: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for p in permissions {
        let condition = p
            .condition
            .as_ref()
            .map(Json::to_string)
            .unwrap_or_default();
        for a in &p.actions {
            by_action
                .entry((a.to_string(), condition.clone()))
                .or_default()
                .extend(p.resources.iter().cloned());
        }
    }
    // (service, resources, condition) -> actions
    let mut grouped: BTreeMap<(String, Vec<String>, String), BTreeSet<String>> = BTreeMap::new();
    for ((action, condition), resources) in by_action {
        let resources: Vec<String> = if resources.contains("*") {
            vec!["*".into()]
        } else {
            resources.into_iter().collect()
        };
        grouped
            .entry((service_of(&action).to_string(), resources, condition))
            .or_default()
            .insert(action);
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let statements: Vec<Json> = grouped
        .into_iter()
        .map(|((service, resources, condition), actions)| {
            let n = count.entry(service.clone()).or_default();
            *n += 1;
            let sid = format!(
                "{}{}",
                sid_of(&service),
                if *n > 1 { n.to_string() } else { String::new() }
            );
            let mut s = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions.into_iter().collect::<Vec<_>>(),
                "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
            });
            if !condition.is_empty() {
                s["Condition"] = serde_json::from_str(&condition).unwrap_or(Json::Null);
            }
            s
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// `s3` -> `S3`, `apigateway` -> `Apigateway`: a statement id from letters and digits.
fn sid_of(service: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in service.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// The document as text to read: statements grouped by service, one action a line.
pub fn render(doc: &Json) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for s in doc["Statement"].as_array().into_iter().flatten() {
        let actions: Vec<&str> = s["Action"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        let service = actions.first().map_or("", |a| service_of(a)).to_string();
        if service != last {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{service}\n"));
            last = service;
        }
        let resources: Vec<String> = match &s["Resource"] {
            Json::String(r) => vec![r.clone()],
            Json::Array(rs) => rs
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        out.push_str(&format!("  {}\n", actions.join(", ")));
        for r in resources {
            out.push_str(&format!("    on {r}\n"));
        }
        if let Some(c) = s.get("Condition") {
            out.push_str(&format!("    when {c}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_on_the_same_resources_share_a_statement() {
        let bucket = vec!["arn:aws:s3:::b".to_string()];
        let doc = document(&[
            allow(Step::Read, &["s3:GetBucketPolicy"], &bucket),
            allow(Step::Write, &["s3:PutBucketPolicy"], &bucket),
            allow(Step::Read, &["sts:GetCallerIdentity"], &["*".into()]),
        ]);
        assert_eq!(
            doc["Statement"],
            json!([
                {"Sid": "S3", "Effect": "Allow", "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy"], "Resource": "arn:aws:s3:::b"},
                {"Sid": "Sts", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"},
            ])
        );
    }
}
