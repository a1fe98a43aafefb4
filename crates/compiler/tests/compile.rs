//! The compiler's passes on small nets: limits, violations, and the float → chip mapping.

mod common;

use common::*;
use lifchip_compiler::*;
use proptest::prelude::*;

#[test]
fn single_neuron_rate_matches_discrete_lif() {
    // One neuron driven only by its bias: J = gain * b + 1.
    for j in [1.5f32, 2.0, 3.0, 5.0] {
        let mut net = mlp(&[1, 1], 1);
        if let lifchip_net::Neuron::SoftLif(s) = &mut net.populations[1].neuron {
            s.bias = lifchip_net::Tensor::new(vec![1], vec![j - 1.0]);
        }
        let target = loihi(1024, 4096, 1 << 20);
        let q = quantize(&net, &target, &QuantizeOptions::default()).unwrap();
        let run = run_reference(&q, &target, &[], 1000, false);
        let count = run.counts(1, 1)[0] as f64;
        // The chip leaks by keep_v per tick and resets to zero: ISI = ceil(ln(J/(J-1)) / -ln(keep_v)).
        let keep_v = 1.0
            - f64::from(
                q.populations[1]
                    .neuron
                    .as_ref()
                    .unwrap()
                    .voltage_decay
                    .at(0, 0),
            ) / 4096.0;
        let isi = ((f64::from(j) / f64::from(j - 1.0)).ln() / -keep_v.ln()).ceil();
        let expected = 1000.0 / isi;
        assert!(
            (count - expected).abs() <= 0.05 * expected + 1.0,
            "J={j}: {count} spikes, expected about {expected}"
        );
    }
}

#[test]
fn rate_match_brings_a_hidden_neuron_to_the_trained_rate_without_refractory() {
    // A hidden neuron driven only by its bias (J = gain * b + 1) with a 2 ms refractory
    // period, on loihi-like (no refractory): rate matching scales J - 1 so the chip's rate
    // comes closer to the trained 1 / (tau_ref + tau_rc ln(J / (J - 1))).
    let target = loihi(1024, 4096, 1 << 20);
    for j in [1.5f32, 2.0, 3.0] {
        let mut net = mlp(&[1, 1, 1], 1);
        if let lifchip_net::Neuron::SoftLif(s) = &mut net.populations[1].neuron {
            s.bias = lifchip_net::Tensor::new(vec![1], vec![j - 1.0]);
            s.tau_ref = 0.002;
        }
        let trained = 1.0 / (0.002 + 0.02 * (f64::from(j) / f64::from(j - 1.0)).ln());
        let rate = |rate_match: bool| {
            let opts = QuantizeOptions {
                rate_match,
                ..QuantizeOptions::default()
            };
            let q = quantize(&net, &target, &opts).unwrap();
            f64::from(run_reference(&q, &target, &[], 2000, false).counts(1, 1)[0]) / 2.0
        };
        let (plain, matched) = (rate(false), rate(true));
        assert!(
            (matched - trained).abs() < (plain - trained).abs(),
            "J={j}: trained {trained:.1} Hz, chip {plain:.1} Hz, matched {matched:.1} Hz"
        );
        assert!(
            (matched - trained).abs() <= 0.1 * trained,
            "J={j}: trained {trained:.1} Hz, matched {matched:.1} Hz"
        );
        // The readout keeps its trained scale: the same chip units either way.
        let opts = QuantizeOptions {
            rate_match: true,
            ..QuantizeOptions::default()
        };
        let (a, b) = (
            quantize(&net, &target, &opts).unwrap(),
            quantize(&net, &target, &QuantizeOptions::default()).unwrap(),
        );
        assert_eq!(a.populations[2], b.populations[2]);
        assert_ne!(a.populations[1], b.populations[1]);
    }
}

