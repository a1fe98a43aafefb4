//! `lifchip sweep`: training from a config, downsampled data, a target axis, plots, parallel
//! points that match a serial run, resuming, and spec errors with line and column.

use crate::util::*;

/// A tiny soft-LIF MLP: trains in about a second on 7x7 images.
const TINY_CONFIG: &str = "name: tiny-mlp\ndata: mnist\ntrain_limit: 3000\ntest_limit: 0\nseed: 3\nepochs: 2\nbatch_size: 32\nlayers:\n  - {kind: dense, units: 24}\n  - {kind: dense, units: 10}\n";

/// 49 inputs do not fit `tiny` (32 input axons per core): those points must record the
/// violation, and the loihi-like ones run.
const SPEC: &str = "title: tiny study\ntrain: tiny.yaml\ndownsample: 4\nmode: grid\naxes:\n  target: [loihi-like, tiny]\n  precision.weight_bits: [3, 8]\nsamples: 40\nticks: 40\n";

fn stable(points: &serde_json::Value) -> Vec<String> {
    // Everything but the timings.
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.as_object_mut().unwrap().remove("compile_seconds");
            p.as_object_mut().unwrap().remove("emulate_seconds");
            p.to_string()
        })
        .collect()
}

#[test]
fn sweep_trains_once_plots_runs_in_parallel_and_resumes() {
    let dir = tempdir();
    std::fs::write(dir.path().join("tiny.yaml"), TINY_CONFIG).unwrap();
    let spec = dir.path().join("study.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.path().join("out");
    let run = lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&out),
            "--threads",
            "2",
        ],
    );
    run.ok();
    assert!(run.stderr.contains("training tiny-mlp"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("4 points (2 mapped; 4 computed, 0 reused)"),
        "{}",
        run.stdout
    );

    let results = read_json(&out.join("results.json"));
    let points = results.as_array().unwrap();
    assert_eq!(points.len(), 4);
    for p in points {
        let values = p["values"].as_array().unwrap();
        assert_eq!(values[0][0], "target");
        assert_eq!(values[1][0], "precision.weight_bits");
        if values[0][1] == "tiny" {
            assert_eq!(p["ok"], false, "{p}");
            let problems: Vec<&str> = p["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert!(problems.iter().any(|x| x.contains("input_axons")), "{p}");
        } else {
            assert_eq!(p["ok"], true, "{p}");
            assert_eq!(p["target"], "loihi-like");
            assert!(p["cores_used"].as_u64().unwrap() >= p["cores_lower_bound"].as_u64().unwrap());
            assert!(p["energy_joules_per_sample"].as_f64().unwrap() > 0.0);
            assert!(p["agreement_with_float_spiking"].as_f64().is_some(), "{p}");
        }
    }
    // 8-bit weights on loihi-like do at least as well as chance by a wide margin.
    assert!(
        points[1]["accuracy"].as_f64().unwrap() > 0.5,
        "{}",
        points[1]
    );

    // The pooled data is a real MNIST-layout folder that other commands read, and the net
    // was trained on it.
    let pooled = out.join("data/mnist-7x7");
    assert!(pooled.join("train-images-idx3-ubyte").is_file());
    let eval = dir.path().join("eval.json");
    lifchip(
        dir.path(),
        &[
            "eval",
            "--net",
            &path_str(&out.join("net.net")),
            "--data",
            &path_str(&pooled),
            "--limit",
            "40",
            "--json",
            &path_str(&eval),
        ],
    )
    .ok();
    assert!(read_json(&eval)["accuracy"].as_f64().unwrap() > 0.5);

    // Plots in both formats, linked from the report.
    for stem in ["accuracy", "cores", "energy-latency"] {
        let png = std::fs::read(out.join(format!("plots/{stem}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n"), "{stem}.png");
        let svg = std::fs::read_to_string(out.join(format!("plots/{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for link in [
        "plots/accuracy.png",
        "plots/cores.svg",
        "plots/energy-latency.png",
        "Pareto front",
        "Points that did not map",
    ] {
        assert!(
            report.contains(link),
            "missing {link} in report.md:\n{report}"
        );
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(
        csv.starts_with("point,target,precision.weight_bits,"),
        "{csv}"
    );
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["mapped"], 2);
    assert_eq!(summary["image_size"], serde_json::json!([7, 7]));
    assert!(summary["float_spiking_accuracy"].as_f64().is_some());

    // One thread gives the same results as two.
    let serial = dir.path().join("serial");
    lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&serial),
            "--threads",
            "1",
        ],
    )
    .ok();
    assert_eq!(
        stable(&read_json(&serial.join("results.json"))),
        stable(&results)
    );

    // Resuming: nothing is trained or computed again, the point files are untouched.
    let before = std::fs::read(out.join("points/0001.json")).unwrap();
    let again = lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&out),
        ],
    );
    again.ok();
    assert!(again.stderr.contains("reusing"), "{}", again.stderr);
    assert!(!again.stderr.contains("training"), "{}", again.stderr);
    assert!(
        again.stdout.contains("0 computed, 4 reused"),
        "{}",
        again.stdout
    );
    assert_eq!(std::fs::read(out.join("points/0001.json")).unwrap(), before);

    // A changed setting recomputes the points (the net is still reused).
    std::fs::write(&spec, SPEC.replace("ticks: 40", "ticks: 30")).unwrap();
    let changed = lifchip(
        dir.path(),
        &[
            "sweep",
            "--spec",
            &path_str(&spec),
            "--out",
            &path_str(&out),
        ],
    );
    changed.ok();
    assert!(
        changed.stdout.contains("4 computed, 0 reused"),
        "{}",
        changed.stdout
    );
    assert!(!changed.stderr.contains("training"), "{}", changed.stderr);
}

