//! One tick of the core model, and a run of many: the integer semantics of docs/core-model.md
//! ("One tick"), with the cycle model's counters when asked.
//!
//! The tick is written for speed without changing a bit of the result: synapse rows come from
//! the flat store of [`crate::synapses`] through kernels monomorphized per index/weight type,
//! the functional and cycle-accurate paths are one generic tick (`CYCLE`), the cycle model
//! only adds per-core counters during the tick and computes cycles from them at its end, and
//! nothing is allocated per tick once the scratch vectors have grown.

use lifchip_target::{DecayKind, Overflow, Reset, UpdateOrder};
use rayon::prelude::*;

use lifchip_simd::multiversion;

mod aside;
mod narrow;
mod owned;

use crate::shapes::on_shapes;
use crate::{
    CycleDetail, CycleStats, EmuError, EnergyBreakdown, EventCounts, Mode, NeuronProbe,
    OverflowCounts, ProbeSet, RunOptions, SampleResult,
    network::{NetParams, NetSim},
    program::{
        CYCLE_FAN_LEN, CycleFan, CycleFanEntries, FanEntry, NONE, Params, Program, ROW_DENSE,
        ROW_SPARSE,
    },
    synapses::{Index, Rows, Store, Typed, Weight, add_dense, add_fan, with_store},
};

/// The mutable state of a chip: neuron state, accumulators, delay lines, and scratch space
/// reused from tick to tick (nothing is allocated per event).
#[derive(Clone, Debug)]
pub(crate) struct State {
    u: Vec<i64>,
    /// The second synaptic current (empty unless `neuron.synaptic_currents: 2`).
    u2: Vec<i64>,
    v: Vec<i64>,
    refr: Vec<u32>,
    /// Accumulator slots (sum-then-add), padded (see [`crate::synapses::U16_WINDOW`]); the
    /// padding is never written.
    acc: Vec<i64>,
    /// Slots in use (the unpadded length of `acc`).
    slots: usize,
    /// Delay line: `pending[t % slots]` holds `(global axon, spike count)` due at tick `t`.
    pending: Vec<Vec<(u32, u32)>>,
    /// With [`Program::fan_lists`], the spikes of functional runs (and of cycle-accurate ones
    /// with `Program::cycle_fan_lists`): `pending_comp[t % slots]`
    /// holds `(compartment, spike count)` due at tick `t` (delivered through the whole
    /// fan-out of the compartment).
    pending_comp: Vec<Vec<(u32, u32)>>,
    /// With [`Program::input_lists`], the input channels' spikes: `pending_in[t % slots]`
    /// holds `(channel, spike count)` due at tick `t` (delivered through the channel's list).
    pending_in: Vec<Vec<(u32, u32)>>,
    /// Ticks since the last reset.
    tick: u64,
    due: Vec<(u32, u32)>,
    due_comp: Vec<(u32, u32)>,
    due_in: Vec<(u32, u32)>,
    chans: Vec<u32>,
    /// Spikes per input channel (zero between ticks).
    chan_count: Vec<u32>,
    inject: Vec<u32>,
    /// Per core this tick: synapse-stage cycles (packets in, synapse operations by price
    /// class), priced as they are counted. The stage is linear in its counts, so one sum per
    /// core is all [`price_cores`] reads (it read seven counters per core every tick).
    core_syn_cycles: Vec<u64>,
    /// The target's synapse-stage prices, taken from its timing once.
    syn_prices: SynPrices,
    /// Per core this tick: neuron-stage cycles beyond its compartments' every-tick price
    /// (packets out, spiking and active neurons, messages, less the idle compartments when the
    /// fused pass prices them; wrapping, so the subtractions are exact whatever the order).
    core_stage: Vec<u64>,
    /// Per core: its compartments' every-tick neuron-stage price, `neurons × per_comp`, for
    /// the `per_comp` in `.1` (it changes only when the fused pass does or does not run; AVX2
    /// has no 64-bit multiply for [`price_cores`] to do it every tick).
    core_base: (Vec<u64>, Option<u64>),
    /// Per compartment: nonzero `u`, `v` or bias at the start of the tick (active pricing).
    active_pre: Vec<bool>,
    /// Cycle-accurate runs with the fused pass: this tick's compartments priced as idle
    /// (not active), and per core how many (zero between ticks). Most compartments of a
    /// driven net are active, so the idle ones are the short list.
    idle: Vec<u32>,
    block_idle: Vec<Vec<u32>>,
    net: NetSim<crate::shapes::ShapeNode>,
    /// Step 3 scratch: each compartment's input; the inputs that leave 64 bits; this tick's
    /// spiking compartments with their counts.
    inp: Vec<i64>,
    /// With [`Program::sparse_gather`]: the accumulator slots this tick's deliveries touched
    /// (with repeats), unless there were more than [`sparse_cap`] (`touched_over`); and
    /// whether `inp` may hold nonzero values (it is all zero after a sparse gather's tick).
    touched: Vec<u32>,
    touched_over: bool,
    inp_dirty: bool,
    /// This tick's fan-out lists were added straight into `inp` ([`Program::direct_fan`]):
    /// the gather adds to it instead of overwriting it.
    inp_direct: bool,
    slow: Vec<(u32, i128)>,
    spikers: Vec<(u32, u32)>,
    /// The spikers of each parallel block of the voltage pass.
    block_spikers: Vec<Vec<(u32, u32)>>,
    /// Keeps the pool's threads awake between the parallel passes of consecutive ticks.
    warm: KeepWarm,
    /// Per [`CHUNK`] of compartments: whether their current and voltage decays and their
    /// thresholds are all equal (the fused pass then broadcasts one value of each).
    uniform: Vec<bool>,
    /// The 32-bit parameters of the narrow fused pass, when the chip allows it.
    narrow: Option<narrow::Narrow>,
    /// With `narrow`: `u` and `v` in 32 bits, holding the state (and `u`, `v` stale) from the
    /// first narrow pass of a run to its end ([`narrow::Lanes`]).
    lanes: narrow::Lanes,
    /// Functional runs on several threads: step 2 and the gather split by cores
    /// ([`owned`]).
    owned: owned::Owned,
    /// Runs of consecutive compartments on one core: `(core, end)`.
    core_runs: Vec<(u32, u32)>,
    /// A cycle-accurate run of its own on several threads: each tick's cycle-model work goes
    /// to the thread that does it ([`aside`]), and the passes stay on this thread.
    aside: Option<aside::Aside>,
    /// A cycle-accurate run without `aside`: the spike packets of the ticks not drained
    /// yet, one after another, and where each tick's packets end (see [`drain_queued`]).
    queued: Vec<u32>,
    queued_ends: Vec<usize>,
}

/// Between two parallel passes, the other threads of the pool spin instead of sleeping: a
/// tick's serial part is shorter than a sleeping thread takes to wake (tens of µs), which
/// made two threads slower than one on a 40,000-neuron net. Only in a run of its own (not
/// one sample of a parallel batch, whose threads have samples to run); the spinners give up
/// after [`KeepWarm::SPIN`], so a long serial stretch costs no more than that.
#[derive(Debug, Default)]
struct KeepWarm {
    epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    on: bool,
}

impl Clone for KeepWarm {
    /// A clone's spinners wait on their own state's passes, not on this one's.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl KeepWarm {
    const SPIN: std::time::Duration = std::time::Duration::from_micros(500);

    /// Before a parallel pass (and at the end of a run): the spinners stop, freeing their
    /// threads.
    fn release(&self) {
        self.epoch
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// After a parallel pass: the other threads spin until the next [`KeepWarm::release`].
    fn spin_others(&self) {
        use std::sync::atomic::Ordering;
        if !self.on {
            return;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        for _ in 1..rayon::current_num_threads() {
            let flag = std::sync::Arc::clone(&self.epoch);
            rayon::spawn(move || {
                let start = std::time::Instant::now();
                let mut i = 0u32;
                while flag.load(Ordering::Acquire) == epoch {
                    std::hint::spin_loop();
                    i = i.wrapping_add(1);
                    if i.is_multiple_of(256) && start.elapsed() > Self::SPIN {
                        break;
                    }
                }
            });
        }
    }
}

/// [`State::core_runs`] of `comp_core`.
fn core_runs(comp_core: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for (k, &c) in comp_core.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run.0 == c => run.1 = k as u32 + 1,
            _ => runs.push((c, k as u32 + 1)),
        }
    }
    runs
}

/// [`State::uniform`] of `p`.
fn uniform_chunks(p: &Program) -> Vec<bool> {
    let n = p.n_comp();
    if [p.u_decay.len(), p.v_decay.len(), p.vth_test.len()] != [n; 3] {
        return vec![false; n.div_ceil(CHUNK)];
    }
    let same = |xs: &[i64]| xs.iter().all(|&x| x == xs[0]);
    p.u_decay
        .chunks(CHUNK)
        .zip(p.v_decay.chunks(CHUNK))
        .zip(p.vth_test.chunks(CHUNK))
        .map(|((a, b), c)| same(a) && same(b) && same(c))
        .collect()
}

impl State {
    pub fn new(p: &Program) -> Self {
        let n = p.n_comp();
        let slots = p.params.synaptic_delay.max(p.params.input_delay) as usize + 1;
        State {
            u: p.initial_u.clone(),
            u2: vec![0; if p.params.two_currents { n } else { 0 }],
            v: p.initial_v.clone(),
            refr: vec![0; n],
            acc: vec![0; p.acc_len],
            slots: p.core_slot_base.last().map_or(0, |&s| s as usize),
            pending: vec![Vec::new(); slots],
            pending_comp: vec![Vec::new(); slots],
            pending_in: vec![Vec::new(); slots],
            tick: 0,
            due: Vec::new(),
            due_comp: Vec::new(),
            due_in: Vec::new(),
            chans: Vec::new(),
            chan_count: Vec::new(),
            inject: Vec::new(),
            core_syn_cycles: vec![0; p.n_cores],
            syn_prices: SynPrices::new(&p.target.timing),
            core_stage: vec![0; p.n_cores],
            core_base: (Vec::new(), None),
            active_pre: if p.price_active {
                vec![false; n]
            } else {
                Vec::new()
            },
            idle: Vec::new(),
            block_idle: Vec::new(),
            net: NetSim::new(p.shape_routers()),
            inp: vec![0; n],
            touched: Vec::new(),
            touched_over: false,
            inp_dirty: false,
            inp_direct: false,
            slow: Vec::new(),
            spikers: Vec::with_capacity(n + 1),
            block_spikers: Vec::new(),
            warm: KeepWarm::default(),
            uniform: uniform_chunks(p),
            narrow: narrow::Narrow::new(p),
            lanes: narrow::Lanes::default(),
            owned: owned::Owned::default(),
            core_runs: core_runs(&p.comp_core),
            aside: None,
            queued: Vec::new(),
            queued_ends: Vec::new(),
        }
    }

    /// Back to the state after loading: initial `u` and `v`, everything else zero, empty
    /// delay lines.
    pub fn reset(&mut self, p: &Program) {
        self.u.copy_from_slice(&p.initial_u);
        self.u2.fill(0);
        self.v.copy_from_slice(&p.initial_v);
        // Lanes are live only within a run; a run cut short (a panic) may have left them so.
        self.lanes.drop_state();
        self.refr.fill(0);
        self.acc[..self.slots].fill(0);
        for slot in self
            .pending
            .iter_mut()
            .chain(&mut self.pending_comp)
            .chain(&mut self.pending_in)
        {
            slot.clear();
        }
        self.tick = 0;
    }
}

/// Applies an overflow policy for a `bits`-wide state variable; see `lifchip_target::Overflow`.
#[inline]
pub(crate) fn overflow(x: i128, bits: u32, policy: Overflow) -> i128 {
    let half = 1i128 << (bits - 1);
    match policy {
        // Two's complement: keep the low `bits` bits, sign-extended.
        Overflow::Wrap => (x << (128 - bits)) >> (128 - bits),
        Overflow::WrapLava => {
            // Lava computes in int32: the sum wraps to 32 bits, then one correction.
            let x = i128::from(x as i32);
            if x > half {
                x - 2 * half
            } else if x <= -half {
                x + 2 * half
            } else {
                x
            }
        }
        Overflow::Saturate => x.clamp(-half, half - 1),
        Overflow::SaturateSymmetric => x.clamp(-(half - 1), half - 1),
    }
}

/// Lava's int32 registers: with `wrap_lava` currents, `decay(v) + u + bias` wraps to 32 bits
/// before the voltage's own overflow policy (docs/core-model.md).
#[inline(always)]
fn add_ovf_v<const P: u8>(
    a: i64,
    b: i64,
    c: i64,
    bits: u32,
    policy: Overflow,
    int32: bool,
) -> (i64, bool) {
    if int32 {
        let exact = i128::from(a) + i128::from(b) + i128::from(c);
        let y = overflow64(i64::from(exact as i32), bits, policy);
        (y, i128::from(y) != exact)
    } else {
        add_ovf_p::<P>(a, b, c, bits, policy)
    }
}

/// [`overflow`] for a value that fits in 64 bits (`bits <= 32`): the same result, exactly.
#[inline(always)]
fn overflow64(x: i64, bits: u32, policy: Overflow) -> i64 {
    let half = 1i64 << (bits - 1);
    match policy {
        Overflow::Wrap => (x << (64 - bits)) >> (64 - bits),
        Overflow::WrapLava => {
            let x = i64::from(x as i32);
            if x > half {
                x - 2 * half
            } else if x <= -half {
                x + 2 * half
            } else {
                x
            }
        }
        Overflow::Saturate => x.clamp(-half, half - 1),
        Overflow::SaturateSymmetric => x.clamp(-(half - 1), half - 1),
    }
}

#[inline]
fn to_i64(x: i128) -> i64 {
    x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// One decay step of `x` with the compartment's decay parameter `d` (a factor or a shift).
#[inline(always)]
fn decay(x: i64, d: i64, p: &Params) -> i64 {
    match p.decay {
        DecayKind::Multiplicative => {
            let prod = x.saturating_mul(d);
            let m = (prod.unsigned_abs() >> p.decay_bits) as i64;
            if prod < 0 { -m } else { m }
        }
        DecayKind::Shift => {
            let mut step = x >> (d as u32).min(63);
            if p.min_step && step == 0 && x != 0 {
                step = x.signum();
            }
            x - step
        }
    }
}

#[inline]
fn shift128(x: i64, e: i32) -> i128 {
    if e >= 0 {
        i128::from(x) << e
    } else {
        i128::from(x >> (-e).min(63))
    }
}

/// Per-run counters and recordings.
struct Recorder {
    counts: EventCounts,
    overflow_u: Vec<u64>,
    overflow_v: Vec<u64>,
    overflow_acc: Vec<u64>,
    comp_spikes: Vec<u32>,
    /// Current and voltage overflows of each compartment (summed per population at the end;
    /// per-event current overflows go to `overflow_u` directly).
    comp_ovf_u: Vec<u32>,
    comp_ovf_v: Vec<u32>,
    /// Probe index of each compartment, or NONE (empty without probes).
    probe_of: Vec<u32>,
    /// Compartment of each probe.
    probe_comp: Vec<u32>,
    probes: Vec<NeuronProbe>,
    record_state: bool,
    cycles: Option<CycleStats>,
    detail: CycleDetail,
    /// Each tick's cycles but its spike drain, completed when its drain comes back from
    /// [`drain_queued`] ([`complete_ticks`]).
    drainless_ticks: Vec<u64>,
}

/// Checks a run's request before any state changes.
fn check_request(
    p: &Program,
    input: &[Vec<u32>],
    opts: &RunOptions,
) -> Result<Vec<(u32, u32)>, EmuError> {
    if opts.ticks == 0 {
        return Err(EmuError::ZeroTicks);
    }
    if input.len() > opts.ticks as usize {
        return Err(EmuError::InputTooLong {
            input_ticks: input.len(),
            ticks: opts.ticks,
        });
    }
    let channels = p.in_tree.len();
    for (tick, chans) in input.iter().enumerate() {
        if let Some(&channel) = chans.iter().find(|&&c| c as usize >= channels) {
            return Err(EmuError::InputChannel {
                tick,
                channel,
                channels,
            });
        }
    }
    let pops: Vec<u32> = match &opts.probes.set {
        ProbeSet::None => Vec::new(),
        ProbeSet::All => (0..p.pop_names.len() as u32)
            .filter(|&q| !p.pop_is_input[q as usize])
            .collect(),
        ProbeSet::Populations(list) => {
            for &q in list {
                match p.pop_is_input.get(q as usize) {
                    None => {
                        return Err(EmuError::Probe {
                            population: q,
                            detail: format!("does not exist ({} populations)", p.pop_names.len()),
                        });
                    }
                    Some(true) => {
                        return Err(EmuError::Probe {
                            population: q,
                            detail: format!(
                                "{:?} is an input population (it has no neurons on the chip)",
                                p.pop_names[q as usize]
                            ),
                        });
                    }
                    Some(false) => {}
                }
            }
            list.clone()
        }
    };
    let mut probed = Vec::new();
    for q in pops {
        for (n, _) in p.pop_comps[q as usize].iter().enumerate() {
            probed.push((q, n as u32));
        }
    }
    Ok(probed)
}

/// Runs `opts.ticks` ticks from the current state; a cycle-accurate run keeps `detail`.
pub(crate) fn run(
    p: &Program,
    s: &mut State,
    input: &[Vec<u32>],
    opts: &RunOptions,
    detail: CycleDetail,
) -> Result<SampleResult, EmuError> {
    // A cycle-accurate run of its own, with a thread to spare, does its cycle model on a
    // second thread (not a sample of a parallel batch: its pool's threads have samples).
    let cycle_thread = opts.mode == Mode::CycleAccurate
        && rayon::current_thread_index().is_none()
        && rayon::current_num_threads() > 1;
    run_with(p, s, input, opts, detail, cycle_thread)
}

/// [`run`], with the cycle model on a second thread when `cycle_thread` (cycle-accurate
/// runs; the results are the same either way).
fn run_with(
    p: &Program,
    s: &mut State,
    input: &[Vec<u32>],
    opts: &RunOptions,
    detail: CycleDetail,
    cycle_thread: bool,
) -> Result<SampleResult, EmuError> {
    let probed = check_request(p, input, opts)?;
    if opts.readout_from >= opts.ticks {
        return Err(EmuError::ReadoutFrom {
            from: opts.readout_from,
            ticks: opts.ticks,
        });
    }
    let n = p.n_comp();
    let npop = p.pop_names.len();
    let ticks = opts.ticks as usize;
    let record_state = opts.probes.state;
    let mut probe_of = vec![NONE; if probed.is_empty() { 0 } else { n }];
    let mut probes = Vec::with_capacity(probed.len());
    for &(q, neuron) in &probed {
        let k = p.pop_comps[q as usize][neuron as usize];
        probe_of[k as usize] = probes.len() as u32;
        probes.push(NeuronProbe {
            population: q,
            neuron,
            spike_ticks: Vec::new(),
            u: Vec::with_capacity(if record_state { ticks } else { 0 }),
            v: Vec::with_capacity(if record_state { ticks } else { 0 }),
            u2: Vec::with_capacity(if record_state && p.params.two_currents {
                ticks
            } else {
                0
            }),
        });
    }
    let cycle = opts.mode == Mode::CycleAccurate;
    if cycle {
        // The trees' shapes are built on the first cycle-accurate run.
        let routers = p.with_shapes(&[], |sh| sh.routers());
        if s.net.routers() != routers {
            s.net = NetSim::new(routers);
        }
    }
    let per_tick = if detail >= CycleDetail::PerTick {
        ticks
    } else {
        0
    };
    let per_core = if detail >= CycleDetail::PerCore {
        ticks * p.n_cores
    } else {
        0
    };
    let mut rec = Recorder {
        counts: EventCounts::default(),
        overflow_u: vec![0; npop],
        overflow_v: vec![0; npop],
        overflow_acc: vec![0; npop],
        comp_spikes: vec![0; n],
        comp_ovf_u: vec![0; n],
        comp_ovf_v: vec![0; n],
        probe_comp: probed
            .iter()
            .map(|&(q, neuron)| p.pop_comps[q as usize][neuron as usize])
            .collect(),
        probe_of,
        probes,
        record_state,
        cycles: cycle.then(|| CycleStats {
            cores: p.n_cores,
            input_drain_cycles: Vec::with_capacity(per_tick),
            compute_cycles: Vec::with_capacity(per_core),
            spike_drain_cycles: Vec::with_capacity(per_tick),
            tick_cycles: Vec::with_capacity(per_tick),
            core_compute_cycles: vec![0; p.n_cores],
            core_compute_cycles_max: vec![0; p.n_cores],
            ..CycleStats::default()
        }),
        detail,
        drainless_ticks: Vec::new(),
    };
    // With a cycle thread, the cycle statistics are its to keep until the run ends.
    let aside_stats = if cycle_thread {
        rec.cycles.take()
    } else {
        None
    };
    let empty = Vec::new();
    // The readout's counts before `readout_from`, taken as that tick starts.
    let mut uncounted: Vec<u32> = Vec::new();
    let mut ticks_of = |s: &mut State| {
        for t in 0..ticks {
            if t == opts.readout_from as usize && t > 0 {
                let counts = p
                    .readout_comps()
                    .iter()
                    .map(|&k| rec.comp_spikes[k as usize]);
                uncounted = counts.collect();
            }
            let chans = input.get(t).unwrap_or(&empty);
            if cycle {
                tick::<true>(p, s, chans, t as u32, &mut rec);
            } else {
                tick::<false>(p, s, chans, t as u32, &mut rec);
            }
        }
    };
    if let Some(stats) = aside_stats {
        // No spinners either: the passes stay on this thread.
        s.warm.on = false;
        // A cycle-accurate run of its own on several threads: a second thread does each
        // tick's cycle model (counts, prices and drains, [`aside`]) while this one goes on
        // with the next ticks; the statistics come back at the end.
        let (to, ticks) = std::sync::mpsc::sync_channel(aside::BATCHES_IN_FLIGHT);
        let prices = s.syn_prices;
        let stats = std::thread::scope(|scope| {
            let cycles = scope.spawn(move || aside::run(p, ticks, stats, detail, prices));
            s.aside = Some(aside::Aside {
                to,
                tick: aside::TickCycles::default(),
                batch: Vec::new(),
            });
            // A panic here would leave the cycle thread waiting for ticks, and the scope
            // waiting for it: it is caught until the sender is gone.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ticks_of(s);
                if let Some(a) = &mut s.aside {
                    a.send();
                }
            }));
            // The sender gone, the cycle thread ends once it has done every tick.
            s.aside = None;
            let stats = cycles.join();
            if let Err(e) = ran {
                std::panic::resume_unwind(e);
            }
            stats.unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
        rec.cycles = Some(stats);
    } else {
        // A run of its own with parallel passes moves onto the pool: the ticks' serial parts
        // then run on one of its threads, which takes a half of each parallel pass itself
        // while the others (kept warm) take the rest, instead of waiting asleep for the pool.
        s.warm.on = parallel(n) && rayon::current_thread_index().is_none();
        if s.warm.on {
            rayon::scope(|_| ticks_of(s));
            s.warm.release();
        } else {
            ticks_of(s);
        }
        if cycle {
            drain_queued(p, s, &mut rec);
        }
    }
    // Between runs the 64-bit state holds the state.
    s.lanes.widen(&mut s.u, &mut s.v);
    let mut result = finish(p, rec, opts, &s.v);
    for (count, before) in result.readout_counts.iter_mut().zip(&uncounted) {
        *count -= before;
    }
    Ok(result)
}

