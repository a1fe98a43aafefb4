//! The one error type of the NIR crate: every variant names the file and, where there is one,
//! the node path inside the graph.

use std::path::PathBuf;

/// One node that has no lifchip equivalent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The node's path in the graph (`outer.inner` for nested graphs).
    pub node: String,
    /// Its NIR type (`Delay`, `LIF`, ...).
    pub kind: String,
    pub why: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} ({}): {}", self.node, self.kind, self.why)
    }
}

/// Everything that can go wrong reading, converting or writing a NIR file.
#[derive(Debug, thiserror::Error)]
pub enum NirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not readable HDF5, or an HDF5 object could not be decoded.
    #[error("{path}: not a readable NIR (HDF5) file at {place}: {message}")]
    Hdf5 {
        path: PathBuf,
        place: String,
        message: String,
    },
    /// A node's datasets are missing, of the wrong type or shape, or out of range.
    #[error("{path}: node {node}: {message}")]
    Node {
        path: PathBuf,
        node: String,
        message: String,
    },
    /// The graph's structure is wrong: dangling edges, stateless cycles, shape mismatches.
    #[error("{path}: graph: {message}")]
    Graph { path: PathBuf, message: String },
    /// Nodes without a lifchip equivalent, all of them.
    #[error("{path}: {} node(s) have no lifchip equivalent:\n  {}", refusals.len(), refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Unsupported {
        path: PathBuf,
        refusals: Vec<Refusal>,
    },
    /// The converted net failed the net's own checks, or a net cannot be exported.
    #[error("{path}: {message}")]
    Net { path: PathBuf, message: String },
}
