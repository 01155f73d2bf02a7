//! `strata fmt`: the canonical layout of a stack file, as the command line asks for it.

pub use crate::config::format::{FormatError, format, looks_like_a_stack};
