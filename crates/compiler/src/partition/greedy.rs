//! The heuristic: axon-aware best fit of neurons (or their fan-in shares) onto cores, in
//! several population orders on small and medium nets, in parallel runs on big ones.

use rayon::prelude::*;

use lifchip_target::Target;

use super::rows::{CoreFill, Snapshot};
use super::{
    CoreAssignment, Partition, SplitNeuron, counted_axons, incoming_projections, input_shares,
    neuron_axons, refine::eliminate_cores, splittable, unmappable_neurons,
};
use crate::{QuantNet, Violation};

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
/// Nets up to this many neurons use the wide search window.
const WIDE_WINDOW_NEURONS: usize = 200_000;
/// Nets up to this many synapses try every visiting order (in parallel) and keep the best
/// partition; bigger ones take the data-flow order only, keeping compile time linear.
const MULTI_START_SYNAPSES: usize = 2_000_000;
/// Bigger nets are cut into this many runs of populations, partitioned in parallel.
const PARALLEL_RUNS: usize = 2;

/// Heuristic partition: axon-aware best fit (not first fit). Each neuron (or fan-in share)
/// goes to the open core, among the most recent [`SEARCH_WINDOW`], where it fits and adds the
/// fewest new input axons (with a rate profile: the least new traffic), else to a new core.
/// Small and medium nets are partitioned in several population orders and the partition with
/// the fewest cores (then the least traffic into cores) is kept.
pub fn partition(net: &QuantNet, target: &Target) -> Result<Partition, Vec<Violation>> {
    let violations = unmappable_neurons(net, target);
    if !violations.is_empty() {
        return Err(violations);
    }
    if net.num_synapses() > MULTI_START_SYNAPSES {
        // Big nets: the data-flow order, cut into runs of about equal work that are
        // partitioned in parallel and concatenated (a run's first core is not shared with the
        // previous run's last: at most one core per cut). The cut depends on the net only,
        // so the result does not depend on the number of threads.
        let pops = visiting_order(net, Order::Forward);
        let parts: Vec<Partition> = balanced_runs(net, &pops, PARALLEL_RUNS)
            .par_iter()
            .map(|run| best_fit(net, target, run))
            .collect();
        return Ok(concatenate(parts));
    }
    let orders = [Order::Forward, Order::Reverse, Order::FaninDescending];
    let candidates: Vec<Partition> = orders
        .par_iter()
        .map(|&order| best_fit(net, target, &visiting_order(net, order)))
        .collect();
    // The fewest cores, then the least traffic into cores (axons weighted by their sources'
    // packet weights: the axon count without a profile); ties go to the earlier order.
    let traffic = |p: &Partition| -> u64 {
        p.cores
            .iter()
            .flat_map(|c| &c.axons)
            .map(|a| net.packet_weight(net.projections[a.projection as usize].from, a.pre))
            .sum()
    };
    let best = candidates
        .into_iter()
        .enumerate()
        .min_by_key(|(k, p)| (p.cores.len(), traffic(p), *k))
        .map(|(_, p)| p);
    Ok(best.unwrap_or_default())
}

/// Neuron populations in the order `order` visits them.
fn visiting_order(net: &QuantNet, order: Order) -> Vec<usize> {
    let mut pops: Vec<usize> = crate::population_order(net);
    match order {
        Order::Forward => {}
        Order::Reverse => pops.reverse(),
        Order::FaninDescending => {
            let fanin = |p: usize| -> usize {
                incoming_projections(net, p)
                    .iter()
                    .map(|&k| net.projections[k].synapses.num_synapses())
                    .sum::<usize>()
                    / net.populations[p].size().max(1)
            };
            pops.sort_by_key(|&p| std::cmp::Reverse(fanin(p)));
        }
    }
    pops
}

/// Splits `pops` into at most `parts` consecutive runs of about equal synapse counts.
fn balanced_runs(net: &QuantNet, pops: &[usize], parts: usize) -> Vec<Vec<usize>> {
    let weight = |p: usize| -> usize {
        incoming_projections(net, p)
            .iter()
            .map(|&k| net.projections[k].synapses.num_synapses())
            .sum::<usize>()
            + net.populations[p].size()
    };
    let total: usize = pops.iter().map(|&p| weight(p)).sum();
    let mut runs: Vec<Vec<usize>> = vec![Vec::new()];
    let mut done = 0usize;
    for &p in pops {
        let w = weight(p);
        // Start a new run where this population's midpoint passes the next share boundary.
        let boundary = total * runs.len() / parts;
        if runs.len() < parts && !runs[runs.len() - 1].is_empty() && done + w / 2 > boundary {
            runs.push(Vec::new());
        }
        if let Some(run) = runs.last_mut() {
            run.push(p);
        }
        done += w;
    }
    runs
}

/// Concatenates partitions of disjoint population sets: the cores of each follow the
/// previous ones.
fn concatenate(parts: Vec<Partition>) -> Partition {
    let mut out = Partition::default();
    for part in parts {
        let offset = out.cores.len() as u32;
        if out.location.is_empty() {
            out.location = part.location;
        } else {
            for (mine, theirs) in out.location.iter_mut().zip(part.location) {
                for (m, t) in mine.iter_mut().zip(theirs) {
                    if t.0 != u32::MAX {
                        *m = (t.0 + offset, t.1);
                    }
                }
            }
        }
        for (key, mut neuron) in part.split {
            for at in &mut neuron.partials {
                at.0 += offset;
            }
            out.split.insert(key, neuron);
        }
        out.cores.extend(part.cores);
    }
    out
}