#[test]
fn mlp_compiles_within_limits_and_reports() {
    let net = mlp(&[64, 40, 10], 7);
    let target = loihi(16, 128, 1 << 20);
    let (mapped, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert!(verify(&mapped.net, &mapped.partition, &target).is_empty());
    assert_eq!(report.neurons, 50);
    assert_eq!(report.synapses as usize, mapped.net.num_synapses());
    assert!(report.cores_used >= report.cores_lower_bound);
    assert_eq!(report.cores_lower_bound, 4); // 50 neurons / 16 per core
    assert_eq!(report.quantization.len(), 2);
    for q in &report.quantization {
        assert!(q.rms_relative_error < 0.02, "{q:?}");
    }
}

#[test]
fn impossible_mapping_lists_every_violation() {
    // Fan-in 64 > 32 axons in layer l0, and a mesh too small would come later: both layers fail.
    let net = mlp(&[64, 40, 40], 3);
    let target = loihi(16, 32, 1 << 20);
    let report = compile(&net, &target, &QuantizeOptions::default()).unwrap_err();
    assert_eq!(report.violations.len(), 2, "{:?}", report.violations);
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.kind == ViolationKind::InputAxons)
    );
    assert!(report.violations[0].place.contains("l0"));
    assert_eq!(report.violations[0].value, 64);
    assert_eq!(report.violations[0].limit, 32);
    assert!(report.violations[0].hint.contains("input_axons"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For random nets and random targets, every emitted core is within every limit, or the
    /// compiler says which limit is violated.
    #[test]
    fn every_core_within_limits(
        sizes in prop::collection::vec(1usize..40, 2..5),
        seed in 0u64..1000,
        neurons in 1u32..32,
        axons in 1u32..64,
        mem in 200u64..4000,
        dense_rows in any::<bool>(),
        shared in any::<bool>(),
        pooled in any::<bool>(),
    ) {
        // Pooled nets have rows that a target with shared kernels stores once.
        let net = if pooled { pooled_net(sizes[0] % 4 + 1, sizes[1], seed) } else { mlp(&sizes, seed) };
        let mut target = loihi(neurons, axons, mem);
        set_row_formats(&mut target, dense_rows, shared);
        match compile(&net, &target, &QuantizeOptions::default()) {
            Ok((mapped, report)) => {
                prop_assert!(verify(&mapped.net, &mapped.partition, &target).is_empty());
                for c in &report.per_core {
                    prop_assert!(c.neurons <= u64::from(neurons));
                    prop_assert!(c.input_axons <= u64::from(axons));
                    prop_assert!(c.synapse_bits <= mem);
                }
                let placed: usize = mapped.partition.cores.iter().map(|c| c.neurons.len()).sum();
                prop_assert_eq!(placed, mapped.net.num_neurons());
                prop_assert!(report.cores_used >= report.cores_lower_bound);
            }
            Err(report) => prop_assert!(!report.violations.is_empty()),
        }
    }
}

#[test]
fn routing_table_limit_is_checked() {
    let net = mlp(&[8, 12, 12, 4], 11);
    let mut target = loihi(4, 64, 1 << 20);
    let (_, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert!(report.cores_used >= 4);
    target.mesh.routing_table_entries = 1;
    let report = compile(&net, &target, &QuantizeOptions::default()).unwrap_err();
    let v = report
        .violations
        .iter()
        .find(|v| v.kind == ViolationKind::RoutingTableEntries)
        .expect("a routing violation");
    assert!(v.value > 1 && v.limit == 1, "{v:?}");
}

#[test]
fn mesh_too_small_is_reported_with_other_violations() {
    // Fan-in 64 > 32 axons, and 4 x 1-neuron cores cannot hold 50 neurons: both are listed.
    let net = mlp(&[64, 40, 10], 3);
    let mut target = loihi(1, 32, 1 << 20);
    target.mesh.width = 2;
    target.mesh.height = 2;
    let report = compile(&net, &target, &QuantizeOptions::default()).unwrap_err();
    let kinds: Vec<&str> = report.violations.iter().map(|v| v.kind.as_str()).collect();
    assert!(kinds.contains(&"input_axons"), "{kinds:?}");
    assert!(kinds.contains(&"cores"), "{kinds:?}");
}

#[test]
fn placement_refinement_never_increases_traffic_hops() {
    for seed in 0..20 {
        let net = mlp(&[20, 30, 30, 10], seed);
        let target = loihi(5, 64, 1 << 20);
        let q = quantize(&net, &target, &QuantizeOptions::default()).unwrap();
        let p = partition(&q, &target).unwrap();
        let start = place(&p, &target, q.readout as u32, &|k| k.axons.len() as u64).unwrap();
        let refined = refine_placement(&q, &p, &start, &target);
        assert!(traffic_hops(&q, &p, &refined) <= traffic_hops(&q, &p, &start));
        assert_eq!(refined[0], start[0], "core 0 stays at the input router");
        let mut slots = refined.clone();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), refined.len(), "two cores on one router");
    }
}

