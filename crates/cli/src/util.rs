//! Small shared helpers of the CLI: errors for people, atomic report files, progress bars.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// A user-facing error: the message is shown as is, and the process exits with code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Builds a [`CliError`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::util::CliError(format!($($arg)*))) };
}

/// Writes `bytes` to `path` atomically (a temp file beside it, fsync, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    lifchip_files::write_atomic(path, bytes)
        .map_err(|e| CliError(format!("{}: cannot write: {e}", path.display())))
}

/// Writes a report as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> CliResult<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError(format!("cannot encode report: {e}")))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// A progress bar on stderr (hidden when stderr is not a terminal, e.g. in tests and CI).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
