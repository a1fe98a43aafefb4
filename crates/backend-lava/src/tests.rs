use super::*;

#[test]
fn sign_modes_match_lava_clip_and_truncate() {
    // Lava: clip to the mode's range with 8 bits, then drop 8 - bits (+1 if mixed) low bits.
    assert!(SignMode::Excitatory.keeps(255, 8));
    assert!(!SignMode::Excitatory.keeps(256, 8));
    assert!(!SignMode::Excitatory.keeps(-1, 8));
    assert!(SignMode::Inhibitory.keeps(-255, 8));
    assert!(!SignMode::Inhibitory.keeps(-256, 8));
    assert!(SignMode::Mixed.keeps(-256, 8));
    assert!(!SignMode::Mixed.keeps(255, 8));
    assert!(SignMode::Mixed.keeps(254, 8));
    assert!(!SignMode::Mixed.keeps(3, 8));
    assert!(SignMode::Excitatory.keeps(128, 1));
    assert!(!SignMode::Excitatory.keeps(64, 1));
    assert!(SignMode::Mixed.keeps(-256, 1));
    assert!(!SignMode::Mixed.keeps(128, 1));
    assert_eq!(
        SignMode::fitting([0i64, 3, 255].into_iter(), 8),
        Some(SignMode::Excitatory)
    );
    assert_eq!(
        SignMode::fitting([0i64, -3].into_iter(), 8),
        Some(SignMode::Inhibitory)
    );
    assert_eq!(
        SignMode::fitting([-256i64, 0].into_iter(), 8),
        Some(SignMode::Mixed)
    );
    assert_eq!(SignMode::fitting([-3i64, 4].into_iter(), 8), None);
}

use lifchip_net::{ChipLif, LinearOp, Net, Neuron, Population, Projection, Tensor};

/// A two-layer chip-unit net on loihi-like: 3 inputs -> 2 neurons -> 2 neurons (+ recurrence).
fn small_config() -> ChipConfig {
    let target = lifchip_target::builtin("loihi-like").unwrap();
    let mut net = Net::new("small");
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![3],
        neuron: Neuron::Input,
    });
    for (name, du, vth) in [("a", 100u32, 10i64), ("b", 4095, 0)] {
        net.populations.push(Population {
            name: name.into(),
            shape: vec![2],
            neuron: Neuron::ChipLif(ChipLif {
                current_decay: du.into(),
                voltage_decay: 7.into(),
                threshold: vth.into(),
                bias: Tensor::new(vec![2], vec![-4096.0, 12.0]),
                bias_exp: Tensor::new(vec![2], vec![7.0, 0.0]),
                current_decay_2: 0.into(),
                refractory: 0.into(),
                initial_u: Tensor::new(vec![2], vec![-8_388_608.0, 5.0]),
                initial_v: Tensor::scalar(-3.0),
            }),
        });
    }
    let dense = |from: &str, to: &str, rows, cols, w: Vec<f32>, exp| Projection {
        current: 1,
        sign_mode: None,
        name: format!("{from}{to}"),
        from: from.into(),
        to: to.into(),
        ops: vec![LinearOp::Dense {
            weights: Tensor::new(vec![rows, cols], w),
        }],
        weight_exp: exp,
    };
    net.projections
        .push(dense("in", "a", 2, 3, vec![1., 2., 3., 4., 5., 255.], -3));
    net.projections
        .push(dense("a", "b", 2, 2, vec![-2., 4., -256., 0.], 7));
    net.projections
        .push(dense("b", "b", 2, 2, vec![-1., -5., 0., -255.], 0));
    let (mapped, _) =
        lifchip_compiler::compile(&net, &target, &lifchip_compiler::QuantizeOptions::default())
            .unwrap();
    lifchip_backend_core::emit(&mapped, &target).unwrap()
}

