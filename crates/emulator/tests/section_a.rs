//! Section A of `docs/reference-semantics.md` (Lava's bit-accurate Loihi CUBA LIF + Dense), written
//! out again here straight from the pseudo-code, against the emulator tick by tick.

use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::util::{Conn, Layer, Net, Neuron, build, loihi, trace_of};

/// Lava's Dense weight preparation: sign mode, clip to 8 bits, drop `ntb` low bits.
pub fn lava_weights(raw: &[Vec<i32>], num_weight_bits: u32) -> Vec<Vec<i32>> {
    let all = raw.iter().flatten();
    let excitatory = all.clone().all(|&w| w >= 0);
    let inhibitory = !excitatory && all.clone().all(|&w| w <= 0);
    let mixed = !excitatory && !inhibitory;
    let ntb = 8 - num_weight_bits as i32 + i32::from(mixed);
    raw.iter()
        .map(|row| {
            row.iter()
                .map(|&w| {
                    if excitatory {
                        (w.clamp(0, 255) >> ntb) << ntb
                    } else if inhibitory {
                        -(((-w).clamp(0, 255) >> ntb) << ntb)
                    } else {
                        (w.clamp(-256, 255) >> ntb) << ntb
                    }
                })
                .collect()
        })
        .collect()
}

/// The section-A reference: per neuron `u`, `v`; each connection delays by one tick.
struct Reference<'a> {
    net: &'a Net,
    u: Vec<Vec<i64>>,
    v: Vec<Vec<i64>>,
    /// Spikes of the previous tick: `[0]` inputs, `[l + 1]` layer `l`.
    prev: Vec<Vec<bool>>,
}

impl<'a> Reference<'a> {
    fn new(net: &'a Net) -> Self {
        let mut prev = vec![vec![false; net.inputs]];
        prev.extend(net.layers.iter().map(|l| vec![false; l.neurons.len()]));
        Reference {
            net,
            u: net
                .layers
                .iter()
                .map(|l| vec![0; l.neurons.len()])
                .collect(),
            v: net
                .layers
                .iter()
                .map(|l| vec![0; l.neurons.len()])
                .collect(),
            prev,
        }
    }

    fn step(&mut self, input: &[bool]) -> Vec<Vec<bool>> {
        let mut now = vec![input.to_vec()];
        for (l, layer) in self.net.layers.iter().enumerate() {
            let mut spikes = vec![false; layer.neurons.len()];
            for (j, n) in layer.neurons.iter().enumerate() {
                // a_in: each Dense sends last tick's accumulated sum, shifted by weight_exp.
                let mut a_in: i64 = 0;
                for conn in &layer.incoming {
                    let acc: i64 = conn
                        .weights
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| self.prev[conn.from][*i])
                        .map(|(_, row)| i64::from(row[j]))
                        .sum();
                    a_in += if conn.exp > 0 {
                        acc << conn.exp
                    } else {
                        acc >> -conn.exp
                    };
                }
                let b_eff = i64::from(n.bias) << n.bias_exp;
                let mut u = self.u[l][j];
                let p = u * (4096 - (i64::from(n.du) + 1));
                u = p.signum() * (p.abs() >> 12);
                u += a_in << 6;
                // Lava keeps u in int32: the sum wraps to 32 bits before its 24-bit correction.
                u = i64::from(u as i32);
                if u > 1 << 23 {
                    u -= 1 << 24;
                } else if u <= -(1 << 23) {
                    u += 1 << 24;
                }
                let mut v = self.v[l][j];
                let q = v * (4096 - i64::from(n.dv));
                v = i64::from((q.signum() * (q.abs() >> 12) + u + b_eff) as i32);
                v = v.clamp(-((1 << 23) - 1), (1 << 23) - 1);
                let spike = v > i64::from(n.vth) << 6;
                if spike {
                    v = 0;
                }
                self.u[l][j] = u;
                self.v[l][j] = v;
                spikes[j] = spike;
            }
            now.push(spikes);
        }
        self.prev = now.clone();
        now.split_off(1)
    }
}

