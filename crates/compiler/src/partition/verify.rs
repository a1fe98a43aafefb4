//! The verifier run after the partition pass: an independent check of every limit and of the
//! fan-in shares the partition carries. It shares no code with the pass that made them: rows
//! are rebuilt from the net and the locations, and shares are checked for what they must be
//! (consecutive, covering every input once, one projection each, within the axon limit).

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use lifchip_target::Target;

use super::rows::{entry, mix};
use super::{
    AxonKey, CoreAssignment, Partition, counts_axon, incoming_projections, share_inputs, splittable,
};
use crate::QuantNet;

/// Something the verifier found wrong with a partition the compiler made: a compiler bug, never
/// a property of the user's net (those are [`crate::Violation`]s).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("core {core}: {shares} shares for {compartments} compartments")]
    ShareList {
        core: usize,
        shares: usize,
        compartments: usize,
    },
    #[error(
        "core {core} compartment {compartment} holds share {share} of population {population} neuron {neuron}, whose location is {location:?}"
    )]
    Misplaced {
        core: usize,
        compartment: usize,
        share: u16,
        population: u32,
        neuron: u32,
        location: Option<(u32, u32)>,
    },
    #[error("{placed} neurons placed of {neurons}")]
    Placed { placed: usize, neurons: usize },
    #[error("population {population} neuron {neuron} is split, but the target does not allow it")]
    SplitNotAllowed { population: u32, neuron: u32 },
    #[error(
        "population {population} neuron {neuron}: {shares} shares for {compartments} compartments"
    )]
    SplitCompartments {
        population: u32,
        neuron: u32,
        shares: usize,
        compartments: usize,
    },
    #[error(
        "population {population} neuron {neuron}: share {share} ({start}..{end}) does not continue at input {expected} or is empty"
    )]
    ShareGap {
        population: u32,
        neuron: u32,
        share: usize,
        start: usize,
        end: usize,
        expected: usize,
    },
    #[error("population {population} neuron {neuron}: shares cover {covered} of {fanin} inputs")]
    ShareCover {
        population: u32,
        neuron: u32,
        covered: usize,
        fanin: usize,
    },
    #[error("population {population} neuron {neuron}: share {share} mixes projections")]
    ShareMixes {
        population: u32,
        neuron: u32,
        share: usize,
    },
    #[error("population {population} neuron {neuron}: share {share} needs {axons} axons > {limit}")]
    ShareAxons {
        population: u32,
        neuron: u32,
        share: usize,
        axons: usize,
        limit: u32,
    },
    #[error("core {core}: {neurons} neurons > {limit}")]
    Neurons {
        core: usize,
        neurons: usize,
        limit: u32,
    },
    #[error(
        "core {core}: the pass counted {counted_axons} axons and {counted_synapses} synapses, the net gives {axons} and {synapses}"
    )]
    Counts {
        core: usize,
        counted_axons: usize,
        counted_synapses: u64,
        axons: usize,
        synapses: u64,
    },
    #[error("core {core}: {axons} axons > {limit}")]
    Axons {
        core: usize,
        axons: usize,
        limit: u32,
    },
    #[error("core {core}: the pass counted {counted} synapse bits, the rows take {bits}")]
    BitsCounted {
        core: usize,
        counted: u64,
        bits: u64,
    },
    #[error("core {core}: {bits} synapse bits > {limit}")]
    Bits { core: usize, bits: u64, limit: u64 },
}

