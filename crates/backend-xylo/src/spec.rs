//! [`ChipConfig`] → [`XyloSpec`]: the arguments of Rockpool's Xylo `config_from_specification`.
//!
//! Xylo has one synchronous core: up to 16 input channels, 1000 hidden neurons (each with two
//! synaptic currents) and 8 readout neurons. Input channels reach hidden neurons
//! (`weights_in`), hidden neurons reach hidden neurons (`weights_rec`) and readout neurons
//! (`weights_out`); each matrix has one left shift. The readout population of the
//! configuration becomes the readout neurons, every other compartment a hidden neuron.
//!
//! The hidden neurons are numbered in the order of their first input axon, so that Xylo's
//! delivery order (inputs by channel, then the previous tick's hidden spikes by neuron index)
//! is the emulator's (ascending axon index): with per-event saturating accumulation, that
//! order decides the saturated current.

use std::collections::BTreeMap;

use lifchip_chip::ChipConfig;
use lifchip_target::{
    Accumulate, DecayKind, Overflow, Reset, SpikeTest, Target, UpdateOrder, VoltageUpdate,
    WeightEncoding,
};

use crate::error::{Problem, Problems, XyloError};

/// Input channels of a Xylo core.
pub const MAX_INPUTS: usize = 16;
/// Hidden (reservoir) neurons of a Xylo core.
pub const MAX_HIDDEN: usize = 1000;
/// Readout neurons of a Xylo core.
pub const MAX_READOUT: usize = 8;
/// Input events per channel per tick (xylosim's `MAX_NUM_INP_SPIKES`; more are dropped).
pub const MAX_INPUT_EVENTS: usize = 15;
/// Spikes a hidden neuron may emit per tick (xylosim's `MAX_NUM_SPIKES`).
pub const HIDDEN_MAX_SPIKES: u32 = 31;
/// Spikes a readout neuron may emit per tick.
pub const READOUT_MAX_SPIKES: u32 = 1;
/// Largest bit-shift decay (`dash_*`, 4-bit registers).
pub const MAX_DASH: u32 = 15;
/// Largest weight shift (`weight_shift_*`, 3-bit registers).
pub const MAX_WEIGHT_SHIFT: i32 = 7;

/// The Xylo generation a specification is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Xylo v1, SYNS61300 (`xylosim.v1`): no bias.
    V1,
    /// Xylo Audio 2 / Xylo IMU (SYNS61201, SYNS63300; `xylosim.v2`): per-neuron bias, added to
    /// the saturated membrane increment.
    V2,
}

impl Generation {
    pub fn name(self) -> &'static str {
        match self {
            Generation::V1 => "v1",
            Generation::V2 => "v2",
        }
    }

    /// The SynSense part numbers of this generation.
    pub fn chips(self) -> &'static [&'static str] {
        match self {
            Generation::V1 => &["SYNS61300"],
            Generation::V2 => &["SYNS61201", "SYNS63300"],
        }
    }
}

/// Where a Xylo neuron came from in the chip configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Population name.
    pub population: String,
    /// Population index in the configuration.
    pub population_index: u32,
    /// Neuron index within the population.
    pub neuron: u32,
    /// Compartment on core 0.
    pub compartment: u32,
    /// For an alias neuron (a hidden neuron that only carries another neuron's extra outgoing
    /// weights, see [`XyloSpec::aliases`]): the Xylo index of the hidden neuron whose spikes
    /// it copies (population, neuron and compartment are that neuron's).
    pub alias_of: Option<u32>,
}

