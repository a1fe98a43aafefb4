//! Emulating a chip configuration on a dataset: the emulation report (accuracy, spikes, cycles,
//! latency, energy, overflows) that `lifchip emulate`, `demo` and every sweep point share.

use std::time::Instant;

use lifchip_chip::FlatChip;
use lifchip_data::Dataset;
use lifchip_emulator::{Emulator, Mode, NeuronProbe, ProbeSet, Probes, RunOptions, SampleResult};
use serde::Serialize;

use crate::error::{StudyError, StudyResult};

/// How pixels become input spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Regularly spaced spikes at `pixel * input_rate` per tick (deterministic).
    Regular,
    /// Bernoulli spikes with probability `pixel * input_rate` per tick (seeded).
    Poisson,
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
    /// The identity of the CHIPDIR that ran (see `lifchip_report::chipdir_fingerprint`), so a
    /// report of this run can refuse another chip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip_fingerprint: Option<String>,
    pub target: String,
    pub samples: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Samples of a labelled run whose highest readout spike count was shared by several
    /// neurons (decided by their final voltages: `SampleResult::predicted_class`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tied_samples: Option<u64>,
    pub ticks_per_sample: u32,
    /// The first tick whose readout spikes count (`RunOptions::readout_from`; 0 = every tick).
    pub readout_from: u32,
    /// A one-sample run's readout spike counts over ticks `readout_from..ticks`, in neuron
    /// order (`emulate --input-spikes`; else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readout_counts: Vec<u32>,
    pub spikes: u64,
    pub synaptic_events: u64,
    pub cycles_per_tick_mean: f64,
    pub cycles_per_tick_max: u64,
    /// Cycles of each tick, averaged over the samples (cycle-accurate runs; else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles_by_tick: Vec<f64>,
    /// Each core's compute cycles per tick: mean over the run and the most in one tick
    /// (cycle-accurate runs; else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles_by_core: Vec<CoreCycles>,
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
    /// When the run covers several samples and `probes` were recorded on one of them: its
    /// index in the data (the other figures are over all samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probed_sample: Option<u64>,
    /// Predicted class per sample (not in the JSON: one per image).
    #[serde(skip)]
    pub predictions: Vec<Option<usize>>,
}

/// One core's compute cycles per tick over a run (the synapse and neuron stages, without the
/// mesh's drain and the barrier that the tick's length adds).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CoreCycles {
    pub core: u32,
    pub mean: f64,
    pub max: u64,
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
#[derive(Clone, Copy, Debug)]
pub struct EmulateSettings {
    pub ticks: u32,
    pub encoding: Encoding,
    /// Seed of Poisson encoding (sample `i` uses `seed + i`).
    pub seed: u64,
    pub mode: Mode,
    /// The first tick whose readout spikes count (`RunOptions::readout_from`; 0 = every tick).
    pub readout_from: u32,
}

impl EmulateSettings {
    /// Regular encoding, cycle-accurate, every tick's readout counted: what `demo` and the
    /// sweep's points run.
    pub fn regular(ticks: u32, seed: u64) -> Self {
        EmulateSettings {
            ticks,
            encoding: Encoding::Regular,
            seed,
            mode: Mode::CycleAccurate,
            readout_from: 0,
        }
    }
}

