//! `strata policy`: the least-privilege IAM policy a stack needs, assembled from what each
//! resource type declares it calls ([`crate::resources::Resource::permissions`]), scoped to
//! the ARNs the stack's names give, plus what every run and the state backend need.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value as Json, json};

use crate::config::Stack;
use crate::config::expr::evaluate;
use crate::config::model::{Backend, BaseScope};
use crate::resources::arn;
use crate::resources::iam::{Permission, Place, Step, allow, service_of};
use crate::resources::implementation;
use crate::value::{Attrs, Value};

/// The commands a policy is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum For {
    Plan,
    Apply,
    Destroy,
}

impl For {
    pub const ALL: [For; 3] = [For::Plan, For::Apply, For::Destroy];

    /// The steps of a run of this command.
    fn steps(self) -> &'static [Step] {
        match self {
            For::Plan => &[Step::Read],
            // Apply plans first, and replaces or removes what the stack changed.
            For::Apply => &[Step::Read, Step::Write, Step::Delete],
            For::Destroy => &[Step::Delete],
        }
    }
}

/// The stack's resources' attributes as far as they are known before anything exists:
/// names, and the ARNs and URLs that follow from names.
pub fn named_attributes(stack: &Stack, at: &Place) -> BTreeMap<String, Attrs> {
    let order = stack
        .graph
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

/// Every permission a run of `commands` needs, before merging.
pub fn permissions(
    stack: &Stack,
    backend: Option<&Backend>,
    at: &Place,
    commands: &[For],
) -> Vec<Permission> {
    let steps: BTreeSet<Step> = commands.iter().flat_map(|c| c.steps()).copied().collect();
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