#[test]
fn graph_has_one_lif_per_parameter_set_and_one_dense_per_projection() {
    let config = small_config();
    let graph = build_graph(&config).unwrap();
    assert_eq!(graph.lifs.len(), 2);
    assert_eq!(graph.compartments.len(), 4);
    // Per-neuron bias mantissas (the full 13-bit range) and exponents reach the LIF arrays.
    let a = &graph.lifs[0];
    assert_eq!(
        (a.bias_mant.clone(), a.bias_exp.clone()),
        (vec![-4096, 12], vec![7, 0])
    );
    assert_eq!(
        (a.u0.clone(), a.v0.clone()),
        (vec![-8_388_608, 5], vec![-3, -3])
    );
    let mut summary: Vec<(Source, usize, i32, SignMode)> = graph
        .denses
        .iter()
        .map(|d| (d.source, d.target, d.weight_exp, d.sign_mode))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            (Source::Input, 0, -3, SignMode::Excitatory),
            (Source::Lif(0), 1, 7, SignMode::Mixed),
            (Source::Lif(1), 1, 0, SignMode::Inhibitory),
        ]
    );
    // Every synapse of the chip is one matrix entry.
    let synapses: usize = config
        .cores
        .iter()
        .flat_map(|c| &c.axons)
        .map(|a| a.synapses.iter().filter(|s| s.weight != 0).count())
        .sum();
    let entries: usize = graph
        .denses
        .iter()
        .map(|d| d.weights.iter().filter(|&&w| w != 0).count())
        .sum();
    assert_eq!(entries, synapses);
}

#[test]
fn export_writes_the_program_atomically_and_deterministically() {
    let config = small_config();
    let input = vec![vec![0, 0, 2], vec![], vec![1]];
    let a = export(&config, &input, 3).unwrap();
    let b = export(&config, &input, 3).unwrap();
    assert_eq!(a, b);
    let names: Vec<&str> = a.files.iter().map(|(n, _)| n.as_str()).collect();
    for must in [
        "network.py",
        "program.json",
        "input.npy",
        "compartments.npy",
    ] {
        assert!(names.contains(&must), "{names:?}");
    }
    let spec: ProgramSpec =
        serde_json::from_slice(&a.files.iter().find(|f| f.0 == "program.json").unwrap().1).unwrap();
    // Channel 0 spikes twice in tick 0: the input Dense is graded.
    assert!(
        spec.denses
            .iter()
            .any(|d| d.source == "input" && d.num_message_bits > 0)
    );
    let input_npy = &a.files.iter().find(|f| f.0 == "input.npy").unwrap().1;
    let npy = npyz::NpyFile::new(&input_npy[..]).unwrap();
    assert_eq!(npy.shape(), &[3, 3]);
    assert_eq!(
        npy.into_vec::<i32>().unwrap(),
        vec![2, 0, 0, 0, 0, 1, 1, 0, 0]
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prog");
    write_program(&a, &out).unwrap();
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(written, expected);
    // Nothing but the program is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An earlier program is replaced; any other directory is refused and left as it was.
    write_program(&a, &out).unwrap();
    let other = dir.path().join("chip");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("manifest.json"), "{}").unwrap();
    let err = write_program(&a, &other).unwrap_err().to_string();
    assert!(err.contains("refusing to replace"), "{err}");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}

#[test]
fn refusal_lists_every_reason() {
    let mut config = small_config();
    config.target.neuron.reset = lifchip_target::Reset::Subtract;
    config.target.neuron.synaptic_delay = 2;
    config.target.precision.current_overflow = lifchip_target::Overflow::Saturate;
    config.cores[0].compartments[0].refractory = 2;
    config.cores[0].compartments[1].bias_exp = 9;
    let Err(ExportError::Unsupported(problems)) = export(&config, &[vec![7]], 1) else {
        panic!("expected a refusal");
    };
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let has = |s: &str| text.iter().any(|t| t.contains(s));
    assert!(has("neuron.reset"), "{text:?}");
    assert!(has("neuron.synaptic_delay"), "{text:?}");
    assert!(has("precision.current_overflow"), "{text:?}");
    assert!(has("core 0 compartment 0: refractory: 2"), "{text:?}");
    assert!(has("core 0 compartment 1: bias_exp: 9"), "{text:?}");
    assert!(has("input tick 0: channel: 7"), "{text:?}");
    assert_eq!(problems.len(), 6, "{text:?}");
}

