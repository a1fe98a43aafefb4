//! What a run is asked for ([`RunOptions`], [`Probes`]) and what it gives back ([`SampleResult`]).

use std::cmp::Reverse;

use serde::Serialize;

/// How a run is timed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Integer semantics plus the cycle model: per-core compute cycles, the mesh network
    /// simulation with FIFOs and backpressure, tick lengths, latency and static energy.
    #[default]
    CycleAccurate,
    /// Integer semantics only (the same spikes and state), no cycle accounting: faster.
    Functional,
}

/// Which neurons a run records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProbeSet {
    /// No probes.
    #[default]
    None,
    /// Every neuron of every non-input population.
    All,
    /// Every neuron of these populations (indices into `ChipConfig::populations`).
    Populations(Vec<u32>),
}

/// What to record besides the totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probes {
    pub set: ProbeSet,
    /// Also record `u` and `v` of the probed neurons after every tick.
    pub state: bool,
}

/// The parameters of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Ticks to run (at least 1).
    pub ticks: u32,
    pub mode: Mode,
    pub probes: Probes,
    /// The first tick whose readout spikes count: [`SampleResult::readout_counts`] are the
    /// spikes of ticks `readout_from..ticks` (the run itself is the same). 0, the default,
    /// counts every tick; it must be less than `ticks`
    /// ([`EmuError::ReadoutFrom`](crate::EmuError::ReadoutFrom)).
    pub readout_from: u32,
}

impl RunOptions {
    /// A cycle-accurate run of `ticks` ticks without probes, its readout counted over every
    /// tick.
    pub fn new(ticks: u32) -> Self {
        RunOptions {
            ticks,
            mode: Mode::CycleAccurate,
            probes: Probes::default(),
            readout_from: 0,
        }
    }
}

/// Events counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Spikes emitted by compartments (a multi-spike counts each spike).
    pub spikes: u64,
    /// Synaptic operations: one per synapse of a delivered row, per spike the packet carries.
    pub synops: u64,
    /// Compartment updates (every compartment, every tick).
    pub neuron_updates: u64,
    /// Spike packets injected into the mesh by cores (one per spiking compartment with fan-out).
    pub packets_out: u64,
    /// Input packets injected at the host router (one per spiking input channel with fan-out).
    pub input_packets: u64,
    /// Axon deliveries at cores (one per destination entry of a delivered packet).
    pub packets_in: u64,
    /// Link traversals by packets (a multicast tree link counts once per packet).
    pub hops: u64,
    /// Graded partial-sum packets: one per partial-sum compartment with a nonzero sum per tick
    /// (split neurons only; their hops are in `hops`).
    pub partial_packets: u64,
    /// Compartment updates of active compartments: input, nonzero `u`, `v` or bias in the tick
    /// (counted only when the target prices them, else 0).
    pub active_neuron_updates: u64,
    /// Compartments that spiked, once per tick whatever their spike count.
    pub spiking_neurons: u64,
    /// Messages of spike packets: one per distinct destination core.
    pub messages: u64,
    /// Messages of input packets: one per distinct destination core.
    pub input_messages: u64,
    /// Synaptic operations of dense rows and of shared (kernel) rows, among `synops` (counted
    /// only when the target prices them apart, else 0).
    pub dense_synops: u64,
    pub shared_synops: u64,
    /// Link traversals over y links, among `hops`.
    pub hops_y: u64,
}

/// Energy of a run, by event kind, in joules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergyBreakdown {
    /// Synaptic operations of every row kind.
    pub synops_joules: f64,
    /// Every-tick and active-only parts of the compartment updates.
    pub neuron_updates_joules: f64,
    /// Sending spikes: packets, spiking neurons and messages (input messages included).
    pub spikes_out_joules: f64,
    pub hops_joules: f64,
    /// Static power of the cores used over the run's latency (0 in functional mode).
    pub static_joules: f64,
    pub total_joules: f64,
}

/// How much of the cycle model's account a cycle-accurate run keeps in its [`CycleStats`]
/// (set with [`Emulator::set_cycle_detail`](crate::Emulator::set_cycle_detail)). The totals
/// are always there; the levels differ only in memory: a batch of many samples on a chip of
/// many cores would otherwise keep `ticks × cores` numbers per sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleDetail {
    /// Totals only: `total_cycles`, `cycles_per_tick_mean` / `_max`, `latency_seconds` and
    /// `core_compute_cycles`; the per-tick vectors stay empty.
    Totals,
    /// Also the per-tick vectors `input_drain_cycles`, `spike_drain_cycles` and
    /// `tick_cycles` (3 × ticks numbers). The default.
    #[default]
    PerTick,
    /// Also `compute_cycles`: every core's compute cycles in every tick (ticks × cores).
    PerCore,
}

/// The cycle model's account of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CycleStats {
    /// Cores of the configuration (the width of `compute_cycles`' rows).
    pub cores: usize,
    /// Per tick: cycles to route that tick's input packets from the host router
    /// ([`CycleDetail::PerTick`] and above, else empty).
    pub input_drain_cycles: Vec<u64>,
    /// Per tick and core (`[tick * cores + core]`): the core's compute cycles
    /// ([`CycleDetail::PerCore`] only, else empty).
    pub compute_cycles: Vec<u64>,
    /// Per tick: cycles to drain that tick's spike packets through the mesh
    /// ([`CycleDetail::PerTick`] and above, else empty).
    pub spike_drain_cycles: Vec<u64>,
    /// Per tick: its length (input drain + slowest core + spike drain + barrier)
    /// ([`CycleDetail::PerTick`] and above, else empty).
    pub tick_cycles: Vec<u64>,
    /// Per core: its compute cycles summed over the run (always kept).
    pub core_compute_cycles: Vec<u64>,
    /// Per core: its most compute cycles in any one tick of the run (always kept).
    pub core_compute_cycles_max: Vec<u64>,
    pub total_cycles: u64,
    pub cycles_per_tick_mean: f64,
    pub cycles_per_tick_max: u64,
    /// `total_cycles / clock_hz`.
    pub latency_seconds: f64,
}