fn finish(p: &Program, mut rec: Recorder, opts: &RunOptions, v: &[i64]) -> SampleResult {
    for k in 0..p.n_comp() {
        let q = p.comp_pop[k] as usize;
        rec.overflow_u[q] += u64::from(rec.comp_ovf_u[k]);
        rec.overflow_v[q] += u64::from(rec.comp_ovf_v[k]);
    }
    let e = &p.target.energy;
    let c = &rec.counts;
    let mut cycles = rec.cycles;
    let mut static_joules = 0.0;
    if let Some(cs) = &mut cycles {
        cs.cycles_per_tick_mean = cs.total_cycles as f64 / f64::from(opts.ticks.max(1));
        cs.latency_seconds = cs.total_cycles as f64 / p.target.timing.clock_hz;
        static_joules = e.static_watts_per_core * p.n_cores as f64 * cs.latency_seconds;
    }
    let or = |x: f64, base: f64| if x != 0.0 { x } else { base };
    let dense_j = or(e.dense_synop_joules, e.synop_joules);
    let shared_j = or(e.shared_synop_joules, e.synop_joules);
    let sparse_ops = c.synops - c.dense_synops - c.shared_synops;
    let mut energy = EnergyBreakdown {
        synops_joules: sparse_ops as f64 * e.synop_joules
            + c.dense_synops as f64 * dense_j
            + c.shared_synops as f64 * shared_j,
        neuron_updates_joules: c.neuron_updates as f64 * e.neuron_update_joules
            + c.active_neuron_updates as f64 * e.active_neuron_joules,
        spikes_out_joules: (c.packets_out + c.partial_packets) as f64 * e.spike_out_joules
            + c.spiking_neurons as f64 * e.spike_joules
            + (c.messages + c.input_messages) as f64 * e.message_joules,
        hops_joules: (c.hops - c.hops_y) as f64 * e.hop_joules
            + c.hops_y as f64 * or(e.hop_y_joules, e.hop_joules),
        static_joules,
        total_joules: 0.0,
    };
    energy.total_joules = energy.synops_joules
        + energy.neuron_updates_joules
        + energy.spikes_out_joules
        + energy.hops_joules
        + energy.static_joules;
    let overflows = (0..p.pop_names.len())
        .filter(|&q| !p.pop_is_input[q])
        .map(|q| OverflowCounts {
            population: q as u32,
            name: p.pop_names[q].clone(),
            current: rec.overflow_u[q],
            voltage: rec.overflow_v[q],
            accumulator: rec.overflow_acc[q],
        })
        .collect();
    SampleResult {
        ticks: opts.ticks,
        mode: opts.mode,
        readout_counts: p
            .readout_comps()
            .iter()
            .map(|&k| rec.comp_spikes[k as usize])
            .collect(),
        readout_voltages: p.readout_comps().iter().map(|&k| v[k as usize]).collect(),
        counts: rec.counts,
        energy,
        cycles,
        overflows,
        probes: rec.probes,
    }
}

/// How many rows ahead [`deliver_sum`] loads a row's cache lines (the descriptor twice as far).
const TOUCH_AHEAD: usize = 2;

/// Loads one value from every cache line of `xs` and folds it into `sink`: plain loads that
/// bring a row towards the core while the previous row is processed, all its misses in
/// flight at once (the effect of a prefetch, in safe code).
#[inline(always)]
fn touch<T: Copy + Into<i64>>(xs: &[T], sink: &mut i64) {
    let step = (64 / size_of::<T>()).max(1);
    let mut j = 0;
    while j < xs.len() {
        *sink ^= xs[j].into();
        j += step;
    }
}

multiversion! {
    /// [`deliver_sum`] on the store's index and weight types, compiled for each vector level:
    /// a long row's weights are widened and added several at a time (integer additions: the
    /// same sums at every level).
    #[allow(clippy::too_many_arguments)]
    fn deliver_store<const CYCLE: bool, const TOUCH: bool>(
        store: &Store,
        rows: &Rows,
        core_base: &[u32],
        due: &[(u32, u32)],
        acc: &mut [i64],
        core_syn_cycles: &mut [u64],
        prices: &SynPrices,
    ) -> u64 => deliver_store_kernel
}

/// The body of [`deliver_store`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn deliver_store_kernel<const CYCLE: bool, const TOUCH: bool>(
    store: &Store,
    rows: &Rows,
    core_base: &[u32],
    due: &[(u32, u32)],
    acc: &mut [i64],
    core_syn_cycles: &mut [u64],
    prices: &SynPrices,
) -> u64 {
    macro_rules! go {
        ($t:expr) => {
            deliver_sum::<_, _, CYCLE, TOUCH>(
                $t,
                rows,
                core_base,
                due,
                acc,
                core_syn_cycles,
                prices,
            )
        };
    }
    with_store!(store, t => go!(t))
}

/// Step 2 with sum-then-add: every due delivery's row into the accumulators. Returns the
/// synaptic operations; with `CYCLE`, also adds each delivery's synapse-stage cycles at the
/// sparse price `prices` to its core (dense and shared rows are corrected after). With
/// `TOUCH` (synapse memory larger than the caches), the next row's cache lines and the
/// descriptor of the one after are loaded ahead.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn deliver_sum<
    I: Index + Into<i64>,
    W: Weight + Into<i64>,
    const CYCLE: bool,
    const TOUCH: bool,
>(
    t: &Typed<I, W>,
    rows: &Rows,
    core_base: &[u32],
    due: &[(u32, u32)],
    acc: &mut [i64],
    core_syn_cycles: &mut [u64],
    prices: &SynPrices,
) -> u64 {
    let mut synops = 0u64;
    let mut sink = 0i64;
    for (i, &(a, count)) in due.iter().enumerate() {
        if TOUCH {
            if let Some(&(a2, _)) = due.get(i + 2 * TOUCH_AHEAD) {
                sink ^= i64::from(rows.get(a2 as usize).span);
            }
            if let Some(&(a1, _)) = due.get(i + TOUCH_AHEAD) {
                let r = rows.get(a1 as usize);
                let (lo, hi) = (r.start, r.start + r.span as usize);
                if r.lo == NONE {
                    touch(&t.idx[lo..hi], &mut sink);
                    touch(&t.w[lo..hi], &mut sink);
                } else {
                    touch(&t.dense[lo..hi], &mut sink);
                }
            }
        }
        let r = rows.get(a as usize);
        let ops = u64::from(r.len) * u64::from(count);
        synops += ops;
        let c = r.core as usize;
        if CYCLE {
            core_syn_cycles[c] = core_syn_cycles[c].wrapping_add(prices.delivery(ops, ROW_SPARSE));
        }
        let base = core_base[c] as usize;
        let m = i64::from(count);
        let (lo, hi) = (r.start, r.start + r.span as usize);
        if r.lo == NONE {
            I::add_sparse(acc, base, &t.idx[lo..hi], &t.w[lo..hi], m);
        } else {
            let b = base + r.lo as usize;
            add_dense(&mut acc[b..b + r.span as usize], &t.dense[lo..hi], m);
        }
    }
    if TOUCH {
        std::hint::black_box(sink);
    }
    synops
}

/// The cycle model's per-core counters of the compartments' spikes due this tick, from
/// [`Program::cycle_fan`]: per core, a delivery per axon and its synapses per spike by price
/// class.
#[inline]
fn count_cycle_fan<E: FanEntry>(
    p: &Program,
    due: &[(u32, u32)],
    cyc: &mut [u64],
    cf: &CycleFan,
    cells: &[std::sync::OnceLock<Box<[E]>>],
    prices: &SynPrices,
) {
    for &(k, count) in due {
        // Counted by `deliver_fan` as it delivers them.
        if p.by_runs(cf, k as usize) {
            continue;
        }
        for &e in p.cycle_fan_of(cf, cells, k as usize) {
            let (c, lk) = (e.core() as usize, e.synapses_class());
            let ops = u64::from(lk & CYCLE_FAN_LEN) * u64::from(count);
            // One add per delivery, the class's price from a table (no branch).
            cyc[c] = cyc[c].wrapping_add(prices.delivery(ops, (lk >> 30) as u8));
        }
    }
}

/// The cycle model's count of the compartments whose spikes [`deliver_fan`] counts as it
/// delivers them ([`Program::run_classes`]): a delivery per row of the list, each row one
/// run of slots, priced as a price per slot (its count of spikes times the usual class's
/// price) and a packet at each run's first slot (sums are wrapping: the same as a delivery
/// per row), then the rows of another class repriced.
struct RunCount<'a> {
    p: &'a Program,
    cf: &'a CycleFan,
    prices: &'a SynPrices,
    /// Each slot's core in 16 bits ([`CycleFan::slot_core16`]); empty: read
    /// [`Program::slot_core`].
    cores16: &'a [u16],
    cyc: &'a mut [u64],
}

impl RunCount<'_> {
    /// Compartment `k`'s `count` spikes through its list `slots`; nothing for a compartment
    /// not counted by runs (its entries are, in [`count_cycle_fan`]).
    #[inline]
    fn count(&mut self, k: usize, count: u32, slots: &[u32]) {
        let Some((usual, other)) = self.p.run_classes(self.cf, k) else {
            return;
        };
        let m = u64::from(count);
        let prices = self.prices;
        let per_slot = m.wrapping_mul(prices.class[usize::from(usual & 3)]);
        let cores16 = self.cores16;
        if cores16.is_empty() {
            count_list(
                self.cyc,
                slots,
                &self.p.slot_core,
                per_slot,
                prices.packet_in,
            );
        } else {
            count_list(self.cyc, slots, cores16, per_slot, prices.packet_in);
        }
        // The rows of another class: the difference from the usual class's price.
        for &(a, kind) in other {
            let (c, lk) = self.p.cycle_fan_entry(a);
            let ops = u64::from(lk & CYCLE_FAN_LEN).wrapping_mul(m);
            if let Some(x) = self.cyc.get_mut(c as usize) {
                *x = x.wrapping_add(prices.reprice_from(ops, usual, kind));
            }
        }
    }
}

/// [`RunCount`]'s prices of a list's runs added to `cyc` (see there): a pass of its own
/// before the list's deliveries, which then read it from the cache. In one loop with them
/// (two look-ups at random per slot, the input's compartment and the slot's core) the 40k
/// CUBA's later cycle-accurate runs were slower: 1.32 s against 1.20 s, medians of four
/// processes alternated.
#[inline(never)]
fn count_list<C: Copy + Into<u32>>(
    cyc: &mut [u64],
    slot: &[u32],
    slot_core: &[C],
    per_slot: u64,
    packet_in: u64,
) {
    let mut prev = NONE;
    for &s in slot {
        let Some(&d) = slot_core.get(s as usize) else {
            continue;
        };
        let d: u32 = d.into();
        // The packet as a mask, not a branch (a run's end is seldom predicted).
        let packet = packet_in & u64::from(d != prev).wrapping_neg();
        prev = d;
        if let Some(x) = cyc.get_mut(d as usize) {
            *x = x.wrapping_add(per_slot.wrapping_add(packet));
        }
    }
}

/// Step 2 for the spikes of `due_comp` (runs with [`Program::fan_lists`]): each
/// compartment's fan-out list into the accumulators, with the counts the rows would give.
/// With `cycle` (cycle-accurate runs), the cycle model's count of the compartments counted
/// by their lists' runs ([`RunCount`]), each just before its list's delivery.
#[inline(never)]
fn deliver_fan(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
    cycle: Option<(&CycleFan, &SynPrices)>,
) {
    /// Into `sums`: the accumulators, or with `direct` (its shift and `slot_comp`) the inputs.
    fn go<I, W: Weight>(
        t: &Typed<I, W>,
        due: &[(u32, u32)],
        sums: &mut [i64],
        direct: Option<(u32, &[u32])>,
        mut runs: Option<RunCount<'_>>,
    ) {
        for &(k, count) in due {
            let k = k as usize;
            let (lo, hi) = (t.fan_start[k], t.fan_start[k + 1]);
            let (slots, ws) = (&t.fan_slot[lo..hi], &t.fan_w[lo..hi]);
            if let Some(r) = runs.as_mut() {
                r.count(k, count, slots);
            }
            match direct {
                Some((shift, comp)) => add_direct(sums, comp, slots, ws, shift),
                None => add_fan(sums, slots, ws, i64::from(count)),
            }
        }
    }
    // Straight into the inputs, with no accumulator, no touched slot and nothing to gather.
    let direct = direct_ok(p, &s.due_comp).map(|shift| (shift, &p.slot_comp[..]));
    let sums = if direct.is_some() {
        if std::mem::take(&mut s.inp_dirty) {
            s.inp.fill(0);
        }
        s.inp_direct = true;
        &mut s.inp[..]
    } else {
        if p.sparse_gather && !s.touched_over {
            let cap = sparse_cap(s.slots);
            s.touched_over = !track_fan(p, &s.due_comp, &mut s.touched, cap);
        }
        &mut s.acc[..]
    };
    let due = &s.due_comp[..];
    let cyc = &mut s.core_syn_cycles[..];
    if let Some(store) = &p.store {
        with_store!(store, t => go(t, due, sums, direct, cycle.map(|(cf, prices)| RunCount {
            p,
            cf,
            prices,
            cores16: &cf.slot_core16,
            cyc: &mut *cyc,
        })));
    }
    count_fan(p, due, &mut rec.counts);
    s.due_comp.clear();
}

/// Step 2 for the input channels' spikes of `due_in` (with [`Program::input_lists`]): each
/// channel's list into the accumulators, with the counts and, with `CYCLE`, the synapse-stage
/// cycles its axons' rows would give (sums and prices are wrapping: any order gives them).
fn deliver_inputs<const CYCLE: bool>(p: &Program, s: &mut State, rec: &mut Recorder) {
    let Some(lists) = &p.input_lists else {
        return;
    };
    fn go<I, W: Weight>(
        t: &Typed<I, W>,
        due: &[(u32, u32)],
        acc: &mut [i64],
        touched: Option<(&mut Vec<u32>, usize)>,
    ) -> bool {
        let listed = touched
            .is_none_or(|(touched, cap)| list_slots(&t.in_start, &t.in_slot, due, touched, cap));
        for &(c, count) in due {
            let (lo, hi) = (t.in_start[c as usize], t.in_start[c as usize + 1]);
            add_fan(acc, &t.in_slot[lo..hi], &t.in_w[lo..hi], i64::from(count));
        }
        listed
    }
    let track = p.sparse_gather && !s.touched_over;
    let cap = sparse_cap(s.slots);
    let touched = track.then_some((&mut s.touched, cap));
    let (due, acc) = (&s.due_in[..], &mut s.acc[..]);
    let listed = match &p.store {
        Some(s) => with_store!(s, t => go(t, due, acc, touched)),
        None => false,
    };
    if track && !listed {
        s.touched_over = true;
    }
    count_inputs(p, &s.due_in, &mut rec.counts);
    if CYCLE {
        for &(c, count) in &s.due_in {
            let (lo, hi) = (p.in_start[c as usize], p.in_start[c as usize + 1]);
            for &(core, lk) in &lists.entries[lo..hi] {
                let ops = u64::from(lk & CYCLE_FAN_LEN) * u64::from(count);
                let cyc = &mut s.core_syn_cycles[core as usize];
                *cyc = cyc.wrapping_add(s.syn_prices.delivery(ops, (lk >> 30) as u8));
            }
        }
    }
    s.due_in.clear();
}

/// The event counts of delivering the input channels' spikes `due_in` through their lists
/// (what their axons' rows would count).
fn count_inputs(p: &Program, due_in: &[(u32, u32)], c: &mut EventCounts) {
    let Some(lists) = &p.input_lists else {
        return;
    };
    for &(ch, count) in due_in {
        let ch = ch as usize;
        let m = u64::from(count);
        c.synops += lists.synops[ch] * m;
        c.dense_synops += lists.dense[ch] * m;
        c.shared_synops += lists.shared[ch] * m;
        c.packets_in += (p.in_start[ch + 1] - p.in_start[ch]) as u64;
    }
}

/// `inp[comp[slot[j]]] += w[j] << shift` for every `j` (wrapping): [`add_fan`] and the gather
/// in one step (see [`Program::direct_fan`]).
fn add_direct<W: Weight>(inp: &mut [i64], comp: &[u32], slot: &[u32], w: &[W], shift: u32) {
    for (&s, &w) in slot.iter().zip(w) {
        let x = &mut inp[comp[s as usize] as usize];
        *x = x.wrapping_add(w.wide() << shift);
    }
}

/// The shift with which the fan-out lists of `due` add straight into the inputs, when
/// [`Program::direct_fan`] allows it and this engine can (with the fused neuron pass, which
/// reads every input and zeroes it): every count 1, and fewer list entries in all than its
/// bound (at most a spike's synapses each; a compartment listed twice counts twice).
fn direct_ok(p: &Program, due: &[(u32, u32)]) -> Option<u32> {
    let (shift, limit) = p.direct_fan.filter(|_| fused_neurons(p))?;
    let entries = due
        .iter()
        .map(|&(k, count)| match p.fan_synops.get(k as usize) {
            Some(&n) if count == 1 => n,
            _ => u64::MAX,
        })
        .fold(0u64, u64::saturating_add);
    (entries < limit).then_some(shift)
}

