//! The verification chain's "≡": the emulator running the emitted chip configuration and the
//! compiler's independent integer reference agree spike for spike and state for state, on
//! random chip-unit nets and random targets.

use lifchip_compiler::{QuantizeOptions, compile, run_reference};
use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use lifchip_net::{ChipLif, Indices, LinearOp, Net, Neuron, Population, Projection, Tensor};
use lifchip_target::{Accumulate, Overflow, Reset, SpikeTest, Target, UpdateOrder, builtin};
use proptest::prelude::*;

/// A small deterministic generator so one seed fixes a whole case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A random variant of a built-in target: dynamics switches flipped, limits kept.
fn random_target(rng: &mut Rng) -> Target {
    let base = rng.pick(&["tiny", "loihi-like", "xylo-like"]);
    let mut t = builtin(base).expect("built-in target");
    t.mesh.width = t.mesh.width.max(2);
    t.mesh.height = t.mesh.height.max(2);
    if rng.next().is_multiple_of(2) {
        t.neuron.order = rng.pick(&[UpdateOrder::DecayThenInput, UpdateOrder::InputThenDecay]);
        t.neuron.accumulate = rng.pick(&[Accumulate::SumThenAdd, Accumulate::PerEventSaturating]);
        t.neuron.reset = rng.pick(&[Reset::Zero, Reset::Subtract]);
        t.neuron.spike_test = rng.pick(&[SpikeTest::Greater, SpikeTest::GreaterEqual]);
        let modes = [
            Overflow::Wrap,
            Overflow::WrapLava,
            Overflow::Saturate,
            Overflow::SaturateSymmetric,
        ];
        t.precision.current_overflow = rng.pick(&modes);
        t.precision.voltage_overflow = rng.pick(&modes);
        t.neuron.synaptic_delay = rng.range(1, 3) as u32;
        t.neuron.input_delay = rng.range(0, 2) as u32;
        if t.neuron.reset == Reset::Subtract {
            t.neuron.max_spikes_per_tick = rng.range(1, 4) as u32;
        }
    }
    if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } = &mut t.core.synapse_cost {
        *dense_rows = rng.next().is_multiple_of(2);
    }
    t.core.shared_kernels = rng.next().is_multiple_of(2);
    t
}

/// A random layered chip-unit net (with a recurrent projection) that fits `target`.
fn random_net(rng: &mut Rng, target: &Target) -> Net {
    let mut net = Net::new("random");
    let inputs = rng.range(2, 8) as usize;
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![inputs],
        neuron: Neuron::Input,
    });
    let (lo, hi, step) = target.weight_range(0);
    let tmax = ((1i64 << target.precision.threshold_bits.min(20)) - 1).min(400);
    let decay_max = match target.neuron.decay {
        lifchip_target::DecayKind::Multiplicative => 4095,
        lifchip_target::DecayKind::Shift => 6,
    };
    let bmax = ((1i64 << (target.precision.bias_bits - 1)) - 1).min(50);
    let layers = rng.range(1, 3) as usize;
    let mut prev = inputs;
    for l in 0..layers {
        let n = rng.range(1, 6) as usize;
        let name = format!("l{l}");
        net.populations.push(Population {
            name: name.clone(),
            shape: vec![n],
            neuron: Neuron::ChipLif(ChipLif {
                current_decay: rng.range(0, decay_max) as u32,
                voltage_decay: rng.range(0, decay_max) as u32,
                threshold: rng.range(1, tmax),
                bias: Tensor::new(
                    vec![n],
                    (0..n).map(|_| rng.range(-bmax, bmax) as f32).collect(),
                ),
                bias_exp: 0,
                refractory: rng.range(0, i64::from(target.neuron.refractory_max.min(3))) as u32,
            }),
        });
        let weights: Vec<f32> = (0..n * prev)
            .map(|_| ((rng.range(lo, hi) / step) * step) as f32)
            .collect();
        net.projections.push(Projection {
            name: format!("p{l}"),
            from: net.populations[l].name.clone(),
            to: name.clone(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![n, prev], weights),
            }],
            weight_exp: rng.range(
                i64::from(target.precision.weight_exponent.min),
                i64::from(target.precision.weight_exponent.max).min(2),
            ) as i32,
        });
        if rng.next().is_multiple_of(3) {
            let k = rng.range(1, 3) as usize;
            net.projections.push(Projection {
                name: format!("r{l}"),
                from: name.clone(),
                to: name.clone(),
                ops: vec![LinearOp::Sparse {
                    outputs: n,
                    pre: Indices::new((0..k).map(|_| rng.range(0, n as i64 - 1) as u32).collect()),
                    post: Indices::new((0..k).map(|_| rng.range(0, n as i64 - 1) as u32).collect()),
                    weights: Tensor::new(
                        vec![k],
                        (0..k)
                            .map(|_| ((rng.range(lo, hi) / step) * step) as f32)
                            .collect(),
                    ),
                }],
                weight_exp: 0,
            });
        }
        prev = n;
    }
    net
}

