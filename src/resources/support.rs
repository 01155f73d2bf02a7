//! Small helpers shared by the resource implementations.

use indexmap::IndexMap;

use crate::aws::AwsError;
use crate::plan::diff::same;
use crate::schema::Schema;
use crate::value::{Attrs, Value};

/// A string attribute, or an error naming it (a validated stack always has required ones).
pub fn req_str<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, AwsError> {
    attrs.get(name).and_then(Value::as_str).ok_or_else(|| {
        AwsError::new(
            "prepare",
            format!("attribute `{name}` is missing or unknown"),
        )
    })
}

pub fn opt_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(Value::as_str)
}

pub fn opt_i64(attrs: &Attrs, name: &str) -> Option<i64> {
    attrs.get(name).and_then(Value::as_i64)
}

pub fn opt_bool(attrs: &Attrs, name: &str) -> Option<bool> {
    attrs.get(name).and_then(Value::as_bool)
}

/// Whether `desired` sets `name` to something `live` does not have.
pub fn changed(schema: &Schema, name: &str, desired: &Attrs, live: &Attrs) -> bool {
    let Some(attr) = schema.attribute(name) else {
        return false;
    };
    match desired.get(name) {
        Some(want) => !same(&attr.ty, want, live.get(name)),
        None => false,
    }
}

/// Tags as a sorted map of strings.
pub fn tags(attrs: &Attrs) -> IndexMap<String, String> {
    let mut out: IndexMap<String, String> = attrs
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    out.sort_keys();
    out
}

pub fn tags_value<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut map: IndexMap<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
        .collect();
    map.sort_keys();
    Value::Map(map)
}

/// A JSON document (policy) from an attribute value.
pub fn json_of(attrs: &Attrs, name: &str) -> Result<String, AwsError> {
    let v = attrs
        .get(name)
        .ok_or_else(|| AwsError::new("prepare", format!("attribute `{name}` is missing")))?;
    if !v.is_known() {
        return Err(AwsError::new(
            "prepare",
            format!("attribute `{name}` is not known yet"),
        ));
    }
    Ok(v.to_json().to_string())
}

/// Parses a JSON document AWS returned (policies may come URL-encoded from IAM).
pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text)
        .map(|j| Value::from_json(&j))
        .unwrap_or_else(|_| Value::Str(text.to_string()))
}
