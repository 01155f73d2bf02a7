//! A Cloud Control type's registry schema (the JSON CloudFormation's DescribeType returns,
//! and that cfn-lint ships): its properties become the attributes of a strata [`Schema`]
//! (so that the checker, the planner and references work as for native types), and its
//! lists of create-only, read-only and write-only properties, its primary identifier and
//! its handlers' permissions are kept beside it ([`TypeSchema`]).
//!
//! Schemas live in the user's cache directory, one file per type and region:
//! `$XDG_CACHE_HOME/strata/cloudformation-schemas/<region>/aws-sns-topic.json` (cfn-lint's
//! file names). `strata schemas import DIR` puts them there ([`import`]).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::schema::{Attribute, Identity, Map, Schema, Text, Type, attr};

/// What strata keeps of a type's registry schema besides its attributes.
pub struct TypeSchema {
    pub type_name: &'static str,
    pub schema: &'static Schema,
    /// The top-level properties whose values, joined with `|`, identify an object.
    pub primary_identifier: Vec<String>,
    /// Top-level properties that cannot change in place (a nested create-only property
    /// makes its whole top-level property create-only).
    pub create_only: Vec<String>,
    /// Properties only AWS sets (ARNs, ids): references may use them.
    pub read_only: Vec<String>,
    /// Properties AWS takes and never returns (secrets).
    pub write_only: Vec<String>,
    pub handlers: Handlers,
    /// `FULLY_MUTABLE`, `IMMUTABLE` or `NON_PROVISIONABLE`, when the schema says.
    pub provisioning: Option<String>,
    /// Where the schema was read from.
    pub source: PathBuf,
}

/// The IAM actions each handler of the type calls on the caller's behalf.
#[derive(Default)]
pub struct Handlers {
    pub create: Vec<&'static str>,
    pub read: Vec<&'static str>,
    pub update: Vec<&'static str>,
    pub delete: Vec<&'static str>,
    pub list: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "no schema of {type_name} is cached in {dir}: import the type's registry schema with `strata schemas import DIR` (cfn-lint ships them: `pip download cfn-lint --no-deps`)"
    )]
    NotCached { type_name: String, dir: String },
    #[error("the schema of {type_name} in {path} cannot be used: {problem}")]
    Invalid {
        type_name: String,
        path: String,
        problem: String,
    },
    #[error("{0}")]
    Io(String),
}

/// Where the schemas are cached: `$XDG_CACHE_HOME/strata/cloudformation-schemas`, else
/// `~/.cache/strata/cloudformation-schemas`.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("strata").join("cloudformation-schemas")
}

/// cfn-lint's file name of a type: `AWS::SNS::Topic` -> `aws-sns-topic.json`.
pub fn file_name(type_name: &str) -> String {
    format!("{}.json", type_name.to_lowercase().replace("::", "-"))
}

/// The region whose schemas are preferred: the environment's (the stack's region is the
/// same in a run; schemas hardly differ between regions).
fn preferred_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
}

/// The cached schema file of `type_name`: the preferred region's, else any region's.
pub fn cached_file(dir: &Path, type_name: &str) -> Option<PathBuf> {
    let name = file_name(type_name);
    if let Some(region) = preferred_region() {
        let path = dir.join(region).join(&name);
        if path.is_file() {
            return Some(path);
        }
    }
    let mut regions: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    regions.sort();
    regions
        .into_iter()
        .map(|r| r.join(&name))
        .find(|p| p.is_file())
}

/// Loads the cached schema of `type_name`.
pub fn load(dir: &Path, type_name: &str) -> Result<TypeSchema, SchemaError> {
    let path = cached_file(dir, type_name).ok_or_else(|| SchemaError::NotCached {
        type_name: type_name.to_string(),
        dir: dir.display().to_string(),
    })?;
    let invalid = |problem: String| SchemaError::Invalid {
        type_name: type_name.to_string(),
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
    let mut schema = parse(&text).map_err(invalid)?;
    if schema.type_name != type_name {
        return Err(invalid(format!("it describes {}", schema.type_name)));
    }
    schema.source = path;
    Ok(schema)
}

/// Copies every registry schema (`*.json` with a `typeName`) in `from` into the cache for
/// `region`, each under its type's file name. Returns the types imported.
pub fn import(from: &Path, dir: &Path, region: &str) -> Result<Vec<String>, SchemaError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        SchemaError::Io(format!("cannot {what} {}: {e}", path.display()))
    };
    let target = dir.join(region);
    std::fs::create_dir_all(&target).map_err(|e| io("create", &target, e))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| io("read", from, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let mut imported = Vec::new();
    for path in entries {
        let text = std::fs::read_to_string(&path).map_err(|e| io("read", &path, e))?;
        // Other JSON files (cfn-lint's region indexes) are not schemas: skipped.
        let Ok(schema) = parse(&text) else {
            continue;
        };
        let out = target.join(file_name(schema.type_name));
        std::fs::write(&out, &text).map_err(|e| io("write", &out, e))?;
        imported.push(schema.type_name.to_string());
    }
    Ok(imported)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The top-level property a JSON pointer (`/properties/Tags/0/Key`) is in.
fn top_level(pointer: &str) -> Option<String> {
    pointer
        .strip_prefix("/properties/")
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
}

fn pointers(root: &Json, key: &str) -> Vec<String> {
    let mut out: Vec<String> = root[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .filter_map(top_level)
                .collect()
        })
        .unwrap_or_default();
    out.dedup();
    out
}

