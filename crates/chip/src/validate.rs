//! The rules a chip configuration obeys: indices in range, values within their fields, the
//! target's per-core limits. The writer refuses, and the reader rejects, anything that breaks one.

use std::collections::BTreeSet;

use rayon::prelude::*;

use lifchip_target::{DecayKind, ExponentScope, SignClass, SynapseCost, Target, WeightEncoding};

use crate::{
    ChipError,
    view::{ChipView, CoreView},
};

/// How a target's stored weights are represented in synapse memory.
///
/// `field_bits` is the width of the two's-complement weight field of a packed synapse;
/// a valid weight lies in `[min, max]` and is a multiple of `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightFormat {
    pub field_bits: u32,
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

impl WeightFormat {
    /// Whether `w` is a weight this format can store.
    pub fn holds(&self, w: i64) -> bool {
        let step = self.step;
        // A power-of-two step (the usual one) by a mask: a division per synapse was a visible
        // share of checking a big chip.
        let on_grid = if step > 0 && step & (step - 1) == 0 {
            w & (step - 1) == 0
        } else {
            step != 0 && w % step == 0
        };
        w >= self.min && w <= self.max && on_grid
    }
}

/// Largest weight field the format packs.
const MAX_WEIGHT_FIELD_BITS: u32 = 32;

/// The weight format of `target`.
///
/// `Signed` stores `weight_bits` of two's complement. `LoihiSignMode` stores values of up to
/// `max(8, weight_bits)` magnitude bits with either sign (the union of the excitatory,
/// inhibitory and mixed grids of [`Target::weight_grid`]), in a field one bit wider; a valid
/// weight is a multiple of the finest step of the three sign modes.
pub fn weight_format(target: &Target) -> Result<WeightFormat, ChipError> {
    let b = target.precision.weight_bits;
    let bad = |limit: &str| {
        ChipError::invalid(
            None,
            "target.precision.weight_bits",
            format!("{b} is not supported by the chip format ({limit})"),
        )
    };
    match target.precision.weight_encoding {
        WeightEncoding::Signed => {
            if !(1..=MAX_WEIGHT_FIELD_BITS).contains(&b) {
                return Err(bad("expected 1..=32"));
            }
            Ok(WeightFormat {
                field_bits: b,
                min: -(1i64 << (b - 1)),
                max: (1i64 << (b - 1)) - 1,
                step: 1,
            })
        }
        WeightEncoding::LoihiSignMode => {
            if !(1..MAX_WEIGHT_FIELD_BITS).contains(&b) {
                return Err(bad("expected 1..=31 with loihi_sign_mode"));
            }
            let grids = [
                SignClass::Excitatory,
                SignClass::Inhibitory,
                SignClass::Mixed,
            ]
            .map(|sign| target.weight_grid(sign));
            let min = grids.iter().map(|g| g.lo).min().unwrap_or(0);
            let max = grids.iter().map(|g| g.hi).max().unwrap_or(0);
            let step = grids.iter().map(|g| g.step).min().unwrap_or(1).max(1);
            // The narrowest two's-complement field holding both ends.
            let field_bits = (1..=63u32)
                .find(|&b| min >= -(1i64 << (b - 1)) && max < (1i64 << (b - 1)))
                .unwrap_or(64);
            if field_bits > MAX_WEIGHT_FIELD_BITS {
                return Err(bad("the weights would need a field wider than 32 bits"));
            }
            Ok(WeightFormat {
                field_bits,
                min,
                max,
                step,
            })
        }
    }
}

/// Bits of the compartment-index field of a packed synapse on a core with `compartments`
/// compartments: enough for `compartments - 1`, at least 1.
pub fn index_bits(compartments: usize) -> u32 {
    if compartments <= 1 {
        1
    } else {
        usize::BITS - (compartments - 1).leading_zeros()
    }
}

/// Checks every rule of the chip format and every per-core limit of `config.target()`;
/// returns the first problem found.
pub fn validate(config: &crate::ChipConfig) -> Result<(), ChipError> {
    check(config)
}

/// [`validate`] for any form of a configuration.
pub(crate) fn check<C: ChipView>(config: &C) -> Result<(), ChipError> {
    check_bits(config).map(drop)
}

