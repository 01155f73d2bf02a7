//! Attribute values as strata sees them: JSON-like, plus `Unknown` for what only apply
//! will tell (the ARN of a queue not yet created).

use indexmap::IndexMap;
use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(IndexMap<String, Value>),
    /// Known after apply.
    Unknown,
}

impl Value {
    pub fn is_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(items) => items.iter().all(Value::is_known),
            Value::Map(map) => map.values().all(Value::is_known),
            _ => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&IndexMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.get(key)
    }

    /// JSON for state, saved plans and `--json`; `Unknown` becomes null (the plan marks
    /// unknown values separately).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null | Value::Unknown => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Str(s) => Json::String(s.clone()),
            Value::List(l) => Json::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    pub fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            Json::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// A short rendering for plans and messages: strings quoted, maps and lists inline.
    pub fn render(&self) -> String {
        match self {
            Value::Unknown => "(known after apply)".into(),
            Value::Null => "null".into(),
            Value::Str(s) => format!("{s:?}"),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::List(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(Value::render)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Value::Map(map) => format!(
                "{{ {} }}",
                map.iter()
                    .map(|(k, v)| format!("{} = {}", render_key(k), v.render()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A map key as TOML would write it: bare when it can be, quoted otherwise.
fn render_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

pub type Attrs = IndexMap<String, Value>;

/// The mark a saved plan writes for a value known only after apply. Plain JSON has no
/// such value, and a user's map never has this key alone.
const UNKNOWN_MARK: &str = "(known after apply)";

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Unknown => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(UNKNOWN_MARK, &true)?;
                map.end()
            }
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            scalar => serde::Serialize::serialize(&scalar.to_json(), serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn convert(json: Json) -> Value {
            match json {
                Json::Object(o)
                    if o.len() == 1 && o.get(UNKNOWN_MARK) == Some(&Json::Bool(true)) =>
                {
                    Value::Unknown
                }
                Json::Object(o) => {
                    Value::Map(o.into_iter().map(|(k, v)| (k, convert(v))).collect())
                }
                Json::Array(a) => Value::List(a.into_iter().map(convert).collect()),
                scalar => Value::from_json(&scalar),
            }
        }
        <Json as serde::Deserialize>::deserialize(deserializer).map(convert)
    }
}

/// Attributes as one JSON object, for state files.
pub fn attrs_to_json(attrs: &Attrs) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

pub fn attrs_from_json(json: &Json) -> Attrs {
    json.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::indexmap;

    #[test]
    fn values_with_unknown_parts_survive_a_saved_plan_round_trip() {
        let value = Value::Map(indexmap! {
            "dead_letter_queue".into() => Value::Unknown,
            "max_receive_count".into() => Value::Int(5),
            "ratio".into() => Value::Float(0.5),
            "tags".into() => Value::List(vec![Value::Str("a".into()), Value::Null, Value::Bool(true)]),
        });
        let text = serde_json::to_string(&value).unwrap();
        assert_eq!(
            text,
            r#"{"dead_letter_queue":{"(known after apply)":true},"max_receive_count":5,"ratio":0.5,"tags":["a",null,true]}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