/// A Xylo network specification: exactly the arguments of Rockpool's
/// `config_from_specification` (v2 adds `bias_hidden`, `bias_out`), plus where each neuron
/// came from. Matrices are row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct XyloSpec {
    pub generation: Generation,
    pub net_name: String,
    pub net_hash: u64,
    pub inputs: usize,
    pub hidden: Vec<Origin>,
    pub readout: Vec<Origin>,
    pub readout_population: String,
    /// `(inputs, hidden, 2)`: weights onto synapse 1 and synapse 2 of each hidden neuron.
    pub weights_in: Vec<i8>,
    /// `(hidden, hidden, 2)`.
    pub weights_rec: Vec<i8>,
    /// `(hidden, readout)`.
    pub weights_out: Vec<i8>,
    pub weight_shift_in: u8,
    pub weight_shift_rec: u8,
    pub weight_shift_out: u8,
    pub dash_mem: Vec<u8>,
    pub dash_syn: Vec<u8>,
    pub dash_syn_2: Vec<u8>,
    pub dash_mem_out: Vec<u8>,
    pub dash_syn_out: Vec<u8>,
    pub threshold: Vec<i16>,
    pub threshold_out: Vec<i16>,
    /// Per hidden neuron (all 0 on v1).
    pub bias: Vec<i16>,
    pub bias_out: Vec<i16>,
    /// For each hidden neuron, the hidden neurons its spikes are copied to (Xylo's aliases).
    pub aliases: Vec<Vec<u16>>,
    /// Simulation time step in seconds (Rockpool's `dt`; the chip itself is clocked per tick).
    pub dt: f64,
}

/// Options of the conversion.
#[derive(Clone, Debug)]
pub struct XyloOptions {
    /// Rockpool's `dt`, seconds per tick.
    pub dt: f64,
}

impl Default for XyloOptions {
    fn default() -> Self {
        XyloOptions { dt: 1e-3 }
    }
}

/// Problems collected while converting.
struct Collect(Vec<Problem>);

impl Collect {
    fn add(
        &mut self,
        place: impl Into<String>,
        field: impl Into<String>,
        found: impl Into<String>,
        allowed: impl Into<String>,
    ) {
        self.0.push(Problem {
            place: place.into(),
            field: field.into(),
            found: found.into(),
            allowed: allowed.into(),
        });
    }
}

/// The generation whose semantics `target` has, or the problems that keep it from any.
fn check_target(target: &Target, out: &mut Collect) -> Generation {
    let t = "target";
    let p = &target.precision;
    let n = &target.neuron;
    if p.weight_encoding != WeightEncoding::Signed || p.weight_bits > 8 {
        out.add(
            t,
            "precision.weight_bits / weight_encoding",
            format!("{} bits, {:?}", p.weight_bits, p.weight_encoding),
            "signed weights of at most 8 bits",
        );
    }
    if p.current_bits != 16 || p.current_overflow != Overflow::Saturate {
        out.add(
            t,
            "precision.current_bits / current_overflow",
            format!("{} bits, {:?}", p.current_bits, p.current_overflow),
            "16 bits, saturate",
        );
    }
    if p.voltage_bits != 16 || p.voltage_overflow != Overflow::Saturate {
        out.add(
            t,
            "precision.voltage_bits / voltage_overflow",
            format!("{} bits, {:?}", p.voltage_bits, p.voltage_overflow),
            "16 bits, saturate",
        );
    }
    for (field, value) in [
        ("precision.input_shift", p.input_shift),
        ("precision.threshold_shift", p.threshold_shift),
    ] {
        if value != 0 {
            out.add(t, field, value.to_string(), "0");
        }
    }
    if p.accumulator_bits != 0 {
        out.add(
            t,
            "precision.accumulator_bits",
            p.accumulator_bits.to_string(),
            "0 (each event goes straight into I_syn)",
        );
    }
    if n.decay != DecayKind::Shift || !n.shift_min_step {
        out.add(
            t,
            "neuron.decay / shift_min_step",
            format!("{:?}, {}", n.decay, n.shift_min_step),
            "shift decay with a minimum step of one LSB",
        );
    }
    let checks: [(&str, bool, String, &str); 6] = [
        (
            "neuron.order",
            n.order == UpdateOrder::InputThenDecay,
            format!("{:?}", n.order),
            "input_then_decay",
        ),
        (
            "neuron.accumulate",
            n.accumulate == Accumulate::PerEventSaturating,
            format!("{:?}", n.accumulate),
            "per_event_saturating",
        ),
        (
            "neuron.reset",
            n.reset == Reset::Subtract,
            format!("{:?}", n.reset),
            "subtract",
        ),
        (
            "neuron.spike_test",
            n.spike_test == SpikeTest::GreaterEqual,
            format!("{:?}", n.spike_test),
            "greater_equal",
        ),
        (
            "neuron.synaptic_delay",
            n.synaptic_delay == 1,
            n.synaptic_delay.to_string(),
            "1",
        ),
        (
            "neuron.input_delay",
            n.input_delay == 0,
            n.input_delay.to_string(),
            "0",
        ),
    ];
    for (field, ok, found, allowed) in checks {
        if !ok {
            out.add(t, field, found, allowed);
        }
    }
    match n.voltage_update {
        VoltageUpdate::Direct => Generation::V1,
        VoltageUpdate::SaturatedDelta => Generation::V2,
    }
}

