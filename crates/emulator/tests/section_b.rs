//! Section B of `docs/reference-semantics.md` (the Xylo v1 integer neuron of `xylosim`), written out
//! again here straight from the pseudo-code, against the emulator tick by tick.

use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::util::{Conn, Layer, Net, Neuron, build, trace_of, xylo};

fn sat16(x: i64) -> i64 {
    x.clamp(-32768, 32767)
}

fn decay(x: i64, d: u32) -> i64 {
    let r = x >> d;
    if r == 0 && x != 0 { x.signum() } else { r }
}

/// One Xylo core: input weights, recurrent weights and readout weights with their shifts.
struct Xylo {
    w_in: Vec<Vec<i64>>,
    w_rec: Vec<Vec<i64>>,
    w_out: Vec<Vec<i64>>,
    shift: [u32; 3],
    hidden: Vec<(u32, u32, i64)>,
    readout: Vec<(u32, u32, i64)>,
}

struct Reference<'a> {
    x: &'a Xylo,
    i_h: Vec<i64>,
    v_h: Vec<i64>,
    i_o: Vec<i64>,
    v_o: Vec<i64>,
    prev: Vec<u32>,
}

/// One neuron's tick: decays, integration, multi-spike subtractive reset.
fn update(i: &mut i64, v: &mut i64, (dash_syn, dash_mem, vth): (u32, u32, i64), max: u32) -> u32 {
    *v -= decay(*v, dash_mem);
    *i -= decay(*i, dash_syn);
    *v = sat16(*v + *i);
    let mut n = 0;
    while *v >= vth && n < max {
        n += 1;
        *v -= vth;
    }
    n
}

impl Reference<'_> {
    fn step(&mut self, counts: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let x = self.x;
        // 1. Input events, each saturating.
        for (ch, &c) in counts.iter().enumerate() {
            for _ in 0..c {
                for (j, w) in x.w_in[ch].iter().enumerate() {
                    self.i_h[j] = sat16(self.i_h[j] + (w << x.shift[0]));
                }
            }
        }
        // 2. Hidden spikes of the previous tick, c times each.
        for i in 0..self.prev.len() {
            for _ in 0..self.prev[i] {
                for (j, w) in x.w_rec[i].iter().enumerate() {
                    self.i_h[j] = sat16(self.i_h[j] + (w << x.shift[1]));
                }
                for (o, w) in x.w_out[i].iter().enumerate() {
                    self.i_o[o] = sat16(self.i_o[o] + (w << x.shift[2]));
                }
            }
        }
        // 3. Hidden neurons in index order; 4. readout neurons, one spike at most.
        let hidden: Vec<u32> = (0..x.hidden.len())
            .map(|j| update(&mut self.i_h[j], &mut self.v_h[j], x.hidden[j], 31))
            .collect();
        let readout = (0..x.readout.len())
            .map(|o| update(&mut self.i_o[o], &mut self.v_o[o], x.readout[o], 1))
            .collect();
        self.prev = hidden.clone();
        (hidden, readout)
    }
}

