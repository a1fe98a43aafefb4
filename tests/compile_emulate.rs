//! `compile` then `emulate` through the CLI, on the hand-written net and on small trained nets.

use crate::util::*;

#[test]
fn hand_written_net_compiles_and_runs_tick_by_tick() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let chip = dir.path().join("hand.chip");
    let report = dir.path().join("compile.json");
    let run = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&net),
            "--target",
            "loihi-like",
            "--out",
            &path_str(&chip),
            "--json",
            &path_str(&report),
        ],
    );
    run.ok();
    let r = read_json(&report);
    assert_eq!(r["target"], "loihi-like");
    assert_eq!(r["neurons"], 2);
    assert_eq!(r["synapses"], 3);
    assert_eq!(r["cores_used"], 1);
    assert_eq!(r["violations"].as_array().map(Vec::len), Some(0));
    for key in [
        "cores_lower_bound",
        "per_core",
        "inter_core_spike_packets_estimate",
        "max_link_load",
        "compile_seconds",
        "quantization",
    ] {
        assert!(r.get(key).is_some(), "report lacks {key}");
    }
    // report.json is the --json report without its wall-clock figures.
    let mut timeless = r.clone();
    let fields = timeless.as_object_mut().unwrap();
    assert!(fields.remove("compile_seconds").is_some());
    assert!(fields.remove("pass_seconds").is_some());
    assert_eq!(read_json(&chip.join("report.json")), timeless);

    let spikes = root().join("examples/hand-written-spikes.json");
    let out = dir.path().join("emulate.json");
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
            "--probe",
            "all",
            "--probe-state",
            "--json",
            &path_str(&out),
        ],
    );
    run.ok();
    let e = read_json(&out);
    assert_eq!(e["samples"], 1);
    assert_eq!(e["ticks_per_sample"], 20);
    let probes = e["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0]["v"].as_array().map(Vec::len), Some(20));
    // Neuron 1 gets input every tick from 0 to 7: it must fire; the emulator agrees with the
    // tick-by-tick hand computation in docs/core-model.md.
    assert!(!probes[1]["spike_ticks"].as_array().unwrap().is_empty());
    for key in [
        "spikes",
        "synaptic_events",
        "cycles_per_tick_mean",
        "cycles_per_tick_max",
        "latency_seconds_per_sample",
        "energy_joules_per_sample",
        "wall_seconds",
        "synaptic_events_per_second",
    ] {
        assert!(e.get(key).is_some(), "report lacks {key}");
    }
}

#[test]
fn impossible_mapping_lists_violations_and_writes_no_chipdir() {
    let dir = tempdir();
    // 40 inputs into each neuron exceeds tiny's 32 input axons.
    let mut yaml = String::from(
        "name: wide\npopulations:\n  - {name: in, shape: [40], neuron: {kind: input}}\n",
    );
    yaml.push_str("  - {name: out, shape: [20], neuron: {kind: chip_lif, current_decay: 0, voltage_decay: 0, threshold: 10, bias: 0}}\n");
    yaml.push_str("projections:\n  - name: w\n    from: in\n    to: out\n    ops:\n      - kind: dense\n        weights: {shape: [20, 40], values: [");
    yaml.push_str(&vec!["2"; 800].join(", "));
    yaml.push_str("]}\n");
    let net = dir.path().join("wide.yaml");
    std::fs::write(&net, yaml).unwrap();
    let chip = dir.path().join("wide.chip");
    let json = dir.path().join("report.json");
    let run = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &path_str(&net),
            "--target",
            "tiny",
            "--out",
            &path_str(&chip),
            "--json",
            &path_str(&json),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("input_axons"), "{}", run.stderr);
    assert!(run.stderr.contains("population out"), "{}", run.stderr);
    assert!(!chip.exists());
    let r = read_json(&json);
    let v = &r["violations"][0];
    assert_eq!(v["kind"], "input_axons");
    assert_eq!(v["value"], 40);
    assert_eq!(v["limit"], 32);
    assert!(v["where"].as_str().unwrap().contains("out"));
}