/// [`check`], returning each core's synapse memory bits (see [`CoreConfig::synapse_bits`]),
/// which the checks compute on targets of sparse synapse memory (else `None`).
///
/// [`CoreConfig::synapse_bits`]: crate::CoreConfig::synapse_bits
pub(crate) fn check_bits<C: ChipView>(config: &C) -> Result<Vec<Option<u64>>, ChipError> {
    let target = &config.target();
    check_target(target)?;
    let weights = weight_format(target)?;
    check_populations(config)?;
    // Ids and positions in order (cheap), then each core's own checks side by side (the bulk
    // of a big chip's validation); the error reported is the one the plain loop would meet
    // first: a core's place before its own checks, cores in order.
    let n = config.cores().len();
    let mut positions = BTreeSet::new();
    let mut place_error = None;
    for (index, core) in config.cores().iter().enumerate() {
        if let Err(e) = check_place(target, index, core, &mut positions) {
            place_error = Some((index, e));
            break;
        }
    }
    let placed = place_error.as_ref().map_or(n, |(index, _)| *index);
    let checked: Vec<Result<Option<u64>, ChipError>> = config.cores()[..placed]
        .par_iter()
        .map_init(
            || CoreMarks {
                mark: vec![0; n],
                stamp: 0,
            },
            |marks, core| check_core(config, core, &weights, marks),
        )
        .collect();
    let mut bits = Vec::with_capacity(n);
    for core_bits in checked {
        bits.push(core_bits?);
    }
    if let Some((_, e)) = place_error {
        return Err(e);
    }
    for (channel, dests) in config.inputs().iter().enumerate() {
        for d in dests {
            check_destination(config, None, Name::Input(channel), d.core, d.axon)?;
        }
    }
    check_partials(config)?;
    check_placement(config)?;
    Ok(bits)
}

/// Core `index` of the list: its id is its index, and its position is inside the mesh and
/// not taken by an earlier core (`positions`).
fn check_place<K: CoreView>(
    target: &Target,
    index: usize,
    core: &K,
    positions: &mut BTreeSet<(u32, u32)>,
) -> Result<(), ChipError> {
    let c = Some(core.id());
    if core.id() as usize != index {
        return Err(ChipError::invalid(
            Some(index as u32),
            "id",
            format!(
                "core at position {index} of the list has id {}; ids must be 0, 1, 2, ... in order",
                core.id()
            ),
        ));
    }
    if core.x() >= target.mesh.width || core.y() >= target.mesh.height {
        return Err(ChipError::invalid(
            c,
            "x, y",
            format!(
                "({}, {}) is outside the {}x{} mesh",
                core.x(),
                core.y(),
                target.mesh.width,
                target.mesh.height
            ),
        ));
    }
    if !positions.insert((core.x(), core.y())) {
        return Err(ChipError::invalid(
            c,
            "x, y",
            format!("({}, {}) already holds another core", core.x(), core.y()),
        ));
    }
    Ok(())
}

/// The accumulator groups whose synapses reach each compartment of `core`.
fn compartment_groups<K: CoreView>(core: &K) -> Vec<BTreeSet<u16>> {
    let mut groups = vec![BTreeSet::new(); core.compartments().len()];
    for axon in core.axons() {
        for s in axon.synapses {
            if let Some(g) = groups.get_mut(s.compartment as usize) {
                g.insert(axon.group);
            }
        }
    }
    groups
}

