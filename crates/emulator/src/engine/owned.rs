//! Step 2 and the gather of step 3 in parallel ("owned blocks"), for functional runs of big
//! chips on more than one thread.
//!
//! The serial tick delivers every spike into the accumulators and gathers them into the
//! compartments' inputs on one thread, then splits the neuron pass between the threads; on a
//! 40,000-compartment net those serial parts were half of a tick, and they ran slower with two
//! threads than with one, reading the state the other thread's neuron pass had just written
//! into its own cache. Here each thread owns a run of whole cores — their accumulator slots
//! and their compartments — delivers into its own slots only (every thread reads every due
//! spike's fan-out and keeps the synapses that land in its slots), and gathers its own
//! compartments' inputs. Accumulation is wrapping 64-bit integer addition, so which thread
//! adds which synapse, and in which order, changes no bit; a block whose accumulators are too
//! large for the 64-bit gather falls back to the exact one, as the serial gather does.
//!
//! A block clears the inputs it wrote at the start of its next tick (not at the end of this
//! one), so that the clearing, like the writing, stays in the owner's cache.

use std::ops::Range;

use super::{
    Program, Recorder, State, add_dense, count_fan, count_inputs, direct_ok, fused_neurons,
    gather_exact_range, parallel,
};
use crate::{
    program::{NONE, ROW_DENSE, ROW_SPARSE},
    synapses::{Index, Store, Typed, Weight},
};

/// The blocks of one chip for one thread count, and whether they are in use.
#[derive(Clone, Debug, Default)]
pub(super) struct Owned {
    /// Threads the blocks were laid out for; 0 before the first layout.
    threads: usize,
    /// The layout's checks failed: the serial path is used.
    impossible: bool,
    blocks: Vec<Block>,
    /// The block of every core.
    block_of_core: Vec<u32>,
    /// Whether every block's record of the inputs it wrote is current (a tick of the serial
    /// path in between leaves `inp` in its own state).
    pub(super) tracked: bool,
}

impl Owned {
    /// Every input is zero again (the fused neuron pass zeroes what it reads): no block has
    /// any to clear at the start of its next tick.
    pub(super) fn inputs_cleared(&mut self) {
        for b in &mut self.blocks {
            b.sparse = true;
            b.touched.clear();
            b.direct = false;
        }
    }
}

/// A run of whole cores: their slots and compartments.
#[derive(Clone, Debug, Default)]
struct Block {
    comps: Range<usize>,
    slots: Range<usize>,
    /// The `Program::slot_blocks` entries that overlap these slots.
    gather_blocks: Range<usize>,
    /// This tick's row deliveries into these cores.
    rows: Vec<(u32, u32)>,
    /// With a sparse gather: the slots delivered into (with repeats), unless more than the
    /// cap (`over`).
    touched: Vec<u32>,
    over: bool,
    /// The last gather was sparse: `inp` is nonzero at most at the compartments of `touched`
    /// (otherwise anywhere in `comps`).
    sparse: bool,
    /// The 64-bit gather took the accumulators; otherwise the exact one must.
    fits: bool,
    /// This tick's fan-out lists added straight into the inputs ([`Program::direct_fan`]):
    /// anywhere in `comps`, so `touched` does not say where `inp` is nonzero.
    direct: bool,
}

impl Owned {
    /// Whether this tick runs step 2 and the gather here, laying the blocks out first when the
    /// thread count changed.
    pub(super) fn ready(&mut self, p: &Program) -> bool {
        let n = p.n_comp();
        if !parallel(n) {
            return false;
        }
        let threads = rayon::current_num_threads();
        if threads != self.threads {
            self.threads = threads;
            self.tracked = false;
            match layout(p, threads) {
                Some((blocks, block_of_core)) => {
                    self.impossible = false;
                    self.blocks = blocks;
                    self.block_of_core = block_of_core;
                }
                None => self.impossible = true,
            }
        }
        !self.impossible
    }
}

