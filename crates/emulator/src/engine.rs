//! One tick of the core model, and a run of many: the integer semantics of docs/core-model.md
//! ("One tick"), with the cycle model's counters when asked.

use lifchip_target::{Accumulate, DecayKind, Overflow, Reset, SpikeTest, UpdateOrder};

use crate::{
    CycleStats, EmuError, EnergyBreakdown, EventCounts, Mode, NeuronProbe, OverflowCounts,
    ProbeSet, RunOptions, SampleResult,
    network::{NetParams, NetSim},
    program::{NONE, Params, Program},
};

/// The mutable state of a chip: neuron state, accumulators, delay lines, and scratch space
/// reused from tick to tick (nothing is allocated per event).
#[derive(Clone, Debug)]
pub(crate) struct State {
    u: Vec<i64>,
    v: Vec<i64>,
    refr: Vec<u32>,
    acc: Vec<i64>,
    /// Delay line: `pending[t % slots]` holds `(global axon, spike count)` due at tick `t`.
    pending: Vec<Vec<(u32, u32)>>,
    /// Ticks since the last reset.
    tick: u64,
    due: Vec<(u32, u32)>,
    chans: Vec<u32>,
    inject: Vec<u32>,
    core_in: Vec<u64>,
    core_syn: Vec<u64>,
    core_out: Vec<u64>,
    net: NetSim,
}

impl State {
    pub fn new(p: &Program) -> Self {
        let n = p.n_comp();
        let slots = p.params.synaptic_delay.max(p.params.input_delay) as usize + 1;
        State {
            u: vec![0; n],
            v: vec![0; n],
            refr: vec![0; n],
            acc: vec![0; p.acc_exp.len()],
            pending: vec![Vec::new(); slots],
            tick: 0,
            due: Vec::new(),
            chans: Vec::new(),
            inject: Vec::new(),
            core_in: vec![0; p.n_cores],
            core_syn: vec![0; p.n_cores],
            core_out: vec![0; p.n_cores],
            net: NetSim::new(p.topology.routers),
        }
    }

