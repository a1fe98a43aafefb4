//! NIR in and out of lifchip nets.
//!
//! [NIR](https://neuroir.org) (the Neuromorphic Intermediate Representation) is an HDF5 file
//! holding a graph of nodes with continuous-time parameters, written by snnTorch, Norse,
//! Sinabs, Rockpool, Lava-dl and others. This crate is a file format of the net layer:
//!
//! * [`read_file`] reads a `.nir` file into a typed, flat [`NirGraph`] (nested graphs become
//!   node paths `outer.inner`), bounding every size before it allocates;
//! * [`to_net`] / [`import`] turn it into a validated [`lifchip_net::Net`] at a tick `dt`
//!   under a library [`Convention`]: neurons become per-tick `lif` populations, linear nodes
//!   become projections; nodes with no lifchip equivalent are refused all at once;
//! * [`from_net`] / [`export`] write a float net back as NIR (soft-LIF as LIF).
//!
//! The compiler and the emulator never see NIR: they see the `Net`. `docs/nir.md` gives the
//! formulas.

mod convert;
mod error;
mod export;
mod graph;
mod ops;

use std::path::Path;

pub use convert::{Convention, ImportOptions, to_net};
pub use error::{NirError, Refusal};
pub use export::{export, from_net, to_bytes};
pub use graph::{
    Array, Conv, MAX_DEPTH, MAX_NODES, NirGraph, NirNode, Padding, Pool, read_bytes, read_file,
};

/// Reads a `.nir` file and converts it to a lifchip net.
pub fn import(path: &Path, options: &ImportOptions) -> Result<lifchip_net::Net, NirError> {
    let graph = read_file(path)?;
    to_net(&graph, options, path)
}

/// True when `path` names a NIR file (by its `.nir` extension).
pub fn is_nir_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("nir"))
}
