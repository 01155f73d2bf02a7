//! strata: declarative provisioning for AWS. A stack file (TOML, possibly extending
//! another) is loaded and validated ([`config`]), its resources form a dependency
//! [`graph`], and each resource type ([`resources`]) is read, diffed and applied through
//! the AWS SDK.

pub mod config;
pub mod graph;
pub mod resources;
pub mod schema;
pub mod value;
