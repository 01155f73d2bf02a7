//! The pure heart of planning: compare what the stack wants with what AWS has, attribute by
//! attribute, and choose the action (Terraform's getAction).

use crate::schema::{Schema, Type, field, same};
use crate::value::{Attrs, Value};

use super::{Action, Change};

/// Desired attributes with schema defaults filled in for what the stack leaves out, except
/// the attributes an existing object keeps when omitted (`keep_live`): those get theirs
/// only when an object is made ([`with_creation_defaults`]).
pub fn with_defaults(schema: &Schema, desired: &Attrs) -> Attrs {
    let mut out = Attrs::new();
    for attr in schema.attributes {
        match desired.get(attr.name) {
            Some(v) => {
                out.insert(attr.name.to_string(), fill(&attr.ty, v));
            }
            None => {
                if let (Some(d), false) = (attr.default, attr.keep_live) {
                    out.insert(attr.name.to_string(), d.value());
                }
            }
        }
    }
    out
}

/// The desired attributes of an object about to be made: each `keep_live` attribute the
/// stack leaves out takes the value of the object it replaces (`replaced`, whose limits a
/// replacement must not shrink), else its default; with neither, AWS's own default.
pub fn with_creation_defaults(schema: &Schema, desired: &mut Attrs, replaced: Option<&Attrs>) {
    let position = |name: &str| schema.attributes.iter().position(|a| a.name == name);
    for (at, attr) in schema.attributes.iter().enumerate() {
        if !attr.keep_live || desired.contains_key(attr.name) {
            continue;
        }
        let kept = replaced.and_then(|live| live.get(attr.name)).cloned();
        if let Some(value) = kept.or_else(|| attr.default.map(|d| d.value())) {
            // Where `with_defaults` would have put it, as a plan lists them.
            let index = desired
                .keys()
                .take_while(|k| position(k).is_some_and(|p| p < at))
                .count();
            desired.shift_insert(index, attr.name.to_string(), value);
        }
    }
}

