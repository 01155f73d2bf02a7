//! strata: declarative provisioning for AWS. A stack file (TOML, possibly extending
//! another) is loaded and validated ([`config`]), its resources form a dependency
//! [`graph`], each resource type ([`resources`]) is read through the AWS SDK ([`aws`]),
//! diffed into a [`plan`], and applied by the graph walk in [`apply`], recording every
//! object in [`state`]. [`ops`] strings these steps together for the command line, and
//! [`views`] renders plans and progress.

pub mod apply;
pub mod aws;
pub mod chain;
pub mod config;
pub mod diagnostics;
pub mod graph;
pub mod log;
pub mod ops;
pub mod plan;
pub mod policy;
pub mod resources;
pub mod schema;
pub mod state;
pub mod value;
pub mod views;
