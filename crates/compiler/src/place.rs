//! Place and route passes: cores onto mesh positions, and the spike traffic they cause.
//!
//! Placement walks the mesh in serpentine (boustrophedon) order so that consecutive cores —
//! usually consecutive pieces of one layer, or adjacent layers — are neighbours. Routing is
//! dimension-order (X then Y); a spike sent to several cores is multicast along a tree, so a
//! link shared by several destinations carries it once.

use std::collections::BTreeSet;

use lifchip_target::Target;

use crate::{
    Partition, QuantNet, Violation,
    partition::{incoming_projections, input_shares},
};

/// Mesh position of each core, or a violation when the mesh is too small.
pub fn place(partition: &Partition, target: &Target) -> Result<Vec<(u32, u32)>, Violation> {
    let available = target.num_cores();
    let used = partition.cores.len() as u64;
    if used > available {
        return Err(Violation {
            kind: "cores".into(),
            place: "mesh".into(),
            value: used,
            limit: available,
            hint: format!(
                "the net needs {used} cores; enlarge mesh.width x mesh.height ({} x {}) or core capacity",
                target.mesh.width, target.mesh.height
            ),
        });
    }
    let width = target.mesh.width.max(1);
    Ok((0..used as u32)
        .map(|k| {
            let (row, col) = (k / width, k % width);
            let x = if row % 2 == 0 { col } else { width - 1 - col };
            (x, row)
        })
        .collect())
}

/// Spike packets between cores: `(core a, core b, packets)` with `a < b`, both directions
/// summed. Each input axon of a core stands for one packet per spike of its source; a source
/// counts once (every neuron spiking once), or with its packet weight when `weighted` and the
/// net carries a rate profile. Inputs enter at core 0's router, so they count as traffic from
/// core 0.
fn core_traffic(net: &QuantNet, partition: &Partition, weighted: bool) -> Vec<(usize, usize, u64)> {
    let mut traffic: std::collections::BTreeMap<(usize, usize), u64> =
        std::collections::BTreeMap::new();
    for (c, core) in partition.cores.iter().enumerate() {
        for key in &core.axons {
            let from = net.projections[key.projection as usize].from;
            let src = partition.location[from]
                .get(key.pre as usize)
                .map_or(0, |&(core, _)| core as usize);
            if src != c {
                let packets = if weighted {
                    net.packet_weight(from, key.pre)
                } else {
                    1
                };
                *traffic.entry((src.min(c), src.max(c))).or_default() += packets;
            }
        }
    }
    // A split neuron's partial sums travel to its first share's core every tick they are not
    // zero: count one packet per spike-equivalent (its packet weight).
    for (&(pi, n), shares) in &partition.split {
        let root = partition.location[pi as usize][n as usize].0 as usize;
        let packets = if weighted {
            net.packet_weight(pi as usize, n)
        } else {
            1
        };
        for &(c, _) in shares {
            let c = c as usize;
            if c != root {
                *traffic.entry((root.min(c), root.max(c))).or_default() += packets;
            }
        }
    }
    traffic.into_iter().map(|((a, b), w)| (a, b, w)).collect()
}

fn hops(a: (u32, u32), b: (u32, u32)) -> u64 {
    u64::from(a.0.abs_diff(b.0) + a.1.abs_diff(b.1))
}

/// Sum over core pairs of packets × hops between their positions, every neuron spiking once.
pub fn traffic_hops(net: &QuantNet, partition: &Partition, positions: &[(u32, u32)]) -> u64 {
    core_traffic(net, partition, false)
        .iter()
        .map(|&(a, b, w)| w * hops(positions[a], positions[b]))
        .sum()
}

/// With a rate profile: expected inter-core packets per tick, and packets × hops per tick.
pub fn expected_traffic(
    net: &QuantNet,
    partition: &Partition,
    positions: &[(u32, u32)],
) -> Option<(f64, f64)> {
    net.packet_weights.as_ref()?;
    let pairs = core_traffic(net, partition, true);
    let packets: u64 = pairs.iter().map(|&(_, _, w)| w).sum();
    let packet_hops: u64 = pairs
        .iter()
        .map(|&(a, b, w)| w * hops(positions[a], positions[b]))
        .sum();
    Some((
        packets as f64 / crate::profile::MICRO,
        packet_hops as f64 / crate::profile::MICRO,
    ))
}

/// Meshes up to this many routers get the swap refinement.
const REFINE_MAX_SLOTS: u64 = 1024;

