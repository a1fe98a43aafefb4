//! `export-chip` through the CLI: the Xylo example exports, a loihi-like CHIPDIR is refused
//! with every reason and leaves nothing; the Lava export of a loihi-like CHIPDIR (its run
//! against lava-nc itself is `crates/backend-lava/tests/lava_agreement.rs`).

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
}

#[test]
fn lava_export_of_the_hand_written_net() {
    let dir = tempdir();
    let chip = compile(dir.path(), "examples/hand-written.yaml", "loihi-like");
    let spikes = path_str(&root().join("examples/hand-written-spikes.json"));
    let export = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "export-chip".to_string(),
            path_str(&chip),
            "--backend".into(),
            "lava".into(),
            "--out".into(),
            path_str(out),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lifchip(dir.path(), &args)
    };
    let a = dir.path().join("a.lava");
    let b = dir.path().join("b.lava");
    export(&a, &["--input-spikes", &spikes]).ok();
    export(&b, &["--input-spikes", &spikes]).ok();
    for file in [
        "network.py",
        "program.json",
        "input.npy",
        "compartments.npy",
    ] {
        let bytes = std::fs::read(a.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            bytes,
            std::fs::read(b.join(file)).unwrap(),
            "{file} deterministic"
        );
    }
    let program = read_json(&a.join("program.json"));
    assert_eq!(program["format"], "lifchip-lava");
    // The run's length: the file's ticks, or --ticks.
    let file_ticks = read_json(std::path::Path::new(&spikes))["ticks"].clone();
    assert_eq!(program["ticks"], file_ticks);
    export(&a, &["--input-spikes", &spikes, "--ticks", "7"]).ok();
    assert_eq!(read_json(&a.join("program.json"))["ticks"], 7);

    // No run length: refused, nothing written.
    let c = dir.path().join("c.lava");
    let r = export(&c, &[]);
    r.fails(1);
    assert!(r.stderr.contains("--ticks"), "{}", r.stderr);
    assert!(!c.exists());
    // Never over an input, nor over a directory that is not an earlier program.
    let r = export(&chip, &["--ticks", "5"]);
    r.fails(1);
    assert!(chip.join("manifest.json").is_file());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    export(&other, &["--ticks", "5"]).fails(1);
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
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

#[test]
fn compile_exports_for_a_backend_on_the_way() {
    let dir = tempdir();
    let chip = dir.path().join("xh.chip");
    let xylo = dir.path().join("xh.xylo");
    let spikes = path_str(&root().join("examples/xylo-hand-written-spikes.json"));
    lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&root().join("examples/xylo-hand-written.yaml")),
            "--target",
            "xylo-like",
            "--out",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--backend-out",
            &path_str(&xylo),
            "--backend-input-spikes",
            &spikes,
        ],
    )
    .ok();
    // The same files as export-chip of the compiled CHIPDIR.
    let again = dir.path().join("again.xylo");
    lifchip(
        dir.path(),
        &[
            "export-chip",
            &path_str(&chip),
            "--backend",
            "xylo",
            "--out",
            &path_str(&again),
            "--input-spikes",
            &spikes,
        ],
    )
    .ok();
    for file in ["spec.npz", "xylo.json", "input.npy"] {
        assert_eq!(
            std::fs::read(xylo.join(file)).unwrap(),
            std::fs::read(again.join(file)).unwrap(),
            "{file}"
        );
    }

    let lava = dir.path().join("hand.lava");
    lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&root().join("examples/hand-written.yaml")),
            "--target",
            "loihi-like",
            "--out",
            &path_str(&dir.path().join("hand.chip")),
            "--backend",
            "lava",
            "--backend-out",
            &path_str(&lava),
            "--backend-ticks",
            "12",
        ],
    )
    .ok();
    assert_eq!(read_json(&lava.join("program.json"))["ticks"], 12);
    // --backend needs --backend-out (a usage error).
    lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&root().join("examples/hand-written.yaml")),
            "--target",
            "loihi-like",
            "--out",
            &path_str(&dir.path().join("h2.chip")),
            "--backend",
            "lava",
        ],
    )
    .fails(2);
}
