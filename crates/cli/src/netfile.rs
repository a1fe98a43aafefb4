//! Loading a net from a path for any command: a lifchip net (directory or YAML file) or a NIR
//! file (`*.nir`), imported at `dt` under a library convention.

use std::path::Path;

use lifchip_net::Net;
use lifchip_nir::ImportOptions;

use crate::util::{CliError, CliResult};

/// Loads the net at `path`. A `.nir` file is imported with `nir` (its `dt` and convention);
/// anything else is read as a lifchip net.
pub fn load_net(path: &Path, nir: &ImportOptions) -> CliResult<Net> {
    if lifchip_nir::is_nir_path(path) {
        lifchip_nir::import(path, nir).map_err(|e| CliError(e.to_string()))
    } else {
        lifchip_net::load(path).map_err(|e| CliError(e.to_string()))
    }
}
