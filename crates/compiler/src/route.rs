//! Route pass: each neuron's destination cores, fan-out limits, X-then-Y multicast link loads
//! and routing-table entries.
//!
//! Routing is dimension-order (X then Y, [`lifchip_target::xy_route`], the rule the emulator
//! runs too); a spike sent to several cores is multicast along a tree, so a link shared by
//! several destinations carries it once. Inputs enter at core 0's router.

use lifchip_target::{Link, Target, xy_route};

use crate::{Partition, QuantNet, Violation, ViolationKind, partition::incoming_projections};

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
                let core = match split {
                    Some(s) => match s.shares.iter().position(|r| r.contains(&index)) {
                        Some(0) | None => core,
                        Some(k) => s.partials.get(k - 1).map_or(core, |&(c, _)| c),
                    },
                    None => core,
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
                let tree = xy_route(src, dests.iter().map(|&d| positions[d as usize]));
                let mut routers: Vec<(u32, u32)> = tree.iter().map(|link| link.from).collect();
                routers.dedup();
                routers.sort_unstable();
                routers.dedup();
                last = Some((src, dests.clone(), tree, routers));
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
                kind: ViolationKind::OutputAxons,
                place: format!("population {} ({over} neurons)", net.populations[pi].name),
                value: worst as i64,
                limit: i64::from(target.core.output_axons),
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
                kind: ViolationKind::RoutingTableEntries,
                place: format!("{} router(s), worst at ({}, {})", over.len(), worst_at.0, worst_at.1),
                value: worst as i64,
                limit: table as i64,
                hint: "raise mesh.routing_table_entries, or enlarge cores so fewer spikes cross the mesh".into(),
            });
        }
    }
    traffic.destinations = destinations;
    (traffic, violations)
}
