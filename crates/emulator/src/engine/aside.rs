//! The cycle model on a thread of its own, for a cycle-accurate run of its own on several
//! threads.
//!
//! A tick's cycle-model work does not feed back into the run: the per-core counts of each
//! spike's synapses, the pricing of the cores and the network drains only add up to the
//! run's cycle statistics. So the calling thread runs the ticks' passes as a functional run
//! does and sends each tick what the cycle model needs of it ([`TickCycles`]: the spikes due,
//! the per-core cycles its passes counted, the packets' trees); the cycle thread ([`run`])
//! counts, prices and drains the ticks in order with its own counters and network model.
//! Every sum is the same wrapping sum as in place and every drain depends on its packets
//! only, so the statistics are those of the run in place, bit for bit.

use std::sync::mpsc::{Receiver, SyncSender};

use super::{
    RunCount, SynPrices, TickParts, count_fan_entries, net_params, price_tick, record_tick,
};
use crate::{
    CycleDetail, CycleStats, network::NetSim, program::Program, shapes::on_shapes,
    synapses::with_store,
};

/// Where a tick of a run with a cycle thread sends its cycle-model work, and the part of it
/// the tick has gathered so far.
#[derive(Clone, Debug)]
pub(super) struct Aside {
    pub(super) to: SyncSender<Vec<TickCycles>>,
    pub(super) tick: TickCycles,
    /// The ticks not sent yet.
    pub(super) batch: Vec<TickCycles>,
}

/// Ticks sent to the cycle thread at a time: a message per tick (a wake-up of the cycle
/// thread each) made the 4k CUBA net's cycle-accurate run on two threads 1.5× its functional
/// run, against 1.1× on one thread; batches of 16 ticks 1.4×, of 64 1.2×.
pub(super) const TICKS_PER_BATCH: usize = 64;
/// Batches that may wait for the cycle thread (the calling thread may run this many ahead).
pub(super) const BATCHES_IN_FLIGHT: usize = 64;

impl Aside {
    /// Sends the ticks not sent yet.
    pub(super) fn send(&mut self) {
        if !self.batch.is_empty() {
            // The cycle thread lives until the run's last tick is sent.
            let _ = self.to.send(std::mem::take(&mut self.batch));
        }
    }
}

/// What one tick sends to the cycle thread.
#[derive(Clone, Debug, Default)]
pub(super) struct TickCycles {
    /// The compartments' spikes due this tick whose synapse-stage cycles the cycle model counts
    /// through their fan-out lists (`Program::cycle_fan_lists`).
    pub(super) spikes: Vec<(u32, u32)>,
    /// `(core, synapse-stage cycles, neuron-stage cycles)` the tick's passes counted, for each
    /// core where either is not zero.
    pub(super) cores: Vec<(u32, u64, u64)>,
    /// The trees of the input packets (`..input_end`), of the partial sums'
    /// (`input_end..partial_end`) and of the spike packets (the rest).
    pub(super) trees: Vec<u32>,
    pub(super) input_end: usize,
    pub(super) partial_end: usize,
    /// The host's cycles sending the input messages.
    pub(super) host_stage: u64,
    /// Every compartment's neuron-stage price this tick.
    pub(super) per_comp: u64,
}

/// Moves the nonzero per-core counters of `syn` and `stage` (one entry per core) into `out`,
/// leaving them zero. Zero blocks are skipped by one OR each: most cores of a big chip count
/// nothing in the passes once the fan-out lists are counted on the cycle thread.
pub(super) fn take_cores(syn: &mut [u64], stage: &mut [u64], out: &mut Vec<(u32, u64, u64)>) {
    const BLOCK: usize = 16;
    let n = syn.len().min(stage.len());
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + BLOCK).min(n);
        let (a, b) = (&mut syn[c0..c1], &mut stage[c0..c1]);
        if a.iter().chain(b.iter()).fold(0, |o, &x| o | x) != 0 {
            for (i, (x, y)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                if *x | *y != 0 {
                    out.push(((c0 + i) as u32, *x, *y));
                    (*x, *y) = (0, 0);
                }
            }
        }
        c0 = c1;
    }
}

