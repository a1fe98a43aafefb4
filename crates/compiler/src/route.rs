//! Route pass: each neuron's destination cores, fan-out limits, X-then-Y multicast link loads
//! and routing-table entries.
//!
//! Routing is dimension-order (X then Y, [`lifchip_target::xy_route`], the rule the emulator
//! runs too); a spike sent to several cores is multicast along a tree, so a link shared by
//! several destinations carries it once. Inputs enter at core 0's router.

use lifchip_target::Target;

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
    // entries are counted over it, each tree as ranges (O(columns), not O(links): a random
    // net's neuron reaches ~1,400 of 30,000 cores and its tree ~7,500 links).
    let grid = Grid::new(positions);
    let mut counts = TreeCounts::new(&grid);
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
            counts.add(src, dests.iter().map(|&d| positions[d as usize]));
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
    let (load, entries) = counts.finish();
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

/// Link loads and routing-table entries of X-then-Y multicast trees over a [`Grid`] (those of
/// [`lifchip_target::for_each_xy_link`]: one per link of a tree, and one per router some link of it leaves),
/// kept as difference arrays: a tree is a horizontal leg on its source's row and one vertical
/// leg per destination column, so adding it marks the ends of a few ranges.
struct TreeCounts<'a> {
    grid: &'a Grid,
    /// East and west links by source router, along rows: `[y * (width + 1) + x]`.
    east: Vec<i64>,
    west: Vec<i64>,
    /// North (`y + 1`) and south links by source router, along columns:
    /// `[x * (height + 1) + y]`.
    north: Vec<i64>,
    south: Vec<i64>,
    /// Entries of routers on a tree's source row (along rows) and off it (along columns).
    row_entries: Vec<i64>,
    column_entries: Vec<i64>,
    /// The current tree's destination columns: lowest and highest row, and when last seen.
    low: Vec<u32>,
    high: Vec<u32>,
    seen: Vec<u32>,
    stamp: u32,
    columns: Vec<u32>,
}

impl<'a> TreeCounts<'a> {
    fn new(grid: &'a Grid) -> TreeCounts<'a> {
        let along_rows = (grid.width as usize + 1) * grid.height as usize;
        let along_columns = grid.width as usize * (grid.height as usize + 1);
        TreeCounts {
            grid,
            east: vec![0; along_rows],
            west: vec![0; along_rows],
            north: vec![0; along_columns],
            south: vec![0; along_columns],
            row_entries: vec![0; along_rows],
            column_entries: vec![0; along_columns],
            low: vec![0; grid.width as usize],
            high: vec![0; grid.width as usize],
            seen: vec![0; grid.width as usize],
            stamp: 0,
            columns: Vec::new(),
        }
    }

    /// Counts the tree from `src` to `dests` (positions on the grid).
    fn add(&mut self, src: (u32, u32), dests: impl IntoIterator<Item = (u32, u32)>) {
        let (x0, y0) = (self.grid.x0, self.grid.y0);
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.columns.clear();
        for (x, y) in dests {
            let (x, y) = ((x - x0) as usize, y - y0);
            if self.seen[x] == self.stamp {
                self.low[x] = self.low[x].min(y);
                self.high[x] = self.high[x].max(y);
            } else {
                self.seen[x] = self.stamp;
                (self.low[x], self.high[x]) = (y, y);
                self.columns.push(x as u32);
            }
        }
        let (Some(&west), Some(&east)) = (self.columns.iter().min(), self.columns.iter().max())
        else {
            return;
        };
        let (sx, sy) = (src.0 - x0, src.1 - y0);
        let row = sy as usize * (self.grid.width as usize + 1);
        let range = |d: &mut [i64], at: usize, from: u32, to: u32| {
            // [from, to] inclusive, if not empty.
            if from <= to {
                d[at + from as usize] += 1;
                d[at + to as usize + 1] -= 1;
            }
        };
        if east > sx {
            range(&mut self.east, row, sx, east - 1);
        }
        if west < sx {
            range(&mut self.west, row, west + 1, sx);
        }
        // Routers the horizontal leg leaves from: one interval of the source row.
        let leg = match (west < sx, east > sx) {
            (false, false) => None,
            (w, e) => Some((if w { west + 1 } else { sx }, if e { east - 1 } else { sx })),
        };
        if let Some((a, b)) = leg {
            range(&mut self.row_entries, row, a, b);
        }
        let stride = self.grid.height as usize + 1;
        for &x in &self.columns {
            let (lo, hi) = (self.low[x as usize], self.high[x as usize]);
            let at = x as usize * stride;
            if hi > sy {
                range(&mut self.north, at, sy, hi - 1);
                range(&mut self.column_entries, at, sy + 1, hi - 1);
            }
            if lo < sy {
                range(&mut self.south, at, lo + 1, sy);
                range(&mut self.column_entries, at, lo + 1, sy - 1);
            }
            // The column's leg leaves from its router on the source row.
            let vertical = hi > sy || lo < sy;
            if vertical && leg.is_none_or(|(a, b)| x < a || x > b) {
                range(&mut self.row_entries, row, x, x);
            }
        }
    }

    /// Each link's load (`[router * 4 + direction]`, directions as [`Grid::link`]) and each
    /// router's routing-table entries.
    fn finish(self) -> (Vec<u64>, Vec<u64>) {
        let (width, height) = (self.grid.width as usize, self.grid.height as usize);
        let mut load = vec![0u64; width * height * 4];
        let mut entries = vec![0u64; width * height];
        // Prefix sums of the difference arrays (every sum is a count, never negative).
        for y in 0..height {
            let (mut e, mut w, mut r) = (0i64, 0i64, 0i64);
            for x in 0..width {
                let at = y * (width + 1) + x;
                (e, w, r) = (
                    e + self.east[at],
                    w + self.west[at],
                    r + self.row_entries[at],
                );
                let router = y * width + x;
                load[router * 4] = e as u64;
                load[router * 4 + 1] = w as u64;
                entries[router] = r as u64;
            }
        }
        for x in 0..width {
            let (mut n, mut s, mut c) = (0i64, 0i64, 0i64);
            for y in 0..height {
                let at = x * (height + 1) + y;
                (n, s, c) = (
                    n + self.north[at],
                    s + self.south[at],
                    c + self.column_entries[at],
                );
                let router = y * width + x;
                load[router * 4 + 2] = n as u64;
                load[router * 4 + 3] = s as u64;
                entries[router] += c as u64;
            }
        }
        (load, entries)
    }
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

    fn position(&self, router: usize) -> (u32, u32) {
        let r = router as u32;
        (self.x0 + r % self.width, self.y0 + r / self.width)
    }
}

#[cfg(test)]
mod tests {
    use lifchip_target::{Link, for_each_xy_link};
    use proptest::prelude::*;

