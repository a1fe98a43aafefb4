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
        self.by_neurons.max(self.by_synapse_memory).max(self.by_input_axons)
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
        .map(|p| (0..p.synapses.num_post()).map(|i| p.synapses.fanin(i)).max().unwrap_or(0) as u64)
        .max()
        .unwrap_or(0);
    CoreBounds {
        by_neurons: div_ceil(neurons, u64::from(target.core.neurons)),
        by_synapse_memory: div_ceil(min_bits, target.core.synapse_memory_bits),
        // A fan-in larger than the axon budget cannot be mapped at all; otherwise one core.
        by_input_axons: u64::from(neurons > 0 && max_fanin <= u64::from(target.core.input_axons)),
    }
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

/// Greedy first-fit partition in population order.
pub fn partition(net: &QuantNet, target: &Target) -> Result<Partition, Vec<Violation>> {
    let max_neurons = target.core.neurons as usize;
    let max_axons = target.core.input_axons as usize;
    let max_bits = target.core.synapse_memory_bits;
    let mut violations = Vec::new();
    let mut cores: Vec<CoreAssignment> = Vec::new();
    let mut location: Vec<Vec<(u32, u32)>> = vec![Vec::new(); net.populations.len()];
    let mut current = CoreAssignment::default();
    let mut current_set: HashSet<AxonKey> = HashSet::new();
    let mut axons = Vec::new();

    for (pi, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            continue;
        }
        let incoming: Vec<usize> = (0..net.projections.len())
            .filter(|&k| net.projections[k].to == pi)
            .collect();
        let (mut too_many_axons, mut too_many_bits, mut worst_fanin, mut worst_bits) = (0u64, 0u64, 0u64, 0u64);
        for n in 0..pop.size() {
            neuron_axons(net, &incoming, n, &mut axons);
            let alone_bits = target.synapse_bits(axons.len() as u64, axons.len() as u64);
            if axons.len() > max_axons || alone_bits > max_bits {
                if axons.len() > max_axons {
                    too_many_axons += 1;
                    worst_fanin = worst_fanin.max(axons.len() as u64);
                }
                if alone_bits > max_bits {
                    too_many_bits += 1;
                    worst_bits = worst_bits.max(alone_bits);
                }
                location[pi].push((u32::MAX, u32::MAX));
                continue;
            }
            let new_axons = axons.iter().filter(|a| !current_set.contains(a)).count();
            let total_axons = current.axons.len() + new_axons;
            let total_synapses = current.synapses + axons.len() as u64;
            let fits = current.neurons.len() < max_neurons
                && total_axons <= max_axons
                && target.synapse_bits(total_synapses, total_axons as u64) <= max_bits;
            if !fits {
                cores.push(std::mem::take(&mut current));
                current_set.clear();
            }
            for a in &axons {
                if current_set.insert(*a) {
                    current.axons.push(*a);
                }
            }
            current.synapses += axons.len() as u64;
            location[pi].push((cores.len() as u32, current.neurons.len() as u32));
            current.neurons.push((pi as u32, n as u32));
        }
        if too_many_axons > 0 {
            let hint = if target.core.fanin_split {
                "fan-in splitting into partial-sum compartments is not implemented yet; raise core.input_axons".to_string()
            } else {
                format!("raise core.input_axons to {worst_fanin} or allow fan-in splitting (core.fanin_split)")
            };
            violations.push(Violation {
                kind: "input_axons".into(),
                place: format!("population {} ({too_many_axons} of {} neurons)", pop.name, pop.size()),
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
    if !current.neurons.is_empty() {
        cores.push(current);
    }
    if violations.is_empty() {
        Ok(Partition { cores, location })
    } else {
        Err(violations)
    }
}

/// Checks a partition against every per-core limit (the verifier run after the pass).
pub fn verify(partition: &Partition, target: &Target) -> Vec<String> {
    let mut errors = Vec::new();
    for (c, core) in partition.cores.iter().enumerate() {
        if core.neurons.len() > target.core.neurons as usize {
            errors.push(format!("core {c}: {} neurons > {}", core.neurons.len(), target.core.neurons));
        }
        if core.axons.len() > target.core.input_axons as usize {
            errors.push(format!("core {c}: {} axons > {}", core.axons.len(), target.core.input_axons));
        }
        let bits = target.synapse_bits(core.synapses, core.axons.len() as u64);
        if bits > target.core.synapse_memory_bits {
            errors.push(format!("core {c}: {bits} synapse bits > {}", target.core.synapse_memory_bits));
        }
    }
    errors
}
