//! The chip crate's one error type: every failure names the file, the core and the field.

use std::path::PathBuf;

/// Why a chip configuration could not be written, read or validated.
#[derive(Debug, thiserror::Error)]
pub enum ChipError {
    /// The file system refused an operation on `path`.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The destination exists but is not a CHIPDIR, so it is not replaced.
    #[error("{}: not a CHIPDIR (it holds no manifest.json); expected a directory written by `lifchip compile`", .path.display())]
    NotChipdir { path: PathBuf },
    /// `manifest.json` or `target.yaml` does not parse.
    #[error("{}: {detail}", .file.display())]
    Parse { file: PathBuf, detail: String },
    /// The embedded target is not a valid target (the error names its file, line and field).
    #[error(transparent)]
    Target(#[from] lifchip_target::TargetError),
    /// A file of a CHIPDIR is damaged, truncated, or disagrees with another file.
    #[error("{}{}: {field}: {detail}", .file.display(), core_label(.core))]
    Corrupt {
        file: PathBuf,
        core: Option<u32>,
        field: String,
        detail: String,
    },
    /// A chip configuration breaks a rule of the format or a limit of its target.
    #[error("chip config{}: {field}: {detail}", core_label(.core))]
    Invalid {
        core: Option<u32>,
        field: String,
        detail: String,
    },
}

fn core_label(core: &Option<u32>) -> String {
    match core {
        Some(c) => format!(": core {c}"),
        None => String::new(),
    }
}

impl ChipError {
    pub(crate) fn invalid(
        core: Option<u32>,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ChipError::Invalid {
            core,
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        core: Option<u32>,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ChipError::Corrupt {
            file: file.into(),
            core,
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// Re-labels a validation error as corruption of `file` (the reader found it there).
    pub(crate) fn in_file(self, file: impl Into<PathBuf>) -> Self {
        match self {
            ChipError::Invalid {
                core,
                field,
                detail,
            } => ChipError::Corrupt {
                file: file.into(),
                core,
                field,
                detail,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ChipError::Io {
            path: path.into(),
            source,
        }
    }
}
