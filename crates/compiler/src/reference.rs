//! The integer reference: runs a [`QuantNet`] tick by tick in the target's integer semantics,
//! with no cores, no routing and no cycle model.
//!
//! It is written separately from the emulator on purpose: tests hold the emulator, which runs
//! the emitted chip configuration, against this direct reading of `docs/core-model.md`.
//! Delivery order within a tick (it matters only for per-event saturating accumulation): input
//! channels in ascending order, then neurons by (population, neuron) index; each source's
//! spike count repeats its delivery.

use lifchip_target::{
    Accumulate, DecayKind, Overflow, Reset, SpikeTest, Target, UpdateOrder, VoltageUpdate,
};

use crate::{QuantNet, expand::Fanin};

/// Applies an overflow policy to `x` for a `bits`-wide state variable.
pub fn overflow(x: i64, bits: u32, policy: Overflow) -> i64 {
    let half = 1i64 << (bits.clamp(2, 62) - 1);
    match policy {
        Overflow::Wrap => {
            let m = x.rem_euclid(2 * half);
            if m >= half { m - 2 * half } else { m }
        }
        Overflow::WrapLava => {
            // Lava's int32 register: the sum wraps to 32 bits, then one correction of 2^bits.
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

fn shift(x: i64, e: i32) -> i64 {
    if e >= 0 {
        x << e.min(62)
    } else {
        x >> (-e).min(63)
    }
}

fn decay(x: i64, d: u32, offset: u32, target: &Target) -> i64 {
    match target.neuron.decay {
        DecayKind::Multiplicative => {
            let unity = 1i64 << target.neuron.decay_bits.min(30);
            let p = x * (unity - i64::from(d) - i64::from(offset)).max(0);
            p.signum() * (p.abs() >> target.neuron.decay_bits.min(62))
        }
        DecayKind::Shift => {
            let mut step = x >> d.min(63);
            if target.neuron.shift_min_step && step == 0 && x != 0 {
                step = x.signum();
            }
            x - step
        }
    }
}

/// Per-population spike trains of one run: `spikes[population][tick]` lists `(neuron, count)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceRun {
    pub spikes: Vec<Vec<Vec<(u32, u32)>>>,
    /// Per population: ticks x neurons of `u` and `v` after each tick (when recorded).
    pub u: Vec<Vec<Vec<i64>>>,
    pub v: Vec<Vec<Vec<i64>>>,
}

impl ReferenceRun {
    /// Total spikes of each neuron of population `pop`.
    pub fn counts(&self, pop: usize, size: usize) -> Vec<u32> {
        let mut c = vec![0u32; size];
        for tick in &self.spikes[pop] {
            for &(n, k) in tick {
                c[n as usize] += k;
            }
        }
        c
    }
}

struct Outgoing {
    /// For each projection leaving a population: `(projection, post, weight)` per presynaptic
    /// neuron, transposed from the by-post storage.
    by_pre: Vec<Vec<(usize, u32, i32)>>,
}

fn transpose(proj: usize, f: &Fanin<i32>, n_pre: usize, out: &mut [Vec<(usize, u32, i32)>]) {
    debug_assert!(out.len() >= n_pre);
    for post in 0..f.num_post() {
        for (pre, w) in f.inputs(post) {
            out[pre as usize].push((proj, post as u32, w));
        }
    }
}

/// Runs `ticks` ticks. `input[t]` lists the input channels (all input populations
/// concatenated in order) that spike at tick `t`. With `record_state`, `u` and `v` are kept.
pub fn run_reference(
    net: &QuantNet,
    target: &Target,
    input: &[Vec<u32>],
    ticks: usize,
    record_state: bool,
) -> ReferenceRun {
    let npop = net.populations.len();
    let sizes: Vec<usize> = net.populations.iter().map(|p| p.size()).collect();
    let mut outgoing: Vec<Outgoing> = sizes
        .iter()
        .map(|&n| Outgoing {
            by_pre: vec![Vec::new(); n],
        })
        .collect();
    for (k, proj) in net.projections.iter().enumerate() {
        transpose(
            k,
            &proj.synapses,
            sizes[proj.from],
            &mut outgoing[proj.from].by_pre,
        );
    }
    // Input channel -> (population, neuron).
    let mut channels = Vec::new();
    for (p, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_none() {
            for n in 0..pop.size() {
                channels.push((p, n as u32));
            }
        }
    }
    let dynamics = &target.neuron;
    let prec = &target.precision;
    let readout_max = dynamics.readout_max_spikes_per_tick;
    let max_delay = dynamics.synaptic_delay.max(dynamics.input_delay) as usize;
    // pending[(t + delay) % slots] holds deliveries (source order key, population, neuron, count).
    let slots = max_delay + 1;
    let mut pending: Vec<Vec<(u8, usize, u32, u32)>> = vec![Vec::new(); slots];
    // Initial state: the chip-unit net's initial u and v (0 for float-derived nets).
    let initial = |f: fn(&crate::QuantNeuron) -> &Vec<i64>| -> Vec<Vec<i64>> {
        net.populations
            .iter()
            .zip(&sizes)
            .map(|(p, &n)| match &p.neuron {
                Some(q) => (0..n).map(|i| f(q).get(i).copied().unwrap_or(0)).collect(),
                None => vec![0; n],
            })
            .collect()
    };
    let mut u: Vec<Vec<i64>> = initial(|q| &q.initial_u);
    let mut v: Vec<Vec<i64>> = initial(|q| &q.initial_v);
    // The second synaptic current (`neuron.synaptic_currents: 2`; stays 0 otherwise).
    let mut u2: Vec<Vec<i64>> = sizes.iter().map(|&n| vec![0; n]).collect();
    let mut refr: Vec<Vec<u32>> = sizes.iter().map(|&n| vec![0; n]).collect();
    let mut run = ReferenceRun {
        spikes: vec![Vec::with_capacity(ticks); npop],
        u: vec![Vec::new(); npop],
        v: vec![Vec::new(); npop],
    };
    // Accumulators per population, per projection (group), per neuron.
    let mut acc: Vec<Vec<Vec<i64>>> = (0..npop)
        .map(|p| {
            net.projections
                .iter()
                .map(|pr| {
                    if pr.to == p {
                        vec![0; sizes[p]]
                    } else {
                        Vec::new()
                    }
                })
                .collect()
        })
        .collect();
    for t in 0..ticks {
        if let Some(chans) = input.get(t) {
            let mut chans = chans.clone();
            chans.sort_unstable();
            for c in chans {
                if let Some(&(p, n)) = channels.get(c as usize) {
                    pending[(t + dynamics.input_delay as usize) % slots].push((0, p, n, 1));
                }
            }
        }
        let mut due = std::mem::take(&mut pending[t % slots]);
        due.sort_by_key(|&(kind, p, n, _)| (kind, p, n));
        for (p, pop) in net.populations.iter().enumerate() {
            let Some(params) = &pop.neuron else {
                run.spikes[p].push(Vec::new());
                continue;
            };
            // Gather this population's input events, in delivery order.
            let mut events: Vec<(usize, u32, i64)> = Vec::new();
            for &(_, src_pop, src, count) in &due {
                for &(proj, post, w) in &outgoing[src_pop].by_pre[src as usize] {
                    if net.projections[proj].to == p {
                        for _ in 0..count {
                            events.push((proj, post, i64::from(w)));
                        }
                    }
                }
            }
            let ubits = prec.current_bits;
            let add_events =
                |u: &mut [i64], u2: &mut [i64], acc: &mut [Vec<i64>]| match dynamics.accumulate {
                    Accumulate::SumThenAdd => {
                        for &(proj, post, w) in &events {
                            let a = &mut acc[proj][post as usize];
                            *a += w;
                            if prec.accumulator_bits > 0 {
                                *a = overflow(*a, prec.accumulator_bits, Overflow::Wrap);
                            }
                        }
                        for (n, un) in u.iter_mut().enumerate() {
                            let mut a_in = 0i64;
                            for (proj, pr) in net.projections.iter().enumerate() {
                                if pr.to == p {
                                    a_in += shift(acc[proj][n], pr.weight_exp);
                                    acc[proj][n] = 0;
                                }
                            }
                            *un = overflow(
                                *un + (a_in << prec.input_shift.min(40)),
                                ubits,
                                prec.current_overflow,
                            );
                        }
                    }
                    Accumulate::PerEventSaturating => {
                        for &(proj, post, w) in &events {
                            let add = shift(w, net.projections[proj].weight_exp)
                                << prec.input_shift.min(40);
                            let un = if net.projections[proj].current == 2 {
                                &mut u2[post as usize]
                            } else {
                                &mut u[post as usize]
                            };
                            *un = overflow(*un + add, ubits, prec.current_overflow);
                        }
                    }
                };
            let up = &mut u[p];
            let u2p = &mut u2[p];
            let decay_both = |up: &mut [i64], u2p: &mut [i64]| {
                for (n, x) in up.iter_mut().enumerate() {
                    *x = decay(
                        *x,
                        params.current_decay.at(n, 0),
                        dynamics.current_decay_offset,
                        target,
                    );
                }
                for (n, x) in u2p.iter_mut().enumerate() {
                    *x = decay(
                        *x,
                        params.current_decay_2.at(n, 0),
                        dynamics.current_decay_offset,
                        target,
                    );
                }
            };
            if dynamics.order == UpdateOrder::InputThenDecay {
                add_events(up, u2p, &mut acc[p]);
                decay_both(up, u2p);
            } else {
                decay_both(up, u2p);
                add_events(up, u2p, &mut acc[p]);
            }
            let max_spikes = if p == net.readout {
                readout_max
            } else {
                dynamics.max_spikes_per_tick
            };
            let tshift = prec.threshold_shift.min(40);
            let mut fired = Vec::new();
            for n in 0..sizes[p] {
                let vth = i64::from(params.threshold.at(n, 0)) << tshift;
                let bias = i64::from(params.bias.get(n).copied().unwrap_or(0))
                    << params.bias_exp.get(n).copied().unwrap_or(0).min(40);
                let vn = &mut v[p][n];
                if refr[p][n] > 0 {
                    refr[p][n] -= 1;
                    *vn = 0;
                    continue;
                }
                let decayed = decay(
                    *vn,
                    params.voltage_decay.at(n, 0),
                    dynamics.voltage_decay_offset,
                    target,
                );
                let (vb, vo) = (prec.voltage_bits, prec.voltage_overflow);
                if dynamics.voltage_update == VoltageUpdate::SaturatedDelta {
                    // Xylo v2: the saturated change, the bias added to it, then v + change.
                    // The negated decay step is a `voltage_bits` register (two's complement).
                    let neg_step = overflow(decayed - *vn, vb, Overflow::Wrap);
                    let change = overflow(up[n] + u2p[n] + neg_step, vb, vo);
                    let change = overflow(change + bias, vb, vo);
                    *vn = overflow(*vn + change, vb, vo);
                } else {
                    let raw = decayed + up[n] + u2p[n] + bias;
                    // With Lava's int32 registers (wrap_lava currents) the sum wraps to 32
                    // bits before the voltage's own policy.
                    let raw = if prec.current_overflow == Overflow::WrapLava {
                        i64::from(raw as i32)
                    } else {
                        raw
                    };
                    *vn = overflow(raw, vb, vo);
                }
                let above = |x: i64| match dynamics.spike_test {
                    SpikeTest::Greater => x > vth,
                    SpikeTest::GreaterEqual => x >= vth,
                };
                let mut count = 0u32;
                match dynamics.reset {
                    Reset::Zero => {
                        if above(*vn) {
                            count = 1;
                            *vn = 0;
                        }
                    }
                    Reset::Subtract => {
                        while count < max_spikes && above(*vn) {
                            count += 1;
                            *vn -= vth;
                        }
                    }
                }
                if count > 0 {
                    fired.push((n as u32, count));
                    refr[p][n] = params.refractory.at(n, 0);
                }
            }
            for &(n, count) in &fired {
                pending[(t + dynamics.synaptic_delay as usize) % slots].push((1, p, n, count));
            }
            run.spikes[p].push(fired);
            if record_state {
                run.u[p].push(u[p].clone());
                run.v[p].push(v[p].clone());
            }
        }
    }
    run
}