#[test]
fn a_group_with_a_negative_exponent_and_two_sources_is_refused() {
    let mut config = small_config();
    // Make input channel 0 also feed an axon of the recurrent group of b (exponent 0 -> -1).
    let graph = build_graph(&config).unwrap();
    let recurrent = graph
        .denses
        .iter()
        .find(|d| d.source == Source::Lif(1))
        .unwrap();
    assert_eq!(recurrent.weight_exp, 0);
    let (ci, axon) = config
        .cores
        .iter()
        .enumerate()
        .find_map(|(ci, c)| {
            c.compartments.iter().find_map(|k| {
                (k.population == 2)
                    .then(|| {
                        k.destinations
                            .iter()
                            .find(|d| config.cores.iter().position(|x| x.id == d.core) == Some(ci))
                    })
                    .flatten()
                    .map(|d| (ci, d.axon))
            })
        })
        .unwrap();
    let group = config.cores[ci].axons[axon as usize].group;
    config.cores[ci].group_exponents[group as usize] = -1;
    let id = config.cores[ci].id;
    config.inputs[0].push(lifchip_chip::Destination { core: id, axon });
    let problems = build_graph(&config).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.field == "axons" && p.found.contains("2 different sources")),
        "{problems:?}"
    );
}

#[test]
fn a_declared_sign_mode_is_checked_against_the_weights() {
    let target = lifchip_target::builtin("loihi-like").unwrap();
    let net_with = |mode: Option<lifchip_net::SignMode>, w: Vec<f32>| {
        let mut net = Net::new("signs");
        net.populations.push(Population {
            name: "in".into(),
            shape: vec![2],
            neuron: Neuron::Input,
        });
        net.populations.push(Population {
            name: "out".into(),
            shape: vec![1],
            neuron: Neuron::ChipLif(ChipLif {
                current_decay: 0.into(),
                voltage_decay: 0.into(),
                threshold: 10.into(),
                bias: Tensor::scalar(0.0),
                bias_exp: Tensor::scalar(0.0),
                current_decay_2: 0.into(),
                refractory: 0.into(),
                initial_u: Tensor::scalar(0.0),
                initial_v: Tensor::scalar(0.0),
            }),
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: mode,
            name: "p".into(),
            from: "in".into(),
            to: "out".into(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![1, 2], w),
            }],
            weight_exp: 0,
        });
        lifchip_compiler::compile(&net, &target, &lifchip_compiler::QuantizeOptions::default())
    };
    use lifchip_net::SignMode as Declared;
    // Odd weights are excitatory-storable, but a mixed projection has Lava's step 2.
    assert!(net_with(None, vec![3.0, 5.0]).is_ok());
    let err = net_with(Some(Declared::Mixed), vec![3.0, 5.0]).unwrap_err();
    assert!(
        err.violations
            .iter()
            .any(|v| v.kind == lifchip_compiler::ViolationKind::Weight && v.hint.contains("Mixed")),
        "{:?}",
        err.violations
    );
    // A negative weight in a projection declared excitatory is refused.
    assert!(net_with(Some(Declared::Excitatory), vec![-2.0, 4.0]).is_err());
    // Declared mixed with even weights: compiles, and Lava keeps the weights.
    let (mapped, _) = net_with(Some(Declared::Mixed), vec![-256.0, 254.0]).unwrap();
    let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
    let graph = build_graph(&config).unwrap();
    assert_eq!(graph.denses.len(), 1);
    assert_eq!(graph.denses[0].sign_mode, SignMode::Mixed);
}