    use super::*;

    impl Grid {
        fn routers(&self) -> usize {
            self.width as usize * self.height as usize
        }

        fn router(&self, (x, y): (u32, u32)) -> u32 {
            (y - self.y0) * self.width + (x - self.x0)
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

    /// A tree: its source and destinations.
    type Tree = ((u32, u32), Vec<(u32, u32)>);

    /// Loads and entries counted link by link, as the pass did before [`TreeCounts`].
    fn link_by_link(grid: &Grid, trees: &[Tree]) -> (Vec<u64>, Vec<u64>) {
        let mut load = vec![0u64; grid.routers() * 4];
        let mut entries = vec![0u64; grid.routers()];
        for (src, dests) in trees {
            let mut routers = std::collections::BTreeSet::new();
            for_each_xy_link(*src, dests.iter().copied(), |link| {
                let (router, direction) = grid.link(link);
                load[(router * 4 + direction) as usize] += 1;
                routers.insert(router);
            });
            for r in routers {
                entries[r as usize] += 1;
            }
        }
        (load, entries)
    }

    proptest! {
        /// Ranges give every link and router the count that walking the trees gives.
        #[test]
        fn range_counts_equal_link_by_link_counts(
            corner in (0u32..5, 0u32..5),
            size in (1u32..9, 1u32..9),
            trees in proptest::collection::vec(
                ((0u32..64, 0u32..64), proptest::collection::vec((0u32..64, 0u32..64), 0..12)),
                1..20,
            ),
        ) {
            let (w, h) = size;
            let at = |(x, y): (u32, u32)| (corner.0 + x % w, corner.1 + y % h);
            let positions: Vec<(u32, u32)> =
                vec![corner, (corner.0 + w - 1, corner.1 + h - 1)];
            let grid = Grid::new(&positions);
            let trees: Vec<Tree> = trees
                .into_iter()
                .map(|(s, d)| (at(s), d.into_iter().map(at).collect()))
                .collect();
            let mut counts = TreeCounts::new(&grid);
            for (src, dests) in &trees {
                counts.add(*src, dests.iter().copied());
            }
            prop_assert_eq!(counts.finish(), link_by_link(&grid, &trees));
        }
    }
}