/// Improves a placement by pairwise swaps (a core with another core or with a free router)
/// while the total packets × hops drops. With a rate profile the measure is expected packets
/// × hops per tick; the refinement then also runs on the unweighted measure and keeps the
/// placement that is better on the weighted one, so a profile never makes placement worse
/// than refining without it. Core 0 stays where it is: inputs enter at its router.
/// Deterministic: cores and slots are visited in index order.
pub fn refine_placement(
    net: &QuantNet,
    partition: &Partition,
    positions: &[(u32, u32)],
    target: &Target,
) -> Vec<(u32, u32)> {
    let weighted = refine(net, partition, positions, target, true);
    if net.packet_weights.is_none() {
        return weighted;
    }
    // Swap refinement is a local search: the unweighted one can end lower even on the
    // weighted measure. Keep whichever placement is better there (ties: the weighted one).
    let unweighted = refine(net, partition, positions, target, false);
    let score = |p: &[(u32, u32)]| expected_traffic(net, partition, p).map_or(0.0, |t| t.1);
    if score(&unweighted) < score(&weighted) {
        unweighted
    } else {
        weighted
    }
}

fn refine(
    net: &QuantNet,
    partition: &Partition,
    positions: &[(u32, u32)],
    target: &Target,
    weighted: bool,
) -> Vec<(u32, u32)> {
    let mut positions = positions.to_vec();
    let slots = target.num_cores();
    if slots > REFINE_MAX_SLOTS || positions.len() < 3 {
        return positions;
    }
    let width = target.mesh.width.max(1);
    let slot_xy = |s: usize| ((s as u32) % width, (s as u32) / width);
    let mut neighbours: Vec<Vec<(usize, u64)>> = vec![Vec::new(); positions.len()];
    for (a, b, w) in core_traffic(net, partition, weighted) {
        neighbours[a].push((b, w));
        neighbours[b].push((a, w));
    }
    let mut core_at: Vec<Option<usize>> = vec![None; slots as usize];
    for (c, &(x, y)) in positions.iter().enumerate() {
        core_at[(y * width + x) as usize] = Some(c);
    }
    let cost = |c: usize, at: (u32, u32), positions: &[(u32, u32)], skip: usize| -> u64 {
        neighbours[c]
            .iter()
            .filter(|(n, _)| *n != skip)
            .map(|&(n, w)| w * hops(at, positions[n]))
            .sum()
    };
    for _pass in 0..8 {
        let mut improved = false;
        for a in 1..positions.len() {
            for t in 0..slots as usize {
                let b = core_at[t];
                if b == Some(0) || b == Some(a) {
                    continue;
                }
                let (pa, pt) = (positions[a], slot_xy(t));
                // The a-b edge keeps its length under a swap, so it is left out of both sides.
                let skip = b.unwrap_or(usize::MAX);
                let before =
                    cost(a, pa, &positions, skip) + b.map_or(0, |b| cost(b, pt, &positions, a));
                let after =
                    cost(a, pt, &positions, skip) + b.map_or(0, |b| cost(b, pa, &positions, a));
                if after < before {
                    let sa = (pa.1 * width + pa.0) as usize;
                    positions[a] = pt;
                    core_at[t] = Some(a);
                    core_at[sa] = b;
                    if let Some(b) = b {
                        positions[b] = pa;
                    }
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    positions
}

/// A directed mesh link from one router to a neighbour.
pub type Link = ((u32, u32), (u32, u32));

/// The links an X-then-Y multicast tree from `src` to `dests` uses (each once).
pub fn xy_multicast(
    src: (u32, u32),
    dests: impl IntoIterator<Item = (u32, u32)>,
) -> BTreeSet<Link> {
    let mut links = BTreeSet::new();
    for dst in dests {
        let mut at = src;
        while at.0 != dst.0 {
            let next = if dst.0 > at.0 {
                (at.0 + 1, at.1)
            } else {
                (at.0 - 1, at.1)
            };
            links.insert((at, next));
            at = next;
        }
        while at.1 != dst.1 {
            let next = if dst.1 > at.1 {
                (at.0, at.1 + 1)
            } else {
                (at.0, at.1 - 1)
            };
            links.insert((at, next));
            at = next;
        }
    }
    links
}

/// Traffic of one spike from every neuron: how many packets leave cores, and the busiest link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Packets to other cores if every neuron spiked once.
    pub inter_core_packets: u64,
    /// Largest number of those spikes crossing one link.
    pub max_link_load: u64,
    /// Distinct destination cores of each neuron, per population.
    pub destinations: Vec<Vec<Vec<u32>>>,
}

/// Computes destination cores per neuron, fan-out violations, and link loads.
pub fn route(
    net: &QuantNet,
    partition: &Partition,
    positions: &[(u32, u32)],
    target: &Target,
) -> (Traffic, Vec<Violation>) {
    let mut destinations: Vec<Vec<Vec<u32>>> = net
        .populations
        .iter()
        .map(|p| vec![Vec::new(); p.size()])
        .collect();
    for (q, proj) in net.projections.iter().enumerate() {
        let loc = &partition.location[proj.to];
        // Where this projection's inputs start in its target neurons' input lists.
        let earlier: Vec<usize> = incoming_projections(net, proj.to)
            .into_iter()
            .take_while(|&k| k != q)
            .collect();
        for (post, &(core, _)) in loc.iter().enumerate().take(proj.synapses.num_post()) {
            // A split neuron has shares of its inputs on other cores.
            let split = partition.split.get(&(proj.to as u32, post as u32));
            let shares = split.map(|_| input_shares(net, target, proj.to, post));
            let offset: usize = if split.is_some() {
                earlier
                    .iter()
                    .map(|&k| net.projections[k].synapses.fanin(post))
                    .sum()
            } else {
                0
            };
            for (index, (pre, _)) in proj.synapses.inputs(post).enumerate() {
                let index = offset + index;
                let core = match (&shares, split) {
                    (Some(shares), Some(at)) => {
                        match shares.iter().position(|r| r.contains(&index)) {
                            Some(0) | None => core,
                            Some(k) => at.get(k - 1).map_or(core, |&(c, _)| c),
                        }
                    }
                    _ => core,
                };
                // Neighbouring neurons mostly share a core: skip the repeat before the sort.
                let dests = &mut destinations[proj.from][pre as usize];
                if dests.last() != Some(&core) {
                    dests.push(core);
                }
            }
        }
    }
    let mut violations = Vec::new();
    let mut traffic = Traffic::default();
    let mut load: rustc_hash::FxHashMap<Link, u64> = Default::default();
    // Multicast trees passing through each router: each needs a routing-table entry there.
    let mut entries: rustc_hash::FxHashMap<(u32, u32), u64> = Default::default();
    type Tree = ((u32, u32), Vec<u32>, Vec<Link>, Vec<(u32, u32)>);
    let mut last: Option<Tree> = None;
    for (pi, pop) in destinations.iter_mut().enumerate() {
        let mut worst = 0usize;
        let mut over = 0u64;
        for (n, dests) in pop.iter_mut().enumerate() {
            dests.sort_unstable();
            dests.dedup();
            let own = partition.location[pi].get(n).map(|&(c, _)| c);
            if net.populations[pi].neuron.is_some()
                && dests.len() > target.core.output_axons as usize
            {
                over += 1;
                worst = worst.max(dests.len());
            }
            traffic.inter_core_packets += dests.iter().filter(|&&d| Some(d) != own).count() as u64;
            // Inputs enter at core 0's router (the chip's host interface).
            let src = own.map_or(positions.first().copied().unwrap_or((0, 0)), |c| {
                positions[c as usize]
            });
            // Neighbouring neurons mostly share their core and destinations: same tree.
            if last
                .as_ref()
                .is_none_or(|(s, d, _, _)| *s != src || d != dests)
            {
                let tree = xy_multicast(src, dests.iter().map(|&d| positions[d as usize]));
                let mut routers: Vec<(u32, u32)> = tree.iter().map(|(from, _)| *from).collect();
                routers.dedup();
                routers.sort_unstable();
                routers.dedup();
                last = Some((src, dests.clone(), tree.into_iter().collect(), routers));
            }
            if let Some((_, _, tree, routers)) = &last {
                for r in routers {
                    *entries.entry(*r).or_default() += 1;
                }
                for link in tree {
                    *load.entry(*link).or_default() += 1;
                }
            }
        }
        if over > 0 {
            violations.push(Violation {
                kind: "output_axons".into(),
                place: format!("population {} ({over} neurons)", net.populations[pi].name),
                value: worst as u64,
                limit: u64::from(target.core.output_axons),
                hint: format!(
                    "a neuron sends to {worst} cores; raise core.output_axons or core.neurons"
                ),
            });
        }
    }
    traffic.max_link_load = load.values().copied().max().unwrap_or(0);
    let table = u64::from(target.mesh.routing_table_entries);
    if table > 0 {
        let mut over: Vec<((u32, u32), u64)> =
            entries.into_iter().filter(|&(_, n)| n > table).collect();
        over.sort_unstable();
        if let Some(&(worst_at, worst)) = over.iter().max_by_key(|(_, n)| *n) {
            violations.push(Violation {
                kind: "routing_table_entries".into(),
                place: format!("{} router(s), worst at ({}, {})", over.len(), worst_at.0, worst_at.1),
                value: worst,
                limit: table,
                hint: "raise mesh.routing_table_entries, or enlarge cores so fewer spikes cross the mesh".into(),
            });
        }
    }
    traffic.destinations = destinations;
    (traffic, violations)
}
