//! `export-chip` through the CLI: the Xylo example exports, a loihi-like CHIPDIR is refused
//! with every reason and leaves nothing, `lava` says it is not built.

use crate::util::*;

fn compile(dir: &std::path::Path, net: &str, target: &str) -> std::path::PathBuf {
    let chip = dir.join(format!("{target}.chip"));
    lifchip(
        dir,
        &[
            "compile",
            "--net",
            &path_str(&root().join(net)),
            "--target",
            target,
            "--out",
            &path_str(&chip),
        ],
    )
    .ok();
    chip
}

#[test]
fn xylo_example_exports_with_its_input_raster() {
    let dir = tempdir();
    let chip = compile(dir.path(), "examples/xylo-hand-written.yaml", "xylo-like");
    let out = dir.path().join("xh.xylo");
    let spikes = root().join("examples/xylo-hand-written-spikes.json");
    let run = lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&out),
            "--input-spikes",
            &path_str(&spikes),
        ],
    );
    run.ok();
    assert!(
        run.stdout
            .contains("4 input channels, 6 hidden and 2 readout neurons"),
        "{}",
        run.stdout
    );
    for file in ["spec.npz", "xylo.json", "lifchip_xylo.py", "input.npy"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let manifest = read_json(&out.join("xylo.json"));
    assert_eq!(manifest["readout_population"], "readout");
    assert_eq!(manifest["generation"], "v1");
    // The same CHIPDIR exports to the same bytes.
    let first = std::fs::read(out.join("spec.npz")).unwrap();
    lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&out),
        ],
    )
    .ok();
    assert_eq!(std::fs::read(out.join("spec.npz")).unwrap(), first);
}

#[test]
fn loihi_chipdir_is_refused_with_every_reason_and_nothing_written() {
    let dir = tempdir();
    let chip = compile(dir.path(), "examples/hand-written.yaml", "loihi-like");
    let out = dir.path().join("hand.xylo");
    let run = lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&out),
        ],
    );
    run.fails(1);
    for needle in [
        "cannot be expressed on Xylo (18 problems)",
        "neuron.order: DecayThenInput; Xylo allows input_then_decay",
        "current_decay (dash_syn): 1024; Xylo allows 0..=15",
        "readout spikes leave the chip",
        "inputs onto hidden neurons only",
    ] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?}:\n{}",
            run.stderr
        );
    }
    assert!(!out.exists());
    let run = lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "lava",
            "--out",
            &path_str(&out),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("not built"), "{}", run.stderr);
}

#[test]
fn spike_counts_drive_the_emulator_and_xylo_input_limit_is_enforced() {
    let dir = tempdir();
    let chip = compile(dir.path(), "examples/xylo-hand-written.yaml", "xylo-like");
    let spikes = dir.path().join("counts.json");
    std::fs::write(
        &spikes,
        r#"{"ticks": 8, "spikes": [[0, 0, 15], [1, 1, 3], [2, 0]]}"#,
    )
    .unwrap();
    let report = dir.path().join("emu.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
            "--json",
            &path_str(&report),
        ],
    )
    .ok();
    // The same ticks with one spike per entry: far fewer synaptic events, so the counts were
    // expanded (channel 0 has 2 synapses: 15 spikes give 30 events at tick 0 alone).
    let with_counts = read_json(&report)["synaptic_events"].as_u64().unwrap();
    let single = dir.path().join("single.json");
    std::fs::write(
        &single,
        r#"{"ticks": 8, "spikes": [[0, 0], [1, 1], [2, 0]]}"#,
    )
    .unwrap();
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&single),
            "--json",
            &path_str(&report),
        ],
    )
    .ok();
    let without = read_json(&report)["synaptic_events"].as_u64().unwrap();
    assert!(with_counts >= without + 28, "{with_counts} vs {without}");
    let out = dir.path().join("c.xylo");
    lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&out),
            "--input-spikes",
            &path_str(&spikes),
        ],
    )
    .ok();
    std::fs::write(&spikes, r#"{"ticks": 2, "spikes": [[1, 2, 16]]}"#).unwrap();
    let run = lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&dir.path().join("d.xylo")),
            "--input-spikes",
            &path_str(&spikes),
        ],
    );
    run.fails(1);
    assert!(
        run.stderr
            .contains("tick 1, channel 2: 16 spikes; Xylo takes at most 15"),
        "{}",
        run.stderr
    );
}