#[test]
fn emulate_rejects_bad_requests() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let chip = dir.path().join("hand.chip");
    compile_ok(dir.path(), &net, "loihi-like", &chip);
    // Zero ticks.
    let spikes = root().join("examples/hand-written-spikes.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
            "--ticks",
            "0",
        ],
    )
    .fails(1);
    // A spike on an input that does not exist.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"ticks": 5, "spikes": [[0, 7]]}"#).unwrap();
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&bad),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("spikes[0]"), "{}", run.stderr);
    // MNIST images do not fit a 2-input chip.
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--data",
            "mnist",
            "--limit",
            "3",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("784"), "{}", run.stderr);
    // A damaged CHIPDIR.
    let cores = chip.join("cores.bin");
    let mut bytes = std::fs::read(&cores).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 3);
    std::fs::write(&cores, bytes).unwrap();
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("cores.bin"), "{}", run.stderr);
}

#[test]
fn exact_check_proves_the_partition_or_reports_its_gap() {
    let dir = tempdir();
    let net = path_str(&root().join("examples/hand-written.yaml"));
    let chip = dir.path().join("hand.chip");
    let report = dir.path().join("compile.json");
    let run = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &net,
            "--target",
            "loihi-like",
            "--out",
            &path_str(&chip),
            "--json",
            &path_str(&report),
            "--exact",
            "--time-limit",
            "5",
        ],
    );
    run.ok();
    assert!(
        run.stdout.contains("exact check: optimal"),
        "{}",
        run.stdout
    );
    let exact = &read_json(&report)["exact"];
    assert_eq!(exact["status"], "optimal");
    assert_eq!(exact["gap"], 0);
    assert_eq!(exact["heuristic_cores"], 1);
    assert_eq!(exact["time_limit_seconds"], 5.0);

    // Without --exact the report carries no exact section.
    let plain = dir.path().join("plain.json");
    lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &net,
            "--target",
            "loihi-like",
            "--out",
            &path_str(&dir.path().join("plain.chip")),
            "--json",
            &path_str(&plain),
        ],
    )
    .ok();
    assert!(read_json(&plain)["exact"].is_null());

    for bad in ["0", "-1", "nan"] {
        let out = dir.path().join("bad.chip");
        let r = lifchip(
            dir.path(),
            &[
                "compile",
                "--net",
                &net,
                "--target",
                "loihi-like",
                "--out",
                &path_str(&out),
                "--exact",
                "--time-limit",
                bad,
            ],
        );
        assert_ne!(r.code, 0, "--time-limit {bad}");
        assert!(r.stderr.contains("--time-limit"), "{}", r.stderr);
        assert!(!out.exists());
    }
    // --time-limit means nothing without --exact.
    let r = lifchip(
        dir.path(),
        &[
            "compile",
            "--net",
            &net,
            "--target",
            "loihi-like",
            "--out",
            &path_str(&dir.path().join("x.chip")),
            "--time-limit",
            "3",
        ],
    );
    r.fails(2);
}

/// Issue 15: two compiles of one net give CHIPDIRs with the same files, byte for byte
/// (`diff -r` is clean: no wall-clock figure in any of them).
#[test]
fn two_compiles_give_identical_chipdirs() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let chips: Vec<_> = ["a.chip", "b.chip"]
        .iter()
        .map(|name| {
            let chip = dir.path().join(name);
            compile_ok(dir.path(), &net, "loihi-like", &chip);
            chip
        })
        .collect();
    let names = |chip: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(chip)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let files = names(&chips[0]);
    assert_eq!(files, names(&chips[1]));
    assert!(files.iter().any(|f| f == "report.json"), "{files:?}");
    for file in &files {
        assert_eq!(
            std::fs::read(chips[0].join(file)).unwrap(),
            std::fs::read(chips[1].join(file)).unwrap(),
            "{file:?} differs between two compiles"
        );
    }
}

