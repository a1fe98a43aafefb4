//! The typed target description: every number in which one neuromorphic chip differs from another.
//!
//! Field docs give units; `docs/target-yaml.md` lists every field with its default and range
//! (generated from the schema table that [`crate::load`] checks against).

use serde::{Deserialize, Serialize};

/// A whole target: one chip (a mesh of identical cores) described by numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Short identifier used in reports (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Free text; the first line is the one-line summary.
    #[serde(default)]
    pub description: String,
    pub mesh: Mesh,
    pub core: Core,
    pub precision: Precision,
    pub neuron: Dynamics,
    pub timing: Timing,
    pub energy: Energy,
}

/// The 2-D mesh of cores and its network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    /// Cores along x.
    pub width: u32,
    /// Cores along y.
    pub height: u32,
    /// Packets a link carries per cycle, per direction.
    #[serde(default = "one_u32")]
    pub link_packets_per_cycle: u32,
    /// Packets each router input queue holds; a full queue stalls the sender.
    #[serde(default = "default_fifo")]
    pub fifo_depth: u32,
    /// Routing-table (multicast) entries per router; 0 means unlimited.
    #[serde(default)]
    pub routing_table_entries: u32,
    /// Cores sharing one router (a tile): the cores at `x = k * cores_per_tile ..
    /// (k + 1) * cores_per_tile - 1` of a row sit behind router `k` of that row (Loihi: 4).
    #[serde(default = "one_u32")]
    pub cores_per_tile: u32,
}

/// How much synapse memory a core's synapses take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SynapseCost {
    /// A list (row) per input axon: a sparse row costs `synapses * (weight_bits + index_bits)`,
    /// plus `axon_entry_bits` per axon.
    Sparse {
        /// Bits naming the target neuron of one synapse (`2^index_bits >= neurons`).
        index_bits: u32,
        /// Bits of one input axon's list entry.
        axon_entry_bits: u32,
        /// A row may instead be stored dense: `index_bits` for its first compartment, then one
        /// `weight_bits` cell per compartment up to its last (absent synapses are zero cells);
        /// each row takes whichever of the two is smaller.
        #[serde(default)]
        dense_rows: bool,
    },
    /// A full `input_axons x neurons` crossbar of `weight_bits` cells: every mapping that meets the
    /// axon and neuron limits fits; `synapse_memory_bits` must equal the crossbar size.
    Crossbar,
}

/// Per-core capacity limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// Neurons (compartments) per core.
    pub neurons: u32,
    /// Distinct presynaptic sources (input axons) per core: the fan-in budget.
    pub input_axons: u32,
    /// Distinct destination cores one neuron may send to (fan-out).
    pub output_axons: u32,
    /// Synapse memory per core, in bits.
    pub synapse_memory_bits: u64,
    /// How synapses use that memory.
    pub synapse_cost: SynapseCost,
    /// A neuron whose fan-in exceeds `input_axons` may be split: partial-sum compartments on
    /// other cores each sum a share of its synapses and add the sum to its input in the same tick.
    #[serde(default)]
    pub fanin_split: bool,
    /// Convolution kernels may be stored once and shared (weight sharing).
    #[serde(default)]
    pub shared_kernels: bool,
    /// Readout neurons per core, counted apart from `neurons` (Xylo: 8 readout neurons beside
    /// its 1000 hidden ones). 0: the readout population shares the `neurons` budget.
    #[serde(default)]
    pub readout_neurons: u32,
    /// Each neuron holds its own row of outgoing weights onto the core's compartments (Xylo:
    /// a hidden neuron's row of the recurrent and of the readout matrix), so a synapse row from
    /// one of the core's own neurons is not an input axon: `input_axons` counts only rows fed
    /// by the net's input channels. Needs a one-core mesh.
    #[serde(default)]
    pub neuron_rows: bool,
}

/// How a stored weight maps to its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightEncoding {
    /// Two's complement in `weight_bits`: `[-2^(b-1), 2^(b-1) - 1]`.
    Signed,
    /// Loihi's sign modes: a projection whose weights share one sign stores `weight_bits` of
    /// magnitude; a mixed-sign one keeps `weight_bits - 1` magnitude bits at twice the step
    /// (Lava's `ntb = 8 - num_weight_bits + mixed`).
    LoihiSignMode,
}

/// Where a shared weight exponent applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExponentScope {
    /// No exponent: weights are used as stored.
    None,
    /// One exponent per projection (layer).
    Layer,
    /// One exponent per projection per core.
    Core,
}