fn fill(ty: &Type, value: &Value) -> Value {
    let value = &crate::schema::coerce(ty, value.clone());
    match (ty, value) {
        (Type::Object(fields), Value::Map(map)) => {
            let mut out = map.clone();
            for f in fields.iter() {
                if let (None, Some(d)) = (out.get(f.name), f.default) {
                    out.insert(f.name.to_string(), d.value());
                }
            }
            for f in fields.iter() {
                if let Some(v) = out.get(f.name).cloned() {
                    out.insert(f.name.to_string(), fill(&f.ty, &v));
                }
            }
            Value::Map(out)
        }
        (Type::List { item, .. }, Value::List(items)) => {
            Value::List(items.iter().map(|i| fill(item, i)).collect())
        }
        (Type::Map(map_type), Value::Map(map)) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(map_type.values, v)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// Attribute changes from `live` to `desired` (both in schema terms, desired with defaults).
/// Only what the stack manages is compared: attributes it neither sets nor defaults are
/// AWS's business.
pub fn changes(schema: &Schema, desired: &Attrs, live: &Attrs) -> Vec<Change> {
    let mut out = Vec::new();
    for attr in schema.attributes {
        let Some(want) = desired.get(attr.name) else {
            continue;
        };
        // A code directory is compared by content (the resource pins a hash), not by path.
        if matches!(attr.ty, Type::Directory) {
            continue;
        }
        let start = out.len();
        nested(
            &attr.ty,
            attr.name,
            want,
            live.get(attr.name),
            attr.force_new,
            &mut out,
        );
        for change in &mut out[start..] {
            change.sensitive = attr.sensitive;
        }
    }
    // A computed attribute the resource type can predict (a code hash) is compared too.
    for computed in schema.computed {
        if let Some(want) = desired.get(*computed)
            && Some(want) != live.get(*computed)
        {
            out.push(Change {
                path: computed.to_string(),
                before: live.get(*computed).cloned(),
                after: Some(want.clone()),
                forces_replacement: false,
                origin: None,
                sensitive: false,
            });
        }
    }
    out
}

/// The changes inside one attribute, as precisely as its type allows: a field of a table,
/// an item of a list of the same length, a key of a map.
fn nested(
    ty: &Type,
    path: &str,
    want: &Value,
    have: Option<&Value>,
    force: bool,
    out: &mut Vec<Change>,
) {
    if same(ty, want, have) {
        return;
    }
    let before = out.len();
    match (ty, want, have) {
        (Type::Object(fields), Value::Map(w), Some(Value::Map(h))) if want.is_known() => {
            for (k, v) in w {
                if let Some(f) = field(fields, k) {
                    nested(&f.ty, &format!("{path}.{k}"), v, h.get(k), force, out);
                }
            }
        }
        (Type::List { item, .. }, Value::List(w), Some(Value::List(h)))
            if w.len() == h.len() && want.is_known() =>
        {
            for (i, (a, b)) in w.iter().zip(h).enumerate() {
                nested(item, &format!("{path}[{i}]"), a, Some(b), force, out);
            }
        }
        (Type::Map(map), Value::Map(w), Some(Value::Map(h))) if want.is_known() => {
            for (k, v) in w {
                nested(map.values, &format!("{path}.{k}"), v, h.get(k), force, out);
            }
            for (k, v) in h.iter().filter(|(k, _)| !w.contains_key(*k)) {
                out.push(Change {
                    path: format!("{path}.{k}"),
                    before: Some(v.clone()),
                    after: None,
                    forces_replacement: force,
                    origin: None,
                    sensitive: false,
                });
            }
        }
        _ => {}
    }
    if out.len() == before {
        out.push(Change {
            path: path.to_string(),
            before: have.cloned(),
            after: Some(want.clone()),
            forces_replacement: force,
            origin: None,
            sensitive: false,
        });
    }
}

/// The action for a resource that exists (`live`), given its changes.
pub fn action(changes: &[Change]) -> Action {
    if changes.is_empty() {
        Action::NoOp
    } else if changes.iter().any(|c| c.forces_replacement) {
        Action::Replace
    } else {
        Action::Update
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{s3_bucket, sqs_queue};
    use indexmap::indexmap;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn unchanged_queue_is_a_no_op_even_with_defaults_and_extra_live_attributes() {
        let desired = with_defaults(
            &sqs_queue::SCHEMA,
            &indexmap! { "name".into() => s("q"), "visibility_timeout_seconds".into() => Value::Int(360) },
        );
        let live = indexmap! {
            "name".into() => s("q"), "visibility_timeout_seconds".into() => Value::Int(360),
            "delay_seconds".into() => Value::Int(0), "maximum_message_size".into() => Value::Int(262144),
            "message_retention_seconds".into() => Value::Int(345600), "receive_wait_time_seconds".into() => Value::Int(0),
            "fifo_queue".into() => Value::Bool(false), "arn".into() => s("arn:q"),
        };
        let c = changes(&sqs_queue::SCHEMA, &desired, &live);
        assert_eq!(c, vec![]);
        assert_eq!(action(&c), Action::NoOp);
    }

    #[test]
    fn in_place_change_is_an_update_and_a_name_change_a_replace() {
        let live = with_defaults(&sqs_queue::SCHEMA, &indexmap! { "name".into() => s("q") });
        let mut desired = live.clone();
        desired.insert("visibility_timeout_seconds".into(), Value::Int(60));
        let c = changes(&sqs_queue::SCHEMA, &desired, &live);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].before, Some(Value::Int(30)));
        assert_eq!(action(&c), Action::Update);

        desired.insert("name".into(), s("q2"));
        let c = changes(&sqs_queue::SCHEMA, &desired, &live);
        assert_eq!(action(&c), Action::Replace);
        assert!(c.iter().any(|c| c.path == "name" && c.forces_replacement));
    }

    #[test]
    fn unknown_values_are_changes() {
        let live = with_defaults(&sqs_queue::SCHEMA, &indexmap! { "name".into() => s("q") });
        let mut desired = live.clone();
        desired.insert("redrive_policy".into(), Value::Map(indexmap! { "dead_letter_queue".into() => Value::Unknown, "max_receive_count".into() => Value::Int(5) }));
        let c = changes(&sqs_queue::SCHEMA, &desired, &live);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "redrive_policy");
    }

    #[test]
    fn changes_inside_tables_lists_and_maps_name_the_exact_path() {
        use crate::resources::s3_bucket_notification;
        let queue = |prefix: &str| {
            Value::List(vec![Value::Map(indexmap! {
                "id".into() => s("a"), "queue_arn".into() => s("arn:q"),
                "events".into() => Value::List(vec![s("s3:ObjectCreated:*")]), "prefix".into() => s(prefix),
            })])
        };
        let live = indexmap! { "bucket".into() => s("b"), "queue".into() => queue("input/") };
        let desired = indexmap! { "bucket".into() => s("b"), "queue".into() => queue("incoming/") };
        let c = changes(&s3_bucket_notification::SCHEMA, &desired, &live);
        let expected = Change {
            path: "queue[0].prefix".into(),
            before: Some(s("input/")),
            after: Some(s("incoming/")),
            forces_replacement: false,
            origin: None,
            sensitive: false,
        };
        assert_eq!(c, vec![expected]);

        let live = indexmap! { "name".into() => s("q"), "tags".into() => Value::Map(indexmap! { "a".into() => s("1"), "old".into() => s("x") }) };
        let desired = indexmap! { "name".into() => s("q"), "tags".into() => Value::Map(indexmap! { "a".into() => s("2") }) };
        let paths: Vec<_> = changes(&sqs_queue::SCHEMA, &desired, &live)
            .into_iter()
            .map(|c| (c.path, c.after.is_none()))
            .collect();
        assert_eq!(
            paths,
            [
                ("tags.a".to_string(), false),
                ("tags.old".to_string(), true)
            ]
        );
    }

    /// Issue 22: a queue made with other limits than the schema's defaults, imported into a
    /// stack that leaves them out, plans nothing; written in the stack, they plan a change.
    #[test]
    fn limits_the_stack_leaves_out_keep_their_live_values() {
        let live = indexmap! {
            "name".into() => s("q"), "fifo_queue".into() => Value::Bool(false),
            "delay_seconds".into() => Value::Int(0), "maximum_message_size".into() => Value::Int(131_072),
            "message_retention_seconds".into() => Value::Int(86_400), "receive_wait_time_seconds".into() => Value::Int(0),
            "visibility_timeout_seconds".into() => Value::Int(30),
        };
        let desired = with_defaults(&sqs_queue::SCHEMA, &indexmap! { "name".into() => s("q") });
        assert!(!desired.contains_key("maximum_message_size"), "{desired:?}");
        assert!(
            !desired.contains_key("message_retention_seconds"),
            "{desired:?}"
        );
        assert_eq!(changes(&sqs_queue::SCHEMA, &desired, &live), vec![]);

        let written = with_defaults(
            &sqs_queue::SCHEMA,
            &indexmap! { "name".into() => s("q"), "maximum_message_size".into() => Value::Int(262_144) },
        );
        let c = changes(&sqs_queue::SCHEMA, &written, &live);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].path.as_str(), &c[0].before, &c[0].after),
            (
                "maximum_message_size",
                &Some(Value::Int(131_072)),
                &Some(Value::Int(262_144))
            )
        );
        // An attribute with no keep-live mark still goes back to AWS's default.
        let mut drifted = live.clone();
        drifted.insert("visibility_timeout_seconds".into(), Value::Int(90));
        let c = changes(&sqs_queue::SCHEMA, &desired, &drifted);
        assert_eq!(c[0].path, "visibility_timeout_seconds");
        assert_eq!(c[0].after, Some(Value::Int(30)));
    }

    #[test]
    fn a_new_object_gets_the_defaults_and_a_replacement_the_live_limits() {
        let mut new = with_defaults(&sqs_queue::SCHEMA, &indexmap! { "name".into() => s("q") });
        with_creation_defaults(&sqs_queue::SCHEMA, &mut new, None);
        assert_eq!(new["message_retention_seconds"], Value::Int(345_600));
        // No default of strata's: AWS's own applies.
        assert!(!new.contains_key("maximum_message_size"), "{new:?}");

        let live = indexmap! {
            "maximum_message_size".into() => Value::Int(131_072),
            "message_retention_seconds".into() => Value::Int(86_400),
        };
        let mut replacement = with_defaults(
            &sqs_queue::SCHEMA,
            &indexmap! { "name".into() => s("q2"), "message_retention_seconds".into() => Value::Int(600) },
        );
        with_creation_defaults(&sqs_queue::SCHEMA, &mut replacement, Some(&live));
        assert_eq!(replacement["maximum_message_size"], Value::Int(131_072));
        assert_eq!(replacement["message_retention_seconds"], Value::Int(600));
    }

    #[test]
    fn nested_defaults_fill_in() {
        let desired = with_defaults(
            &s3_bucket::SCHEMA,
            &indexmap! {
                "name".into() => s("b"),
                "public_access_block".into() => Value::Map(indexmap! { "block_public_acls".into() => Value::Bool(true) }),
            },
        );
        let pab = desired["public_access_block"].as_map().unwrap();
        assert_eq!(pab["ignore_public_acls"], Value::Bool(false));
        // Encryption left out: a bucket keeps its own; a new one gets SSE-S3.
        assert!(!desired.contains_key("sse_algorithm"));
        let mut new = desired.clone();
        with_creation_defaults(&s3_bucket::SCHEMA, &mut new, None);
        assert_eq!(new["sse_algorithm"], s("AES256"));
    }
}