#[test]
fn identical_and_silent_neurons_are_counted() {
    // Two hidden neurons with the same weights and bias, and one with only inhibitory input.
    let mut net = mlp(&[3, 3], 2);
    if let lifchip_net::LinearOp::Dense { weights } = &mut net.projections[0].ops[0] {
        weights.data = vec![0.2, 0.1, 0.3, 0.2, 0.1, 0.3, -0.2, -0.1, -0.3];
    }
    if let lifchip_net::Neuron::SoftLif(s) = &mut net.populations[1].neuron {
        s.bias = lifchip_net::Tensor::new(vec![3], vec![0.0, 0.0, -0.5]);
    }
    let target = loihi(16, 64, 1 << 20);
    let q = quantize(&net, &target, &QuantizeOptions::default()).unwrap();
    assert_eq!(q.layers[0].identical_neurons, 1);
    assert_eq!(q.layers[0].silent_neurons, 1);
}

fn set_row_formats(target: &mut lifchip_target::Target, dense: bool, shared: bool) {
    if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } = &mut target.core.synapse_cost {
        *dense_rows = dense;
    }
    target.core.shared_kernels = shared;
}

/// `in` (1 x 4 x 4) -> avg-pool 2 -> dense 3: the four inputs of a pool window have identical
/// rows, so a target with shared kernels stores 4 rows for 16 axons.
fn pool_to_dense() -> lifchip_net::Net {
    let mut net = lifchip_net::Net::new("pool-dense");
    net.populations.push(lifchip_net::Population {
        name: "in".into(),
        shape: vec![1, 4, 4],
        neuron: lifchip_net::Neuron::Input,
    });
    net.populations.push(lifchip_net::Population {
        name: "out".into(),
        shape: vec![3],
        neuron: common::soft_lif(3, vec![0.0; 3]),
    });
    let weights = vec![
        1.0, -0.7, 0.5, 0.9, //
        -0.6, 0.8, 0.4, -1.0, //
        0.3, 0.6, -0.9, 0.7,
    ];
    net.projections.push(lifchip_net::Projection {
        current: 1,
        sign_mode: None,
        name: "p".into(),
        from: "in".into(),
        to: "out".into(),
        ops: vec![
            lifchip_net::LinearOp::AvgPool {
                size: [2, 2],
                stride: None,
            },
            lifchip_net::LinearOp::Flatten,
            lifchip_net::LinearOp::Dense {
                weights: lifchip_net::Tensor::new(vec![3, 4], weights),
            },
        ],
        weight_exp: 0,
    });
    net
}

