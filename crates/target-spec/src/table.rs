//! The declarative schema of a target file: one entry per field path, with its type, range,
//! default, unit and a one-line meaning.
//!
//! The checker walks a document against [`FIELDS`], and [`schema_markdown`] renders the same
//! table (plus the cross-field rules of `rules.rs`) as the reference section of
//! `docs/target-yaml.md`, so the documentation cannot drift from what is checked. A unit test
//! holds this table against the serde types in `schema.rs`.

use std::fmt::Write as _;

/// The type of a field and the values it accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A mapping of further fields (its children are the entries whose path extends it).
    Section,
    /// A mapping whose `tag` key picks one of `variants`; entries with `when` belong to one
    /// variant only.
    Tagged {
        tag: &'static str,
        variants: &'static [&'static str],
    },
    /// A non-negative integer in `min..=max`.
    Uint {
        min: u64,
        max: u64,
    },
    /// A signed integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A finite number in `[min, max]`, or `(min, max]` when `min_exclusive`.
    Float {
        min: f64,
        max: f64,
        min_exclusive: bool,
    },
    Bool,
    /// A short identifier: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    Name,
    /// Free text.
    Text,
    /// One of the given names.
    Enum(&'static [&'static str]),
}

/// One field of the schema.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    /// Dotted path from the top of the file, e.g. `core.input_axons`.
    pub path: &'static str,
    pub kind: Kind,
    /// The default as it would be written in YAML; `None` means the field is required.
    pub default: Option<&'static str>,
    /// SI unit or counting unit ("" when none applies).
    pub unit: &'static str,
    /// For fields of a [`Kind::Tagged`] section: the variant they belong to.
    pub when: Option<&'static str>,
    /// One-line meaning.
    pub doc: &'static str,
}

impl Field {
    /// The last path component: the key as written in the file.
    pub fn key(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }

    /// The parent path ("" for top-level fields).
    pub fn parent(&self) -> &'static str {
        match self.path.rfind('.') {
            Some(i) => &self.path[..i],
            None => "",
        }
    }

    pub fn is_section(&self) -> bool {
        matches!(self.kind, Kind::Section | Kind::Tagged { .. })
    }

    /// What the field accepts, in words ("an integer in 1..=4096", "one of a, b").
    pub fn expected(&self) -> String {
        match self.kind {
            Kind::Section | Kind::Tagged { .. } => {
                let keys: Vec<&str> = children(self.path).map(|f| f.key()).collect();
                format!("a mapping with keys {}", keys.join(", "))
            }
            Kind::Uint { min, max } => format!("an integer in {min}..={max}"),
            Kind::Int { min, max } => format!("an integer in {min}..={max}"),
            Kind::Float {
                min,
                max,
                min_exclusive,
            } => {
                let open = if min_exclusive { "(" } else { "[" };
                format!("a number in {open}{}, {}]", fmt_num(min), fmt_num(max))
            }
            Kind::Bool => "true or false".into(),
            Kind::Name => "a name of 1 to 64 letters, digits, `-`, `_` or `.`".into(),
            Kind::Text => "text".into(),
            Kind::Enum(names) => format!("one of {}", names.join(", ")),
        }
    }

    /// The type column of the reference table.
    fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Section => "section",
            Kind::Tagged { .. } => "tagged section",
            Kind::Uint { .. } => "integer",
            Kind::Int { .. } => "signed integer",
            Kind::Float { .. } => "number",
            Kind::Bool => "bool",
            Kind::Name => "name",
            Kind::Text => "text",
            Kind::Enum(_) => "enum",
        }
    }

    /// The range column of the reference table.
    fn range(&self) -> String {
        match self.kind {
            Kind::Section => String::new(),
            Kind::Tagged { tag, variants } => format!("`{tag}`: {}", code_list(variants)),
            Kind::Uint { min, max } => format!("{min}..={max}"),
            Kind::Int { min, max } => format!("{min}..={max}"),
            Kind::Float {
                min,
                max,
                min_exclusive,
            } => {
                let open = if min_exclusive { "(" } else { "[" };
                format!("{open}{}, {}]", fmt_num(min), fmt_num(max))
            }
            Kind::Bool => "`true`, `false`".into(),
            Kind::Name => "1-64 of `A-Za-z0-9-_.`".into(),
            Kind::Text => String::new(),
            Kind::Enum(names) => code_list(names),
        }
    }
}