/// The event counts of delivering `due` through the fan-out lists (the counts the rows would
/// give).
fn count_fan(p: &Program, due: &[(u32, u32)], c: &mut EventCounts) {
    let priced = !p.fan_dense.is_empty();
    for &(k, count) in due {
        let k = k as usize;
        let m = u64::from(count);
        c.synops += p.fan_synops[k] * m;
        c.packets_in += (p.fan_start[k + 1] - p.fan_start[k]) as u64;
        if priced {
            c.dense_synops += p.fan_dense[k] * m;
            c.shared_synops += p.fan_shared[k] * m;
        }
    }
}

/// The most touched slots a sparse gather takes: beyond that, the dense gather's one pass over
/// all slots is cheaper.
fn sparse_cap(slots: usize) -> usize {
    slots / 4
}

/// Appends the slots the fan-out lists of `due` reach to `touched`; `false` (stopping) when
/// that would make more than `cap`.
fn track_fan(p: &Program, due: &[(u32, u32)], touched: &mut Vec<u32>, cap: usize) -> bool {
    fn go<I, W>(t: &Typed<I, W>, due: &[(u32, u32)], touched: &mut Vec<u32>, cap: usize) -> bool {
        list_slots(&t.fan_start, &t.fan_slot, due, touched, cap)
    }
    match &p.store {
        Some(s) => with_store!(s, t => go(t, due, touched, cap)),
        None => false,
    }
}

/// Appends the slots of the lists of `due` (list `k` at `slot[start[k]..start[k + 1]]`) to
/// `touched`; `false` (stopping) when that would make more than `cap`.
fn list_slots(
    start: &[usize],
    slot: &[u32],
    due: &[(u32, u32)],
    touched: &mut Vec<u32>,
    cap: usize,
) -> bool {
    for &(k, _) in due {
        let (lo, hi) = (start[k as usize], start[k as usize + 1]);
        if touched.len() + (hi - lo) > cap {
            return false;
        }
        touched.extend_from_slice(&slot[lo..hi]);
    }
    true
}

/// Appends the slots the rows of `due` reach to `touched` (a dense row: its whole span);
/// `false` (stopping) when that would make more than `cap`.
fn track_rows(p: &Program, due: &[(u32, u32)], touched: &mut Vec<u32>, cap: usize) -> bool {
    fn go<I: Index + Into<i64>, W>(
        t: &Typed<I, W>,
        rows: &Rows,
        core_base: &[u32],
        due: &[(u32, u32)],
        touched: &mut Vec<u32>,
        cap: usize,
    ) -> bool {
        for &(a, _) in due {
            let r = rows.get(a as usize);
            if touched.len() + r.span as usize > cap {
                return false;
            }
            let base = core_base[r.core as usize];
            if r.lo == NONE {
                let idx = &t.idx[r.start..r.start + r.span as usize];
                // Slot numbers are u32 (`core_slot_base`), and so is every base + index.
                touched.extend(idx.iter().map(|&i| base + i.into() as u32));
            } else {
                let b = base + r.lo;
                touched.extend(b..b + r.span);
            }
        }
        true
    }
    let (rows, base) = (&p.rows, &p.core_slot_base[..]);
    match &p.store {
        Some(s) => with_store!(s, t => go(t, rows, base, due, touched, cap)),
        None => false,
    }
}

/// Step 2 with per-event saturating accumulation, in ascending (core, axon) order.
fn deliver_events<const CYCLE: bool>(
    p: &Program,
    due: &[(u32, u32)],
    u: &mut [i64],
    u2: &mut [i64],
    core_syn_cycles: &mut [u64],
    prices: &SynPrices,
    overflow_u: &mut [u64],
) -> u64 {
    let par = &p.params;
    let (bits, policy) = (par.current_bits, par.current_overflow);
    let mut synops = 0u64;
    for &(a, count) in due {
        let r = p.rows.get(a as usize);
        let ops = u64::from(r.len) * u64::from(count);
        synops += ops;
        if CYCLE {
            let c = r.core as usize;
            core_syn_cycles[c] = core_syn_cycles[c].wrapping_add(prices.delivery(ops, ROW_SPARSE));
        }
        for &(k, add) in &p.ev[r.start..r.start + r.len as usize] {
            // `n + k` names compartment `k`'s second current.
            let (u, k) = match (k as usize).checked_sub(u.len()) {
                Some(k2) => (&mut *u2, k2),
                None => (&mut *u, k as usize),
            };
            for _ in 0..count {
                let old = u[k];
                let (y, changed) = match old.checked_add(add) {
                    Some(x) => {
                        let y = overflow64(x, bits, policy);
                        (y, y != x)
                    }
                    None => {
                        let x = i128::from(old) + i128::from(add);
                        let y = overflow(x, bits, policy);
                        (to_i64(y), y != x)
                    }
                };
                if changed {
                    overflow_u[p.comp_pop[k] as usize] += 1;
                }
                u[k] = y;
            }
        }
    }
    synops
}

multiversion! {
    /// `active[k] = (u | v | bias | u2)[k] != 0` (`u2` empty or as long as the others):
    /// whether compartment `k` is priced as active before this tick's input arrives.
    fn mark_active<>(active: &mut [bool], u: &[i64], v: &[i64], bias: &[i64], u2: &[i64])
        => mark_active_kernel
}

/// The body of [`mark_active`], compiled once per vector level.
#[inline(always)]
fn mark_active_kernel(active: &mut [bool], u: &[i64], v: &[i64], bias: &[i64], u2: &[i64]) {
    // Branch-free: every compartment of a driven net is active.
    for (((a, &u), &v), &b) in active.iter_mut().zip(u).zip(v).zip(bias) {
        *a = (u | v | b) != 0;
    }
    for (a, &x) in active.iter_mut().zip(u2) {
        *a |= x != 0;
    }
}

multiversion! {
    /// How many compartments were active before the input (`pre`) or hold a current now.
    fn count_active<>(pre: &[bool], u: &[i64]) -> u64 => count_active_kernel
}

/// The body of [`count_active`], compiled once per vector level.
#[inline(always)]
fn count_active_kernel(pre: &[bool], u: &[i64]) -> u64 {
    pre.iter()
        .zip(u)
        .map(|(&pre, &u)| u64::from(pre | (u != 0)))
        .sum()
}

/// Synapse-stage cycles of the target's timing: per delivery (packet in) and per synapse
/// operation of each row price class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SynPrices {
    packet_in: u64,
    /// Indexed by [`ROW_SPARSE`], [`ROW_DENSE`], [`ROW_SHARED`] (and 3, priced as shared, as
    /// the class counts always did).
    class: [u64; 4],
}

impl SynPrices {
    pub(crate) fn new(tm: &lifchip_target::Timing) -> Self {
        let pick = |x: u32| u64::from(if x != 0 { x } else { tm.cycles_per_synop });
        let (dense, shared) = (
            pick(tm.cycles_per_dense_synop),
            pick(tm.cycles_per_shared_synop),
        );
        let mut class = [shared; 4];
        class[ROW_SPARSE as usize] = u64::from(tm.cycles_per_synop);
        class[ROW_DENSE as usize] = dense;
        Self {
            packet_in: u64::from(tm.cycles_per_packet_in),
            class,
        }
    }

    /// One delivery of `ops` synapse operations of price class `class`.
    #[inline(always)]
    fn delivery(&self, ops: u64, class: u8) -> u64 {
        self.packet_in
            .wrapping_add(ops.wrapping_mul(self.class[usize::from(class & 3)]))
    }

    /// What `ops` operations counted at the price of class `from` cost more (wrapping: less)
    /// at the price of `class`.
    #[inline(always)]
    fn reprice_from(&self, ops: u64, from: u8, class: u8) -> u64 {
        ops.wrapping_mul(
            self.class[usize::from(class & 3)].wrapping_sub(self.class[usize::from(from & 3)]),
        )
    }

    /// What `ops` operations already counted at the sparse price cost more (wrapping: less)
    /// at the price of `class`.
    #[inline(always)]
    fn reprice(&self, ops: u64, class: u8) -> u64 {
        self.reprice_from(ops, ROW_SPARSE, class)
    }
}

/// A core's compute cycles from this tick's synapse-stage cycles `syn`, its `n` compartments
/// at `per_comp` each and the neuron-stage cycles beyond them `stage`. Wrapping: the stage
/// sums are exact modulo 2^64, as the counts' products and sums were.
#[inline(always)]
fn core_cycles(syn: u64, n: u64, per_comp: u64, stage: u64, pipelined: bool) -> u64 {
    let neuron_stage = n.wrapping_mul(per_comp).wrapping_add(stage);
    if pipelined {
        syn.max(neuron_stage)
    } else {
        syn.wrapping_add(neuron_stage)
    }
}

multiversion! {
    /// Every core's compute cycles this tick, added to its `sum` and folded into its `max`;
    /// returns the slowest. `base`: each core's every-tick neuron-stage price. Clears the
    /// counters it reads (zero again for the next tick).
    fn price_cores<>(
        pipelined: bool,
        syn: &mut [u64],
        stage: &mut [u64],
        base: &[u64],
        sum: &mut [u64],
        max: &mut [u64],
    ) -> u64 => price_cores_kernel
}

/// The body of [`price_cores`], compiled once per vector level: one pass over the cores
/// instead of a pass to price and one per counter to clear (it runs every tick).
#[inline(always)]
fn price_cores_kernel(
    pipelined: bool,
    syn: &mut [u64],
    stage: &mut [u64],
    base: &[u64],
    sum: &mut [u64],
    max: &mut [u64],
) -> u64 {
    // Inlined into each vector level's copy (a plain nested function would be compiled once,
    // for the baseline).
    #[inline(always)]
    fn go<const PIPELINED: bool>(
        syn: &mut [u64],
        stage: &mut [u64],
        base: &[u64],
        sum: &mut [u64],
        max: &mut [u64],
    ) -> u64 {
        let n = base.len();
        let (sum, max, syn, stage) = (&mut sum[..n], &mut max[..n], &mut syn[..n], &mut stage[..n]);
        let mut slowest = 0;
        for c in 0..n {
            // `core_cycles` with the product `neurons × per_comp` read from `base`.
            let neuron_stage = base[c].wrapping_add(stage[c]);
            let cycles = if PIPELINED {
                syn[c].max(neuron_stage)
            } else {
                syn[c].wrapping_add(neuron_stage)
            };
            (syn[c], stage[c]) = (0, 0);
            sum[c] += cycles;
            max[c] = max[c].max(cycles);
            slowest = slowest.max(cycles);
        }
        slowest
    }
    if pipelined {
        go::<true>(syn, stage, base, sum, max)
    } else {
        go::<false>(syn, stage, base, sum, max)
    }
}

/// The network model's parameters of `p`'s target.
fn net_params(p: &Program) -> NetParams {
    let [hop_cycles, hop_y_cycles] = p.hop();
    NetParams {
        hop_cycles,
        hop_y_cycles,
        link_packets_per_cycle: p.target.mesh.link_packets_per_cycle,
        fifo_depth: p.target.mesh.fifo_depth,
    }
}

/// Adds a tick's cycles to the run's statistics: its spike drain `spike_drain` and the rest,
/// `drainless` (input and partial-sum drains, the slowest core, the barrier).
fn record_tick(cs: &mut CycleStats, detail: CycleDetail, spike_drain: u64, drainless: u64) {
    let tick_cycles = drainless + spike_drain;
    if detail >= CycleDetail::PerTick {
        cs.spike_drain_cycles.push(spike_drain);
        cs.tick_cycles.push(tick_cycles);
    }
    cs.total_cycles += tick_cycles;
    cs.cycles_per_tick_max = cs.cycles_per_tick_max.max(tick_cycles);
}

/// What a tick's cycles hold besides its cores' counters and its spike drain.
#[derive(Clone, Copy, Debug)]
struct TickParts {
    /// Every compartment's neuron-stage price this tick.
    per_comp: u64,
    /// The host's cycles sending the input messages.
    host_stage: u64,
    input_drain: u64,
    partial_drain: u64,
}

/// A tick's cycles but its spike drain, its per-core and input-drain figures kept in `cs`
/// (with `detail`): the cores priced from their counters `syn` and `stage` (cleared), with
/// `base` their every-tick neuron-stage prices for the `per_comp` beside them (recomputed when
/// it changes).
fn price_tick(
    p: &Program,
    cs: &mut CycleStats,
    detail: CycleDetail,
    (syn, stage): (&mut [u64], &mut [u64]),
    (base, base_for): &mut (Vec<u64>, Option<u64>),
    parts: TickParts,
) -> u64 {
    let nc = p.n_cores;
    let pipelined = p.target.timing.pipelined;
    let per_comp = parts.per_comp;
    if detail >= CycleDetail::PerCore {
        cs.compute_cycles.extend(
            (0..nc).map(|c| core_cycles(syn[c], p.core_neurons[c], per_comp, stage[c], pipelined)),
        );
    }
    if *base_for != Some(per_comp) {
        base.clear();
        base.extend(
            p.core_neurons[..nc]
                .iter()
                .map(|n| n.wrapping_mul(per_comp)),
        );
        *base_for = Some(per_comp);
    }
    let slowest = parts.host_stage.max(price_cores(
        pipelined,
        syn,
        stage,
        base,
        &mut cs.core_compute_cycles[..nc],
        &mut cs.core_compute_cycles_max[..nc],
    ));
    if detail >= CycleDetail::PerTick {
        cs.input_drain_cycles.push(parts.input_drain);
    }
    parts.input_drain + slowest + parts.partial_drain + p.barrier_cycles
}

/// The cycle model's count of the spikes `due` through the fan-out entries of the
/// compartments not counted by their lists' runs ([`count_cycle_fan`]), into `cyc`.
fn count_fan_entries(
    p: &Program,
    cf: &CycleFan,
    due: &[(u32, u32)],
    cyc: &mut [u64],
    prices: &SynPrices,
) {
    match &cf.entries {
        CycleFanEntries::Narrow(cells) => count_cycle_fan(p, due, cyc, cf, cells, prices),
        CycleFanEntries::Wide(cells) => count_cycle_fan(p, due, cyc, cf, cells, prices),
    }
}

/// The ticks waiting in `rec.drainless_ticks` (drained by [`drain_queued`]), recorded in order
/// once their spike drains `drains` are back.
fn complete_ticks(rec: &mut Recorder, drains: &[u64]) {
    let detail = rec.detail;
    if let Some(cs) = rec.cycles.as_mut() {
        for (&drainless, &drain) in rec.drainless_ticks.iter().zip(drains) {
            record_tick(cs, detail, drain, drainless);
        }
    }
    rec.drainless_ticks.clear();
}

/// One tick `t` (relative to the run) with this tick's external input channels `chans_in`;
/// `CYCLE` adds the cycle model.
fn tick<const CYCLE: bool>(
    p: &Program,
    s: &mut State,
    chans_in: &[u32],
    t: u32,
    rec: &mut Recorder,
) {
    let par = &p.params;
    let slots = s.pending.len() as u64;
    let now = s.tick;
    let net = net_params(p);

    // The per-core counters are zero here: [`price_cores`] clears them as it reads them.
    if p.price_active && !fused_neurons(p) {
        // Active pricing: what the compartment holds before this tick's input arrives (the
        // fused pass looks itself: nothing changes `u` or `v` before it).
        mark_active(&mut s.active_pre, &s.u, &s.v, &p.bias, &s.u2);
    }

    // 1. External inputs: one packet per distinct channel, carrying its multiplicity.
    let chans: &[u32] = if chans_in.is_sorted() {
        chans_in
    } else {
        s.chans.clear();
        let channels = p.in_tree.len();
        if chans_in.len() * 8 >= channels {
            // Many spikes: count them per channel, then read the channels in order.
            s.chan_count.resize(channels, 0);
            for &c in chans_in {
                s.chan_count[c as usize] += 1;
            }
            for (c, n) in s.chan_count.iter_mut().enumerate() {
                for _ in 0..std::mem::take(n) {
                    s.chans.push(c as u32);
                }
            }
        } else {
            s.chans.extend_from_slice(chans_in);
            s.chans.sort_unstable();
        }
        &s.chans
    };
    let in_slot = ((now + u64::from(par.input_delay)) % slots) as usize;
    // The host sends the input messages, in parallel with the cores.
    let mut host_stage = 0u64;
    let mut i = 0;
    while i < chans.len() {
        let ch = chans[i];
        let mut j = i + 1;
        while j < chans.len() && chans[j] == ch {
            j += 1;
        }
        let count = (j - i) as u32;
        let c = ch as usize;
        if p.input_lists.is_some() {
            s.pending_in[in_slot].push((ch, count));
        } else {
            let line = &mut s.pending[in_slot];
            for &ga in &p.in_axon[p.in_start[c]..p.in_start[c + 1]] {
                line.push((ga, count));
            }
        }
        let tree = p.in_tree[c];
        if tree != NONE {
            rec.counts.input_packets += 1;
            rec.counts.input_messages += u64::from(p.in_msgs[c]);
            rec.counts.hops += u64::from(p.hops[tree as usize]);
            rec.counts.hops_y += u64::from(p.hops_y[tree as usize]);
            if CYCLE {
                s.inject.push(tree);
                host_stage +=
                    u64::from(p.in_msgs[c]) * u64::from(p.target.timing.cycles_per_message);
            }
        }
        i = j;
    }
    // With a cycle thread, the tick's trees stay in `inject` to be sent to it at the end.
    let on_cycle_thread = CYCLE && s.aside.is_some();
    let input_drain = if CYCLE && !on_cycle_thread {
        let d = p.with_shapes(
            &s.inject,
            |sh| on_shapes!(sh, t => s.net.drain(t, &s.inject, net)),
        );
        s.inject.clear();
        d
    } else {
        0
    };

    // 2. Deliveries due this tick.
    let slot = (now % slots) as usize;
    std::mem::swap(&mut s.due, &mut s.pending[slot]);
    std::mem::swap(&mut s.due_comp, &mut s.pending_comp[slot]);
    std::mem::swap(&mut s.due_in, &mut s.pending_in[slot]);
    let input_end = s.inject.len();
    if on_cycle_thread && !s.due_comp.is_empty() && p.cycle_fan_lists {
        // Counted on the cycle thread.
        if let Some(a) = &mut s.aside {
            a.tick.spikes.extend_from_slice(&s.due_comp);
        }
        deliver_fan(p, s, rec, None);
    }
    if CYCLE && !on_cycle_thread && !s.due_comp.is_empty() && p.cycle_fan_lists {
        let cf = p.cycle_fan();
        let prices = s.syn_prices;
        count_fan_entries(p, cf, &s.due_comp, &mut s.core_syn_cycles, &prices);
        deliver_fan(p, s, rec, Some((cf, &prices)));
    }
    if CYCLE && !s.due_comp.is_empty() {
        // Spikes of an earlier functional run, without `cycle_fan_lists`: the cycle model
        // counts them axon by axon.
        for &(k, count) in &s.due_comp {
            let k = k as usize;
            for &ga in &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]] {
                s.due.push((ga, count));
            }
        }
        s.due_comp.clear();
    }
    // Functional runs of big chips on several threads: step 2 and the gather by blocks of
    // cores, in parallel.
    let owned = !CYCLE && s.owned.ready(p);
    if !owned && !s.due_in.is_empty() {
        deliver_inputs::<CYCLE>(p, s, rec);
    }
    if owned {
        owned::deliver_and_gather(p, s, rec);
    } else {
        if !CYCLE && !s.due_comp.is_empty() {
            deliver_fan(p, s, rec, None);
        }
        deliver_rows::<CYCLE>(p, s, rec);
    }

    // 2b. Partial sums of split neurons join their neuron's accumulator (graded packets).
    let mut partial_drain = 0;
    if !p.partials.is_empty() {
        for m in &p.partials {
            let v = std::mem::take(&mut s.acc[m.from as usize]);
            if v == 0 {
                continue;
            }
            let to = &mut s.acc[m.to as usize];
            *to = to.wrapping_add(v);
            rec.counts.partial_packets += 1;
            if m.tree != NONE {
                rec.counts.hops += u64::from(p.hops[m.tree as usize]);
                rec.counts.hops_y += u64::from(p.hops_y[m.tree as usize]);
                if CYCLE {
                    s.inject.push(m.tree);
                }
            }
            if CYCLE {
                let c = &mut s.core_syn_cycles[m.core as usize];
                *c = c.wrapping_add(s.syn_prices.packet_in);
            }
        }
        if CYCLE && !on_cycle_thread {
            partial_drain = p.with_shapes(
                &s.inject,
                |sh| on_shapes!(sh, t => s.net.drain(t, &s.inject, net)),
            );
            s.inject.clear();
        }
    }

    let partial_end = s.inject.len();

    // 3. Every compartment updates, in order; spikes go into the delay line.
    let out_slot = ((now + u64::from(par.synaptic_delay)) % slots) as usize;
    let fused_active = update::<CYCLE>(p, s, out_slot, t, rec, owned);
    rec.counts.neuron_updates += p.n_comp() as u64;
    if let Some(active) = fused_active {
        rec.counts.active_neuron_updates += active;
        if CYCLE {
            // Every compartment is priced active below (`per_comp`) but the idle ones.
            let per_active = u64::from(p.target.timing.cycles_per_active_neuron);
            for &k in &s.idle {
                let c = &mut s.core_stage[p.comp_core[k as usize] as usize];
                *c = c.wrapping_sub(per_active);
            }
        }
    } else if p.price_active {
        let per_active = u64::from(p.target.timing.cycles_per_active_neuron);
        // Input arrived this tick iff the current moved off 0 (or it was not 0 before).
        for (a, &x) in s.active_pre.iter_mut().zip(&s.u2) {
            *a |= x != 0;
        }
        let mut active = 0u64;
        if CYCLE {
            // Run by run of one core's compartments: a vector count, and one add per run
            // (an add per compartment into its core's counter was a chain through memory).
            let mut start = 0;
            for &(c, end) in &s.core_runs {
                let end = end as usize;
                let on = count_active(&s.active_pre[start..end], &s.u[start..end]);
                active += on;
                let c = &mut s.core_stage[c as usize];
                *c = c.wrapping_add(per_active.wrapping_mul(on));
                start = end;
            }
        } else {
            active = count_active(&s.active_pre, &s.u);
        }
        rec.counts.active_neuron_updates += active;
    }

    // 4. The cycle model: slowest core, then the spike packets' network drain, then the barrier.
    if CYCLE {
        let tm = &p.target.timing;
        // Per compartment every tick; with the fused pass also as active (the pass reports a
        // count only when active compartments are priced), its idle ones taken off in
        // `core_stage`.
        let per_comp = u64::from(tm.cycles_per_neuron).wrapping_add(if fused_active.is_some() {
            u64::from(tm.cycles_per_active_neuron)
        } else {
            0
        });
        let nc = p.n_cores;
        if let Some(a) = &mut s.aside {
            // All of it on the cycle thread.
            let mut tick = std::mem::take(&mut a.tick);
            let (syn, stage) = (&mut s.core_syn_cycles[..nc], &mut s.core_stage[..nc]);
            aside::take_cores(syn, stage, &mut tick.cores);
            tick.trees = std::mem::take(&mut s.inject);
            (tick.input_end, tick.partial_end) = (input_end, partial_end);
            (tick.host_stage, tick.per_comp) = (host_stage, per_comp);
            a.batch.push(tick);
            if a.batch.len() >= aside::TICKS_PER_BATCH {
                a.send();
            }
            s.tick += 1;
            return;
        }
        // Queued to be drained with the next ticks' (the tick is recorded once its drain is
        // back).
        s.queued.append(&mut s.inject);
        s.queued_ends.push(s.queued.len());
        let cs = rec
            .cycles
            .as_mut()
            .expect("cycle-accurate runs keep cycle stats");
        let parts = TickParts {
            per_comp,
            host_stage,
            input_drain,
            partial_drain,
        };
        let (syn, stage) = (&mut s.core_syn_cycles[..nc], &mut s.core_stage[..nc]);
        let drainless = price_tick(p, cs, rec.detail, (syn, stage), &mut s.core_base, parts);
        rec.drainless_ticks.push(drainless);
        if s.queued_ends.len() >= DRAINS_QUEUED {
            drain_queued(p, s, rec);
        }
    }
    s.tick += 1;
}