#[test]
fn dense_and_shared_rows_are_charged_exactly() {
    let net = pool_to_dense();
    // 16 axons, one 16-bit entry each; a row holds 3 synapses of 8-bit weights: sparse
    // 3 * (8 + 10) = 54 bits, dense 10 + 3 * 8 = 34 bits; shared: 4 distinct rows.
    for (dense, shared, bits) in [
        (false, false, 16 * 54 + 16 * 16),
        (true, false, 16 * 34 + 16 * 16),
        (false, true, 4 * 54 + 16 * 16),
        (true, true, 4 * 34 + 16 * 16),
    ] {
        let mut target = loihi(16, 64, 1 << 20);
        set_row_formats(&mut target, dense, shared);
        let (mapped, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
        assert_eq!(report.cores_used, 1);
        assert_eq!(
            report.per_core[0].synapse_bits, bits,
            "dense {dense}, shared {shared}"
        );
        assert!(verify(&mapped.net, &mapped.partition, &target).is_empty());
    }
}

#[test]
fn shared_rows_let_a_pooled_layer_fit_in_fewer_cores() {
    // One neuron's 16 axons take 16 * (18 + 16) = 544 bits, three neurons 1120: with 600 bits
    // per core each neuron needs its own core unless the rows are shared.
    let net = pool_to_dense();
    let mut target = loihi(16, 64, 600);
    set_row_formats(&mut target, false, false);
    let (_, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert_eq!(report.cores_used, 3);
    set_row_formats(&mut target, false, true);
    let (_, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert_eq!(report.cores_used, 1);
    assert_eq!(report.per_core[0].synapse_bits, 4 * 54 + 16 * 16);
}

fn profile_of(net: &lifchip_net::Net, rate: impl Fn(usize, usize) -> f32) -> RateProfile {
    RateProfile {
        source: "test".into(),
        net_hash: net.fingerprint(),
        dt: Some(0.001),
        input_rate: Some(1.0),
        populations: net
            .populations
            .iter()
            .enumerate()
            .map(|(p, pop)| PopulationRates {
                name: pop.name.clone(),
                rates: (0..pop.size()).map(|n| rate(p, n)).collect(),
            })
            .collect(),
    }
}

#[test]
fn a_rate_profile_weights_the_traffic_and_is_checked() {
    let net = mlp(&[30, 40, 20, 5], 4);
    let target = loihi(8, 64, 1 << 20);
    let profile = profile_of(&net, |p, n| 0.01 * (1 + (p * 7 + n) % 5) as f32);
    let (mapped, report) =
        compile_with_profile(&net, &target, &QuantizeOptions::default(), Some(&profile)).unwrap();
    assert_eq!(report.rate_profile.as_deref(), Some("test"));
    let packets = report.expected_packets_per_tick.unwrap();
    assert!(packets > 0.0 && report.expected_packet_hops_per_tick.unwrap() >= packets);
    assert!(verify(&mapped.net, &mapped.partition, &target).is_empty());
    // Expected packets per tick = sum over cores of the rates of inputs arriving from other
    // cores (and the input population, which enters at core 0's router).
    let mut expected = 0.0f64;
    for (c, core) in mapped.partition.cores.iter().enumerate() {
        for a in &core.axons {
            let from = mapped.net.projections[a.projection as usize].from;
            let src = mapped.partition.location[from]
                .get(a.pre as usize)
                .map_or(0, |l| l.0 as usize);
            if src != c {
                expected += f64::from(profile.populations[from].rates[a.pre as usize]);
            }
        }
    }
    assert!((packets - expected).abs() < 1e-3, "{packets} vs {expected}");

    // A profile of another net, or with the wrong sizes, is refused with a clear violation.
    let mut other = profile.clone();
    other.net_hash ^= 1;
    let err =
        compile_with_profile(&net, &target, &QuantizeOptions::default(), Some(&other)).unwrap_err();
    assert_eq!(err.violations[0].kind, ViolationKind::RateProfile);
    assert_eq!(err.violations[0].kind.to_string(), "rate_profile");
    assert!(err.violations[0].hint.contains("another net"));
    let mut short = profile.clone();
    short.populations[1].rates.pop();
    let err =
        compile_with_profile(&net, &target, &QuantizeOptions::default(), Some(&short)).unwrap_err();
    assert!(
        err.violations[0].place.contains("l0"),
        "{:?}",
        err.violations
    );
    let err = compile_with_profile(
        &net,
        &target,
        &QuantizeOptions {
            input_rate: 0.5,
            ..QuantizeOptions::default()
        },
        Some(&profile),
    )
    .unwrap_err();
    assert!(
        err.violations[0].hint.contains("input_rate"),
        "{:?}",
        err.violations
    );
    let mut negative = profile;
    negative.populations[2].rates[0] = f32::NAN;
    assert!(
        compile_with_profile(&net, &target, &QuantizeOptions::default(), Some(&negative)).is_err()
    );
}

#[test]
fn silent_sources_cost_nothing_in_the_profiled_objective() {
    // With every rate zero except one input neuron, the expected traffic is that neuron's
    // packets only, however the net is cut.
    let net = mlp(&[12, 30, 6], 9);
    let target = loihi(8, 64, 1 << 20);
    let profile = profile_of(&net, |p, n| if p == 0 && n == 3 { 0.5 } else { 0.0 });
    let (mapped, report) =
        compile_with_profile(&net, &target, &QuantizeOptions::default(), Some(&profile)).unwrap();
    let cores_with_input_3 = mapped
        .partition
        .cores
        .iter()
        .enumerate()
        .filter(|(c, core)| *c != 0 && core.axons.iter().any(|a| a.projection == 0 && a.pre == 3))
        .count();
    let packets = report.expected_packets_per_tick.unwrap();
    assert!(
        (packets - 0.5 * cores_with_input_3 as f64).abs() < 1e-6,
        "{packets}"
    );
}

#[test]
fn the_verifier_checks_the_fanin_shares() {
    // 40 inputs into neurons with 16 axons per core: every neuron is split into 3 shares.
    let net = mlp(&[40, 6], 3);
    let mut target = loihi(8, 16, 1 << 20);
    target.core.fanin_split = true;
    let (mapped, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert!(report.split_neurons > 0);
    assert!(verify(&mapped.net, &mapped.partition, &target).is_empty());
    let with = |change: &dyn Fn(&mut SplitNeuron)| {
        let mut bad = mapped.partition.clone();
        let split = bad.split.values_mut().next().unwrap();
        change(split);
        verify(&mapped.net, &bad, &target)
    };
    // A share one input short leaves a gap before the next.
    let errors = with(&|s| s.shares[0].end -= 1);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, VerifyError::ShareGap { .. }))
    );
    // The last share ends early: an input is on no compartment.
    let errors = with(&|s| s.shares.last_mut().unwrap().end -= 1);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, VerifyError::ShareCover { .. }))
    );
    // Two shares merged into one are wider than a core's axons, and a compartment is left over.
    let errors = with(&|s| {
        s.shares[0].end = s.shares[1].end;
        s.shares.remove(1);
    });
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, VerifyError::ShareAxons { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, VerifyError::SplitCompartments { .. }))
    );
    // A target without fan-in splitting does not take split neurons.
    let mut unsplit = target.clone();
    unsplit.core.fanin_split = false;
    let errors = verify(&mapped.net, &mapped.partition, &unsplit);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, VerifyError::SplitNotAllowed { .. }))
    );
}

