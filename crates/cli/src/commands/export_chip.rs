//! `lifchip export-chip CHIPDIR --backend xylo|lava --out DIR`: a chip configuration in a
//! vendor's own format.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use lifchip_data::InputSpikes;

use crate::util::{CliError, CliResult};

/// A vendor format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// SynSense Xylo through Rockpool: `spec.npz` + `xylo.json` + the loader `lifchip_xylo.py`.
    Xylo,
    /// Intel Loihi through Lava: a Python module + `.npy` arrays.
    Lava,
}

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
    /// `(ticks, channels)` raster of spike counts for `XyloSim`).
    #[arg(long)]
    pub input_spikes: Option<PathBuf>,
}

pub fn run(args: ExportChipArgs) -> CliResult<()> {
    match args.backend {
        Backend::Xylo => xylo(&args),
        Backend::Lava => Err(CliError(
            "--backend lava: the Lava backend is not built in this version of lifchip \
             (available backends: xylo)"
                .into(),
        )),
    }
}

fn xylo(args: &ExportChipArgs) -> CliResult<()> {
    if args.out == args.chip {
        crate::fail!(
            "--out {}: is the input CHIPDIR; choose another directory",
            args.out.display()
        );
    }
    let config = lifchip_chip::read_chipdir(&args.chip)?;
    let spec =
        lifchip_backend_xylo::to_xylo(&config, &lifchip_backend_xylo::XyloOptions { dt: args.dt })
            .map_err(|e| CliError(format!("{}: {e}", args.chip.display())))?;
    let raster = match &args.input_spikes {
        Some(file) => {
            let spikes = InputSpikes::from_json_file(file)?;
            spikes
                .validate(config.inputs.len())
                .map_err(|e| CliError(format!("{}: {e}", file.display())))?;
            let mut per_tick = spikes.per_tick();
            per_tick.resize(spikes.ticks as usize, Vec::new());
            let over = per_tick.iter().enumerate().find_map(|(t, tick)| {
                (0..config.inputs.len() as u32).find_map(|ch| {
                    let n = tick.iter().filter(|&&c| c == ch).count();
                    (n > lifchip_backend_xylo::MAX_INPUT_EVENTS).then_some((t, ch, n))
                })
            });
            if let Some((t, ch, n)) = over {
                crate::fail!(
                    "{}: tick {t}, channel {ch}: {n} spikes; Xylo takes at most {} events per \
                     channel per tick",
                    file.display(),
                    lifchip_backend_xylo::MAX_INPUT_EVENTS
                );
            }
            Some(
                lifchip_backend_xylo::input_raster_npy(&per_tick, spec.inputs)
                    .map_err(|e| CliError(format!("cannot encode the input raster: {e}")))?,
            )
        }
        None => None,
    };
    let extra: Vec<(&str, &[u8])> = raster
        .as_deref()
        .map(|bytes| vec![(lifchip_backend_xylo::INPUT_NPY, bytes)])
        .unwrap_or_default();
    lifchip_backend_xylo::write_export_with(&spec, &args.out, &extra)?;
    println!(
        "wrote {} (Xylo {}, {}): {} input channels, {} hidden and {} readout neurons{}",
        args.out.display(),
        spec.generation.name(),
        spec.generation.chips().join("/"),
        spec.inputs,
        spec.hidden.len(),
        spec.readout.len(),
        if raster.is_some() {
            ", input raster input.npy"
        } else {
            ""
        }
    );
    Ok(())
}
