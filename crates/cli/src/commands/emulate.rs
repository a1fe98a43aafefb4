//! `lifchip emulate`: run a CHIPDIR on a dataset or on a spike file, and report accuracy,
//! spikes, cycles, latency and energy.

use std::{path::PathBuf, time::Instant};

use clap::{Args, ValueEnum};
use lifchip_chip::ChipConfig;
use lifchip_data::{DataSource, Dataset, InputSpikes, Split};
use lifchip_emulator::{Emulator, Mode, NeuronProbe, ProbeSet, Probes, RunOptions, SampleResult};
use serde::Serialize;

use crate::util::{CliError, CliResult, progress, write_json};

/// How pixels become input spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Regularly spaced spikes at `pixel * input_rate` per tick (deterministic).
    Regular,
    /// Bernoulli spikes with probability `pixel * input_rate` per tick (seeded).
    Poisson,
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
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Emulate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// A spike file `{"ticks": T, "spikes": [[tick, input], ...]}` instead of a dataset.
    #[arg(long)]
    pub input_spikes: Option<PathBuf>,
    /// Ticks per sample (default: 100 for datasets, the file's own for spike files).
    #[arg(long)]
    pub ticks: Option<u32>,
    /// Record spike ticks of `all` neurons or of one population (by name).
    #[arg(long)]
    pub probe: Option<String>,
    /// With --probe, also record `u` and `v` after every tick.
    #[arg(long)]
    pub probe_state: bool,
    #[arg(long, value_enum, default_value = "regular")]
    pub encoding: Encoding,
    /// Seed of Poisson encoding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Integer semantics only, no cycle model (same spikes, faster).
    #[arg(long)]
    pub functional: bool,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Overflow events of one population over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PopulationOverflow {
    pub population: String,
    pub current: u64,
    pub voltage: u64,
    pub accumulator: u64,
}

/// The report of `docs/interfaces.md` (`emulate --json`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct EmulateReport {
    pub chip: String,
    pub target: String,
    pub samples: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    pub ticks_per_sample: u32,
    pub spikes: u64,
    pub synaptic_events: u64,
    pub cycles_per_tick_mean: f64,
    pub cycles_per_tick_max: u64,
    pub latency_seconds_per_sample: f64,
    pub energy_joules_per_sample: f64,
    pub energy_joules_per_sample_by_kind: EnergyPerSample,
    pub overflows: Vec<PopulationOverflow>,
    pub mode: String,
    pub encoding: Option<Encoding>,
    pub wall_seconds: f64,
    pub synaptic_events_per_second: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeReport>,
    /// Predicted class per sample (not in the JSON: one per image).
    #[serde(skip)]
    pub predictions: Vec<Option<usize>>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EnergyPerSample {
    pub synops: f64,
    pub neuron_updates: f64,
    pub spikes_out: f64,
    pub hops: f64,
    pub static_power: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub population: String,
    pub neuron: u32,
    pub spike_ticks: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub u: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub v: Vec<i64>,
}

/// What to run and how.
pub struct EmulateSettings {
    pub ticks: u32,
    pub encoding: Encoding,
    pub seed: u64,
    pub mode: Mode,
    pub show_progress: bool,
}

/// Adds up per-sample results into a report (accuracy filled in by the caller).
fn summarize(
    config: &ChipConfig,
    results: &[SampleResult],
    ticks: u32,
    wall: f64,
) -> EmulateReport {
    let n = results.len().max(1) as f64;
    let mut report = EmulateReport {
        target: config.target.name.clone(),
        samples: results.len() as u64,
        ticks_per_sample: ticks,
        ..EmulateReport::default()
    };
    let mut overflows: Vec<PopulationOverflow> = config
        .populations
        .iter()
        .filter(|p| !p.is_input)
        .map(|p| PopulationOverflow {
            population: p.name.clone(),
            ..PopulationOverflow::default()
        })
        .collect();
    let (mut mean_sum, mut mean_n) = (0.0, 0.0);
    for r in results {
        report.spikes += r.spikes();
        report.synaptic_events += r.synaptic_events();
        report.energy_joules_per_sample += r.energy.total_joules / n;
        let e = &mut report.energy_joules_per_sample_by_kind;
        e.synops += r.energy.synops_joules / n;
        e.neuron_updates += r.energy.neuron_updates_joules / n;
        e.spikes_out += r.energy.spikes_out_joules / n;
        e.hops += r.energy.hops_joules / n;
        e.static_power += r.energy.static_joules / n;
        if let Some(c) = &r.cycles {
            mean_sum += c.cycles_per_tick_mean;
            mean_n += 1.0;
            report.cycles_per_tick_max = report.cycles_per_tick_max.max(c.cycles_per_tick_max);
            report.latency_seconds_per_sample += c.latency_seconds / n;
        }
        for o in &r.overflows {
            if let Some(slot) = overflows.iter_mut().find(|p| p.population == o.name) {
                slot.current += o.current;
                slot.voltage += o.voltage;
                slot.accumulator += o.accumulator;
            }
        }
    }
    report.overflows = overflows;
    report.cycles_per_tick_mean = if mean_n > 0.0 { mean_sum / mean_n } else { 0.0 };
    report.wall_seconds = wall;
    report.synaptic_events_per_second = if wall > 0.0 {
        report.synaptic_events as f64 / wall
    } else {
        0.0
    };
    report.mode = match results.first().map(|r| r.mode) {
        Some(Mode::Functional) => "functional".into(),
        _ => "cycle_accurate".into(),
    };
    report
}

