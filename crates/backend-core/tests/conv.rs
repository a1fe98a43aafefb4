//! A small conv net through the whole path below the CLI: compile, emit, emulate, and compare
//! with the compiler's integer reference, on a target that stores shared kernel rows once
//! (`loihi-like`) and on targets that do not.
//!
//! The net: a 1x8x8 input, a 3x3 conv2d with 2 output channels (no padding) onto a 2x6x6
//! chip_lif layer, then a 2x2 average pool folded into a dense readout of 4 neurons.

mod common;

use lifchip_compiler::{Mapped, QuantizeOptions, compile};
use lifchip_emulator::Mode;
use lifchip_net::{ChipLif, LinearOp, Net, Neuron, Population, Projection, Tensor};
use lifchip_target::{DecayKind, Target, builtin};

/// The conv kernel, in units of the target's weight step: `[channel][ky][kx]`. Channel 0
/// holds 9 different values, so that windows cut differently by the image's edges never
/// hold the same weights.
const KERNEL: [i32; 18] = [
    1, 2, 3, //
    4, 5, 6, //
    7, -1, -2, //
    -3, 2, 1, //
    3, -2, 3, //
    1, 1, 2,
];

const C1_THRESHOLD: i64 = 40;
const OUT_THRESHOLD: i64 = 6;
const OUT_BIAS: f32 = 1.0;

fn tiny_conv_net(target: &Target) -> Net {
    let step = target.weight_grid(lifchip_target::SignClass::Mixed).step;
    let step = step as i32;
    // Lava-style multiplicative decays, or shifts on a shift-decay target.
    let (du, dv) = match target.neuron.decay {
        DecayKind::Multiplicative => (1024, 128),
        DecayKind::Shift => (2, 4),
    };
    // Thresholds for the chosen weights, so that both layers spike within 60 ticks.
    let lif = |n: usize, threshold: i64, bias: f32| {
        Neuron::ChipLif(ChipLif {
            current_decay: du.into(),
            voltage_decay: dv.into(),
            threshold: (threshold * i64::from(step)).into(),
            // The bias enters the voltage unshifted, synaptic input shifted by input_shift.
            bias: Tensor::new(
                vec![n],
                vec![bias * (step << target.precision.input_shift) as f32; n],
            ),
            bias_exp: Tensor::scalar(0.0),
            initial_u: Tensor::scalar(0.0),
            initial_v: Tensor::scalar(0.0),
            current_decay_2: 0.into(),
            refractory: 0.into(),
        })
    };
    let mut net = Net::new("tiny-conv");
    net.populations = vec![
        Population {
            name: "in".into(),
            shape: vec![1, 8, 8],
            neuron: Neuron::Input,
        },
        Population {
            name: "c1".into(),
            shape: vec![2, 6, 6],
            neuron: lif(72, C1_THRESHOLD, 0.0),
        },
        Population {
            name: "out".into(),
            shape: vec![4],
            neuron: lif(4, OUT_THRESHOLD, OUT_BIAS),
        },
    ];
    // Readout weights: 1, -1 or -2 times the pool's 4 pixels times the step, so that the
    // folded pool leaves integers on the grid; column `j` (pooled pixel `j`) spells `j` in base
    // 3, so that no two columns are equal and the 4 pixels of a window, only they, share a row.
    let digit = |j: usize, o: usize| [1, -1, -2][(j / 3usize.pow(o as u32)) % 3];
    let readout: Vec<f32> = (0..4)
        .flat_map(|o| (0..18).map(move |j| (digit(j, o) * 4 * step) as f32))
        .collect();
    net.projections = vec![
        Projection {
            current: 1,
            sign_mode: None,
            name: "conv".into(),
            from: "in".into(),
            to: "c1".into(),
            ops: vec![LinearOp::Conv2d {
                out_channels: 2,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [0, 0],
                weights: Tensor::new(
                    vec![2, 1, 3, 3],
                    KERNEL.iter().map(|&w| (w * step) as f32).collect(),
                ),
            }],
            weight_exp: 0,
        },
        Projection {
            current: 1,
            sign_mode: None,
            name: "pool_readout".into(),
            from: "c1".into(),
            to: "out".into(),
            ops: vec![
                LinearOp::AvgPool {
                    size: [2, 2],
                    stride: None,
                },
                LinearOp::Flatten,
                LinearOp::Dense {
                    weights: Tensor::new(vec![4, 18], readout),
                },
            ],
            weight_exp: 0,
        },
    ];
    net.validate().expect("a valid net");
    net
}