#[test]
fn distinct_rows_bound_the_cores_with_shared_rows() {
    // A dense layer of random weights has no two equal rows: sharing saves nothing, so memory
    // bounds the cores as it does without shared rows (64 x 64 synapses x 8 bits + 64 axon
    // entries x 16 bits = 33,792 bits > 4 x 8,000).
    let net = mlp(&[64, 64], 5);
    let mut target = loihi(1024, 4096, 8_000);
    set_row_formats(&mut target, true, false);
    let (_, plain) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    set_row_formats(&mut target, true, true);
    let (_, shared) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert_eq!(shared.cores_lower_bound, 5);
    assert_eq!(shared.cores_lower_bound, plain.cores_lower_bound);
    assert_eq!(shared.cores_lower_bound_by, BoundLimit::SynapseMemory);
    assert!(shared.cores_used >= shared.cores_lower_bound);
    // A pooled layer's identical rows count once: the bound drops with shared rows.
    let net = pool_to_dense();
    let mut target = loihi(16, 64, 600);
    set_row_formats(&mut target, false, false);
    let (_, plain) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    set_row_formats(&mut target, false, true);
    let (_, shared) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    assert!(shared.cores_lower_bound < plain.cores_lower_bound);
    assert!(shared.cores_used >= shared.cores_lower_bound);
}

#[test]
fn violation_kinds_keep_their_report_names() {
    let names: Vec<String> = [
        ViolationKind::InputAxons,
        ViolationKind::RateProfile,
        ViolationKind::RoutingTableEntries,
        ViolationKind::WeightExp,
    ]
    .iter()
    .map(|k| serde_json::to_string(k).unwrap())
    .collect();
    assert_eq!(
        names,
        [
            "\"input_axons\"",
            "\"rate_profile\"",
            "\"routing_table_entries\"",
            "\"weight_exp\""
        ]
    );
    for kind in [ViolationKind::Cores, ViolationKind::SynapseMemoryBits] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
    }
}

/// Per-neuron registers of chip-unit populations, and what a target without a bias or with
/// readout neurons of one current refuses.
mod per_neuron {
    use lifchip_compiler::*;
    use lifchip_net::{Neuron, PerNeuron, from_yaml_str};
    use lifchip_target::builtin;