/// Ticks whose spike drains a cycle-accurate run on one thread queues ([`State::queued`]) and
/// then drains one after another: the network model's tables and the trees stay in the
/// caches from one drain to the next instead of being evicted by each tick's neuron pass and
/// deliveries (the 40k CUBA net's drains took 2.7 % less).
const DRAINS_QUEUED: usize = 64;

/// Drains the spike packets of the ticks queued in [`State::queued`] and records those ticks.
fn drain_queued(p: &Program, s: &mut State, rec: &mut Recorder) {
    let net = net_params(p);
    let mut drains = Vec::with_capacity(s.queued_ends.len());
    let mut start = 0;
    for &end in &s.queued_ends {
        let trees = &s.queued[start..end];
        drains.push(p.with_shapes(trees, |sh| on_shapes!(sh, t => s.net.drain(t, trees, net))));
        start = end;
    }
    s.queued.clear();
    s.queued_ends.clear();
    complete_ticks(rec, &drains);
}

/// Step 2 for the deliveries of `s.due` (rows: input channels, and spikes without fan-out
/// lists), with their event counts.
fn deliver_rows<const CYCLE: bool>(p: &Program, s: &mut State, rec: &mut Recorder) {
    let par = &p.params;
    let prices = s.syn_prices;
    let synops = match &p.store {
        None => {
            if par.order == UpdateOrder::DecayThenInput {
                for (u, &d) in s.u.iter_mut().zip(&p.u_decay) {
                    *u = decay(*u, d, par);
                }
                for (u, &d) in s.u2.iter_mut().zip(&p.u2_decay) {
                    *u = decay(*u, d, par);
                }
            }
            // Per-event accumulation is order dependent: ascending core, then axon index.
            s.due.sort_unstable();
            deliver_events::<CYCLE>(
                p,
                &s.due,
                &mut s.u,
                &mut s.u2,
                &mut s.core_syn_cycles,
                &prices,
                &mut rec.overflow_u,
            )
        }
        Some(store) => {
            if p.touch_rows {
                // Rows in address order: neighbouring rows share pages and DRAM rows.
                s.due.sort_unstable();
            }
            let (rows, base, due) = (&p.rows, &p.core_slot_base[..], &s.due[..]);
            let (acc, cs) = (&mut s.acc[..], &mut s.core_syn_cycles[..]);
            if p.touch_rows {
                deliver_store::<CYCLE, true>(store, rows, base, due, acc, cs, &prices)
            } else {
                deliver_store::<CYCLE, false>(store, rows, base, due, acc, cs, &prices)
            }
        }
    };
    if p.sparse_gather && !s.touched_over && !s.due.is_empty() {
        s.touched_over = !track_rows(p, &s.due, &mut s.touched, sparse_cap(s.slots));
    }
    rec.counts.synops += synops;
    rec.counts.packets_in += s.due.len() as u64;
    if !p.row_kind.is_empty() {
        for &(a, count) in &s.due {
            let kind = p.row_kind[a as usize];
            if kind == ROW_SPARSE {
                continue;
            }
            let r = p.rows.get(a as usize);
            let ops = u64::from(r.len) * u64::from(count);
            if kind == ROW_DENSE {
                rec.counts.dense_synops += ops;
            } else {
                rec.counts.shared_synops += ops;
            }
            if CYCLE {
                // Counted at the sparse price by the delivery above.
                let c = &mut s.core_syn_cycles[r.core as usize];
                *c = c.wrapping_add(prices.reprice(ops, kind));
            }
        }
    }
    s.due.clear();
}

/// The overflow policies as compile-time constants (for [`ovf_p`]).
const P_WRAP: u8 = 0;
const P_WRAP_LAVA: u8 = 1;
const P_SATURATE: u8 = 2;
const P_SATURATE_SYMMETRIC: u8 = 3;

fn policy_code(p: Overflow) -> u8 {
    match p {
        Overflow::Wrap => P_WRAP,
        Overflow::WrapLava => P_WRAP_LAVA,
        Overflow::Saturate => P_SATURATE,
        Overflow::SaturateSymmetric => P_SATURATE_SYMMETRIC,
    }
}

/// [`overflow64`] with the policy fixed at compile time.
#[inline(always)]
fn ovf_p<const P: u8>(x: i64, bits: u32) -> i64 {
    let half = 1i64 << (bits - 1);
    match P {
        P_WRAP => (x << (64 - bits)) >> (64 - bits),
        P_WRAP_LAVA => {
            let x = i64::from(x as i32);
            if x > half {
                x - 2 * half
            } else if x <= -half {
                x + 2 * half
            } else {
                x
            }
        }
        P_SATURATE => x.clamp(-half, half - 1),
        _ => x.clamp(-(half - 1), half - 1),
    }
}

/// The 128-bit case of [`add_ovf`] and [`add_ovf_p`].
#[cold]
#[inline(never)]
fn add_ovf_wide(a: i64, b: i64, c: i64, bits: u32, policy: Overflow) -> (i64, bool) {
    let x = i128::from(a) + i128::from(b) + i128::from(c);
    let y = overflow(x, bits, policy);
    (to_i64(y), y != x)
}

/// `a + b + c` through an overflow policy: the stored value and whether the policy changed
/// it. Exact: 64-bit arithmetic when the sum fits, else 128-bit.
#[inline(always)]
fn add_ovf(a: i64, b: i64, c: i64, bits: u32, policy: Overflow) -> (i64, bool) {
    match a.checked_add(b).and_then(|s| s.checked_add(c)) {
        Some(x) => {
            let y = overflow64(x, bits, policy);
            (y, y != x)
        }
        None => add_ovf_wide(a, b, c, bits, policy),
    }
}

/// [`add_ovf`] with the policy fixed at compile time.
#[inline(always)]
fn add_ovf_p<const P: u8>(a: i64, b: i64, c: i64, bits: u32, policy: Overflow) -> (i64, bool) {
    match a.checked_add(b).and_then(|s| s.checked_add(c)) {
        Some(x) => {
            let y = ovf_p::<P>(x, bits);
            (y, y != x)
        }
        None => add_ovf_wide(a, b, c, bits, policy),
    }
}

/// One decay step, with the decay kind fixed at compile time (`MULT`: multiplicative).
#[inline(always)]
fn decay_k<const MULT: bool>(x: i64, d: i64, bits: u32, min_step: bool) -> i64 {
    if MULT {
        let prod = x.saturating_mul(d);
        let m = (prod.unsigned_abs() >> bits) as i64;
        if prod < 0 { -m } else { m }
    } else {
        let mut step = x >> (d as u32).min(63);
        if min_step && step == 0 && x != 0 {
            step = x.signum();
        }
        x - step
    }
}

/// Step 3.1 with sum-then-add, first half, block by block: `inp[k] = Σ_g shift(acc_g, e_g)`
/// (before `input_shift`), one shift per (core, group) block of slots. Returns `false`, doing
/// nothing, unless every accumulator is small enough that no value can leave 64 bits (then
/// [`gather_exact`] does it); leaves `acc` untouched.
fn gather_blocks(p: &Program, acc: &[i64], used: usize, inp: &mut [i64], add: bool) -> bool {
    // |a| <= 2^bits for all a: a ^ (a >> 63) is |a| for a >= 0 and |a| - 1 for a < 0.
    let bits = p.gather_bits;
    let ored = acc[..used].iter().fold(0i64, |o, &a| o | (a ^ (a >> 63)));
    if bits == 0 || ored > (1i64 << bits) {
        return false;
    }
    // `add`: `inp` holds this tick's direct sums (zero elsewhere).
    if !add {
        inp.fill(0);
    }
    for &(s0, s1, sh) in &p.slot_blocks {
        let (s0, s1) = (s0 as usize, s1 as usize);
        let accs = acc[s0..s1].iter().zip(&p.slot_comp[s0..s1]);
        // acc holds weights / 2^k; the true term is shift(acc << k, e) = shift(acc, e + k).
        if sh >= 0 {
            for (&a, &k) in accs {
                let x = &mut inp[k as usize];
                *x = x.wrapping_add(a << sh);
            }
        } else {
            let m = (-sh).min(63);
            for (&a, &k) in accs {
                let x = &mut inp[k as usize];
                *x = x.wrapping_add(a >> m);
            }
        }
    }
    true
}

/// [`gather_blocks`] over the touched slots only (`s.touched`; every other slot holds 0),
/// taking their values (the accumulators are all zero afterwards). Returns `false`, doing
/// nothing, when [`gather_blocks`] would (an accumulator too large for the 64-bit path).
fn gather_sparse(p: &Program, s: &mut State) -> bool {
    let State {
        acc,
        inp,
        touched,
        inp_dirty,
        ..
    } = s;
    let bits = p.gather_bits;
    let ored = touched.iter().fold(0i64, |o, &sl| {
        let a = acc[sl as usize];
        o | (a ^ (a >> 63))
    });
    if ored > (1i64 << bits) {
        return false;
    }
    if *inp_dirty {
        inp.fill(0);
        *inp_dirty = false;
    }
    for &sl in touched.iter() {
        let sl = sl as usize;
        let a = std::mem::take(&mut acc[sl]);
        let sh = i32::from(p.slot_shift[sl]);
        let term = if sh >= 0 { a << sh } else { a >> (-sh).min(63) };
        let x = &mut inp[p.slot_comp[sl] as usize];
        *x = x.wrapping_add(term);
    }
    true
}

/// [`gather_blocks`] exactly, compartment by compartment, with the accumulator wrap of
/// `accumulator_bits` and its overflow counts: inputs that fit in 64 bits go to `inp`, the
/// others to `slow` (with `inp[k] = 0`).
fn gather_exact(p: &Program, s: &mut State, rec: &mut Recorder) {
    let State {
        acc,
        inp,
        slow,
        inp_direct,
        ..
    } = s;
    gather_exact_range(p, acc, inp, slow, 0..p.n_comp(), rec, *inp_direct);
}

/// [`gather_exact`] on the compartments of `comps` (`inp` indexed by compartment).
fn gather_exact_range(
    p: &Program,
    acc: &[i64],
    inp: &mut [i64],
    slow: &mut Vec<(u32, i128)>,
    comps: std::ops::Range<usize>,
    rec: &mut Recorder,
    add: bool,
) {
    let acc_wrap = p.params.accumulator_bits;
    let starts = &p.comp_slot_start;
    for k in comps {
        // `add`: the direct sums already in `inp` (below 2^40: exact).
        let mut a_in = if add { i128::from(inp[k]) } else { 0 };
        for &(slot, e) in &p.comp_slots[starts[k] as usize..starts[k + 1] as usize] {
            let mut a = acc[slot as usize].wrapping_mul(p.w_scale);
            if acc_wrap > 0 {
                let w = overflow(i128::from(a), acc_wrap, Overflow::Wrap) as i64;
                if w != a {
                    rec.overflow_acc[p.comp_pop[k] as usize] += 1;
                }
                a = w;
            }
            a_in += shift128(a, e);
        }
        match i64::try_from(a_in) {
            Ok(v) => inp[k] = v,
            Err(_) => {
                inp[k] = 0;
                slow.push((k as u32, a_in));
            }
        }
    }
}

/// The exact (128-bit) step 3.1 of compartment `k` with summed input `a_in` (before
/// `input_shift`).
#[cold]
#[inline(never)]
fn current_exact(p: &Program, u: i64, a_in: i128, k: usize) -> (i64, bool) {
    let par = &p.params;
    let dti = par.order == UpdateOrder::DecayThenInput;
    let mut u = u;
    if dti {
        u = decay(u, p.u_decay[k], par);
    }
    let x = i128::from(u) + (a_in << par.input_shift);
    let y = overflow(x, par.current_bits, par.current_overflow);
    u = to_i64(y);
    if !dti {
        u = decay(u, p.u_decay[k], par);
    }
    (u, y != x)
}

/// Compartments the branch-free kernels take at a time (one bounds check per chunk).
const CHUNK: usize = 64;

/// Compartments per parallel block of the current and voltage passes (a multiple of
/// [`CHUNK`], fixed: the blocks, and so the results, do not depend on the thread count).
const PAR_BLOCK: usize = 8192;

/// Whether the compartment passes of a chip of `n` compartments run in parallel blocks:
/// when there are several blocks and several threads (below that, a fork costs more than
/// it saves).
fn parallel(n: usize) -> bool {
    n >= 2 * PAR_BLOCK && rayon::current_num_threads() > 1
}

/// `|x| < 2^bits` for every `x` of `xs` (a branch-free reduction the compiler vectorizes).
#[inline(always)]
fn all_below(xs: &[i64], bits: u32) -> bool {
    // x ^ (x >> 63) is |x| for x >= 0 and |x| - 1 for x < 0.
    xs.iter().fold(0i64, |o, &x| o | (x ^ (x >> 63))) < (1i64 << bits)
}

/// [`decay_k`] without branches, for `|x| <= 2^31` and a factor `0 <= d <= 2^30` (what `u` and
/// `v` always hold: at most 32-bit values, `MAX_STATE_BITS`).
#[inline(always)]
fn decay_bf<const MULT: bool>(x: i64, d: i64, bits: u32, min_step: bool) -> i64 {
    if MULT {
        // |x d| >> bits with the sign of x (d >= 0): |x| <= 2^31 and d <= 2^30 are u32
        // values, whose product the compiler forms with one 32 x 32 -> 64-bit multiply.
        let sign = x >> 63;
        let ax = ((x ^ sign) - sign) as u32;
        let m = ((u64::from(ax) * u64::from(d as u32)) >> bits) as i64;
        (m ^ sign) - sign
    } else {
        let step = x >> (d as u32).min(63);
        // The minimum step: ±1 when the shift leaves nothing of a nonzero x.
        let bump = i64::from(min_step & (step == 0) & (x != 0));
        x - step - bump * x.signum()
    }
}

/// Step 3.1 with sum-then-add, second half, for compartments `lo..hi`:
/// `u = ovf(decay(u) + (inp << input_shift))` (`DTI`: decay_then_input) or
/// `decay(ovf(u + (inp << input_shift)))`; decay kind and overflow policy fixed at compile time.
/// Chunks whose `u` are within the state bounds and whose inputs are small enough that
/// nothing leaves 64 bits take a branch-free loop; the others the exact one.
#[allow(clippy::too_many_arguments)]
fn current_range<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    us: &mut [i64],
    inp: &[i64],
    ovf: &mut [u32],
    lo: usize,
    hi: usize,
) {
    let (u, i, o) = (&mut us[lo..hi], &inp[lo..hi], &mut ovf[lo..hi]);
    current_block::<MULT, DTI, P>(p, lo, u, i, o, &[]);
}

multiversion! {
    /// [`current_range`] on the compartments `base..base + us.len()`, given their slices.
    fn current_block<const MULT: bool, const DTI: bool, const P: u8>(
        p: &Program,
        base: usize,
        us: &mut [i64],
        inp: &[i64],
        ovf: &mut [u32],
        uniform: &[bool],
    ) => current_block_kernel
}

/// The body of [`current_block`], compiled once per vector level.
#[inline(always)]
fn current_block_kernel<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    base: usize,
    us: &mut [i64],
    inp: &[i64],
    ovf: &mut [u32],
    uniform: &[bool],
) {
    let par = &p.params;
    let (bits, min_step, is) = (par.decay_bits, par.min_step, par.input_shift);
    let cb = par.current_bits;
    let u_decay = &p.u_decay[base..base + us.len()];
    let hi = us.len();
    let mut c0 = 0;
    while c0 < hi {
        let c1 = (c0 + CHUNK).min(hi);
        // |u| <= 2^31 (decay_bf) and |inp << is| < 2^61, so decay(u) + input fits in 64 bits.
        if all_below(&us[c0..c1], 31) && all_below(&inp[c0..c1], 61 - is) {
            // Overflows are rare: flagged here, counted only in a chunk that has one (the
            // counters are not rewritten every tick).
            let mut flags = [false; CHUNK];
            let (uc, ic, dc) = (&mut us[c0..c1], &inp[c0..c1], &u_decay[c0..c1]);
            let any = if uniform.get(c0 / CHUNK) == Some(&true) {
                current_chunk::<MULT, DTI, P, true>(uc, ic, dc, &mut flags, bits, min_step, is, cb)
            } else {
                current_chunk::<MULT, DTI, P, false>(uc, ic, dc, &mut flags, bits, min_step, is, cb)
            };
            if any {
                for (o, &f) in ovf[c0..c1].iter_mut().zip(&flags) {
                    *o += u32::from(f);
                }
            }
        } else {
            current_range_exact::<MULT, DTI, P>(p, base, us, inp, ovf, c0, c1);
        }
        c0 = c1;
    }
}