/// Parses a registry schema. Each type is leaked once per process (a stack names few).
pub fn parse(text: &str) -> Result<TypeSchema, String> {
    let root: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let type_name = root["typeName"]
        .as_str()
        .ok_or("no `typeName`: not a resource type schema")?;
    let properties = root["properties"]
        .as_object()
        .ok_or("no `properties`: not a resource type schema")?;
    let create_only = pointers(&root, "createOnlyProperties");
    let read_only = pointers(&root, "readOnlyProperties");
    let write_only = pointers(&root, "writeOnlyProperties");
    let primary_identifier = pointers(&root, "primaryIdentifier");
    let required: Vec<&str> = root["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let mut attributes = Vec::new();
    let mut computed = Vec::new();
    for (name, def) in properties {
        if read_only.contains(name) {
            computed.push(leak(name));
            continue;
        }
        let ty = property_type(def, &root, 0);
        let mut a = attr(leak(name), ty).doc(leak(def["description"].as_str().unwrap_or("")));
        if required.contains(&name.as_str()) {
            a = a.required();
        }
        if create_only.contains(name) {
            a = a.force_new();
        }
        // A secret AWS never returns: recorded as its seal, never shown.
        if write_only.contains(name) && matches!(a.ty, Type::String(_)) {
            a = a.sensitive();
        }
        attributes.push(a);
    }
    let handler = |name: &str| -> Vec<&'static str> {
        root["handlers"][name]["permissions"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).map(leak).collect())
            .unwrap_or_default()
    };
    let handlers = Handlers {
        create: handler("create"),
        read: handler("read"),
        update: handler("update"),
        delete: handler("delete"),
        list: handler("list"),
    };
    let type_name = leak(type_name);
    let import_id = leak(&format!(
        "the Cloud Control identifier: {}",
        if primary_identifier.is_empty() {
            "as the type's schema defines it".to_string()
        } else {
            primary_identifier.join(" and ")
        }
    ));
    let schema: &'static Schema = Box::leak(Box::new(Schema {
        type_name,
        description: leak(&format!("{type_name}, through the Cloud Control API")),
        import_id,
        notes: "",
        attributes: Box::leak(attributes.into_boxed_slice()),
        computed: Box::leak(computed.into_boxed_slice()),
        examples: &[],
        identity: Identity::NONE,
        check: None,
    }));
    Ok(TypeSchema {
        type_name,
        schema,
        primary_identifier,
        create_only,
        read_only,
        write_only,
        handlers,
        provisioning: root["provisioningType"].as_str().map(str::to_string),
        source: PathBuf::new(),
    })
}

/// Definitions nest (a rule's statement's ...); deeper than this, a value is any value.
const MAX_DEPTH: usize = 8;

