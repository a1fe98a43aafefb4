//! The in-memory chip configuration: what a loader would write into each core.

use serde::{Deserialize, Serialize};

use lifchip_target::Target;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;

/// Where a spike goes: input axon `axon` of core `core`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    pub core: u32,
    pub axon: u32,
}

/// One synapse of an axon row: add `weight` to compartment `compartment`'s accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synapse {
    pub compartment: u32,
    /// Stored weight mantissa, within the target's weight range.
    pub weight: i32,
}

/// An input axon: the synapse row looked up when a spike arrives on it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Axon {
    /// Accumulator group: rows of one group are summed together and the sum is shifted by the
    /// group's weight exponent before it enters the current (one group per incoming projection).
    pub group: u16,
    /// The synaptic current its synapses feed: 1, or 2 on targets with
    /// `neuron.synaptic_currents: 2` (Xylo's `I_syn2`).
    #[serde(default = "one_u8")]
    pub current: u8,
    pub synapses: Vec<Synapse>,
}

fn one_u8() -> u8 {
    1
}

impl Axon {
    /// The compartments this row reaches, first to last inclusive (0 for an empty row).
    pub fn span(&self) -> u64 {
        let lo = self.synapses.iter().map(|s| s.compartment).min();
        let hi = self.synapses.iter().map(|s| s.compartment).max();
        match (lo, hi) {
            (Some(lo), Some(hi)) => u64::from(hi - lo) + 1,
            _ => 0,
        }
    }
}

/// One neuron compartment's configuration, in chip units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compartment {
    /// Index into [`ChipConfig::populations`] (for probes and per-layer reports).
    pub population: u32,
    /// Neuron index within its population.
    pub neuron: u32,
    pub current_decay: u32,
    /// Decay of the second synaptic current (0 unless the target has two).
    #[serde(default)]
    pub current_decay_2: u32,
    pub voltage_decay: u32,
    /// Threshold mantissa (compared as `threshold << threshold_shift`).
    pub threshold: u32,
    /// Bias mantissa; the bias is `bias << bias_exp`.
    pub bias: i32,
    pub bias_exp: u32,
    pub refractory: u32,
    /// `u` and `v` after loading and after a reset (signed, within `current_bits` and
    /// `voltage_bits`).
    #[serde(default)]
    pub initial_u: i32,
    #[serde(default)]
    pub initial_v: i32,
    /// Spikes this compartment may emit per tick.
    pub max_spikes: u32,
    /// Fan-out. When the compartment spikes, one packet (carrying its spike count) is routed
    /// as an XY multicast tree to the distinct cores of this list and delivered to every
    /// listed axon; see docs/core-model.md.
    pub destinations: Vec<Destination>,
    /// For a partial-sum compartment (a share of a split neuron's synapses): where its sum
    /// goes. Each tick its summed input is added to that group of the neuron's compartment
    /// instead of entering its own current; it has no fan-out, its threshold is unreachable,
    /// and it never spikes.
    #[serde(default)]
    pub partial_of: Option<PartialRoot>,
}

/// The neuron a partial-sum compartment belongs to: its compartment, and the accumulator
/// group (of the neuron's core) the partial sum joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartialRoot {
    pub core: u32,
    pub compartment: u32,
    pub group: u16,
}

/// One core's images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreConfig {
    pub id: u32,
    pub x: u32,
    pub y: u32,
    /// Weight exponent of each accumulator group.
    pub group_exponents: Vec<i32>,
    pub compartments: Vec<Compartment>,
    pub axons: Vec<Axon>,
}

impl CoreConfig {
    /// Synapse memory the target's cost model charges for this core: each axon's row (sparse,
    /// or dense where the target allows it and it is smaller) plus the axon entries.
    /// With `core.shared_kernels`, rows of one group that are identical up to a compartment
    /// offset are charged once.
    pub fn synapse_bits(&self, target: &Target) -> u64 {
        // Rows charged so far, by a hash of their (group, relative content); equal hashes are
        // compared in full, so a collision never merges different rows.
        let mut stored: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        let relative = |a: &Axon| {
            let first = a.synapses.iter().map(|s| s.compartment).min().unwrap_or(0);
            let mut row: Vec<(u32, i32)> = a
                .synapses
                .iter()
                .map(|s| (s.compartment - first, s.weight))
                .collect();
            if !row.is_sorted() {
                row.sort_unstable();
            }
            row
        };
        let mut rows = 0u64;
        for (k, axon) in self.axons.iter().enumerate() {
            if target.core.shared_kernels {
                // The hash of `(group, relative(axon))`, without building the row when the
                // synapses are already in its order (the common case).
                let sorted = axon
                    .synapses
                    .windows(2)
                    .all(|w| (w[0].compartment, w[0].weight) <= (w[1].compartment, w[1].weight));
                let mut h = rustc_hash::FxHasher::default();
                if sorted {
                    let first = axon.synapses.first().map_or(0, |s| s.compartment);
                    axon.group.hash(&mut h);
                    axon.synapses.len().hash(&mut h);
                    for s in &axon.synapses {
                        (s.compartment - first, s.weight).hash(&mut h);
                    }
                } else {
                    let row = relative(axon);
                    axon.group.hash(&mut h);
                    row.len().hash(&mut h);
                    for x in &row {
                        x.hash(&mut h);
                    }
                }
                let charged = stored.entry(h.finish()).or_default();
                let same = |other: &Axon| {
                    if other.group != axon.group || other.synapses.len() != axon.synapses.len() {
                        return false;
                    }
                    let other_sorted = other.synapses.windows(2).all(|w| {
                        (w[0].compartment, w[0].weight) <= (w[1].compartment, w[1].weight)
                    });
                    if sorted && other_sorted {
                        // Both in order: compare the relative contents in place.
                        let fa = axon.synapses.first().map_or(0, |s| s.compartment);
                        let fb = other.synapses.first().map_or(0, |s| s.compartment);
                        axon.synapses.iter().zip(&other.synapses).all(|(x, y)| {
                            x.compartment - fa == y.compartment - fb && x.weight == y.weight
                        })
                    } else {
                        relative(other) == relative(axon)
                    }
                };
                if charged.iter().any(|&j| same(&self.axons[j])) {
                    continue;
                }
                charged.push(k);
            }
            rows = rows.saturating_add(target.row_bits(axon.synapses.len() as u64, axon.span()));
        }
        rows.saturating_add(target.axon_entries_bits(self.axons.len() as u64))
    }
}

/// A population as the chip sees it: its name, shape, and where its neurons live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopulationInfo {
    pub name: String,
    pub shape: Vec<usize>,
    /// `true` for external inputs (no compartments; they enter through [`ChipConfig::inputs`]).
    pub is_input: bool,
    /// For neuron populations: `(core, compartment)` of each neuron, in neuron order.
    pub placement: Vec<(u32, u32)>,
}

/// The whole chip configuration: the contract between the compiler side and the emulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChipConfig {
    pub target: Target,
    pub net_name: String,
    pub net_hash: u64,
    pub populations: Vec<PopulationInfo>,
    /// External input channel `i` (inputs of all input populations, concatenated in order)
    /// sends a spike to each of these destinations.
    pub inputs: Vec<Vec<Destination>>,
    /// Index into `populations` of the readout population (classification by spike counts).
    pub readout: u32,
    /// Input spikes per tick that encode an input of value 1 (a white pixel), in `(0, 1]`:
    /// the rate the compiler scaled the first layer for. Whoever encodes inputs uses it; the
    /// emulator does not.
    pub input_rate: f64,
    pub cores: Vec<CoreConfig>,
}