/// What happens when a state variable leaves its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Two's complement wrap into `[-2^(b-1), 2^(b-1) - 1]`.
    Wrap,
    /// Lava's single correction: `x > 2^(b-1)` subtracts `2^b`, `x <= -2^(b-1)` adds `2^b`.
    WrapLava,
    /// Clamp to `[-2^(b-1), 2^(b-1) - 1]`.
    Saturate,
    /// Clamp to `[-(2^(b-1) - 1), 2^(b-1) - 1]`.
    SaturateSymmetric,
}

/// The exponent range of a shared weight exponent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightExponent {
    pub scope: ExponentScope,
    /// Smallest exponent (`e < 0` shifts right, arithmetic).
    #[serde(default)]
    pub min: i32,
    /// Largest exponent.
    #[serde(default)]
    pub max: i32,
}

/// Number formats of weights and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precision {
    /// Width of a stored weight (sign included for [`WeightEncoding::Signed`]).
    pub weight_bits: u32,
    pub weight_encoding: WeightEncoding,
    /// The shared exponent applied to delivered weights.
    pub weight_exponent: WeightExponent,
    /// Width of the synaptic current `u` (Xylo's `I_syn`).
    pub current_bits: u32,
    /// What `u` does outside `current_bits`.
    pub current_overflow: Overflow,
    /// Width of the membrane voltage `v`.
    pub voltage_bits: u32,
    /// What `v` does outside `voltage_bits`.
    pub voltage_overflow: Overflow,
    /// Summed input is shifted left by this before it enters `u` (Loihi: 6).
    #[serde(default)]
    pub input_shift: u32,
    /// Width of the threshold mantissa (unsigned).
    pub threshold_bits: u32,
    /// The threshold compared with `v` is `threshold << threshold_shift` (Loihi: 6).
    #[serde(default)]
    pub threshold_shift: u32,
    /// Width of the signed bias mantissa.
    pub bias_bits: u32,
    /// Largest bias exponent (the bias is `mantissa << exp`, `0 <= exp <= max`).
    #[serde(default)]
    pub bias_exp_max: u32,
    /// Width of the per-tick synaptic accumulator; 0 means wide enough never to overflow.
    #[serde(default)]
    pub accumulator_bits: u32,
}

/// How decays are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecayKind {
    /// `x * (2^decay_bits - (d + offset)) >> decay_bits`, truncating the magnitude toward zero.
    Multiplicative,
    /// `x - (x >> d)`, arithmetic shift; with `shift_min_step`, a nonzero decrement of at least 1 LSB.
    Shift,
}

/// When synaptic input enters the current within a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOrder {
    /// Decay `u`, then add this tick's input (Loihi).
    DecayThenInput,
    /// Add this tick's input, then decay `u` (Xylo: input is decayed once in its own tick).
    InputThenDecay,
}

/// How the weights of one tick's deliveries are added to the current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accumulate {
    /// Sum all weights of the tick in the accumulator, then add the sum once (Loihi).
    SumThenAdd,
    /// Add each delivered weight to the current one at a time, saturating after each (Xylo).
    PerEventSaturating,
}

/// Reset after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// `v = 0`.
    Zero,
    /// `v -= threshold` (repeated for several spikes in one tick).
    Subtract,
}

/// How step 3.3 (docs/core-model.md) forms the new voltage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoltageUpdate {
    /// `v = ovf_v(decay(v) + u + bias)` (Loihi, Xylo v1).
    #[default]
    Direct,
    /// Xylo v2: `dv = ovf_v(u - (v - decay(v)))`, `dv = ovf_v(dv + bias)`, `v = ovf_v(v + dv)`:
    /// the bias is added to the saturated change before `v` is updated.
    SaturatedDelta,
}

/// The spike condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpikeTest {
    /// `v > threshold` (Loihi).
    Greater,
    /// `v >= threshold` (Xylo).
    GreaterEqual,
}