#[test]
fn sweep_spec_errors_name_file_line_and_column() {
    let dir = tempdir();
    let spec = dir.path().join("bad.yaml");
    let cases = [
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  weight_bits: [1, 2]\n",
            "bad.yaml:4:",
            "unknown axis `weight_bits`",
        ),
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  precision.weight_bits: []\n",
            "bad.yaml:4:",
            "empty",
        ),
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  precison.weight_bits: [2]\n",
            "bad.yaml:4:3:",
            "no `precison`",
        ),
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  precision.weight_bit: [2]\n",
            "bad.yaml:4:3:",
            "expected one of",
        ),
        (
            "net: x.net\naxes:\n  target: [loihi-like, loihi-2]\n",
            "bad.yaml:3:3:",
            "`loihi-2` is neither a built-in target",
        ),
        (
            "net: x.net\ntarget: loihi-like\nticks: 0\naxes:\n  precision.weight_bits: [2]\n",
            "bad.yaml:3:1:",
            "ticks",
        ),
        (
            "net: x.net\naxes:\n  precision.weight_bits: [2]\n",
            "bad.yaml",
            "missing `target:`",
        ),
        (
            "net: x.net\ntarget: loihi-like\nmode: list\naxes:\n  precision.weight_bits: [2, 3]\n  core.neurons: [64]\n",
            "bad.yaml:6:3:",
            "mode list",
        ),
        (
            "net: x.net\ntarget: loihi-like\nsample: 3\naxes:\n  precision.weight_bits: [2]\n",
            "bad.yaml:3:1:",
            "unknown field `sample`",
        ),
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  ticks: [10, -1]\n",
            "bad.yaml:4:",
            "whole number of ticks",
        ),
        (
            "net: x.net\ntarget: loihi-like\naxes:\n  ticks: [10, 2000000]\n",
            "bad.yaml:4:",
            "ticks in [1, 1000000]",
        ),
        (
            "net: x.net\ntarget: loihi-like\nticks: 4000000000\naxes:\n  precision.weight_bits: [2]\n",
            "bad.yaml:3:1:",
            "4000000000 is not a number of ticks in [1, 1000000]",
        ),
    ];
    for (text, at, what) in cases {
        std::fs::write(&spec, text).unwrap();
        let run = lifchip(dir.path(), &["sweep", "--spec", "bad.yaml", "--out", "out"]);
        run.fails(1);
        assert!(
            run.stderr.starts_with(&format!("error: {at}")),
            "for\n{text}\nwanted {at}, got: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(what),
            "for\n{text}\nwanted {what}, got: {}",
            run.stderr
        );
    }
}

/// Issue 15: axis values that make no valid target fail the run (exit 1) and the summary says
/// how many; a point that merely does not fit is a result, not an error.
#[test]
fn invalid_axis_values_fail_the_run() {
    let dir = tempdir();
    std::fs::write(dir.path().join("tiny.yaml"), TINY_CONFIG).unwrap();
    let spec = "title: bad values\ntrain: tiny.yaml\ndownsample: 4\nmode: grid\ntarget: loihi-like\naxes:\n  core.neurons: [1024, [4, 99], {}, 1e308]\nsamples: 10\nticks: 10\n";
    std::fs::write(dir.path().join("study.yaml"), spec).unwrap();
    let run = lifchip(
        dir.path(),
        &["sweep", "--spec", "study.yaml", "--out", "out"],
    );
    run.fails(1);
    assert!(
        run.stderr
            .contains("3 of 4 points have an axis value that makes no valid target"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.matches("failed:").count(), 3, "{}", run.stdout);
    let summary = read_json(&dir.path().join("out/summary.json"));
    assert_eq!(summary["invalid"], 3);
    let results = read_json(&dir.path().join("out/results.json"));
    let invalid: Vec<bool> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["invalid_value"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(invalid.iter().filter(|&&b| b).count(), 3, "{invalid:?}");
}