/// 60 ticks of input: each pixel spikes on about one tick in three, in a fixed pattern.
fn input() -> Vec<Vec<u32>> {
    (0..60u32)
        .map(|t| (0..64u32).filter(|i| (i * 7 + t * 5) % 3 == 0).collect())
        .collect()
}

/// Compiles and emits `net` for `target`, checks the row accounting and the synapses, and
/// runs it in both emulator modes against the integer reference.
fn compile_and_compare(net: &Net, target: &Target) -> (Mapped, lifchip_chip::ChipConfig) {
    let (mapped, report) = match compile(net, target, &QuantizeOptions::default()) {
        Ok(x) => x,
        Err(report) => panic!("{}: {:#?}", target.name, report.violations),
    };
    let config = lifchip_backend_core::emit(&mapped, target).unwrap();
    common::row_accounting_agrees(&config, &report, target).unwrap();
    common::synapses_are_exact(net, &mapped).unwrap();
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        common::emulator_matches_reference(&mapped, target, &config, &input(), mode)
            .unwrap_or_else(|e| panic!("{}, {mode:?}: {e}", target.name));
    }
    (mapped, config)
}

/// Spikes per population in the integer reference run of [`input`].
fn spikes_per_population(mapped: &Mapped, target: &Target) -> Vec<u64> {
    let input = input();
    let run = lifchip_compiler::run_reference(&mapped.net, target, &input, input.len(), false);
    run.spikes
        .iter()
        .map(|ticks| ticks.iter().flatten().map(|&(_, n)| u64::from(n)).sum())
        .collect()
}

/// An axon row as `(group, (compartment - first compartment, weight) sorted)`: two axons of a
/// core with equal keys can share one stored row.
fn relative_row(axon: &lifchip_chip::Axon) -> (u16, Vec<(u32, i32)>) {
    let first = axon
        .synapses
        .iter()
        .map(|s| s.compartment)
        .min()
        .unwrap_or(0);
    let mut row: Vec<(u32, i32)> = axon
        .synapses
        .iter()
        .map(|s| (s.compartment - first, s.weight))
        .collect();
    row.sort_unstable();
    (axon.group, row)
}

/// Synapse memory of `core` counted from its rows: every row, or each distinct row once.
fn counted_bits(core: &lifchip_chip::CoreConfig, target: &Target, shared: bool) -> u64 {
    let mut stored = std::collections::BTreeSet::new();
    let rows: u64 = core
        .axons
        .iter()
        .filter(|a| !shared || stored.insert(relative_row(a)))
        .map(|a| target.row_bits(a.synapses.len() as u64, a.span()))
        .sum();
    rows + target.axon_entries_bits(core.axons.len() as u64)
}

#[test]
fn loihi_like_stores_each_shared_kernel_row_once() {
    let target = builtin("loihi-like").unwrap();
    let net = tiny_conv_net(&target);
    let (mapped, shared) = compile_and_compare(&net, &target);
    // 76 neurons and 64 + 72 input axons: one 1024-compartment core.
    assert_eq!(shared.cores.len(), 1);
    let core = &shared.cores[0];
    assert_eq!(core.axons.len(), 64 + 72);
    // Distinct rows: a 3x3 kernel over an 8x8 image without padding is cut 5 ways per side
    // (an edge pixel reaches 1 or 2 kernel rows, a pixel next to it 2, the 4 inner ones 3):
    // 25 conv rows. The pool makes the 4 pixels of each of the 18 windows send the same
    // readout row, and no two windows' columns are equal: 18 readout rows.
    let distinct: std::collections::BTreeSet<_> = core.axons.iter().map(relative_row).collect();
    assert_eq!(distinct.len(), 25 + 18);
    let bits = core.synapse_bits(&target);
    assert_eq!(bits, counted_bits(core, &target, true));

    // The same net, limits and layout on a target that stores every row.
    let mut unshared_target = target.clone();
    unshared_target.core.shared_kernels = false;
    let (unshared_mapped, unshared) = compile_and_compare(&net, &unshared_target);
    assert_eq!(unshared.cores.len(), 1);
    let all_rows = unshared.cores[0].synapse_bits(&unshared_target);
    assert_eq!(
        all_rows,
        counted_bits(&unshared.cores[0], &unshared_target, false)
    );
    assert!(
        bits * 2 < all_rows,
        "shared rows take {bits} bits, all rows {all_rows}"
    );
    // Both mappings run the same net: same spikes, and both layers spike.
    let spikes = spikes_per_population(&mapped, &target);
    assert_eq!(spikes, spikes_per_population(&unshared_mapped, &target));
    assert!(spikes[1] > 0 && spikes[2] > 0, "spikes {spikes:?}");
}