/// The blocks for `threads` threads, or `None` when the program is not laid out as this path
/// needs (then the serial path runs): sum-then-add with fan-out lists and the fused neuron
/// pass, no accumulator wrap, no split neurons, compartments numbered core by core, every
/// slot feeding a compartment of its own core, and the gather's slot blocks in order.
fn layout(p: &Program, threads: usize) -> Option<(Vec<Block>, Vec<u32>)> {
    let n = p.n_comp();
    let cores = p.n_cores;
    if p.store.is_none()
        || !p.fan_lists
        || !fused_neurons(p)
        || p.params.accumulator_bits > 0
        || p.gather_bits == 0
        || !p.partials.is_empty()
        || p.comp_core.len() != n
        || p.core_slot_base.len() != cores + 1
        || !p.comp_core.is_sorted()
        || p.comp_core.last().is_some_and(|&c| c as usize >= cores)
    {
        return None;
    }
    let mut core_comp = vec![0usize; cores + 1];
    for &c in &p.comp_core {
        core_comp[c as usize + 1] += 1;
    }
    for c in 0..cores {
        core_comp[c + 1] += core_comp[c];
    }
    let slot_base = |c: usize| p.core_slot_base[c] as usize;
    let slots = slot_base(cores);
    if p.slot_comp.len() < slots || (p.sparse_gather && p.slot_shift.len() < slots) {
        return None;
    }
    for c in 0..cores {
        for &k in &p.slot_comp[slot_base(c)..slot_base(c + 1)] {
            if p.comp_core.get(k as usize) != Some(&(c as u32)) {
                return None;
            }
        }
    }
    // The gather's slot blocks in slot order, without overlaps (a block may span cores: each
    // owner takes its part).
    let mut prev_end = 0;
    for &(s0, s1, _) in &p.slot_blocks {
        if s0 < prev_end || s1 < s0 || s1 as usize > slots {
            return None;
        }
        prev_end = s1;
    }
    // Cores split where the compartment count crosses each thread's share.
    let mut blocks = Vec::with_capacity(threads);
    let mut block_of_core = vec![0u32; cores];
    let mut first = 0;
    for b in 0..threads {
        let goal = n * (b + 1) / threads;
        let mut last = first;
        while last < cores && (core_comp[last + 1] <= goal || b + 1 == threads) {
            last += 1;
        }
        if last == first {
            continue;
        }
        let (s0, s1) = (slot_base(first), slot_base(last));
        let g0 = p.slot_blocks.partition_point(|b| (b.1 as usize) <= s0);
        let g1 = p.slot_blocks.partition_point(|b| (b.0 as usize) < s1);
        block_of_core[first..last].fill(blocks.len() as u32);
        blocks.push(Block {
            comps: core_comp[first]..core_comp[last],
            slots: s0..s1,
            gather_blocks: g0..g1,
            ..Block::default()
        });
        first = last;
    }
    (first == cores).then_some((blocks, block_of_core))
}

/// Step 2 (every due delivery into the accumulators) and the gather of step 3 (`s.inp`, or
/// `s.slow` for inputs beyond 64 bits), with the event counts the serial path records.
pub(super) fn deliver_and_gather(p: &Program, s: &mut State, rec: &mut Recorder) {
    count(p, s, rec);
    let o = &mut s.owned;
    for b in &mut o.blocks {
        b.rows.clear();
        if !o.tracked {
            b.sparse = false;
            b.touched.clear();
            b.direct = false;
        }
    }
    for &(a, count) in &s.due {
        let core = p.rows.get(a as usize).core as usize;
        o.blocks[o.block_of_core[core] as usize]
            .rows
            .push((a, count));
    }
    s.due.clear();
    s.slow.clear();
    s.warm.release();
    let (inp, acc) = (&mut s.inp[..], &mut s.acc[..]);
    let due = Due {
        comps: &s.due_comp,
        inputs: &s.due_in,
    };
    let direct = direct_ok(p, due.comps);
    macro_rules! go {
        ($t:expr) => {
            split(p, $t, &mut o.blocks, inp, acc, 0, 0, due, direct)
        };
    }
    match &p.store {
        Some(Store::U16I8(t)) => go!(t),
        Some(Store::U16I16(t)) => go!(t),
        Some(Store::U16I32(t)) => go!(t),
        Some(Store::U32I8(t)) => go!(t),
        Some(Store::U32I16(t)) => go!(t),
        Some(Store::U32I32(t)) => go!(t),
        None => {}
    }
    s.warm.spin_others();
    s.due_comp.clear();
    s.due_in.clear();
    for b in &mut o.blocks {
        if !b.fits {
            // Accumulators beyond the 64-bit gather: the exact one, on this block's
            // compartments (it counts no overflows: this path has no accumulator wrap).
            // (`inp` holds the block's direct sums, zero elsewhere.)
            gather_exact_range(
                p,
                &s.acc,
                &mut s.inp,
                &mut s.slow,
                b.comps.clone(),
                rec,
                direct.is_some(),
            );
            s.acc[b.slots.clone()].fill(0);
            b.sparse = false;
            b.touched.clear();
        }
    }
    o.tracked = true;
    // For a tick of the serial path after this one: `inp` is not all zero.
    s.inp_dirty = true;
}