fn code_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Numbers in messages and docs: plain for ordinary magnitudes, scientific otherwise.
pub(crate) fn fmt_num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

const OVERFLOW: &[&str] = &["wrap", "wrap_lava", "saturate", "saturate_symmetric"];
const BITS: Kind = Kind::Uint { min: 1, max: 32 };
const STATE_BITS: Kind = Kind::Uint { min: 2, max: 32 };
const SHIFT: Kind = Kind::Uint { min: 0, max: 31 };
const COUNT: Kind = Kind::Uint {
    min: 1,
    max: 1 << 20,
};
const CYCLES: Kind = Kind::Uint {
    min: 0,
    max: 1_000_000,
};
const JOULES: Kind = Kind::Float {
    min: 0.0,
    max: 1e-6,
    min_exclusive: false,
};

const fn req(path: &'static str, kind: Kind, unit: &'static str, doc: &'static str) -> Field {
    Field {
        path,
        kind,
        default: None,
        unit,
        when: None,
        doc,
    }
}

const fn opt(
    path: &'static str,
    kind: Kind,
    default: &'static str,
    unit: &'static str,
    doc: &'static str,
) -> Field {
    Field {
        path,
        kind,
        default: Some(default),
        unit,
        when: None,
        doc,
    }
}

const fn variant(
    path: &'static str,
    kind: Kind,
    when: &'static str,
    unit: &'static str,
    doc: &'static str,
) -> Field {
    Field {
        path,
        kind,
        default: None,
        unit,
        when: Some(when),
        doc,
    }
}