fn encode(pixels: &[f32], settings: &EmulateSettings, rate: f32, sample: usize) -> Vec<Vec<u32>> {
    match settings.encoding {
        Encoding::Regular => lifchip_data::rate_regular(pixels, rate, settings.ticks),
        Encoding::Poisson => lifchip_data::poisson(
            pixels,
            rate,
            settings.ticks,
            settings.seed.wrapping_add(sample as u64),
        ),
    }
}

/// Emulates every sample of `data` on `config`; returns the report with accuracy.
pub fn emulate_dataset(
    config: &ChipConfig,
    data: &Dataset,
    settings: &EmulateSettings,
) -> CliResult<EmulateReport> {
    let inputs = config.inputs.len();
    let pixels = data.rows * data.cols;
    if pixels != inputs {
        crate::fail!(
            "the chip takes {inputs} input channels but the data has {}x{} = {pixels} pixels per image",
            data.rows,
            data.cols
        );
    }
    let readout = config
        .populations
        .get(config.readout as usize)
        .map_or(0, |p| p.placement.len());
    if data.num_classes() > readout {
        crate::fail!(
            "the data has {} classes but the chip's readout population has {readout} neurons",
            data.num_classes()
        );
    }
    let emulator = Emulator::new(config)?;
    let options = RunOptions {
        ticks: settings.ticks,
        mode: settings.mode,
        probes: Probes::default(),
    };
    let bar = if settings.show_progress {
        progress(data.n as u64, "emulate")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut results = Vec::with_capacity(data.n);
    let rate = config.input_rate as f32;
    // Chunks bound the memory the encoded spikes take.
    for chunk_start in (0..data.n).step_by(256) {
        let chunk_end = (chunk_start + 256).min(data.n);
        let batch: Vec<Vec<Vec<u32>>> = (chunk_start..chunk_end)
            .map(|i| encode(&data.pixels_f32(i), settings, rate, i))
            .collect();
        results.extend(emulator.run_batch(&batch, &options)?);
        bar.set_position(chunk_end as u64);
    }
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let mut report = summarize(config, &results, settings.ticks, wall);
    let correct = results
        .iter()
        .zip(&data.labels)
        .filter(|(r, label)| r.predicted_class() == Some(**label as usize))
        .count();
    report.accuracy = Some(if data.n > 0 {
        correct as f64 / data.n as f64
    } else {
        0.0
    });
    report.predictions = results.iter().map(SampleResult::predicted_class).collect();
    report.encoding = Some(settings.encoding);
    Ok(report)
}

fn probe_set(config: &ChipConfig, probe: Option<&str>) -> CliResult<ProbeSet> {
    Ok(match probe {
        None => ProbeSet::None,
        Some("all") => ProbeSet::All,
        Some(name) => match config
            .populations
            .iter()
            .position(|p| p.name == name && !p.is_input)
        {
            Some(k) => ProbeSet::Populations(vec![k as u32]),
            None => {
                let names: Vec<&str> = config
                    .populations
                    .iter()
                    .filter(|p| !p.is_input)
                    .map(|p| p.name.as_str())
                    .collect();
                crate::fail!(
                    "--probe {name}: no such neuron population; expected `all` or one of: {}",
                    names.join(", ")
                )
            }
        },
    })
}

fn probe_reports(config: &ChipConfig, probes: &[NeuronProbe]) -> Vec<ProbeReport> {
    probes
        .iter()
        .map(|p| ProbeReport {
            population: config
                .populations
                .get(p.population as usize)
                .map_or_else(String::new, |x| x.name.clone()),
            neuron: p.neuron,
            spike_ticks: p.spike_ticks.clone(),
            u: p.u.clone(),
            v: p.v.clone(),
        })
        .collect()
}

/// Prints the human summary of an emulation report.
pub fn print_report(report: &EmulateReport) {
    if let Some(acc) = report.accuracy {
        println!(
            "accuracy                  {:.2}% of {} samples",
            acc * 100.0,
            report.samples
        );
    } else {
        println!("samples                   {}", report.samples);
    }
    println!("ticks per sample          {}", report.ticks_per_sample);
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
    if args.ticks == Some(0) {
        crate::fail!("--ticks 0: expected at least 1 tick");
    }
    let config = lifchip_chip::read_chipdir(&args.chip)?;
    let mode = if args.functional {
        Mode::Functional
    } else {
        Mode::CycleAccurate
    };
    let mut report = if let Some(file) = &args.input_spikes {
        let spikes = InputSpikes::from_json_file(file)?;
        spikes
            .validate(config.inputs.len())
            .map_err(|e| CliError(format!("{}: {e}", file.display())))?;
        let ticks = args.ticks.unwrap_or(spikes.ticks);
        let mut per_tick = spikes.per_tick();
        per_tick.resize(ticks as usize, Vec::new());
        let mut emulator = Emulator::new(&config)?;
        let options = RunOptions {
            ticks,
            mode,
            probes: Probes {
                set: probe_set(&config, args.probe.as_deref())?,
                state: args.probe_state,
            },
        };
        let started = Instant::now();
        let result = emulator.run(&per_tick, &options)?;
        let wall = started.elapsed().as_secs_f64();
        let mut report = summarize(&config, std::slice::from_ref(&result), ticks, wall);
        report.probes = probe_reports(&config, &result.probes);
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
        let settings = EmulateSettings {
            ticks: args.ticks.unwrap_or(100),
            encoding: args.encoding,
            seed: args.seed,
            mode,
            show_progress: true,
        };
        emulate_dataset(&config, &data, &settings)?
    };
    report.chip = args.chip.display().to_string();
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
    Ok(())
}
