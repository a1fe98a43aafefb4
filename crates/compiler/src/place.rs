//! Place pass: cores onto mesh positions, minimising the spike traffic between them.
//!
//! Placement walks the mesh in serpentine (boustrophedon) order so that consecutive cores —
//! usually consecutive pieces of one layer, or adjacent layers — are neighbours, then swaps
//! cores while packets × hops drops. Does not: compute routes or link loads (see `route`).

use lifchip_target::{Target, hops};

use crate::{Partition, QuantNet, Violation, ViolationKind};

/// Which per-core limit the partition's cores fill: the one its fullest core uses the largest
/// fraction of (", as core.neurons = 1000 holds at most 1000 of the net's 1008 neurons").
/// With `core.readout_neurons`, the readout population (index `readout`) has its own budget
/// and the other compartments `core.neurons`. `axons` counts a core's input axons (see
/// `partition::counted_axons`).
fn binding_limit(
    partition: &Partition,
    target: &Target,
    readout: u32,
    axons: &dyn Fn(&crate::partition::CoreAssignment) -> u64,
) -> String {
    use crate::partition::CoreAssignment;
    type Measure<'a> = Box<dyn Fn(&CoreAssignment) -> u64 + 'a>;
    let c = &target.core;
    let separate = c.readout_neurons > 0;
    let is_readout = move |&(pop, _): &(u32, u32)| separate && pop == readout;
    let mut limits: Vec<(&str, u64, Measure, &str)> = vec![
        (
            "core.neurons",
            u64::from(c.neurons),
            Box::new(move |k| k.neurons.iter().filter(|n| !is_readout(n)).count() as u64),
            "compartments",
        ),
        (
            "core.input_axons",
            u64::from(c.input_axons),
            Box::new(axons),
            "input axons",
        ),
        (
            "core.synapse_memory_bits",
            c.synapse_memory_bits,
            Box::new(|k| k.synapse_bits),
            "synapse bits",
        ),
    ];
    if separate {
        limits.push((
            "core.readout_neurons",
            u64::from(c.readout_neurons),
            Box::new(move |k| k.neurons.iter().filter(|n| is_readout(n)).count() as u64),
            "readout neurons",
        ));
    }
    let most = |f: &Measure| partition.cores.iter().map(f).max().unwrap_or(0);
    let total = |f: &Measure| partition.cores.iter().map(f).sum::<u64>();
    // The fullest limit; with equal fullness, the one whose total the cores cannot hold; with
    // that equal too, the first listed (neurons before input axons: 1001 neurons that each
    // read all 16 input channels fill the axons of both cores they need, but the neurons are
    // what forces the second core).
    let fullness = |(_, limit, f, _): &(&str, u64, Measure, &str)| {
        let limit = (*limit).max(1);
        (most(f) as f64 / limit as f64, total(f).div_ceil(limit))
    };
    limits
        .iter()
        .rev()
        .max_by(|a, b| {
            let (fa, fb) = (fullness(a), fullness(b));
            fa.0.total_cmp(&fb.0).then(fa.1.cmp(&fb.1))
        })
        .map(|(name, limit, f, what)| {
            format!(
                ": {name} = {limit} is the per-core limit that forces the extra cores (the fullest core holds {} {what}; {} in all)",
                most(f),
                total(f)
            )
        })
        .unwrap_or_default()
}