/// Checks a partition against every per-core limit (the verifier run after the pass). It
/// checks that every neuron is placed exactly once and every split neuron's shares, then
/// rebuilds each core's rows from the net, the locations and the shares, independently of the
/// bookkeeping of the pass (shared rows are compared by content, not only by hash). Cores are
/// checked in parallel.
pub fn verify(net: &QuantNet, partition: &Partition, target: &Target) -> Vec<VerifyError> {
    let mut errors = Vec::new();
    let mut placed = 0usize;
    for (c, core) in partition.cores.iter().enumerate() {
        if core.shares.len() != core.neurons.len() {
            errors.push(VerifyError::ShareList {
                core: c,
                shares: core.shares.len(),
                compartments: core.neurons.len(),
            });
            continue;
        }
        for (local, (&(pi, n), &share)) in core.neurons.iter().zip(&core.shares).enumerate() {
            let at = if share == 0 {
                placed += 1;
                partition
                    .location
                    .get(pi as usize)
                    .and_then(|l| l.get(n as usize))
            } else {
                partition
                    .split
                    .get(&(pi, n))
                    .and_then(|s| s.partials.get(usize::from(share) - 1))
            };
            if at != Some(&(c as u32, local as u32)) {
                errors.push(VerifyError::Misplaced {
                    core: c,
                    compartment: local,
                    share,
                    population: pi,
                    neuron: n,
                    location: at.copied(),
                });
            }
        }
    }
    if placed != net.num_neurons() {
        errors.push(VerifyError::Placed {
            placed,
            neurons: net.num_neurons(),
        });
    }
    verify_shares(net, partition, target, &mut errors);
    if !errors.is_empty() {
        return errors;
    }
    let incoming: Vec<Vec<usize>> = (0..net.populations.len())
        .map(|p| incoming_projections(net, p))
        .collect();
    let per_core: Vec<Vec<VerifyError>> = partition
        .cores
        .par_iter()
        .enumerate()
        .map_init(Scratch::default, |scratch, (c, core)| {
            verify_core(net, partition, &incoming, c, core, target, scratch)
        })
        .collect();
    errors.extend(per_core.into_iter().flatten());
    errors
}

/// Every split neuron's shares: allowed by the target, one compartment each, consecutive and
/// non-empty from input 0 to its fan-in, each within one projection and the axon limit.
fn verify_shares(
    net: &QuantNet,
    partition: &Partition,
    target: &Target,
    errors: &mut Vec<VerifyError>,
) {
    'neurons: for (&(population, neuron), split) in &partition.split {
        let (pi, n) = (population as usize, neuron as usize);
        if !splittable(target) {
            errors.push(VerifyError::SplitNotAllowed { population, neuron });
        }
        if split.shares.len() != split.partials.len() + 1 {
            errors.push(VerifyError::SplitCompartments {
                population,
                neuron,
                shares: split.shares.len(),
                compartments: split.partials.len() + 1,
            });
        }
        let incoming = incoming_projections(net, pi);
        // Where each incoming projection's inputs end in the neuron's input list.
        let mut ends = Vec::with_capacity(incoming.len());
        let mut fanin = 0usize;
        for &k in &incoming {
            fanin += net.projections[k].synapses.fanin(n);
            ends.push(fanin);
        }
        let mut expected = 0usize;
        for (share, range) in split.shares.iter().enumerate() {
            if range.start != expected || range.end <= range.start {
                errors.push(VerifyError::ShareGap {
                    population,
                    neuron,
                    share,
                    start: range.start,
                    end: range.end,
                    expected,
                });
                continue 'neurons;
            }
            expected = range.end;
            // The projection segment holding the share's first input must hold its last.
            let segment_end = ends.iter().copied().find(|&e| e > range.start);
            if segment_end.is_none_or(|e| range.end > e) {
                errors.push(VerifyError::ShareMixes {
                    population,
                    neuron,
                    share,
                });
            }
            let axons: FxHashSet<AxonKey> = share_inputs(net, &incoming, n, range.clone())
                .map(|(key, _)| key)
                .filter(|key| counts_axon(net, target, key.projection as usize))
                .collect();
            if axons.len() > target.core.input_axons as usize {
                errors.push(VerifyError::ShareAxons {
                    population,
                    neuron,
                    share,
                    axons: axons.len(),
                    limit: target.core.input_axons,
                });
            }
        }
        if expected != fanin {
            errors.push(VerifyError::ShareCover {
                population,
                neuron,
                covered: expected,
                fanin,
            });
        }
    }
}

/// One thread's buffers for [`verify_core`], reused from core to core (a fan-in-heavy net has
/// ~4,000 rows per core: a `Vec` and a map entry each were most of the pass).
#[derive(Default)]
struct Scratch {
    index: FxHashMap<AxonKey, u32>,
    keys: Vec<AxonKey>,
    /// `(row, compartment, weight)` in visiting order, then each row's `(compartment,
    /// weight)` back to back from `start[row]`.
    entries: Vec<(u32, u32, i32)>,
    flat: Vec<(u32, i32)>,
    start: Vec<usize>,
    /// Rows charged so far by content hash: the first, and the next row of the same hash.
    stored: FxHashMap<u64, u32>,
    chain: Vec<u32>,
}

