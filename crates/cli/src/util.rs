//! Small shared helpers of the CLI: errors for people, atomic report files.

use std::path::Path;

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

/// Writes a report as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> CliResult<()> {
    Ok(lifchip_study::write::write_json(path, value)?)
}