/// Partial-sum compartments: allowed by the target, each a share of exactly one neuron's
/// synapses of one group, joining a group of the same exponent on the neuron's core; silent
/// themselves (no fan-out, zero bias, the largest threshold).
fn check_partials<C: ChipView>(config: &C) -> Result<(), ChipError> {
    let target = &config.target();
    // Only the cores holding partial sums need their compartments' groups.
    let groups: Vec<Vec<BTreeSet<u16>>> = config
        .cores()
        .iter()
        .map(|core| {
            if core.compartments().iter().any(|k| k.partial_of.is_some()) {
                compartment_groups(core)
            } else {
                Vec::new()
            }
        })
        .collect();
    let max_threshold = if target.precision.threshold_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << target.precision.threshold_bits) - 1
    };
    for (c, core) in config.cores().iter().enumerate() {
        for (k, comp) in core.compartments().iter().enumerate() {
            let Some(root) = comp.partial_of else {
                continue;
            };
            let field = |name: &str| format!("compartments[{k}].{name}");
            let bad =
                |name: &str, msg: String| Err(ChipError::invalid(Some(c as u32), field(name), msg));
            if !target.core.fanin_split {
                return bad(
                    "partial_of",
                    "a partial-sum compartment, but the target does not allow fan-in splitting (core.fanin_split: false)".into(),
                );
            }
            let Some(root_comp) = config
                .cores()
                .get(root.core as usize)
                .and_then(|rc| rc.compartments().get(root.compartment as usize))
            else {
                return bad(
                    "partial_of",
                    format!(
                        "(core {}, compartment {}) does not exist",
                        root.core, root.compartment
                    ),
                );
            };
            if root_comp.partial_of.is_some() {
                return bad("partial_of", "names another partial-sum compartment".into());
            }
            if (root_comp.population, root_comp.neuron) != (comp.population, comp.neuron) {
                return bad(
                    "partial_of",
                    format!(
                        "names population {} neuron {}, but this compartment is a share of population {} neuron {}",
                        root_comp.population, root_comp.neuron, comp.population, comp.neuron
                    ),
                );
            }
            if !comp.destinations.is_empty() || comp.bias != 0 || comp.threshold != max_threshold {
                return bad(
                    "partial_of",
                    format!(
                        "a partial-sum compartment has no fan-out, bias 0 and threshold {max_threshold}"
                    ),
                );
            }
            let mine = &groups[c][k];
            let mine_exp = mine
                .first()
                .and_then(|g| core.group_exponents().get(usize::from(*g)));
            let root_exp = config.cores()[root.core as usize]
                .group_exponents()
                .get(usize::from(root.group));
            if mine.len() != 1 || root_exp.is_none() || mine_exp != root_exp {
                return bad(
                    "partial_of",
                    format!(
                        "a partial sum receives synapses of exactly one group and joins a group of its neuron's core with the same exponent (here {} groups, root group {} of {})",
                        mine.len(),
                        root.group,
                        config.cores()[root.core as usize].group_exponents().len()
                    ),
                );
            }
        }
    }
    Ok(())
}

fn check_target(target: &Target) -> Result<(), ChipError> {
    let field = |name: &str, detail: String| {
        Err(ChipError::invalid(None, format!("target.{name}"), detail))
    };
    if target.mesh.width == 0 || target.mesh.height == 0 {
        return field(
            "mesh",
            format!(
                "{}x{}: a mesh needs at least one core",
                target.mesh.width, target.mesh.height
            ),
        );
    }
    let p = &target.precision;
    if p.threshold_bits > 32 {
        return field(
            "precision.threshold_bits",
            format!("{} is wider than the 32-bit field", p.threshold_bits),
        );
    }
    if p.bias_bits > 32 {
        return field(
            "precision.bias_bits",
            format!("{}: expected 0..=32", p.bias_bits),
        );
    }
    if target.neuron.decay == DecayKind::Multiplicative
        && !(1..=31).contains(&target.neuron.decay_bits)
    {
        return field(
            "neuron.decay_bits",
            format!("{}: expected 1..=31", target.neuron.decay_bits),
        );
    }
    if let SynapseCost::Sparse {
        index_bits,
        axon_entry_bits,
        ..
    } = target.core.synapse_cost
        && (index_bits > 64 || axon_entry_bits > 1 << 20)
    {
        return field(
            "core.synapse_cost",
            format!("index_bits {index_bits}, axon_entry_bits {axon_entry_bits}: implausibly wide"),
        );
    }
    let e = &p.weight_exponent;
    if e.scope != ExponentScope::None && e.min > e.max {
        return field(
            "precision.weight_exponent",
            format!("min {} > max {}", e.min, e.max),
        );
    }
    Ok(())
}