/// Every field of a target file, parents before children, in the order they are documented.
pub(crate) const FIELDS: &[Field] = &[
    req(
        "name",
        Kind::Name,
        "",
        "Short identifier of the target, used in reports (e.g. `loihi-like`).",
    ),
    opt(
        "description",
        Kind::Text,
        "\"\"",
        "",
        "Free text; its first line is shown by `lifchip targets list`.",
    ),
    req(
        "mesh",
        Kind::Section,
        "",
        "The 2-D mesh of identical cores and its network.",
    ),
    req("core", Kind::Section, "", "Capacity limits of one core."),
    req(
        "precision",
        Kind::Section,
        "",
        "Number formats of weights, state, threshold and bias.",
    ),
    req(
        "neuron",
        Kind::Section,
        "",
        "Integer dynamics of the current-based LIF compartment.",
    ),
    req(
        "timing",
        Kind::Section,
        "",
        "The cycle model: clock and cycles per event.",
    ),
    req(
        "energy",
        Kind::Section,
        "",
        "The energy model: joules per event plus static power.",
    ),
    // mesh
    req(
        "mesh.width",
        Kind::Uint { min: 1, max: 4096 },
        "cores",
        "Cores along x.",
    ),
    req(
        "mesh.height",
        Kind::Uint { min: 1, max: 4096 },
        "cores",
        "Cores along y.",
    ),
    opt(
        "mesh.link_packets_per_cycle",
        Kind::Uint { min: 1, max: 1024 },
        "1",
        "packets/cycle",
        "Packets one link carries per cycle, per direction.",
    ),
    opt(
        "mesh.fifo_depth",
        Kind::Uint {
            min: 1,
            max: 1 << 20,
        },
        "16",
        "packets",
        "Packets each router input queue holds; a full queue stalls the sender.",
    ),
    opt(
        "mesh.routing_table_entries",
        Kind::Uint {
            min: 0,
            max: 1 << 24,
        },
        "0",
        "entries",
        "Routing-table (multicast) entries per router; 0 means unlimited.",
    ),
    opt(
        "mesh.cores_per_tile",
        Kind::Uint { min: 1, max: 64 },
        "1",
        "cores",
        "Cores behind one router (a tile): cores `k * n .. (k + 1) * n - 1` along x of a row share router `k` (Loihi: 4).",
    ),
    // core
    req(
        "core.neurons",
        COUNT,
        "neurons",
        "Neurons (compartments) per core.",
    ),
    req(
        "core.input_axons",
        COUNT,
        "axons",
        "Distinct presynaptic sources per core: the fan-in budget.",
    ),
    req(
        "core.output_axons",
        COUNT,
        "cores",
        "Distinct destination cores one neuron may send to: the fan-out budget.",
    ),
    req(
        "core.synapse_memory_bits",
        Kind::Uint {
            min: 1,
            max: 1 << 40,
        },
        "bits",
        "Synapse memory per core.",
    ),
    req(
        "core.synapse_cost",
        Kind::Tagged {
            tag: "kind",
            variants: &["sparse", "crossbar"],
        },
        "",
        "How much synapse memory a core's synapses take.",
    ),
    req(
        "core.synapse_cost.kind",
        Kind::Enum(&["sparse", "crossbar"]),
        "",
        "`sparse`: a list (row) per input axon, `bits = synapses * (weight_bits + index_bits) + axons * axon_entry_bits` (rows may be dense, see `dense_rows`); `crossbar`: a full `input_axons x neurons` array of `weight_bits` cells.",
    ),
    variant(
        "core.synapse_cost.index_bits",
        Kind::Uint { min: 0, max: 32 },
        "sparse",
        "bits",
        "Bits naming the target neuron of one synapse; `2^index_bits >= core.neurons`.",
    ),
    variant(
        "core.synapse_cost.axon_entry_bits",
        Kind::Uint { min: 0, max: 64 },
        "sparse",
        "bits",
        "Bits of the per-axon entry (list pointer and length).",
    ),
    Field {
        path: "core.synapse_cost.dense_rows",
        kind: Kind::Bool,
        default: Some("false"),
        unit: "",
        when: Some("sparse"),
        doc: "A row may be stored dense instead: `index_bits` for its first compartment plus one `weight_bits` cell per compartment up to its last; each row takes the smaller of the two.",
    },
    opt(
        "core.fanin_split",
        Kind::Bool,
        "false",
        "",
        "A neuron whose fan-in exceeds `input_axons` may be split: partial-sum compartments on other cores each sum a share of its synapses and send the sum to the neuron's compartment in the same tick (a graded packet per nonzero sum).",
    ),
    opt(
        "core.shared_kernels",
        Kind::Bool,
        "false",
        "",
        "Convolution kernels may be stored once and shared (weight sharing).",
    ),
    opt(
        "core.readout_neurons",
        Kind::Uint {
            min: 0,
            max: 1 << 24,
        },
        "0",
        "neurons",
        "Readout neurons per core, counted apart from `neurons` (Xylo: 8); 0: the readout population shares `neurons`.",
    ),
    opt(
        "core.neuron_rows",
        Kind::Bool,
        "false",
        "",
        "Each neuron holds its own row of outgoing weights onto its core (Xylo: a hidden neuron's rows of the recurrent and readout matrices), so rows from the core's own neurons are not input axons: `input_axons` counts only the rows of the net's input channels (Xylo: 16). Needs a one-core mesh.",
    ),
    // precision
    req(
        "precision.weight_bits",
        Kind::Uint { min: 1, max: 16 },
        "bits",
        "Width of a stored weight (sign included for `signed`).",
    ),
    req(
        "precision.weight_encoding",
        Kind::Enum(&["signed", "loihi_sign_mode"]),
        "",
        "`signed`: two's complement; `loihi_sign_mode`: Lava's excitatory / inhibitory / mixed sign modes (mixed loses one bit).",
    ),
    req(
        "precision.weight_exponent",
        Kind::Section,
        "",
        "A shared exponent: the delivered weight is `w << e` (`e < 0`: arithmetic `>> -e`).",
    ),
    req(
        "precision.weight_exponent.scope",
        Kind::Enum(&["none", "layer", "core"]),
        "",
        "`none`: no exponent; `layer`: one per projection; `core`: one per projection per core.",
    ),
    opt(
        "precision.weight_exponent.min",
        Kind::Int { min: -16, max: 16 },
        "0",
        "bits",
        "Smallest exponent.",
    ),
    opt(
        "precision.weight_exponent.max",
        Kind::Int { min: -16, max: 16 },
        "0",
        "bits",
        "Largest exponent.",
    ),
    req(
        "precision.current_bits",
        STATE_BITS,
        "bits",
        "Width of the signed synaptic current `u` (Xylo's `I_syn`).",
    ),
    req(
        "precision.current_overflow",
        Kind::Enum(OVERFLOW),
        "",
        "What `u` does outside its range: `wrap` (two's complement), `wrap_lava` (one correction by `2^b`, `+2^(b-1)` kept), `saturate`, `saturate_symmetric` (clamp to `±(2^(b-1) - 1)`).",
    ),
    req(
        "precision.voltage_bits",
        STATE_BITS,
        "bits",
        "Width of the signed membrane voltage `v`.",
    ),
    req(
        "precision.voltage_overflow",
        Kind::Enum(OVERFLOW),
        "",
        "What `v` does outside its range (as `current_overflow`).",
    ),
    opt(
        "precision.input_shift",
        SHIFT,
        "0",
        "bits",
        "The summed synaptic input is shifted left by this before it enters `u` (Loihi: 6).",
    ),
    req(
        "precision.threshold_bits",
        BITS,
        "bits",
        "Width of the unsigned threshold mantissa.",
    ),
    opt(
        "precision.threshold_shift",
        SHIFT,
        "0",
        "bits",
        "The threshold compared with `v` is `mantissa << threshold_shift` (Loihi: 6).",
    ),
    req(
        "precision.bias_bits",
        Kind::Uint { min: 0, max: 32 },
        "bits",
        "Width of the signed bias mantissa; 0: the neurons have no bias (Xylo v1), a chip-unit net's biases must be 0 and soft-LIF nets do not map.",
    ),
    opt(
        "precision.bias_exp_max",
        SHIFT,
        "0",
        "bits",
        "Largest bias exponent: the bias is `mantissa << exp`, `0 <= exp <= bias_exp_max`.",
    ),
    opt(
        "precision.accumulator_bits",
        Kind::Uint { min: 0, max: 64 },
        "0",
        "bits",
        "Width of the per-tick synaptic accumulator; 0 means wide enough never to overflow.",
    ),
    // neuron
    req(
        "neuron.decay",
        Kind::Enum(&["multiplicative", "shift"]),
        "",
        "`multiplicative`: `x * (2^decay_bits - (d + offset)) >> decay_bits`, truncating the magnitude; `shift`: `x - (x >> d)`, arithmetic.",
    ),
    opt(
        "neuron.decay_bits",
        Kind::Uint { min: 1, max: 16 },
        "12",
        "bits",
        "Fixed-point bits of a multiplicative decay (Loihi: 12, so `du`, `dv` are in 0..=4095). Only for `decay: multiplicative`.",
    ),
    opt(
        "neuron.current_decay_offset",
        Kind::Uint { min: 0, max: 1 },
        "0",
        "",
        "Added to `du` in a multiplicative current decay (Lava: 1). Only for `decay: multiplicative`.",
    ),
    opt(
        "neuron.voltage_decay_offset",
        Kind::Uint { min: 0, max: 1 },
        "0",
        "",
        "Added to `dv` in a multiplicative voltage decay (Lava: 0). Only for `decay: multiplicative`.",
    ),
    opt(
        "neuron.shift_min_step",
        Kind::Bool,
        "false",
        "",
        "A shift decay moves a nonzero state by at least one LSB toward zero (Xylo). Only for `decay: shift`.",
    ),
    req(
        "neuron.order",
        Kind::Enum(&["decay_then_input", "input_then_decay"]),
        "",
        "`decay_then_input`: decay `u`, then add this tick's input (Loihi); `input_then_decay`: add, then decay (Xylo).",
    ),
    req(
        "neuron.accumulate",
        Kind::Enum(&["sum_then_add", "per_event_saturating"]),
        "",
        "`sum_then_add`: sum the tick's weights, add once (Loihi); `per_event_saturating`: add each weight, saturating after each (Xylo).",
    ),
    req(
        "neuron.reset",
        Kind::Enum(&["zero", "subtract"]),
        "",
        "After a spike `v` is set to 0 (`zero`) or lowered by the threshold (`subtract`).",
    ),
    req(
        "neuron.spike_test",
        Kind::Enum(&["greater", "greater_equal"]),
        "",
        "`greater`: spike when `v > threshold` (Loihi); `greater_equal`: when `v >= threshold` (Xylo).",
    ),
    opt(
        "neuron.max_spikes_per_tick",
        Kind::Uint { min: 1, max: 255 },
        "1",
        "spikes",
        "Spikes one neuron may emit in a tick (subtractive reset repeated; Xylo: 31).",
    ),
    opt(
        "neuron.readout_max_spikes_per_tick",
        Kind::Uint { min: 1, max: 255 },
        "1",
        "spikes",
        "The same for the readout (last) population (Xylo: 1).",
    ),
    opt(
        "neuron.refractory_max",
        Kind::Uint { min: 0, max: 1024 },
        "0",
        "ticks",
        "Longest refractory period a neuron may be given; 0: no refractory support.",
    ),
    opt(
        "neuron.synaptic_delay",
        Kind::Uint { min: 1, max: 64 },
        "1",
        "ticks",
        "Ticks between a spike and its effect on the target's current (Loihi, Xylo: 1).",
    ),
    opt(
        "neuron.input_delay",
        Kind::Uint { min: 0, max: 64 },
        "1",
        "ticks",
        "Ticks between an external input spike and its effect (Loihi: 1, Xylo: 0).",
    ),
    opt(
        "neuron.synaptic_currents",
        Kind::Uint { min: 1, max: 2 },
        "1",
        "",
        "Synaptic currents per compartment (Xylo: 2, `I_syn` and `I_syn2`); a projection feeds one, each has its own decay, `v` integrates their sum. 2 needs `accumulate: per_event_saturating`. Readout neurons counted apart (`core.readout_neurons > 0`, Xylo's) have one.",
    ),
    opt(
        "neuron.voltage_update",
        Kind::Enum(&["direct", "saturated_delta"]),
        "direct",
        "",
        "`direct`: `v = ovf(decay(v) + u + bias)`; `saturated_delta` (Xylo v2): `dv = ovf(u - (v - decay(v)))`, `dv = ovf(dv + bias)`, `v = ovf(v + dv)`.",
    ),
    // timing
    req(
        "timing.clock_hz",
        Kind::Float {
            min: 0.0,
            max: 1e12,
            min_exclusive: true,
        },
        "Hz",
        "Core clock; converts cycles to seconds.",
    ),
    req(
        "timing.cycles_per_packet_in",
        CYCLES,
        "cycles",
        "Cycles to receive one spike packet at a core (axon lookup).",
    ),
    req(
        "timing.cycles_per_synop",
        CYCLES,
        "cycles",
        "Cycles per synaptic operation (one weight added): sparse rows, and every row the finer prices leave at 0.",
    ),
    req(
        "timing.cycles_per_neuron",
        CYCLES,
        "cycles",
        "Cycles per neuron (compartment) visit, every compartment every tick.",
    ),
    req(
        "timing.cycles_per_packet_out",
        CYCLES,
        "cycles",
        "Cycles to inject one spike packet into the network.",
    ),
    req(
        "timing.cycles_per_hop",
        CYCLES,
        "cycles",
        "Router latency per hop over an x link (and a y link unless `cycles_per_hop_y` is set).",
    ),
    req(
        "timing.barrier_cycles",
        Kind::Uint {
            min: 0,
            max: 1_000_000_000,
        },
        "cycles",
        "Cycles of the end-of-tick barrier (with one tile in use).",
    ),
    opt(
        "timing.cycles_per_dense_synop",
        CYCLES,
        "0",
        "cycles",
        "Cycles per synaptic operation of a dense row; 0: `cycles_per_synop` (which then prices sparse rows).",
    ),
    opt(
        "timing.cycles_per_shared_synop",
        CYCLES,
        "0",
        "cycles",
        "Cycles per synaptic operation of a shared (convolution kernel) row; 0: the row's dense or sparse figure.",
    ),
    opt(
        "timing.cycles_per_active_neuron",
        CYCLES,
        "0",
        "cycles",
        "Extra cycles to update an active neuron (input, nonzero `u`, `v` or bias this tick), on top of `cycles_per_neuron`.",
    ),
    opt(
        "timing.cycles_per_spike",
        CYCLES,
        "0",
        "cycles",
        "Cycles per neuron that spikes in a tick, with or without fan-out.",
    ),
    opt(
        "timing.cycles_per_message",
        CYCLES,
        "0",
        "cycles",
        "Cycles per message: one per destination core of a spike packet, and of an input packet (sent by the host, in parallel with the cores).",
    ),
    opt(
        "timing.cycles_per_hop_y",
        CYCLES,
        "0",
        "cycles",
        "Router latency per hop over a y link; 0: `cycles_per_hop`.",
    ),
    opt(
        "timing.pipelined",
        Kind::Bool,
        "false",
        "",
        "A core's synapse stage and neuron stage overlap: its tick costs the larger of the two, not their sum.",
    ),
    opt(
        "timing.barrier_cycles_per_tile_doubling",
        Kind::Uint {
            min: 0,
            max: 1_000_000_000,
        },
        "0",
        "cycles",
        "Barrier cycles added per doubling of the tiles in use: `barrier_cycles + min(floor(log2(tiles)), barrier_tile_doublings_max) * this`.",
    ),
    opt(
        "timing.barrier_tile_doublings_max",
        Kind::Uint { min: 0, max: 32 },
        "32",
        "",
        "At most this many tile doublings are charged to the barrier.",
    ),
    // energy
    req(
        "energy.synop_joules",
        JOULES,
        "J",
        "Energy of one synaptic operation: sparse rows, and every row the finer prices leave at 0.",
    ),
    req(
        "energy.neuron_update_joules",
        JOULES,
        "J",
        "Energy of one neuron (compartment) visit, every compartment every tick.",
    ),
    req(
        "energy.spike_out_joules",
        JOULES,
        "J",
        "Energy to send one spike packet.",
    ),
    req(
        "energy.hop_joules",
        JOULES,
        "J",
        "Energy of one packet crossing one x link (and a y link unless `hop_y_joules` is set).",
    ),
    req(
        "energy.static_watts_per_core",
        Kind::Float {
            min: 0.0,
            max: 10.0,
            min_exclusive: false,
        },
        "W",
        "Static power of one powered core.",
    ),
    opt(
        "energy.dense_synop_joules",
        JOULES,
        "0.0",
        "J",
        "Energy of one synaptic operation of a dense row; 0: `synop_joules` (which then prices sparse rows).",
    ),
    opt(
        "energy.shared_synop_joules",
        JOULES,
        "0.0",
        "J",
        "Energy of one synaptic operation of a shared (convolution kernel) row; 0: the row's dense or sparse figure.",
    ),
    opt(
        "energy.active_neuron_joules",
        JOULES,
        "0.0",
        "J",
        "Extra energy to update an active neuron (input, nonzero `u`, `v` or bias this tick), on top of `neuron_update_joules`.",
    ),
    opt(
        "energy.spike_joules",
        JOULES,
        "0.0",
        "J",
        "Energy per neuron that spikes in a tick, with or without fan-out.",
    ),
    opt(
        "energy.message_joules",
        JOULES,
        "0.0",
        "J",
        "Energy per message: one per destination core of a spike packet or of an input packet.",
    ),
    opt(
        "energy.hop_y_joules",
        JOULES,
        "0.0",
        "J",
        "Energy of one packet crossing one y link; 0: `hop_joules`.",
    ),
];