/// Converts `config` into a Xylo specification, or lists every reason it cannot be.
pub fn to_xylo(config: &ChipConfig, options: &XyloOptions) -> Result<XyloSpec, XyloError> {
    let mut out = Collect(Vec::new());
    let generation = check_target(&config.target, &mut out);
    if !(options.dt.is_finite() && options.dt > 0.0) {
        out.add(
            "options",
            "dt",
            options.dt.to_string(),
            "a positive time step",
        );
    }
    if config.cores.len() != 1 {
        out.add(
            "configuration",
            "cores",
            config.cores.len().to_string(),
            "exactly 1 core",
        );
    }
    let Some(core) = config.cores.first() else {
        return Err(XyloError::Unsupported {
            problems: Problems(out.0),
        });
    };
    let pop_name = |p: u32| {
        config
            .populations
            .get(p as usize)
            .map_or("?", |p| p.name.as_str())
    };
    let comp_place = |k: usize| {
        let c = &core.compartments[k];
        format!(
            "core 0 compartment {k} (population {}, neuron {})",
            pop_name(c.population),
            c.neuron
        )
    };
    let inputs = config.inputs.len();
    if inputs > MAX_INPUTS {
        out.add(
            "configuration",
            "input channels",
            inputs.to_string(),
            format!("at most {MAX_INPUTS}"),
        );
    }

    // Who feeds each axon: an input channel or a compartment.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Source {
        Input(u32),
        Neuron(u32),
    }
    let mut source_of: Vec<Vec<Source>> = vec![Vec::new(); core.axons.len()];
    for (ch, dests) in config.inputs.iter().enumerate() {
        for d in dests {
            if let Some(s) = source_of.get_mut(d.axon as usize) {
                s.push(Source::Input(ch as u32));
            }
        }
    }
    for (k, c) in core.compartments.iter().enumerate() {
        for d in &c.destinations {
            if let Some(s) = source_of.get_mut(d.axon as usize) {
                s.push(Source::Neuron(k as u32));
            }
        }
    }

    // Readout neurons: the readout population, in neuron order.
    let readout_pop = config.readout;
    let mut readout: Vec<(u32, usize)> = core
        .compartments
        .iter()
        .enumerate()
        .filter(|(_, c)| c.population == readout_pop)
        .map(|(k, c)| (c.neuron, k))
        .collect();
    readout.sort_unstable();
    let readout_comps: Vec<usize> = readout.iter().map(|&(_, k)| k).collect();
    if readout_comps.len() > MAX_READOUT {
        out.add(
            format!("population {}", pop_name(readout_pop)),
            "readout neurons",
            readout_comps.len().to_string(),
            format!("at most {MAX_READOUT}"),
        );
    }

    // Outgoing rows. Xylo holds one row of weights per hidden neuron (one weight per target
    // and synaptic current); a neuron's axons go into its row in order until one would write a
    // (target, current) pair the row already holds, and then into the row of a new *alias
    // neuron*, which copies the neuron's spikes (Xylo's aliases) and is delivered right after
    // it. `units[u] = (source compartment, first axon)`; unit 0 of a compartment is itself.
    let is_readout = |k: usize| core.compartments[k].population == readout_pop;
    let mut units: Vec<(usize, usize)> = Vec::new();
    let mut unit_of_axon: Vec<Option<usize>> = vec![None; core.axons.len()];
    let mut last_unit: BTreeMap<usize, (usize, std::collections::BTreeSet<(u32, u8)>)> =
        BTreeMap::new();
    for (a, sources) in source_of.iter().enumerate() {
        let (&[Source::Neuron(k)], Some(axon)) = (sources.as_slice(), core.axons.get(a)) else {
            continue;
        };
        let k = k as usize;
        if is_readout(k) || axon.synapses.is_empty() {
            continue;
        }
        let pairs: Vec<(u32, u8)> = axon
            .synapses
            .iter()
            .map(|s| (s.compartment, axon.current))
            .collect();
        let fits =
            |held: &std::collections::BTreeSet<(u32, u8)>| pairs.iter().all(|p| !held.contains(p));
        match last_unit.get_mut(&k) {
            Some((u, held)) if fits(held) => {
                held.extend(pairs.iter().copied());
                unit_of_axon[a] = Some(*u);
            }
            _ => {
                units.push((k, a));
                let u = units.len() - 1;
                unit_of_axon[a] = Some(u);
                last_unit.insert(k, (u, pairs.iter().copied().collect()));
            }
        }
    }
    // Hidden neurons: every other compartment, and the alias neurons, numbered by first axon
    // (see the module docs); a neuron without outgoing rows goes last.
    let mut first_unit: BTreeMap<usize, usize> = BTreeMap::new();
    for (u, &(k, _)) in units.iter().enumerate() {
        first_unit.entry(k).or_insert(u);
    }
    // (position, compartment, unit or None for a neuron without rows)
    let mut order: Vec<(usize, usize, Option<usize>)> = (0..core.compartments.len())
        .filter(|&k| !is_readout(k) && !first_unit.contains_key(&k))
        .map(|k| (usize::MAX, k, None))
        .collect();
    order.extend(units.iter().enumerate().map(|(u, &(k, a))| (a, k, Some(u))));
    order.sort_unstable();
    let n_h = order.len();
    if n_h > MAX_HIDDEN {
        out.add(
            "core 0",
            "hidden neurons (compartments outside the readout population, and alias neurons)",
            n_h.to_string(),
            format!("at most {MAX_HIDDEN}"),
        );
    }
    let n_o = readout_comps.len();
    // Unit -> Xylo index; compartment -> (is readout, Xylo index of the neuron itself).
    let mut unit_index = vec![0usize; units.len()];
    let mut slot: Vec<(bool, usize)> = vec![(false, 0); core.compartments.len()];
    let mut hidden_comps = Vec::with_capacity(n_h);
    // Xylo index of each alias neuron's source (the previous unit of the same compartment).
    let mut alias_src: Vec<Option<usize>> = Vec::with_capacity(n_h);
    for (i, &(_, k, u)) in order.iter().enumerate() {
        if let Some(u) = u {
            unit_index[u] = i;
        }
        hidden_comps.push(k);
        alias_src.push(None);
        if u.is_none() || first_unit.get(&k) == u.as_ref() {
            slot[k] = (false, i);
        }
    }
    let mut aliases: Vec<Vec<u16>> = vec![Vec::new(); n_h];
    let mut prev_unit: BTreeMap<usize, usize> = BTreeMap::new();
    for (u, &(k, _)) in units.iter().enumerate() {
        if let Some(p) = prev_unit.insert(k, u) {
            // The previous row's neuron passes its spikes on (a chain for three or more).
            aliases[unit_index[p]].push(unit_index[u] as u16);
            alias_src[unit_index[u]] = Some(unit_index[p]);
        }
    }
    for (o, &k) in readout_comps.iter().enumerate() {
        slot[k] = (true, o);
    }

    // Per-compartment registers.
    let max_threshold = i16::MAX as u32;
    let mut dash_mem = vec![0u8; n_h];
    let mut dash_syn = vec![0u8; n_h];
    let mut dash_syn_2 = vec![0u8; n_h];
    // Alias neurons get no input and no bias: V stays 0, below this threshold.
    let mut threshold = vec![i16::MAX; n_h];
    let mut bias = vec![0i16; n_h];
    let mut dash_mem_out = vec![0u8; n_o];
    let mut dash_syn_out = vec![0u8; n_o];
    let mut threshold_out = vec![0i16; n_o];
    let mut bias_out = vec![0i16; n_o];
    for (k, c) in core.compartments.iter().enumerate() {
        let place = comp_place(k);
        let (is_out, i) = slot[k];
        if c.partial_of.is_some() {
            out.add(
                &place,
                "partial_of",
                "a partial-sum compartment",
                "whole neurons only (no fan-in splitting)",
            );
        }
        for (field, v) in [
            ("current_decay (dash_syn)", c.current_decay),
            ("current_decay_2 (dash_syn_2)", c.current_decay_2),
            ("voltage_decay (dash_mem)", c.voltage_decay),
        ] {
            if v > MAX_DASH {
                out.add(&place, field, v.to_string(), format!("0..={MAX_DASH}"));
            }
        }
        if c.threshold > max_threshold {
            out.add(
                &place,
                "threshold",
                c.threshold.to_string(),
                format!("0..={max_threshold} (a signed 16-bit register)"),
            );
        }
        if c.refractory != 0 {
            out.add(
                &place,
                "refractory",
                c.refractory.to_string(),
                "0 (no refractory period)",
            );
        }
        let want_spikes = if is_out {
            READOUT_MAX_SPIKES
        } else {
            HIDDEN_MAX_SPIKES
        };
        if c.max_spikes != want_spikes {
            out.add(
                &place,
                "max_spikes",
                c.max_spikes.to_string(),
                format!(
                    "{want_spikes} for a {} neuron",
                    if is_out { "readout" } else { "hidden" }
                ),
            );
        }
        let full_bias = i64::from(c.bias) << c.bias_exp.min(32);
        match generation {
            Generation::V1 if full_bias != 0 => out.add(
                &place,
                "bias",
                full_bias.to_string(),
                "0 (Xylo v1, SYNS61300, has no bias)",
            ),
            _ if i16::try_from(full_bias).is_err() => out.add(
                &place,
                "bias << bias_exp",
                full_bias.to_string(),
                "-32768..=32767",
            ),
            _ => {}
        }
        if is_out && !c.destinations.is_empty() {
            out.add(
                &place,
                "destinations",
                format!("{} destinations", c.destinations.len()),
                "none: readout spikes leave the chip",
            );
        }
        let clamp8 = |v: u32| v.min(255) as u8;
        let th = c.threshold.min(max_threshold) as i16;
        let b = i16::try_from(full_bias).unwrap_or(0);
        if is_out {
            dash_mem_out[i] = clamp8(c.voltage_decay);
            dash_syn_out[i] = clamp8(c.current_decay);
            threshold_out[i] = th;
            bias_out[i] = b;
        } else if i < n_h {
            dash_mem[i] = clamp8(c.voltage_decay);
            dash_syn[i] = clamp8(c.current_decay);
            dash_syn_2[i] = clamp8(c.current_decay_2);
            threshold[i] = th;
            bias[i] = b;
        }
    }

    // Synapses.
    let mut weights_in = vec![0i8; inputs * n_h * 2];
    let mut weights_rec = vec![0i8; n_h * n_h * 2];
    let mut weights_out = vec![0i8; n_h * n_o];
    // (matrix, pre, post) already written: Xylo holds one weight per pair.
    let mut seen = std::collections::BTreeSet::new();
    let mut shifts: [BTreeMap<i32, usize>; 3] = Default::default();
    let mut order_ok = true;
    let mut last_source: Option<(usize, usize)> = None;
    for (a, axon) in core.axons.iter().enumerate() {
        let place = format!("core 0 axon {a}");
        let sources = &source_of[a];
        if axon.synapses.is_empty() {
            continue;
        }
        let source = match sources.as_slice() {
            [s] => *s,
            [] => {
                out.add(
                    &place,
                    "sources",
                    "no source",
                    "one input channel or neuron",
                );
                continue;
            }
            many => {
                out.add(
                    &place,
                    "sources",
                    format!("{} sources", many.len()),
                    "one source per synapse row",
                );
                continue;
            }
        };
        // Axons must come grouped by source, inputs first (by channel), then neurons (their
        // rows) in the hidden order, or the emulator's delivery order would differ from Xylo's.
        let rank = match source {
            Source::Input(c) => (0usize, c as usize),
            Source::Neuron(k) => (
                1,
                unit_of_axon[a].map_or(slot[k as usize].1, |u| unit_index[u]),
            ),
        };
        if last_source.is_some_and(|prev| rank < prev) {
            order_ok = false;
        }
        last_source = Some(rank);
        // Synapse 1 (I_syn) or 2 (I_syn2) of the target neurons.
        let cur = usize::from(axon.current.clamp(1, 2) - 1);
        let exp = core
            .group_exponents
            .get(usize::from(axon.group))
            .copied()
            .unwrap_or(0);
        for (s, syn) in axon.synapses.iter().enumerate() {
            let field = format!("synapses[{s}]");
            let Some(&(post_out, post)) = slot.get(syn.compartment as usize) else {
                continue;
            };
            let w = match i8::try_from(syn.weight) {
                Ok(w) => w,
                Err(_) => {
                    out.add(
                        &place,
                        &field,
                        format!("weight {}", syn.weight),
                        "-128..=127",
                    );
                    continue;
                }
            };
            let (matrix, pre) = match source {
                Source::Input(ch) => {
                    if post_out {
                        out.add(
                            &place,
                            &field,
                            format!(
                                "input channel {ch} reaches readout neuron {}",
                                comp_place(syn.compartment as usize)
                            ),
                            "inputs onto hidden neurons only",
                        );
                        continue;
                    }
                    (0usize, ch as usize)
                }
                Source::Neuron(k) => {
                    let (pre_out, pre) = slot[k as usize];
                    if pre_out {
                        // Already reported as readout destinations.
                        continue;
                    }
                    let pre = unit_of_axon[a].map_or(pre, |u| unit_index[u]);
                    (if post_out { 2 } else { 1 }, pre)
                }
            };
            if post_out && cur == 1 {
                out.add(
                    &place,
                    &field,
                    format!(
                        "synaptic current 2 of readout neuron {}",
                        comp_place(syn.compartment as usize)
                    ),
                    "current 1: Xylo's readout neurons have one synaptic current",
                );
                continue;
            }
            if !seen.insert((matrix, pre, post, cur)) {
                out.add(
                    &place,
                    &field,
                    format!(
                        "a second synapse from the same source onto {}",
                        comp_place(syn.compartment as usize)
                    ),
                    "one weight per (source, neuron) pair",
                );
                continue;
            }
            *shifts[matrix].entry(exp).or_default() += 1;
            match matrix {
                0 if pre < inputs && post < n_h => weights_in[(pre * n_h + post) * 2 + cur] = w,
                1 if pre < n_h && post < n_h => weights_rec[(pre * n_h + post) * 2 + cur] = w,
                2 if pre < n_h && post < n_o => weights_out[pre * n_o + post] = w,
                _ => {}
            }
        }
    }
    if !order_ok {
        out.add(
            "core 0",
            "axon order",
            "axons not grouped by source in delivery order",
            "input channels first, by channel, then neurons (Xylo's delivery order)",
        );
    }
    let mut shift = [0u8; 3];
    for (m, name) in ["weight_shift_in", "weight_shift_rec", "weight_shift_out"]
        .iter()
        .enumerate()
    {
        let used: Vec<i32> = shifts[m].keys().copied().collect();
        if used.len() > 1 {
            out.add(
                "core 0",
                format!("group exponents ({name})"),
                format!("{used:?} in one matrix"),
                "one shift per matrix (input, recurrent, readout)",
            );
        }
        if let Some(&e) = used.first() {
            if (0..=MAX_WEIGHT_SHIFT).contains(&e) {
                shift[m] = e as u8;
            } else {
                out.add(
                    "core 0",
                    format!("group exponent ({name})"),
                    e.to_string(),
                    format!("0..={MAX_WEIGHT_SHIFT}"),
                );
            }
        }
    }

    if !out.0.is_empty() {
        return Err(XyloError::Unsupported {
            problems: Problems(out.0),
        });
    }
    let origin = |k: usize| {
        let c = &core.compartments[k];
        Origin {
            population: pop_name(c.population).to_string(),
            population_index: c.population,
            neuron: c.neuron,
            compartment: k as u32,
            alias_of: None,
        }
    };
    Ok(XyloSpec {
        generation,
        net_name: config.net_name.clone(),
        net_hash: config.net_hash,
        inputs,
        hidden: hidden_comps
            .iter()
            .zip(&alias_src)
            .map(|(&k, src)| Origin {
                alias_of: src.map(|i| i as u32),
                ..origin(k)
            })
            .collect(),
        readout: readout_comps.iter().map(|&k| origin(k)).collect(),
        readout_population: pop_name(readout_pop).to_string(),
        weights_in,
        weights_rec,
        weights_out,
        weight_shift_in: shift[0],
        weight_shift_rec: shift[1],
        weight_shift_out: shift[2],
        dash_mem,
        dash_syn,
        dash_syn_2,
        dash_mem_out,
        dash_syn_out,
        threshold,
        threshold_out,
        bias,
        bias_out,
        aliases,
        dt: options.dt,
    })
}
