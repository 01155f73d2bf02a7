//! A type's registry schema fetched from CloudFormation (`DescribeType`) into the cache,
//! with what identifies its version beside it (`aws-sns-topic.version.json`): a fetch
//! whose answer has the same version leaves the cache as it is; another version replaces
//! the schema (written to a temporary file and renamed, so a reader never sees half).
//!
//! AWS gives its own (public) types no version id: `DefaultVersionId` is null for public
//! types and `LastUpdated` / `TimeCreated` are documented for private and activated ones
//! only. The version is therefore what AWS returns of the three, and the schema's SHA-256.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::schema::{file_name, parse};
use crate::aws::query::xml_text;
use crate::aws::{AwsError, Clients};

/// What identifies the version of a cached schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_created: Option<String>,
    pub sha256: String,
}

/// What a fetch did to the cache.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The cache held this version already: nothing was written.
    Unchanged,
    /// The schema was written (missing, or another version).
    Written,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "CloudFormation knows no resource type {type_name} in {region} (DescribeType: TypeNotFoundException): check the name's spelling and case, and that the type exists in this region"
    )]
    NotFound { type_name: String, region: String },
    #[error("the schema DescribeType returned for {type_name} cannot be used: {problem}")]
    Invalid { type_name: String, problem: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("cannot write the schema cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The version file beside a schema file.
fn version_file(dir: &Path, region: &str, type_name: &str) -> PathBuf {
    dir.join(region)
        .join(file_name(type_name).replace(".json", ".version.json"))
}

/// The recorded version of the cached schema of `type_name` in `region`, if any.
pub fn cached_version(dir: &Path, region: &str, type_name: &str) -> Option<Version> {
    let text = std::fs::read_to_string(version_file(dir, region, type_name)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Asks CloudFormation for the schema of `type_name` in the clients' region, and writes
/// it to the cache in `dir` unless the cache holds that version already.
pub async fn fetch(aws: &Clients, dir: &Path, type_name: &str) -> Result<Fetched, FetchError> {
    let answer = aws
        .cloudformation
        .call(
            "DescribeType",
            &[("Type", "RESOURCE"), ("TypeName", type_name)],
        )
        .await;
    let xml = match answer {
        Err(e) if e.code_is(&["TypeNotFoundException"]) => {
            return Err(FetchError::NotFound {
                type_name: type_name.to_string(),
                region: aws.region.clone(),
            });
        }
        other => other?,
    };
    let invalid = |problem: String| FetchError::Invalid {
        type_name: type_name.to_string(),
        problem,
    };
    let schema = xml_text(&xml, "Schema").ok_or_else(|| invalid("no `Schema`".into()))?;
    let parsed = parse(&schema).map_err(invalid)?;
    if parsed.type_name != type_name {
        return Err(invalid(format!("it describes {}", parsed.type_name)));
    }
    let version = Version {
        default_version_id: xml_text(&xml, "DefaultVersionId"),
        last_updated: xml_text(&xml, "LastUpdated"),
        time_created: xml_text(&xml, "TimeCreated"),
        sha256: format!("{:x}", Sha256::digest(schema.as_bytes())),
    };
    let schema_path = dir.join(&aws.region).join(file_name(type_name));
    if schema_path.is_file() && cached_version(dir, &aws.region, type_name) == Some(version.clone())
    {
        return Ok(Fetched::Unchanged);
    }
    // The schema first, then its version: a run stopped between the two leaves a version
    // that does not match, and the next fetch writes both again.
    write_atomically(&schema_path, schema.as_bytes())?;
    let record = serde_json::to_vec_pretty(&version).unwrap_or_default();
    write_atomically(&version_file(dir, &aws.region, type_name), &record)?;
    Ok(Fetched::Written)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let io = |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
