//! The shipped targets: every file in `targets/` is a built-in, checks with zero problems, and
//! encodes what its chip's reference fixes.

use std::path::{Path, PathBuf};

use lifchip_target::*;

fn targets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../targets")
}

#[test]
fn every_shipped_file_is_a_builtin_and_loads_without_problems() {
    let mut stems = Vec::new();
    for entry in std::fs::read_dir(targets_dir()).expect("targets/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let from_file = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_file.name, stem, "the name field matches the file name");
        let embedded = builtin(&stem).unwrap_or_else(|| panic!("{stem} is not embedded"));
        assert_eq!(embedded, from_file, "{stem}: the embedded copy is the file");
        assert_eq!(
            builtin_source(&stem),
            Some(std::fs::read_to_string(&path).expect("read").as_str())
        );
        embedded.validate().unwrap_or_else(|e| panic!("{e}"));
        stems.push(stem);
    }
    stems.sort();
    assert_eq!(stems, builtin_names());
}

#[test]
fn loihi_like_is_lava_bit_accurate_cuba_lif() {
    let t = builtin("loihi-like").expect("loihi-like");
    let n = &t.neuron;
    assert_eq!(n.decay, DecayKind::Multiplicative);
    assert_eq!(n.decay_bits, 12);
    assert_eq!(n.current_decay_offset, 1);
    assert_eq!(n.voltage_decay_offset, 0);
    assert_eq!(n.order, UpdateOrder::DecayThenInput);
    assert_eq!(n.accumulate, Accumulate::SumThenAdd);
    assert_eq!(n.spike_test, SpikeTest::Greater);
    assert_eq!(n.reset, Reset::Zero);
    assert_eq!(n.synaptic_delay, 1);
    assert_eq!(n.input_delay, 1);
    assert_eq!(n.refractory_max, 0);
    assert_eq!(n.max_spikes_per_tick, 1);
    let p = &t.precision;
    assert_eq!(p.input_shift, 6);
    assert_eq!(p.threshold_shift, 6);
    assert_eq!(p.threshold_bits, 17);
    assert_eq!(
        (p.current_bits, p.current_overflow),
        (24, Overflow::WrapLava)
    );
    assert_eq!(
        (p.voltage_bits, p.voltage_overflow),
        (24, Overflow::SaturateSymmetric)
    );
    assert_eq!(
        (p.weight_bits, p.weight_encoding),
        (8, WeightEncoding::LoihiSignMode)
    );
    assert_eq!(
        p.weight_exponent,
        WeightExponent {
            scope: ExponentScope::Layer,
            min: -8,
            max: 7
        }
    );
    assert_eq!((p.bias_bits, p.bias_exp_max), (13, 7));
    assert_eq!(t.num_cores(), 128);
    assert_eq!((t.core.neurons, t.core.input_axons), (1024, 4096));
    assert_eq!(t.core.synapse_memory_bits, 128 * 1024 * 8);
    // Lava's sign modes: mixed weights keep 7 magnitude bits at step 2.
    assert_eq!(
        t.weight_grid(SignClass::Mixed),
        WeightGrid {
            lo: -256,
            hi: 254,
            step: 2
        }
    );
    assert_eq!(
        t.weight_grid(SignClass::Excitatory),
        WeightGrid {
            lo: 0,
            hi: 255,
            step: 1
        }
    );
    assert_eq!(
        t.weight_grid(SignClass::Inhibitory),
        WeightGrid {
            lo: -255,
            hi: 0,
            step: 1
        }
    );
}

