//! `export-chip` through the CLI: the Xylo example exports, a loihi-like CHIPDIR is refused
//! with every reason and leaves nothing; the Lava export of a loihi-like CHIPDIR (its run
//! against lava-nc itself is `crates/backend-lava/tests/lava_agreement.rs`).

use crate::util::*;

fn compile(dir: &std::path::Path, net: &str, target: &str) -> std::path::PathBuf {
    let chip = dir.join(format!("{target}.chip"));
    compile_ok(dir, &root().join(net), target, &chip);
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
    emulate_spikes_ok(dir.path(), &chip, &spikes, &report);
    // The same ticks with one spike per entry: far fewer synaptic events, so the counts were
    // expanded (channel 0 has 2 synapses: 15 spikes give 30 events at tick 0 alone).
    let with_counts = read_json(&report)["synaptic_events"].as_u64().unwrap();
    let single = dir.path().join("single.json");
    std::fs::write(
        &single,
        r#"{"ticks": 8, "spikes": [[0, 0], [1, 1], [2, 0]]}"#,
    )
    .unwrap();
    emulate_spikes_ok(dir.path(), &chip, &single, &report);
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

/// A net the size of the real chip in xylo-like units: 16 input channels, `hidden` neurons
/// with 100 recurrent synapses each (when `recurrent`), 8 readout neurons. Weights come from
/// a fixed xorshift, so the file is the same on every run.
fn xylo_full_size_yaml(hidden: usize, recurrent: bool) -> (String, usize) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |lo: i64, hi: i64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lo + (state % (hi - lo + 1) as u64) as i64
    };
    let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let chip_lif = |n: usize, threshold: i64| {
        format!(
            "    neuron: {{kind: chip_lif, current_decay: 2, voltage_decay: 4, threshold: \
             {threshold}, bias: [{}]}}\n",
            list(&vec![0; n])
        )
    };
    let mut y = String::from("name: xylo-full-size\nreadout: out\npopulations:\n");
    y += "  - name: in\n    shape: [16]\n    neuron: {kind: input}\n";
    y += &format!(
        "  - name: hidden\n    shape: [{hidden}]\n{}",
        chip_lif(hidden, 1500)
    );
    y += &format!("  - name: out\n    shape: [8]\n{}", chip_lif(8, 4000));
    y += "projections:\n  - name: in_hidden\n    from: in\n    to: hidden\n    weight_exp: 4\n";
    y += "    ops:\n      - kind: dense\n        weights:\n";
    for _ in 0..hidden {
        let row: Vec<i64> = (0..16).map(|_| next(-20, 60)).collect();
        y += &format!("          - [{}]\n", list(&row));
    }
    let mut synapses = 0;
    if recurrent {
        let (mut pre, mut post, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..hidden {
            // 101 is prime to 1000: the 100 targets of a neuron are distinct.
            for k in 0..100 {
                pre.push(i as i64);
                post.push(((i * 37 + k * 101 + 1) % hidden) as i64);
                let mut weight = next(-12, 8);
                if weight == 0 {
                    weight = 1;
                }
                w.push(weight);
            }
        }
        synapses = w.len();
        y += "  - name: hidden_hidden\n    from: hidden\n    to: hidden\n    weight_exp: 3\n";
        y += &format!(
            "    ops:\n      - kind: sparse\n        outputs: {hidden}\n        pre: [{}]\n        \
             post: [{}]\n        weights: [{}]\n",
            list(&pre),
            list(&post),
            list(&w)
        );
    }
    y += "  - name: hidden_out\n    from: hidden\n    to: out\n    weight_exp: 1\n";
    y += "    ops:\n      - kind: dense\n        weights:\n";
    for _ in 0..8 {
        let row: Vec<i64> = (0..hidden).map(|_| next(-30, 40)).collect();
        y += &format!("          - [{}]\n", list(&row));
    }
    (y, synapses)
}

/// The shape of one array in an uncompressed `.npz` and its non-zero count.
fn npz_array(path: &std::path::Path, name: &str) -> (Vec<u64>, usize) {
    let file = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let entry = zip.by_name(&format!("{name}.npy")).unwrap();
    let npy = npyz::NpyFile::new(std::io::BufReader::new(entry)).unwrap();
    let shape = npy.shape().to_vec();
    let values: Vec<i8> = npy.into_vec().unwrap();
    (shape, values.iter().filter(|&&v| v != 0).count())
}

#[test]
fn a_full_size_xylo_net_compiles_emulates_and_exports() {
    let dir = tempdir();
    let (yaml, synapses) = xylo_full_size_yaml(1000, true);
    let net = dir.path().join("full.yaml");
    std::fs::write(&net, yaml).unwrap();
    let chip = dir.path().join("full.chip");
    let spikes = dir.path().join("spikes.json");
    let events: Vec<String> = (0..30)
        .flat_map(|t| {
            (0..16)
                .filter(move |c| (t * 7 + c * 3) % 5 == 0)
                .map(move |c| format!("[{t}, {c}, 2]"))
        })
        .collect();
    std::fs::write(
        &spikes,
        format!(r#"{{"ticks": 30, "spikes": [{}]}}"#, events.join(", ")),
    )
    .unwrap();
    let out = dir.path().join("full.xylo");
    for v in ["xylo-like", "xylo-v2-like"] {
        compile_ok(dir.path(), &net, v, &chip);
        let report = dir.path().join("emu.json");
        emulate_spikes_ok(dir.path(), &chip, &spikes, &report);
        assert!(read_json(&report)["synaptic_events"].as_u64().unwrap() > 0);
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
                .contains("16 input channels, 1000 hidden and 8 readout neurons"),
            "{v}: {}",
            run.stdout
        );
        let spec = out.join("spec.npz");
        // Every recurrent synapse is in the first synaptic current's recurrent matrix.
        let (shape, nonzero) = npz_array(&spec, "weights_rec");
        assert_eq!(shape, [1000, 1000, 2], "{v}");
        assert_eq!(nonzero, synapses, "{v}");
        let (shape, _) = npz_array(&spec, "weights_in");
        assert_eq!(shape, [16, 1000, 2], "{v}");
        let (shape, nonzero) = npz_array(&spec, "weights_out");
        assert_eq!(shape, [1000, 8], "{v}");
        assert!(nonzero > 7000, "{v}: {nonzero}");
    }
    // One hidden neuron more than the chip has: refused, naming the limit.
    let (yaml, _) = xylo_full_size_yaml(1001, false);
    std::fs::write(&net, yaml).unwrap();
    let too_big = dir.path().join("too-big.chip");
    let run = compile_run(
        dir.path(),
        &path_str(&net),
        "xylo-like",
        &path_str(&too_big),
    );
    run.fails(1);
    assert!(run.stderr.contains("core.neurons"), "{}", run.stderr);
    assert!(!too_big.exists());
}
