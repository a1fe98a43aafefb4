//! Lower bounds on the cores a net needs, and the fan-in-aware estimate.

use lifchip_target::Target;

use super::{counts_axon, incoming_projections, splittable};
use crate::QuantNet;

/// The per-core limit a lower bound comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundLimit {
    /// `core.neurons`: compartments (neurons, and partial sums of split neurons).
    Neurons,
    /// `core.input_axons`: distinct input axons, or one neuron's fan-in.
    InputAxons,
    /// `core.synapse_memory_bits`: every distinct row stored at least once.
    SynapseMemory,
}

impl std::fmt::Display for BoundLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BoundLimit::Neurons => "neurons per core",
            BoundLimit::InputAxons => "input axons per core",
            BoundLimit::SynapseMemory => "synapse memory per core",
        })
    }
}

/// Lower bounds on the number of cores, one per resource; the overall bound is their maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoreBounds {
    pub by_neurons: u64,
    /// Every distinct row stored at least once (see [`lower_bounds`]).
    pub by_synapse_memory: u64,
    pub by_input_axons: u64,
    /// The memory bound without assuming anything about how rows are shared: where the target
    /// has `shared_kernels`, only the axon entries count (equal to `by_synapse_memory`
    /// otherwise).
    #[serde(skip)]
    pub by_synapse_memory_proven: u64,
}

impl CoreBounds {
    pub fn best(&self) -> u64 {
        self.by_neurons
            .max(self.by_synapse_memory)
            .max(self.by_input_axons)
    }

    /// The bound that holds for every mapping, also where pieces of different rows happen to
    /// be shared on a core: what proves a partition optimal.
    pub fn proven(&self) -> u64 {
        self.by_neurons
            .max(self.by_synapse_memory_proven)
            .max(self.by_input_axons)
    }

    /// The limit whose bound is the largest (neurons on a tie, then input axons).
    pub fn binding(&self) -> BoundLimit {
        if self.by_synapse_memory > self.by_neurons.max(self.by_input_axons) {
            BoundLimit::SynapseMemory
        } else if self.by_input_axons > self.by_neurons {
            BoundLimit::InputAxons
        } else {
            BoundLimit::Neurons
        }
    }
}

impl std::fmt::Display for CoreBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at least {} cores, by {} (neurons: {}, input axons: {}, synapse memory: {})",
            self.best(),
            self.binding(),
            self.by_neurons,
            self.by_input_axons,
            self.by_synapse_memory
        )
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    if b == 0 { 0 } else { a.div_ceil(b) }
}

/// Resource-by-resource lower bounds on the cores `net` needs on `target`. The memory bound
/// counts every distinct row once ([`distinct_rows`]): it assumes rows are shared as whole
/// rows, as a convolution's or a pooling's weight sharing gives them; pieces of different rows
/// that happen to be equal on one core could go below it ([`CoreBounds::proven`] does not
/// assume this).
pub fn lower_bounds(net: &QuantNet, target: &Target) -> CoreBounds {
    let neurons = net.num_neurons() as u64;
    // A neuron of fan-in F has its inputs on at least ceil(F / input_axons) cores (and that many
    // compartments when split; one otherwise, and then F > input_axons cannot be mapped).
    let axons = u64::from(target.core.input_axons).max(1);
    let (mut widest, mut compartments) = (u64::from(neurons > 0), 0u64);
    // With `core.readout_neurons`, the readout population has its own per-core budget.
    let mut readout_cores = 0;
    for (pi, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            continue;
        }
        let separate = target.core.readout_neurons > 0 && pi == net.readout;
        let incoming = incoming_projections(net, pi);
        let split = splittable(target);
        for n in 0..pop.size() {
            let fanin: u64 = incoming
                .iter()
                .filter(|&&k| counts_axon(net, target, k))
                .map(|&k| net.projections[k].synapses.fanin(n) as u64)
                .sum();
            let shares = fanin.div_ceil(axons).max(1);
            widest = widest.max(shares);
            let units = if split { shares } else { 1 };
            if separate {
                readout_cores += units;
            } else {
                compartments += units;
            }
        }
    }
    let readout_cores = div_ceil(readout_cores, u64::from(target.core.readout_neurons.max(1)));
    let rows = distinct_rows(net, target);
    CoreBounds {
        by_neurons: div_ceil(compartments, u64::from(target.core.neurons)).max(readout_cores),
        by_synapse_memory: div_ceil(rows.bits, target.core.synapse_memory_bits),
        by_synapse_memory_proven: div_ceil(
            if target.core.shared_kernels {
                target.axon_entries_bits(rows.axons)
            } else {
                rows.bits
            },
            target.core.synapse_memory_bits,
        ),
        // Every axon that carries a synapse is an input axon of some core.
        by_input_axons: widest.max(div_ceil(rows.input_axons, axons)),
    }
}