fn check_populations<C: ChipView>(config: &C) -> Result<(), ChipError> {
    if !(config.input_rate() > 0.0 && config.input_rate() <= 1.0) {
        return Err(ChipError::invalid(
            None,
            "input_rate",
            format!(
                "{}: expected spikes per tick in (0, 1]",
                config.input_rate()
            ),
        ));
    }
    let readout = config
        .populations()
        .get(config.readout() as usize)
        .ok_or_else(|| {
            ChipError::invalid(
                None,
                "readout",
                format!(
                    "population {} does not exist ({} populations)",
                    config.readout(),
                    config.populations().len()
                ),
            )
        })?;
    if readout.is_input {
        return Err(ChipError::invalid(
            None,
            "readout",
            format!(
                "population {} ({:?}) is an input population",
                config.readout(),
                readout.name
            ),
        ));
    }
    let mut channels = 0usize;
    for (p, pop) in config.populations().iter().enumerate() {
        let size = population_size(&pop.shape).ok_or_else(|| {
            ChipError::invalid(
                None,
                format!("populations[{p}].shape"),
                format!("{:?} overflows", pop.shape),
            )
        })?;
        if pop.is_input {
            channels = channels.checked_add(size).ok_or_else(|| {
                ChipError::invalid(None, "populations", "input channel count overflows")
            })?;
        }
    }
    if channels != config.inputs().len() {
        return Err(ChipError::invalid(
            None,
            "inputs",
            format!(
                "{} input channels, but the input populations hold {channels} neurons",
                config.inputs().len()
            ),
        ));
    }
    Ok(())
}

