//! Partition pass: assigns every neuron to a core so that each core meets the target's neuron,
//! input-axon and synapse-memory limits.
//!
//! Assumes: a [`QuantNet`]. Guarantees: every returned core is within every per-core limit, or
//! the neurons that cannot fit anywhere are reported as [`Violation`]s (all at once). Does not:
//! choose mesh positions (see `place`). The heuristic is a greedy first-fit in population order;
//! several small layers share a core, a big layer spills over as many cores as it needs.

use std::collections::HashSet;

use lifchip_target::Target;

use crate::{QuantNet, Violation};

/// An input axon of a core: presynaptic neuron `pre` arriving through projection `projection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AxonKey {
    pub projection: u32,
    pub pre: u32,
}

/// The neurons and input axons of one core, in the order they were assigned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreAssignment {
    /// `(population, neuron)` of each compartment.
    pub neurons: Vec<(u32, u32)>,
    /// Distinct input axons, in first-use order.
    pub axons: Vec<AxonKey>,
    pub synapses: u64,
}

/// The result of partitioning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub cores: Vec<CoreAssignment>,
    /// Per population, per neuron: `(core, compartment)`; empty for input populations.
    pub location: Vec<Vec<(u32, u32)>>,
}

/// Lower bounds on the number of cores, one per resource; the overall bound is their maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreBounds {
    pub by_neurons: u64,
    pub by_synapse_memory: u64,
    pub by_input_axons: u64,
}

impl CoreBounds {
    pub fn best(&self) -> u64 {
        self.by_neurons
            .max(self.by_synapse_memory)
            .max(self.by_input_axons)
    }

    /// The resource whose bound is the largest.
    pub fn binding_resource(&self) -> &'static str {
        if self.by_synapse_memory > self.by_neurons {
            "synapse memory"
        } else {
            "neurons per core"
        }
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    if b == 0 { 0 } else { a.div_ceil(b) }
}

