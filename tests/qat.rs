//! Quantization-aware fine-tuning from the command line: `lifchip train --qat TARGET --init
//! NET` and a sweep with a `qat:` section (results side by side, nets reused on a rerun).

use crate::util::*;

const TINY_CONFIG: &str = "name: tiny-mlp\ndata: mnist\ntrain_limit: 2000\ntest_limit: 0\nseed: 3\nepochs: 2\nbatch_size: 32\nlayers:\n  - {kind: dense, units: 32}\n  - {kind: dense, units: 10}\n";

/// loihi-like with `bits` bits per weight, as a target file in `dir`.
fn low_bit_target(dir: &std::path::Path, bits: u32) -> std::path::PathBuf {
    loihi_like_with(
        dir,
        &format!("loihi-w{bits}.yaml"),
        &[
            ("name", &format!("loihi-like-w{bits}")),
            ("weight_bits", &bits.to_string()),
        ],
    )
}

#[test]
fn train_qat_fine_tunes_a_net_for_a_target() {
    let dir = tempdir();
    let net = train_net(dir.path(), "tiny", TINY_CONFIG);
    let target = low_bit_target(dir.path(), 2);
    let tuned = dir.path().join("tuned.net");
    let json = dir.path().join("qat.json");
    let args = [
        "train",
        "--qat",
        &path_str(&target),
        "--init",
        &path_str(&net),
        "--out",
        &path_str(&tuned),
        "--epochs",
        "1",
        "--train-limit",
        "2000",
        "--test-limit",
        "300",
        "--json",
        &path_str(&json),
    ];
    let run = lifchip(dir.path(), &args);
    run.ok();
    assert!(
        run.stdout
            .contains("rate accuracy with 2-bit weights on 300 test images"),
        "{}",
        run.stdout
    );
    let r = read_json(&json);
    assert_eq!(r["target"], "loihi-like-w2");
    assert_eq!(r["qat"]["weight_bits"], 2);
    let before = r["quantized_accuracy_before"].as_f64().unwrap();
    let after = r["quantized_accuracy_after"].as_f64().unwrap();
    assert!(after > 0.5 && after >= before - 0.02, "{r}");
    let manifest = std::fs::read_to_string(tuned.join("manifest.yaml")).unwrap();
    assert!(manifest.contains("qat_weight_bits"), "{manifest}");
    // The saved weights are on the grid: evaluating it gives the quantized accuracy.
    let eval = dir.path().join("eval.json");
    lifchip(
        dir.path(),
        &[
            "eval",
            "--net",
            &path_str(&tuned),
            "--limit",
            "300",
            "--json",
            &path_str(&eval),
        ],
    )
    .ok();
    assert_eq!(read_json(&eval)["accuracy"].as_f64(), Some(after));
    // The same command gives the same net.
    let again = dir.path().join("again.net");
    let mut args2 = args.to_vec();
    let again_s = path_str(&again);
    args2[6] = &again_s;
    lifchip(dir.path(), &args2).ok();
    assert_eq!(
        std::fs::read(tuned.join("weights.bin")).unwrap(),
        std::fs::read(again.join("weights.bin")).unwrap()
    );
    // The fine-tuned net compiles for the target.
    compile_ok(
        dir.path(),
        &tuned,
        &path_str(&target),
        &dir.path().join("tuned.chip"),
    );

    // Usage and user errors.
    lifchip(
        dir.path(),
        &["train", "--qat", "loihi-like", "--out", "x.net"],
    )
    .fails(2);
    lifchip(
        dir.path(),
        &[
            "train",
            "--config",
            "tiny.yaml",
            "--qat",
            "loihi-like",
            "--init",
            "a",
            "--out",
            "x",
        ],
    )
    .fails(2);
    let run = lifchip(
        dir.path(),
        &[
            "train",
            "--qat",
            "no-such-target",
            "--init",
            &path_str(&net),
            "--out",
            "x.net",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("no-such-target"), "{}", run.stderr);
    let run = lifchip(
        dir.path(),
        &[
            "train",
            "--qat",
            "loihi-like",
            "--init",
            &path_str(&net),
            "--out",
            "x.net",
            "--epochs",
            "0",
        ],
    );
    run.fails(1);
    assert!(run.stderr.contains("--epochs"), "{}", run.stderr);
}

const SPEC: &str = "title: tiny qat study\ntrain: tiny.yaml\ndownsample: 4\ntarget: loihi-like\naxes:\n  precision.weight_bits: [2, 8]\n  core.neurons: [64, 1024]\nsamples: 60\nticks: 40\nqat: {epochs: 1, train_limit: 2000, lr: 0.0005}\n";

#[test]
fn sweep_with_qat_reports_both_accuracies_and_reuses_the_nets() {
    let dir = tempdir();
    std::fs::write(dir.path().join("tiny.yaml"), TINY_CONFIG).unwrap();
    let spec = dir.path().join("study.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.path().join("out");
    let args = [
        "sweep",
        "--spec",
        &path_str(&spec),
        "--out",
        &path_str(&out),
        "--threads",
        "2",
    ];
    let run = lifchip(dir.path(), &args);
    run.ok();
    // Two weight formats, so two fine-tuned nets for the four points.
    assert!(run.stderr.contains("QAT 2/2"), "{}", run.stderr);
    let results = read_json(&out.join("results.json"));
    let points = results.as_array().unwrap();
    assert_eq!(points.len(), 4);
    for p in points {
        assert_eq!(p["ok"], true, "{p}");
        assert!(p["accuracy_qat"].as_f64().is_some(), "{p}");
        assert!(p["qat_rate_accuracy"].as_f64().is_some(), "{p}");
        assert!(p["qat_problems"].as_array().unwrap().is_empty(), "{p}");
    }
    // Points with the same weight bits share the net, and its chip behaves the same.
    assert_eq!(points[0]["qat_net"], points[1]["qat_net"]);
    assert_ne!(points[0]["qat_net"], points[2]["qat_net"]);
    assert_eq!(points[0]["accuracy_qat"], points[1]["accuracy_qat"]);
    let qat_net = out.join(points[0]["qat_net"].as_str().unwrap());
    assert!(qat_net.join("manifest.yaml").is_file());
    assert!(out.join("chips/0000-qat.chip/report.json").is_file());
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("accuracy,accuracy_lo,accuracy_hi,accuracy_qat,"),
        "{csv}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("| accuracy | with QAT |") && md.contains("**QAT.**"),
        "{md}"
    );
    let svg = std::fs::read_to_string(out.join("plots/accuracy.svg")).unwrap();
    assert!(
        svg.contains("with QAT (1 epoch)"),
        "accuracy plot has no QAT line"
    );
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["qat_nets"].as_array().unwrap().len(), 2);

    // A rerun reuses the points and the fine-tuned nets.
    let run = lifchip(dir.path(), &args);
    run.ok();
    assert!(
        run.stdout.contains("0 computed, 4 reused"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("reusing qat/"), "{}", run.stderr);
    assert_eq!(read_json(&out.join("results.json")), results);

    // Changing the QAT settings recomputes only what depends on them.
    std::fs::write(&spec, SPEC.replace("epochs: 1,", "epochs: 2,")).unwrap();
    let run = lifchip(dir.path(), &args);
    run.ok();
    assert!(
        run.stdout.contains("4 computed, 0 reused"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("training tiny-mlp"), "{}", run.stderr);

    // Bad QAT settings stop the sweep before any work, naming the field.
    std::fs::write(&spec, SPEC.replace("epochs: 1,", "epochs: 0,")).unwrap();
    let run = lifchip(dir.path(), &args);
    run.fails(1);
    assert!(run.stderr.contains("qat.epochs"), "{}", run.stderr);
    std::fs::write(&spec, SPEC.replace("epochs: 1,", "epoch: 1,")).unwrap();
    let run = lifchip(dir.path(), &args);
    run.fails(1);
    assert!(run.stderr.contains("study.yaml:"), "{}", run.stderr);
}
