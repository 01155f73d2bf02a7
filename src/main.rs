//! The `strata` command line: parses arguments and hands each command to the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
