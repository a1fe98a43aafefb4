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