/// The event counts of this tick's deliveries (as `deliver_fan` and the row deliveries of the
/// serial path record them).
fn count(p: &Program, s: &State, rec: &mut Recorder) {
    let c = &mut rec.counts;
    count_fan(p, &s.due_comp, c);
    count_inputs(p, &s.due_in, c);
    c.packets_in += s.due.len() as u64;
    for &(a, count) in &s.due {
        let ops = u64::from(p.rows.get(a as usize).len) * u64::from(count);
        c.synops += ops;
        match p.row_kind.get(a as usize) {
            None | Some(&ROW_SPARSE) => {}
            Some(&ROW_DENSE) => c.dense_synops += ops,
            Some(_) => c.shared_synops += ops,
        }
    }
}

/// The synapses of the lists of `due` (`start`, `slot`, `w`: the fan-out lists or the input
/// channels' lists) that land in block `b`'s slots into its accumulators (`acc` from its first
/// slot `s0`), listed as touched until they pass `cap`.
fn add_lists<W: Weight>(
    b: &mut Block,
    acc: &mut [i64],
    s0: usize,
    cap: usize,
    (start, slot, w): (&[usize], &[u32], &[W]),
    due: &[(u32, u32)],
) {
    let len = acc.len();
    for &(k, count) in due {
        let (lo, hi) = (start[k as usize], start[k as usize + 1]);
        let m = i64::from(count);
        let (slots, ws) = (&slot[lo..hi], &w[lo..hi]);
        if b.over {
            for (&sl, &x) in slots.iter().zip(ws) {
                let j = (sl as usize).wrapping_sub(s0);
                if j < len {
                    acc[j] = acc[j].wrapping_add(x.wide().wrapping_mul(m));
                }
            }
        } else {
            for (&sl, &x) in slots.iter().zip(ws) {
                let j = (sl as usize).wrapping_sub(s0);
                if j < len {
                    acc[j] = acc[j].wrapping_add(x.wide().wrapping_mul(m));
                    b.touched.push(sl);
                }
            }
            if b.touched.len() > cap {
                b.over = true;
            }
        }
    }
}

/// This tick's spikes delivered through lists: the compartments' (their fan-out lists) and
/// the input channels' (their lists, with [`Program::input_lists`]).
#[derive(Clone, Copy)]
struct Due<'a> {
    comps: &'a [(u32, u32)],
    inputs: &'a [(u32, u32)],
}

/// Runs [`block`] on every block, splitting `inp` and `acc` (starting at compartment `comp0`
/// and slot `slot0`) at the block boundaries, in parallel halves.
#[allow(clippy::too_many_arguments)]
fn split<I: Index + Into<i64>, W: Weight + Into<i64>>(
    p: &Program,
    t: &Typed<I, W>,
    blocks: &mut [Block],
    inp: &mut [i64],
    acc: &mut [i64],
    comp0: usize,
    slot0: usize,
    due: Due,
    direct: Option<u32>,
) {
    match blocks {
        [] => {}
        [b] => block(p, t, b, inp, acc, due, direct),
        _ => {
            let (left, right) = blocks.split_at_mut(blocks.len() / 2);
            let (c, sl) = (right[0].comps.start, right[0].slots.start);
            let (inp_l, inp_r) = inp.split_at_mut(c - comp0);
            let (acc_l, acc_r) = acc.split_at_mut(sl - slot0);
            rayon::join(
                || split(p, t, left, inp_l, acc_l, comp0, slot0, due, direct),
                || split(p, t, right, inp_r, acc_r, c, sl, due, direct),
            );
        }
    }
}