/// One chunk of [`current_block_kernel`]'s branch-free loop; `UNI`: the chunk's decay factors
/// are all its first (one broadcast value instead of a load per compartment). Returns
/// whether any compartment overflowed (`flags`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn current_chunk<const MULT: bool, const DTI: bool, const P: u8, const UNI: bool>(
    us: &mut [i64],
    inp: &[i64],
    u_decay: &[i64],
    flags: &mut [bool; CHUNK],
    bits: u32,
    min_step: bool,
    is: u32,
    cb: u32,
) -> bool {
    let d0 = u_decay.first().copied().unwrap_or(0);
    let mut any = false;
    let iter = us.iter_mut().zip(inp).zip(u_decay).zip(flags.iter_mut());
    for (((u, &a), &d), f) in iter {
        let d = if UNI { d0 } else { d };
        let mut x = *u;
        if DTI {
            x = decay_bf::<MULT>(x, d, bits, min_step);
        }
        let sum = x + (a << is);
        let y = ovf_p::<P>(sum, cb);
        *f = y != sum;
        any |= *f;
        *u = if DTI {
            y
        } else {
            decay_bf::<MULT>(y, d, bits, min_step)
        };
    }
    any
}

/// [`current_block`] element by element on its compartments `lo..hi`, for any values.
#[allow(clippy::too_many_arguments)]
fn current_range_exact<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    base: usize,
    us: &mut [i64],
    inp: &[i64],
    ovf: &mut [u32],
    lo: usize,
    hi: usize,
) {
    let par = &p.params;
    let (bits, min_step, is) = (par.decay_bits, par.min_step, par.input_shift);
    let (cb, co) = (par.current_bits, par.current_overflow);
    let iter = us[lo..hi]
        .iter_mut()
        .zip(&inp[lo..hi])
        .zip(&p.u_decay[base + lo..base + hi])
        .zip(ovf[lo..hi].iter_mut());
    for (j, (((u, &a), &d), o)) in iter.enumerate() {
        let i = a << is;
        if i >> is != a {
            let changed;
            (*u, changed) = current_exact(p, *u, i128::from(a), base + lo + j);
            *o += u32::from(changed);
            continue;
        }
        let mut x = *u;
        if DTI {
            x = decay_k::<MULT>(x, d, bits, min_step);
        }
        let (y, changed) = add_ovf_p::<P>(x, i, 0, cb, co);
        *o += u32::from(changed);
        *u = if DTI {
            y
        } else {
            decay_k::<MULT>(y, d, bits, min_step)
        };
    }
}

/// Step 3.1 (current) for every compartment.
fn currents<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
) {
    let par = &p.params;
    if p.store.is_none() {
        // Per-event: the input was added in step 2; only input_then_decay decays here.
        if !DTI {
            for (u, &d) in s.u.iter_mut().zip(&p.u_decay) {
                *u = decay_k::<MULT>(*u, d, par.decay_bits, par.min_step);
            }
            for (u, &d) in s.u2.iter_mut().zip(&p.u2_decay) {
                *u = decay_k::<MULT>(*u, d, par.decay_bits, par.min_step);
            }
        }
        return;
    }
    let sparse = gather(p, s, rec);
    currents_pass::<MULT, DTI, P>(p, s, rec);
    gather_done(p, s, sparse);
}

/// The first half of [`currents`] (sum-then-add): the accumulators into `inp` (and `slow`).
/// Returns whether it took the sparse path (only the touched slots), for [`gather_done`].
fn gather(p: &Program, s: &mut State, rec: &mut Recorder) -> bool {
    s.slow.clear();
    // This tick's `inp` is not the owned blocks' record.
    s.owned.tracked = false;
    let sparse = p.sparse_gather && !s.touched_over && gather_sparse(p, s);
    if !sparse {
        let add = s.inp_direct;
        if p.params.accumulator_bits > 0 || !gather_blocks(p, &s.acc, s.slots, &mut s.inp, add) {
            gather_exact(p, s, rec);
        }
        let used = s.slots;
        s.acc[..used].fill(0);
        s.inp_dirty = true;
    }
    sparse
}

/// After the current pass: `inp` back to zero where [`gather`] wrote it sparsely.
fn gather_done(p: &Program, s: &mut State, sparse: bool) {
    if sparse {
        for &sl in &s.touched {
            s.inp[p.slot_comp[sl as usize] as usize] = 0;
        }
    }
    s.touched.clear();
    s.touched_over = false;
}

/// The second half of [`currents`] (sum-then-add): the update of `u` from `inp` and `slow`.
fn currents_pass<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
) {
    let n = p.n_comp();
    let State {
        u,
        inp,
        slow,
        aside,
        ..
    } = s;
    let ovf = &mut rec.comp_ovf_u;
    if slow.is_empty() && parallel(n) && aside.is_none() {
        u.par_chunks_mut(PAR_BLOCK)
            .zip(inp.par_chunks(PAR_BLOCK))
            .zip(ovf.par_chunks_mut(PAR_BLOCK))
            .enumerate()
            .for_each(|(i, ((u, inp), o))| {
                current_block::<MULT, DTI, P>(p, i * PAR_BLOCK, u, inp, o, &[]);
            });
        return;
    }
    let mut start = 0;
    for &(k, a_in) in slow.iter() {
        let k = k as usize;
        current_range::<MULT, DTI, P>(p, u, inp, ovf, start, k);
        let changed;
        (u[k], changed) = current_exact(p, u[k], a_in, k);
        ovf[k] += u32::from(changed);
        start = k + 1;
    }
    current_range::<MULT, DTI, P>(p, u, inp, ovf, start, n);
}

/// Steps 3.2 to 3.4 for the common case — no refractory period, `reset: zero` — with decay
/// kind and overflow policy fixed at compile time; the compartments that spike go to
/// `spikers` with their spike count, in order.
fn voltages_simple<const MULT: bool, const P: u8>(p: &Program, s: &mut State, rec: &mut Recorder) {
    if p.params.current_overflow == Overflow::WrapLava {
        voltages_chunked::<MULT, P, true>(p, s, rec);
    } else {
        voltages_chunked::<MULT, P, false>(p, s, rec);
    }
}

/// [`voltages_simple`], branch-free chunk by chunk (`INT32`: Lava's int32 wrap of
/// `decay(v) + u + bias` before the voltage's policy, see [`add_ovf_v`]); in parallel blocks
/// on big chips, their spikes joined in block order (the same list for any thread count).
fn voltages_chunked<const MULT: bool, const P: u8, const INT32: bool>(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
) {
    let n = p.n_comp();
    let State {
        u,
        v,
        spikers,
        block_spikers,
        aside,
        ..
    } = s;
    spikers.clear();
    let ovf = &mut rec.comp_ovf_v[..n];
    if parallel(n) && aside.is_none() {
        block_spikers.resize_with(n.div_ceil(PAR_BLOCK), Vec::new);
        v.par_chunks_mut(PAR_BLOCK)
            .zip(u.par_chunks(PAR_BLOCK))
            .zip(ovf.par_chunks_mut(PAR_BLOCK))
            .zip(block_spikers.par_iter_mut())
            .enumerate()
            .for_each(|(i, (((v, u), o), out))| {
                out.clear();
                voltages_block::<MULT, P, INT32>(p, i * PAR_BLOCK, v, u, o, out, &[]);
            });
        for out in block_spikers.iter() {
            spikers.extend_from_slice(out);
        }
    } else {
        voltages_block::<MULT, P, INT32>(p, 0, v, u, ovf, spikers, &[]);
    }
}

multiversion! {
    /// [`voltages_chunked`] on the compartments `base..base + v.len()`, given their slices; the
    /// spiking ones are appended to `spikers`.
    fn voltages_block<const MULT: bool, const P: u8, const INT32: bool>(
        p: &Program,
        base: usize,
        v: &mut [i64],
        u: &[i64],
        ovf: &mut [u32],
        spikers: &mut Vec<(u32, u32)>,
        uniform: &[bool],
    ) => voltages_block_kernel
}

/// The body of [`voltages_block`], compiled once per vector level.
#[inline(always)]
fn voltages_block_kernel<const MULT: bool, const P: u8, const INT32: bool>(
    p: &Program,
    base: usize,
    v: &mut [i64],
    u: &[i64],
    ovf: &mut [u32],
    spikers: &mut Vec<(u32, u32)>,
    uniform: &[bool],
) {
    let par = &p.params;
    let n = v.len();
    let end = base + n;
    let (v_decay, bias, vth_test) = (
        &p.v_decay[base..end],
        &p.bias[base..end],
        &p.vth_test[base..end],
    );
    let mut spiked = [false; CHUNK];
    // As in `current_block_kernel`: overflows counted only in chunks that have one.
    let mut flags = [false; CHUNK];
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + CHUNK).min(n);
        let (vc, uc, bc) = (&mut v[c0..c1], &u[c0..c1], &bias[c0..c1]);
        let (dc, tc) = (&v_decay[c0..c1], &vth_test[c0..c1]);
        let (any, any_ovf) = if uniform.get(c0 / CHUNK) == Some(&true) {
            voltage_chunk::<MULT, P, INT32, true>(vc, uc, bc, dc, tc, &mut flags, &mut spiked, par)
        } else {
            voltage_chunk::<MULT, P, INT32, false>(vc, uc, bc, dc, tc, &mut flags, &mut spiked, par)
        };
        if any_ovf {
            for (o, &f) in ovf[c0..c1].iter_mut().zip(&flags) {
                *o += u32::from(f);
            }
        }
        if any {
            for (j, &f) in spiked[..c1 - c0].iter().enumerate() {
                if f {
                    spikers.push(((base + c0 + j) as u32, 1));
                }
            }
        }
        c0 = c1;
    }
}

/// One chunk of [`voltages_block_kernel`]'s branch-free loop; `UNI`: the chunk's voltage decay
/// factors and thresholds are all its first. Returns whether any compartment spiked
/// (`spiked`) and whether any overflowed (`flags`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn voltage_chunk<const MULT: bool, const P: u8, const INT32: bool, const UNI: bool>(
    v: &mut [i64],
    u: &[i64],
    bias: &[i64],
    v_decay: &[i64],
    vth_test: &[i64],
    flags: &mut [bool; CHUNK],
    spiked: &mut [bool; CHUNK],
    par: &crate::program::Params,
) -> (bool, bool) {
    let (bits, min_step, vb) = (par.decay_bits, par.min_step, par.voltage_bits);
    let d0 = v_decay.first().copied().unwrap_or(0);
    let a0 = vth_test.first().copied().unwrap_or(0);
    let iter = v
        .iter_mut()
        .zip(u)
        .zip(v_decay)
        .zip(bias)
        .zip(vth_test)
        .zip(flags.iter_mut())
        .zip(spiked.iter_mut());
    let mut any = false;
    let mut any_ovf = false;
    for ((((((v, &u), &d), &bias), &above), o), f) in iter {
        let (d, above) = if UNI { (d0, a0) } else { (d, above) };
        // `u` and `v` always hold values of at most 32 bits (every update ends in their
        // overflow policy, `MAX_STATE_BITS`), a multiplicative decay factor is at most
        // 2^30 and `|bias| < 2^55`: the decay and the sum cannot leave 64 bits.
        debug_assert!(v.unsigned_abs() <= 1 << 31 && u.unsigned_abs() <= 1 << 31);
        let dv = decay_bf::<MULT>(*v, d, bits, min_step);
        let exact = dv + u + bias;
        let y = if INT32 {
            ovf_p::<P>(i64::from(exact as i32), vb)
        } else {
            ovf_p::<P>(exact, vb)
        };
        *o = y != exact;
        any_ovf |= *o;
        let spike = y > above;
        *v = if spike { 0 } else { y };
        *f = spike;
        any |= spike;
    }
    (any, any_ovf)
}

/// [`voltages_simple`] with the (unused) order parameter of [`with_kind`].
fn voltages_simple_k<const MULT: bool, const DTI: bool, const P: u8>(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
) {
    voltages_simple::<MULT, P>(p, s, rec);
}

/// Step 3 as one pass over the compartments ([`fused_neurons`]; no `slow` inputs): current,
/// voltage, spike, with the active pricing; each chunk's inputs are zeroed once read (a
/// stream of stores, where clearing the touched ones after the pass was a random access
/// each). Returns how many compartments were active (held something before the input, or a
/// current after it). In parallel blocks, one per thread, on big chips; the spikes are joined
/// in block order, the same list for any thread count. A narrow chip's pass steps its 32-bit
/// state ([`narrow::Lanes`]).
fn neurons<const MULT: bool, const DTI: bool, const UP: u8, const VP: u8, const INT32: bool>(
    p: &Program,
    s: &mut State,
    rec: &mut Recorder,
    track_idle: bool,
) -> u64 {
    let n = p.n_comp();
    let State {
        u,
        v,
        inp,
        spikers,
        block_spikers,
        idle,
        block_idle,
        warm,
        uniform,
        narrow,
        lanes,
        aside,
        ..
    } = s;
    spikers.clear();
    idle.clear();
    let out = Outputs {
        inp,
        ovf_u: &mut rec.comp_ovf_u[..n],
        ovf_v: &mut rec.comp_ovf_v[..n],
        spikers,
        block_spikers,
        idle,
        block_idle,
        warm,
        uniform,
        // With the cycle model on the other thread, the passes stay on this one.
        serial: !parallel(n) || aside.is_some(),
        track_idle,
    };
    match narrow {
        Some(nw) => {
            lanes.narrow(u, v);
            in_blocks(&mut lanes.u, &mut lanes.v, out, |b| {
                narrow_block::<MULT, DTI, UP, VP, INT32>(p, b, nw)
            })
        }
        None => in_blocks(u, v, out, |b| {
            neurons_block::<MULT, DTI, UP, VP, INT32>(p, b)
        }),
    }
}

/// What [`neurons`] passes to [`in_blocks`] besides the state.
struct Outputs<'a> {
    inp: &'a mut [i64],
    ovf_u: &'a mut [u32],
    ovf_v: &'a mut [u32],
    spikers: &'a mut Vec<(u32, u32)>,
    block_spikers: &'a mut Vec<Vec<(u32, u32)>>,
    idle: &'a mut Vec<u32>,
    block_idle: &'a mut Vec<Vec<u32>>,
    warm: &'a KeepWarm,
    uniform: &'a [bool],
    serial: bool,
    track_idle: bool,
}

/// A block of compartments for [`neurons`]: the first (`base`), their state, inputs and
/// overflow counters, where their spikes and (with `idle`) idle compartments go, and whether
/// their chunks are uniform.
struct Block<'a, T> {
    base: usize,
    u: &'a mut [T],
    v: &'a mut [T],
    inp: &'a mut [i64],
    ovf_u: &'a mut [u32],
    ovf_v: &'a mut [u32],
    spikers: &'a mut Vec<(u32, u32)>,
    idle: Option<&'a mut Vec<u32>>,
    uniform: &'a [bool],
}

/// [`neurons`]'s compartments through `pass`: as one block, or one contiguous block per thread
/// (each core keeps its part of the state in its caches from tick to tick; the boundaries do
/// not change any compartment's result). Returns the sum of the active counts.
fn in_blocks<T: Send>(
    u: &mut [T],
    v: &mut [T],
    o: Outputs<'_>,
    pass: impl Fn(Block<'_, T>) -> u64 + Sync,
) -> u64 {
    let n = u.len();
    if o.serial {
        return pass(Block {
            base: 0,
            u,
            v,
            inp: o.inp,
            ovf_u: o.ovf_u,
            ovf_v: o.ovf_v,
            spikers: o.spikers,
            idle: o.track_idle.then_some(o.idle),
            uniform: o.uniform,
        });
    }
    o.warm.release();
    let block = n
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(CHUNK);
    o.block_spikers.resize_with(n.div_ceil(block), Vec::new);
    o.block_idle.resize_with(n.div_ceil(block), Vec::new);
    let track_idle = o.track_idle;
    let active = u
        .par_chunks_mut(block)
        .zip(v.par_chunks_mut(block))
        .zip(o.inp.par_chunks_mut(block))
        .zip(o.ovf_u.par_chunks_mut(block))
        .zip(o.ovf_v.par_chunks_mut(block))
        .zip(
            o.block_spikers
                .par_iter_mut()
                .zip(o.block_idle.par_iter_mut()),
        )
        .zip(o.uniform.par_chunks(block / CHUNK))
        .enumerate()
        .map(
            |(i, ((((((u, v), inp), ovf_u), ovf_v), (spikers, idle)), uniform))| {
                spikers.clear();
                idle.clear();
                pass(Block {
                    base: i * block,
                    u,
                    v,
                    inp,
                    ovf_u,
                    ovf_v,
                    spikers,
                    idle: track_idle.then_some(idle),
                    uniform,
                })
            },
        )
        .sum();
    o.warm.spin_others();
    for out in o.block_spikers.iter() {
        o.spikers.extend_from_slice(out);
    }
    if track_idle {
        for part in o.block_idle.iter() {
            o.idle.extend_from_slice(part);
        }
    }
    active
}

multiversion! {
    /// [`neurons`] on a block of compartments in 64 bits.
    fn neurons_block<const MULT: bool, const DTI: bool, const UP: u8, const VP: u8, const INT32: bool>(
        p: &Program,
        b: Block<'_, i64>,
    ) -> u64 => neurons_block_kernel
}

/// The body of [`neurons_block`], compiled once per vector level: chunk by chunk, so that a
/// chunk's `u` is still in L1 when its voltages read it. With `idle`, the compartments not
/// priced as active are listed there (global indices, ascending).
#[inline(always)]
fn neurons_block_kernel<
    const MULT: bool,
    const DTI: bool,
    const UP: u8,
    const VP: u8,
    const INT32: bool,
>(
    p: &Program,
    b: Block<'_, i64>,
) -> u64 {
    let Block {
        base,
        u,
        v,
        inp,
        ovf_u,
        ovf_v,
        spikers,
        mut idle,
        uniform,
    } = b;
    let n = u.len();
    let bias = &p.bias[base..base + n];
    let mut active = 0u64;
    let mut pre = [false; CHUNK];
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + CHUNK).min(n);
        let (uc, vc) = (&mut u[c0..c1], &mut v[c0..c1]);
        for (((a, &u), &v), &b) in pre.iter_mut().zip(&*uc).zip(&*vc).zip(&bias[c0..c1]) {
            *a = (u | v | b) != 0;
        }
        let uni = uniform.get(c0 / CHUNK..=c0 / CHUNK).unwrap_or(&[]);
        current_block_kernel::<MULT, DTI, UP>(
            p,
            base + c0,
            uc,
            &inp[c0..c1],
            &mut ovf_u[c0..c1],
            uni,
        );
        let on = pre
            .iter()
            .zip(&*uc)
            .map(|(&a, &u)| u64::from(a | (u != 0)))
            .sum::<u64>();
        active += on;
        if let Some(idle) = idle.as_deref_mut()
            && on < (c1 - c0) as u64
        {
            for (k, (&a, &u)) in pre.iter().zip(&*uc).enumerate() {
                if !(a | (u != 0)) {
                    idle.push((base + c0 + k) as u32);
                }
            }
        }
        let ov = &mut ovf_v[c0..c1];
        voltages_block_kernel::<MULT, VP, INT32>(p, base + c0, vc, uc, ov, spikers, uni);
        inp[c0..c1].fill(0);
        c0 = c1;
    }
    active
}

multiversion! {
    /// [`neurons`] on a block of a narrow chip's compartments, their state in 32 bits.
    fn narrow_block<const MULT: bool, const DTI: bool, const UP: u8, const VP: u8, const INT32: bool>(
        p: &Program,
        b: Block<'_, i32>,
        nw: &narrow::Narrow,
    ) -> u64 => narrow_block_kernel
}

/// The body of [`narrow_block`], compiled once per vector level: whole chunks in 32-bit
/// lanes ([`narrow::chunk`]); a chunk whose inputs are beyond its bounds, and a last chunk
/// short of [`CHUNK`], through [`neurons_block_kernel`] on a 64-bit copy of its state.
#[inline(always)]
fn narrow_block_kernel<
    const MULT: bool,
    const DTI: bool,
    const UP: u8,
    const VP: u8,
    const INT32: bool,
