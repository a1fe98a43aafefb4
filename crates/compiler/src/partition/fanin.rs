//! Fan-in splitting: which part of a neuron's input list each of its compartments takes.

use lifchip_target::Target;

use super::incoming_projections;
use crate::QuantNet;

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
pub(crate) fn input_shares(
    net: &QuantNet,
    target: &Target,
    pi: usize,
    n: usize,
) -> Vec<std::ops::Range<usize>> {
    let incoming = incoming_projections(net, pi);
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
