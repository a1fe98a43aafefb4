//! Measures the emulator's speed in synaptic events per second on a dense layer that keeps the
//! neuron state in cache: `cargo run --release -p lifchip-emulator --example throughput`.

use std::time::Instant;

use lifchip_chip::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, PopulationInfo, Synapse,
};
use lifchip_emulator::{Emulator, Mode, RunOptions};

fn main() {
    let target = lifchip_target::builtin("loihi-like").expect("built in");
    let (inputs, neurons, ticks) = (1024usize, 1024usize, 200u32);
    let axons = (0..inputs)
        .map(|i| Axon {
            group: 0,
            synapses: (0..neurons)
                .map(|j| Synapse {
                    compartment: j as u32,
                    weight: ((i * 7 + j * 13) % 15) as i32 * 2 - 13,
                })
                .collect(),
        })
        .collect();
    let compartments = (0..neurons)
        .map(|j| Compartment {
            population: 1,
            neuron: j as u32,
            current_decay: 410,
            voltage_decay: 410,
            threshold: 100_000,
            bias: 0,
            bias_exp: 0,
            refractory: 0,
            max_spikes: 1,
            destinations: Vec::new(),
        })
        .collect();
    let mut target = target;
    target.core.synapse_memory_bits = 1 << 40;
    let config = ChipConfig {
        target,
        net_name: "throughput".into(),
        net_hash: 0,
        populations: vec![
            PopulationInfo {
                name: "in".into(),
                shape: vec![inputs],
                is_input: true,
                placement: Vec::new(),
            },
            PopulationInfo {
                name: "out".into(),
                shape: vec![neurons],
                is_input: false,
                placement: (0..neurons as u32).map(|j| (0, j)).collect(),
            },
        ],
        inputs: (0..inputs as u32)
            .map(|a| vec![Destination { core: 0, axon: a }])
            .collect(),
        readout: 1,
        input_rate: 1.0,
        cores: vec![CoreConfig {
            id: 0,
            x: 0,
            y: 0,
            group_exponents: vec![0],
            compartments,
            axons,
        }],
    };
    let mut emu = Emulator::new(&config).expect("valid");
    let input: Vec<Vec<u32>> = (0..ticks).map(|_| (0..inputs as u32).collect()).collect();
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        emu.reset();
        let options = RunOptions {
            mode,
            ..RunOptions::new(ticks)
        };
        let start = Instant::now();
        let r = emu.run(&input, &options).expect("runs");
        let s = start.elapsed().as_secs_f64();
        println!(
            "{mode:?}: {} synaptic events in {s:.3} s = {:.3e} events/s ({} spikes)",
            r.counts.synops,
            r.counts.synops as f64 / s,
            r.counts.spikes
        );
    }
}