/// A random layered net in section A's parameter space; `wild` pushes toward overflow.
pub fn random_net(seed: u64, weight_bits: u32) -> (Net, Vec<Vec<u32>>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let wild = rng.random_bool(0.3);
    let inputs = rng.random_range(1..=6);
    let n_layers = rng.random_range(1..=3);
    let mut sizes = vec![inputs];
    let mut layers = Vec::new();
    let spread = rng.random_bool(0.5);
    for l in 0..n_layers {
        let n = rng.random_range(1..=5);
        let mut incoming = vec![random_conn(&mut rng, l, sizes[l], n, weight_bits, wild)];
        if l > 0 && rng.random_bool(0.3) {
            // A second projection (another accumulator group) straight from the input.
            incoming.push(random_conn(&mut rng, 0, inputs, n, weight_bits, wild));
        }
        let neurons = (0..n)
            .map(|_| Neuron {
                du: pick(&mut rng, &[0, 1, 4095], 0..4096),
                dv: pick(&mut rng, &[0, 1, 4095], 0..4096),
                vth: if wild {
                    pick(&mut rng, &[0, (1 << 17) - 1], 0..1 << 17)
                } else {
                    rng.random_range(0..400)
                },
                bias: pick(&mut rng, &[0, -4096, 4095], -4096..4096),
                bias_exp: rng.random_range(0..=7),
                refractory: 0,
            })
            .collect();
        let cores = (0..n)
            .map(|_| {
                if spread {
                    rng.random_range(0..4)
                } else {
                    l as u32
                }
            })
            .collect();
        layers.push(Layer {
            neurons,
            incoming,
            cores,
        });
        sizes.push(n);
    }
    let ticks = rng.random_range(1..=40);
    let rate = rng.random_range(0.0..1.0);
    let input = (0..ticks)
        .map(|_| {
            (0..inputs as u32)
                .filter(|_| rng.random_bool(rate))
                .collect()
        })
        .collect();
    (Net { inputs, layers }, input, ticks)
}

fn pick<T: Copy + rand::distr::uniform::SampleUniform + PartialOrd>(
    rng: &mut StdRng,
    corners: &[T],
    range: std::ops::Range<T>,
) -> T {
    if rng.random_bool(0.2) {
        corners[rng.random_range(0..corners.len())]
    } else {
        rng.random_range(range)
    }
}

fn random_conn(
    rng: &mut StdRng,
    from: usize,
    pre: usize,
    post: usize,
    weight_bits: u32,
    wild: bool,
) -> Conn {
    let sign = rng.random_range(0..3);
    let raw: Vec<Vec<i32>> = (0..pre)
        .map(|_| {
            (0..post)
                .map(|_| {
                    let w: i32 = rng.random_range(-300..=300);
                    match sign {
                        0 => w.abs(),
                        1 => -w.abs(),
                        _ => w,
                    }
                })
                .collect()
        })
        .collect();
    Conn {
        from,
        weights: lava_weights(&raw, weight_bits),
        exp: if wild {
            rng.random_range(3..=7)
        } else {
            rng.random_range(-8..=7)
        },
    }
}

fn check(seed: u64) {
    let weight_bits = 4 + (seed % 5) as u32;
    let target = loihi(weight_bits);
    let (net, input, ticks) = random_net(seed, weight_bits);
    let config = build(&net, &target);
    let mut emu = Emulator::new(&config).expect("a valid config");
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
    let mut reference = Reference::new(&net);
    for t in 0..ticks {
        let spikes: Vec<bool> = (0..net.inputs as u32)
            .map(|i| input[t].contains(&i))
            .collect();
        let fired = reference.step(&spikes);
        for (l, layer) in fired.iter().enumerate() {
            for (j, &s) in layer.iter().enumerate() {
                let (spk, u, v) = &got[l][j];
                let at = format!("seed {seed}, tick {t}, layer {l}, neuron {j}");
                assert_eq!(spk[t], u32::from(s), "spike at {at}");
                assert_eq!(u[t], reference.u[l][j], "u at {at}");
                assert_eq!(v[t], reference.v[l][j], "v at {at}");
            }
        }
    }
}

#[test]
fn section_a_fixed_seeds() {
    for seed in 0..200 {
        check(seed);
    }
}

#[test]
fn section_a_overflow_corners_are_reached() {
    // The random nets must actually exercise u wrapping and v saturation.
    let (mut wraps, mut sats) = (0u64, 0u64);
    for seed in 0..200 {
        let weight_bits = 4 + (seed % 5) as u32;
        let (net, input, ticks) = random_net(seed, weight_bits);
        let mut emu = Emulator::new(&build(&net, &loihi(weight_bits))).unwrap();
        let r = emu.run(&input, &RunOptions::new(ticks as u32)).unwrap();
        wraps += r.overflows.iter().map(|o| o.current).sum::<u64>();
        sats += r.overflows.iter().map(|o| o.voltage).sum::<u64>();
    }
    assert!(wraps > 0 && sats > 0, "wraps {wraps}, saturations {sats}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn section_a_random(seed in any::<u64>()) {
        check(seed);
    }
}

#[test]
fn section_a_nets_are_active() {
    let (mut spikes, mut ticks_total) = (0u64, 0usize);
    for seed in 0..200 {
        let weight_bits = 4 + (seed % 5) as u32;
        let (net, input, ticks) = random_net(seed, weight_bits);
        let mut emu = Emulator::new(&build(&net, &loihi(weight_bits))).unwrap();
        spikes += emu
            .run(&input, &RunOptions::new(ticks as u32))
            .unwrap()
            .spikes();
        ticks_total += ticks;
    }
    assert!(
        spikes * 20 > ticks_total as u64,
        "{spikes} spikes in {ticks_total} ticks"
    );
}
