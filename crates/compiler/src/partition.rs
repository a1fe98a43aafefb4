//! Partition pass: assigns every neuron to a core so that each core meets the target's neuron,
//! input-axon and synapse-memory limits.
//!
//! Assumes: a [`QuantNet`]. Guarantees: every returned core is within every per-core limit, or
//! the neurons that cannot fit anywhere are reported as [`Violation`]s (all at once). Does not:
//! choose mesh positions (see `place`). The heuristic is a greedy first-fit in population order;
//! several small layers share a core, a big layer spills over as many cores as it needs.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

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
    /// Which share of its neuron's inputs each compartment holds (see [`input_shares`]): 0 for
    /// a whole neuron or the first share of a split one (the compartment that spikes), `k >= 1`
    /// for a partial-sum compartment.
    pub shares: Vec<u16>,
    /// Distinct input axons, in first-use order.
    pub axons: Vec<AxonKey>,
    pub synapses: u64,
    /// Synapse memory the target's cost model charges for this core's rows and axon entries.
    pub synapse_bits: u64,
}

/// One axon's row on a core while it is being filled: the compartments it reaches are
/// `first..=last` (local indices, assigned in increasing order) and `count` of them; `content`
/// hashes its `(compartment - first, weight)` sequence, so rows that a target with
/// `shared_kernels` stores once (identical up to a compartment offset) hash alike.
#[derive(Clone, Copy, Debug)]
struct RowSpan {
    first: u32,
    last: u32,
    count: u32,
    content: u64,
}

impl RowSpan {
    fn new(projection: u32, local: u32, weight: i32) -> RowSpan {
        RowSpan {
            first: local,
            last: local,
            count: 1,
            content: mix(
                mix(0x6c69_6663_6869_7021, u64::from(projection)),
                entry(0, weight),
            ),
        }
    }

    fn grown(&self, local: u32, weight: i32) -> RowSpan {
        RowSpan {
            first: self.first,
            last: local,
            count: self.count + 1,
            content: mix(self.content, entry(local - self.first, weight)),
        }
    }

    fn bits(&self, target: &Target) -> u64 {
        target.row_bits(u64::from(self.count), u64::from(self.last - self.first) + 1)
    }
}

fn entry(offset: u32, weight: i32) -> u64 {
    (u64::from(offset) << 32) | u64::from(weight as u32)
}