>(
    p: &Program,
    b: Block<'_, i32>,
    nw: &narrow::Narrow,
) -> u64 {
    let Block {
        base,
        u,
        v,
        inp,
        ovf_u,
        ovf_v,
        spikers,
        mut idle,
        uniform,
    } = b;
    let par = &p.params;
    let (bits, ms, is) = (par.decay_bits, par.min_step, par.input_shift);
    let (cb, vb) = (par.current_bits, par.voltage_bits);
    let n = u.len();
    let mut active = 0u64;
    let mut flags = [0i32; CHUNK];
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + CHUNK).min(n);
        if let (Ok(uc), Ok(vc), Ok(ic)) = (
            <&mut [i32; CHUNK]>::try_from(&mut u[c0..c1]),
            <&mut [i32; CHUNK]>::try_from(&mut v[c0..c1]),
            <&[i64; CHUNK]>::try_from(&inp[c0..c1]),
        ) {
            let (f, fl) = (base + c0, &mut flags);
            let out = if uniform.get(c0 / CHUNK) == Some(&true) {
                narrow::chunk::<MULT, DTI, UP, VP, true>(
                    nw, f, uc, vc, ic, fl, bits, ms, is, cb, vb,
                )
            } else {
                narrow::chunk::<MULT, DTI, UP, VP, false>(
                    nw, f, uc, vc, ic, fl, bits, ms, is, cb, vb,
                )
            };
            if let Some(out) = out {
                inp[c0..c1].fill(0);
                active += u64::from(out.active);
                narrow_results(
                    &out,
                    &flags,
                    base + c0,
                    c0,
                    ovf_u,
                    ovf_v,
                    spikers,
                    idle.as_deref_mut(),
                );
                c0 = c1;
                continue;
            }
        }
        let len = c1 - c0;
        let mut wu = [0i64; CHUNK];
        let mut wv = [0i64; CHUNK];
        for (w, &x) in wu.iter_mut().zip(&u[c0..c1]) {
            *w = i64::from(x);
        }
        for (w, &x) in wv.iter_mut().zip(&v[c0..c1]) {
            *w = i64::from(x);
        }
        active += neurons_block_kernel::<MULT, DTI, UP, VP, INT32>(
            p,
            Block {
                base: base + c0,
                u: &mut wu[..len],
                v: &mut wv[..len],
                inp: &mut inp[c0..c1],
                ovf_u: &mut ovf_u[c0..c1],
                ovf_v: &mut ovf_v[c0..c1],
                spikers,
                idle: idle.as_deref_mut(),
                uniform: uniform.get(c0 / CHUNK..).unwrap_or(&[]),
            },
        );
        // Exact: the overflow policies leave `u` and `v` within their bits, at most 29.
        for (x, &w) in u[c0..c1].iter_mut().zip(&wu) {
            *x = w as i32;
        }
        for (x, &w) in v[c0..c1].iter_mut().zip(&wv) {
            *x = w as i32;
        }
        c0 = c1;
    }
    active
}

/// A narrow chunk's flags, written as the 64-bit pass writes them: its overflows into the
/// counters (`local`: the chunk's first index in them), its spikes into `spikers` and, with
/// `idle`, the compartments not active (`first`: the chunk's first global index).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn narrow_results(
    out: &narrow::ChunkOut,
    flags: &[i32; CHUNK],
    first: usize,
    local: usize,
    ovf_u: &mut [u32],
    ovf_v: &mut [u32],
    spikers: &mut Vec<(u32, u32)>,
    idle: Option<&mut Vec<u32>>,
) {
    use narrow::{ACTIVE, OVF_U, OVF_V, SPIKED};
    if out.any & (OVF_U | OVF_V | SPIKED) != 0 {
        for (k, &f) in flags.iter().enumerate() {
            ovf_u[local + k] += u32::from(f & OVF_U != 0);
            ovf_v[local + k] += u32::from(f & OVF_V != 0);
            if f & SPIKED != 0 {
                spikers.push(((first + k) as u32, 1));
            }
        }
    }
    if let Some(idle) = idle
        && (out.active as usize) < CHUNK
    {
        for (k, &f) in flags.iter().enumerate() {
            if f & ACTIVE == 0 {
                idle.push((first + k) as u32);
            }
        }
    }
}

/// Steps 3.2 to 3.4 (refractory, voltage, spike and reset) in general.
fn voltages<const MULT: bool>(p: &Program, s: &mut State, rec: &mut Recorder) {
    let par = &p.params;
    let (bits, min_step) = (par.decay_bits, par.min_step);
    let (vb, vo) = (par.voltage_bits, par.voltage_overflow);
    let int32 = par.current_overflow == Overflow::WrapLava;
    let subtract = par.reset == Reset::Subtract;
    let State {
        u,
        u2,
        v,
        refr,
        spikers,
        ..
    } = s;
    let n = p.n_comp();
    spikers.clear();
    let ovf = &mut rec.comp_ovf_v;
    let delta = par.saturated_delta;
    for k in 0..n {
        if refr[k] > 0 {
            // Refractory: the voltage is held at 0 and integrates nothing; u runs on.
            refr[k] -= 1;
            v[k] = 0;
            continue;
        }
        let dv = decay_k::<MULT>(v[k], p.v_decay[k], bits, min_step);
        // The synaptic input: `u`, plus the second current where there is one (`u2` holds at
        // most 32-bit values, so the sum fits in 64 bits).
        let i = u[k] + u2.get(k).copied().unwrap_or(0);
        let (mut x, changed) = if delta {
            // Xylo v2: the change `i - (v - decay(v))` through the voltage's overflow policy,
            // then the bias added to it (again through the policy), then `v + change`. The
            // negated decay step is a `voltage_bits` register: it wraps (only for `v` at its
            // minimum with a shift of 0).
            let neg_step = overflow64(dv - v[k], vb, Overflow::Wrap);
            let (d, c1) = add_ovf(i, neg_step, 0, vb, vo);
            let (d, c2) = add_ovf(d, p.bias[k], 0, vb, vo);
            let (y, c3) = add_ovf(v[k], d, 0, vb, vo);
            (y, c1 || c2 || c3)
        } else if int32 {
            add_ovf_v::<P_WRAP>(dv, i, p.bias[k], vb, vo, true) // policy taken from `vo`
        } else {
            add_ovf(dv, i, p.bias[k], vb, vo)
        };
        ovf[k] += u32::from(changed);
        let above = p.vth_test[k];
        let mut count = 0u32;
        if subtract {
            let (max, vth) = (p.max_spikes[k], p.vth[k]);
            while count < max && x > above {
                count += 1;
                x -= vth;
            }
        } else if x > above {
            count = 1;
            x = 0;
        }
        v[k] = x;
        if count > 0 {
            spikers.push((k as u32, count));
        }
    }
}

/// Runs `$body` with the const generics `MULT` (decay kind), `DTI` (order) and `P` (an
/// overflow policy code) bound to the program's values.
macro_rules! with_kind {
    ($mult:expr, $dti:expr, $policy:expr, $f:ident :: <_, _, _>($($arg:expr),*)) => {
        match ($mult, $dti, $policy) {
            (true, true, P_WRAP) => $f::<true, true, P_WRAP>($($arg),*),
            (true, true, P_WRAP_LAVA) => $f::<true, true, P_WRAP_LAVA>($($arg),*),
            (true, true, P_SATURATE) => $f::<true, true, P_SATURATE>($($arg),*),
            (true, true, _) => $f::<true, true, P_SATURATE_SYMMETRIC>($($arg),*),
            (true, false, P_WRAP) => $f::<true, false, P_WRAP>($($arg),*),
            (true, false, P_WRAP_LAVA) => $f::<true, false, P_WRAP_LAVA>($($arg),*),
            (true, false, P_SATURATE) => $f::<true, false, P_SATURATE>($($arg),*),
            (true, false, _) => $f::<true, false, P_SATURATE_SYMMETRIC>($($arg),*),
            (false, true, P_WRAP) => $f::<false, true, P_WRAP>($($arg),*),
            (false, true, P_WRAP_LAVA) => $f::<false, true, P_WRAP_LAVA>($($arg),*),
            (false, true, P_SATURATE) => $f::<false, true, P_SATURATE>($($arg),*),
            (false, true, _) => $f::<false, true, P_SATURATE_SYMMETRIC>($($arg),*),
            (false, false, P_WRAP) => $f::<false, false, P_WRAP>($($arg),*),
            (false, false, P_WRAP_LAVA) => $f::<false, false, P_WRAP_LAVA>($($arg),*),
            (false, false, P_SATURATE) => $f::<false, false, P_SATURATE>($($arg),*),
            (false, false, _) => $f::<false, false, P_SATURATE_SYMMETRIC>($($arg),*),
        }
    };
}

/// Whether steps 3.2 to 3.4 take [`voltages_simple`]: no refractory period, `reset: zero`,
/// one current, plain (not saturated-delta) voltage update.
fn simple_voltages(p: &Program) -> bool {
    let par = &p.params;
    !p.any_refractory && par.reset == Reset::Zero && !par.two_currents && !par.saturated_delta
}

/// Whether step 3 runs as one fused pass ([`neurons`]): sum-then-add with
/// [`simple_voltages`]. Then `u` and `v` do not change between the start of the tick and the
/// pass, which prices active compartments itself.
fn fused_neurons(p: &Program) -> bool {
    p.store.is_some() && simple_voltages(p)
}

/// [`with_kind`] with the voltage's overflow policy `$vp` too, and `INT32` (Lava's int32 wrap
/// before the voltage policy) where the current's policy is `WrapLava`.
macro_rules! with_policies {
    ($mult:expr, $dti:expr, $up:expr, $vp:expr, $f:ident :: <_, _, _, _, _>($($arg:expr),*)) => {
        match ($mult, $dti, $up) {
            (true, true, P_WRAP) => with_policies!(@vp $vp, $f::<true, true, P_WRAP, false>($($arg),*)),
            (true, true, P_WRAP_LAVA) => with_policies!(@vp $vp, $f::<true, true, P_WRAP_LAVA, true>($($arg),*)),
            (true, true, P_SATURATE) => with_policies!(@vp $vp, $f::<true, true, P_SATURATE, false>($($arg),*)),
            (true, true, _) => with_policies!(@vp $vp, $f::<true, true, P_SATURATE_SYMMETRIC, false>($($arg),*)),
            (true, false, P_WRAP) => with_policies!(@vp $vp, $f::<true, false, P_WRAP, false>($($arg),*)),
            (true, false, P_WRAP_LAVA) => with_policies!(@vp $vp, $f::<true, false, P_WRAP_LAVA, true>($($arg),*)),
            (true, false, P_SATURATE) => with_policies!(@vp $vp, $f::<true, false, P_SATURATE, false>($($arg),*)),
            (true, false, _) => with_policies!(@vp $vp, $f::<true, false, P_SATURATE_SYMMETRIC, false>($($arg),*)),
            (false, true, P_WRAP) => with_policies!(@vp $vp, $f::<false, true, P_WRAP, false>($($arg),*)),
            (false, true, P_WRAP_LAVA) => with_policies!(@vp $vp, $f::<false, true, P_WRAP_LAVA, true>($($arg),*)),
            (false, true, P_SATURATE) => with_policies!(@vp $vp, $f::<false, true, P_SATURATE, false>($($arg),*)),
            (false, true, _) => with_policies!(@vp $vp, $f::<false, true, P_SATURATE_SYMMETRIC, false>($($arg),*)),
            (false, false, P_WRAP) => with_policies!(@vp $vp, $f::<false, false, P_WRAP, false>($($arg),*)),
            (false, false, P_WRAP_LAVA) => with_policies!(@vp $vp, $f::<false, false, P_WRAP_LAVA, true>($($arg),*)),
            (false, false, P_SATURATE) => with_policies!(@vp $vp, $f::<false, false, P_SATURATE, false>($($arg),*)),
            (false, false, _) => with_policies!(@vp $vp, $f::<false, false, P_SATURATE_SYMMETRIC, false>($($arg),*)),
        }
    };
    (@vp $vp:expr, $f:ident :: <$m:literal, $d:literal, $up:ident, $i:literal>($($arg:expr),*)) => {
        match $vp {
            P_WRAP => $f::<$m, $d, $up, P_WRAP, $i>($($arg),*),
            P_WRAP_LAVA => $f::<$m, $d, $up, P_WRAP_LAVA, $i>($($arg),*),
            P_SATURATE => $f::<$m, $d, $up, P_SATURATE, $i>($($arg),*),
            _ => $f::<$m, $d, $up, P_SATURATE_SYMMETRIC, $i>($($arg),*),
        }
    };
}

