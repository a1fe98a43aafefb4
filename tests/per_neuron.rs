//! Per-neuron registers of `chip_lif` populations through the CLI: a net with one threshold
//! and decay per neuron compiles, emulates and exports for Xylo; bad lists and values, a bias
//! on Xylo v1 and a second current onto Xylo's readout are refused at compile time with the
//! file, population, neuron, field and allowed range.

use crate::util::*;

/// 2 inputs → `hid` (3 neurons, per-neuron decays and thresholds) → `out` (1 readout).
const NET: &str = r#"name: per-neuron
readout: out
populations:
  - {name: in, shape: [2], neuron: {kind: input}}
  - name: hid
    shape: [3]
    neuron: {kind: chip_lif, current_decay: [4, 4, 5], current_decay_2: 4, voltage_decay: [15, 15, 14], threshold: [20, 400, 4000]}
  - name: out
    shape: [1]
    neuron: {kind: chip_lif, current_decay: 2, voltage_decay: 3, threshold: 30000}
projections:
  - {name: a, from: in, to: hid, current: 2, ops: [{kind: dense, weights: [[9, 9], [9, 9], [9, 9]]}]}
  - {name: b, from: hid, to: out, current: 1, ops: [{kind: dense, weights: [[1, 1, 1]]}]}
"#;

const SPIKES: &str = r#"{"ticks": 40, "spikes": [[0, 0, 5], [0, 1, 5], [8, 0, 5], [8, 1, 5], [16, 0, 5], [16, 1, 5]]}"#;

fn write_net(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path_str(&path)
}

fn compile(dir: &std::path::Path, net: &str, target: &str) -> Run {
    let out = dir.join(format!("{target}.chip"));
    compile_run(dir, net, target, &path_str(&out))
}

#[test]
fn per_neuron_registers_compile_emulate_and_export() {
    let dir = tempdir();
    let net = write_net(dir.path(), "pn.yaml", NET);
    compile(dir.path(), &net, "xylo-like").ok();
    let chip = path_str(&dir.path().join("xylo-like.chip"));
    let spikes = write_net(dir.path(), "spikes.json", SPIKES);
    let report = dir.path().join("emu.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &chip,
            "--input-spikes",
            &spikes,
            "--probe",
            "hid",
            "--json",
            &path_str(&report),
        ],
    )
    .ok();
    let json = read_json(&report);
    let probes = json["probes"].as_array().unwrap();
    let counts: Vec<usize> = (0..3)
        .map(|n| {
            probes.iter().find(|p| p["neuron"] == n).unwrap()["spike_ticks"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    // One input row, thresholds 20 < 400 < 4000: the registers differ per neuron on the chip.
    assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
    // The same net with the population's first values for all neurons: all three alike.
    let scalar = NET
        .replace("[4, 4, 5]", "4")
        .replace("[15, 15, 14]", "15")
        .replace("[20, 400, 4000]", "20");
    let dir2 = tempdir();
    let net2 = write_net(dir2.path(), "pn.yaml", &scalar);
    compile(dir2.path(), &net2, "xylo-like").ok();
    lifchip(
        dir2.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&dir2.path().join("xylo-like.chip")),
            "--input-spikes",
            &spikes,
            "--probe",
            "hid",
            "--json",
            &path_str(&report),
        ],
    )
    .ok();
    let json = read_json(&report);
    let same: Vec<usize> = json["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spike_ticks"].as_array().unwrap().len())
        .collect();
    assert_eq!(same, vec![counts[0]; 3]);
    // The Xylo export takes the per-neuron registers.
    lifchip(
        dir.path(),
        &[
            "export-chip",
            &chip,
            "--backend",
            "xylo",
            "--out",
            &path_str(&dir.path().join("pn.xylo")),
        ],
    )
    .ok();
    assert!(dir.path().join("pn.xylo/spec.npz").is_file());
}

#[test]
fn bad_lists_and_values_are_refused_with_file_population_neuron_field_and_range() {
    let dir = tempdir();
    // A list of the wrong length: refused when the net loads.
    let short = write_net(
        dir.path(),
        "short.yaml",
        &NET.replace("[20, 400, 4000]", "[20, 400]"),
    );
    let run = compile(dir.path(), &short, "xylo-like");
    run.fails(1);
    for needle in [
        "short.yaml",
        "populations[1] (hid): chip_lif threshold has 2 values, expected one integer or a list of 3 (one per neuron)",
    ] {
        assert!(run.stderr.contains(needle), "{needle:?} in {}", run.stderr);
    }
    // Values outside the target's ranges: every one, at compile time.
    let bad = write_net(
        dir.path(),
        "bad.yaml",
        &NET.replace("[20, 400, 4000]", "[20, 70000, 4000]")
            .replace("[4, 4, 5]", "[4, 4, 16]"),
    );
    let run = compile(dir.path(), &bad, "xylo-like");
    run.fails(1);
    for needle in [
        "bad.yaml",
        "population hid neuron 1: threshold is 70000 (limit 65535); threshold must be in 0..=65535 (16 bits)",
        "population hid neuron 2: current_decay is 16 (limit 15); current_decay must be in 0..=15",
    ] {
        assert!(run.stderr.contains(needle), "{needle:?} in {}", run.stderr);
    }
    assert!(!dir.path().join("xylo-like.chip").exists());
}

#[test]
fn xylo_v1_bias_and_a_second_current_onto_the_readout_are_refused_at_compile_time() {
    let dir = tempdir();
    let biased = write_net(
        dir.path(),
        "biased.yaml",
        &NET.replace(
            "threshold: [20, 400, 4000]}",
            "threshold: [20, 400, 4000], bias: [0, 7, 0]}",
        ),
    );
    let run = compile(dir.path(), &biased, "xylo-like");
    run.fails(1);
    assert!(
        run.stderr
            .contains("population hid neuron 1: bias is 7 (limit 0); bias must be 0: the target's neurons have no bias"),
        "{}",
        run.stderr
    );
    // Xylo v2 has a bias.
    compile(dir.path(), &biased, "xylo-v2-like").ok();
    let readout2 = write_net(
        dir.path(),
        "readout2.yaml",
        &NET.replace("to: out, current: 1", "to: out, current: 2"),
    );
    for target in ["xylo-like", "xylo-v2-like"] {
        let run = compile(dir.path(), &readout2, target);
        run.fails(1);
        assert!(
            run.stderr
                .contains("projection b: synaptic_current is 2 (limit 1)")
                && run.stderr.contains("readout population out"),
            "{}",
            run.stderr
        );
    }
}