    /// 2 inputs → `hid` (4 neurons) → `out` (2 neurons), in xylo-like units; `{HID}` and
    /// `{OUT}` are the two populations' extra neuron fields.
    fn net(hid: &str, out: &str, current_out: u8) -> lifchip_net::Net {
        let yaml = format!(
            r#"
name: per-neuron
readout: out
populations:
  - {{name: in, shape: [2], neuron: {{kind: input}}}}
  - name: hid
    shape: [4]
    neuron: {{kind: chip_lif, {hid}}}
  - name: out
    shape: [2]
    neuron: {{kind: chip_lif, {out}}}
projections:
  - {{name: a, from: in, to: hid, current: 2, ops: [{{kind: dense, weights: [[9, 9], [9, 9], [9, 9], [9, 9]]}}]}}
  - {{name: b, from: hid, to: out, current: {current_out}, ops: [{{kind: dense, weights: [[5, 5, 5, 5], [5, 5, 5, 5]]}}]}}
"#
        );
        from_yaml_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    const HID: &str = "current_decay: [8, 8, 8, 9], current_decay_2: [4, 5, 6, 7], voltage_decay: [15, 15, 15, 14], threshold: [10, 200, 2000, 20000], refractory: 0";
    const OUT: &str = "current_decay: 2, voltage_decay: 3, threshold: [100, 200]";

    #[test]
    fn lists_reach_the_quantized_net_and_the_reference_run() {
        let target = builtin("xylo-like").unwrap();
        let q = quantize(&net(HID, OUT, 1), &target, &QuantizeOptions::default()).unwrap();
        let hid = q.populations[1].neuron.as_ref().unwrap();
        assert_eq!(hid.threshold, PerNeuron::Each(vec![10, 200, 2000, 20000]));
        assert_eq!(hid.current_decay_2.at(3, 0), 7);
        assert_eq!(hid.voltage_decay.at(3, 0), 14);
        let out = q.populations[2].neuron.as_ref().unwrap();
        assert_eq!(out.current_decay, PerNeuron::All(2));
        // The same input, different thresholds: the neuron with the lowest one spikes most.
        let input: Vec<Vec<u32>> = (0..50).map(|_| vec![0, 1]).collect();
        let run = run_reference(&q, &target, &input, 50, false);
        let counts = run.counts(1, 4);
        assert!(
            counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > counts[3],
            "{counts:?}"
        );
        // Per-neuron parameters make neurons with one input row different.
        let scalar = HID
            .replace("[10, 200, 2000, 20000]", "200")
            .replace("[8, 8, 8, 9]", "8")
            .replace("[4, 5, 6, 7]", "4")
            .replace("[15, 15, 15, 14]", "15");
        let q2 = quantize(&net(&scalar, OUT, 1), &target, &QuantizeOptions::default()).unwrap();
        let run = run_reference(&q2, &target, &input, 50, false);
        let counts = run.counts(1, 4);
        assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
        let report = |q: &QuantNet| {
            q.layers
                .iter()
                .find(|l| l.layer == "a")
                .unwrap()
                .identical_neurons
        };
        assert_eq!((report(&q), report(&q2)), (0, 3));
    }

    fn violations(net: &lifchip_net::Net, target: &str) -> Vec<Violation> {
        let target = builtin(target).unwrap();
        quantize(net, &target, &QuantizeOptions::default()).unwrap_err()
    }

    #[test]
    fn out_of_range_neurons_are_named_with_field_index_and_range() {
        let bad = HID
            .replace("[10, 200, 2000, 20000]", "[10, 70000, 30, -1]")
            .replace("[15, 15, 15, 14]", "[15, 16, 13, 12]");
        let v = violations(&net(&bad, OUT, 1), "xylo-like");
        let text: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(v.len(), 3, "{text:#?}");
        assert_eq!(
            text[0],
            "population hid neuron 1: threshold is 70000 (limit 65535); threshold must be in 0..=65535 (16 bits)"
        );
        assert_eq!(
            text[1],
            "population hid neuron 3: threshold is -1 (limit 0); threshold must be in 0..=65535 (16 bits)"
        );
        assert_eq!(
            text[2],
            "population hid neuron 1: voltage_decay is 16 (limit 15); voltage_decay must be in 0..=15 for Shift decay"
        );
        // A scalar names the population only.
        let v = violations(
            &net(
                HID,
                &OUT.replace("voltage_decay: 3", "voltage_decay: 99"),
                1,
            ),
            "xylo-like",
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].place, "population out");
        assert_eq!(
            (v[0].kind, v[0].value, v[0].limit),
            (ViolationKind::VoltageDecay, 99, 15)
        );
    }

