//! `lifchip export`: a float lifchip net → a NIR file other tools read.

use std::path::PathBuf;

use clap::Args;

use crate::netfile::load_net;
use crate::util::CliResult;

#[derive(Args)]
pub struct ExportArgs {
    /// The net (directory, YAML file, or a .nir file to rewrite).
    pub net: PathBuf,
    /// The NIR file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Seconds per tick of the spikes the exported weights assume (a soft-LIF spike is worth
    /// `amplitude / dt`; docs/nir.md).
    #[arg(long, default_value_t = 0.001)]
    pub dt: f64,
}

pub fn run(args: ExportArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        check(
            &[Output::new("--out", &args.out, Kind::File)],
            &[("NET", args.net.as_path())],
        )?;
    }
    if !(args.dt.is_finite() && args.dt > 0.0) {
        crate::fail!("--dt {}: expected a positive number of seconds", args.dt);
    }
    if args.out == args.net {
        crate::fail!(
            "--out {} is the input; choose another path",
            args.out.display()
        );
    }
    if !lifchip_nir::is_nir_path(&args.out) {
        crate::fail!("--out {}: a NIR file name ends in .nir", args.out.display());
    }
    let net = load_net(&args.net, &lifchip_nir::ImportOptions::default())?;
    lifchip_nir::export(&net, &args.out, args.dt)?;
    println!(
        "exported {} ({} populations, {} projections) -> {}",
        net.name,
        net.populations.len(),
        net.projections.len(),
        args.out.display()
    );
    Ok(())
}
