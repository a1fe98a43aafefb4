//! Issue 15: outputs never destroy inputs, and surprising flags are refused up front.

use crate::util::*;

const CONFIG: &str = "name: tiny\ndata: mnist\ntrain_limit: 200\ntest_limit: 0\nseed: 1\nepochs: 1\nbatch_size: 32\nlayers:\n  - {kind: dense, units: 10}\n";

#[test]
fn train_out_over_its_own_config_is_refused() {
    let dir = tempdir();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let run = lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            &path_str(&cfg),
            "--out",
            &path_str(&cfg),
        ],
    );
    run.fails(1);
    assert!(
        run.stderr.contains("would overwrite the input --config"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), CONFIG);
}

#[test]
fn train_out_over_a_file_that_is_not_a_net_is_refused() {
    let dir = tempdir();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let notes = dir.path().join("notes.yaml");
    std::fs::write(&notes, "shopping: [milk]\n").unwrap();
    let run = lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            &path_str(&cfg),
            "--out",
            &path_str(&notes),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("is not a net"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "shopping: [milk]\n"
    );
}

#[test]
fn compile_json_on_a_directory_fails_before_the_chip_is_written() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let out = dir.path().join("c.chip");
    let run = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&net),
            "--target",
            "loihi-like",
            "--out",
            &path_str(&out),
            "--json",
            &path_str(dir.path()),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("--json"), "{}", run.stderr);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
    assert!(
        !out.exists(),
        "the chip was written before --json was checked"
    );
}

#[test]
fn compile_out_over_a_non_chip_directory_is_refused() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let out = dir.path().join("photos");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("cat.jpg"), "meow").unwrap();
    let run = compile_run(dir.path(), &path_str(&net), "loihi-like", &path_str(&out));
    run.fails(1);
    assert!(
        run.stderr.contains("neither a chip directory nor empty"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(out.join("cat.jpg")).unwrap(),
        "meow"
    );
}

#[test]
fn surprising_flags_are_usage_errors() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let net = path_str(&net);
    for args in [
        &["emulate", "--chip", "c.chip", "--limit", "0"][..],
        &["emulate", "--chip", "c.chip", "--probe-state"][..],
        &["emulate", "--chip", "c.chip", "--split", "tset"][..],
        &["eval", "--net", &net, "--limit", "0"][..],
        &["eval", "--net", &net, "--split", "validation"][..],
        &["eval", "--net", &net, "--synapse", "bogus"][..],
        &[
            "profile", "--net", &net, "--curve", "relu", "--out", "p.json",
        ][..],
        &["profile", "--net", &net, "--limit", "0", "--out", "p.json"][..],
    ] {
        let run = lifchip(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

fn hand_written_chip(dir: &std::path::Path) -> String {
    let chip = dir.join("c.chip");
    compile_ok(
        dir,
        &root().join("examples/hand-written.yaml"),
        "loihi-like",
        &chip,
    );
    path_str(&chip)
}

#[test]
fn spike_files_shorter_ticks_unknown_keys_and_huge_ticks_are_refused() {
    let dir = tempdir();
    let chip = hand_written_chip(dir.path());
    let spikes = dir.path().join("s.json");
    std::fs::write(&spikes, r#"{"ticks": 20, "spikes": [[0, 0], [15, 1]]}"#).unwrap();
    let s = path_str(&spikes);
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            &s,
            "--ticks",
            "5",
        ],
    );
    run.fails(1);
    assert!(
        run.stderr.contains("would drop its spikes"),
        "{}",
        run.stderr
    );
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            &s,
            "--ticks",
            "30",
        ],
    )
    .ok();

    std::fs::write(&spikes, r#"{"ticks": 20, "spikes": [], "tcks": 5}"#).unwrap();
    let run = lifchip(
        dir.path(),
        &["emulate", "--chip", &chip, "--input-spikes", &s],
    );
    run.fails(1);
    assert!(run.stderr.contains("tcks"), "{}", run.stderr);

    std::fs::write(&spikes, r#"{"ticks": 100000000, "spikes": []}"#).unwrap();
    let run = lifchip(
        dir.path(),
        &["emulate", "--chip", &chip, "--input-spikes", &s],
    );
    run.fails(1);
    assert!(
        run.stderr.contains("s.json") && run.stderr.contains("limit 1000000"),
        "{}",
        run.stderr
    );

    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            &s,
            "--ticks",
            "4294967295",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("limit 1000000"), "{}", run.stderr);
}

#[test]
fn train_config_sizes_are_bounded_before_allocation() {
    let dir = tempdir();
    let cfg = dir.path().join("big.yaml");
    std::fs::write(&cfg, CONFIG.replace("units: 10", "units: 100000000")).unwrap();
    let out = dir.path().join("big.net");
    let run = lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            &path_str(&cfg),
            "--out",
            &path_str(&out),
        ],
    );
    run.fails(1);
    assert!(
        run.stderr.contains("big.yaml")
            && run.stderr.contains("layers[0].units")
            && run.stderr.contains("100000000")
            && run.stderr.contains("limit 65536"),
        "{}",
        run.stderr
    );
}

