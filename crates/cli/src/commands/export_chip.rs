//! `lifchip export-chip CHIPDIR --backend xylo|lava --out DIR`: a chip configuration in a
//! vendor's own format.

use std::path::PathBuf;

use clap::Args;

use crate::util::CliResult;
use crate::vendor::{Backend, VendorExport};

#[derive(Args)]
pub struct ExportChipArgs {
    /// The chip configuration (CHIPDIR written by `lifchip compile`).
    pub chip: PathBuf,
    /// The vendor format to write.
    #[arg(long, value_enum)]
    pub backend: Backend,
    /// Output directory (written atomically; an earlier export there is replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Seconds per tick recorded in the export (Rockpool's `dt`).
    #[arg(long, default_value_t = 1e-3)]
    pub dt: f64,
    /// Also write this input-spikes JSON file as the vendor's input (Xylo: `input.npy`, a
    /// `(ticks, channels)` raster of spike counts for `XyloSim`; Lava: the program's
    /// `RingBuffer` input).
    #[arg(long)]
    pub input_spikes: Option<PathBuf>,
    /// Lava: ticks the program runs (default: the input-spikes file's `ticks`).
    #[arg(long)]
    pub ticks: Option<u32>,
}

pub fn run(args: ExportChipArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        let mut ins: Vec<(&str, &std::path::Path)> = vec![("CHIPDIR", args.chip.as_path())];
        if let Some(p) = &args.input_spikes {
            ins.push(("--input-spikes", p.as_path()));
        }
        check(&[Output::new("--out", &args.out, Kind::Dir)], &ins)?;
    }
    let line = crate::vendor::export(&VendorExport {
        chip: &args.chip,
        backend: args.backend,
        out: &args.out,
        dt: args.dt,
        input_spikes: args.input_spikes.as_ref(),
        ticks: args.ticks,
    })?;
    println!("{line}");
    Ok(())
}
