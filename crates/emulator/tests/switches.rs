//! Every switch of the target schema at once: a naive reading of docs/core-model.md ("One
//! tick") over the layered net, against the emulator running the laid-out chip configuration,
//! for random targets.

use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use lifchip_target::{
    Accumulate, DecayKind, ExponentScope, Overflow, Reset, SpikeTest, Target, UpdateOrder,
    WeightEncoding,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

use crate::util::{Conn, Layer, Net, Neuron, Trace, build, loihi, trace_of};

fn overflow(x: i64, bits: u32, policy: Overflow) -> i64 {
    let half = 1i64 << (bits - 1);
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

fn decay(x: i64, d: u32, offset: u32, t: &Target) -> i64 {
    match t.neuron.decay {
        DecayKind::Multiplicative => {
            let f = ((1i64 << t.neuron.decay_bits) - i64::from(d) - i64::from(offset)).max(0);
            let p = x * f;
            p.signum() * (p.abs() >> t.neuron.decay_bits)
        }
        DecayKind::Shift => {
            let mut step = x >> d;
            if t.neuron.shift_min_step && step == 0 && x != 0 {
                step = x.signum();
            }
            x - step
        }
    }
}

fn shift(x: i64, e: i32) -> i64 {
    if e >= 0 { x << e } else { x >> -e }
}

/// Runs the net naively; returns `[layer][neuron]` of (spikes, u, v) per tick.
pub fn reference(net: &Net, t: &Target, input: &[Vec<u32>], ticks: usize) -> Trace {
    let n = &t.neuron;
    let p = &t.precision;
    let slots = n.synaptic_delay.max(n.input_delay) as usize + 1;
    // Due events: (source, pre, count); source 0 = input, l + 1 = layer l.
    let mut pending: Vec<Vec<(usize, usize, u32)>> = vec![Vec::new(); slots];
    let sizes: Vec<usize> = net.layers.iter().map(|l| l.neurons.len()).collect();
    let mut u: Vec<Vec<i64>> = sizes.iter().map(|&s| vec![0; s]).collect();
    let mut v = u.clone();
    let mut refr: Vec<Vec<u32>> = sizes.iter().map(|&s| vec![0; s]).collect();
    let mut out: Trace = sizes
        .iter()
        .map(|&s| vec![(Vec::new(), Vec::new(), Vec::new()); s])
        .collect();
    let last = net.layers.len() - 1;
    for tick in 0..ticks {
        for ch in 0..net.inputs {
            let c = input[tick].iter().filter(|&&x| x as usize == ch).count() as u32;
            if c > 0 {
                pending[(tick + n.input_delay as usize) % slots].push((0, ch, c));
            }
        }
        let mut due = std::mem::take(&mut pending[tick % slots]);
        due.sort_unstable();
        let per_event = n.accumulate == Accumulate::PerEventSaturating;
        if per_event && n.order == UpdateOrder::DecayThenInput {
            for (l, layer) in net.layers.iter().enumerate() {
                for (j, nr) in layer.neurons.iter().enumerate() {
                    u[l][j] = decay(u[l][j], nr.du, n.current_decay_offset, t);
                }
            }
        }
        // Per layer, per projection, per neuron: the tick's summed input.
        let mut acc: Vec<Vec<Vec<i64>>> = net
            .layers
            .iter()
            .map(|l| vec![vec![0; l.neurons.len()]; l.incoming.len()])
            .collect();
        for &(src, pre, count) in &due {
            for (l, layer) in net.layers.iter().enumerate() {
                for (q, conn) in layer.incoming.iter().enumerate() {
                    if conn.from != src {
                        continue;
                    }
                    for (j, &w) in conn.weights[pre].iter().enumerate() {
                        if w == 0 {
                            continue;
                        }
                        if per_event {
                            for _ in 0..count {
                                let add = shift(i64::from(w), conn.exp) << p.input_shift;
                                u[l][j] =
                                    overflow(u[l][j] + add, p.current_bits, p.current_overflow);
                            }
                        } else {
                            acc[l][q][j] += i64::from(w) * i64::from(count);
                        }
                    }
                }
            }
        }
        for (l, layer) in net.layers.iter().enumerate() {
            for (j, nr) in layer.neurons.iter().enumerate() {
                let mut uu = u[l][j];
                if per_event {
                    if n.order == UpdateOrder::InputThenDecay {
                        uu = decay(uu, nr.du, n.current_decay_offset, t);
                    }
                } else {
                    let mut a_in = 0i64;
                    for (q, conn) in layer.incoming.iter().enumerate() {
                        let mut a = acc[l][q][j];
                        if p.accumulator_bits > 0 {
                            a = overflow(a, p.accumulator_bits, Overflow::Wrap);
                        }
                        a_in += shift(a, conn.exp);
                    }
                    if n.order == UpdateOrder::DecayThenInput {
                        uu = decay(uu, nr.du, n.current_decay_offset, t);
                    }
                    uu = overflow(
                        uu + (a_in << p.input_shift),
                        p.current_bits,
                        p.current_overflow,
                    );
                    if n.order == UpdateOrder::InputThenDecay {
                        uu = decay(uu, nr.du, n.current_decay_offset, t);
                    }
                }
                u[l][j] = uu;
                let mut count = 0;
                if refr[l][j] > 0 {
                    refr[l][j] -= 1;
                    v[l][j] = 0;
                } else {
                    let bias = i64::from(nr.bias) << nr.bias_exp;
                    let raw = decay(v[l][j], nr.dv, n.voltage_decay_offset, t) + uu + bias;
                    let mut vv = overflow(raw, p.voltage_bits, p.voltage_overflow);
                    let vth = i64::from(nr.vth) << p.threshold_shift;
                    let above = |x: i64| match n.spike_test {
                        SpikeTest::Greater => x > vth,
                        SpikeTest::GreaterEqual => x >= vth,
                    };
                    let max = if l == last {
                        n.readout_max_spikes_per_tick
                    } else {
                        n.max_spikes_per_tick
                    };
                    match n.reset {
                        Reset::Zero => {
                            if above(vv) {
                                count = 1;
                                vv = 0;
                            }
                        }
                        Reset::Subtract => {
                            while count < max && above(vv) {
                                count += 1;
                                vv -= vth;
                            }
                        }
                    }
                    v[l][j] = vv;
                    if count > 0 {
                        refr[l][j] = nr.refractory;
                    }
                }
                if count > 0 {
                    pending[(tick + n.synaptic_delay as usize) % slots].push((l + 1, j, count));
                }
                let o = &mut out[l][j];
                o.0.push(count);
                o.1.push(u[l][j]);
                o.2.push(v[l][j]);
            }
        }
    }
    out
}

fn random_target(rng: &mut StdRng) -> Target {
    let mut t = loihi(8);
    t.name = "switches".into();
    let n = &mut t.neuron;
    n.decay = *[DecayKind::Multiplicative, DecayKind::Shift]
        .choose(rng)
        .unwrap();
    n.decay_bits = rng.random_range(4..=12);
    n.current_decay_offset = rng.random_range(0..=2);
    n.voltage_decay_offset = rng.random_range(0..=2);
    n.shift_min_step = rng.random_bool(0.5);
    n.order = *[UpdateOrder::DecayThenInput, UpdateOrder::InputThenDecay]
        .choose(rng)
        .unwrap();
    n.accumulate = *[Accumulate::SumThenAdd, Accumulate::PerEventSaturating]
        .choose(rng)
        .unwrap();
    n.reset = *[Reset::Zero, Reset::Subtract].choose(rng).unwrap();
    n.spike_test = *[SpikeTest::Greater, SpikeTest::GreaterEqual]
        .choose(rng)
        .unwrap();
    n.max_spikes_per_tick = rng.random_range(1..=5);
    n.readout_max_spikes_per_tick = rng.random_range(1..=3);
    n.refractory_max = rng.random_range(0..=4);
    n.synaptic_delay = rng.random_range(1..=3);
    n.input_delay = rng.random_range(0..=3);
    let p = &mut t.precision;
    let modes = [
        Overflow::Wrap,
        Overflow::WrapLava,
        Overflow::Saturate,
        Overflow::SaturateSymmetric,
    ];
    p.weight_encoding = WeightEncoding::Signed;
    p.weight_bits = rng.random_range(3..=10);
    p.weight_exponent.scope = ExponentScope::Layer;
    p.weight_exponent.min = -4;
    p.weight_exponent.max = 4;
    p.current_bits = rng.random_range(8..=24);
    p.current_overflow = *modes.choose(rng).unwrap();
    p.voltage_bits = rng.random_range(8..=24);
    p.voltage_overflow = *modes.choose(rng).unwrap();
    p.input_shift = rng.random_range(0..=6);
    p.threshold_bits = rng.random_range(4..=12);
    p.threshold_shift = rng.random_range(0..=6);
    p.bias_bits = rng.random_range(4..=12);
    p.bias_exp_max = rng.random_range(0..=4);
    p.accumulator_bits = if rng.random_bool(0.5) {
        0
    } else {
        rng.random_range(6..=16)
    };
    t
}

fn random_net(rng: &mut StdRng, t: &Target) -> Net {
    let inputs = rng.random_range(1..=5);
    let n_layers = rng.random_range(1..=3);
    let wmax = (1i32 << (t.precision.weight_bits - 1)) - 1;
    let decay_max = match t.neuron.decay {
        DecayKind::Multiplicative => (1u32 << t.neuron.decay_bits) - 1,
        DecayKind::Shift => 20,
    };
    let mut sizes = vec![inputs];
    let mut layers = Vec::new();
    for l in 0..n_layers {
        let n = rng.random_range(1..=5);
        let mut incoming = Vec::new();
        // From the previous layer (or input); sometimes also recurrent or from the input.
        let mut sources = vec![l];
        if rng.random_bool(0.3) {
            sources.push(l + 1);
        }
        if l > 0 && rng.random_bool(0.3) {
            sources.push(0);
        }
        for from in sources {
            let pre = if from == l + 1 { n } else { sizes[from] };
            incoming.push(Conn {
                from,
                weights: (0..pre)
                    .map(|_| {
                        (0..n)
                            .map(|_| {
                                if rng.random_bool(0.7) {
                                    rng.random_range(-wmax - 1..=wmax)
                                } else {
                                    0
                                }
                            })
                            .collect()
                    })
                    .collect(),
                exp: rng.random_range(-4..=4),
            });
        }
        let bmax = (1i32 << (t.precision.bias_bits - 1)) - 1;
        let neurons = (0..n)
            .map(|_| Neuron {
                du: rng.random_range(0..=decay_max),
                dv: rng.random_range(0..=decay_max),
                vth: rng.random_range(0..(1u32 << t.precision.threshold_bits)),
                bias: rng.random_range(-bmax - 1..=bmax),
                bias_exp: rng.random_range(0..=t.precision.bias_exp_max),
                refractory: rng.random_range(0..=t.neuron.refractory_max),
            })
            .collect();
        layers.push(Layer {
            neurons,
            incoming,
            cores: (0..n).map(|_| rng.random_range(0..6)).collect(),
        });
        sizes.push(n);
    }
    Net { inputs, layers }
}

/// A random target, net and input spike train.
pub fn random_case(seed: u64) -> (Target, Net, Vec<Vec<u32>>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let target = random_target(&mut rng);
    let net = random_net(&mut rng, &target);
    let ticks = rng.random_range(1..=30);
    let rate = rng.random_range(0.0..1.0);
    let input: Vec<Vec<u32>> = (0..ticks)
        .map(|_| {
            (0..net.inputs as u32)
                .flat_map(|c| vec![c; usize::from(rng.random_bool(rate)) * rng.random_range(1..=2)])
                .collect()
        })
        .collect();
    (target, net, input, ticks)
}

fn check(seed: u64) {
    let (target, net, input, ticks) = random_case(seed);
    let config = build(&net, &target);
    let mut emu = Emulator::new(&config).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let options = RunOptions {
        ticks: ticks as u32,
        mode: if seed.is_multiple_of(2) {
            Mode::CycleAccurate
        } else {
            Mode::Functional
        },
        probes: Probes {
            set: ProbeSet::All,
            state: true,
        },
        readout_from: 0,
    };
    let got = trace_of(&emu.run(&input, &options).unwrap(), &net, ticks);
    let want = reference(&net, &target, &input, ticks);
    for (l, layer) in want.iter().enumerate() {
        for (j, w) in layer.iter().enumerate() {
            for tick in 0..ticks {
                let at = format!(
                    "seed {seed}, tick {tick}, layer {l}, neuron {j}, target {:?}",
                    target.neuron
                );
                assert_eq!(got[l][j].0[tick], w.0[tick], "spikes at {at}");
                assert_eq!(got[l][j].1[tick], w.1[tick], "u at {at}");
                assert_eq!(got[l][j].2[tick], w.2[tick], "v at {at}");
            }
        }
    }
}

#[test]
fn every_switch_fixed_seeds() {
    for seed in 0..300 {
        check(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn every_switch_random(seed in any::<u64>()) {
        check(seed);
    }
}
