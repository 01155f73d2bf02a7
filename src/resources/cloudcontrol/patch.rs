//! The documents Cloud Control takes: the desired state of a create (the properties the
//! stack writes, as JSON) and the RFC 6902 patch of an update, computed from the properties
//! the stack writes against the read-back model. A property the stack does not write is
//! never in a patch: what AWS defaulted or computed stays as it is.

use serde_json::{Value as Json, json};

use crate::schema::{Schema, same};
use crate::value::{Attrs, Value};

/// The properties of `desired` Cloud Control is sent (strata's own settings left out).
pub fn desired_state(schema: &Schema, desired: &Attrs) -> Json {
    let mut out = serde_json::Map::new();
    for attr in schema.attributes.iter().filter(|a| !a.local) {
        if let Some(value) = desired.get(attr.name).filter(|v| !matches!(v, Value::Null)) {
            out.insert(attr.name.to_string(), value.to_json());
        }
    }
    Json::Object(out)
}

/// A JSON pointer's token for a property name (RFC 6901: `~` and `/` escaped).
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The patch that brings `live` to `desired`: one `add` or `replace` per top-level
/// property the stack writes and AWS holds otherwise, and a `remove` for one the stack
/// sets to nothing (`Null`).
pub fn patch(schema: &Schema, desired: &Attrs, live: &Attrs) -> Json {
    let mut ops = Vec::new();
    for attr in schema.attributes.iter().filter(|a| !a.local) {
        let Some(want) = desired.get(attr.name) else {
            continue;
        };
        let have = live.get(attr.name);
        if same(&attr.ty, want, have) {
            continue;
        }
        let path = format!("/{}", token(attr.name));
        ops.push(match (want, have) {
            (Value::Null, _) => json!({ "op": "remove", "path": path }),
            (_, Some(_)) => json!({ "op": "replace", "path": path, "value": want.to_json() }),
            (_, None) => json!({ "op": "add", "path": path, "value": want.to_json() }),
        });
    }
    Json::Array(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::cloudcontrol::schema::parse;
    use indexmap::indexmap;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn topic() -> &'static Schema {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cloudformation-schemas/aws-sns-topic.json"
        ))
        .unwrap();
        parse(&text).unwrap().schema
    }

    #[test]
    fn the_patch_changes_only_what_the_stack_writes_and_aws_holds_otherwise() {
        let schema = topic();
        let live = indexmap! {
            "TopicName".into() => s("alerts"),
            "DisplayName".into() => s("Alerts"),
            "TopicArn".into() => s("arn:aws:sns:us-east-1:123456789012:alerts"),
            "SignatureVersion".into() => s("1"),
        };
        let desired = indexmap! {
            "TopicName".into() => s("alerts"),
            "DisplayName".into() => s("Alarms"),
            "Tags".into() => Value::List(vec![Value::Map(indexmap! {
                "Key".into() => s("team"), "Value".into() => s("ops"),
            })]),
        };
        assert_eq!(
            patch(schema, &desired, &live),
            json!([
                { "op": "replace", "path": "/DisplayName", "value": "Alarms" },
                { "op": "add", "path": "/Tags", "value": [{ "Key": "team", "Value": "ops" }] },
            ]),
            "SignatureVersion (AWS's default) and TopicArn (read-only) are left alone"
        );
        assert_eq!(patch(schema, &live, &live), json!([]));
        let cleared = indexmap! { "DisplayName".into() => Value::Null };
        assert_eq!(
            patch(schema, &cleared, &live),
            json!([{ "op": "remove", "path": "/DisplayName" }])
        );
        assert_eq!(token("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn the_desired_state_holds_the_written_properties() {
        let schema = topic();
        let desired = indexmap! {
            "TopicName".into() => s("alerts"),
            "DisplayName".into() => Value::Null,
            "Unknown".into() => s("dropped: not a property"),
        };
        assert_eq!(
            desired_state(schema, &desired),
            json!({ "TopicName": "alerts" })
        );
    }
}
