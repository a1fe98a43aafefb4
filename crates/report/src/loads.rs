//! The figures the maps draw: how full each core is, and the packets each mesh link carries.

use std::collections::BTreeMap;

use lifchip_chip::{ChipConfig, Link, xy_route};

/// A router's mesh coordinates `(x, y)`.
type Router = (u32, u32);

/// One core's use of each per-core limit, with the populations it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreFill {
    pub core: u32,
    pub x: u32,
    pub y: u32,
    pub neurons: u64,
    pub input_axons: u64,
    pub synapse_bits: u64,
    /// Compartments per population index, most first (ties by index).
    pub populations: Vec<(u32, u64)>,
}

/// The axons of `core` that count against `core.input_axons`: all, or with
/// `core.neuron_rows` (a neuron's own rows are part of it) those fed by input channels.
fn input_axons(config: &ChipConfig, core: &lifchip_chip::CoreConfig) -> u64 {
    if !config.target.core.neuron_rows {
        return core.axons.len() as u64;
    }
    let mut fed = vec![false; core.axons.len()];
    for d in config.inputs.iter().flatten() {
        if d.core == core.id
            && let Some(f) = fed.get_mut(d.axon as usize)
        {
            *f = true;
        }
    }
    fed.iter().filter(|&&f| f).count() as u64
}

/// Every core's fill, in core order.
pub fn core_fill(config: &ChipConfig) -> Vec<CoreFill> {
    config
        .cores
        .iter()
        .map(|c| {
            let mut per: BTreeMap<u32, u64> = BTreeMap::new();
            for k in &c.compartments {
                *per.entry(k.population).or_default() += 1;
            }
            let mut populations: Vec<(u32, u64)> = per.into_iter().collect();
            populations.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            CoreFill {
                core: c.id,
                x: c.x,
                y: c.y,
                neurons: c.compartments.len() as u64,
                input_axons: input_axons(config, c),
                synapse_bits: c.synapse_bits(&config.target),
                populations,
            }
        })
        .collect()
}

/// Packets each directed link carries when every neuron and every input channel spikes once
/// (one all-spike tick): each spike is one XY multicast tree from its core's router to the
/// routers of its destination cores (`lifchip_chip::xy_route`); external inputs enter at the
/// router of core 0, the chip's host interface, as the compiler's link-load estimate assumes.
/// Links that carry nothing are absent.
pub fn link_loads(config: &ChipConfig) -> BTreeMap<Link, u64> {
    let position = |core: u32| {
        config
            .cores
            .get(core as usize)
            .map(|c| (c.x, c.y))
            .unwrap_or((0, 0))
    };
    let host = position(0);
    let mut loads: BTreeMap<Link, u64> = BTreeMap::new();
    // Neighbouring neurons mostly share source and destinations: route each tree once.
    let mut trees: BTreeMap<(Router, Vec<Router>), u64> = BTreeMap::new();
    let mut add = |src: (u32, u32), dests: &mut Vec<(u32, u32)>| {
        dests.sort_unstable();
        dests.dedup();
        if dests.iter().any(|&d| d != src) {
            *trees.entry((src, std::mem::take(dests))).or_default() += 1;
        }
    };
    for channel in &config.inputs {
        let mut dests: Vec<(u32, u32)> = channel.iter().map(|d| position(d.core)).collect();
        add(host, &mut dests);
    }
    for core in &config.cores {
        for k in &core.compartments {
            let mut dests: Vec<(u32, u32)> =
                k.destinations.iter().map(|d| position(d.core)).collect();
            add((core.x, core.y), &mut dests);
        }
    }
    for ((src, dests), count) in trees {
        // A validated configuration has every router on the mesh; a tree that is not is left
        // out rather than drawn wrong.
        if let Ok(links) = xy_route(&config.target, src, &dests) {
            for link in links {
                *loads.entry(link).or_default() += count;
            }
        }
    }
    loads
}