impl CycleStats {
    /// Compute cycles of `core` in `tick` (0 unless the run kept [`CycleDetail::PerCore`]).
    pub fn core_cycles(&self, tick: usize, core: usize) -> u64 {
        self.compute_cycles
            .get(tick * self.cores + core)
            .copied()
            .unwrap_or(0)
    }
}

/// Overflow events of one population's state over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OverflowCounts {
    pub population: u32,
    pub name: String,
    /// Times the current `u` left its range and was wrapped or saturated.
    pub current: u64,
    /// Times the voltage `v` left its range and was wrapped or saturated.
    pub voltage: u64,
    /// Times a synaptic accumulator wrapped (only with `accumulator_bits > 0`).
    pub accumulator: u64,
}

/// What one probed neuron did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NeuronProbe {
    pub population: u32,
    pub neuron: u32,
    /// Ticks at which it spiked; a tick with `k` spikes appears `k` times.
    pub spike_ticks: Vec<u32>,
    /// `u` after each tick (with state probing; else empty).
    pub u: Vec<i64>,
    /// `v` after each tick (with state probing; else empty).
    pub v: Vec<i64>,
    /// The second synaptic current after each tick (state probing on a target with
    /// `neuron.synaptic_currents: 2`; else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub u2: Vec<i64>,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SampleResult {
    pub ticks: u32,
    pub mode: Mode,
    /// Spikes of each readout neuron over the run's ticks `RunOptions::readout_from..ticks`
    /// (every tick by default), in neuron order.
    pub readout_counts: Vec<u32>,
    /// Membrane voltage `v` of each readout neuron after the last tick, in neuron order: how
    /// far each is towards its next spike (it breaks ties of the counts, see
    /// [`SampleResult::predicted_class`]).
    pub readout_voltages: Vec<i64>,
    pub counts: EventCounts,
    pub energy: EnergyBreakdown,
    /// Present in cycle-accurate mode.
    pub cycles: Option<CycleStats>,
    /// One entry per non-input population, in population order.
    pub overflows: Vec<OverflowCounts>,
    pub probes: Vec<NeuronProbe>,
}

impl SampleResult {
    /// Total spikes emitted.
    pub fn spikes(&self) -> u64 {
        self.counts.spikes
    }

    /// Synaptic events (synaptic operations).
    pub fn synaptic_events(&self) -> u64 {
        self.counts.synops
    }

    /// Index of the readout neuron with the most spikes, if any. Equal counts go to the
    /// neuron with the highest final voltage — the one closest to its next spike, i.e. the one
    /// that integrated the most input — and then to the lowest index. With short presentations
    /// counts tie often; the voltage is the part of each neuron's integrated drive that the
    /// count leaves out.
    pub fn predicted_class(&self) -> Option<usize> {
        let voltage = |k: usize| self.readout_voltages.get(k).copied().unwrap_or(0);
        // `max_by_key` keeps the last of equal keys: `Reverse(k)` makes that the lowest index.
        (0..self.readout_counts.len())
            .max_by_key(|&k| (self.readout_counts[k], voltage(k), Reverse(k)))
    }

    /// Whether several readout neurons share the highest spike count (a tie that
    /// [`SampleResult::predicted_class`] decides by the voltages).
    pub fn readout_tied(&self) -> bool {
        let max = self.readout_counts.iter().max();
        self.readout_counts
            .iter()
            .filter(|&c| Some(c) == max)
            .count()
            > 1
    }
}

#[cfg(test)]
mod tests {
    use super::SampleResult;

    fn result(counts: &[u32], voltages: &[i64]) -> SampleResult {
        SampleResult {
            readout_counts: counts.to_vec(),
            readout_voltages: voltages.to_vec(),
            ..SampleResult::default()
        }
    }

    #[test]
    fn the_most_spikes_win_whatever_the_voltages() {
        assert_eq!(
            result(&[3, 5, 4], &[900, -10, 999]).predicted_class(),
            Some(1)
        );
    }

    #[test]
    fn equal_counts_go_to_the_highest_voltage_then_the_lowest_index() {
        assert_eq!(
            result(&[5, 2, 5], &[100, 999, 300]).predicted_class(),
            Some(2)
        );
        assert_eq!(
            result(&[5, 5, 5], &[300, 300, 300]).predicted_class(),
            Some(0)
        );
        // A silent readout still decides by how far each neuron got.
        assert_eq!(result(&[0, 0, 0], &[-5, 40, 7]).predicted_class(), Some(1));
    }

    #[test]
    fn no_readout_no_class() {
        assert_eq!(result(&[], &[]).predicted_class(), None);
    }

    #[test]
    fn a_shared_top_count_is_a_tie_and_a_shared_lower_count_is_not() {
        let counts = |c: &[u32]| result(c, &[]);
        assert!(counts(&[4, 1, 4]).readout_tied());
        assert!(counts(&[0, 0]).readout_tied());
        assert!(!counts(&[1, 1, 4]).readout_tied());
        assert!(!counts(&[]).readout_tied());
    }
}
