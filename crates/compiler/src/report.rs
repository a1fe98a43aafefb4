//! The compile report (`lifchip compile --json`, `CHIPDIR/report.json`) and mapping violations.

use serde::Serialize;

use crate::{BoundLimit, ExactReport, LayerQuantization, VerifyError};

/// Which limit a [`Violation`] breaks; serialized as the snake_case name of the target field
/// or check (`input_axons`, `rate_profile`, ...), as in the JSON report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The mesh has too few cores.
    Cores,
    /// A neuron (or fan-in share) has more inputs than `core.input_axons`.
    InputAxons,
    /// A neuron's synapses alone exceed `core.synapse_memory_bits`.
    SynapseMemoryBits,
    /// A neuron sends to more cores than `core.output_axons`.
    OutputAxons,
    /// A router needs more than `mesh.routing_table_entries` entries.
    RoutingTableEntries,
    /// The rate profile does not describe the net.
    RateProfile,
    /// A neuron model the chip cannot run (e.g. `relu`).
    NeuronModel,
    /// No threshold mantissa fits the target's number formats.
    DynamicRange,
    /// Chip-unit values outside the target's formats.
    Weight,
    WeightExp,
    Threshold,
    CurrentDecay,
    /// The decay of the second synaptic current (`current_decay_2`).
    CurrentDecay2,
    VoltageDecay,
    Bias,
    BiasExp,
    /// A chip-unit neuron's initial state outside the target's register widths.
    InitialU,
    InitialV,
    Refractory,
    /// A projection feeds a synaptic current the target does not have.
    SynapticCurrent,
}

impl ViolationKind {
    /// The name used in reports (`input_axons`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Cores => "cores",
            ViolationKind::InputAxons => "input_axons",
            ViolationKind::SynapseMemoryBits => "synapse_memory_bits",
            ViolationKind::OutputAxons => "output_axons",
            ViolationKind::RoutingTableEntries => "routing_table_entries",
            ViolationKind::RateProfile => "rate_profile",
            ViolationKind::NeuronModel => "neuron_model",
            ViolationKind::DynamicRange => "dynamic_range",
            ViolationKind::Weight => "weight",
            ViolationKind::WeightExp => "weight_exp",
            ViolationKind::Threshold => "threshold",
            ViolationKind::CurrentDecay => "current_decay",
            ViolationKind::CurrentDecay2 => "current_decay_2",
            ViolationKind::VoltageDecay => "voltage_decay",
            ViolationKind::Bias => "bias",
            ViolationKind::BiasExp => "bias_exp",
            ViolationKind::InitialU => "initial_u",
            ViolationKind::InitialV => "initial_v",
            ViolationKind::Refractory => "refractory",
            ViolationKind::SynapticCurrent => "synaptic_current",
        }
    }
}

impl std::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violated limit of the user's net on the target: what, where, the value found, the
/// limit, and advice. (A compiler bug is a [`crate::VerifyError`] in
/// [`CompileReport::internal_errors`], never a violation.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    #[serde(rename = "where")]
    pub place: String,
    /// The value found, with its sign (a weight of -120000 is -120000).
    pub value: i64,
    /// The bound it broke: the lower bound for a value below the range, else the upper.
    pub limit: i64,
    pub hint: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A mismatch that is no quantity (a profile of another net) has neither value nor limit.
        if self.value == 0 && self.limit == 0 {
            return write!(f, "{}: {}: {}", self.place, self.kind, self.hint);
        }
        write!(
            f,
            "{}: {} is {} (limit {}); {}",
            self.place, self.kind, self.value, self.limit, self.hint
        )
    }
}

/// Resources one core uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoreReport {
    pub core: u32,
    pub x: u32,
    pub y: u32,
    pub neurons: u64,
    pub input_axons: u64,
    pub synapse_bits: u64,
}

/// What the compiler did, in SI units and integer counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompileReport {
    pub target: String,
    pub neurons: u64,
    pub synapses: u64,
    pub cores_used: u64,
    pub cores_lower_bound: u64,
    /// The per-core limit that gives `cores_lower_bound` (`neurons`, `input_axons` or
    /// `synapse_memory`).
    pub cores_lower_bound_by: BoundLimit,
    /// Fan-in-aware estimate of the cores needed (random-connectivity model; not a bound).
    pub cores_fanin_estimate: u64,
    pub per_core: Vec<CoreReport>,
    /// Neurons whose fan-in was split over partial-sum compartments (`core.fanin_split`), and
    /// the partial-sum compartments that took.
    pub split_neurons: u64,
    pub partial_compartments: u64,
    pub inter_core_spike_packets_estimate: u64,
    pub max_link_load: u64,
    /// Sum over core pairs of spike packets (every neuron spiking once) times mesh hops: the
    /// placement objective.
    pub traffic_hops: u64,
    /// With a rate profile: where it came from, the expected inter-core spike packets per tick
    /// and packets × hops per tick (the objective placement then minimised).
    pub rate_profile: Option<String>,
    pub expected_packets_per_tick: Option<f64>,
    pub expected_packet_hops_per_tick: Option<f64>,
    pub compile_seconds: f64,
    /// Seconds spent in each pass, in pass order (`quantize`, `partition`, `verify`, `place`,
    /// `route`); a pass that did not run is absent.
    pub pass_seconds: Vec<(String, f64)>,
    pub quantization: Vec<LayerQuantization>,
    pub violations: Vec<Violation>,
    /// Compiler bugs: the verifier rejected the compiler's own partition (absent when none).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_displayed"
    )]
    pub internal_errors: Vec<VerifyError>,
    /// The exact check of the partition, when asked for ([`crate::check_partition`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<ExactReport>,
}

fn serialize_displayed<S: serde::Serializer>(
    errors: &[VerifyError],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(errors.iter().map(ToString::to_string))
}

impl CompileReport {
    /// Records that pass `name` ran from `since` until now, and returns now.
    pub(crate) fn lap(&mut self, name: &str, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.pass_seconds
            .push((name.to_string(), (now - since).as_secs_f64()));
        now
    }

    pub(crate) fn empty(target: &str) -> Self {
        CompileReport {
            target: target.to_string(),
            neurons: 0,
            synapses: 0,
            cores_used: 0,
            cores_lower_bound: 0,
            cores_lower_bound_by: BoundLimit::Neurons,
            cores_fanin_estimate: 0,
            per_core: Vec::new(),
            split_neurons: 0,
            partial_compartments: 0,
            inter_core_spike_packets_estimate: 0,
            max_link_load: 0,
            traffic_hops: 0,
            rate_profile: None,
            expected_packets_per_tick: None,
            expected_packet_hops_per_tick: None,
            compile_seconds: 0.0,
            pass_seconds: Vec::new(),
            quantization: Vec::new(),
            violations: Vec::new(),
            internal_errors: Vec::new(),
            exact: None,
        }
    }
}
