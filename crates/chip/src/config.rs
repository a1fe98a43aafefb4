//! The in-memory chip configuration: what a loader would write into each core.

use serde::{Deserialize, Serialize};

use lifchip_target::Target;

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
        crate::view::synapse_bits(self, target)
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
