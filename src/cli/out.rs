//! Standard output of the commands, written so that a reader that goes away is not a crash.
//!
//! `println!` panics (exit 101) when standard output is a pipe whose reader has exited
//! (`strata state history FILE | head -1`): Rust ignores SIGPIPE, so the write fails with
//! `BrokenPipe` instead of ending the process. strata does what ripgrep does: every write
//! returns its error, and [`super::run`] ends the command quietly with exit code 0 when a
//! `BrokenPipe` is among the causes (the Unix convention: the reader took what it wanted).
//! Restoring SIGPIPE's default instead would kill the process at the first write after the
//! reader left, which for `apply` means in the middle of the walk.
//!
//! Two kinds of writes:
//! - [`outln!`] / [`out!`] return the error (`?`): for commands that only read and print
//!   (validate, plan, state list, output, ...), whose output is the point.
//! - [`sayln!`] / [`say!`] never fail: for commands that change something (apply, destroy,
//!   import, state rm, ...). What they print is a report of the change, and a reader that
//!   left must not stop the change halfway; the exit code still says how it went.

use std::fmt;
use std::io::{self, Write};

/// Writes to standard output; the error, if any, is the caller's.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to standard output, best effort: a failed write is dropped.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::out::best_effort(format_args!($($arg)*))
    };
}

/// [`say!`] with a newline.
macro_rules! sayln {
    () => {
        $crate::cli::out::best_effort(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::best_effort(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln, say, sayln};

/// One write under the lock: lines from tasks running at once never mix.
pub fn write(args: fmt::Arguments) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.flush()
}

pub fn best_effort(args: fmt::Arguments) {
    let _ = write(args);
}

/// Whether `err` comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