/// Adds up per-sample results into a report (accuracy filled in by the caller).
pub fn summarize(
    config: &FlatChip,
    results: &[SampleResult],
    ticks: u32,
    wall: f64,
) -> EmulateReport {
    let n = results.len().max(1) as f64;
    let mut report = EmulateReport {
        target: config.target().name.clone(),
        samples: results.len() as u64,
        ticks_per_sample: ticks,
        ..EmulateReport::default()
    };
    let mut overflows: Vec<PopulationOverflow> = config
        .populations()
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
    (report.cycles_by_tick, report.cycles_by_core) = cycle_profile(results, ticks);
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

/// Cycles per tick over a run: each tick's length averaged over the samples that kept per-tick
/// detail, and each core's compute cycles per tick (mean over all ticks of all samples, and
/// the most in one tick). Both empty for functional runs.
fn cycle_profile(results: &[SampleResult], ticks: u32) -> (Vec<f64>, Vec<CoreCycles>) {
    let mut tick_sum: Vec<f64> = Vec::new();
    let mut tick_samples = 0u32;
    let (mut core_sum, mut core_max): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
    let mut samples = 0u32;
    for c in results.iter().filter_map(|r| r.cycles.as_ref()) {
        samples += 1;
        if !c.tick_cycles.is_empty() {
            if tick_sum.len() < c.tick_cycles.len() {
                tick_sum.resize(c.tick_cycles.len(), 0.0);
            }
            for (sum, &t) in tick_sum.iter_mut().zip(&c.tick_cycles) {
                *sum += t as f64;
            }
            tick_samples += 1;
        }
        if core_sum.len() < c.core_compute_cycles.len() {
            core_sum.resize(c.core_compute_cycles.len(), 0);
            core_max.resize(c.core_compute_cycles.len(), 0);
        }
        for (sum, &t) in core_sum.iter_mut().zip(&c.core_compute_cycles) {
            *sum = sum.saturating_add(t);
        }
        for (max, &t) in core_max.iter_mut().zip(&c.core_compute_cycles_max) {
            *max = (*max).max(t);
        }
    }
    let by_tick = tick_sum
        .into_iter()
        .map(|sum| sum / f64::from(tick_samples))
        .collect();
    let core_ticks = f64::from(samples) * f64::from(ticks.max(1));
    let by_core = core_sum
        .iter()
        .zip(&core_max)
        .enumerate()
        .map(|(core, (&sum, &max))| CoreCycles {
            core: core as u32,
            mean: sum as f64 / core_ticks,
            max,
        })
        .collect();
    (by_tick, by_core)
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

/// The probes of a run as the report gives them: population names instead of indices.
pub fn probe_reports(config: &FlatChip, probes: &[NeuronProbe]) -> Vec<ProbeReport> {
    probes
        .iter()
        .map(|p| ProbeReport {
            population: config
                .populations()
                .get(p.population as usize)
                .map_or_else(String::new, |x| x.name.clone()),
            neuron: p.neuron,
            spike_ticks: p.spike_ticks.clone(),
            u: p.u.clone(),
            v: p.v.clone(),
        })
        .collect()
}

/// Emulates sample `index` of `data` alone with every non-input population probed (spikes
/// only) and keeps at most `max_per_population` neurons of each population, evenly spaced by
/// index (all of them when the population is that small): the raster of one image that
/// `demo --out` puts in its report. The run is the same as the sample's run in
/// [`emulate_dataset`] (same encoding and seed), so its spikes are that sample's spikes.
pub fn probe_sample(
    config: &FlatChip,
    data: &Dataset,
    index: usize,
    settings: &EmulateSettings,
    max_per_population: usize,
) -> StudyResult<Vec<ProbeReport>> {
    let inputs = config.inputs().len();
    if data.rows * data.cols != inputs {
        return Err(StudyError::InputsMismatch {
            inputs,
            rows: data.rows,
            cols: data.cols,
        });
    }
    if index >= data.n {
        return Err(StudyError::NoSample {
            index,
            samples: data.n,
        });
    }
    let mut emulator = Emulator::from_flat(config)?;
    let options = RunOptions {
        ticks: settings.ticks,
        mode: settings.mode,
        probes: Probes {
            set: ProbeSet::All,
            state: false,
        },
        readout_from: settings.readout_from,
    };
    let input = encode(
        &data.pixels_f32(index),
        settings,
        config.input_rate() as f32,
        index,
    );
    let result = emulator.run(&input, &options)?;
    let kept: Vec<NeuronProbe> = result
        .probes
        .into_iter()
        .filter(|p| {
            let size = config
                .populations()
                .get(p.population as usize)
                .map_or(0, |x| x.placement.len());
            keep_neuron(p.neuron as usize, size, max_per_population)
        })
        .collect();
    Ok(probe_reports(config, &kept))
}

/// Whether neuron `neuron` of a population of `size` is among the at most `max` evenly spaced
/// ones kept: `floor(k · size / max)` for `k < max`.
fn keep_neuron(neuron: usize, size: usize, max: usize) -> bool {
    if size <= max {
        return true;
    }
    if max == 0 {
        return false;
    }
    // The smallest k with floor(k · size / max) >= neuron, then check equality.
    let k = (neuron * max).div_ceil(size);
    k < max && k * size / max == neuron
}

/// Emulates every sample of `data` on `config`; returns the report with accuracy.
/// `on_progress(done, total)` is called after every chunk of samples.
pub fn emulate_dataset(
    config: &FlatChip,
    data: &Dataset,
    settings: &EmulateSettings,
    on_progress: &dyn Fn(usize, usize),
) -> StudyResult<EmulateReport> {
    let inputs = config.inputs().len();
    let pixels = data.rows * data.cols;
    if pixels != inputs {
        return Err(StudyError::InputsMismatch {
            inputs,
            rows: data.rows,
            cols: data.cols,
        });
    }
    let readout = config
        .populations()
        .get(config.readout() as usize)
        .map_or(0, |p| p.placement.len());
    if let Some((image, &label)) = data
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= readout)
    {
        return Err(StudyError::ClassesMismatch {
            image,
            label,
            readout,
        });
    }
    let emulator = Emulator::from_flat(config)?;
    let options = RunOptions {
        ticks: settings.ticks,
        mode: settings.mode,
        probes: Probes::default(),
        readout_from: settings.readout_from,
    };
    let started = Instant::now();
    let mut results = Vec::with_capacity(data.n);
    let rate = config.input_rate() as f32;
    // Chunks bound the memory the encoded spikes take.
    for chunk_start in (0..data.n).step_by(256) {
        let chunk_end = (chunk_start + 256).min(data.n);
        let batch: Vec<Vec<Vec<u32>>> = (chunk_start..chunk_end)
            .map(|i| encode(&data.pixels_f32(i), settings, rate, i))
            .collect();
        results.extend(emulator.run_batch(&batch, &options)?);
        on_progress(chunk_end, data.n);
    }
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
    report.tied_samples = Some(results.iter().filter(|r| r.readout_tied()).count() as u64);
    report.predictions = results.iter().map(SampleResult::predicted_class).collect();
    report.encoding = Some(settings.encoding);
    report.readout_from = settings.readout_from;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use lifchip_emulator::CycleStats;

    use super::{CoreCycles, SampleResult, cycle_profile, keep_neuron};

    fn sample(tick_cycles: &[u64], core_total: &[u64], core_max: &[u64]) -> SampleResult {
        SampleResult {
            cycles: Some(CycleStats {
                tick_cycles: tick_cycles.to_vec(),
                core_compute_cycles: core_total.to_vec(),
                core_compute_cycles_max: core_max.to_vec(),
                ..CycleStats::default()
            }),
            ..SampleResult::default()
        }
    }

    #[test]
    fn cycle_profile_averages_ticks_over_samples_and_keeps_each_cores_peak() {
        let results = [
            sample(&[10, 20, 30], &[6, 0], &[4, 0]),
            sample(&[30, 40, 50], &[12, 3], &[5, 3]),
        ];
        let (by_tick, by_core) = cycle_profile(&results, 3);
        assert_eq!(by_tick, vec![20.0, 30.0, 40.0]);
        assert_eq!(
            by_core,
            vec![
                CoreCycles {
                    core: 0,
                    mean: 3.0,
                    max: 5
                },
                CoreCycles {
                    core: 1,
                    mean: 0.5,
                    max: 3
                }
            ]
        );
        // Functional runs have no cycle account.
        let (by_tick, by_core) = cycle_profile(&[SampleResult::default()], 3);
        assert!(by_tick.is_empty() && by_core.is_empty());
    }

    #[test]
    fn decimation_keeps_evenly_spaced_neurons() {
        let kept: Vec<usize> = (0..1000).filter(|&n| keep_neuron(n, 1000, 256)).collect();
        assert_eq!(kept.len(), 256);
        assert_eq!(kept[0], 0);
        // floor(k · 1000 / 256) for k = 1, 2, 255.
        assert_eq!((kept[1], kept[2], kept[255]), (3, 7, 996));
        assert!(kept.windows(2).all(|w| (3..=4).contains(&(w[1] - w[0]))));
        // Small populations are kept whole; nothing is kept with max 0.
        assert_eq!((0..10).filter(|&n| keep_neuron(n, 10, 256)).count(), 10);
        assert_eq!((0..10).filter(|&n| keep_neuron(n, 10, 0)).count(), 0);
        for (size, max) in [(257, 256), (1023, 7), (5000, 512)] {
            let kept = (0..size).filter(|&n| keep_neuron(n, size, max)).count();
            assert_eq!(kept, max, "{size} {max}");
        }
    }
}
