//! Route pass: each neuron's destination cores, fan-out limits, X-then-Y multicast link loads
//! and routing-table entries.
//!
//! Routing is dimension-order (X then Y, [`lifchip_target::xy_route`], the rule the emulator
//! runs too); a spike sent to several cores is multicast along a tree, so a link shared by
//! several destinations carries it once. Inputs enter at core 0's router.

use lifchip_target::{Link, Target, for_each_xy_link};

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
    // Each source neuron's destination cores, gathered from the receiving side in two passes
    // over the synapses (count, then fill one flat array): pushing into one list per source
    // missed the cache on every synapse of a random net.
    let base: Vec<usize> = net
        .populations
        .iter()
        .scan(0usize, |at, p| {
            let here = *at;
            *at += p.size();
            Some(here)
        })
        .collect();
    let sources = net.populations.iter().map(|p| p.size()).sum::<usize>();
    let each_input = |f: &mut dyn FnMut(usize, u32)| {
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
                    f(base[proj.from] + pre as usize, core);
                }
            }
        }
    };
    // Neighbouring neurons mostly share a core: a source's repeat of its last core is skipped
    // (the same in both passes) before the sort.
    let mut last_core = vec![u32::MAX; sources];
    let mut start = vec![0usize; sources + 1];
    each_input(&mut |src, core| {
        if last_core[src] != core {
            last_core[src] = core;
            start[src + 1] += 1;
        }
    });
    for k in 0..sources {
        start[k + 1] += start[k];
    }
    let mut flat = vec![0u32; start[sources]];
    let mut fill = start.clone();
    last_core.fill(u32::MAX);
    each_input(&mut |src, core| {
        if last_core[src] != core {
            last_core[src] = core;
            flat[fill[src]] = core;
            fill[src] += 1;
        }
    });
    drop((last_core, fill));
    let mut destinations: Vec<Vec<Vec<u32>>> = net
        .populations
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            (0..p.size())
                .map(|n| {
                    let src = base[pi] + n;
                    flat[start[src]..start[src + 1]].to_vec()
                })
                .collect()
        })
        .collect();
    drop(flat);
    let mut violations = Vec::new();
    let mut traffic = Traffic::default();
    // Trees stay inside the bounding box of the cores' routers: link loads and routing-table
    // entries are counted in dense arrays over it (a hash map per link was most of this pass
    // on nets whose neurons reach hundreds of cores).
    let grid = Grid::new(positions);
    let mut load = vec![0u64; grid.routers() * 4];
    // Multicast trees passing through each router: each needs a routing-table entry there.
    let mut entries = vec![0u64; grid.routers()];
    // The last tree, as link and router indices: neighbouring neurons mostly share their core
    // and destinations, so the same tree is counted again without being rebuilt.
    let mut last: Option<((u32, u32), Vec<u32>)> = None;
    let (mut tree_links, mut tree_routers) = (Vec::<u32>::new(), Vec::<u32>::new());
    let mut seen = vec![u32::MAX; grid.routers()];
    let mut tree_id = 0u32;
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
            if last.as_ref().is_none_or(|(s, d)| *s != src || d != dests) {
                tree_links.clear();
                tree_routers.clear();
                tree_id = tree_id.wrapping_add(1);
                for_each_xy_link(src, dests.iter().map(|&d| positions[d as usize]), |link| {
                    let (router, direction) = grid.link(link);
                    tree_links.push(router * 4 + direction);
                    if seen[router as usize] != tree_id {
                        seen[router as usize] = tree_id;
                        tree_routers.push(router);
                    }
                });
                last = Some((src, dests.clone()));
            }
            for &r in &tree_routers {
                entries[r as usize] += 1;
            }
            for &l in &tree_links {
                load[l as usize] += 1;
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
    traffic.max_link_load = load.iter().copied().max().unwrap_or(0);
    let table = u64::from(target.mesh.routing_table_entries);
    if table > 0 {
        let mut over: Vec<((u32, u32), u64)> = entries
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > table)
            .map(|(r, &n)| (grid.position(r), n))
            .collect();
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

/// The bounding box of the routers in use, for dense per-router and per-link counts.
struct Grid {
    x0: u32,
    y0: u32,
    width: u32,
    height: u32,
}

impl Grid {
    fn new(positions: &[(u32, u32)]) -> Grid {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for &(x, y) in positions {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        if positions.is_empty() {
            (x0, y0) = (0, 0);
        }
        Grid {
            x0,
            y0,
            width: x1 - x0 + 1,
            height: y1 - y0 + 1,
        }
    }

    fn routers(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn router(&self, (x, y): (u32, u32)) -> u32 {
        (y - self.y0) * self.width + (x - self.x0)
    }

    fn position(&self, router: usize) -> (u32, u32) {
        let r = router as u32;
        (self.x0 + r % self.width, self.y0 + r / self.width)
    }

    /// The link's source router and its direction (0 east, 1 west, 2 north, 3 south).
    fn link(&self, link: Link) -> (u32, u32) {
        let direction = match (link.to.0.cmp(&link.from.0), link.to.1.cmp(&link.from.1)) {
            (std::cmp::Ordering::Greater, _) => 0,
            (std::cmp::Ordering::Less, _) => 1,
            (_, std::cmp::Ordering::Greater) => 2,
            _ => 3,
        };
        (self.router(link.from), direction)
    }
}
