//! The native backend: turns the compiler's [`Mapped`] program into a [`ChipConfig`] (or, for
//! big chips, straight into the flat tables of a [`FlatChip`]).
//!
//! One job: lay the mapped program out the way a loader would write it into the chip — per
//! core, compartment configuration, input-axon synapse rows grouped by projection (each group
//! carrying its weight exponent), and fan-out destinations; plus how external inputs enter.
//! It makes no mapping decisions (those are the compiler's: which core and compartment each
//! neuron and fan-in share takes, which inputs each share holds, where cores sit) and writes no
//! files (the `chip` crate does).

use rustc_hash::FxHashMap;

use lifchip_chip::{
    ChipConfig, ChipError, Compartment, Destination, FlatChip, FlatChipBuilder, PartialRoot,
    PopulationInfo, Synapse,
};
use lifchip_compiler::{AxonKey, Mapped, incoming_projections, share_inputs};
use lifchip_target::Target;

/// Lays out `mapped` for `target`.
///
/// Fails only on a program no chip can hold: a core with more than `u32::MAX` synapses.
pub fn emit(mapped: &Mapped, target: &Target) -> Result<ChipConfig, ChipError> {
    emit_flat(mapped, target).map(FlatChip::into_config)
}

/// [`emit`] into a [`FlatChip`]: each axon's row goes straight into the chip's synapse table
/// (~16 bytes per synapse with its axon entry, against ~64 in a [`ChipConfig`] of one-synapse
/// rows), for big chips; write it with [`lifchip_chip::write_chipdir_flat`].
pub fn emit_flat(mapped: &Mapped, target: &Target) -> Result<FlatChip, ChipError> {
    let net = &mapped.net;
    let partition = &mapped.partition;
    // Fan-out of every neuron (including inputs): one destination per (core, axon) that
    // lists it as a source. Counted first, so that each list is allocated once at its length
    // (grown by pushes, the lists of a random net's neurons reallocated ~11 times each and
    // kept up to twice the room).
    let mut fan_out: Vec<Vec<u32>> = net.populations.iter().map(|p| vec![0; p.size()]).collect();
    for key in partition.cores.iter().flat_map(|a| &a.axons) {
        let from = net.projections[key.projection as usize].from;
        if let Some(n) = fan_out[from].get_mut(key.pre as usize) {
            *n += 1;
        }
    }
    let mut destinations: Vec<Vec<Vec<Destination>>> = fan_out
        .iter()
        .map(|counts| {
            counts
                .iter()
                .map(|&n| Vec::with_capacity(n as usize))
                .collect()
        })
        .collect();
    drop(fan_out);
    let mut chip = FlatChipBuilder::new(
        target.clone(),
        partition.cores.iter().map(|c| c.axons.len() as u64).sum(),
        net.num_synapses() as u64,
    );
    let max_threshold = if target.precision.threshold_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << target.precision.threshold_bits) - 1
    };
    // Accumulator groups of each core: one per projection with axons there, plus one per
    // projection whose partial sums join a split neuron's compartment there (it may have no
    // axons of that projection on its own core).
    let mut core_groups: Vec<Vec<u32>> = partition
        .cores
        .iter()
        .map(|a| a.axons.iter().map(|k| k.projection).collect())
        .collect();
    for (&(pop, neuron), split) in &partition.split {
        let (pop, neuron) = (pop as usize, neuron as usize);
        let root = partition.location[pop][neuron].0 as usize;
        let incoming = incoming_projections(net, pop);
        for range in split.shares.iter().skip(1) {
            if let Some((key, _)) = share_inputs(net, &incoming, neuron, range.clone()).next() {
                core_groups[root].push(key.projection);
            }
        }
    }
    for groups in &mut core_groups {
        groups.sort_unstable();
        groups.dedup();
    }
    let group_on = |core: usize, projection: u32| -> u16 {
        core_groups[core].binary_search(&projection).unwrap_or(0) as u16
    };
    let mut core_synapses: Vec<(u32, Synapse)> = Vec::new();
    // Per-core buffers, reused: the axons in order, with their sort keys, and their indices.
    let mut keyed: Vec<u128> = Vec::new();
    // Each projection's source population, ranked: input populations first, then the others,
    // each in population order.
    let mut by_source: Vec<(bool, usize)> = net
        .populations
        .iter()
        .enumerate()
        .map(|(k, p)| (p.neuron.is_some(), k))
        .collect();
    by_source.sort_unstable();
    let mut population_rank = vec![0u32; net.populations.len()];
    for (rank, &(_, k)) in by_source.iter().enumerate() {
        population_rank[k] = rank as u32;
    }
    let source_rank: Vec<u32> = net
        .projections
        .iter()
        .map(|p| population_rank[p.from])
        .collect();
    let mut core_axons: Vec<AxonKey> = Vec::new();
    let mut axon_index: FxHashMap<AxonKey, u32> = FxHashMap::default();
    let mut rows: Vec<Synapse> = Vec::new();
    let mut row_start: Vec<usize> = Vec::new();
    for (c, assignment) in partition.cores.iter().enumerate() {
        // Axons are numbered by source: input channels first, then neurons by (population,
        // neuron), then projection. Deliveries within a core follow axon order, so this makes
        // per-event saturating targets add in the documented order.
        // One integer per axon, `(rank of its source population, pre, projection)`: keys are
        // distinct within a core, so the unstable sort has one outcome.
        keyed.clear();
        keyed.extend(assignment.axons.iter().map(|key| {
            (u128::from(source_rank[key.projection as usize]) << 64)
                | (u128::from(key.pre) << 32)
                | u128::from(key.projection)
        }));
        keyed.sort_unstable();
        core_axons.clear();
        core_axons.extend(keyed.iter().map(|&k| AxonKey {
            projection: k as u32,
            pre: (k >> 32) as u32,
        }));
        axon_index.clear();
        axon_index.extend(
            core_axons
                .iter()
                .enumerate()
                .map(|(k, key)| (*key, k as u32)),
        );
        let groups = &core_groups[c];
        for (k, key) in core_axons.iter().enumerate() {
            let from = net.projections[key.projection as usize].from;
            destinations[from][key.pre as usize].push(Destination {
                core: c as u32,
                axon: k as u32,
            });
        }
        // The core's synapses in delivery order, `(axon, synapse)`, then sorted by axon
        // (stably: a row keeps its delivery order) into the core's rows.
        core_synapses.clear();
        let mut compartments = Vec::with_capacity(assignment.neurons.len());
        for (slot, (&(pop, neuron), &share)) in assignment
            .neurons
            .iter()
            .zip(&assignment.shares)
            .enumerate()
        {
            // This compartment's share of the neuron's input list (all of it unless split).
            let range = partition.share_range(pop, neuron, share);
            let (pop, neuron) = (pop as usize, neuron as usize);
            let incoming = incoming_projections(net, pop);
            let projection = share_inputs(net, &incoming, neuron, range.clone())
                .next()
                .map_or(0, |(key, _)| key.projection);
            for (key, weight) in share_inputs(net, &incoming, neuron, range) {
                if let Some(&a) = axon_index.get(&key) {
                    core_synapses.push((
                        a,
                        Synapse {
                            compartment: slot as u32,
                            weight,
                        },
                    ));
                }
            }
            let params = net.populations[pop].neuron.as_ref();
            let max_spikes = if pop == net.readout {
                target.neuron.readout_max_spikes_per_tick
            } else {
                target.neuron.max_spikes_per_tick
            };
            let compartment = Compartment {
                population: pop as u32,
                neuron: neuron as u32,
                current_decay: params.map_or(0, |p| p.current_decay.at(neuron, 0)),
                current_decay_2: params.map_or(0, |p| p.current_decay_2.at(neuron, 0)),
                voltage_decay: params.map_or(0, |p| p.voltage_decay.at(neuron, 0)),
                threshold: params.map_or(0, |p| p.threshold.at(neuron, 0)),
                bias: params
                    .and_then(|p| p.bias.get(neuron).copied())
                    .unwrap_or(0),
                bias_exp: params
                    .and_then(|p| p.bias_exp.get(neuron).copied())
                    .unwrap_or(0),
                refractory: params.map_or(0, |p| p.refractory.at(neuron, 0)),
                initial_u: params
                    .and_then(|p| p.initial_u.get(neuron).copied())
                    .map_or(0, |x| x as i32),
                initial_v: params
                    .and_then(|p| p.initial_v.get(neuron).copied())
                    .map_or(0, |x| x as i32),
                max_spikes,
                destinations: Vec::new(),
                partial_of: None,
            };
            compartments.push(if share == 0 {
                compartment
            } else {
                // A partial sum: silent itself (no bias, an unreachable threshold), its input
                // joins its projection's group of the neuron's compartment.
                let (core, slot) = partition.location[pop][neuron];
                Compartment {
                    bias: 0,
                    bias_exp: 0,
                    initial_u: 0,
                    initial_v: 0,
                    threshold: max_threshold,
                    partial_of: Some(PartialRoot {
                        core,
                        compartment: slot,
                        group: group_on(core as usize, projection),
                    }),
                    ..compartment
                }
            });
        }
        row_start.clear();
        row_start.resize(core_axons.len() + 1, 0);
        for &(a, _) in &core_synapses {
            row_start[a as usize + 1] += 1;
        }
        for k in 1..row_start.len() {
            row_start[k] += row_start[k - 1];
        }
        rows.clear();
        rows.resize(
            core_synapses.len(),
            Synapse {
                compartment: 0,
                weight: 0,
            },
        );
        let mut next = row_start.clone();
        for &(a, synapse) in &core_synapses {
            rows[next[a as usize]] = synapse;
            next[a as usize] += 1;
        }
        chip.begin_core(
            c as u32,
            mapped.positions[c],
            groups
                .iter()
                .map(|&q| net.projections[q as usize].weight_exp)
                .collect(),
            compartments,
        );
        for (k, key) in core_axons.iter().enumerate() {
            chip.push_axon(
                group_on(c, key.projection),
                net.projections[key.projection as usize].current,
                &rows[row_start[k]..row_start[k + 1]],
            );
        }
    }
    // Each list moves to its compartment or input (no copies: 32 M entries at 32 M synapses).
    for (pop, neurons) in destinations.iter_mut().enumerate() {
        for (neuron, dests) in neurons.iter_mut().enumerate() {
            if let Some(&(core, slot)) = partition.location[pop].get(neuron) {
                // Inputs' lists are read again below.
                let mut dests = if net.populations[pop].neuron.is_some() {
                    std::mem::take(dests)
                } else {
                    dests.clone()
                };
                dests.sort_unstable();
                if let Some(compartment) = chip
                    .compartments_mut(core as usize)
                    .and_then(|c| c.get_mut(slot as usize))
                {
                    compartment.destinations = dests;
                }
            }
        }
    }
    let mut inputs = Vec::new();
    for (pop, p) in net.populations.iter().enumerate() {
        if p.neuron.is_none() {
            for mut dests in std::mem::take(&mut destinations[pop]) {
                dests.sort_unstable();
                inputs.push(dests);
            }
        }
    }
    chip.net_name = net.name.clone();
    chip.net_hash = net.hash;
    chip.populations = net
        .populations
        .iter()
        .enumerate()
        .map(|(k, p)| PopulationInfo {
            name: p.name.clone(),
            shape: p.shape.clone(),
            is_input: p.neuron.is_none(),
            placement: partition.location[k].clone(),
        })
        .collect();
    chip.inputs = inputs;
    chip.readout = net.readout as u32;
    chip.input_rate = net.input_rate;
    chip.finish()
}
