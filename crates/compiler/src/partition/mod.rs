//! Partition pass: assigns every neuron to a core so that each core meets the target's neuron,
//! input-axon and synapse-memory limits.
//!
//! Assumes: a [`QuantNet`]. Guarantees: every returned core is within every per-core limit, or
//! the neurons that cannot fit anywhere are reported as [`Violation`]s (all at once); a split
//! neuron's [`SplitNeuron::shares`] say which inputs each of its compartments takes, so later
//! stages read them instead of deriving them again. Does not: choose mesh positions (see
//! `place`).
//!
//! One module per job: `rows` (exact per-core row accounting: sparse, dense and shared rows),
//! `fanin` (cutting a neuron's inputs into shares that fit a core), `bounds` (lower bounds and
//! the fan-in estimate), `greedy` (the axon-aware best-fit heuristic), `refine` (emptying the
//! least-filled cores) and `verify` (the independent check run after the pass).

mod bounds;
mod fanin;
mod greedy;
mod refine;
mod rows;
mod verify;

use std::ops::Range;

use lifchip_target::Target;

use crate::{QuantNet, Violation, ViolationKind};

pub use bounds::{BoundLimit, CoreBounds, fanin_estimate, lower_bounds};
pub(crate) use fanin::input_shares;
pub use fanin::splittable;
pub use greedy::partition;
pub use verify::{VerifyError, verify};

/// An input axon of a core: presynaptic neuron `pre` arriving through projection `projection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AxonKey {
    pub projection: u32,
    pub pre: u32,
}

/// Whether the rows of projection `k` count against `core.input_axons`: every row does, except
/// with `core.neuron_rows`, where a neuron's own rows are part of it and only rows fed by the
/// net's input channels (an input population's neurons) are input axons.
pub fn counts_axon(net: &QuantNet, target: &Target, k: usize) -> bool {
    !target.core.neuron_rows
        || net
            .projections
            .get(k)
            .and_then(|p| net.populations.get(p.from))
            .is_none_or(|p| p.neuron.is_none())
}

/// The axons of `axons` that count against `core.input_axons` ([`counts_axon`]).
pub fn counted_axons(net: &QuantNet, target: &Target, axons: &[AxonKey]) -> usize {
    if !target.core.neuron_rows {
        return axons.len();
    }
    axons
        .iter()
        .filter(|a| counts_axon(net, target, a.projection as usize))
        .count()
}

/// The neurons and input axons of one core, in the order they were assigned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreAssignment {
    /// `(population, neuron)` of each compartment.
    pub neurons: Vec<(u32, u32)>,
    /// Which share of its neuron's inputs each compartment holds (see [`SplitNeuron::shares`]):
    /// 0 for a whole neuron or the first share of a split one (the compartment that spikes),
    /// `k >= 1` for a partial-sum compartment.
    pub shares: Vec<u16>,
    /// Distinct input axons, in first-use order.
    pub axons: Vec<AxonKey>,
    pub synapses: u64,
    /// Synapse memory the target's cost model charges for this core's rows and axon entries.
    pub synapse_bits: u64,
}

impl CoreAssignment {
    /// Whether a neuron of population `pi` still fits this core's neuron budget: `core.neurons`
    /// for all compartments, or, with `core.readout_neurons > 0`, `core.neurons` for the
    /// others and `readout_neurons` for those of the readout population.
    pub fn has_room(&self, pi: u32, readout: usize, target: &Target) -> bool {
        let separate = target.core.readout_neurons;
        if separate == 0 {
            return self.neurons.len() < target.core.neurons as usize;
        }
        let is_readout = pi as usize == readout;
        let same = self
            .neurons
            .iter()
            .filter(|&&(p, _)| (p as usize == readout) == is_readout)
            .count();
        same < if is_readout {
            separate
        } else {
            target.core.neurons
        } as usize
    }
}

/// A neuron whose fan-in is split over several compartments (`core.fanin_split`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SplitNeuron {
    /// The part of the neuron's input list (the synapses of its incoming projections, in
    /// projection order, each projection's in CSR order) that each share takes, share 0 first:
    /// consecutive ranges covering the list, none mixing projections.
    pub shares: Vec<Range<usize>>,
    /// `(core, compartment)` of shares 1, 2, ... (share 0 is at [`Partition::location`]).
    pub partials: Vec<(u32, u32)>,
}

/// The result of partitioning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub cores: Vec<CoreAssignment>,
    /// Per population, per neuron: `(core, compartment)`; empty for input populations.
    pub location: Vec<Vec<(u32, u32)>>,
    /// Split neurons by `(population, neuron)`.
    pub split: std::collections::BTreeMap<(u32, u32), SplitNeuron>,
}

impl Partition {
    /// The part of neuron `neuron` of population `population`'s input list that its share
    /// `share` takes: all of it for a neuron that is not split, nothing for a share it does
    /// not have.
    pub fn share_range(&self, population: u32, neuron: u32, share: u16) -> Range<usize> {
        match self.split.get(&(population, neuron)) {
            Some(s) => s.shares.get(usize::from(share)).cloned().unwrap_or(0..0),
            None if share == 0 => 0..usize::MAX,
            None => 0..0,
        }
    }
}

