//! `strata fmt`: stack files rewritten in the canonical layout ([`strata::ops::format`]),
//! or, with `--check`, the files that are not, listed (exit 3) as `terraform fmt -check`
//! does, for a pipeline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::out::{outln, sayln};
use strata::ops::format::{format, looks_like_a_stack};

/// `--check` found files to format.
const NOT_FORMATTED: u8 = 3;

pub fn fmt(paths: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            stacks_in(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    let mut differ = false;
    let mut failed = false;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let formatted = match format(&text) {
            Ok(formatted) => formatted,
            Err(error) => {
                eprintln!("error: {}: {error}", file.display());
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        differ = true;
        if check {
            outln!("{}", file.display())?;
        } else {
            std::fs::write(file, formatted)
                .with_context(|| format!("cannot write {}", file.display()))?;
            sayln!("{}", file.display());
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else if check && differ {
        ExitCode::from(NOT_FORMATTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The stack files directly in `dir` (not in its subdirectories, as `terraform fmt`
/// without `-recursive`), by name: `*.toml` files whose top-level keys are a stack's.
fn stacks_in(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_file()
            && path.extension().is_some_and(|e| e == "toml")
            && std::fs::read_to_string(&path).is_ok_and(|text| looks_like_a_stack(&text))
        {
            found.push(path);
        }
    }
    found.sort();
    files.extend(found);
    Ok(())
}