/// Mesh position of each core, or a violation when the mesh is too small.
pub fn place(
    partition: &Partition,
    target: &Target,
    readout: u32,
    axons: &dyn Fn(&crate::partition::CoreAssignment) -> u64,
) -> Result<Vec<(u32, u32)>, Violation> {
    let available = target.num_cores();
    let used = partition.cores.len() as u64;
    if used > available {
        return Err(Violation {
            kind: ViolationKind::Cores,
            place: "mesh".into(),
            value: used as i64,
            limit: available as i64,
            hint: format!(
                "the partition needs {used} cores{}; enlarge mesh.width x mesh.height ({} x {}) or that per-core limit",
                binding_limit(partition, target, readout, axons),
                target.mesh.width,
                target.mesh.height
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

/// Calls `f(a, b, packets)` for every spike packet stream between two different cores: each
/// input axon of a core stands for one packet per spike of its source; a source counts once
/// (every neuron spiking once), or with its packet weight when `weighted` and the net carries a
/// rate profile. Inputs enter at core 0's router, so they count as traffic from core 0. A pair
/// may be visited many times (once per axon): sums over the visits need no aggregation.
fn for_each_core_packets(
    net: &QuantNet,
    partition: &Partition,
    weighted: bool,
    mut f: impl FnMut(usize, usize, u64),
) {
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
                f(src, c, packets);
            }
        }
    }
    // A split neuron's partial sums travel to its first share's core every tick they are not
    // zero: count one packet per spike-equivalent (its packet weight).
    for (&(pi, n), split) in &partition.split {
        let root = partition.location[pi as usize][n as usize].0 as usize;
        let packets = if weighted {
            net.packet_weight(pi as usize, n)
        } else {
            1
        };
        for &(c, _) in &split.partials {
            let c = c as usize;
            if c != root {
                f(root, c, packets);
            }
        }
    }
}

/// Spike packets between cores: `(core a, core b, packets)` with `a < b`, both directions
/// summed, sorted by `(a, b)`.
fn core_traffic(net: &QuantNet, partition: &Partition, weighted: bool) -> Vec<(usize, usize, u64)> {
    let mut pairs: Vec<(u32, u32, u64)> = Vec::new();
    for_each_core_packets(net, partition, weighted, |a, b, w| {
        pairs.push((a.min(b) as u32, a.max(b) as u32, w));
    });
    pairs.sort_unstable_by_key(|&(a, b, _)| (a, b));
    let mut out: Vec<(usize, usize, u64)> = Vec::new();
    for (a, b, w) in pairs {
        match out.last_mut() {
            Some(last) if (last.0, last.1) == (a as usize, b as usize) => last.2 += w,
            _ => out.push((a as usize, b as usize, w)),
        }
    }
    out
}

/// Sum over core pairs of packets × hops between their positions, every neuron spiking once.
pub fn traffic_hops(net: &QuantNet, partition: &Partition, positions: &[(u32, u32)]) -> u64 {
    let mut sum = 0;
    for_each_core_packets(net, partition, false, |a, b, w| {
        sum += w * hops(positions[a], positions[b]);
    });
    sum
}

/// With a rate profile: expected inter-core packets per tick, and packets × hops per tick.
pub fn expected_traffic(
    net: &QuantNet,
    partition: &Partition,
    positions: &[(u32, u32)],
) -> Option<(f64, f64)> {
    net.packet_weights.as_ref()?;
    let (mut packets, mut packet_hops) = (0u64, 0u64);
    for_each_core_packets(net, partition, true, |a, b, w| {
        packets += w;
        packet_hops += w * hops(positions[a], positions[b]);
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::CoreAssignment;

    #[test]
    fn too_many_cores_names_the_per_core_limit_that_forced_them() {
        let mut target = lifchip_target::builtin("tiny").unwrap();
        target.mesh.width = 1;
        target.mesh.height = 1;
        target.core.neurons = 4;
        let core = |n: usize| CoreAssignment {
            neurons: vec![(1, 0); n],
            shares: vec![0; n],
            ..CoreAssignment::default()
        };
        let partition = Partition {
            cores: vec![core(4), core(1)],
            ..Partition::default()
        };
        let v = place(&partition, &target, 1, &|k| k.axons.len() as u64).unwrap_err();
        assert_eq!((v.value, v.limit), (2, 1));
        assert!(
            v.hint
                .contains("core.neurons = 4 is the per-core limit that forces the extra cores"),
            "{}",
            v.hint
        );
        assert!(
            v.hint.contains("holds 4 compartments; 5 in all"),
            "{}",
            v.hint
        );
    }

    #[test]
    fn too_many_readout_neurons_name_the_readout_budget() {
        let mut target = lifchip_target::builtin("xylo-like").unwrap();
        target.core.input_axons = 1016;
        // 100 hidden neurons and 10 readout neurons against 8 readout places: two cores, each
        // with the 100 hidden neurons as input axons, but the readout budget forces the second.
        let core = |hidden: u32, readout: u32| CoreAssignment {
            neurons: (0..hidden)
                .map(|n| (1, n))
                .chain((0..readout).map(|n| (2, n)))
                .collect(),
            shares: vec![0; (hidden + readout) as usize],
            axons: (0..296)
                .map(|pre| crate::partition::AxonKey { projection: 0, pre })
                .collect(),
            ..CoreAssignment::default()
        };
        let partition = Partition {
            cores: vec![core(100, 8), core(0, 2)],
            ..Partition::default()
        };
        let v = place(&partition, &target, 2, &|k| k.axons.len() as u64).unwrap_err();
        assert!(
            v.hint.contains(
                "core.readout_neurons = 8 is the per-core limit that forces the extra cores (the fullest core holds 8 readout neurons; 10 in all)"
            ),
            "{}",
            v.hint
        );
    }
}