/// Resource-by-resource lower bounds on the cores `net` needs on `target`.
pub fn lower_bounds(net: &QuantNet, target: &Target) -> CoreBounds {
    let neurons = net.num_neurons() as u64;
    let synapses = net.num_synapses() as u64;
    // Every neuron with inputs needs at least one axon; each population's largest fan-in must
    // be present on at least one core.
    let min_bits = target.synapse_bits(synapses, 0);
    let max_fanin = net
        .projections
        .iter()
        .map(|p| {
            (0..p.synapses.num_post())
                .map(|i| p.synapses.fanin(i))
                .max()
                .unwrap_or(0) as u64
        })
        .max()
        .unwrap_or(0);
    CoreBounds {
        by_neurons: div_ceil(neurons, u64::from(target.core.neurons)),
        by_synapse_memory: div_ceil(min_bits, target.core.synapse_memory_bits),
        // A fan-in larger than the axon budget cannot be mapped at all; otherwise one core.
        by_input_axons: u64::from(neurons > 0 && max_fanin <= u64::from(target.core.input_axons)),
    }
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
        let incoming = incoming(net, pi);
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

/// The input axons one neuron needs: `(projection, pre)` for each synapse arriving at it.
fn neuron_axons(net: &QuantNet, incoming: &[usize], neuron: usize, out: &mut Vec<AxonKey>) {
    out.clear();
    for &k in incoming {
        for (pre, _) in net.projections[k].synapses.inputs(neuron) {
            out.push(AxonKey {
                projection: k as u32,
                pre,
            });
        }
    }
}

/// Order in which the heuristic visits populations.
#[derive(Clone, Copy, Debug)]
enum Order {
    Forward,
    Reverse,
    FaninDescending,
}

/// Open cores the best-fit search looks at (the most recent ones), so the pass stays linear;
/// big nets look at fewer.
const SEARCH_WINDOW: usize = 16;
const SEARCH_WINDOW_BIG: usize = 2;
/// Nets up to this many neurons try every visiting order and keep the best partition.
const MULTI_START_NEURONS: usize = 200_000;

/// Heuristic partition: axon-aware best fit. Each neuron goes to the open core (among the most
/// recent [`SEARCH_WINDOW`]) where it fits and adds the fewest new input axons, else to a new
/// core. Small and medium nets are partitioned in several population orders and the partition
/// with the fewest cores (then the fewest axons) is kept.
pub fn partition(net: &QuantNet, target: &Target) -> Result<Partition, Vec<Violation>> {
    let violations = unmappable_neurons(net, target);
    if !violations.is_empty() {
        return Err(violations);
    }
    let orders: &[Order] = if net.num_neurons() <= MULTI_START_NEURONS {
        &[Order::Forward, Order::Reverse, Order::FaninDescending]
    } else {
        &[Order::Forward]
    };
    let mut best: Option<Partition> = None;
    for &order in orders {
        let candidate = best_fit(net, target, order);
        let better = match &best {
            None => true,
            Some(b) => {
                let axons = |p: &Partition| p.cores.iter().map(|c| c.axons.len()).sum::<usize>();
                (candidate.cores.len(), axons(&candidate)) < (b.cores.len(), axons(b))
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    Ok(best.unwrap_or_default())
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
        let incoming = incoming(net, pi);
        let (mut too_many_axons, mut too_many_bits, mut worst_fanin, mut worst_bits) =
            (0u64, 0u64, 0u64, 0u64);
        for n in 0..pop.size() {
            neuron_axons(net, &incoming, n, &mut axons);
            let alone_bits = target.synapse_bits(axons.len() as u64, axons.len() as u64);
            if axons.len() > max_axons {
                too_many_axons += 1;
                worst_fanin = worst_fanin.max(axons.len() as u64);
            }
            if alone_bits > max_bits {
                too_many_bits += 1;
                worst_bits = worst_bits.max(alone_bits);
            }
        }
        if too_many_axons > 0 {
            let hint = if target.core.fanin_split {
                "fan-in splitting into partial-sum compartments is not implemented yet; raise core.input_axons".to_string()
            } else {
                format!(
                    "raise core.input_axons to {worst_fanin} or allow fan-in splitting (core.fanin_split)"
                )
            };
            violations.push(Violation {
                kind: "input_axons".into(),
                place: format!(
                    "population {} ({too_many_axons} of {} neurons)",
                    pop.name,
                    pop.size()
                ),
                value: worst_fanin,
                limit: u64::from(target.core.input_axons),
                hint,
            });
        }
        if too_many_bits > 0 {
            violations.push(Violation {
                kind: "synapse_memory_bits".into(),
                place: format!("population {} ({too_many_bits} of {} neurons)", pop.name, pop.size()),
                value: worst_bits,
                limit: max_bits,
                hint: format!("one neuron's synapses need {worst_bits} bits; raise core.synapse_memory_bits or lower weight_bits"),
            });
        }
    }
    violations
}

fn incoming(net: &QuantNet, pi: usize) -> Vec<usize> {
    (0..net.projections.len())
        .filter(|&k| net.projections[k].to == pi)
        .collect()
}

fn best_fit(net: &QuantNet, target: &Target, order: Order) -> Partition {
    let max_neurons = target.core.neurons as usize;
    let max_axons = target.core.input_axons as usize;
    let max_bits = target.core.synapse_memory_bits;
    let mut cores: Vec<CoreAssignment> = Vec::new();
    let mut sets: Vec<HashSet<AxonKey>> = Vec::new();
    let mut location: Vec<Vec<(u32, u32)>> = net
        .populations
        .iter()
        .map(|p| vec![(u32::MAX, u32::MAX); if p.neuron.is_some() { p.size() } else { 0 }])
        .collect();
    let mut pops: Vec<usize> = crate::population_order(net);
    match order {
        Order::Forward => {}
        Order::Reverse => pops.reverse(),
        Order::FaninDescending => {
            let fanin = |p: usize| -> usize {
                incoming(net, p)
                    .iter()
                    .map(|&k| net.projections[k].synapses.num_synapses())
                    .sum::<usize>()
                    / net.populations[p].size().max(1)
            };
            pops.sort_by_key(|&p| std::cmp::Reverse(fanin(p)));
        }
    }
    let window = if net.num_neurons() <= MULTI_START_NEURONS {
        SEARCH_WINDOW
    } else {
        SEARCH_WINDOW_BIG
    };
    let mut axons = Vec::new();
    for pi in pops {
        let incoming = incoming(net, pi);
        for n in tiled_order(&net.populations[pi].shape, max_neurons) {
            neuron_axons(net, &incoming, n, &mut axons);
            let first = cores.len().saturating_sub(window);
            let mut choice: Option<(usize, usize)> = None;
            // Newest core first: consecutive neurons usually share their inputs.
            for c in (first..cores.len()).rev() {
                let core = &cores[c];
                if core.neurons.len() >= max_neurons {
                    continue;
                }
                let bound = choice.map_or(usize::MAX, |(_, best)| best);
                let mut new_axons = 0;
                for a in &axons {
                    if !sets[c].contains(a) {
                        new_axons += 1;
                        if new_axons >= bound {
                            break;
                        }
                    }
                }
                if new_axons >= bound {
                    continue;
                }
                let total_axons = core.axons.len() + new_axons;
                if total_axons > max_axons
                    || target.synapse_bits(core.synapses + axons.len() as u64, total_axons as u64)
                        > max_bits
                {
                    continue;
                }
                choice = Some((c, new_axons));
                if new_axons == 0 {
                    break;
                }
            }
            let c = match choice {
                Some((c, _)) => c,
                None => {
                    cores.push(CoreAssignment::default());
                    sets.push(HashSet::new());
                    cores.len() - 1
                }
            };
            let core = &mut cores[c];
            for a in &axons {
                if sets[c].insert(*a) {
                    core.axons.push(*a);
                }
            }
            core.synapses += axons.len() as u64;
            location[pi][n] = (c as u32, core.neurons.len() as u32);
            core.neurons.push((pi as u32, n as u32));
        }
    }
    Partition { cores, location }
}

/// Neuron indices of a population in visiting order: image-shaped (`[c, h, w]`) populations
/// go tile by tile (all channels of a `t x t` patch, `c * t * t` close to a core's neuron count),
/// so a core holds a compact patch whose receptive fields overlap; flat ones go in order.
fn tiled_order(shape: &[usize], neurons_per_core: usize) -> Vec<usize> {
    let [c, h, w] = shape else {
        return (0..shape.iter().product()).collect();
    };
    let (c, h, w) = (*c, *h, *w);
    let side = ((neurons_per_core / c.max(1)) as f64)
        .sqrt()
        .floor()
        .max(1.0) as usize;
    let mut order = Vec::with_capacity(c * h * w);
    for ty in (0..h).step_by(side) {
        for tx in (0..w).step_by(side) {
            for y in ty..(ty + side).min(h) {
                for x in tx..(tx + side).min(w) {
                    for ch in 0..c {
                        order.push((ch * h + y) * w + x);
                    }
                }
            }
        }
    }
    order
}

/// Checks a partition against every per-core limit (the verifier run after the pass).
pub fn verify(partition: &Partition, target: &Target) -> Vec<String> {
    let mut errors = Vec::new();
    for (c, core) in partition.cores.iter().enumerate() {
        if core.neurons.len() > target.core.neurons as usize {
            errors.push(format!(
                "core {c}: {} neurons > {}",
                core.neurons.len(),
                target.core.neurons
            ));
        }
        if core.axons.len() > target.core.input_axons as usize {
            errors.push(format!(
                "core {c}: {} axons > {}",
                core.axons.len(),
                target.core.input_axons
            ));
        }
        let bits = target.synapse_bits(core.synapses, core.axons.len() as u64);
        if bits > target.core.synapse_memory_bits {
            errors.push(format!(
                "core {c}: {bits} synapse bits > {}",
                target.core.synapse_memory_bits
            ));
        }
    }
    errors
}
