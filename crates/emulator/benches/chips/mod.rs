//! Synthetic chips for the benchmarks (`events.rs`) and the `throughput` example: cores of
//! randomly wired sparse rows on the `loihi-like` neuron, driven by pseudo-random input.

#![allow(dead_code)]

use lifchip_chip::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, PopulationInfo, Synapse,
};

/// The shape of a benchmark chip.
pub struct Spec {
    pub cores: u32,
    pub mesh_width: u32,
    pub compartments: u32,
    /// Axons driven by the input channels (channel `i` → axon `i` of every core).
    pub input_axons: u32,
    /// Axons driven by the previous core's compartments.
    pub recurrent_axons: u32,
    pub row: u32,
    pub recurrent_row: u32,
    /// Input channels spiking per tick.
    pub active: u32,
    pub ticks: u32,
}

impl Spec {
    /// A chip of 20,000 compartments: more than two blocks of the parallel compartment
    /// passes, so the tests see them split across threads.
    pub fn parallel_blocks() -> Spec {
        Spec {
            cores: 20,
            mesh_width: 5,
            compartments: 1000,
            input_axons: 64,
            recurrent_axons: 64,
            row: 40,
            recurrent_row: 8,
            active: 24,
            ticks: 12,
        }
    }
}

/// xorshift64*: a fixed, dependency-free stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// `len` distinct sorted compartments out of `n`, with mixed-sign weights of the loihi-like
/// 8-bit mixed mode (even values in -256..=254).
fn row(rng: &mut Rng, n: u32, len: u32) -> Vec<Synapse> {
    let mut targets: Vec<u32> = Vec::with_capacity(len as usize);
    let stride = n / len;
    for j in 0..len {
        // One target per stride window: distinct and sorted, randomly placed.
        targets.push(j * stride + rng.below(stride));
    }
    targets
        .into_iter()
        .map(|compartment| Synapse {
            compartment,
            weight: (rng.below(160) as i32 - 72) * 2,
        })
        .collect()
}

pub fn chip(spec: &Spec) -> ChipConfig {
    let mut target = lifchip_target::builtin("loihi-like").expect("built in");
    target.mesh.width = spec.mesh_width;
    target.mesh.height = spec.cores.div_ceil(spec.mesh_width);
    target.core.synapse_memory_bits = u64::MAX / 4;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let n = spec.cores;
    let cores = (0..n)
        .map(|c| {
            let mut axons = Vec::with_capacity((spec.input_axons + spec.recurrent_axons) as usize);
            for a in 0..spec.input_axons + spec.recurrent_axons {
                let (group, len) = if a < spec.input_axons {
                    (0, spec.row)
                } else {
                    (1, spec.recurrent_row)
                };
                axons.push(Axon {
                    group,
                    current: 1,
                    synapses: row(&mut rng, spec.compartments, len),
                });
            }
            let next = (c + 1) % n;
            let compartments = (0..spec.compartments)
                .map(|k| Compartment {
                    population: 1,
                    neuron: c * spec.compartments + k,
                    current_decay: 1024,
                    current_decay_2: 0,
                    voltage_decay: 256,
                    threshold: 4000 + rng.below(8000),
                    bias: 0,
                    bias_exp: 0,
                    refractory: 0,
                    initial_u: 0,
                    initial_v: 0,
                    max_spikes: 1,
                    destinations: vec![Destination {
                        core: next,
                        axon: spec.input_axons + k % spec.recurrent_axons,
                    }],
                    partial_of: None,
                })
                .collect();
            CoreConfig {
                id: c,
                x: c % spec.mesh_width,
                y: c / spec.mesh_width,
                group_exponents: vec![0, -2],
                compartments,
                axons,
            }
        })
        .collect();
    let neurons = (n * spec.compartments) as usize;
    ChipConfig {
        target,
        net_name: "bench".into(),
        net_hash: 0,
        populations: vec![
            PopulationInfo {
                name: "in".into(),
                shape: vec![spec.input_axons as usize],
                is_input: true,
                placement: Vec::new(),
            },
            PopulationInfo {
                name: "neurons".into(),
                shape: vec![neurons],
                is_input: false,
                placement: (0..n)
                    .flat_map(|c| (0..spec.compartments).map(move |k| (c, k)))
                    .collect(),
            },
        ],
        inputs: (0..spec.input_axons)
            .map(|a| (0..n).map(|core| Destination { core, axon: a }).collect())
            .collect(),
        readout: 1,
        input_rate: 1.0,
        cores,
    }
}

/// `spec.active` distinct channels per tick, a fresh pseudo-random choice each tick.
pub fn input(spec: &Spec) -> Vec<Vec<u32>> {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    (0..spec.ticks)
        .map(|_| {
            let mut on = vec![false; spec.input_axons as usize];
            let mut chans = Vec::with_capacity(spec.active as usize);
            while chans.len() < spec.active as usize {
                let c = rng.below(spec.input_axons);
                if !std::mem::replace(&mut on[c as usize], true) {
                    chans.push(c);
                }
            }
            chans
        })
        .collect()
}

/// One core, 1024 compartments, 768 input axons × 256 random synapses and 256 recurrent
/// axons × 16: 200,704 synapses; a quarter of the inputs spike each tick.
pub fn in_cache() -> Spec {
    Spec {
        cores: 1,
        mesh_width: 1,
        compartments: 1024,
        input_axons: 768,
        recurrent_axons: 256,
        row: 256,
        recurrent_row: 16,
        active: 192,
        ticks: 100,
    }
}

/// One core, a dense layer: 512 compartments, 512 input axons each reaching every
/// compartment, plus 64 recurrent axons × 16.
pub fn dense() -> Spec {
    Spec {
        cores: 1,
        mesh_width: 1,
        compartments: 512,
        input_axons: 512,
        recurrent_axons: 64,
        row: 512,
        recurrent_row: 16,
        active: 128,
        ticks: 100,
    }
}

/// `LIFCHIP_BENCH_CORES` (default 512) cores on a 16-wide mesh, each 1024 compartments,
/// 1792 input axons × 256 random synapses and 256 recurrent axons × 16 (237 million
/// synapses with 512 cores); a sixteenth of the inputs spike each tick.
pub fn beyond_cache() -> Spec {
    let cores = std::env::var("LIFCHIP_BENCH_CORES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512u32)
        .max(1);
    Spec {
        cores,
        mesh_width: 16,
        compartments: 1024,
        input_axons: 1792,
        recurrent_axons: 256,
        row: 256,
        recurrent_row: 16,
        active: 112,
        ticks: 20,
    }
}
