//! What the Xylo backend refuses, and why.

use std::fmt;
use std::path::PathBuf;

/// One thing in a chip configuration that Xylo cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where: `target`, `core 0`, `core 0 compartment 12 (population h, neuron 3)`, ...
    pub place: String,
    /// Which field: `neuron.order`, `threshold`, `axons[4].synapses[2]`, ...
    pub field: String,
    /// What the configuration has.
    pub found: String,
    /// What Xylo allows.
    pub allowed: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}; Xylo allows {}",
            self.place, self.field, self.found, self.allowed
        )
    }
}

/// Every problem of one configuration, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, p) in self.0.iter().enumerate() {
            if k > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Errors of the Xylo backend.
#[derive(Debug, thiserror::Error)]
pub enum XyloError {
    /// The configuration uses something Xylo has no register for; every reason is listed.
    #[error("the chip configuration cannot be expressed on Xylo ({} problem{}):\n{problems}",
        problems.0.len(), if problems.0.len() == 1 { "" } else { "s" })]
    Unsupported { problems: Problems },
    /// The output directory exists and is not a previous export (it is never overwritten).
    #[error("{}: exists and is not a Xylo export (no xylo.json); refusing to replace it", path.display())]
    NotExportDir { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