/// Step 3 for every compartment; spikes are appended to `pending[out_slot]`. Returns the
/// active compartment count when the fused pass priced them (functional runs).
#[inline(never)]
fn update<const CYCLE: bool>(
    p: &Program,
    s: &mut State,
    out_slot: usize,
    t: u32,
    rec: &mut Recorder,
    owned: bool,
) -> Option<u64> {
    let par = &p.params;
    let mult = par.decay == DecayKind::Multiplicative;
    let dti = par.order == UpdateOrder::DecayThenInput;
    let (up, vp) = (
        policy_code(par.current_overflow),
        policy_code(par.voltage_overflow),
    );
    let mut active = None;
    if fused_neurons(p) {
        // [`owned::deliver_and_gather`] has gathered already (and clears its own inputs, unless
        // the fused pass below has: `Owned::inputs_cleared`).
        let sparse = (!owned).then(|| gather(p, s, rec));
        let cleared = s.slow.is_empty();
        if cleared {
            // Cycle-accurate runs price per core: the pass lists the idle compartments.
            let track_idle = CYCLE && p.price_active;
            let n = with_policies!(
                mult,
                dti,
                up,
                vp,
                neurons::<_, _, _, _, _>(p, s, rec, track_idle)
            );
            if p.price_active {
                active = Some(n);
            }
        } else {
            // Inputs beyond 64 bits (rare): the general passes, on the 64-bit state.
            s.lanes.widen(&mut s.u, &mut s.v);
            if p.price_active {
                mark_active(&mut s.active_pre, &s.u, &s.v, &p.bias, &s.u2);
            }
            with_kind!(mult, dti, up, currents_pass::<_, _, _>(p, s, rec));
            with_kind!(mult, true, vp, voltages_simple_k::<_, _, _>(p, s, rec));
        }
        if let Some(sparse) = sparse {
            // The fused pass has zeroed every input: no clearing of the touched ones.
            gather_done(p, s, sparse && !cleared);
        }
        if cleared {
            s.inp_dirty = false;
            if owned {
                s.owned.inputs_cleared();
            }
        } else if s.inp_direct {
            // The general passes leave the direct sums in `inp`.
            s.inp_dirty = true;
        }
        s.inp_direct = false;
    } else {
        with_kind!(mult, dti, up, currents::<_, _, _>(p, s, rec));
        if simple_voltages(p) {
            with_kind!(mult, true, vp, voltages_simple_k::<_, _, _>(p, s, rec));
        } else if mult {
            voltages::<true>(p, s, rec);
        } else {
            voltages::<false>(p, s, rec);
        }
    }

    // Spikes: counts, refractory periods, fan-out into the delay line, packets.
    let State {
        refr,
        pending,
        pending_comp,
        inject,
        core_stage,
        spikers,
        ..
    } = s;
    let tm = &p.target.timing;
    let (per_spike, per_message, per_packet) = (
        u64::from(tm.cycles_per_spike),
        u64::from(tm.cycles_per_message),
        u64::from(tm.cycles_per_packet_out),
    );
    let out = &mut pending[out_slot];
    let out_comp = &mut pending_comp[out_slot];
    let probing = !rec.probe_of.is_empty();
    for &(k, count) in spikers.iter() {
        let k = k as usize;
        rec.counts.spikes += u64::from(count);
        rec.counts.spiking_neurons += 1;
        if CYCLE {
            let c = &mut core_stage[p.comp_core[k] as usize];
            *c = c.wrapping_add(per_spike);
        }
        rec.comp_spikes[k] = rec.comp_spikes[k].saturating_add(count);
        refr[k] = p.refractory[k];
        if p.fan_lists && (!CYCLE || p.cycle_fan_lists) {
            if p.fan_start[k + 1] > p.fan_start[k] {
                out_comp.push((k as u32, count));
            }
        } else {
            for &ga in &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]] {
                out.push((ga, count));
            }
        }
        let tree = p.comp_tree[k];
        if tree != NONE {
            rec.counts.packets_out += 1;
            rec.counts.messages += u64::from(p.comp_msgs[k]);
            rec.counts.hops += u64::from(p.hops[tree as usize]);
            rec.counts.hops_y += u64::from(p.hops_y[tree as usize]);
            if CYCLE {
                let c = p.comp_core[k] as usize;
                // A packet out and its messages.
                core_stage[c] = core_stage[c].wrapping_add(
                    per_packet.wrapping_add(u64::from(p.comp_msgs[k]).wrapping_mul(per_message)),
                );
                inject.push(tree);
            }
        }
        if probing {
            let pi = rec.probe_of[k];
            if pi != NONE {
                let probe = &mut rec.probes[pi as usize];
                for _ in 0..count {
                    probe.spike_ticks.push(t);
                }
            }
        }
    }
    if rec.record_state {
        for (probe, &k) in rec.probes.iter_mut().zip(&rec.probe_comp) {
            let k = k as usize;
            let (u, v) = s.lanes.at(k).unwrap_or((s.u[k], s.v[k]));
            probe.u.push(u);
            probe.v.push(v);
            if let Some(&x) = s.u2.get(k) {
                probe.u2.push(x);
            }
        }
    }
    active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bench_chips, synapses::LayoutOverride};

    /// [`RunCount`] adds, for a compartment counted by its list's runs, what its entries give
    /// (a delivery per row at its class's price, the row look-up's core and synapses), with
    /// the slots' cores in 16 and 32 bits and several spike counts; for the others nothing
    /// (their entries count them).
    #[test]
    fn runs_count_as_the_entries() {
        let p = crate::program::tests::fan_program();
        let cf = p.cycle_fan();
        assert!(!cf.slot_core16.is_empty());
        // Prices unlike each other, so a row priced in another class shows.
        let prices = SynPrices {
            packet_in: 7,
            class: [3, 11, 5, 5],
        };
        let (list_start, slots) = p.store.as_ref().expect("a store").fan_slots();
        let (mut by_runs, mut other_class) = (0, 0);
        for k in 0..p.n_comp() {
            let list = &slots[list_start[k]..list_start[k + 1]];
            let fan = &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]];
            for m in [1u32, 2, 5] {
                let mut want = vec![0u64; p.n_cores];
                if p.by_runs(cf, k) {
                    for &a in fan {
                        let (c, lk) = p.cycle_fan_entry(a);
                        let ops = u64::from(lk & CYCLE_FAN_LEN) * u64::from(m);
                        want[c as usize] += prices.delivery(ops, (lk >> 30) as u8);
                    }
                }
                for cores16 in [&cf.slot_core16[..], &[]] {
                    let mut got = vec![0u64; p.n_cores];
                    let mut count = RunCount {
                        p: &p,
                        cf,
                        prices: &prices,
                        cores16,
                        cyc: &mut got,
                    };
                    count.count(k, m, list);
                    assert_eq!(got, want, "compartment {k}, {m} spikes");
                }
            }
            if p.by_runs(cf, k) {
                by_runs += 1;
                let (usual, other) = p.run_classes(cf, k).expect("classes");
                other_class += other.iter().filter(|&&(_, c)| c != usual).count();
            }
        }
        assert!(
            by_runs > 3 && other_class > 0,
            "{by_runs} by runs, {other_class}"
        );
    }

    /// A core's cycles from sums priced as the counts arrive ([`SynPrices`], the neuron stage
    /// beyond `per_comp`, idle compartments subtracted) equal the formula over the counts
    /// themselves, for random prices, counts and arrival orders, pipelined or not.
    #[test]
    fn priced_sums_give_the_cycles_of_the_counts() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut tm = lifchip_target::builtin("loihi-like")
            .expect("built in")
            .timing;
        for round in 0..2000 {
            let mut r = |m: u64| (rng.next() % m) as u32;
            tm.cycles_per_packet_in = r(9);
            tm.cycles_per_synop = r(9);
            tm.cycles_per_dense_synop = r(4) * r(5);
            tm.cycles_per_shared_synop = r(4) * r(5);
            tm.cycles_per_neuron = r(9);
            tm.cycles_per_active_neuron = r(9);
            tm.cycles_per_packet_out = r(9);
            tm.pipelined = round % 2 == 1;
            let prices = SynPrices::new(&tm);
            let (n, idle, out, stage) = (
                u64::from(r(64)),
                u64::from(r(64)),
                u64::from(r(5)),
                u64::from(r(50)),
            );
            let idle = idle.min(n);
            // Deliveries `(ops, class)`; rows are counted sparse, then repriced.
            let deliveries: Vec<(u64, u8)> =
                (0..r(20)).map(|_| (u64::from(r(40)), r(4) as u8)).collect();
            let mut syn = 0u64;
            let mut by_rows = 0u64;
            let (mut pin, mut all, mut dense, mut shared) = (0u64, 0u64, 0u64, 0u64);
            for &(ops, class) in &deliveries {
                syn = syn.wrapping_add(prices.delivery(ops, class));
                by_rows = by_rows
                    .wrapping_add(prices.delivery(ops, ROW_SPARSE))
                    .wrapping_add(prices.reprice(ops, class));
                pin += 1;
                all += ops;
                match class {
                    ROW_SPARSE => {}
                    ROW_DENSE => dense += ops,
                    _ => shared += ops,
                }
            }
            // Idle compartments first: the neuron-stage sum may wrap below zero on the way.
            let per_active = u64::from(tm.cycles_per_active_neuron);
            let mut nstage = 0u64.wrapping_sub(idle * per_active);
            nstage = nstage.wrapping_add(out * u64::from(tm.cycles_per_packet_out) + stage);
            let per_comp = u64::from(tm.cycles_per_neuron) + per_active;
            // The formula over the counts.
            let pick = |x: u32| u64::from(if x != 0 { x } else { tm.cycles_per_synop });
            let synapse_stage = pin * u64::from(tm.cycles_per_packet_in)
                + (all - dense - shared) * u64::from(tm.cycles_per_synop)
                + dense * pick(tm.cycles_per_dense_synop)
                + shared * pick(tm.cycles_per_shared_synop);
            let neuron_stage = n * u64::from(tm.cycles_per_neuron)
                + (n - idle) * per_active
                + out * u64::from(tm.cycles_per_packet_out)
                + stage;
            let want = if tm.pipelined {
                synapse_stage.max(neuron_stage)
            } else {
                synapse_stage + neuron_stage
            };
            assert_eq!(syn, synapse_stage, "round {round}");
            assert_eq!(by_rows, synapse_stage, "round {round}");
            assert_eq!(
                core_cycles(syn, n, per_comp, nstage, tm.pipelined),
                want,
                "round {round}"
            );
        }
    }

    /// xorshift64*, for test values.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// A value of random sign and magnitude below `2^b` for a random `b`.
        fn any(&mut self) -> i64 {
            let bits = (self.next() % 64) as u32;
            self.value(bits)
        }
        /// A value of random sign and magnitude below `2^bits`, now and then a corner.
        fn value(&mut self, bits: u32) -> i64 {
            match self.next() % 16 {
                0 => i64::MAX,
                1 => i64::MIN,
                2 => 0,
                _ => self.plain(bits),
            }
        }
        /// A value of random sign and magnitude below `2^bits`.
        fn plain(&mut self, bits: u32) -> i64 {
            let m = (self.next() >> 1) as i64 >> (63 - bits.min(63));
            if self.next().is_multiple_of(2) { m } else { -m }
        }
    }

    const POLICIES: [Overflow; 4] = [
        Overflow::Wrap,
        Overflow::WrapLava,
        Overflow::Saturate,
        Overflow::SaturateSymmetric,
    ];

    pub(super) fn recorder(p: &Program) -> Recorder {
        let (n, npop) = (p.n_comp(), p.pop_names.len());
        Recorder {
            counts: EventCounts::default(),
            overflow_u: vec![0; npop],
            overflow_v: vec![0; npop],
            overflow_acc: vec![0; npop],
            comp_spikes: vec![0; n],
            comp_ovf_u: vec![0; n],
            comp_ovf_v: vec![0; n],
            probe_of: Vec::new(),
            probe_comp: Vec::new(),
            probes: Vec::new(),
            record_state: false,
            cycles: None,
            detail: CycleDetail::default(),
            drainless_ticks: Vec::new(),
        }
    }

    fn program() -> Program {
        let spec = bench_chips::Spec {
            cores: 3,
            mesh_width: 2,
            compartments: 64,
            input_axons: 40,
            recurrent_axons: 8,
            row: 16,
            recurrent_row: 4,
            active: 10,
            ticks: 5,
        };
        let mut config = bench_chips::chip(&spec);
        for (c, core) in config.cores.iter_mut().enumerate() {
            core.group_exponents = vec![7 - 5 * c as i32, c as i32 - 8];
        }
        Program::new(
            &lifchip_chip::FlatChip::from_config(&config),
            &LayoutOverride::default(),
        )
        .expect("valid")
    }

    /// The kernels compiled for each vector level agree bit for bit, over a whole run of a
    /// chip big enough for the parallel blocks, with every probe recorded.
    #[test]
    fn every_vector_level_gives_the_same_run() {
        use crate::Mode;
        use lifchip_simd::{Level, cap};
        let spec = bench_chips::Spec::parallel_blocks();
        let config = bench_chips::chip(&spec);
        let input = bench_chips::input(&spec);
        let emu = crate::Emulator::new(&config).expect("valid");
        for mode in [Mode::Functional, Mode::CycleAccurate] {
            let options = every_probe(spec.ticks, mode);
            let run_at = |level| {
                cap(level);
                emu.clone().run(&input, &options).expect("runs")
            };
            let base = run_at(Level::Base);
            assert!(base.counts.spikes > 20, "{}", base.counts.spikes);
            assert!(base == run_at(Level::Avx2), "{mode:?}: AVX2 differs");
            assert!(base == run_at(Level::Avx512), "{mode:?}: AVX-512 differs");
        }
    }

    /// Row delivery ([`deliver_store`], without fan-out lists) gives the same run at every
    /// vector level, for every index and weight type of the store, dense and sparse rows,
    /// rows loaded ahead or not, in both modes.
    #[test]
    fn every_vector_level_delivers_every_store_alike() {
        use crate::Mode;
        use lifchip_simd::{Level, cap};
        let spec = bench_chips::Spec {
            ticks: 20,
            ..bench_chips::dense()
        };
        let config = bench_chips::chip(&spec);
        let input = bench_chips::input(&spec);
        for wide_index in [false, true] {
            for min_weight_bytes in [1, 2, 4] {
                for (no_dense, touch) in [(false, false), (true, true)] {
                    let layout = LayoutOverride {
                        wide_index,
                        min_weight_bytes,
                        no_dense,
                        touch: Some(touch),
                        fanout: Some(false),
                        ..LayoutOverride::default()
                    };
                    let emu = crate::Emulator::with_layout(&config, layout).expect("valid");
                    for mode in [Mode::Functional, Mode::CycleAccurate] {
                        let options = every_probe(spec.ticks, mode);
                        let run_at = |level| {
                            cap(level);
                            emu.clone().run(&input, &options).expect("runs")
                        };
                        let base = run_at(Level::Base);
                        let case = format!("{wide_index} {min_weight_bytes} {no_dense} {mode:?}");
                        assert!(
                            base.counts.synops > 100_000,
                            "{case}: {}",
                            base.counts.synops
                        );
                        assert!(base == run_at(Level::Avx2), "{case}: AVX2 differs");
                        assert!(base == run_at(Level::Avx512), "{case}: AVX-512 differs");
                    }
                }
            }
        }
        cap(Level::Avx512);
    }

    /// Dense rows with the same cells share one stored copy: a chip whose input rows repeat
    /// eight rows stores far less, and runs exactly as with every row stored.
    #[test]
    fn shared_dense_rows_give_the_run_of_rows_stored_apart() {
        use crate::Mode;
        let spec = bench_chips::Spec {
            ticks: 20,
            ..bench_chips::dense()
        };
        let mut config = bench_chips::chip(&spec);
        // Eight distinct rows that differ in one late cell only, each repeated.
        for core in &mut config.cores {
            for a in 1..spec.input_axons as usize {
                let mut row = core.axons[0].synapses.clone();
                if let Some(s) = row.get_mut(400) {
                    s.weight += (a % 8) as i32;
                }
                core.axons[a].synapses = row;
            }
        }
        let input = bench_chips::input(&spec);
        let flat = lifchip_chip::FlatChip::from_config(&config);
        let stored = |unshared_rows| {
            let layout = LayoutOverride {
                unshared_rows,
                fanout: Some(false),
                ..LayoutOverride::default()
            };
            let p = Program::new(&flat, &layout).expect("valid");
            p.store.as_ref().map_or(0, |s| s.bytes())
        };
        let (shared, apart) = (stored(false), stored(true));
        assert!(shared * 8 < apart, "{shared} vs {apart} bytes");
        for mode in [Mode::Functional, Mode::CycleAccurate] {
            let options = every_probe(spec.ticks, mode);
            let run = |unshared_rows| {
                let layout = LayoutOverride {
                    unshared_rows,
                    fanout: Some(false),
                    ..LayoutOverride::default()
                };
                let mut emu = crate::Emulator::with_layout(&config, layout).expect("valid");
                emu.run(&input, &options).expect("runs")
            };
            let shared = run(false);
            assert!(shared.counts.synops > 100_000, "{}", shared.counts.synops);
            assert!(shared == run(true), "{mode:?}: shared rows differ");
        }
    }

    /// Options of a run of `ticks` that records every probe, state included.
    fn every_probe(ticks: u32, mode: crate::Mode) -> crate::RunOptions {
        crate::RunOptions {
            ticks,
            mode,
            probes: crate::Probes {
                set: crate::ProbeSet::All,
                state: true,
            },
            readout_from: 0,
        }
    }

    /// The chip of [`bench_chips::Spec::parallel_blocks`], its input and its program.
    fn parallel_blocks_program() -> (
        bench_chips::Spec,
        lifchip_chip::ChipConfig,
        Vec<Vec<u32>>,
        Program,
    ) {
        let spec = bench_chips::Spec::parallel_blocks();
        let config = bench_chips::chip(&spec);
        let input = bench_chips::input(&spec);
        let p = Program::new(
            &lifchip_chip::FlatChip::from_config(&config),
            &LayoutOverride::default(),
        )
        .expect("valid");
        (spec, config, input, p)
    }

    /// Cycle-accurate pricing of active compartments from the fused pass's idle lists (one
    /// thread and parallel blocks) gives the per-core cycles of the general path, which marks
    /// and counts every compartment: the same chip with `any_refractory` set (no compartment
    /// has a refractory period, so only the path changes).
    #[test]
    fn idle_lists_price_like_counting_every_compartment() {
        use crate::{Mode, RunOptions};
        let (spec, config, input, fused) = parallel_blocks_program();
        assert!(fused_neurons(&fused) && fused.price_active);
        let mut general = Program::new(
            &lifchip_chip::FlatChip::from_config(&config),
            &LayoutOverride::default(),
        )
        .expect("valid");
        general.any_refractory = true;
        assert!(!fused_neurons(&general));
        let options = RunOptions {
            ticks: spec.ticks,
            mode: Mode::CycleAccurate,
            ..RunOptions::new(spec.ticks)
        };
        let go = |p: &Program, threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut s = State::new(p);
                run(p, &mut s, &input, &options, CycleDetail::PerCore).expect("runs")
            })
        };
        let want = go(&general, 1);
        let c = &want.counts;
        assert!(
            c.active_neuron_updates > 0 && c.active_neuron_updates < c.neuron_updates,
            "{} of {}",
            c.active_neuron_updates,
            c.neuron_updates
        );
        for threads in [1, 2] {
            assert!(go(&fused, threads) == want, "{threads} threads");
        }
    }

    /// The fused pass's broadcast of uniform chunks gives what the per-compartment loads give:
    /// a chip whose even cores have one threshold (uniform chunks) and odd cores random ones,
    /// run with its uniform flags and with every flag off.
    #[test]
    fn uniform_chunks_give_the_per_compartment_results() {
        use crate::Mode;
        let spec = bench_chips::Spec {
            cores: 6,
            mesh_width: 3,
            compartments: 300,
            input_axons: 64,
            recurrent_axons: 64,
            row: 40,
            recurrent_row: 8,
            active: 24,
            ticks: 20,
        };
        let mut config = bench_chips::chip(&spec);
        for core in config.cores.iter_mut().step_by(2) {
            for comp in &mut core.compartments {
                comp.threshold = 6000;
            }
        }
        let input = bench_chips::input(&spec);
        let p = Program::new(
            &lifchip_chip::FlatChip::from_config(&config),
            &LayoutOverride::default(),
        )
        .expect("valid");
        assert!(fused_neurons(&p));
        let options = every_probe(spec.ticks, Mode::Functional);
        let mut s = State::new(&p);
        assert!(s.uniform.iter().any(|&u| u) && s.uniform.iter().any(|&u| !u));
        let with = run(&p, &mut s, &input, &options, CycleDetail::PerTick).expect("runs");
        let mut s = State::new(&p);
        s.uniform.fill(false);
        let without = run(&p, &mut s, &input, &options, CycleDetail::PerTick).expect("runs");
        assert!(with.counts.spikes > 20, "{}", with.counts.spikes);
        assert!(with == without);
    }

    #[test]
    fn overflow_fast_paths_are_exact() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let bits = 2 + (rng.next() % 31) as u32;
            let x = rng.any();
            for policy in POLICIES {
                let want = overflow(i128::from(x), bits, policy);
                assert_eq!(i128::from(overflow64(x, bits, policy)), want, "{x} {bits}");
                let got = match policy_code(policy) {
                    P_WRAP => ovf_p::<P_WRAP>(x, bits),
                    P_WRAP_LAVA => ovf_p::<P_WRAP_LAVA>(x, bits),
                    P_SATURATE => ovf_p::<P_SATURATE>(x, bits),
                    _ => ovf_p::<P_SATURATE_SYMMETRIC>(x, bits),
                };
                assert_eq!(i128::from(got), want);
                let (a, b, c) = (x, rng.value(63), rng.value(40));
                let wide = overflow(i128::from(a) + i128::from(b) + i128::from(c), bits, policy);
                let exact = (
                    to_i64(wide),
                    wide != i128::from(a) + i128::from(b) + i128::from(c),
                );
                assert_eq!(add_ovf(a, b, c, bits, policy), exact);
                let p = match policy_code(policy) {
                    P_WRAP => add_ovf_p::<P_WRAP>(a, b, c, bits, policy),
                    P_WRAP_LAVA => add_ovf_p::<P_WRAP_LAVA>(a, b, c, bits, policy),
                    P_SATURATE => add_ovf_p::<P_SATURATE>(a, b, c, bits, policy),
                    _ => add_ovf_p::<P_SATURATE_SYMMETRIC>(a, b, c, bits, policy),
                };
                assert_eq!(p, exact);
            }
        }
    }

    #[test]
    fn decay_fast_path_is_exact() {
        let mut rng = Rng(0x0fed_cba9_8765_4321);
        let mut params = program().params;
        for _ in 0..20_000 {
            let x = rng.any();
            params.decay_bits = 1 + (rng.next() % 30) as u32;
            params.min_step = rng.next().is_multiple_of(2);
            let d = (rng.next() % (1 << params.decay_bits)) as i64;
            params.decay = DecayKind::Multiplicative;
            assert_eq!(
                decay_k::<true>(x, d, params.decay_bits, params.min_step),
                decay(x, d, &params)
            );
            params.decay = DecayKind::Shift;
            let d = d % 70;
            assert_eq!(
                decay_k::<false>(x, d, params.decay_bits, params.min_step),
                decay(x, d, &params)
            );
        }
    }

    /// The branch-free decay equals the saturating one on every value `u` and `v` can hold.
    #[test]
    fn small_decay_is_exact_within_the_state_bounds() {
        let mut rng = Rng(0x1357_9bdf_2468_ace0);
        for _ in 0..50_000 {
            let x = rng.plain(32).clamp(-(1 << 31), 1 << 31);
            let bits = 1 + (rng.next() % 30) as u32;
            let d = (rng.next() % ((1u64 << bits) + 1)) as i64;
            let min_step = rng.next().is_multiple_of(2);
            assert_eq!(
                decay_bf::<true>(x, d, bits, min_step),
                decay_k::<true>(x, d, bits, min_step)
            );
            let d = d % 70;
            assert_eq!(
                decay_bf::<false>(x, d, bits, min_step),
                decay_k::<false>(x, d, bits, min_step)
            );
        }
    }

    /// Block-wise gathering agrees with the exact gathering whenever it accepts the
    /// accumulators, and accepts all small ones.
    #[test]
    fn block_gather_is_exact() {
        let p = program();
        assert!(p.gather_bits > 0);
        let mut s = State::new(&p);
        let mut rec = recorder(&p);
        let mut rng = Rng(0x5555_aaaa_1234_4321);
        let mut fast = vec![0i64; p.n_comp()];
        let (mut accepted, mut refused) = (0, 0);
        for trial in 0..400 {
            let bits = (trial % 64) as u32;
            let corners = trial % 5 == 4;
            for a in &mut s.acc[..s.slots] {
                *a = if corners {
                    rng.value(bits)
                } else {
                    rng.plain(bits)
                };
            }
            let ok = gather_blocks(&p, &s.acc, s.slots, &mut fast, false);
            s.slow.clear();
            gather_exact(&p, &mut s, &mut rec);
            if ok {
                accepted += 1;
                assert!(s.slow.is_empty(), "trial {trial}");
                assert_eq!(fast, s.inp, "trial {trial}");
            } else {
                refused += 1;
                assert!(
                    corners || bits > 40,
                    "trial {trial}: {bits}-bit accumulators refused"
                );
            }
        }
        assert!(accepted > 100 && refused > 50, "{accepted} {refused}");
    }

    /// Gathering only the touched slots (with repeats) gives the block-wise gather's inputs,
    /// refuses exactly when it does, and leaves every accumulator at zero.
    #[test]
    fn sparse_gather_is_block_gather() {
        let p = program();
        assert!(p.sparse_gather && p.gather_bits > 0);
        let mut s = State::new(&p);
        let mut rng = Rng(0x0f0f_1234_5678_9abc);
        let mut want = vec![0i64; p.n_comp()];
        let (mut accepted, mut refused) = (0, 0);
        for trial in 0..300 {
            let bits = (trial % 64) as u32;
            s.acc.fill(0);
            s.touched.clear();
            // A dirty input array from an earlier dense tick, every third trial.
            if trial % 3 == 0 {
                s.inp.fill(7);
                s.inp_dirty = true;
            }
            for _ in 0..(trial % 17) {
                let sl = (rng.next() % s.slots as u64) as u32;
                s.acc[sl as usize] = rng.value(bits);
                s.touched.push(sl);
                if rng.next().is_multiple_of(4) {
                    s.touched.push(sl);
                }
            }
            let acc = s.acc.clone();
            let ok = gather_blocks(&p, &acc, s.slots, &mut want, false);
            if gather_sparse(&p, &mut s) {
                accepted += 1;
                assert!(ok, "trial {trial}: the block gather refused");
                assert_eq!(want, s.inp, "trial {trial}");
                assert!(s.acc.iter().all(|&a| a == 0), "trial {trial}");
                assert!(!s.inp_dirty);
            } else {
                refused += 1;
                assert!(!ok, "trial {trial}: the block gather accepted");
                assert_eq!(acc, s.acc, "trial {trial}: refused but changed");
            }
            // What `currents` does after the pass: the touched compartments back to 0.
            if !s.inp_dirty {
                for &sl in &s.touched {
                    s.inp[p.slot_comp[sl as usize] as usize] = 0;
                }
            }
        }
        assert!(accepted > 100 && refused > 20, "{accepted} {refused}");
    }

    /// The compartment-range current update agrees with the exact one for every decay kind,
    /// order and overflow policy, including inputs beyond 64 bits after the input shift.
    #[test]
    fn current_range_is_exact() {
        let mut p = program();
        let n = p.n_comp();
        let mut rng = Rng(0x7777_1111_2222_3333);
        for trial in 0..256 {
            p.params.decay = if trial % 2 == 0 {
                DecayKind::Multiplicative
            } else {
                DecayKind::Shift
            };
            p.params.order = if trial / 2 % 2 == 0 {
                UpdateOrder::DecayThenInput
            } else {
                UpdateOrder::InputThenDecay
            };
            p.params.current_overflow = POLICIES[trial / 4 % 4];
            p.params.current_bits = 2 + (rng.next() % 31) as u32;
            p.params.input_shift = (rng.next() % 25) as u32;
            p.params.min_step = rng.next().is_multiple_of(2);
            for d in &mut p.u_decay {
                *d = (rng.next() % if trial % 2 == 0 { 4096 } else { 40 }) as i64;
            }
            let u0: Vec<i64> = (0..n).map(|_| rng.any()).collect();
            let inp: Vec<i64> = (0..n).map(|_| rng.any()).collect();
            let mut u = u0.clone();
            let mut ovf = vec![0u32; n];
            let mult = p.params.decay == DecayKind::Multiplicative;
            let dti = p.params.order == UpdateOrder::DecayThenInput;
            let code = policy_code(p.params.current_overflow);
            with_kind!(
                mult,
                dti,
                code,
                current_range::<_, _, _>(&p, &mut u, &inp, &mut ovf, 0, n)
            );
            for k in 0..n {
                let (want, changed) = current_exact(&p, u0[k], i128::from(inp[k]), k);
                assert_eq!(u[k], want, "trial {trial}, compartment {k}");
                assert_eq!(ovf[k], u32::from(changed), "trial {trial}, compartment {k}");
            }
        }
    }

    /// The narrow (32-bit) chunk of the fused pass gives the 64-bit chunks' values and flags
    /// for every decay kind, order and pair of overflow policies, with per-compartment and
    /// uniform parameters, and refuses (changing nothing) a chunk whose inputs are beyond its
    /// bounds.
    #[test]
    fn narrow_chunks_equal_the_64_bit_chunks() {
        let mut p = program();
        let mut rng = Rng(0x5eed_0f4a_110c_0d17);
        let (mut taken, mut refused) = (0, 0);
        for trial in 0..6000 {
            let par = &mut p.params;
            par.decay = if trial % 2 == 0 {
                DecayKind::Multiplicative
            } else {
                DecayKind::Shift
            };
            par.order = if trial / 2 % 2 == 0 {
                UpdateOrder::DecayThenInput
            } else {
                UpdateOrder::InputThenDecay
            };
            par.current_overflow = POLICIES[trial / 4 % 4];
            par.voltage_overflow = POLICIES[trial / 16 % 4];
            par.current_bits = 2 + (rng.next() % 28) as u32;
            par.voltage_bits = 2 + (rng.next() % 28) as u32;
            par.input_shift = (rng.next() % 30) as u32;
            par.decay_bits = 1 + (rng.next() % 15) as u32;
            par.min_step = rng.next().is_multiple_of(2);
            let (mult, dti) = (trial % 2 == 0, trial / 2 % 2 == 0);
            let (up, vp) = (
                policy_code(par.current_overflow),
                policy_code(par.voltage_overflow),
            );
            let uni = trial / 64 % 2 == 0;
            let par = p.params.clone();
            let (cb, vb, db) = (par.current_bits, par.voltage_bits, par.decay_bits);
            let mut lane = |bits: u32| rng.plain(bits);
            // Mostly within the narrow bounds; now and then one value beyond them.
            let wild = trial % 7 == 0;
            let mut u: [i64; CHUNK] = std::array::from_fn(|_| lane(cb - 1));
            let mut v: [i64; CHUNK] = std::array::from_fn(|_| lane(vb - 1));
            let mut inp: [i64; CHUNK] = std::array::from_fn(|_| lane(30 - par.input_shift));
            let bias: [i64; CHUNK] = std::array::from_fn(|k| if k % 3 == 0 { 0 } else { lane(28) });
            let mut vth: [i64; CHUNK] = std::array::from_fn(|_| lane(vb));
            let mut ud: [i64; CHUNK] = std::array::from_fn(|_| {
                if mult {
                    (rng.next() % ((1 << db) + 1)) as i64
                } else {
                    (rng.next() % 40) as i64
                }
            });
            let mut vd: [i64; CHUNK] = std::array::from_fn(|_| {
                if mult {
                    (rng.next() % ((1 << db) + 1)) as i64
                } else {
                    (rng.next() % 40) as i64
                }
            });
            if uni {
                (ud, vd, vth) = ([ud[0]; CHUNK], [vd[0]; CHUNK], [vth[0]; CHUNK]);
            }
            if trial % 5 == 0 {
                // The ends of the states' ranges (`wrap_lava` reaches +2^(bits-1)).
                (u[0], u[1]) = (1 << (cb - 1), -(1 << (cb - 1)));
                (v[0], v[1]) = (1 << (vb - 1), -(1 << (vb - 1)));
            }
            if wild {
                let k = (rng.next() % CHUNK as u64) as usize;
                inp[k] = match rng.next() % 3 {
                    0 => rng.value(40),
                    1 => 1 << (30 - par.input_shift),
                    _ => -(1 << (30 - par.input_shift)) - 1,
                };
            }
            // The 64-bit pass, as `neurons_block_kernel` runs it.
            let pre: Vec<bool> = (0..CHUNK).map(|k| (u[k] | v[k] | bias[k]) != 0).collect();
            let (mut wu, mut wv) = (u, v);
            let (mut fu, mut fv, mut sp) = ([false; CHUNK], [false; CHUNK], [false; CHUNK]);
            with_policies!(
                mult,
                dti,
                up,
                vp,
                wide_chunk::<_, _, _, _, _>(
                    uni, &mut wu, &mut wv, &inp, &ud, &vd, &bias, &vth, &mut fu, &mut fv, &mut sp,
                    &par
                )
            );
            let nw = narrow::Narrow {
                u_decay: ud
                    .iter()
                    .map(|&d| if mult { d as i32 } else { d.min(31) as i32 })
                    .collect(),
                v_decay: vd
                    .iter()
                    .map(|&d| if mult { d as i32 } else { d.min(31) as i32 })
                    .collect(),
                vth_test: vth.iter().map(|&t| t as i32).collect(),
                bias: bias.iter().map(|&b| b as i32).collect(),
                in_bits: 30 - par.input_shift,
            };
            // The narrow state in 32 bits (all the values above fit).
            let (mut nu, mut nv) = (u.map(|x| x as i32), v.map(|x| x as i32));
            let mut flags = [0i32; CHUNK];
            let out = with_policies!(
                mult,
                dti,
                up,
                vp,
                narrow_chunk::<_, _, _, _, _>(uni, &nw, &mut nu, &mut nv, &inp, &mut flags, &par)
            );
            // Refused exactly when an input is outside [-2^in_bits, 2^in_bits).
            let bound = 1i64 << nw.in_bits;
            let outside = inp.iter().any(|&x| x < -bound || x >= bound);
            assert_eq!(out.is_none(), outside, "trial {trial}: the input bounds");
            let Some(out) = out else {
                refused += 1;
                assert!(wild, "trial {trial}: refused within the bounds");
                assert_eq!(
                    (nu.map(i64::from), nv.map(i64::from)),
                    (u, v),
                    "trial {trial}: refused but changed"
                );
                continue;
            };
            taken += 1;
            assert_eq!(nu.map(i64::from), wu, "trial {trial}: u");
            assert_eq!(nv.map(i64::from), wv, "trial {trial}: v");
            let mut active = 0;
            for k in 0..CHUNK {
                let on = pre[k] | (wu[k] != 0);
                active += u32::from(on);
                let want = (i32::from(fu[k]) * narrow::OVF_U)
                    | (i32::from(fv[k]) * narrow::OVF_V)
                    | (i32::from(sp[k]) * narrow::SPIKED)
                    | (i32::from(on) * narrow::ACTIVE);
                assert_eq!(flags[k], want, "trial {trial}, compartment {k}");
            }
            assert_eq!(out.active, active, "trial {trial}");
            assert_eq!(
                out.any,
                flags.iter().fold(0, |o, &f| o | f),
                "trial {trial}"
            );
        }
        assert!(taken > 4000 && refused > 100, "{taken} {refused}");
    }

    #[allow(clippy::too_many_arguments)]
    fn wide_chunk<
        const MULT: bool,
        const DTI: bool,
        const UP: u8,
        const VP: u8,
        const INT32: bool,
    >(
        uni: bool,
        u: &mut [i64; CHUNK],
        v: &mut [i64; CHUNK],
        inp: &[i64; CHUNK],
        ud: &[i64; CHUNK],
        vd: &[i64; CHUNK],
        bias: &[i64; CHUNK],
        vth: &[i64; CHUNK],
        fu: &mut [bool; CHUNK],
        fv: &mut [bool; CHUNK],
        sp: &mut [bool; CHUNK],
        par: &crate::program::Params,
    ) {
        let (bits, ms, is, cb) = (
            par.decay_bits,
            par.min_step,
            par.input_shift,
            par.current_bits,
        );
        if uni {
            current_chunk::<MULT, DTI, UP, true>(u, inp, ud, fu, bits, ms, is, cb);
            voltage_chunk::<MULT, VP, INT32, true>(v, u, bias, vd, vth, fv, sp, par);
        } else {
            current_chunk::<MULT, DTI, UP, false>(u, inp, ud, fu, bits, ms, is, cb);
            voltage_chunk::<MULT, VP, INT32, false>(v, u, bias, vd, vth, fv, sp, par);
        }
    }

    fn narrow_chunk<
        const MULT: bool,
        const DTI: bool,
        const UP: u8,
        const VP: u8,
        const INT32: bool,
    >(
        uni: bool,
        nw: &narrow::Narrow,
        u: &mut [i32; CHUNK],
        v: &mut [i32; CHUNK],
        inp: &[i64; CHUNK],
        flags: &mut [i32; CHUNK],
        par: &crate::program::Params,
    ) -> Option<narrow::ChunkOut> {
        let (bits, ms, is) = (par.decay_bits, par.min_step, par.input_shift);
        let (cb, vb) = (par.current_bits, par.voltage_bits);
        if uni {
            narrow::chunk::<MULT, DTI, UP, VP, true>(nw, 0, u, v, inp, flags, bits, ms, is, cb, vb)
        } else {
            narrow::chunk::<MULT, DTI, UP, VP, false>(nw, 0, u, v, inp, flags, bits, ms, is, cb, vb)
        }
    }

    /// A block of a narrow chip stepped in 32 bits ([`narrow_block_kernel`]) gives what the
    /// 64-bit block gives: state, zeroed inputs, overflow counts, spikes, idle lists and active
    /// count; also through its 64-bit fallback (chunks with an input beyond the narrow bounds
    /// or beyond the 64-bit fast path, a last chunk short of [`CHUNK`]), for every order and
    /// pair of overflow policies, uniform chunks and not.
    #[test]
    fn narrow_blocks_equal_the_64_bit_blocks() {
        let (_, _, _, mut p) = parallel_blocks_program();
        let n = p.n_comp();
        // Every third chunk uniform.
        for c in (0..n / CHUNK).step_by(3) {
            let at = c * CHUNK..(c + 1) * CHUNK;
            for xs in [&mut p.u_decay, &mut p.v_decay, &mut p.vth_test] {
                let x0 = xs[at.start];
                xs[at.clone()].fill(x0);
            }
        }
        let uniform = uniform_chunks(&p);
        assert!(uniform.iter().any(|&u| u) && uniform.iter().any(|&u| !u));
        let mut rng = Rng(0x0b10_c4ed_5eed_1234);
        let (mut fallbacks, mut spiked, mut overflowed) = (0, 0, 0);
        for trial in 0..64 {
            let par = &mut p.params;
            par.order = if trial % 2 == 0 {
                UpdateOrder::DecayThenInput
            } else {
                UpdateOrder::InputThenDecay
            };
            par.current_overflow = POLICIES[trial / 2 % 4];
            par.voltage_overflow = POLICIES[trial / 8 % 4];
            let nw = narrow::Narrow::new(&p).expect("a narrow chip");
            let par = p.params.clone();
            let (cb, vb, is) = (par.current_bits, par.voltage_bits, par.input_shift);
            // A block from a chunk boundary (as the parallel blocks are), of any length.
            let base = CHUNK * (rng.next() % (n / CHUNK / 2) as u64) as usize;
            let len = 1 + (rng.next() % 3000) as usize;
            let mut u = vec![0i64; len];
            let mut v = vec![0i64; len];
            let mut inp = vec![0i64; len];
            for k in 0..len {
                // A quarter of the compartments hold nothing (idle unless biased or driven).
                if !rng.next().is_multiple_of(4) {
                    (u[k], v[k]) = (rng.plain(cb - 1), rng.plain(vb - 1));
                }
                inp[k] = match rng.next() % 400 {
                    0 => 1 << nw.in_bits,
                    1 => -(1 << nw.in_bits) - 1,
                    2 => rng.plain(62 - is),
                    3..=200 => 0,
                    _ => rng.plain(nw.in_bits),
                };
            }
            fallbacks += inp
                .chunks(CHUNK)
                .filter(|c| {
                    c.len() < CHUNK || c.iter().any(|x| x.unsigned_abs() >= 1 << nw.in_bits)
                })
                .count();
            let uni = &uniform[base / CHUNK..];
            let (dti, up, vp) = (
                par.order == UpdateOrder::DecayThenInput,
                policy_code(par.current_overflow),
                policy_code(par.voltage_overflow),
            );
            let mult = par.decay == DecayKind::Multiplicative;
            let wide = with_policies!(
                mult,
                dti,
                up,
                vp,
                block_run::<_, _, _, _, _>(&p, None, base, &u, &v, &inp, uni)
            );
            let narrow = with_policies!(
                mult,
                dti,
                up,
                vp,
                block_run::<_, _, _, _, _>(&p, Some(&nw), base, &u, &v, &inp, uni)
            );
            assert!(wide.5.len() < len, "trial {trial}: no idle compartment");
            assert!(
                narrow == wide,
                "trial {trial}, base {base}, {len} compartments"
            );
            spiked += usize::from(!wide.4.is_empty());
            let ((ou, ov), o) = (&wide.3, |xs: &[u32]| xs.iter().any(|&x| x > 0));
            overflowed += usize::from(o(ou) && o(ov));
        }
        assert!(
            fallbacks > 100 && spiked > 50 && overflowed > 50,
            "{fallbacks} {spiked} {overflowed}"
        );
    }

    /// What a block of [`neurons`] leaves: `u`, `v`, `inp`, overflow counts, spikes, idle
    /// compartments, active count; in 32 bits with `nw`.
    type BlockRun = (
        Vec<i64>,
        Vec<i64>,
        Vec<i64>,
        (Vec<u32>, Vec<u32>),
        Vec<(u32, u32)>,
        Vec<u32>,
        u64,
    );

    fn block_run<
        const MULT: bool,
        const DTI: bool,
        const UP: u8,
        const VP: u8,
        const INT32: bool,
    >(
        p: &Program,
        nw: Option<&narrow::Narrow>,
        base: usize,
        u: &[i64],
        v: &[i64],
        inp: &[i64],
        uniform: &[bool],
    ) -> BlockRun {
        let len = u.len();
        let mut inp = inp.to_vec();
        let (mut ovf_u, mut ovf_v) = (vec![0u32; len], vec![0u32; len]);
        let (mut spikers, mut idle) = (Vec::new(), Vec::new());
        let (u, v, active) = match nw {
            Some(nw) => {
                let mut u: Vec<i32> = u.iter().map(|&x| x as i32).collect();
                let mut v: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                let b = Block {
                    base,
                    u: &mut u,
                    v: &mut v,
                    inp: &mut inp,
                    ovf_u: &mut ovf_u,
                    ovf_v: &mut ovf_v,
                    spikers: &mut spikers,
                    idle: Some(&mut idle),
                    uniform,
                };
                let active = narrow_block_kernel::<MULT, DTI, UP, VP, INT32>(p, b, nw);
                let wide = |xs: Vec<i32>| xs.into_iter().map(i64::from).collect();
                (wide(u), wide(v), active)
            }
            None => {
                let (mut u, mut v) = (u.to_vec(), v.to_vec());
                let b = Block {
                    base,
                    u: &mut u,
                    v: &mut v,
                    inp: &mut inp,
                    ovf_u: &mut ovf_u,
                    ovf_v: &mut ovf_v,
                    spikers: &mut spikers,
                    idle: Some(&mut idle),
                    uniform,
                };
                let active = neurons_block_kernel::<MULT, DTI, UP, VP, INT32>(p, b);
                (u, v, active)
            }
        };
        (u, v, inp, (ovf_u, ovf_v), spikers, idle, active)
    }

    /// A whole run with the narrow fused pass equals the run with the 64-bit one (functional
    /// and cycle-accurate, one and two threads, every probe recorded), and so do a second run
    /// from the first's end, one after a reset, and the state left in 64 bits.
    #[test]
    fn narrow_pass_gives_the_64_bit_run() {
        use crate::Mode;
        let (spec, _, input, p) = parallel_blocks_program();
        assert!(narrow::Narrow::new(&p).is_some());
        for mode in [Mode::Functional, Mode::CycleAccurate] {
            let options = every_probe(spec.ticks, mode);
            let go = |narrow: bool, threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                pool.install(|| {
                    let mut s = State::new(&p);
                    if !narrow {
                        s.narrow = None;
                    }
                    // A run, one on from its end state, and one after a reset.
                    let mut go = || run(&p, &mut s, &input, &options, CycleDetail::PerCore);
                    let (first, second) = (go().expect("runs"), go().expect("runs"));
                    s.reset(&p);
                    let third = run(&p, &mut s, &input, &options, CycleDetail::PerCore);
                    (
                        first,
                        second,
                        third.expect("runs"),
                        s.u.clone(),
                        s.v.clone(),
                    )
                })
            };
            let want = go(false, 1);
            assert!(want.0.counts.spikes > 20, "{}", want.0.counts.spikes);
            assert!(want.0 != want.1 && want.0 == want.2);
            for threads in [1, 2] {
                assert!(go(true, threads) == want, "{mode:?}, {threads} threads");
            }
        }
    }

    /// Two cycle-accurate runs in a row (the second with its trees and lists all built) on
    /// `p`, with the cycle model in place or on a thread of its own.
    fn two_cycle_runs(
        p: &Program,
        input: &[Vec<u32>],
        ticks: u32,
        cycle_thread: bool,
    ) -> (SampleResult, SampleResult) {
        let options = every_probe(ticks, crate::Mode::CycleAccurate);
        let mut s = State::new(p);
        let mut go = || {
            run_with(
                p,
                &mut s,
                input,
                &options,
                CycleDetail::PerCore,
                cycle_thread,
            )
        };
        (go().expect("runs"), go().expect("runs"))
    }

    /// A cycle-accurate run whose cycle model runs on a second thread gives the run in place:
    /// every count, per-tick and per-core cycle figure, probe and spike — on a chip with
    /// contended drains, twice in a row.
    #[test]
    fn cycle_thread_gives_the_run_in_place() {
        let (spec, _, input, p) = parallel_blocks_program();
        let want = two_cycle_runs(&p, &input, spec.ticks, false);
        let cycles = want.0.cycles.as_ref().expect("cycle stats");
        assert!(
            cycles.spike_drain_cycles.iter().filter(|&&d| d > 0).count() > 3,
            "{:?}",
            cycles.spike_drain_cycles
        );
        assert!(two_cycle_runs(&p, &input, spec.ticks, true) == want);
    }

    /// The same where the synapse stage sets the cores' cycles (not pipelined, a high price
    /// per packet): the spikes' fan-out lists, counted by their entries and by their runs, and
    /// the input channels' lists, counted on the cycle thread and in the passes; more ticks
    /// than a batch sent to the cycle thread holds.
    #[test]
    fn cycle_thread_counts_the_lists_as_in_place() {
        let mut p = crate::program::tests::fan_program();
        assert!(p.cycle_fan_lists && p.input_lists.is_some());
        let cf = p.cycle_fan();
        let by_runs = (0..p.n_comp()).filter(|&k| p.by_runs(cf, k)).count();
        assert!(by_runs > 0 && by_runs < p.n_comp(), "{by_runs} by runs");
        p.target.timing.pipelined = false;
        p.target.timing.cycles_per_packet_in = 50;
        // Lower thresholds: more spikes through the lists.
        for t in &mut p.vth_test {
            *t /= 20;
        }
        let channels = p.in_tree.len() as u32;
        let input: Vec<Vec<u32>> = (0..30u32)
            .map(|t| (0..channels).filter(|c| (c + t) % 3 != 0).collect())
            .collect();
        let want = two_cycle_runs(&p, &input, 150, false);
        assert!(want.0.counts.spikes > 20, "{:?}", want.0.counts);
        assert!(two_cycle_runs(&p, &input, 150, true) == want);
    }
}
