//! The integration tests, as one binary (one link instead of one per file). Each module
//! runs the built `strata` against a private local emulator, or on the stack files alone.

mod common;

mod accounts;
mod bad_input;
mod book;
mod chain;
mod cli;
mod cloudcontrol;
mod consumer_lambda;
mod crash;
mod credentials;
mod data_sources;
mod deployed;
mod editor;
mod engine;
mod faults;
mod for_each;
mod harness;
mod import;
mod least_privilege;
mod lifecycle;
mod lost_replies;
mod lost_replies_types;
mod modules;
mod moved;
mod multipart;
mod observability;
mod outputs;
mod package;
mod policy_tools;
mod rate_limit;
mod realism;
mod remote_state;
mod resource_fixes;
mod saved_plan;
mod stacks_dir;
mod state_commands;
mod takeover;
mod takeover_permission;
mod targeting;
mod types;
mod upload;
mod validate;
mod whole_stack;