#[test]
fn xylo_like_is_xylosim() {
    let t = builtin("xylo-like").expect("xylo-like");
    let n = &t.neuron;
    assert_eq!(n.decay, DecayKind::Shift);
    assert!(n.shift_min_step);
    assert_eq!(n.order, UpdateOrder::InputThenDecay);
    assert_eq!(n.accumulate, Accumulate::PerEventSaturating);
    assert_eq!(n.spike_test, SpikeTest::GreaterEqual);
    assert_eq!(n.reset, Reset::Subtract);
    assert_eq!(
        (n.max_spikes_per_tick, n.readout_max_spikes_per_tick),
        (31, 1)
    );
    assert_eq!((n.input_delay, n.synaptic_delay), (0, 1));
    let p = &t.precision;
    assert_eq!(
        (p.current_bits, p.current_overflow),
        (16, Overflow::Saturate)
    );
    assert_eq!(
        (p.voltage_bits, p.voltage_overflow),
        (16, Overflow::Saturate)
    );
    assert_eq!(
        (p.weight_bits, p.weight_encoding),
        (8, WeightEncoding::Signed)
    );
    assert_eq!(
        p.weight_exponent,
        WeightExponent {
            scope: ExponentScope::Layer,
            min: 0,
            max: 7
        }
    );
    assert_eq!(
        (p.input_shift, p.threshold_shift, p.threshold_bits),
        (0, 0, 16)
    );
    // Xylo v1 has no bias; v2 a signed 16-bit one.
    assert_eq!((p.bias_bits, p.bias_exp_max), (0, 0));
    let v2 = builtin("xylo-v2-like").expect("xylo-v2-like");
    assert_eq!((v2.precision.bias_bits, v2.precision.bias_exp_max), (16, 0));
    assert_eq!(t.num_cores(), 1);
    assert_eq!(
        (t.core.neurons, t.core.input_axons, t.core.neuron_rows),
        (1000, 16, true)
    );
    assert_eq!(t.core.synapse_cost, SynapseCost::Crossbar);
    assert_eq!(
        t.weight_grid(SignClass::Mixed),
        WeightGrid {
            lo: -128,
            hi: 127,
            step: 1
        }
    );
}

#[test]
fn truenorth_like_and_tiny_have_their_shapes() {
    let t = builtin("truenorth-like").expect("truenorth-like");
    assert_eq!((t.mesh.width, t.mesh.height), (64, 64));
    assert_eq!((t.core.neurons, t.core.input_axons), (256, 256));
    assert_eq!(t.core.synapse_cost, SynapseCost::Crossbar);
    assert_eq!(
        t.core.synapse_memory_bits,
        256 * 256 * u64::from(t.precision.weight_bits)
    );
    assert!(t.precision.weight_bits <= 4);

    let tiny = builtin("tiny").expect("tiny");
    assert_eq!((tiny.mesh.width, tiny.mesh.height), (2, 2));
    assert_eq!((tiny.core.neurons, tiny.core.input_axons), (16, 32));
    let loihi = builtin("loihi-like").expect("loihi-like");
    assert_eq!(tiny.neuron, loihi.neuron, "tiny has loihi-like dynamics");
    assert_eq!(tiny.precision, loihi.precision);
    // Synapse memory binds before a full 32 x 16 list would.
    assert!(tiny.synapse_bits(32 * 16, 32) > tiny.core.synapse_memory_bits);
}

#[test]
fn resolve_takes_builtin_names_and_paths() {
    assert_eq!(
        resolve("tiny").expect("builtin"),
        builtin("tiny").expect("tiny")
    );
    let path = targets_dir().join("xylo-like.yaml");
    let by_path = resolve(&path.to_string_lossy()).expect("path");
    assert_eq!(by_path.name, "xylo-like");

    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("mine.yaml");
    let text = builtin_source("tiny")
        .expect("tiny")
        .replace("name: tiny", "name: mine");
    std::fs::write(&copy, text).expect("write");
    assert_eq!(resolve(&copy.to_string_lossy()).expect("copy").name, "mine");
}

#[test]
fn resolve_lists_builtins_when_nothing_matches() {
    let err = resolve("loihi").expect_err("no such target");
    assert!(matches!(err, TargetError::UnknownTarget { .. }));
    let msg = err.to_string();
    for name in builtin_names() {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(msg.contains("did you mean `loihi-like`?"), "{msg}");
    assert!(err.problems().is_empty());
}

#[test]
fn io_errors_name_the_file() {
    let err = load("/nonexistent/dir/t.yaml").expect_err("missing file");
    assert!(matches!(err, TargetError::Io { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/dir/t.yaml: "),
        "{err}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, [0xffu8, 0xfe, 0x00, 0x80]).expect("write");
    assert!(matches!(load(&bin), Err(TargetError::Io { .. })));
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, "#".repeat(2 << 20)).expect("write");
    assert!(matches!(load(&big), Err(TargetError::Io { .. })));
}

#[test]
fn validate_checks_targets_built_in_code() {
    let mut t = builtin("loihi-like").expect("loihi-like");
    t.validate().expect("valid");
    t.precision.weight_exponent.min = 9;
    t.core.neurons = 0;
    let err = t.validate().expect_err("invalid");
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["core.neurons", "precision.weight_exponent.max"],
        "{err}"
    );
}