/// Neurons in a population of `shape` (None on overflow).
pub(crate) fn population_size(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn check_destination<C: ChipView>(
    config: &C,
    core: Option<u32>,
    field: impl Into<String>,
    to_core: u32,
    axon: u32,
) -> Result<(), ChipError> {
    let Some(dest) = config.cores().get(to_core as usize) else {
        return Err(ChipError::invalid(
            core,
            field,
            format!(
                "destination core {to_core} does not exist ({} cores)",
                config.cores().len()
            ),
        ));
    };
    if axon as usize >= dest.n_axons() {
        return Err(ChipError::invalid(
            core,
            field,
            format!(
                "destination axon {axon} of core {to_core} does not exist (it has {} axons)",
                dest.n_axons()
            ),
        ));
    }
    Ok(())
}

/// The field an error names, formatted only when there is an error (validation visits every
/// compartment and destination of big chips).
#[derive(Clone, Copy)]
enum Name {
    Plain(&'static str),
    /// `compartments[k].name`
    Comp(usize, &'static str),
    /// `compartments[k].destinations[d]`
    Dest(usize, usize),
    /// `inputs[channel]`
    Input(usize),
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        match n {
            Name::Plain(s) => s.to_string(),
            Name::Comp(k, name) => format!("compartments[{k}].{name}"),
            Name::Dest(k, d) => format!("compartments[{k}].destinations[{d}]"),
            Name::Input(c) => format!("inputs[{c}]"),
        }
    }
}

/// Counts distinct cores without sorting: a mark per core, stamped with the current count's
/// number (validation counts the destination cores of every compartment of big chips).
struct CoreMarks {
    mark: Vec<u64>,
    stamp: u64,
}

fn check_core<C: ChipView>(
    config: &C,
    core: &C::Core,
    weights: &WeightFormat,
    marks: &mut CoreMarks,
) -> Result<Option<u64>, ChipError> {
    let target = &config.target();
    let c = Some(core.id());
    let limit = |field: Name, value: u64, limit: u64| -> Result<(), ChipError> {
        if value > limit {
            Err(ChipError::invalid(
                c,
                field,
                format!("{value} exceeds the target's limit of {limit}"),
            ))
        } else {
            Ok(())
        }
    };
    // With `core.readout_neurons`, the readout population's compartments have their own budget.
    let readout = if target.core.readout_neurons > 0 {
        core.compartments()
            .iter()
            .filter(|k| k.population == config.readout())
            .count() as u64
    } else {
        0
    };
    limit(
        Name::Plain("compartments"),
        core.compartments().len() as u64 - readout,
        u64::from(target.core.neurons),
    )?;
    limit(
        Name::Plain("readout compartments"),
        readout,
        u64::from(target.core.readout_neurons),
    )?;
    // With `core.neuron_rows` a neuron's own rows are part of it: only the axons fed by input
    // channels are input axons.
    let (name, axons) = if target.core.neuron_rows {
        let mut fed = vec![false; core.n_axons()];
        for d in config.inputs().iter().flatten() {
            if d.core == core.id()
                && let Some(f) = fed.get_mut(d.axon as usize)
            {
                *f = true;
            }
        }
        (
            "axons fed by input channels",
            fed.iter().filter(|&&f| f).count(),
        )
    } else {
        ("axons", core.n_axons())
    };
    limit(
        Name::Plain(name),
        axons as u64,
        u64::from(target.core.input_axons),
    )?;
    if core.compartments().len() > u32::MAX as usize {
        return Err(ChipError::invalid(c, "compartments", "more than 2^32 - 1"));
    }
    limit(
        Name::Plain("group_exponents"),
        core.group_exponents().len() as u64,
        u64::from(u16::MAX) + 1,
    )?;
    let exp = &target.precision.weight_exponent;
    for (g, &e) in core.group_exponents().iter().enumerate() {
        let ok = match exp.scope {
            ExponentScope::None => e == 0,
            _ => (exp.min..=exp.max).contains(&e),
        };
        if !ok {
            let range = match exp.scope {
                ExponentScope::None => "0 (the target has no weight exponent)".to_string(),
                _ => format!("{}..={}", exp.min, exp.max),
            };
            return Err(ChipError::invalid(
                c,
                format!("group_exponents[{g}]"),
                format!("{e} is outside {range}"),
            ));
        }
    }
    let n_comp = core.compartments().len();
    let mut synapses = 0u64;
    for (a, axon) in core.axons().enumerate() {
        if usize::from(axon.group) >= core.group_exponents().len() {
            return Err(ChipError::invalid(
                c,
                format!("axons[{a}].group"),
                format!(
                    "group {} does not exist ({} groups)",
                    axon.group,
                    core.group_exponents().len()
                ),
            ));
        }
        if axon.current == 0 || u32::from(axon.current) > target.neuron.synaptic_currents {
            return Err(ChipError::invalid(
                c,
                format!("axons[{a}].current"),
                format!(
                    "{}; the target's neurons have synaptic currents 1..={}",
                    axon.current, target.neuron.synaptic_currents
                ),
            ));
        }
        for (s, syn) in axon.synapses.iter().enumerate() {
            if syn.compartment as usize >= n_comp {
                return Err(ChipError::invalid(
                    c,
                    format!("axons[{a}].synapses[{s}].compartment"),
                    format!("{} does not exist ({n_comp} compartments)", syn.compartment),
                ));
            }
            // Readout neurons counted apart (Xylo's) have one synaptic current.
            if axon.current > 1
                && target.core.readout_neurons > 0
                && core.compartments()[syn.compartment as usize].population == config.readout()
            {
                return Err(ChipError::invalid(
                    c,
                    format!("axons[{a}].synapses[{s}]"),
                    format!(
                        "current {} reaches readout compartment {}; the target's readout neurons (core.readout_neurons) have one synaptic current",
                        axon.current, syn.compartment
                    ),
                ));
            }
            if !weights.holds(i64::from(syn.weight)) {
                return Err(ChipError::invalid(
                    c,
                    format!("axons[{a}].synapses[{s}].weight"),
                    format!(
                        "{} is not a storable weight (range {}..={}, step {}, {} weight bits)",
                        syn.weight,
                        weights.min,
                        weights.max,
                        weights.step,
                        target.precision.weight_bits
                    ),
                ));
            }
        }
        synapses += axon.synapses.len() as u64;
    }
    if synapses > u64::from(u32::MAX) {
        return Err(ChipError::invalid(
            c,
            "synapses",
            format!("{synapses} synapses; the format holds at most 2^32 - 1 per core"),
        ));
    }
    let mut bits = None;
    if let SynapseCost::Sparse { .. } = target.core.synapse_cost {
        let b = crate::view::synapse_bits(core, target);
        limit(
            Name::Plain("synapse memory bits"),
            b,
            target.core.synapse_memory_bits,
        )?;
        bits = Some(b);
    }
    let n = &target.neuron;
    let p = &target.precision;
    let max_spikes = n.max_spikes_per_tick.max(n.readout_max_spikes_per_tick);
    for (k, comp) in core.compartments().iter().enumerate() {
        let field = |name: &'static str| Name::Comp(k, name);
        let pop = config.populations().get(comp.population as usize);
        match pop {
            None => {
                return Err(ChipError::invalid(
                    c,
                    field("population"),
                    format!(
                        "{} does not exist ({} populations)",
                        comp.population,
                        config.populations().len()
                    ),
                ));
            }
            Some(pop) if pop.is_input => {
                return Err(ChipError::invalid(
                    c,
                    field("population"),
                    format!(
                        "{} ({:?}) is an input population",
                        comp.population, pop.name
                    ),
                ));
            }
            Some(pop) => {
                let size = population_size(&pop.shape).unwrap_or(0);
                if comp.neuron as usize >= size {
                    return Err(ChipError::invalid(
                        c,
                        field("neuron"),
                        format!(
                            "{} is outside population {:?} of {size} neurons",
                            comp.neuron, pop.name
                        ),
                    ));
                }
            }
        }
        let decay_limit = match n.decay {
            DecayKind::Multiplicative => (1u64 << n.decay_bits) - 1,
            DecayKind::Shift => 63,
        };
        limit(
            field("current_decay"),
            u64::from(comp.current_decay),
            decay_limit,
        )?;
        limit(
            field("voltage_decay"),
            u64::from(comp.voltage_decay),
            decay_limit,
        )?;
        limit(
            field("current_decay_2"),
            u64::from(comp.current_decay_2),
            if n.synaptic_currents > 1 {
                decay_limit
            } else {
                0
            },
        )?;
        if p.threshold_bits < 32 {
            limit(
                field("threshold"),
                u64::from(comp.threshold),
                (1u64 << p.threshold_bits) - 1,
            )?;
        }
        // No bias at all with `bias_bits: 0` (Xylo v1).
        let bias_max = (1i64 << p.bias_bits.max(1)) / 2 - 1;
        let bias_min = -bias_max - i64::from(p.bias_bits > 0);
        if !(bias_min..=bias_max).contains(&i64::from(comp.bias)) {
            return Err(ChipError::invalid(
                c,
                field("bias"),
                format!(
                    "{} is outside {bias_min}..={bias_max} ({} bias bits)",
                    comp.bias, p.bias_bits
                ),
            ));
        }
        limit(
            field("bias_exp"),
            u64::from(comp.bias_exp),
            u64::from(p.bias_exp_max),
        )?;
        for (name, x, bits) in [
            ("initial_u", comp.initial_u, p.current_bits),
            ("initial_v", comp.initial_v, p.voltage_bits),
        ] {
            let half = 1i64 << (bits.clamp(1, 32) - 1);
            if !(-half..half).contains(&i64::from(x)) {
                return Err(ChipError::invalid(
                    c,
                    field(name),
                    format!("{x} is outside {}..={} ({bits} bits)", -half, half - 1),
                ));
            }
        }
        limit(
            field("refractory"),
            u64::from(comp.refractory),
            u64::from(n.refractory_max),
        )?;
        limit(
            field("max_spikes"),
            u64::from(comp.max_spikes),
            u64::from(max_spikes),
        )?;
        // Distinct destination cores (each checked to exist first).
        marks.stamp += 1;
        let mut cores = 0u64;
        for (d, dest) in comp.destinations.iter().enumerate() {
            check_destination(config, c, Name::Dest(k, d), dest.core, dest.axon)?;
            if let Some(m) = marks.mark.get_mut(dest.core as usize)
                && *m != marks.stamp
            {
                *m = marks.stamp;
                cores += 1;
            }
        }
        limit(
            field("destinations (distinct cores)"),
            cores,
            u64::from(target.core.output_axons),
        )?;
    }
    Ok(bits)
}

fn check_placement<C: ChipView>(config: &C) -> Result<(), ChipError> {
    for (p, pop) in config.populations().iter().enumerate() {
        let field = format!("populations[{p}].placement");
        let size = population_size(&pop.shape).unwrap_or(0);
        let expected = if pop.is_input { 0 } else { size };
        if pop.placement.len() != expected {
            return Err(ChipError::invalid(
                None,
                field,
                format!(
                    "{} entries for population {:?}; expected {expected} (one per neuron{})",
                    pop.placement.len(),
                    pop.name,
                    if pop.is_input {
                        "; none for an input"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for (neuron, &(core, slot)) in pop.placement.iter().enumerate() {
            let comp = config
                .cores()
                .get(core as usize)
                .and_then(|c| c.compartments().get(slot as usize));
            match comp {
                Some(comp) if comp.population as usize == p && comp.neuron as usize == neuron => {}
                Some(comp) => {
                    return Err(ChipError::invalid(
                        Some(core),
                        format!("{field}[{neuron}]"),
                        format!(
                            "compartment {slot} holds population {} neuron {}, not population {p} neuron {neuron}",
                            comp.population, comp.neuron
                        ),
                    ));
                }
                None => {
                    return Err(ChipError::invalid(
                        None,
                        format!("{field}[{neuron}]"),
                        format!("(core {core}, compartment {slot}) does not exist"),
                    ));
                }
            }
        }
    }
    Ok(())
}