/// One block's tick: clear the inputs it wrote last tick, deliver its rows and the synapses of
/// the due fan-outs that land in its slots (with `direct`, their shift: straight into the
/// inputs), and gather its compartments' inputs. `inp` and `acc` start at the block's first
/// compartment and slot.
#[allow(clippy::too_many_arguments)]
fn block<I: Index + Into<i64>, W: Weight + Into<i64>>(
    p: &Program,
    t: &Typed<I, W>,
    b: &mut Block,
    inp: &mut [i64],
    acc: &mut [i64],
    due: Due,
    direct: Option<u32>,
) {
    let (c0, s0) = (b.comps.start, b.slots.start);
    let inp = &mut inp[..b.comps.len()];
    let acc = &mut acc[..b.slots.len()];
    if b.sparse && !b.direct {
        for &sl in &b.touched {
            inp[p.slot_comp[sl as usize] as usize - c0] = 0;
        }
    } else {
        inp.fill(0);
    }
    b.touched.clear();
    b.direct = direct.is_some();
    let track = p.sparse_gather;
    let cap = b.slots.len() / 4;
    b.over = !track;

    for &(a, count) in &b.rows {
        let r = p.rows.get(a as usize);
        let base = p.core_slot_base[r.core as usize] as usize - s0;
        let m = i64::from(count);
        let (lo, hi) = (r.start, r.start + r.span as usize);
        if r.lo == NONE {
            for (&i, &w) in t.idx[lo..hi].iter().zip(&t.w[lo..hi]) {
                let x = &mut acc[base + i.into() as usize];
                *x = x.wrapping_add(w.wide().wrapping_mul(m));
            }
            if !b.over {
                let g = (base + s0) as u32;
                b.touched
                    .extend(t.idx[lo..hi].iter().map(|&i| g + i.into() as u32));
            }
        } else {
            let d = base + r.lo as usize;
            add_dense(&mut acc[d..d + r.span as usize], &t.dense[lo..hi], m);
            if !b.over {
                let g = (d + s0) as u32;
                b.touched.extend(g..g + r.span);
            }
        }
        if b.touched.len() > cap {
            b.over = true;
        }
    }

    let len = acc.len();
    // The input channels' lists: the synapses in this block's slots.
    add_lists(
        b,
        acc,
        s0,
        cap,
        (&t.in_start, &t.in_slot, &t.in_w),
        due.inputs,
    );
    if let Some(shift) = direct {
        for &(k, _) in due.comps {
            let k = k as usize;
            let (lo, hi) = (t.fan_start[k], t.fan_start[k + 1]);
            for (&sl, &w) in t.fan_slot[lo..hi].iter().zip(&t.fan_w[lo..hi]) {
                if (sl as usize).wrapping_sub(s0) < len {
                    let x = &mut inp[p.slot_comp[sl as usize] as usize - c0];
                    *x = x.wrapping_add(w.wide() << shift);
                }
            }
        }
    }
    if direct.is_none() {
        add_lists(
            b,
            acc,
            s0,
            cap,
            (&t.fan_start, &t.fan_slot, &t.fan_w),
            due.comps,
        );
    }

    // The gather: as `gather_sparse` / `gather_blocks` on this block's slots.
    let bits = p.gather_bits;
    if !b.over {
        let ored = b.touched.iter().fold(0i64, |o, &sl| {
            let a = acc[sl as usize - s0];
            o | (a ^ (a >> 63))
        });
        b.fits = ored <= 1i64 << bits;
        if b.fits {
            for &sl in &b.touched {
                let a = std::mem::take(&mut acc[sl as usize - s0]);
                let sh = i32::from(p.slot_shift[sl as usize]);
                let term = if sh >= 0 { a << sh } else { a >> (-sh).min(63) };
                let x = &mut inp[p.slot_comp[sl as usize] as usize - c0];
                *x = x.wrapping_add(term);
            }
        }
        b.sparse = b.fits;
        return;
    }
    b.touched.clear();
    b.sparse = false;
    let ored = acc.iter().fold(0i64, |o, &a| o | (a ^ (a >> 63)));
    b.fits = ored <= 1i64 << bits;
    if !b.fits {
        return;
    }
    for &(g0, g1, sh) in &p.slot_blocks[b.gather_blocks.clone()] {
        let g0 = (g0 as usize).max(s0) - s0;
        let g1 = (g1 as usize).min(b.slots.end) - s0;
        let accs = acc[g0..g1].iter().zip(&p.slot_comp[g0 + s0..g1 + s0]);
        if sh >= 0 {
            for (&a, &k) in accs {
                let x = &mut inp[k as usize - c0];
                *x = x.wrapping_add(a << sh);
            }
        } else {
            let m = (-sh).min(63);
            for (&a, &k) in accs {
                let x = &mut inp[k as usize - c0];
                *x = x.wrapping_add(a >> m);
            }
        }
    }
    acc.fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bench_chips, engine::tests::recorder, synapses::LayoutOverride};

    /// A block whose accumulators are beyond the 64-bit gather takes the exact one, and every
    /// block's inputs are then what the serial path gathers: some accumulators are set near
    /// 2^62 before the deliveries (in one block only, then in both).
    #[test]
    fn accumulators_beyond_64_bits_take_the_exact_gather() {
        let spec = bench_chips::Spec {
            cores: 4,
            mesh_width: 2,
            compartments: 64,
            input_axons: 40,
            // One recurrent axon per compartment: fan-out lists.
            recurrent_axons: 64,
            row: 16,
            recurrent_row: 4,
            active: 10,
            ticks: 1,
        };
        let mut config = bench_chips::chip(&spec);
        for core in &mut config.cores {
            // Group 0 doubles its sums: 2^62 in an accumulator is 2^63, beyond 64 bits.
            core.group_exponents = vec![1, -2];
        }
        let layout_override = LayoutOverride {
            fanout: Some(true),
            ..LayoutOverride::default()
        };
        let p = Program::new(
            &lifchip_chip::FlatChip::from_config(&config),
            &layout_override,
        )
        .expect("valid");
        let (blocks, block_of_core) = layout(&p, 2).expect("owned blocks");
        assert_eq!(blocks.len(), 2);
        let spikers: Vec<(u32, u32)> = (0..p.n_comp() as u32).step_by(3).map(|k| (k, 1)).collect();
        let rows: Vec<(u32, u32)> = (0..40u32).step_by(2).map(|a| (a, 2)).collect();
        // Group 0 slots of a compartment of each block.
        let group0 = |k: usize| p.comp_slots[p.comp_slot_start[k] as usize].0 as usize;
        let (k0, k1) = (5, blocks[1].comps.start + 7);
        for huge in [vec![group0(k0)], vec![group0(k0), group0(k1)]] {
            let fresh = || {
                let mut s = State::new(&p);
                s.due_comp = spikers.clone();
                s.due = rows.clone();
                for &sl in &huge {
                    s.acc[sl] = 1 << 62;
                }
                s
            };
            let mut serial = fresh();
            let mut rec = recorder(&p);
            super::super::deliver_fan(&p, &mut serial, &mut rec, None);
            super::super::deliver_rows::<false>(&p, &mut serial, &mut rec);
            super::super::gather(&p, &mut serial, &mut rec);

            let mut owned = fresh();
            owned.owned = Owned {
                threads: 2,
                impossible: false,
                blocks: blocks.clone(),
                block_of_core: block_of_core.clone(),
                tracked: false,
            };
            let mut rec2 = recorder(&p);
            deliver_and_gather(&p, &mut owned, &mut rec2);
            assert!(!owned.owned.blocks[0].fits);
            assert_eq!(owned.owned.blocks[1].fits, huge.len() == 1);
            assert_eq!(owned.slow.len(), huge.len());
            assert_eq!(serial.inp, owned.inp);
            assert_eq!(serial.slow, owned.slow);
            assert_eq!(rec.counts, rec2.counts);
            assert!(owned.acc.iter().all(|&a| a == 0));
        }
    }
}
