//! The registry schemas of Cloud Control types: fetched from CloudFormation before a
//! command with credentials checks a stack ([`fetch`]), or copied into the cache by
//! `strata schemas import`, for a machine that cannot ask CloudFormation ([`import`]).

use std::path::{Path, PathBuf};

use super::{Access, OpsError};
use crate::resources::cloudcontrol;
use crate::resources::cloudcontrol::registry::{self, FetchError, Fetched};
use crate::resources::cloudcontrol::schema::{self, SchemaError};

/// What `strata schemas import` asks for.
pub struct ImportRequest {
    /// The directory of schema files; other JSON files in it are skipped.
    pub from: PathBuf,
    /// The region the schemas are for: else the environment's, else us-east-1.
    pub region: Option<String>,
}

/// What an import did, for the command line to render.
pub struct Imported {
    /// The type names imported, in file-name order.
    pub types: Vec<String>,
    /// The cache directory of the region they went to.
    pub into: PathBuf,
}

/// Copies the registry schemas in `request.from` into the cache of its region.
pub fn import(request: &ImportRequest) -> Result<Imported, SchemaError> {
    let region = request
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string());
    let cache = schema::cache_dir();
    let types = schema::import(&request.from, &cache, &region)?;
    Ok(Imported {
        types,
        into: cache.join(&region),
    })
}

/// Before a command with credentials (`plan`, `apply`) checks the stack in `file`: asks
/// CloudFormation (`DescribeType`, all at once) for the schema of every Cloud Control type
/// the stack names, cached or not, and caches each one whose version is new, so that the
/// check and the plan that follow read the current schema. A type CloudFormation does not
/// know is an error naming its resources; any other failure (access denied, no network)
/// leaves the cached schema in use, with the warning returned.
pub async fn fetch(
    file: &Path,
    vars: &[(String, String)],
    access: &Access,
) -> Result<Vec<String>, OpsError> {
    cloudcontrol::take_missing();
    let stack = super::load(file, vars).ok().map(|(stack, _)| stack);
    let mut named: Vec<(String, String)> = cloudcontrol::take_missing();
    if let Some(stack) = &stack {
        named.extend(
            stack
                .resources
                .values()
                .filter(|decl| cloudcontrol::is_cloudcontrol(decl.type_name()))
                .map(|decl| (decl.name.clone(), decl.type_name().to_string())),
        );
    }
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let mut types: Vec<&str> = named.iter().map(|(_, t)| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let aws = access.clients(stack.as_ref()).await?;
    let dir = schema::cache_dir();
    let answers =
        futures::future::join_all(types.iter().map(|t| registry::fetch(&aws, &dir, t))).await;
    let mut warnings = Vec::new();
    for (type_name, answer) in types.iter().zip(answers) {
        let mut resources: Vec<&str> = named
            .iter()
            .filter(|(_, t)| t == type_name)
            .map(|(name, _)| name.as_str())
            .collect();
        resources.dedup();
        let resources = resources.join("`, `");
        match answer {
            Ok(Fetched::Written) => cloudcontrol::forget(type_name),
            Ok(Fetched::Unchanged) => {}
            Err(error @ FetchError::NotFound { .. }) => {
                return Err(OpsError::Refused(format!(
                    "resource `{resources}` ({type_name}): {error}"
                )));
            }
            Err(error) => warnings.push(format!(
                "warning: cannot fetch the schema of {type_name} (resource `{resources}`): {error}; the cached schema, if any, is used"
            )),
        }
    }
    Ok(warnings)
}