    #[test]
    fn many_bad_neurons_are_listed_up_to_a_bound_and_counted() {
        let n = 20;
        let list: Vec<String> = (0..n).map(|_| "99999".to_string()).collect();
        let yaml = format!(
            "name: many\npopulations:\n  - {{name: in, shape: [1], neuron: {{kind: input}}}}\n  - {{name: p, shape: [{n}], neuron: {{kind: chip_lif, current_decay: 0, voltage_decay: 0, threshold: [{}]}}}}\nprojections:\n  - {{name: w, from: in, to: p, ops: [{{kind: dense, weights: {{shape: [{n}, 1], values: [{}]}}}}]}}\n",
            list.join(", "),
            ["1"; 20].join(", ")
        );
        let net = from_yaml_str(&yaml).unwrap();
        let v = violations(&net, "xylo-like");
        assert_eq!(v.len(), 9, "{v:#?}");
        assert!(
            v[..8]
                .iter()
                .enumerate()
                .all(|(i, x)| x.place == format!("population p neuron {i}"))
        );
        assert_eq!(v[8].place, "population p");
        assert!(
            v[8].hint.starts_with(
                "20 neurons in all are out of range, 12 more than listed (the last: neuron 19"
            ),
            "{}",
            v[8].hint
        );
    }

    #[test]
    fn xylo_v1_refuses_a_bias_and_v2_takes_it() {
        let biased = format!("{HID}, bias: [0, 0, 5, 0]");
        let v = violations(&net(&biased, OUT, 1), "xylo-like");
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].place, "population hid neuron 2");
        assert_eq!(v[0].kind, ViolationKind::Bias);
        assert!(
            v[0].hint.contains("no bias (precision.bias_bits: 0"),
            "{}",
            v[0].hint
        );
        let v2 = builtin("xylo-v2-like").unwrap();
        assert!(quantize(&net(&biased, OUT, 1), &v2, &QuantizeOptions::default()).is_ok());
        // A soft-LIF net needs a constant drive: it does not map onto a target without bias.
        let soft = crate::common::mlp(&[2, 2], 1);
        let v = violations(&soft, "xylo-like");
        assert!(
            v.iter()
                .any(|x| x.kind == ViolationKind::Bias && x.hint.contains("no bias")),
            "{v:#?}"
        );
    }

    #[test]
    fn current_2_onto_the_readout_is_refused_where_readout_neurons_have_one() {
        for target in ["xylo-like", "xylo-v2-like"] {
            let v = violations(&net(HID, OUT, 2), target);
            assert_eq!(v.len(), 1, "{v:#?}");
            assert_eq!(v[0].place, "projection b");
            assert_eq!(
                (v[0].kind, v[0].value, v[0].limit),
                (ViolationKind::SynapticCurrent, 2, 1)
            );
            assert!(
                v[0].hint.contains("readout population out"),
                "{}",
                v[0].hint
            );
        }
        // Current 2 onto hidden neurons (projection a) is what Xylo has.
        let t = builtin("xylo-like").unwrap();
        assert!(quantize(&net(HID, OUT, 1), &t, &QuantizeOptions::default()).is_ok());
    }

    #[test]
    fn a_second_decay_needs_a_second_current() {
        // loihi-like has one synaptic current: current_decay_2 must be 0 (and current 2 is
        // refused as before).
        let mut n = net(HID, OUT, 1);
        n.projections[0].current = 1;
        let v = violations(&n, "loihi-like");
        let c2: Vec<_> = v
            .iter()
            .filter(|x| x.kind == ViolationKind::CurrentDecay2)
            .collect();
        assert_eq!(c2.len(), 4, "{v:#?}");
        assert_eq!(c2[0].place, "population hid neuron 0");
        assert!(c2[0].hint.contains("neuron.synaptic_currents: 1"));
        if let Neuron::ChipLif(c) = &mut n.populations[1].neuron {
            c.current_decay_2 = PerNeuron::All(0);
        }
        let loihi = builtin("loihi-like").unwrap();
        assert!(quantize(&n, &loihi, &QuantizeOptions::default()).is_ok());
    }
}