#[test]
fn shared_rows_save_cores_when_memory_binds() {
    // Synapse memory just above what the one shared core needs.
    let mut target = builtin("loihi-like").unwrap();
    let net = tiny_conv_net(&target);
    let (_, one_core) = compile_and_compare(&net, &target);
    target.core.synapse_memory_bits = one_core.cores[0].synapse_bits(&target) + 64;
    let (shared_mapped, shared) = compile_and_compare(&net, &target);
    assert_eq!(shared.cores.len(), 1);

    // Without sharing every synapse takes at least a dense cell (8 bits) and every input
    // axon an entry (16 bits) somewhere: (648 conv + 288 readout synapses) * 8 + 136 * 16 =
    // 9664 bits, more than a core holds.
    let mut unshared_target = target.clone();
    unshared_target.core.shared_kernels = false;
    let need = (648 + 288) * unshared_target.min_bits_per_synapse()
        + unshared_target.axon_entries_bits(136);
    assert_eq!(need, 9664);
    let at_least = need.div_ceil(target.core.synapse_memory_bits);
    assert!(at_least >= 2, "memory {}", target.core.synapse_memory_bits);
    let (unshared_mapped, unshared) = compile_and_compare(&net, &unshared_target);
    // The partitioner uses 3 today (cut rows lose part of their dense-row savings); more
    // would be a regression.
    let cores = unshared.cores.len() as u64;
    assert!(
        (at_least..=3).contains(&cores),
        "{cores} cores without shared rows, at least {at_least} needed, 3 found before"
    );
    for core in &unshared.cores {
        assert!(core.synapse_bits(&unshared_target) <= target.core.synapse_memory_bits);
    }
    // Spikes cross cores now; the net computes the same.
    assert_eq!(
        spikes_per_population(&shared_mapped, &target),
        spikes_per_population(&unshared_mapped, &unshared_target)
    );
}

#[test]
fn truenorth_like_runs_the_conv_net_on_its_crossbar() {
    let target = builtin("truenorth-like").unwrap();
    let net = tiny_conv_net(&target);
    let (mapped, config) = compile_and_compare(&net, &target);
    // 76 neurons and 136 axons fit one 256 x 256 crossbar; each neuron's one output axon
    // reaches that core.
    assert_eq!(config.cores.len(), 1);
    assert_eq!(config.cores[0].synapse_bits(&target), 0);
    let spikes = spikes_per_population(&mapped, &target);
    assert!(spikes[1] > 0 && spikes[2] > 0, "spikes {spikes:?}");
}

#[test]
fn a_pool_that_leaves_fractions_is_refused() {
    // Readout weights of one step: the folded 2x2 pool would make them quarters.
    let target = builtin("loihi-like").unwrap();
    let mut net = tiny_conv_net(&target);
    let LinearOp::Dense { weights } = &mut net.projections[1].ops[2] else {
        panic!("the readout ends in a dense op")
    };
    for w in &mut weights.data {
        *w = w.signum() * 2.0;
    }
    let report = compile(&net, &target, &QuantizeOptions::default()).unwrap_err();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.place == "projection pool_readout" && v.hint.contains("avg_pool")),
        "{:#?}",
        report.violations
    );
}