#[test]
fn net_shapes_whose_product_overflows_are_refused() {
    let dir = tempdir();
    let net = dir.path().join("huge.yaml");
    std::fs::write(
        &net,
        "name: huge\npopulations:\n  - {name: in, shape: [4294967296, 4294967296, 1], neuron: {kind: input}}\nprojections: []\n",
    )
    .unwrap();
    let run = compile_run(dir.path(), &path_str(&net), "tiny", "c.chip");
    run.fails(1);
    assert!(
        run.stderr.contains("huge.yaml") && run.stderr.contains("16777216"),
        "{}",
        run.stderr
    );
}

/// Issue 15: a negative weight or bias out of range is printed with its sign and the bound it
/// broke (not its magnitude against the upper limit).
#[test]
fn violations_keep_the_sign_and_name_the_bound_broken() {
    let dir = tempdir();
    let hand = std::fs::read_to_string(root().join("examples/hand-written.yaml")).unwrap();
    assert!(hand.contains("weights: [-120]") && hand.contains("bias: [0, 0]"));
    let net = dir.path().join("signed.yaml");
    std::fs::write(
        &net,
        hand.replace("weights: [-120]", "weights: [-120000]")
            .replace("bias: [0, 0]", "bias: [-4097, 0]"),
    )
    .unwrap();
    let json = dir.path().join("c.json");
    let run = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&net),
            "--target",
            "loihi-like",
            "--out",
            &path_str(&dir.path().join("c.chip")),
            "--json",
            &path_str(&json),
        ],
    );
    run.fails(1);
    // The violations name the net file they come from.
    assert!(
        run.stderr.contains(&format!("--net {}: ", path_str(&net))),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("weight is -120000 (limit -"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("bias is -4097 (limit -4096)"),
        "{}",
        run.stderr
    );
    let r = read_json(&json);
    let weight = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "weight")
        .unwrap();
    assert_eq!(weight["value"], -120000);
    assert!(weight["limit"].as_i64().unwrap() < 0, "{weight}");
}

/// Issue 15: a chip_lif population without `bias` takes the default (0), in a net file and in
/// a net directory alike.
#[test]
fn chip_lif_without_bias_defaults_to_zero() {
    let dir = tempdir();
    let hand = std::fs::read_to_string(root().join("examples/hand-written.yaml")).unwrap();
    let net = dir.path().join("nobias.yaml");
    std::fs::write(&net, hand.replace("      bias: [0, 0]\n", "")).unwrap();
    assert!(!std::fs::read_to_string(&net).unwrap().contains("bias:"));
    let chip = dir.path().join("c.chip");
    compile_ok(dir.path(), &net, "loihi-like", &chip);
}

/// Issue 15: a label with no readout neuron names the data and the image, not a class count.
#[test]
fn a_label_beyond_the_readout_names_the_data_and_the_image() {
    let dir = tempdir();
    let chip = dir.path().join("hand.chip");
    compile_ok(
        dir.path(),
        &root().join("examples/hand-written.yaml"),
        "loihi-like",
        &chip,
    );
    // Three 1x2 images (the net has 2 inputs and 2 readout neurons); image 2 is labelled 255.
    let data = dir.path().join("bad-labels");
    std::fs::create_dir(&data).unwrap();
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2];
    images.extend_from_slice(&[10, 200, 200, 10, 0, 0]);
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3];
    labels.extend_from_slice(&[0, 1, 255]);
    for split in ["train", "t10k"] {
        std::fs::write(data.join(format!("{split}-images-idx3-ubyte")), &images).unwrap();
        std::fs::write(data.join(format!("{split}-labels-idx1-ubyte")), &labels).unwrap();
    }
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--data",
            &path_str(&data),
            "--ticks",
            "5",
        ],
    );
    run.fails(1);
    for want in ["bad-labels", "image 2", "label 255", "2 neurons"] {
        assert!(run.stderr.contains(want), "lacks {want:?}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("256 classes"), "{}", run.stderr);
}

/// Issue 15: an input population can be probed: its spike ticks are the input file's.
#[test]
fn input_populations_can_be_probed() {
    let dir = tempdir();
    let chip = dir.path().join("hand.chip");
    compile_ok(
        dir.path(),
        &root().join("examples/hand-written.yaml"),
        "loihi-like",
        &chip,
    );
    let out = dir.path().join("e.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&root().join("examples/hand-written-spikes.json")),
            "--probe",
            "in",
            "--json",
            &path_str(&out),
        ],
    )
    .ok();
    let probes = read_json(&out)["probes"].clone();
    let ticks = |k: usize| -> Vec<u64> {
        probes[k]["spike_ticks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap())
            .collect()
    };
    assert_eq!(probes.as_array().unwrap().len(), 2, "{probes}");
    assert_eq!(probes[0]["population"], "in");
    assert_eq!(ticks(0), [0, 1, 2, 8, 9, 10]);
    assert_eq!(ticks(1), [0, 1, 2, 3, 4, 5, 6, 7]);
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&root().join("examples/hand-written-spikes.json")),
            "--probe",
            "nope",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("in, out"), "{}", run.stderr);
}

