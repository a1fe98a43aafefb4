//! Loading a net from a path for any command: a lifchip net (directory or YAML file) or a NIR
//! file (`*.nir`), imported at `dt` under a library convention.

use std::path::Path;

use clap::Args;
use lifchip_net::Net;
use lifchip_nir::{Convention, ImportOptions};

use crate::util::{CliError, CliResult};

/// How a `--net` that is a NIR file is imported (flags of `compile`, `eval`, `profile`).
#[derive(Args, Clone, Debug)]
pub struct NirFlags {
    /// For a `.nir` net: seconds per tick (default: the convention's; docs/nir.md).
    #[arg(long = "nir-dt")]
    pub dt: Option<f64>,
    /// For a `.nir` net: how the writing library discretised it: nir, snntorch, norse, sinabs or
    /// rockpool.
    #[arg(long = "nir-convention", default_value = "nir")]
    pub convention: String,
}

impl NirFlags {
    pub fn options(&self) -> CliResult<ImportOptions> {
        import_options(self.dt, &self.convention, None, "--nir-")
    }
}

/// The import options of `dt` / `convention` flags (named `{flag}dt`, `{flag}convention`).
pub fn import_options(
    dt: Option<f64>,
    convention: &str,
    name: Option<String>,
    flag: &str,
) -> CliResult<ImportOptions> {
    let Some(convention) = Convention::parse(convention) else {
        crate::fail!(
            "{flag}convention {convention}: expected nir, snntorch, norse, sinabs or rockpool"
        );
    };
    if let Some(dt) = dt
        && !(dt.is_finite() && dt > 0.0)
    {
        crate::fail!("{flag}dt {dt}: expected a positive number of seconds");
    }
    Ok(ImportOptions {
        dt,
        convention,
        name,
    })
}

/// Loads the net at `path`. A `.nir` file is imported with `nir` (its `dt` and convention);
/// anything else is read as a lifchip net.
pub fn load_net(path: &Path, nir: &ImportOptions) -> CliResult<Net> {
    if lifchip_nir::is_nir_path(path) {
        lifchip_nir::import(path, nir).map_err(|e| CliError(e.to_string()))
    } else {
        lifchip_net::load(path).map_err(|e| CliError(e.to_string()))
    }
}