    /// Back to the state after loading: zero state, empty delay lines.
    pub fn reset(&mut self) {
        self.u.fill(0);
        self.v.fill(0);
        self.refr.fill(0);
        self.acc.fill(0);
        for slot in &mut self.pending {
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
        Overflow::Wrap => {
            let m = x.rem_euclid(2 * half);
            if m >= half { m - 2 * half } else { m }
        }
        Overflow::WrapLava => {
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
#[inline]
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
    /// Probe index of each compartment, or NONE.
    probe_of: Vec<u32>,
    probes: Vec<NeuronProbe>,
    record_state: bool,
    cycles: Option<CycleStats>,
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

/// Runs `opts.ticks` ticks from the current state.
pub(crate) fn run(
    p: &Program,
    s: &mut State,
    input: &[Vec<u32>],
    opts: &RunOptions,
) -> Result<SampleResult, EmuError> {
    let probed = check_request(p, input, opts)?;
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
        });
    }
    let cycle = opts.mode == Mode::CycleAccurate;
    let mut rec = Recorder {
        counts: EventCounts::default(),
        overflow_u: vec![0; npop],
        overflow_v: vec![0; npop],
        overflow_acc: vec![0; npop],
        comp_spikes: vec![0; n],
        probe_of,
        probes,
        record_state,
        cycles: cycle.then(|| CycleStats {
            cores: p.n_cores,
            input_drain_cycles: Vec::with_capacity(ticks),
            compute_cycles: Vec::with_capacity(ticks * p.n_cores),
            spike_drain_cycles: Vec::with_capacity(ticks),
            tick_cycles: Vec::with_capacity(ticks),
            ..CycleStats::default()
        }),
    };
    let empty = Vec::new();
    for t in 0..ticks {
        tick(p, s, input.get(t).unwrap_or(&empty), t as u32, &mut rec);
    }
    Ok(finish(p, rec, opts))
}

fn finish(p: &Program, rec: Recorder, opts: &RunOptions) -> SampleResult {
    let e = &p.target.energy;
    let c = &rec.counts;
    let mut cycles = rec.cycles;
    let mut static_joules = 0.0;
    if let Some(cs) = &mut cycles {
        cs.total_cycles = cs.tick_cycles.iter().sum();
        cs.cycles_per_tick_max = cs.tick_cycles.iter().copied().max().unwrap_or(0);
        cs.cycles_per_tick_mean = cs.total_cycles as f64 / cs.tick_cycles.len().max(1) as f64;
        cs.latency_seconds = cs.total_cycles as f64 / p.target.timing.clock_hz;
        static_joules = e.static_watts_per_core * p.n_cores as f64 * cs.latency_seconds;
    }
    let mut energy = EnergyBreakdown {
        synops_joules: c.synops as f64 * e.synop_joules,
        neuron_updates_joules: c.neuron_updates as f64 * e.neuron_update_joules,
        spikes_out_joules: c.packets_out as f64 * e.spike_out_joules,
        hops_joules: c.hops as f64 * e.hop_joules,
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
        counts: rec.counts,
        energy,
        cycles,
        overflows,
        probes: rec.probes,
    }
}

/// One tick `t` (relative to the run) with this tick's external input channels `chans_in`.
fn tick(p: &Program, s: &mut State, chans_in: &[u32], t: u32, rec: &mut Recorder) {
    let par = &p.params;
    let slots = s.pending.len() as u64;
    let now = s.tick;
    let cycle = rec.cycles.is_some();
    let topo = &p.topology;
    let net = NetParams {
        hop_cycles: u64::from(p.target.timing.cycles_per_hop),
        link_packets_per_cycle: p.target.mesh.link_packets_per_cycle,
        fifo_depth: p.target.mesh.fifo_depth,
    };

    // 1. External inputs: one packet per distinct channel, carrying its multiplicity.
    s.chans.clear();
    s.chans.extend_from_slice(chans_in);
    s.chans.sort_unstable();
    let in_slot = ((now + u64::from(par.input_delay)) % slots) as usize;
    let mut i = 0;
    while i < s.chans.len() {
        let ch = s.chans[i];
        let mut j = i + 1;
        while j < s.chans.len() && s.chans[j] == ch {
            j += 1;
        }
        let count = (j - i) as u32;
        let c = ch as usize;
        for &ga in &p.in_axon[p.in_start[c]..p.in_start[c + 1]] {
            s.pending[in_slot].push((ga, count));
        }
        let tree = p.in_tree[c];
        if tree != NONE {
            rec.counts.input_packets += 1;
            rec.counts.hops += u64::from(topo.hops[tree as usize]);
            if cycle {
                s.inject.push(tree);
            }
        }
        i = j;
    }
    let input_drain = if cycle {
        s.net.drain(topo, &s.inject, net)
    } else {
        0
    };
    s.inject.clear();

    // 2. Deliveries due this tick.
    let slot = (now % slots) as usize;
    std::mem::swap(&mut s.due, &mut s.pending[slot]);
    let per_event = par.accumulate == Accumulate::PerEventSaturating;
    if per_event {
        if par.order == UpdateOrder::DecayThenInput {
            for (u, &d) in s.u.iter_mut().zip(&p.u_decay) {
                *u = decay(*u, d, par);
            }
        }
        // Per-event accumulation is order dependent: ascending core, then axon index.
        s.due.sort_unstable();
    }
    if cycle {
        s.core_in.fill(0);
        s.core_syn.fill(0);
        s.core_out.fill(0);
    }
    let mut synops = 0u64;
    for &(ga, count) in &s.due {
        let a = ga as usize;
        let (lo, hi) = (p.syn_start[a], p.syn_start[a + 1]);
        let ops = (hi - lo) as u64 * u64::from(count);
        synops += ops;
        if cycle {
            let c = p.axon_core[a] as usize;
            s.core_in[c] += 1;
            s.core_syn[c] += ops;
        }
        if per_event {
            for &(k, add) in &p.syn_event[lo..hi] {
                let k = k as usize;
                for _ in 0..count {
                    let x = i128::from(s.u[k]) + i128::from(add);
                    let y = overflow(x, par.current_bits, par.current_overflow);
                    if y != x {
                        rec.overflow_u[p.comp_pop[k] as usize] += 1;
                    }
                    s.u[k] = to_i64(y);
                }
            }
        } else if count == 1 {
            for &(slot, w) in &p.syn_sum[lo..hi] {
                let acc = &mut s.acc[slot as usize];
                *acc = acc.wrapping_add(i64::from(w));
            }
        } else {
            let m = i64::from(count);
            for &(slot, w) in &p.syn_sum[lo..hi] {
                let acc = &mut s.acc[slot as usize];
                *acc = acc.wrapping_add(i64::from(w).wrapping_mul(m));
            }
        }
    }
    rec.counts.synops += synops;
    rec.counts.packets_in += s.due.len() as u64;
    s.due.clear();

    // 3. Every compartment updates, in order; spikes go into the delay line.
    let out_slot = ((now + u64::from(par.synaptic_delay)) % slots) as usize;
    let acc_wrap = par.accumulator_bits;
    for k in 0..p.n_comp() {
        let pop = p.comp_pop[k] as usize;
        let mut u = s.u[k];
        if per_event {
            if par.order == UpdateOrder::InputThenDecay {
                u = decay(u, p.u_decay[k], par);
            }
        } else {
            let mut a_in: i128 = 0;
            for slot in p.acc_start[k] as usize..p.acc_start[k + 1] as usize {
                let mut a = std::mem::take(&mut s.acc[slot]);
                if acc_wrap > 0 {
                    let w = overflow(i128::from(a), acc_wrap, Overflow::Wrap) as i64;
                    if w != a {
                        rec.overflow_acc[pop] += 1;
                    }
                    a = w;
                }
                a_in += shift128(a, p.acc_exp[slot]);
            }
            let add = a_in << par.input_shift;
            if par.order == UpdateOrder::DecayThenInput {
                u = decay(u, p.u_decay[k], par);
            }
            let x = i128::from(u) + add;
            let y = overflow(x, par.current_bits, par.current_overflow);
            if y != x {
                rec.overflow_u[pop] += 1;
            }
            u = to_i64(y);
            if par.order == UpdateOrder::InputThenDecay {
                u = decay(u, p.u_decay[k], par);
            }
        }
        s.u[k] = u;

        let mut count = 0u32;
        if s.refr[k] > 0 {
            // Refractory: the voltage is held at 0 and integrates nothing; u runs on.
            s.refr[k] -= 1;
            s.v[k] = 0;
        } else {
            let x = i128::from(decay(s.v[k], p.v_decay[k], par))
                + i128::from(u)
                + i128::from(p.bias[k]);
            let y = overflow(x, par.voltage_bits, par.voltage_overflow);
            if y != x {
                rec.overflow_v[pop] += 1;
            }
            let mut v = to_i64(y);
            let vth = p.vth[k];
            let above = |v: i64| match par.spike_test {
                SpikeTest::Greater => v > vth,
                SpikeTest::GreaterEqual => v >= vth,
            };
            match par.reset {
                Reset::Zero => {
                    if above(v) {
                        count = 1;
                        v = 0;
                    }
                }
                Reset::Subtract => {
                    let max = p.max_spikes[k];
                    while count < max && above(v) {
                        count += 1;
                        v -= vth;
                    }
                }
            }
            s.v[k] = v;
            if count > 0 {
                s.refr[k] = p.refractory[k];
            }
        }
        if count > 0 {
            rec.counts.spikes += u64::from(count);
            rec.comp_spikes[k] = rec.comp_spikes[k].saturating_add(count);
            for &ga in &p.fan_axon[p.fan_start[k]..p.fan_start[k + 1]] {
                s.pending[out_slot].push((ga, count));
            }
            let tree = p.comp_tree[k];
            if tree != NONE {
                rec.counts.packets_out += 1;
                rec.counts.hops += u64::from(topo.hops[tree as usize]);
                if cycle {
                    s.core_out[p.comp_core[k] as usize] += 1;
                    s.inject.push(tree);
                }
            }
        }
        let pi = rec.probe_of.get(k).copied().unwrap_or(NONE);
        if pi != NONE {
            let probe = &mut rec.probes[pi as usize];
            for _ in 0..count {
                probe.spike_ticks.push(t);
            }
            if rec.record_state {
                probe.u.push(s.u[k]);
                probe.v.push(s.v[k]);
            }
        }
    }
    rec.counts.neuron_updates += p.n_comp() as u64;

    // 4. The cycle model: slowest core, then the spike packets' network drain, then the barrier.
    if let Some(cs) = &mut rec.cycles {
        let tm = &p.target.timing;
        let mut slowest = 0u64;
        for c in 0..p.n_cores {
            let cycles = s.core_in[c] * u64::from(tm.cycles_per_packet_in)
                + s.core_syn[c] * u64::from(tm.cycles_per_synop)
                + p.core_neurons[c] * u64::from(tm.cycles_per_neuron)
                + s.core_out[c] * u64::from(tm.cycles_per_packet_out);
            cs.compute_cycles.push(cycles);
            slowest = slowest.max(cycles);
        }
        let spike_drain = s.net.drain(topo, &s.inject, net);
        s.inject.clear();
        cs.input_drain_cycles.push(input_drain);
        cs.spike_drain_cycles.push(spike_drain);
        cs.tick_cycles
            .push(input_drain + slowest + spike_drain + u64::from(tm.barrier_cycles));
    }
    s.tick += 1;
}
