//! `strata schemas import`: registry schemas copied into the cache, for a machine that
//! cannot (or should not) ask CloudFormation for them.

use std::path::PathBuf;

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