/// Issue 15: a serde error gives its location once, and a huge bad value is not echoed in full.
#[test]
fn config_errors_give_the_location_once_and_cut_long_values() {
    let dir = tempdir();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, CONFIG.replace("units: 10", "units: -16")).unwrap();
    let run = lifchip(
        dir.path(),
        &["train", "--config", &path_str(&cfg), "--out", "o.net"],
    );
    run.fails(1);
    assert!(run.stderr.contains("-16"), "{}", run.stderr);
    assert!(!run.stderr.contains(" at line "), "{}", run.stderr);
    let huge = "x".repeat(2_000_000);
    std::fs::write(
        &cfg,
        CONFIG.replace("seed: 1", &format!("seed: \"{huge}\"")),
    )
    .unwrap();
    let run = lifchip(
        dir.path(),
        &["train", "--config", &path_str(&cfg), "--out", "o.net"],
    );
    run.fails(1);
    assert!(
        run.stderr.contains("seed") || run.stderr.contains("string"),
        "{}",
        &run.stderr[..run.stderr.len().min(300)]
    );
    assert!(
        run.stderr.len() < 1000,
        "{} bytes of stderr",
        run.stderr.len()
    );
    assert!(run.stderr.contains('…'), "{}", run.stderr);
    let net = dir.path().join("net.yaml");
    std::fs::write(&net, format!("name: \"{huge}\"\npopulations: 7\n")).unwrap();
    let run = compile_run(dir.path(), &path_str(&net), "tiny", "c.chip");
    run.fails(1);
    assert!(
        run.stderr.len() < 1000,
        "{} bytes of stderr",
        run.stderr.len()
    );
}

/// Issue 15: a wrong value inside a tagged entry is reported at its field, with the file, and
/// no location pointing at the enclosing list or printed twice.
#[test]
fn yaml_type_errors_name_the_field() {
    let dir = tempdir();
    let hand = std::fs::read_to_string(root().join("examples/hand-written.yaml")).unwrap();
    let net = dir.path().join("nan.yaml");
    assert!(hand.contains("threshold: 100 "));
    std::fs::write(
        &net,
        hand.replacen("threshold: 100 ", "threshold: .nan ", 1),
    )
    .unwrap();
    let run = compile_run(dir.path(), &path_str(&net), "loihi-like", "c.chip");
    run.fails(1);
    assert!(
        run.stderr
            .contains(&format!("{}: populations[", path_str(&net)))
            && run.stderr.contains(
                "].neuron.threshold: NaN is not an integer (chip-unit parameters are integers)"
            ),
        "{}",
        run.stderr
    );
    let config = dir.path().join("cfg.yaml");
    std::fs::write(
        &config,
        "epochs: 1\nlayers:\n  - {kind: dense, units: 10}\n  - kind: dense\n    units: -16\n",
    )
    .unwrap();
    let run = lifchip(
        dir.path(),
        &["train", "--config", &path_str(&config), "--out", "n.yaml"],
    );
    run.fails(1);
    assert!(
        run.stderr.contains(&format!(
            "{}: layers[1].units: invalid value: integer `-16`, expected usize",
            path_str(&config)
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("line"), "{}", run.stderr);
}

/// Issue 15: weights inside the range but off the target's grid — an `avg_pool` in a chip-unit
/// net (1/4 each) or an odd weight where the step is 2 — are refused with the value found, not
/// truncated, and the message states no bound (none was broken).
#[test]
fn off_grid_chip_unit_weights_are_refused_without_a_misleading_limit() {
    let dir = tempdir();
    let pooled = dir.path().join("pooled.yaml");
    std::fs::write(
        &pooled,
        "name: pooled\npopulations:\n  - name: in\n    shape: [1, 4, 4]\n    neuron: {kind: input}\n  \
         - name: out\n    shape: [1, 2, 2]\n    neuron: {kind: chip_lif, current_decay: 1024, \
         voltage_decay: 256, threshold: 100}\nprojections:\n  - name: pool\n    from: in\n    \
         to: out\n    ops:\n      - {kind: avg_pool, size: [2, 2]}\n",
    )
    .unwrap();
    let hand = std::fs::read_to_string(root().join("examples/hand-written.yaml")).unwrap();
    let odd = dir.path().join("odd.yaml");
    // Weights of both signs: the grid is signed 8-bit in steps of 2, so 61 is off it.
    std::fs::write(
        &odd,
        hand.replace("[[60, 0],", "[[61, 0],")
            .replace("[0, 60]]", "[0, -60]]"),
    )
    .unwrap();
    for (net, expected) in [
        (
            &pooled,
            "must be integers in 0..=255 on this target; found 0.25",
        ),
        (
            &odd,
            "must be integer multiples of 2 in -256..=254 on this target; found 61",
        ),
    ] {
        let chip = dir.path().join("c.chip");
        let run = compile_run(dir.path(), &path_str(net), "loihi-like", &path_str(&chip));
        run.fails(1);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(!run.stderr.contains("(limit"), "{}", run.stderr);
        assert!(!chip.exists());
    }
}