/// Runs one case; `Ok(Some(spikes))` when it was compared, `Ok(None)` when it did not map.
fn check(seed: u64) -> Result<Option<usize>, String> {
    check_with(seed, false).map(|r| r.map(|(spikes, _, _)| spikes))
}

/// [`check`]; with `split`, the target allows fan-in splitting and has only 2 to 4 input axons
/// per core, so most neurons are split into partial sums. `Ok(Some((spikes, split neurons,
/// split neurons with more than one incoming projection)))`.
fn check_with(seed: u64, split: bool) -> Result<Option<(usize, u64, usize)>, String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut target = random_target(&mut rng);
    if split {
        target.core.fanin_split = true;
        target.neuron.accumulate = Accumulate::SumThenAdd;
        target.core.input_axons = rng.range(2, 4) as u32;
        target.mesh.width = target.mesh.width.max(8);
        target.mesh.height = target.mesh.height.max(8);
    }
    let net = random_net(&mut rng, &target);
    let (mapped, report) = match compile(&net, &target, &QuantizeOptions::default()) {
        Ok(x) => x,
        // Limits of the drawn target can make a case unmappable; that is not what is tested.
        Err(_) => return Ok(None),
    };
    let config = lifchip_backend_core::emit(&mapped, &target);
    // The chip's own row accounting agrees with the compiler's, core by core.
    for core in &config.cores {
        let compiled = report
            .per_core
            .iter()
            .find(|c| (c.x, c.y) == (core.x, core.y));
        let bits = core.synapse_bits(&target);
        if compiled.map(|c| c.synapse_bits) != Some(bits) {
            return Err(format!(
                "core ({}, {}): chip rows take {bits} bits, the compiler counted {:?}",
                core.x,
                core.y,
                compiled.map(|c| c.synapse_bits)
            ));
        }
    }
    let ticks = 40usize;
    let inputs = net.populations[0].size() as i64;
    let input: Vec<Vec<u32>> = (0..ticks)
        .map(|_| {
            (0..rng.range(0, 3))
                .map(|_| rng.range(0, inputs - 1) as u32)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();
    let reference = run_reference(&mapped.net, &target, &input, ticks, true);
    let mut emu = Emulator::new(&config).map_err(|e| format!("emulator refused: {e}"))?;
    let options = RunOptions {
        ticks: ticks as u32,
        mode: if seed.is_multiple_of(2) {
            Mode::Functional
        } else {
            Mode::CycleAccurate
        },
        probes: Probes {
            set: ProbeSet::All,
            state: true,
        },
    };
    let result = emu
        .run(&input, &options)
        .map_err(|e| format!("emulator failed: {e}"))?;
    for probe in &result.probes {
        let (p, n) = (probe.population as usize, probe.neuron as usize);
        let mut expected = Vec::new();
        for (t, tick) in reference.spikes[p].iter().enumerate() {
            for &(m, count) in tick {
                if m as usize == n {
                    expected.extend(std::iter::repeat_n(t as u32, count as usize));
                }
            }
        }
        if probe.spike_ticks != expected {
            return Err(format!(
                "seed {seed}, target {}, population {p} neuron {n}: emulator spikes {:?}, reference {:?}",
                target.name, probe.spike_ticks, expected
            ));
        }
        let ref_v: Vec<i64> = reference.v[p].iter().map(|row| row[n]).collect();
        let ref_u: Vec<i64> = reference.u[p].iter().map(|row| row[n]).collect();
        if probe.v != ref_v || probe.u != ref_u {
            return Err(format!(
                "seed {seed}: population {p} neuron {n}: state differs\nemu u {:?}\nref u {:?}\nemu v {:?}\nref v {:?}",
                probe.u, ref_u, probe.v, ref_v
            ));
        }
    }
    let multi = mapped
        .partition
        .split
        .keys()
        .filter(|(p, _)| lifchip_compiler::incoming_projections(&mapped.net, *p as usize).len() > 1)
        .count();
    Ok(Some((
        result.probes.iter().map(|p| p.spike_ticks.len()).sum(),
        report.split_neurons,
        multi,
    )))
}

#[test]
fn emulator_matches_reference_on_fixed_seeds() {
    let (mut compared, mut spiking) = (0, 0);
    for seed in 0..300 {
        match check(seed) {
            Err(e) => panic!("{e}"),
            Ok(Some(spikes)) => {
                compared += 1;
                spiking += usize::from(spikes > 0);
            }
            Ok(None) => {}
        }
    }
    // The test must not pass vacuously: most cases map, and most of those spike.
    assert!(compared >= 200, "only {compared} of 300 cases mapped");
    assert!(
        spiking * 2 >= compared,
        "only {spiking} of {compared} cases spiked"
    );
}

#[test]
fn split_neurons_match_reference() {
    // Partial sums are exact: a split neuron behaves tick for tick like the unsplit one of the
    // integer reference (which knows nothing about cores).
    let (mut compared, mut with_splits, mut with_multi) = (0, 0, 0);
    for seed in 0..300 {
        match check_with(seed, true) {
            Err(e) => panic!("{e}"),
            Ok(Some((_, split, multi))) => {
                compared += 1;
                with_splits += usize::from(split > 0);
                with_multi += usize::from(multi > 0);
            }
            Ok(None) => {}
        }
    }
    assert!(
        with_splits >= 100,
        "only {with_splits} of {compared} mapped cases split a neuron"
    );
    // Recurrent layers have two incoming projections: their partial sums join two groups.
    assert!(
        with_multi >= 20,
        "only {with_multi} of {compared} mapped cases split a neuron with two projections"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn emulator_matches_reference(seed in any::<u64>()) {
        if let Err(e) = check(seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The first seed whose split case maps and splits, with its target and config.
fn split_case() -> (Target, lifchip_chip::ChipConfig) {
    for seed in 0..100u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut target = random_target(&mut rng);
        target.core.fanin_split = true;
        target.neuron.accumulate = Accumulate::SumThenAdd;
        target.core.input_axons = 2;
        target.mesh.width = target.mesh.width.max(8);
        target.mesh.height = target.mesh.height.max(8);
        let net = random_net(&mut rng, &target);
        if let Ok((mapped, report)) = compile(&net, &target, &QuantizeOptions::default())
            && report.split_neurons > 0
        {
            let config = lifchip_backend_core::emit(&mapped, &target);
            return (target, config);
        }
    }
    panic!("no split case among 100 seeds");
}

#[test]
fn partial_sums_survive_the_chipdir_and_are_validated() {
    let (_, config) = split_case();
    let partials = config
        .cores
        .iter()
        .flat_map(|c| &c.compartments)
        .filter(|c| c.partial_of.is_some())
        .count();
    assert!(partials > 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.chip");
    lifchip_chip::write_chipdir(&config, &path).unwrap();
    let back = lifchip_chip::read_chipdir(&path).unwrap();
    assert_eq!(back, config);
    assert!(lifchip_chip::dump_text(&back).contains("partial sum to"));

    // A target without fan-in splitting refuses partial sums.
    let mut refused = config.clone();
    refused.target.core.fanin_split = false;
    let err = lifchip_chip::validate(&refused).unwrap_err().to_string();
    assert!(err.contains("fan-in splitting"), "{err}");
    // A partial sum that would spike (reachable threshold) is refused too.
    let mut spiking = config;
    let comp = spiking
        .cores
        .iter_mut()
        .flat_map(|c| &mut c.compartments)
        .find(|c| c.partial_of.is_some())
        .unwrap();
    comp.threshold = 1;
    let err = lifchip_chip::validate(&spiking).unwrap_err().to_string();
    assert!(err.contains("partial_of"), "{err}");
}