/// Xylo's shape: `inputs` channels → `hidden` chip-LIF neurons with full recurrence → 8 readout
/// neurons, every weight nonzero (chip units).
fn xylo_net(inputs: usize, hidden: usize) -> lifchip_net::Net {
    use lifchip_net::{ChipLif, LinearOp, Neuron, PerNeuron, Population, Projection, Tensor};
    let lif = |n: usize| {
        Neuron::ChipLif(ChipLif {
            current_decay: PerNeuron::All(1),
            current_decay_2: PerNeuron::All(1),
            voltage_decay: PerNeuron::All(1),
            threshold: PerNeuron::All(1000),
            bias: Tensor::new(vec![n], vec![0.0; n]),
            bias_exp: Tensor::scalar(0.0),
            initial_u: Tensor::scalar(0.0),
            initial_v: Tensor::scalar(0.0),
            refractory: PerNeuron::All(0),
        })
    };
    let mut net = lifchip_net::Net::new(format!("xylo-{inputs}-{hidden}-8"));
    for (name, n, neuron) in [
        ("in", inputs, Neuron::Input),
        ("hidden", hidden, lif(hidden)),
        ("out", 8, lif(8)),
    ] {
        net.populations.push(Population {
            name: name.into(),
            shape: vec![n],
            neuron,
        });
    }
    net.readout = Some("out".into());
    for (name, from, to, rows, cols) in [
        ("in_h", "in", "hidden", hidden, inputs),
        ("h_h", "hidden", "hidden", hidden, hidden),
        ("h_out", "hidden", "out", 8, hidden),
    ] {
        let w = (0..rows * cols)
            .map(|i| [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0][i % 7])
            .collect();
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: name.into(),
            from: from.into(),
            to: to.into(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![rows, cols], w),
            }],
            weight_exp: 0,
        });
    }
    net
}

#[test]
fn xylo_maps_1000_recurrent_hidden_neurons_and_a_readout_on_one_core() {
    // Xylo's matrices: 16 x 1000 input, 1000 x 1000 recurrent, 1000 x 8 readout. A hidden
    // neuron's recurrent and readout rows are its own (`core.neuron_rows`), not input axons.
    for name in ["xylo-like", "xylo-v2-like"] {
        let target = lifchip_target::builtin(name).unwrap();
        let (mapped, report) = compile(&xylo_net(16, 1000), &target, &QuantizeOptions::default())
            .unwrap_or_else(|r| panic!("{name}: {:#?}", r.violations));
        assert_eq!(report.cores_used, 1, "{name}");
        assert_eq!(mapped.partition.cores[0].neurons.len(), 1008, "{name}");
        // 16 + 1000 recurrent + 1000 readout rows, of which the 16 input rows are input axons.
        assert_eq!(mapped.partition.cores[0].axons.len(), 2016, "{name}");
        assert_eq!(report.per_core[0].input_axons, 16, "{name}");
        // 1001 hidden neurons: one more than the core holds, named by its limit.
        let r = compile(&xylo_net(16, 1001), &target, &QuantizeOptions::default()).unwrap_err();
        let text: Vec<String> = r.violations.iter().map(ToString::to_string).collect();
        assert!(
            r.violations
                .iter()
                .any(|v| v.kind.as_str() == "cores" && v.hint.contains("core.neurons = 1000")),
            "{name}: {text:#?}"
        );
        // 17 input channels: a hidden neuron reading all of them needs 17 input axons.
        let r = compile(&xylo_net(17, 1000), &target, &QuantizeOptions::default()).unwrap_err();
        let text: Vec<String> = r.violations.iter().map(ToString::to_string).collect();
        let v = r
            .violations
            .iter()
            .find(|v| v.kind.as_str() == "input_axons")
            .unwrap_or_else(|| panic!("{name}: {text:#?}"));
        assert_eq!((v.value, v.limit), (17, 16), "{name}: {text:#?}");
        assert!(v.hint.contains("core.input_axons"), "{name}: {}", v.hint);
    }
}