/// The strata type of a JSON Schema property. Patterns are left out: the registry's use
/// syntax (`\p{L}`, look-around) strata's checker does not read; AWS checks them.
fn property_type(def: &Json, root: &Json, depth: usize) -> Type {
    if depth > MAX_DEPTH {
        return Type::Any;
    }
    if let Some(pointer) = def["$ref"].as_str() {
        let Some(name) = pointer.strip_prefix("#/definitions/") else {
            return Type::Any;
        };
        return property_type(&root["definitions"][name], root, depth + 1);
    }
    let int = |key: &str, default: i64| def[key].as_i64().unwrap_or(default);
    let float = |key: &str, default: f64| def[key].as_f64().unwrap_or(default);
    let size = |key: &str, default: usize| {
        def[key]
            .as_u64()
            .map_or(default, |n| usize::try_from(n).unwrap_or(default))
    };
    let kind = def["type"]
        .as_str()
        .or_else(|| def["properties"].is_object().then_some("object"));
    match kind {
        Some("string") => match def["enum"].as_array() {
            Some(values) if values.iter().all(Json::is_string) => Type::Enum(Box::leak(
                values
                    .iter()
                    .filter_map(Json::as_str)
                    .map(leak)
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            )),
            _ => Type::String(Text::len(
                size("minLength", 0),
                size("maxLength", usize::MAX),
            )),
        },
        Some("integer") => Type::Int {
            min: int("minimum", i64::MIN),
            max: int("maximum", i64::MAX),
        },
        Some("number") => Type::Float {
            min: float("minimum", f64::MIN),
            max: float("maximum", f64::MAX),
        },
        Some("boolean") => Type::Bool,
        Some("array") => Type::List {
            item: Box::leak(Box::new(property_type(&def["items"], root, depth + 1))),
            min: size("minItems", 0),
            max: size("maxItems", usize::MAX),
            unique: def["uniqueItems"].as_bool() == Some(true),
        },
        Some("object") => match def["properties"].as_object() {
            Some(properties) if def["patternProperties"].is_null() => {
                let required: Vec<&str> = def["required"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                let fields: Vec<Attribute> = properties
                    .iter()
                    .map(|(name, field)| {
                        let a = attr(leak(name), property_type(field, root, depth + 1));
                        if required.contains(&name.as_str()) {
                            a.required()
                        } else {
                            a
                        }
                    })
                    .collect();
                Type::Object(Box::leak(fields.into_boxed_slice()))
            }
            _ => Type::Map(Map {
                keys: Text::ANY,
                values: &Type::Any,
                max: usize::MAX,
            }),
        },
        _ => Type::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/cloudformation-schemas")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn a_registry_schema_becomes_attributes_with_its_property_lists() {
        let topic = parse(&fixture("aws-sns-topic.json")).unwrap();
        assert_eq!(topic.type_name, "AWS::SNS::Topic");
        assert_eq!(topic.primary_identifier, ["TopicArn"]);
        assert_eq!(topic.create_only, ["TopicName", "FifoTopic"]);
        assert_eq!(topic.schema.computed, ["TopicArn"]);
        assert!(topic.schema.attribute("TopicArn").is_none(), "read-only");
        let name = topic.schema.attribute("TopicName").unwrap();
        assert!(name.force_new && !name.required);
        assert!(!topic.schema.attribute("DisplayName").unwrap().force_new);
        assert!(topic.handlers.create.contains(&"sns:CreateTopic"));
        assert!(topic.handlers.delete.contains(&"sns:DeleteTopic"));
        // Tags: an array of { Key, Value } tables, through `$ref`.
        let Type::List { item, .. } = &topic.schema.attribute("Tags").unwrap().ty else {
            panic!("Tags is a list")
        };
        let Type::Object(fields) = item else {
            panic!("a tag is a table")
        };
        let key = fields.iter().find(|f| f.name == "Key").unwrap();
        assert!(key.required);
        assert!(matches!(
            key.ty,
            Type::String(Text {
                min: 1,
                max: 128,
                ..
            })
        ));

        let subscription = parse(&fixture("aws-sns-subscription.json")).unwrap();
        assert_eq!(
            subscription.create_only,
            ["Endpoint", "Protocol", "TopicArn"]
        );
        let protocol = subscription.schema.attribute("Protocol").unwrap();
        assert!(protocol.required && protocol.force_new);
        // Region is write-only: a string, so a secret-like attribute never printed.
        assert!(subscription.schema.attribute("Region").unwrap().sensitive);

        let queue = parse(&fixture("aws-sqs-queue.json")).unwrap();
        assert_eq!(queue.primary_identifier, ["QueueUrl"]);
        assert_eq!(queue.schema.computed, ["Arn", "QueueUrl"]);
        assert!(matches!(
            queue.schema.attribute("VisibilityTimeout").unwrap().ty,
            Type::Int { .. }
        ));
    }

    #[test]
    fn what_is_not_a_schema_is_refused_and_import_skips_it() {
        assert!(parse("{}").err().unwrap().contains("typeName"));
        assert!(parse("[1").err().unwrap().contains("not JSON"));
        let from = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        std::fs::write(
            from.path().join("index.json"),
            "{\"AWS::SNS::Topic\": \"x\"}",
        )
        .unwrap();
        std::fs::write(
            from.path().join("55996ca553a6ab0c.json"),
            fixture("aws-sns-topic.json"),
        )
        .unwrap();
        let imported = import(from.path(), cache.path(), "eu-west-1").unwrap();
        assert_eq!(imported, ["AWS::SNS::Topic"]);
        assert!(cache.path().join("eu-west-1/aws-sns-topic.json").is_file());
        let loaded = load(cache.path(), "AWS::SNS::Topic").unwrap();
        assert_eq!(loaded.type_name, "AWS::SNS::Topic");
        assert!(matches!(
            load(cache.path(), "AWS::SQS::Queue"),
            Err(SchemaError::NotCached { .. })
        ));
    }
}
