//! Small shared helpers of the CLI: errors for people, atomic report files, progress bars.

use std::{io::Write, path::Path};

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

/// Writes `bytes` to `path` atomically (a temp file beside it, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = readable_tempfile(&dir, ".lifchip-", ".tmp")
        .map_err(|e| CliError(format!("{}: cannot create a file here: {e}", dir.display())))?;
    tmp.write_all(bytes)
        .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| CliError(format!("{}: {}", path.display(), e.error)))?;
    Ok(())
}

/// A temporary file in `dir` created with mode 0666 minus the umask (like `File::create`; a
/// plain temp file would be private, 0600, and keep that after the rename).
pub fn readable_tempfile(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
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
