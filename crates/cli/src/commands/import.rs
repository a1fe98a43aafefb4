//! `lifchip import`: a NIR file (snnTorch, Norse, Sinabs, ...) → a lifchip net.

use std::path::PathBuf;

use crate::netfile::{import_options, load_net};
use crate::util::CliResult;
use clap::Args;

#[derive(Args)]
pub struct ImportArgs {
    /// The NIR file (`*.nir`).
    pub model: PathBuf,
    /// Where to write the net: a `NAME.net` directory, or a `.yaml` file.
    #[arg(long)]
    pub out: PathBuf,
    /// Seconds per tick (default: the convention's: nir/snntorch 1e-4, norse/rockpool 1e-3, sinabs 1).
    #[arg(long)]
    pub dt: Option<f64>,
    /// How the writing library discretised the model: nir, snntorch, norse, sinabs or rockpool
    /// (docs/nir.md).
    #[arg(long, default_value = "nir")]
    pub convention: String,
    /// Name of the net (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: ImportArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        check(
            &[Output::new("--out", &args.out, Kind::Net)],
            &[("MODEL", args.model.as_path())],
        )?;
    }
    if !lifchip_nir::is_nir_path(&args.model) {
        crate::fail!(
            "{}: expected a NIR file ending in .nir",
            args.model.display()
        );
    }
    if args.out == args.model {
        crate::fail!(
            "--out {} is the input file; choose another path",
            args.out.display()
        );
    }
    let opts = import_options(args.dt, &args.convention, args.name.clone(), "--")?;
    let net = load_net(&args.model, &opts)?;
    lifchip_net::save(&net, &args.out)?;
    let projections = net.projections.len();
    println!(
        "imported {} ({} convention, dt = {} s): {} populations, {} neurons, {} projections -> {}",
        args.model.display(),
        opts.convention.name(),
        opts.dt.unwrap_or_else(|| opts.convention.default_dt()),
        net.populations.len(),
        net.num_neurons(),
        projections,
        args.out.display()
    );
    Ok(())
}
