//! `lifchip emulate`: run a CHIPDIR on a dataset or on a spike file, and report accuracy,
//! spikes, cycles, latency and energy.

use std::{path::PathBuf, time::Instant};

use clap::{Args, ValueEnum};
use lifchip_chip::FlatChip;
use lifchip_data::{DataSource, InputSpikes, Split};
use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use lifchip_study::{
    EmulateReport, EmulateSettings, Encoding,
    emulate::{ProbeReport, summarize},
};

use crate::{
    html_report, progress,
    util::{CliError, CliResult, write_json},
};

/// How pixels become input spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// Regularly spaced spikes at `pixel * input_rate` per tick (deterministic).
    Regular,
    /// Bernoulli spikes with probability `pixel * input_rate` per tick (seeded).
    Poisson,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Encoding {
        match e {
            EncodingArg::Regular => Encoding::Regular,
            EncodingArg::Poisson => Encoding::Poisson,
        }
    }
}

#[derive(Args)]
pub struct EmulateArgs {
    /// The CHIPDIR written by `lifchip compile`.
    #[arg(long)]
    pub chip: PathBuf,
    /// Dataset: `mnist` (bundled) or a folder of MNIST-layout IDX files.
    #[arg(long, conflicts_with = "input_spikes")]
    pub data: Option<String>,
    /// `train` or `test`.
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    pub split: String,
    /// Emulate only the first N samples.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: Option<usize>,
    /// A spike file `{"ticks": T, "spikes": [[tick, input], ...]}` instead of a dataset.
    #[arg(long)]
    pub input_spikes: Option<PathBuf>,
    /// Ticks per sample (default: 100 for datasets, the file's own for spike files).
    #[arg(long)]
    pub ticks: Option<u32>,
    /// Count the readout's spikes from tick T on (ticks T..ticks; default 0 = every tick):
    /// leaves the start-up transient of the deeper layers out of the decision.
    #[arg(long, value_name = "T", default_value_t = 0)]
    pub readout_from: u32,
    /// Record spike ticks of `all` neurons or of one population (by name).
    #[arg(long)]
    pub probe: Option<String>,
    /// With --probe, also record `u` and `v` after every tick.
    #[arg(long, requires = "probe")]
    pub probe_state: bool,
    #[arg(long, value_enum, default_value = "regular")]
    pub encoding: EncodingArg,
    /// Seed of Poisson encoding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Integer semantics only, no cycle model (same spikes, faster).
    #[arg(long)]
    pub functional: bool,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write a self-contained HTML report of the chip and this run.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

fn probe_set(config: &FlatChip, probe: Option<&str>) -> CliResult<ProbeSet> {
    Ok(match probe {
        None => ProbeSet::None,
        Some("all") => ProbeSet::All,
        // An input population's spikes are the input's own (see `input_probes`).
        Some(name)
            if config
                .populations()
                .iter()
                .any(|p| p.name == name && p.is_input) =>
        {
            ProbeSet::None
        }
        Some(name) => match config
            .populations()
            .iter()
            .position(|p| p.name == name && !p.is_input)
        {
            Some(k) => ProbeSet::Populations(vec![k as u32]),
            None => {
                let names: Vec<&str> = config
                    .populations()
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                crate::fail!(
                    "--probe {name}: no such population; expected `all` or one of: {}",
                    names.join(", ")
                )
            }
        },
    })
}

/// `--probe NAME` of an input population: the spike ticks of each of its inputs in this run
/// (an input has no `u` or `v`). `None` when `probe` names no input population.
fn input_probes(
    config: &FlatChip,
    probe: Option<&str>,
    per_tick: &[Vec<u32>],
) -> Option<Vec<ProbeReport>> {
    let name = probe?;
    let k = config
        .populations()
        .iter()
        .position(|p| p.name == name && p.is_input)?;
    let size = |p: &lifchip_chip::PopulationInfo| p.shape.iter().product::<usize>();
    // Input channels are the inputs of all input populations, concatenated in order.
    let offset: usize = config.populations()[..k]
        .iter()
        .filter(|p| p.is_input)
        .map(size)
        .sum();
    let mut reports: Vec<ProbeReport> = (0..size(&config.populations()[k]))
        .map(|j| ProbeReport {
            population: name.to_string(),
            neuron: j as u32,
            spike_ticks: Vec::new(),
            u: Vec::new(),
            v: Vec::new(),
        })
        .collect();
    for (tick, channels) in per_tick.iter().enumerate() {
        for &c in channels {
            if let Some(r) = (c as usize)
                .checked_sub(offset)
                .and_then(|j| reports.get_mut(j))
            {
                r.spike_ticks.push(tick as u32);
            }
        }
    }
    Some(reports)
}

/// `--readout-from T` for a run of `ticks` ticks: `T` itself when the window `T..ticks` has
/// a tick to count.
fn check_readout_from(from: u32, ticks: u32) -> CliResult<u32> {
    if from >= ticks {
        crate::fail!(
            "--readout-from {from}: the readout would count no tick (it counts ticks {from}..{ticks}); \
             expected a tick before the run's end, 0 to {}",
            ticks.saturating_sub(1)
        );
    }
    Ok(from)
}

/// Prints the human summary of an emulation report.
fn print_report(report: &EmulateReport) {
    if let Some(acc) = report.accuracy {
        println!(
            "accuracy                  {:.2}% of {} samples",
            acc * 100.0,
            report.samples
        );
        if let Some(tied) = report.tied_samples {
            println!(
                "tied readout counts       {tied} samples (decided by the readout's voltages)"
            );
        }
    } else {
        println!("samples                   {}", report.samples);
    }
    if report.readout_from > 0 {
        println!(
            "ticks per sample          {} (readout counted over ticks {}..{})",
            report.ticks_per_sample, report.readout_from, report.ticks_per_sample
        );
    } else {
        println!("ticks per sample          {}", report.ticks_per_sample);
    }
    if !report.readout_counts.is_empty() {
        println!("readout spike counts      {:?}", report.readout_counts);
    }
    println!("spikes                    {}", report.spikes);
    println!("synaptic events           {}", report.synaptic_events);
    if report.mode == "functional" {
        println!("cycles per tick           not modelled (--functional)");
        println!("latency per sample        not modelled (--functional)");
    } else {
        println!(
            "cycles per tick           mean {:.1}, max {}",
            report.cycles_per_tick_mean, report.cycles_per_tick_max
        );
        println!(
            "latency per sample        {:.3e} s",
            report.latency_seconds_per_sample
        );
    }
    println!(
        "energy per sample         {:.3e} J",
        report.energy_joules_per_sample
    );
    let over: u64 = report
        .overflows
        .iter()
        .map(|o| o.current + o.voltage + o.accumulator)
        .sum();
    if over > 0 {
        for o in report
            .overflows
            .iter()
            .filter(|o| o.current + o.voltage + o.accumulator > 0)
        {
            println!(
                "overflow events           {}: current {}, voltage {}, accumulator {}",
                o.population, o.current, o.voltage, o.accumulator
            );
        }
    }
    println!(
        "emulator speed            {:.3e} synaptic events/s ({:.2} s wall)",
        report.synaptic_events_per_second, report.wall_seconds
    );
}

pub fn run(args: EmulateArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        let mut outs = Vec::new();
        if let Some(p) = &args.json {
            outs.push(Output::new("--json", p, Kind::File));
        }
        if let Some(p) = &args.report {
            outs.push(Output::new("--report", p, Kind::File));
        }
        let mut ins: Vec<(&str, &std::path::Path)> = vec![("--chip", args.chip.as_path())];
        if let Some(p) = &args.input_spikes {
            ins.push(("--input-spikes", p.as_path()));
        }
        check(&outs, &ins)?;
    }
    if args.ticks == Some(0) {
        crate::fail!("--ticks 0: expected at least 1 tick");
    }
    if let Some(t) = args.ticks
        && t > lifchip_data::MAX_TICKS
    {
        crate::fail!(
            "--ticks {t} is too large (limit {}, docs/interfaces.md#limits)",
            lifchip_data::MAX_TICKS
        );
    }
    // Flat tables: a big chip loads in about the memory of its CHIPDIR.
    let config = lifchip_chip::read_chipdir_flat(&args.chip)?;
    let mode = if args.functional {
        Mode::Functional
    } else {
        Mode::CycleAccurate
    };
    let mut report = if let Some(file) = &args.input_spikes {
        let spikes = InputSpikes::from_json_file(file)?;
        spikes
            .validate(config.inputs().len())
            .map_err(|e| CliError(format!("{}: {e}", file.display())))?;
        let ticks = args.ticks.unwrap_or(spikes.ticks);
        if ticks < spikes.ticks {
            crate::fail!(
                "--ticks {ticks} is shorter than {}'s {} ticks, which would drop its spikes; \
                 give --ticks {} or more (a larger --ticks extends the run with silent ticks)",
                file.display(),
                spikes.ticks,
                spikes.ticks
            );
        }
        let mut per_tick = spikes.per_tick();
        per_tick.resize(ticks as usize, Vec::new());
        let mut emulator = Emulator::from_flat(&config)?;
        let options = RunOptions {
            ticks,
            mode,
            probes: Probes {
                set: probe_set(&config, args.probe.as_deref())?,
                state: args.probe_state,
            },
            readout_from: check_readout_from(args.readout_from, ticks)?,
        };
        let started = Instant::now();
        let result = emulator.run(&per_tick, &options)?;
        let wall = started.elapsed().as_secs_f64();
        let mut report = summarize(&config, std::slice::from_ref(&result), ticks, wall);
        report.readout_from = args.readout_from;
        report.readout_counts = result.readout_counts.clone();
        report.probes = input_probes(&config, args.probe.as_deref(), &per_tick)
            .unwrap_or_else(|| lifchip_study::probe_reports(&config, &result.probes));
        report
    } else {
        if args.probe.is_some() {
            crate::fail!(
                "--probe works with --input-spikes (one sample); with a dataset it would record every sample"
            );
        }
        let source = DataSource::parse(args.data.as_deref().unwrap_or("mnist"))?;
        let split: Split = args.split.parse()?;
        let data = lifchip_data::load(&source, split, args.limit)?;
        let ticks = args.ticks.unwrap_or(100);
        let settings = EmulateSettings {
            ticks,
            encoding: args.encoding.into(),
            seed: args.seed,
            mode,
            readout_from: check_readout_from(args.readout_from, ticks)?,
        };
        let bar = progress::bar(data.n as u64, "emulate");
        let report = lifchip_study::emulate_dataset(&config, &data, &settings, &|done, _| {
            bar.set_position(done as u64)
        });
        bar.finish_and_clear();
        report.map_err(|e| match e {
            // Name the data the label came from.
            e @ lifchip_study::error::StudyError::ClassesMismatch { .. } => {
                crate::util::CliError(format!(
                    "--data {} ({split:?} split): {e}",
                    args.data.as_deref().unwrap_or("mnist")
                ))
            }
            e => e.into(),
        })?
    };
    report.chip = args.chip.display().to_string();
    report.chip_fingerprint = Some(lifchip_report::chipdir_fingerprint(&args.chip)?);
    print_report(&report);
    for p in &report.probes {
        println!(
            "probe {}[{}]: spikes at ticks {:?}",
            p.population, p.neuron, p.spike_ticks
        );
    }
    if let Some(json) = &args.json {
        write_json(json, &report)?;
    }
    if let Some(html) = &args.report {
        html_report::write_for_chip(&args.chip, Some(&report), html)?;
        println!("wrote {}", html.display());
    }
    Ok(())
}