/// Neuron dynamics of the core's current-based LIF compartment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dynamics {
    /// How `u` and `v` decay.
    pub decay: DecayKind,
    /// Fixed-point bits of a multiplicative decay (Loihi: 12, so `du`, `dv` are in 0..4095).
    #[serde(default = "default_decay_bits")]
    pub decay_bits: u32,
    /// Added to `du` in a multiplicative current decay (Lava: 1).
    #[serde(default)]
    pub current_decay_offset: u32,
    /// Added to `dv` in a multiplicative voltage decay (Lava: 0).
    #[serde(default)]
    pub voltage_decay_offset: u32,
    /// Shift decay moves a nonzero state by at least one LSB (Xylo).
    #[serde(default)]
    pub shift_min_step: bool,
    /// When this tick's input enters `u`.
    pub order: UpdateOrder,
    /// How one tick's weights are added.
    pub accumulate: Accumulate,
    /// Reset after a spike.
    pub reset: Reset,
    /// The spike condition.
    pub spike_test: SpikeTest,
    /// Spikes a neuron may emit in one tick (subtractive reset repeated; Xylo: 31).
    #[serde(default = "one_u32")]
    pub max_spikes_per_tick: u32,
    /// The same for the readout (last) population (Xylo: 1).
    #[serde(default = "one_u32")]
    pub readout_max_spikes_per_tick: u32,
    /// Largest refractory period a neuron may be given, in ticks (0: no refractory support).
    #[serde(default)]
    pub refractory_max: u32,
    /// Ticks between a spike and its effect on the target's current (Loihi, Xylo: 1).
    #[serde(default = "one_u32")]
    pub synaptic_delay: u32,
    /// Ticks between an external input spike and its effect (Loihi: 1, Xylo: 0).
    #[serde(default = "one_u32")]
    pub input_delay: u32,
    /// Synaptic currents per compartment (Xylo's hidden neurons: 2, `I_syn` and `I_syn2`);
    /// a projection chooses the one it feeds, each decays with its own constant and `v`
    /// integrates their sum. 2 needs `accumulate: per_event_saturating`.
    #[serde(default = "one_u32")]
    pub synaptic_currents: u32,
    /// How the new voltage is formed (`direct`; Xylo v2: `saturated_delta`).
    #[serde(default)]
    pub voltage_update: VoltageUpdate,
}

/// The cycle model (see docs/core-model.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Clock frequency in hertz: converts cycles to seconds.
    pub clock_hz: f64,
    /// Cycles to receive one spike packet at a core (axon lookup).
    pub cycles_per_packet_in: u32,
    /// Cycles per synaptic operation (one weight added).
    pub cycles_per_synop: u32,
    /// Cycles per neuron (compartment) update.
    pub cycles_per_neuron: u32,
    /// Cycles to inject one spike packet into the network.
    pub cycles_per_packet_out: u32,
    /// Router latency per hop (x links; y links too unless `cycles_per_hop_y` is set).
    pub cycles_per_hop: u32,
    /// Cycles of the end-of-tick barrier (with one tile in use).
    pub barrier_cycles: u32,
    /// Cycles per synaptic operation of a dense row; 0: `cycles_per_synop`.
    #[serde(default)]
    pub cycles_per_dense_synop: u32,
    /// Cycles per synaptic operation of a shared (convolution kernel) row; 0: the row's own
    /// dense or sparse figure.
    #[serde(default)]
    pub cycles_per_shared_synop: u32,
    /// Extra cycles to update an active neuron (input, nonzero state or bias this tick).
    #[serde(default)]
    pub cycles_per_active_neuron: u32,
    /// Cycles per spiking neuron (per tick it spikes), fan-out or not.
    #[serde(default)]
    pub cycles_per_spike: u32,
    /// Cycles per message: one per destination core of a spike packet or an input packet.
    #[serde(default)]
    pub cycles_per_message: u32,
    /// Router latency per hop over a y link; 0: `cycles_per_hop`.
    #[serde(default)]
    pub cycles_per_hop_y: u32,
    /// The synapse stage and the neuron stage of a core overlap: a core's tick costs the larger
    /// of the two instead of their sum.
    #[serde(default)]
    pub pipelined: bool,
    /// Barrier cycles added per doubling of the tiles in use.
    #[serde(default)]
    pub barrier_cycles_per_tile_doubling: u32,
    /// At most this many doublings are charged.
    #[serde(default = "default_doublings")]
    pub barrier_tile_doublings_max: u32,
}

/// The energy model: joules per event plus static power.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// Joules per synaptic operation.
    pub synop_joules: f64,
    /// Joules per neuron update.
    pub neuron_update_joules: f64,
    /// Joules per spike packet sent.
    pub spike_out_joules: f64,
    /// Joules per packet per router hop.
    pub hop_joules: f64,
    /// Static power of one powered core, in watts.
    pub static_watts_per_core: f64,
    /// Joules per synaptic operation of a dense row; 0: `synop_joules`.
    #[serde(default)]
    pub dense_synop_joules: f64,
    /// Joules per synaptic operation of a shared (convolution kernel) row; 0: the row's own
    /// dense or sparse figure.
    #[serde(default)]
    pub shared_synop_joules: f64,
    /// Extra joules to update an active neuron (input, nonzero state or bias this tick).
    #[serde(default)]
    pub active_neuron_joules: f64,
    /// Joules per spiking neuron (per tick it spikes), fan-out or not.
    #[serde(default)]
    pub spike_joules: f64,
    /// Joules per message: one per destination core of a spike packet or an input packet.
    #[serde(default)]
    pub message_joules: f64,
    /// Joules per packet per hop over a y link; 0: `hop_joules`.
    #[serde(default)]
    pub hop_y_joules: f64,
}

