//! Exporting a CHIPDIR in a vendor's format, for `export-chip` and `compile --backend`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
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

/// What to export and where.
pub struct VendorExport<'a> {
    pub chip: &'a Path,
    pub backend: Backend,
    pub out: &'a Path,
    /// Seconds per tick recorded in a Xylo export (Rockpool's `dt`).
    pub dt: f64,
    pub input_spikes: Option<&'a PathBuf>,
    /// Lava: ticks the program runs (default: the input-spikes file's).
    pub ticks: Option<u32>,
}

/// Writes the export; returns the line that tells the user what was written. The callers have
/// checked `out` against their inputs (`crate::outputs`) before any work.
pub fn export(args: &VendorExport) -> CliResult<String> {
    match args.backend {
        Backend::Xylo => xylo(args),
        Backend::Lava => lava(args),
    }
}

fn lava(args: &VendorExport) -> CliResult<String> {
    if args.ticks.is_none() && args.input_spikes.is_none() {
        crate::fail!("--backend lava: give --ticks T or --input-spikes FILE (the run's length)");
    }
    let config = lifchip_chip::read_chipdir(args.chip)?;
    let (input, ticks) = match args.input_spikes {
        Some(file) => {
            let spikes = InputSpikes::from_json_file(file)?;
            spikes
                .validate(config.inputs.len())
                .map_err(|e| CliError(format!("{}: {e}", file.display())))?;
            (spikes.per_tick(), args.ticks.unwrap_or(spikes.ticks))
        }
        None => (Vec::new(), args.ticks.unwrap_or(0)),
    };
    let program = lifchip_backend_lava::export(&config, &input, ticks)
        .map_err(|e| CliError(format!("{}: {e}", args.chip.display())))?;
    lifchip_backend_lava::write_program(&program, args.out)?;
    Ok(format!(
        "wrote {} (Lava program: network.py + {} files, {} ticks); run it with lava-nc 0.10: \
         python {}/network.py OUT",
        args.out.display(),
        program.files.len().saturating_sub(1),
        ticks,
        args.out.display()
    ))
}

fn xylo(args: &VendorExport) -> CliResult<String> {
    if args.ticks.is_some() {
        crate::fail!("--ticks: only for --backend lava (a Xylo input raster has the file's ticks)");
    }
    let config = lifchip_chip::read_chipdir(args.chip)?;
    let spec =
        lifchip_backend_xylo::to_xylo(&config, &lifchip_backend_xylo::XyloOptions { dt: args.dt })
            .map_err(|e| CliError(format!("{}: {e}", args.chip.display())))?;
    let raster = match args.input_spikes {
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
    lifchip_backend_xylo::write_export_with(&spec, args.out, &extra)?;
    Ok(format!(
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
    ))
}
