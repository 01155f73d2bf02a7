//! Policy documents compared as meaning, not text: keys sorted, a single statement or a
//! one-element list written either way, string lists sorted where order carries no
//! meaning. Two documents that normalise equally never show as a change.

use serde_json::{Map, Value as Json};

const STRING_OR_LIST: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

pub fn normalize(doc: &Json) -> Json {
    normalize_in(doc, None)
}

fn normalize_in(value: &Json, key: Option<&str>) -> Json {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                let v = &map[k];
                let v = if k == "Statement" && v.is_object() {
                    Json::Array(vec![v.clone()])
                } else {
                    v.clone()
                };
                out.insert(k.clone(), normalize_in(&v, Some(k)));
            }
            Json::Object(out)
        }
        Json::Array(items) if key == Some("Statement") => {
            Json::Array(items.iter().map(|i| normalize_in(i, None)).collect())
        }
        Json::Array(items) => {
            // Inside Action/Resource/Principal/Condition values, a list is a set of strings.
            let mut items: Vec<Json> = items.iter().map(|i| normalize_in(i, None)).collect();
            items.sort_by_key(|i| i.to_string());
            items.dedup();
            if items.len() == 1 && key.is_some() {
                items.pop().expect("one item")
            } else {
                Json::Array(items)
            }
        }
        Json::Number(n) if key.is_some_and(|k| !STRING_OR_LIST.contains(&k)) => {
            Json::String(n.to_string())
        }
        Json::Bool(b) if key.is_some() => Json::String(b.to_string()),
        other => other.clone(),
    }
}

pub fn equivalent(a: &Json, b: &Json) -> bool {
    normalize(a) == normalize(b)
}

/// `{ service = "lambda.amazonaws.com" }` (or a list of services) as a full trust policy;
/// a full document is returned as it is.
pub fn expand_trust_policy(doc: &Json) -> Json {
    let Some(service) = doc.get("service") else {
        return doc.clone();
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_values_and_one_element_lists_are_equal() {
        let a = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:x"]}});
        let b = json!({"Statement": [{"Resource": "arn:x", "Action": ["s3:GetObject"], "Effect": "Allow"}], "Version": "2012-10-17"});
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn action_order_does_not_matter_but_content_does() {
        let a = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]});
        let b = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]});
        let c = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]});
        assert!(equivalent(&a, &b));
        assert!(!equivalent(&a, &c));
    }

    #[test]
    fn condition_values_compare_as_strings() {
        let a = json!({"Statement": [{"Condition": {"Bool": {"aws:SecureTransport": false}}}]});
        let b = json!({"Statement": [{"Condition": {"Bool": {"aws:SecureTransport": ["false"]}}}]});
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn trust_policy_shorthand_expands() {
        let doc = expand_trust_policy(&json!({"service": "lambda.amazonaws.com"}));
        assert_eq!(
            doc["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com"
        );
        assert_eq!(doc["Statement"][0]["Action"], "sts:AssumeRole");
    }
}