/// `compile --rate-match` rescales the hidden populations of a trained net (different chip
/// units from the default compile), deterministically (two compiles byte-identical), and the
/// chip still runs the test images.
#[test]
fn rate_match_changes_the_hidden_units_deterministically() {
    let dir = tempdir();
    let net = train_net(
        dir.path(),
        "tiny",
        "name: tiny-mlp\ndata: mnist\ntrain_limit: 2000\ntest_limit: 0\nseed: 3\nepochs: 2\nbatch_size: 32\nlayers:\n  - {kind: dense, units: 32}\n  - {kind: dense, units: 10}\n",
    );
    let compile = |name: &str, extra: &[&str]| {
        let chip = dir.path().join(name);
        let mut args = vec![
            "compile".to_string(),
            "--net".into(),
            path_str(&net),
            "--target".into(),
            "loihi-like".into(),
            "--out".into(),
            path_str(&chip),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lifchip(dir.path(), &args).ok();
        chip
    };
    let plain = compile("plain.chip", &[]);
    let a = compile("a.chip", &["--rate-match"]);
    let b = compile("b.chip", &["--rate-match"]);
    let files = |chip: &std::path::Path| {
        let mut f: Vec<_> = std::fs::read_dir(chip)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        f.sort();
        f
    };
    let names = files(&a);
    assert_eq!(names, files(&b));
    for file in &names {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file:?} differs between two --rate-match compiles"
        );
    }
    assert!(
        names
            .iter()
            .any(|f| std::fs::read(a.join(f)).ok() != std::fs::read(plain.join(f)).ok()),
        "--rate-match left every file of the CHIPDIR as the default compile writes it"
    );
    let out = dir.path().join("emulate.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&a),
            "--data",
            "mnist",
            "--limit",
            "20",
            "--functional",
            "--json",
            &path_str(&out),
        ],
    )
    .ok();
    // The net is ~80 % accurate in rate mode (79.5 % on this chip over 200 images).
    assert!(read_json(&out)["accuracy"].as_f64().unwrap() >= 0.5);
}

/// `emulate --readout-from T` counts the readout's spikes of ticks `T..ticks` only, says so,
/// and refuses a window with no tick.
#[test]
fn readout_from_counts_the_readout_from_its_tick_on() {
    let dir = tempdir();
    let net = root().join("examples/hand-written.yaml");
    let chip = dir.path().join("hand.chip");
    compile_ok(dir.path(), &net, "loihi-like", &chip);
    let spikes = root().join("examples/hand-written-spikes.json");
    let emulate = |from: &str| {
        let out = dir.path().join(format!("from{from}.json"));
        let run = lifchip(
            dir.path(),
            &[
                "emulate",
                "--chip",
                &path_str(&chip),
                "--input-spikes",
                &path_str(&spikes),
                "--probe",
                "out",
                "--readout-from",
                from,
                "--json",
                &path_str(&out),
            ],
        );
        run.ok();
        (run.stdout.clone(), read_json(&out))
    };
    let (text, all) = emulate("0");
    assert_eq!(all["readout_from"], 0);
    assert!(!text.contains("readout counted over"), "{text}");
    // The readout (`out`) spikes early and late in the 20 ticks.
    let spike_ticks: Vec<Vec<u64>> = all["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["spike_ticks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap())
                .collect()
        })
        .collect();
    let counts_from = |from: u64| -> Vec<u64> {
        spike_ticks
            .iter()
            .map(|t| t.iter().filter(|&&t| t >= from).count() as u64)
            .collect()
    };
    let json_counts = |r: &serde_json::Value| -> Vec<u64> {
        r["readout_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect()
    };
    assert_eq!(json_counts(&all), counts_from(0));
    let (text, late) = emulate("5");
    assert_eq!(late["readout_from"], 5);
    assert!(text.contains("readout counted over ticks 5..20"), "{text}");
    assert_eq!(json_counts(&late), counts_from(5));
    assert_ne!(
        counts_from(5),
        counts_from(0),
        "the test wants readout spikes before tick 5"
    );
    assert!(counts_from(5).iter().sum::<u64>() > 0);
    // The rest of the run is the same.
    assert_eq!(late["spikes"], all["spikes"]);
    assert_eq!(late["probes"], all["probes"]);
    // A window without a tick: with a spike file (its 20 ticks) and with a dataset (100).
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
            "--readout-from",
            "20",
        ],
    );
    run.fails(1);
    assert!(
        run.stderr
            .contains("--readout-from 20: the readout would count no tick"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("0 to 19"), "{}", run.stderr);
    let run = lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--data",
            "mnist",
            "--limit",
            "2",
            "--readout-from",
            "100",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("--readout-from 100"), "{}", run.stderr);
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            &path_str(&spikes),
            "--readout-from",
            "-1",
        ],
    )
    .fails(2);
}