fn one_u32() -> u32 {
    1
}

fn default_doublings() -> u32 {
    32
}

fn default_fifo() -> u32 {
    16
}

fn default_decay_bits() -> u32 {
    12
}

impl Target {
    /// Cores on the mesh.
    pub fn num_cores(&self) -> u64 {
        u64::from(self.mesh.width) * u64::from(self.mesh.height)
    }

    /// Router (tile) coordinates of the core at mesh position `(x, y)`.
    pub fn router_of(&self, (x, y): (u32, u32)) -> (u32, u32) {
        (x / self.mesh.cores_per_tile.max(1), y)
    }

    /// Cycles of the end-of-tick barrier with `tiles` tiles in use.
    pub fn barrier_cycles(&self, tiles: u64) -> u64 {
        let tm = &self.timing;
        let doublings =
            u64::from(tiles.max(1).ilog2()).min(u64::from(tm.barrier_tile_doublings_max));
        u64::from(tm.barrier_cycles) + doublings * u64::from(tm.barrier_cycles_per_tile_doubling)
    }

    /// Mesh coordinates of core `id` (row-major).
    pub fn core_xy(&self, id: u32) -> (u32, u32) {
        (id % self.mesh.width.max(1), id / self.mesh.width.max(1))
    }

    /// Synapse memory taken by `synapses` synapses arriving over `axons` input axons when every
    /// row is stored sparse (0 for a crossbar: its memory is fixed, and every mapping within the
    /// axon and neuron limits fits). With `dense_rows` this is an upper bound; the exact figure
    /// sums [`Target::row_bits`] and [`Target::axon_entries_bits`].
    pub fn synapse_bits(&self, synapses: u64, axons: u64) -> u64 {
        match self.core.synapse_cost {
            SynapseCost::Sparse {
                index_bits,
                axon_entry_bits,
                ..
            } => {
                let per_synapse = u64::from(self.precision.weight_bits) + u64::from(index_bits);
                synapses
                    .saturating_mul(per_synapse)
                    .saturating_add(axons.saturating_mul(u64::from(axon_entry_bits)))
            }
            SynapseCost::Crossbar => 0,
        }
    }

    /// Synapse memory of one axon's row of `synapses` synapses whose compartments span `span`
    /// consecutive compartments (first to last, inclusive): the sparse cost, or the dense one
    /// where the target allows dense rows and it is smaller. 0 for a crossbar.
    pub fn row_bits(&self, synapses: u64, span: u64) -> u64 {
        match self.core.synapse_cost {
            SynapseCost::Sparse {
                index_bits,
                dense_rows,
                ..
            } => {
                let w = u64::from(self.precision.weight_bits);
                let sparse = synapses.saturating_mul(w + u64::from(index_bits));
                if dense_rows && synapses > 0 {
                    sparse.min(span.saturating_mul(w).saturating_add(u64::from(index_bits)))
                } else {
                    sparse
                }
            }
            SynapseCost::Crossbar => 0,
        }
    }

    /// Synapse memory of `axons` input axons' list entries (0 for a crossbar).
    pub fn axon_entries_bits(&self, axons: u64) -> u64 {
        match self.core.synapse_cost {
            SynapseCost::Sparse {
                axon_entry_bits, ..
            } => axons.saturating_mul(u64::from(axon_entry_bits)),
            SynapseCost::Crossbar => 0,
        }
    }

    /// The fewest bits any synapse can take (a lower-bound building block): a dense cell where
    /// dense rows are allowed, else a sparse entry; 0 for a crossbar.
    pub fn min_bits_per_synapse(&self) -> u64 {
        match self.core.synapse_cost {
            SynapseCost::Sparse {
                index_bits,
                dense_rows,
                ..
            } => {
                let w = u64::from(self.precision.weight_bits);
                if dense_rows {
                    w
                } else {
                    w + u64::from(index_bits)
                }
            }
            SynapseCost::Crossbar => 0,
        }
    }
}
