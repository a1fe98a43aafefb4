//! The whole chain through the CLI: demo, train → eval → compile → emulate, and sweep.

use std::collections::BTreeSet;

use crate::util::*;

const SMALL_CONFIG: &str = "name: small\ndata: mnist\ntrain_limit: 5000\ntest_limit: 0\nseed: 5\nepochs: 1\nbatch_size: 32\nlayers:\n  - {kind: dense, units: 32}\n  - {kind: dense, units: 10}\n";

#[test]
fn demo_quick_runs_the_chain_and_reports() {
    let dir = tempdir();
    let out = dir.path().join("demo");
    let json = dir.path().join("demo.json");
    let run = lifchip(
        dir.path(),
        &[
            "demo",
            "--quick",
            "--images",
            "100",
            "--out",
            &path_str(&out),
            "--json",
            &path_str(&json),
        ],
    );
    run.ok();
    for line in [
        "float accuracy, rate",
        "chip accuracy",
        "cores used",
        "cycles per tick",
        "energy per image",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    let r = read_json(&json);
    assert!(r["float_rate_accuracy"].as_f64().unwrap() > 0.85, "{r}");
    assert!(r["chip_accuracy"].as_f64().unwrap() > 0.85, "{r}");
    assert!(r["cores_used"].as_u64().unwrap() >= r["cores_lower_bound"].as_u64().unwrap());
    assert!(out.join("demo.net/manifest.yaml").is_file());
    assert!(out.join("demo.chip/report.json").is_file());
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    let cores = r["cores_used"].as_u64().unwrap() as usize;
    assert_eq!(page.matches("<rect class=\"c ").count(), cores);
    assert!(page.contains("Energy per sample"));
    // The run the page shows: the first test image probed, every population (at most 512
    // neurons each), its spikes drawn one mark each in the raster.
    let run = read_json(&out.join("emulate.json"));
    assert_eq!(run["probed_sample"].as_u64(), Some(0), "{run}");
    let probes = run["probes"].as_array().unwrap();
    let spikes: usize = probes
        .iter()
        .map(|p| p["spike_ticks"].as_array().unwrap().len())
        .sum();
    assert!(spikes > 0, "the probed image spikes");
    let populations: BTreeSet<&str> = probes
        .iter()
        .map(|p| p["population"].as_str().unwrap())
        .collect();
    assert_eq!(populations.len(), 2, "{populations:?}");
    assert!(page.contains("The probes recorded sample 0 of the run"));
    let dom = crate::report::rendered_dom(
        &path_str(&out.join("report.html")),
        &dir.path().join("chromium-profile"),
    );
    if let Some(dom) = dom {
        assert_eq!(dom.matches("class=\"spk\"").count(), spikes, "raster");
        assert_eq!(dom.matches("<svg class=\"hist\"").count(), 2);
        assert_eq!(dom.matches("<rect class=\"c ").count(), cores, "core map");
    }
}

#[test]
fn train_is_deterministic_and_the_net_runs_everywhere() {
    let dir = tempdir();
    let config = dir.path().join("small.yaml");
    std::fs::write(&config, SMALL_CONFIG).unwrap();
    let a = dir.path().join("a.net");
    let b = dir.path().join("b.net");
    lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            &path_str(&config),
            "--out",
            &path_str(&a),
            "--plot",
            &path_str(&dir.path().join("curves")),
            "--log",
            &path_str(&dir.path().join("log.csv")),
        ],
    )
    .ok();
    for file in ["accuracy.png", "accuracy.svg", "loss.png", "loss.svg"] {
        assert!(dir.path().join("curves").join(file).is_file(), "no {file}");
    }
    assert!(
        std::fs::read_to_string(dir.path().join("log.csv"))
            .unwrap()
            .lines()
            .count()
            >= 2
    );
    lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            &path_str(&config),
            "--out",
            &path_str(&b),
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read(a.join("weights.bin")).unwrap(),
        std::fs::read(b.join("weights.bin")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("manifest.yaml")).unwrap(),
        std::fs::read(b.join("manifest.yaml")).unwrap()
    );

    let rate = dir.path().join("rate.json");
    lifchip(
        dir.path(),
        &[
            "eval",
            "--net",
            &path_str(&a),
            "--limit",
            "500",
            "--json",
            &path_str(&rate),
        ],
    )
    .ok();
    let r = read_json(&rate);
    assert_eq!(r["mode"], "rate");
    assert_eq!(r["samples"], 500);
    assert!(r["accuracy"].as_f64().unwrap() > 0.75, "{r}");

    let spiking = dir.path().join("spiking.json");
    lifchip(
        dir.path(),
        &[
            "eval",
            "--net",
            &path_str(&a),
            "--limit",
            "200",
            "--spiking",
            "--json",
            &path_str(&spiking),
        ],
    )
    .ok();
    let s = read_json(&spiking);
    assert_eq!(s["mode"], "spiking");
    assert!(s["accuracy"].as_f64().unwrap() > 0.7, "{s}");

    let chip = dir.path().join("a.chip");
    compile_ok(dir.path(), &a, "loihi-like", &chip);
    let emu = dir.path().join("emu.json");
    lifchip(
        dir.path(),
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--data",
            "mnist",
            "--limit",
            "100",
            "--json",
            &path_str(&emu),
        ],
    )
    .ok();
    let e = read_json(&emu);
    assert_eq!(e["samples"], 100);
    assert!(e["accuracy"].as_f64().unwrap() > 0.7, "{e}");
    assert!(e["synaptic_events"].as_u64().unwrap() > 0);
}

#[test]
fn sweep_records_bad_points_and_resumes() {
    let dir = tempdir();
    train_net(dir.path(), "small", SMALL_CONFIG);
    let spec = dir.path().join("sweep.yaml");
    // weight_bits 0 is out of range: that point must fail, the sweep go on, and the run exit 1
    // saying so.
    std::fs::write(&spec, "net: small.net\ntarget: loihi-like\naxes:\n  precision.weight_bits: [0, 3, 8]\nsamples: 30\nticks: 60\n").unwrap();
    let out = dir.path().join("sweep");
    let run = lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&out),
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("1 of 3 points"), "{}", run.stderr);
    let results = read_json(&out.join("results.json"));
    let points = results.as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[0]["ok"], false);
    let problems = points[0]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("precision.weight_bits")),
        "{}",
        points[0]
    );
    assert_eq!(points[2]["ok"], true);
    assert!(points[2]["accuracy"].as_f64().unwrap() > 0.5);
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(out.join("report.md").is_file());
    // A second run reuses every finished point.
    let before = std::fs::read(out.join("points/0002.json")).unwrap();
    lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&out),
        ],
    )
    .fails(1);
    assert_eq!(std::fs::read(out.join("points/0002.json")).unwrap(), before);
}