fn random_xylo(seed: u64) -> (Xylo, Vec<Vec<u32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n_in = rng.random_range(1..=4);
    let n_h = rng.random_range(1..=6);
    let n_o = rng.random_range(1..=3);
    let density = rng.random_range(0.2..1.0);
    let matrix = |rows: usize, cols: usize, rng: &mut StdRng| -> Vec<Vec<i64>> {
        (0..rows)
            .map(|_| {
                (0..cols)
                    .map(|_| {
                        if rng.random_bool(density) {
                            rng.random_range(-128..=127)
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let w_in = matrix(n_in, n_h, &mut rng);
    let w_rec = matrix(n_h, n_h, &mut rng);
    let w_out = matrix(n_h, n_o, &mut rng);
    let neuron = |rng: &mut StdRng| {
        let vth = if rng.random_bool(0.1) {
            rng.random_range(0..=3)
        } else {
            rng.random_range(1..=32767)
        };
        (rng.random_range(0..=15), rng.random_range(0..=15), vth)
    };
    let hidden = (0..n_h).map(|_| neuron(&mut rng)).collect();
    let readout = (0..n_o).map(|_| neuron(&mut rng)).collect();
    let shift = [
        rng.random_range(0..=7),
        rng.random_range(0..=7),
        rng.random_range(0..=7),
    ];
    let ticks = rng.random_range(1..=40);
    let rate = rng.random_range(0.0..1.0);
    let input = (0..ticks)
        .map(|_| {
            let mut chans = Vec::new();
            for ch in 0..n_in as u32 {
                if rng.random_bool(rate) {
                    for _ in 0..rng.random_range(1..=15) {
                        chans.push(ch);
                    }
                }
            }
            chans
        })
        .collect();
    let x = Xylo {
        w_in,
        w_rec,
        w_out,
        shift,
        hidden,
        readout,
    };
    (x, input)
}

/// The Xylo core as a layered net: hidden (input + recurrent projections), then readout.
fn as_net(x: &Xylo) -> Net {
    let w = |m: &Vec<Vec<i64>>| {
        m.iter()
            .map(|r| r.iter().map(|&w| w as i32).collect())
            .collect()
    };
    let neurons = |list: &[(u32, u32, i64)]| -> Vec<Neuron> {
        list.iter()
            .map(|&(dash_syn, dash_mem, vth)| Neuron {
                du: dash_syn,
                dv: dash_mem,
                vth: vth as u32,
                ..Neuron::default()
            })
            .collect()
    };
    Net {
        inputs: x.w_in.len(),
        layers: vec![
            Layer {
                neurons: neurons(&x.hidden),
                incoming: vec![
                    Conn {
                        from: 0,
                        weights: w(&x.w_in),
                        exp: x.shift[0] as i32,
                    },
                    Conn {
                        from: 1,
                        weights: w(&x.w_rec),
                        exp: x.shift[1] as i32,
                    },
                ],
                cores: vec![0; x.hidden.len()],
            },
            Layer {
                neurons: neurons(&x.readout),
                incoming: vec![Conn {
                    from: 1,
                    weights: w(&x.w_out),
                    exp: x.shift[2] as i32,
                }],
                cores: vec![0; x.readout.len()],
            },
        ],
    }
}

fn check(seed: u64) -> u64 {
    let (x, input) = random_xylo(seed);
    let net = as_net(&x);
    let ticks = input.len();
    let mut emu = Emulator::new(&build(&net, &xylo())).expect("a valid config");
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
    let result = emu.run(&input, &options).unwrap();
    let got = trace_of(&result, &net, ticks);
    let mut r = Reference {
        x: &x,
        i_h: vec![0; x.hidden.len()],
        v_h: vec![0; x.hidden.len()],
        i_o: vec![0; x.readout.len()],
        v_o: vec![0; x.readout.len()],
        prev: vec![0; x.hidden.len()],
    };
    for (t, chans) in input.iter().enumerate() {
        let counts: Vec<u32> = (0..x.w_in.len() as u32)
            .map(|ch| chans.iter().filter(|&&c| c == ch).count() as u32)
            .collect();
        let (hidden, readout) = r.step(&counts);
        for (l, (spikes, i, v)) in [(&hidden, &r.i_h, &r.v_h), (&readout, &r.i_o, &r.v_o)]
            .into_iter()
            .enumerate()
        {
            for j in 0..spikes.len() {
                let at = format!("seed {seed}, tick {t}, layer {l}, neuron {j}");
                assert_eq!(got[l][j].0[t], spikes[j], "spikes at {at}");
                assert_eq!(got[l][j].1[t], i[j], "I_syn at {at}");
                assert_eq!(got[l][j].2[t], v[j], "V at {at}");
            }
        }
    }
    result.overflows.iter().map(|o| o.current + o.voltage).sum()
}

#[test]
fn section_b_fixed_seeds() {
    let saturations: u64 = (0..200).map(check).sum();
    assert!(saturations > 0, "the random cores must reach saturation");
}

#[test]
fn section_b_multi_spikes_happen() {
    let mut most = 0;
    for seed in 0..100 {
        let (x, input) = random_xylo(seed);
        let net = as_net(&x);
        let ticks = input.len();
        let mut emu = Emulator::new(&build(&net, &xylo())).unwrap();
        let options = RunOptions {
            ticks: ticks as u32,
            mode: Mode::Functional,
            probes: Probes {
                set: ProbeSet::All,
                state: false,
            },
            readout_from: 0,
        };
        let got = trace_of(&emu.run(&input, &options).unwrap(), &net, ticks);
        most = most.max(
            got[0]
                .iter()
                .flat_map(|n| n.0.iter().copied())
                .max()
                .unwrap_or(0),
        );
    }
    assert_eq!(most, 31, "some hidden neuron should hit the 31-spike limit");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn section_b_random(seed in any::<u64>()) {
        check(seed);
    }
}