/// A 64-bit mixing step (splitmix64's finaliser over the running hash and the next word).
fn mix(h: u64, x: u64) -> u64 {
    let mut z = (h ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A core being filled: its rows by axon and, where rows may be shared, how many axons use
/// each distinct row content (memory is charged once per content).
#[derive(Default)]
struct CoreFill {
    rows: FxHashMap<AxonKey, RowSpan>,
    contents: FxHashMap<u64, u32>,
}

/// What adding a neuron to a core brought: new input axons, and the packet weight of their
/// sources (the traffic they add).
#[derive(Clone, Copy)]
struct Added {
    axons: usize,
    packets: u64,
}

/// How to take back one row change of a tentative [`CoreFill::add`].
struct Undo {
    key: AxonKey,
    old: Option<RowSpan>,
}

/// A core's counters before a tentative add, to restore them.
#[derive(Clone, Copy)]
struct Snapshot {
    axons: usize,
    synapses: u64,
    synapse_bits: u64,
}

impl Snapshot {
    fn of(core: &CoreAssignment) -> Snapshot {
        Snapshot {
            axons: core.axons.len(),
            synapses: core.synapses,
            synapse_bits: core.synapse_bits,
        }
    }
}

impl CoreFill {
    /// Adds a neuron with inputs `axons` as compartment `local` of `core`, updating rows,
    /// content counts, the core's axons, synapses and synapse bits, and logging each row change
    /// in `log` so that [`CoreFill::undo`] can take it back. Returns the new axons and their
    /// packet weight, or `None` (after a partial add, to be undone) as soon as the new axons
    /// reach `axon_bound`.
    fn add(
        &mut self,
        axons: &[NeuronInput],
        local: u32,
        target: &Target,
        core: &mut CoreAssignment,
        axon_bound: usize,
        log: &mut Vec<Undo>,
    ) -> Option<Added> {
        use std::collections::hash_map::Entry;
        let shared = target.core.shared_kernels;
        let entry_bits = target.axon_entries_bits(1);
        let mut bits = core.synapse_bits;
        let mut added = Added {
            axons: 0,
            packets: 0,
        };
        log.clear();
        for input in axons {
            let (a, w) = (input.axon, input.weight);
            let (old, new) = match self.rows.entry(a) {
                Entry::Occupied(mut e) => {
                    let old = *e.get();
                    let new = old.grown(local, w);
                    e.insert(new);
                    (Some(old), new)
                }
                Entry::Vacant(e) => {
                    let new = RowSpan::new(a.projection, local, w);
                    e.insert(new);
                    core.axons.push(a);
                    added.axons += 1;
                    added.packets += input.packets;
                    bits += entry_bits;
                    (None, new)
                }
            };
            log.push(Undo { key: a, old });
            if shared {
                if let Some(old) = old
                    && let Some(users) = self.contents.get_mut(&old.content)
                {
                    *users -= 1;
                    if *users == 0 {
                        self.contents.remove(&old.content);
                        bits -= old.bits(target);
                    }
                }
                let users = self.contents.entry(new.content).or_insert(0);
                if *users == 0 {
                    bits += new.bits(target);
                }
                *users += 1;
            } else {
                bits = bits + new.bits(target) - old.map_or(0, |o| o.bits(target));
            }
            if added.axons >= axon_bound {
                core.synapse_bits = bits;
                return None;
            }
        }
        core.synapse_bits = bits;
        core.synapses += axons.len() as u64;
        Some(added)
    }

    /// Takes back the row changes logged by the last [`CoreFill::add`] and restores `core`'s
    /// counters from `before`.
    fn undo(&mut self, log: &[Undo], target: &Target, core: &mut CoreAssignment, before: Snapshot) {
        for u in log.iter().rev() {
            let Some(current) = self.rows.get(&u.key).copied() else {
                continue;
            };
            if target.core.shared_kernels {
                if let Some(users) = self.contents.get_mut(&current.content) {
                    *users -= 1;
                    if *users == 0 {
                        self.contents.remove(&current.content);
                    }
                }
                if let Some(old) = u.old {
                    *self.contents.entry(old.content).or_insert(0) += 1;
                }
            }
            match u.old {
                Some(old) => self.rows.insert(u.key, old),
                None => self.rows.remove(&u.key),
            };
        }
        core.axons.truncate(before.axons);
        core.synapses = before.synapses;
        core.synapse_bits = before.synapse_bits;
    }
}

/// The result of partitioning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub cores: Vec<CoreAssignment>,
    /// Per population, per neuron: `(core, compartment)`; empty for input populations.
    pub location: Vec<Vec<(u32, u32)>>,
    /// Split neurons `(population, neuron)`: `(core, compartment)` of shares 1, 2, ... (share 0
    /// is at `location`).
    pub split: std::collections::BTreeMap<(u32, u32), Vec<(u32, u32)>>,
}

/// Whether neurons may be split into partial sums on `target`: the target allows it and
/// inputs are summed before they are added.
pub fn splittable(target: &Target) -> bool {
    target.core.fanin_split && target.neuron.accumulate == lifchip_target::Accumulate::SumThenAdd
}

/// The shares of neuron `n` of population `pi`'s input list (its projections' inputs in
/// projection order) that go on separate compartments: one share `0..fan-in`, or, for a
/// neuron whose fan-in exceeds `core.input_axons` where [`splittable`], one share per
/// non-empty block of presynaptic indices of each incoming projection (a share never mixes
/// projections: a partial sum carries one accumulator group). Each source population is cut
/// into `ceil(size / input_axons)` blocks of equal width, the same for every neuron, so that
/// the same share of neighbouring neurons uses the same axons (a dense layer's share `k` of
/// every neuron reads the same inputs).
pub fn input_shares(
    net: &QuantNet,
    target: &Target,
    pi: usize,
    n: usize,
) -> Vec<std::ops::Range<usize>> {
    let incoming = incoming(net, pi);
    let fanin: usize = incoming
        .iter()
        .map(|&k| net.projections[k].synapses.fanin(n))
        .sum();
    let budget = (target.core.input_axons as usize).max(1);
    if fanin <= budget || !splittable(target) {
        return std::iter::once(0..fanin).collect();
    }
    let mut shares: Vec<std::ops::Range<usize>> = Vec::new();
    let mut offset = 0usize;
    for &k in &incoming {
        let proj = &net.projections[k];
        let size = net.populations[proj.from].size().max(1);
        let width = size.div_ceil(size.div_ceil(budget)).max(1);
        let mut block = usize::MAX;
        for (index, (pre, _)) in proj.synapses.inputs(n).enumerate() {
            let b = pre as usize / width;
            let at = offset + index;
            match shares.last_mut() {
                Some(last) if b == block => last.end = at + 1,
                _ => {
                    block = b;
                    shares.push(at..at + 1);
                }
            }
        }
        offset += proj.synapses.fanin(n);
    }
    shares
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
        if self.by_input_axons > self.by_neurons.max(self.by_synapse_memory) {
            "input axons (fan-in)"
        } else if self.by_synapse_memory > self.by_neurons {
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
    // Shared rows can make any amount of synapses cheap, so memory bounds nothing then.
    let min_bits = if target.core.shared_kernels {
        0
    } else {
        synapses.saturating_mul(target.min_bits_per_synapse())
    };
    // A neuron of fan-in F has its inputs on at least ceil(F / input_axons) cores (and that many
    // compartments when split; one otherwise, and then F > input_axons cannot be mapped).
    let axons = u64::from(target.core.input_axons).max(1);
    let (mut widest, mut compartments) = (u64::from(neurons > 0), 0u64);
    for (pi, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            continue;
        }
        let incoming = incoming(net, pi);
        let split = splittable(target);
        for n in 0..pop.size() {
            let fanin: u64 = incoming
                .iter()
                .map(|&k| net.projections[k].synapses.fanin(n) as u64)
                .sum();
            let shares = fanin.div_ceil(axons).max(1);
            widest = widest.max(shares);
            compartments += if split { shares } else { 1 };
        }
    }
    CoreBounds {
        by_neurons: div_ceil(compartments, u64::from(target.core.neurons)),
        by_synapse_memory: div_ceil(min_bits, target.core.synapse_memory_bits),
        by_input_axons: widest,
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
/// [`input_shares`]), as `(axon, weight)`; `incoming` are the projections into its population
/// ([`incoming_projections`]).
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

/// Heuristic partition: axon-aware best fit. Each neuron goes to the open core (among the most
/// recent [`SEARCH_WINDOW`]) where it fits and adds the fewest new input axons, else to a new
/// core. Small and medium nets are partitioned in several population orders and the partition
/// with the fewest cores (then the fewest axons) is kept.
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
            // Each share must fit a core on its own (a whole neuron is one share).
            for share in input_shares(net, target, pi, n) {
                neuron_axons(net, &incoming, n, share, &mut axons);
                let n_axons = axons.len() as u64;
                let alone_bits =
                    target.row_bits(1, 1) * n_axons + target.axon_entries_bits(n_axons);
                if axons.len() > max_axons {
                    too_many_axons += 1;
                    worst_fanin = worst_fanin.max(axons.len() as u64);
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

/// The projections into population `pi`, in projection order.
pub fn incoming_projections(net: &QuantNet, pi: usize) -> Vec<usize> {
    incoming(net, pi)
}

fn incoming(net: &QuantNet, pi: usize) -> Vec<usize> {
    (0..net.projections.len())
        .filter(|&k| net.projections[k].to == pi)
        .collect()
}

/// Neuron populations in the order `order` visits them.
fn visiting_order(net: &QuantNet, order: Order) -> Vec<usize> {
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
    pops
}

/// Splits `pops` into at most `parts` consecutive runs of about equal synapse counts.
fn balanced_runs(net: &QuantNet, pops: &[usize], parts: usize) -> Vec<Vec<usize>> {
    let weight = |p: usize| -> usize {
        incoming(net, p)
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
        for (key, at) in part.split {
            out.split
                .insert(key, at.into_iter().map(|(c, k)| (c + offset, k)).collect());
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
    let mut split = std::collections::BTreeMap::new();
    let mut axons = Vec::new();
    let mut log = Vec::new();
    for &pi in pops {
        let incoming = incoming(net, pi);
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
                let first = cores.len().saturating_sub(window);
                // (core, cost) of the best fit so far: the fewest new axons, or with a rate
                // profile the least new traffic (then the fewest new axons).
                let mut choice: Option<(usize, (u64, usize))> = None;
                let mut placed = None;
                // Newest core first: consecutive neurons usually share their inputs. Each try is a
                // tentative add, kept when it needs no new axon and undone otherwise.
                for c in (first..cores.len()).rev() {
                    let core = &mut cores[c];
                    if core.neurons.len() >= max_neurons {
                        continue;
                    }
                    // Without a profile, a core needing as many new axons as the best is no better.
                    let bound = match choice {
                        Some((_, (_, axons))) if !profiled => axons,
                        _ => usize::MAX,
                    };
                    let before = Snapshot::of(core);
                    let local = core.neurons.len() as u32;
                    let added = fills[c].add(&axons, local, target, core, bound, &mut log);
                    let fits = core.axons.len() <= max_axons && core.synapse_bits <= max_bits;
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
                                fills.push(CoreFill::default());
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
                        .or_insert_with(Vec::new)
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
    if net.num_synapses() <= MULTI_START_SYNAPSES {
        eliminate_cores(net, target, &mut partition, &mut fills);
    }
    partition
}

/// Cores the refinement tries to empty per round (the least filled first).
const ELIMINATION_CANDIDATES: usize = 8;

/// Refinement after the greedy pass: repeatedly tries to empty one of the least-filled cores
/// by moving each of its compartments, in order, to the first other core where it fits
/// (every limit checked by the same exact accounting as the pass); when all fit, the core is
/// removed, otherwise every move is undone. Never adds a core.
fn eliminate_cores(
    net: &QuantNet,
    target: &Target,
    partition: &mut Partition,
    fills: &mut Vec<CoreFill>,
) {
    let max_neurons = target.core.neurons as usize;
    let max_axons = target.core.input_axons as usize;
    let max_bits = target.core.synapse_memory_bits;
    let mut axons = Vec::new();
    let mut log = Vec::new();
    loop {
        let mut order: Vec<usize> = (0..partition.cores.len()).collect();
        order.sort_by_key(|&c| (partition.cores[c].neurons.len(), std::cmp::Reverse(c)));
        let mut removed = false;
        for &x in order.iter().take(ELIMINATION_CANDIDATES) {
            let units: Vec<(u32, u32, u16)> = partition.cores[x]
                .neurons
                .iter()
                .zip(&partition.cores[x].shares)
                .map(|(&(p, n), &k)| (p, n, k))
                .collect();
            // (core, snapshot, row log) of every move so far, to undo them in reverse.
            let mut moves: Vec<(usize, Snapshot, Vec<Undo>)> = Vec::new();
            let mut all_fit = true;
            for &(pi, n, share) in &units {
                let incoming = incoming(net, pi as usize);
                let shares = input_shares(net, target, pi as usize, n as usize);
                let range = shares.get(usize::from(share)).cloned().unwrap_or(0..0);
                neuron_axons(net, &incoming, n as usize, range, &mut axons);
                let mut home = None;
                for (y, (core, fill)) in
                    partition.cores.iter_mut().zip(fills.iter_mut()).enumerate()
                {
                    if y == x || core.neurons.len() >= max_neurons {
                        continue;
                    }
                    let before = Snapshot::of(core);
                    let local = core.neurons.len() as u32;
                    let added = fill.add(&axons, local, target, core, usize::MAX, &mut log);
                    if added.is_some()
                        && core.axons.len() <= max_axons
                        && core.synapse_bits <= max_bits
                    {
                        core.neurons.push((pi, n));
                        core.shares.push(share);
                        home = Some((y, before));
                        break;
                    }
                    fill.undo(&log, target, core, before);
                }
                match home {
                    Some((y, before)) => moves.push((y, before, std::mem::take(&mut log))),
                    None => {
                        all_fit = false;
                        break;
                    }
                }
            }
            if !all_fit {
                for (y, before, log) in moves.into_iter().rev() {
                    let core = &mut partition.cores[y];
                    core.neurons.pop();
                    core.shares.pop();
                    fills[y].undo(&log, target, core, before);
                }
                continue;
            }
            // Commit: record the new homes, drop core x, and renumber the cores after it.
            for (&(pi, n, share), (y, _, _)) in units.iter().zip(&moves) {
                let local = partition.cores[*y]
                    .neurons
                    .iter()
                    .zip(&partition.cores[*y].shares)
                    .rposition(|(&u, &k)| u == (pi, n) && k == share)
                    .unwrap_or(0) as u32;
                let at = (*y as u32, local);
                if share == 0 {
                    partition.location[pi as usize][n as usize] = at;
                } else if let Some(v) = partition.split.get_mut(&(pi, n)) {
                    v[usize::from(share) - 1] = at;
                }
            }
            partition.cores.remove(x);
            fills.remove(x);
            let x = x as u32;
            let renumber = |at: &mut (u32, u32)| {
                if at.0 != u32::MAX && at.0 > x {
                    at.0 -= 1;
                }
            };
            partition.location.iter_mut().flatten().for_each(renumber);
            partition.split.values_mut().flatten().for_each(renumber);
            removed = true;
            break;
        }
        if !removed {
            return;
        }
    }
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

/// Checks a partition against every per-core limit (the verifier run after the pass). It
/// rebuilds each core's rows from the net and the neurons' locations, independently of the
/// bookkeeping of the pass (shared rows are compared by content, not only by hash), and checks
/// that every neuron is placed exactly once. Cores are checked in parallel.
pub fn verify(net: &QuantNet, partition: &Partition, target: &Target) -> Vec<String> {
    let mut errors = Vec::new();
    let mut placed = 0usize;
    for (c, core) in partition.cores.iter().enumerate() {
        if core.shares.len() != core.neurons.len() {
            errors.push(format!(
                "core {c}: {} shares for {} compartments",
                core.shares.len(),
                core.neurons.len()
            ));
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
                    .and_then(|l| l.get(usize::from(share) - 1))
            };
            if at != Some(&(c as u32, local as u32)) {
                errors.push(format!(
                    "core {c} compartment {local} holds share {share} of population {pi} neuron {n}, whose location is {at:?}"
                ));
            }
        }
    }
    if placed != net.num_neurons() {
        errors.push(format!("{placed} neurons placed of {}", net.num_neurons()));
    }
    for (&(pi, n), at) in &partition.split {
        let shares = input_shares(net, target, pi as usize, n as usize).len();
        if at.len() + 1 != shares {
            errors.push(format!(
                "population {pi} neuron {n}: {} shares placed, its fan-in needs {shares}",
                at.len() + 1
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let incoming: Vec<Vec<usize>> = (0..net.populations.len())
        .map(|p| incoming(net, p))
        .collect();
    let per_core: Vec<Vec<String>> = partition
        .cores
        .par_iter()
        .enumerate()
        .map(|(c, core)| verify_core(net, &incoming, c, core, target))
        .collect();
    errors.extend(per_core.into_iter().flatten());
    errors
}

fn verify_core(
    net: &QuantNet,
    incoming: &[Vec<usize>],
    c: usize,
    core: &CoreAssignment,
    target: &Target,
) -> Vec<String> {
    let mut errors = Vec::new();
    // Rows in compartment order, as the core's neurons are visited in local order.
    let mut index: FxHashMap<AxonKey, usize> = FxHashMap::default();
    let mut rows: Vec<(AxonKey, Vec<(u32, i32)>)> = Vec::new();
    for (local, (&(pi, n), &share)) in core.neurons.iter().zip(&core.shares).enumerate() {
        let shares = input_shares(net, target, pi as usize, n as usize);
        let Some(range) = shares.get(usize::from(share)) else {
            errors.push(format!(
                "core {c} compartment {local}: share {share} of population {pi} neuron {n}, which has {}",
                shares.len()
            ));
            continue;
        };
        for (key, w) in share_inputs(net, &incoming[pi as usize], n as usize, range.clone()) {
            let r = *index.entry(key).or_insert_with(|| {
                rows.push((key, Vec::new()));
                rows.len() - 1
            });
            rows[r].1.push((local as u32, w));
        }
    }
    if core.neurons.len() > target.core.neurons as usize {
        errors.push(format!(
            "core {c}: {} neurons > {}",
            core.neurons.len(),
            target.core.neurons
        ));
    }
    let axons = rows.len();
    let synapses: u64 = rows.iter().map(|r| r.1.len() as u64).sum();
    if axons != core.axons.len() || synapses != core.synapses {
        errors.push(format!(
            "core {c}: the pass counted {} axons and {} synapses, the net gives {axons} and {synapses}",
            core.axons.len(),
            core.synapses,
        ));
    }
    if axons > target.core.input_axons as usize {
        errors.push(format!(
            "core {c}: {axons} axons > {}",
            target.core.input_axons
        ));
    }
    // Stored rows by content hash: the rows (indices) already charged with that hash.
    let mut stored: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    let same = |a: &[(u32, i32)], b: &[(u32, i32)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 - a[0].0 == y.0 - b[0].0 && x.1 == y.1)
    };
    let mut bits = target.axon_entries_bits(axons as u64);
    for (r, (key, row)) in rows.iter().enumerate() {
        let (first, last) = (row[0].0, row[row.len() - 1].0);
        if target.core.shared_kernels {
            let hash = row.iter().fold(u64::from(key.projection), |h, &(l, w)| {
                mix(h, entry(l - first, w))
            });
            let charged = stored.entry(hash).or_default();
            if charged
                .iter()
                .any(|&s| rows[s].0.projection == key.projection && same(&rows[s].1, row))
            {
                continue;
            }
            charged.push(r);
        }
        bits += target.row_bits(row.len() as u64, u64::from(last - first) + 1);
    }
    if bits != core.synapse_bits {
        errors.push(format!(
            "core {c}: the pass counted {} synapse bits, the rows take {bits}",
            core.synapse_bits
        ));
    }
    if bits > target.core.synapse_memory_bits {
        errors.push(format!(
            "core {c}: {bits} synapse bits > {}",
            target.core.synapse_memory_bits
        ));
    }
    errors
}