/// The projections into population `pi`, in projection order.
pub fn incoming_projections(net: &QuantNet, pi: usize) -> Vec<usize> {
    (0..net.projections.len())
        .filter(|&k| net.projections[k].to == pi)
        .collect()
}

/// The inputs of one neuron within `share` (a range of its input list): for each synapse, its
/// axon `(projection, pre)`, its weight and its source's packet weight.
fn neuron_axons(
    net: &QuantNet,
    incoming: &[usize],
    neuron: usize,
    share: std::ops::Range<usize>,
    out: &mut Vec<NeuronInput>,
) {
    out.clear();
    // The hot path of the partitioner: a plain loop over the projections' CSR rows (the
    // same selection as `share_inputs`, without the iterator chain).
    let mut index = 0usize;
    for &k in incoming {
        let proj = &net.projections[k];
        let fanin = proj.synapses.fanin(neuron);
        if index + fanin <= share.start || index >= share.end {
            index += fanin;
            continue;
        }
        for (pre, w) in proj.synapses.inputs(neuron) {
            if share.contains(&index) {
                out.push(NeuronInput {
                    axon: AxonKey {
                        projection: k as u32,
                        pre,
                    },
                    weight: w,
                    packets: net.packet_weight(proj.from, pre),
                });
            }
            index += 1;
        }
    }
}

/// The synapses of neuron `neuron` within `share` (a range of its input list, see
/// [`SplitNeuron::shares`] and [`Partition::share_range`]), as `(axon, weight)`; `incoming` are
/// the projections into its population ([`incoming_projections`]).
pub fn share_inputs<'a>(
    net: &'a QuantNet,
    incoming: &'a [usize],
    neuron: usize,
    share: std::ops::Range<usize>,
) -> impl Iterator<Item = (AxonKey, i32)> + 'a {
    incoming
        .iter()
        .flat_map(move |&k| {
            net.projections[k]
                .synapses
                .inputs(neuron)
                .map(move |(pre, w)| {
                    let axon = AxonKey {
                        projection: k as u32,
                        pre,
                    };
                    (axon, w)
                })
        })
        .skip(share.start)
        .take(share.len())
}

/// One synapse arriving at a neuron: its axon, its weight, and the packet weight of its source.
#[derive(Clone, Copy)]
struct NeuronInput {
    axon: AxonKey,
    weight: i32,
    packets: u64,
}

/// Neurons that fit on no core at all, grouped per population.
fn unmappable_neurons(net: &QuantNet, target: &Target) -> Vec<Violation> {
    let max_axons = target.core.input_axons as usize;
    let max_bits = target.core.synapse_memory_bits;
    let mut violations = Vec::new();
    let mut axons = Vec::new();
    for (pi, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            continue;
        }
        let incoming = incoming_projections(net, pi);
        let (mut too_many_axons, mut too_many_bits, mut worst_fanin, mut worst_bits) =
            (0u64, 0u64, 0u64, 0u64);
        for n in 0..pop.size() {
            // Each share must fit a core on its own (a whole neuron is one share).
            for share in input_shares(net, target, pi, n) {
                neuron_axons(net, &incoming, n, share, &mut axons);
                let n_axons = axons.len() as u64;
                let alone_bits =
                    target.row_bits(1, 1) * n_axons + target.axon_entries_bits(n_axons);
                let counted = axons
                    .iter()
                    .filter(|a| counts_axon(net, target, a.axon.projection as usize))
                    .count();
                if counted > max_axons {
                    too_many_axons += 1;
                    worst_fanin = worst_fanin.max(counted as u64);
                }
                if alone_bits > max_bits {
                    too_many_bits += 1;
                    worst_bits = worst_bits.max(alone_bits);
                }
            }
        }
        if too_many_axons > 0 {
            let hint = if !target.core.fanin_split {
                format!(
                    "raise core.input_axons to {worst_fanin} or allow fan-in splitting (core.fanin_split)"
                )
            } else if target.neuron.accumulate != lifchip_target::Accumulate::SumThenAdd {
                format!(
                    "fan-in splitting needs neuron.accumulate: sum_then_add; or raise core.input_axons to {worst_fanin}"
                )
            } else {
                // Shares are blocks of at most `input_axons` presynaptic indices: not reached.
                format!("raise core.input_axons to {worst_fanin}")
            };
            violations.push(Violation {
                kind: ViolationKind::InputAxons,
                place: format!(
                    "population {} ({too_many_axons} of {} neurons)",
                    pop.name,
                    pop.size()
                ),
                value: worst_fanin as i64,
                limit: i64::from(target.core.input_axons),
                hint,
            });
        }
        if too_many_bits > 0 {
            violations.push(Violation {
                kind: ViolationKind::SynapseMemoryBits,
                place: format!("population {} ({too_many_bits} of {} neurons)", pop.name, pop.size()),
                value: worst_bits as i64,
                limit: max_bits as i64,
                hint: format!("one neuron's synapses need {worst_bits} bits; raise core.synapse_memory_bits or lower weight_bits"),
            });
        }
    }
    violations
}