fn verify_core(
    net: &QuantNet,
    partition: &Partition,
    incoming: &[Vec<usize>],
    c: usize,
    core: &CoreAssignment,
    target: &Target,
    scratch: &mut Scratch,
) -> Vec<VerifyError> {
    let mut errors = Vec::new();
    let Scratch {
        index,
        keys,
        entries,
        flat,
        start,
        stored,
        chain,
    } = scratch;
    // Rows in compartment order, as the core's neurons are visited in local order.
    index.clear();
    keys.clear();
    entries.clear();
    for (local, (&(pi, n), &share)) in core.neurons.iter().zip(&core.shares).enumerate() {
        let range = partition.share_range(pi, n, share);
        for (key, w) in share_inputs(net, &incoming[pi as usize], n as usize, range) {
            let r = *index.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() as u32 - 1
            });
            entries.push((r, local as u32, w));
        }
    }
    // Each row's synapses together, in visiting order (a stable counting sort).
    start.clear();
    start.resize(keys.len() + 1, 0);
    for &(r, _, _) in entries.iter() {
        start[r as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    flat.clear();
    flat.resize(entries.len(), (0, 0));
    for &(r, local, w) in entries.iter() {
        let at = &mut start[r as usize];
        flat[*at] = (local, w);
        *at += 1;
    }
    // `start[r]` is now where row `r` ends: shift back to where it starts.
    start.rotate_right(1);
    start[0] = 0;
    let rows = |r: usize| &flat[start[r]..start[r + 1]];
    // With `core.readout_neurons`, the readout population's compartments have their own budget.
    let separate = target.core.readout_neurons > 0;
    let readout = core
        .neurons
        .iter()
        .filter(|&&(p, _)| separate && p as usize == net.readout)
        .count();
    if core.neurons.len() - readout > target.core.neurons as usize {
        errors.push(VerifyError::Neurons {
            core: c,
            neurons: core.neurons.len() - readout,
            limit: target.core.neurons,
        });
    }
    if readout > target.core.readout_neurons as usize {
        errors.push(VerifyError::Neurons {
            core: c,
            neurons: readout,
            limit: target.core.readout_neurons,
        });
    }
    let axons = keys.len();
    let synapses = flat.len() as u64;
    if axons != core.axons.len() || synapses != core.synapses {
        errors.push(VerifyError::Counts {
            core: c,
            counted_axons: core.axons.len(),
            counted_synapses: core.synapses,
            axons,
            synapses,
        });
    }
    let counted = keys
        .iter()
        .filter(|key| counts_axon(net, target, key.projection as usize))
        .count();
    if counted > target.core.input_axons as usize {
        errors.push(VerifyError::Axons {
            core: c,
            axons: counted,
            limit: target.core.input_axons,
        });
    }
    stored.clear();
    chain.clear();
    chain.resize(keys.len(), u32::MAX);
    let same = |a: &[(u32, i32)], b: &[(u32, i32)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 - a[0].0 == y.0 - b[0].0 && x.1 == y.1)
    };
    let mut bits = target.axon_entries_bits(axons as u64);
    for (r, key) in keys.iter().enumerate() {
        let row = rows(r);
        let (first, last) = (row[0].0, row[row.len() - 1].0);
        if target.core.shared_kernels {
            let hash = row.iter().fold(u64::from(key.projection), |h, &(l, w)| {
                mix(h, entry(l - first, w))
            });
            let head = stored.entry(hash).or_insert(u32::MAX);
            let mut s = *head;
            let mut shared = false;
            while s != u32::MAX {
                if keys[s as usize].projection == key.projection && same(rows(s as usize), row) {
                    shared = true;
                    break;
                }
                s = chain[s as usize];
            }
            if shared {
                continue;
            }
            chain[r] = *head;
            *head = r as u32;
        }
        bits += target.row_bits(row.len() as u64, u64::from(last - first) + 1);
    }
    if bits != core.synapse_bits {
        errors.push(VerifyError::BitsCounted {
            core: c,
            counted: core.synapse_bits,
            bits,
        });
    }
    if bits > target.core.synapse_memory_bits {
        errors.push(VerifyError::Bits {
            core: c,
            bits,
            limit: target.core.synapse_memory_bits,
        });
    }
    errors
}
