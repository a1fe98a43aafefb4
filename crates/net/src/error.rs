//! The one error type of the net crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or checking a net.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{message}", yaml_place(path, *line, *column))]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{place}: {message}")]
    Invalid { place: String, message: String },
}

impl NetError {
    pub(crate) fn invalid(place: impl Into<String>, message: impl Into<String>) -> Self {
        NetError::Invalid {
            place: place.into(),
            message: message.into(),
        }
    }
}

/// `path:line:column: `, or `path: ` when the line is unknown (0).
fn yaml_place(path: &std::path::Path, line: usize, column: usize) -> String {
    if line == 0 {
        format!("{}: ", path.display())
    } else {
        format!("{}:{line}:{column}: ", path.display())
    }
}