/// What every mapping must store somewhere: the axons that carry synapses, and the synapse
/// memory of the rows.
struct RowFloor {
    axons: u64,
    /// The axons that count against `core.input_axons` ([`counts_axon`]).
    input_axons: u64,
    bits: u64,
}

/// The rows of every projection, one per presynaptic neuron with synapses: its synapses'
/// `(post - first post, weight)` sequence in postsynaptic order. Each axon takes at least one
/// axon entry, and each synapse at least the cheapest cell the target has
/// ([`Target::min_bits_per_synapse`]); where the target stores rows identical up to a
/// compartment offset once (`shared_kernels`), rows of equal content are counted once, so a
/// convolution's kernel counts about once per input channel while a dense layer's distinct rows
/// all count. Row contents are compared by a 64-bit hash: a collision can only merge two rows,
/// which lowers the floor.
fn distinct_rows(net: &QuantNet, target: &Target) -> RowFloor {
    use super::rows::{entry, mix};
    let per_synapse = target.min_bits_per_synapse();
    let shared = target.core.shared_kernels;
    let mut floor = RowFloor {
        axons: 0,
        input_axons: 0,
        bits: 0,
    };
    let mut contents = rustc_hash::FxHashSet::default();
    for (k, proj) in net.projections.iter().enumerate() {
        let counted = counts_axon(net, target, k);
        // Per presynaptic neuron: first postsynaptic neuron, synapses, running content hash.
        let mut rows: Vec<(u32, u64, u64)> =
            vec![(u32::MAX, 0, 0); net.populations[proj.from].size()];
        for post in 0..proj.synapses.num_post() {
            for (pre, w) in proj.synapses.inputs(post) {
                let Some(row) = rows.get_mut(pre as usize) else {
                    continue;
                };
                if row.0 == u32::MAX {
                    row.0 = post as u32;
                }
                row.1 += 1;
                row.2 = mix(row.2, entry(post as u32 - row.0, w));
            }
        }
        contents.clear();
        for &(_, synapses, content) in rows.iter().filter(|r| r.1 > 0) {
            floor.axons += 1;
            floor.input_axons += u64::from(counted);
            if !shared || contents.insert((synapses, content)) {
                floor.bits = floor
                    .bits
                    .saturating_add(synapses.saturating_mul(per_synapse));
            }
        }
    }
    floor.bits = floor
        .bits
        .saturating_add(target.axon_entries_bits(floor.axons));
    floor
}

/// A fan-in-aware **estimate** (not a bound) of the cores a net needs, assuming each neuron's
/// inputs are drawn at random from its populations' source pools: a core of `n` neurons with
/// fan-in `F` from a pool of `S` sources needs about `S (1 - (1 - F/S)^n)` distinct axons, so it
/// holds at most the `n` that keeps that within `input_axons`. Where fan-in dominates (random
/// recurrent nets) this is far closer than the neuron-count bound; for local connectivity it
/// overestimates.
pub fn fanin_estimate(net: &QuantNet, target: &Target) -> u64 {
    let axons = f64::from(target.core.input_axons);
    let per_core = f64::from(target.core.neurons);
    let mut cores = 0.0;
    for (pi, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            continue;
        }
        let mut incoming = incoming_projections(net, pi);
        incoming.retain(|&k| counts_axon(net, target, k));
        let pool: f64 = incoming
            .iter()
            .map(|&k| net.populations[net.projections[k].from].size() as f64)
            .sum();
        let synapses: f64 = incoming
            .iter()
            .map(|&k| net.projections[k].synapses.num_synapses() as f64)
            .sum();
        let size = pop.size() as f64;
        let fanin = synapses / size.max(1.0);
        if fanin > axons && splittable(target) {
            // Split neurons: each block of the source pool (see `input_shares`) is a random
            // pool of its own, holding its share of the fan-in.
            let blocks = (pool / axons).ceil();
            let (pool, fanin) = (pool / blocks, fanin / blocks);
            let fit = if pool <= axons || fanin >= pool {
                per_core
            } else {
                ((1.0 - axons / pool).ln() / (1.0 - fanin / pool).ln())
                    .floor()
                    .clamp(1.0, per_core)
            };
            cores += blocks * size / fit;
            continue;
        }
        let fit = if pool <= axons || fanin <= 0.0 {
            per_core
        } else if fanin >= pool {
            1.0
        } else {
            ((1.0 - axons / pool).ln() / (1.0 - fanin / pool).ln())
                .floor()
                .clamp(1.0, per_core)
        };
        cores += size / fit;
    }
    cores.ceil() as u64
}
