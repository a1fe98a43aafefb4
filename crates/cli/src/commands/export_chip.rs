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
    match args.backend {
        Backend::Xylo => xylo(&args),
        Backend::Lava => lava(&args),
    }
}

fn refuse_input_as_output(args: &ExportChipArgs) -> CliResult<()> {
    if args.out == args.chip || args.input_spikes.as_ref() == Some(&args.out) {
        crate::fail!(
            "--out {}: is an input; choose another directory",
            args.out.display()
        );
    }
    Ok(())
}

fn lava(args: &ExportChipArgs) -> CliResult<()> {
    refuse_input_as_output(args)?;
    if args.ticks.is_none() && args.input_spikes.is_none() {
        crate::fail!("--backend lava: give --ticks T or --input-spikes FILE (the run's length)");
    }
    let config = lifchip_chip::read_chipdir(&args.chip)?;
    let (input, ticks) = match &args.input_spikes {
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
    lifchip_backend_lava::write_program(&program, &args.out)?;
    println!(
        "wrote {} (Lava program: network.py + {} files, {} ticks); run it with lava-nc 0.10: \
         python {}/network.py OUT",
        args.out.display(),
        program.files.len().saturating_sub(1),
        ticks,
        args.out.display()
    );
    Ok(())
}

fn xylo(args: &ExportChipArgs) -> CliResult<()> {
    refuse_input_as_output(args)?;
    if args.ticks.is_some() {
        crate::fail!("--ticks: only for --backend lava (a Xylo input raster has the file's ticks)");
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