/// The cycle thread: each tick of `ticks`, in order, counted, priced and drained into `cs`
/// (the run's statistics, kept with `detail`); returns them once the ticks end.
pub(super) fn run(
    p: &Program,
    ticks: Receiver<Vec<TickCycles>>,
    mut cs: CycleStats,
    detail: CycleDetail,
    prices: SynPrices,
) -> CycleStats {
    let nc = p.n_cores;
    let params = net_params(p);
    let mut net = NetSim::new(p.shape_routers());
    let (mut syn, mut stage) = (vec![0u64; nc], vec![0u64; nc]);
    let mut base = (Vec::new(), None);
    let mut drain = |trees: &[u32]| {
        if trees.is_empty() {
            0
        } else {
            p.with_shapes(trees, |sh| on_shapes!(sh, t => net.drain(t, trees, params)))
        }
    };
    for t in ticks.into_iter().flatten() {
        if !t.spikes.is_empty() {
            count_spikes(p, &t.spikes, &mut syn, &prices);
        }
        for &(c, a, b) in &t.cores {
            let c = c as usize;
            syn[c] = syn[c].wrapping_add(a);
            stage[c] = stage[c].wrapping_add(b);
        }
        let parts = TickParts {
            per_comp: t.per_comp,
            host_stage: t.host_stage,
            input_drain: drain(&t.trees[..t.input_end]),
            partial_drain: drain(&t.trees[t.input_end..t.partial_end]),
        };
        let drainless = price_tick(p, &mut cs, detail, (&mut syn, &mut stage), &mut base, parts);
        let spike_drain = drain(&t.trees[t.partial_end..]);
        record_tick(&mut cs, detail, spike_drain, drainless);
    }
    cs
}

/// The synapse-stage cycles of the spikes `due` through their fan-out lists, into `cyc`:
/// what the tick in place counts before and during their delivery (`count_cycle_fan`, and
/// `RunCount` in `deliver_fan`).
fn count_spikes(p: &Program, due: &[(u32, u32)], cyc: &mut [u64], prices: &SynPrices) {
    let cf = p.cycle_fan();
    count_fan_entries(p, cf, due, cyc, prices);
    let Some(store) = &p.store else {
        return;
    };
    with_store!(store, t => {
        let mut runs = RunCount {
            p,
            cf,
            prices,
            cores16: &cf.slot_core16,
            cyc,
        };
        for &(k, count) in due {
            let k = k as usize;
            let (lo, hi) = (t.fan_start[k], t.fan_start[k + 1]);
            runs.count(k, count, &t.fan_slot[lo..hi]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::take_cores;

    /// Every nonzero counter and only those, in core order, left zero; a length that is not
    /// a whole number of blocks included.
    #[test]
    fn take_cores_moves_the_nonzero_counters() {
        let n = 53;
        let mut syn: Vec<u64> = (0..n)
            .map(|c| if c % 7 == 3 { c * 10 } else { 0 })
            .collect();
        let mut stage: Vec<u64> = (0..n).map(|c| u64::from(c % 11 == 5 || c == 52)).collect();
        let want: Vec<(u32, u64, u64)> = (0..n)
            .filter(|&c| syn[c as usize] | stage[c as usize] != 0)
            .map(|c| (c as u32, syn[c as usize], stage[c as usize]))
            .collect();
        assert!(want.len() > 5 && want.last().map(|w| w.0) == Some(52));
        let mut got = vec![(99, 1, 1)];
        take_cores(&mut syn, &mut stage, &mut got);
        assert_eq!(got[1..], want[..]);
        assert!(syn.iter().chain(&stage).all(|&x| x == 0));
    }
}