/// The entry for `path`, if the schema has one.
pub(crate) fn field(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

/// The direct children of the section at `path` ("" for the top level), all variants.
pub(crate) fn children(path: &str) -> impl Iterator<Item = &'static Field> + '_ {
    FIELDS.iter().filter(move |f| f.parent() == path)
}

/// Render the reference: one table per section, then the cross-field rules.
pub fn schema_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "Generated from the schema table in `crates/target-spec/src/table.rs`; do not edit by hand \
         (run `LIFCHIP_BLESS=1 cargo test -p lifchip-target` after changing the table).\n\n\
         A field without a default is required. Integers are written plain (`4096`, `0x1000`); \
         numbers may use exponents (`23.6e-12`). Quoted values are strings, so `\"12\"` is not \
         an integer.\n",
    );
    // Sections depth-first: each section's table is followed by its sub-sections' tables.
    let mut sections = Vec::new();
    let mut todo = vec![""];
    while let Some(section) = todo.pop() {
        sections.push(section);
        let subs: Vec<&str> = children(section)
            .filter(|f| f.is_section())
            .map(|f| f.path)
            .collect();
        todo.extend(subs.into_iter().rev());
    }
    for section in sections {
        let title = if section.is_empty() {
            "Top level".to_string()
        } else {
            format!("`{section}`")
        };
        let _ = write!(out, "\n### {title}\n\n");
        if let Some(f) = field(section) {
            let _ = writeln!(out, "{}\n", f.doc);
        }
        out.push_str("| Field | Type | Unit | Default | Range / values | Meaning |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for f in children(section) {
            let default = match (f.default, f.when) {
                (Some(d), _) => format!("`{d}`"),
                (None, Some(v)) => format!("required if `{v}`"),
                (None, None) => "required".into(),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                f.path,
                f.type_name(),
                f.unit,
                default,
                f.range(),
                f.doc.replace('|', "\\|")
            );
        }
    }
    out.push_str("\n### Cross-field rules\n\nChecked on the fields that passed their own type and range checks; a violation is reported at one of the fields involved, with what would fit.\n\n");
    for rule in crate::rules::RULES {
        let _ = writeln!(out, "- {}", rule.doc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::parse_scalar;
    use std::collections::BTreeMap;

    fn leaf_paths_of(value: &serde_yaml::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_yaml::Value::Mapping(m) = value {
            for (k, v) in m {
                let key = k.as_str().unwrap_or_default();
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                if v.is_mapping() {
                    out.push(path.clone());
                    leaf_paths_of(v, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }

    fn serde_paths(target: &crate::Target) -> Vec<String> {
        let value = serde_yaml::to_value(target).expect("serializable");
        let mut out = Vec::new();
        leaf_paths_of(&value, "", &mut out);
        out.sort();
        out
    }

    #[test]
    fn table_and_serde_struct_agree() {
        for name in crate::builtin_names() {
            let target = crate::builtin(name).expect("builtin checks");
            let variant = match target.core.synapse_cost {
                crate::SynapseCost::Sparse { .. } => "sparse",
                crate::SynapseCost::Crossbar => "crossbar",
            };
            let mut table: Vec<String> = FIELDS
                .iter()
                .filter(|f| f.when.is_none_or(|w| w == variant))
                .map(|f| f.path.to_string())
                .collect();
            table.sort();
            assert_eq!(serde_paths(&target), table, "target {name}");
        }
    }

    #[test]
    fn every_variant_field_is_covered_by_some_builtin() {
        let mut seen = std::collections::BTreeSet::new();
        for name in crate::builtin_names() {
            let target = crate::builtin(name).expect("builtin checks");
            seen.extend(serde_paths(&target));
        }
        for f in FIELDS {
            assert!(seen.contains(f.path), "{} is in no built-in target", f.path);
        }
    }

    #[test]
    fn defaults_parse_in_their_kind_and_match_serde_defaults() {
        // A target that writes only the required fields: serde fills the defaults, and they
        // must equal the table's.
        let minimal = "name: m\nmesh: {width: 1, height: 1}\n\
            core: {neurons: 4, input_axons: 4, output_axons: 1, synapse_memory_bits: 128, synapse_cost: {kind: crossbar}}\n\
            precision: {weight_bits: 8, weight_encoding: signed, weight_exponent: {scope: none}, current_bits: 16,\
             current_overflow: saturate, voltage_bits: 16, voltage_overflow: saturate, threshold_bits: 8, bias_bits: 8}\n\
            neuron: {decay: multiplicative, order: decay_then_input, accumulate: sum_then_add, reset: zero, spike_test: greater}\n\
            timing: {clock_hz: 1e6, cycles_per_packet_in: 1, cycles_per_synop: 1, cycles_per_neuron: 1, cycles_per_packet_out: 1, cycles_per_hop: 1, barrier_cycles: 1}\n\
            energy: {synop_joules: 0, neuron_update_joules: 0, spike_out_joules: 0, hop_joules: 0, static_watts_per_core: 0}\n";
        let target: crate::Target =
            serde_yaml::from_str(minimal).expect("minimal target deserializes");
        let value = serde_yaml::to_value(&target).expect("serializable");
        let mut leaves = BTreeMap::new();
        let mut stack = vec![(String::new(), value)];
        while let Some((prefix, v)) = stack.pop() {
            if let serde_yaml::Value::Mapping(m) = v {
                for (k, v) in m {
                    let key = k.as_str().unwrap_or_default().to_string();
                    let path = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    stack.push((path, v));
                }
            } else {
                leaves.insert(prefix, v);
            }
        }
        for f in FIELDS {
            let Some(default) = f.default else { continue };
            // The minimal target is a crossbar: other variants' fields are not serialized.
            if f.when.is_some_and(|w| w != "crossbar") {
                continue;
            }
            let (text, plain) = match default.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
                Some(inner) => (inner, false),
                None => (default, true),
            };
            let parsed = parse_scalar(&f.kind, text, plain)
                .unwrap_or_else(|e| panic!("default of {}: {e:?}", f.path));
            let serde_value = leaves
                .get(f.path)
                .unwrap_or_else(|| panic!("{} not serialized", f.path));
            let expected: serde_yaml::Value =
                serde_yaml::from_str(default).expect("default is YAML");
            assert_eq!(
                serde_value, &expected,
                "serde default of {} differs from the table",
                f.path
            );
            let _ = parsed;
        }
    }

    #[test]
    fn paths_are_unique_and_parents_come_first() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FIELDS {
            assert!(seen.insert(f.path), "duplicate {}", f.path);
            let parent = f.parent();
            assert!(
                parent.is_empty() || field(parent).is_some_and(|p| p.is_section()),
                "{}: parent {parent} is not a section",
                f.path
            );
            assert!(
                parent.is_empty() || seen.contains(parent),
                "{} before its parent",
                f.path
            );
        }
    }

    #[test]
    fn markdown_lists_every_field_and_rule() {
        let md = schema_markdown();
        for f in FIELDS {
            assert!(md.contains(&format!("`{}`", f.path)), "{} missing", f.path);
        }
        for r in crate::rules::RULES {
            assert!(md.contains(r.doc));
        }
    }
}