/// Axon-aware best fit of the neurons of `pops`, in that order, onto new cores (the
/// locations of other populations' neurons stay unset).
fn best_fit(net: &QuantNet, target: &Target, pops: &[usize]) -> Partition {
    let max_neurons = target.core.neurons as usize;
    let max_axons = target.core.input_axons as usize;
    let max_bits = target.core.synapse_memory_bits;
    let mut cores: Vec<CoreAssignment> = Vec::new();
    let mut fills: Vec<CoreFill> = Vec::new();
    let mut location: Vec<Vec<(u32, u32)>> = net
        .populations
        .iter()
        .map(|p| vec![(u32::MAX, u32::MAX); if p.neuron.is_some() { p.size() } else { 0 }])
        .collect();
    let window = if net.num_neurons() <= WIDE_WINDOW_NEURONS {
        SEARCH_WINDOW
    } else {
        SEARCH_WINDOW_BIG
    };
    let profiled = net.packet_weights.is_some();
    // Only `eliminate_cores` (small nets) reads the fills of cores outside the window.
    let release = net.num_synapses() > MULTI_START_SYNAPSES;
    let mut split = std::collections::BTreeMap::new();
    let mut axons = Vec::new();
    let mut log = Vec::new();
    for &pi in pops {
        let incoming = incoming_projections(net, pi);
        let split_pop = splittable(target);
        for n in tiled_order(&net.populations[pi].shape, max_neurons) {
            // One share holding every input unless the population may be split.
            let shares = if split_pop {
                input_shares(net, target, pi, n)
            } else {
                std::iter::once(0..usize::MAX).collect()
            };
            for (share_index, share) in shares.iter().enumerate() {
                neuron_axons(net, &incoming, n, share.clone(), &mut axons);
                // Distinct axon keys (no repeated presynaptic neuron within a projection): a
                // read-only count of the new axons then rejects a core exactly as the
                // tentative add would, without making and undoing it.
                // (With `core.neuron_rows` not every new axon counts: always the tentative add.)
                let distinct = !target.core.neuron_rows
                    && axons.windows(2).all(|w| {
                        w[0].axon.projection != w[1].axon.projection
                            || w[0].axon.pre < w[1].axon.pre
                    });
                let first = cores.len().saturating_sub(window);
                // (core, cost) of the best fit so far: the fewest new axons, or with a rate
                // profile the least new traffic (then the fewest new axons).
                let mut choice: Option<(usize, (u64, usize))> = None;
                let mut placed = None;
                // Newest core first: consecutive neurons usually share their inputs. Each try is a
                // tentative add, kept when it needs no new axon and undone otherwise.
                for c in (first..cores.len()).rev() {
                    let core = &mut cores[c];
                    if !core.has_room(pi as u32, net.readout, target) {
                        continue;
                    }
                    // Without a profile, a core needing as many new axons as the best is no better.
                    let bound = match choice {
                        Some((_, (_, axons))) if !profiled => axons,
                        _ => usize::MAX,
                    };
                    if distinct {
                        let room = max_axons.saturating_sub(core.axons.len());
                        let new = fills[c].new_axons(&axons, bound.min(room.saturating_add(1)));
                        // `add` would return `None` (new >= bound), or the core would not fit.
                        if new >= bound || new > room {
                            continue;
                        }
                    }
                    let before = Snapshot::of(core);
                    let local = core.neurons.len() as u32;
                    let added = fills[c].add(&axons, local, target, core, bound, &mut log);
                    let fits = counted_axons(net, target, &core.axons) <= max_axons
                        && core.synapse_bits <= max_bits;
                    match added {
                        Some(a) if fits && a.axons == 0 => {
                            placed = Some(c);
                            break;
                        }
                        Some(a) if fits => {
                            let cost = (if profiled { a.packets } else { 0 }, a.axons);
                            if choice.is_none_or(|(_, best)| cost < best) {
                                choice = Some((c, cost));
                            }
                        }
                        _ => {}
                    }
                    fills[c].undo(&log, target, core, before);
                }
                let c = match (placed, choice) {
                    (Some(c), _) => c,
                    (None, choice) => {
                        let c = match choice {
                            Some((c, _)) => c,
                            None => {
                                cores.push(CoreAssignment::default());
                                let mut fill = CoreFill::default();
                                if release {
                                    // The core that just left the search window is never
                                    // tried again: its row tables (on a fan-in-heavy net,
                                    // ~4,000 rows per core and most of the pass's memory)
                                    // go, emptied, to the new core, whose tables then grow
                                    // without rehashing; its axon list is trimmed.
                                    if let Some(old) = cores.len().checked_sub(window + 1) {
                                        fill = std::mem::take(&mut fills[old]);
                                        fill.clear();
                                        cores[old].axons.shrink_to_fit();
                                    }
                                }
                                fills.push(fill);
                                cores.len() - 1
                            }
                        };
                        let core = &mut cores[c];
                        let local = core.neurons.len() as u32;
                        fills[c].add(&axons, local, target, core, usize::MAX, &mut log);
                        c
                    }
                };
                let core = &mut cores[c];
                let at = (c as u32, core.neurons.len() as u32);
                if share_index == 0 {
                    location[pi][n] = at;
                } else {
                    split
                        .entry((pi as u32, n as u32))
                        .or_insert_with(|| SplitNeuron {
                            shares: shares.clone(),
                            partials: Vec::new(),
                        })
                        .partials
                        .push(at);
                }
                core.neurons.push((pi as u32, n as u32));
                core.shares.push(share_index as u16);
            }
        }
    }
    let mut partition = Partition {
        cores,
        location,
        split,
    };
    if !release {
        eliminate_cores(net, target, &mut partition, &mut fills);
    }
    partition
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
