//! The one error type of the trainer crate.

use std::path::PathBuf;

/// Everything that can go wrong configuring, training or evaluating a network.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The YAML of a training config does not parse (syntax, unknown field, wrong type).
    #[error("{}{message}", place(path, *line, *column))]
    ConfigYaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A config value is out of range or inconsistent; `field` names it (e.g. `layers[2].units`).
    #[error("config field `{field}`: {message}")]
    Config { field: String, message: String },
    /// [`TrainError::Config`] of a config read from a file, which it names.
    #[error("{path}: config field `{field}`: {message}")]
    ConfigFile {
        path: PathBuf,
        field: String,
        message: String,
    },
    /// Reading or writing a file (config, CSV log, checkpoint folder).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Loading the dataset failed.
    #[error("loading the {what}: {source}")]
    Data {
        what: String,
        #[source]
        source: lifchip_data::DataError,
    },
    /// Building, checking or saving a net failed.
    #[error(transparent)]
    Net(#[from] lifchip_net::NetError),
    /// Training produced a NaN or infinite value.
    #[error(
        "training diverged in epoch {epoch}, batch {batch}: {what} of layer `{layer}` is not finite \
         or exploded; try a smaller learning rate"
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        layer: String,
        what: String,
    },
    /// A net cannot be evaluated by this crate (chip units, recurrence, unknown shapes...).
    #[error("{place}: {message}")]
    Unsupported { place: String, message: String },
    /// The data do not fit the net or the config (image size, label range, empty set).
    #[error("{place}: {message}")]
    Mismatch { place: String, message: String },
}

impl TrainError {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        TrainError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(place: impl Into<String>, message: impl Into<String>) -> Self {
        TrainError::Unsupported {
            place: place.into(),
            message: message.into(),
        }
    }

    pub(crate) fn mismatch(place: impl Into<String>, message: impl Into<String>) -> Self {
        TrainError::Mismatch {
            place: place.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }
}

/// `path:line:column: `, or `path: ` when the line is unknown (0).
fn place(path: &std::path::Path, line: usize, column: usize) -> String {
    if line == 0 {
        format!("{}: ", path.display())
    } else {
        format!("{}:{line}:{column}: ", path.display())
    }
}
