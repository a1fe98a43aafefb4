//! Refinement after the greedy pass: empties the least-filled cores into the others.

use lifchip_target::Target;

use super::rows::{CoreFill, Snapshot, Undo};
use super::{Partition, counted_axons, incoming_projections, neuron_axons};
use crate::QuantNet;

/// Cores the refinement tries to empty per round (the least filled first).
const ELIMINATION_CANDIDATES: usize = 8;

/// Refinement after the greedy pass: repeatedly tries to empty one of the least-filled cores
/// by moving each of its compartments, in order, to the first other core where it fits
/// (every limit checked by the same exact accounting as the pass); when all fit, the core is
/// removed, otherwise every move is undone. Never adds a core.
pub(super) fn eliminate_cores(
    net: &QuantNet,
    target: &Target,
    partition: &mut Partition,
    fills: &mut Vec<CoreFill>,
) {
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
                let incoming = incoming_projections(net, pi as usize);
                let range = partition.share_range(pi, n, share);
                neuron_axons(net, &incoming, n as usize, range, &mut axons);
                let mut home = None;
                for (y, (core, fill)) in
                    partition.cores.iter_mut().zip(fills.iter_mut()).enumerate()
                {
                    if y == x || !core.has_room(pi, net.readout, target) {
                        continue;
                    }
                    let before = Snapshot::of(core);
                    let local = core.neurons.len() as u32;
                    let added = fill.add(&axons, local, target, core, usize::MAX, &mut log);
                    if added.is_some()
                        && counted_axons(net, target, &core.axons) <= max_axons
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
                } else if let Some(s) = partition.split.get_mut(&(pi, n)) {
                    s.partials[usize::from(share) - 1] = at;
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
            partition
                .split
                .values_mut()
                .flat_map(|s| &mut s.partials)
                .for_each(renumber);
            removed = true;
            break;
        }
        if !removed {
            return;
        }
    }
}
