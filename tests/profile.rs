//! `lifchip profile` (firing rates measured on training data) and `lifchip compile --profile`.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A small float soft-LIF MLP for MNIST (784-16-10), written as a YAML (JSON) net file with
/// deterministic weights; `seed` changes the weights (and so the net's fingerprint).
fn float_net(dir: &Path, file: &str, seed: f32) -> PathBuf {
    let hidden: Vec<Vec<f32>> = (0..16)
        .map(|o| {
            (0..784)
                .map(|i| ((o * 784 + i) as f32 * 0.37 + seed).sin() * 0.08)
                .collect()
        })
        .collect();
    let out: Vec<Vec<f32>> = (0..10)
        .map(|o| {
            (0..16)
                .map(|i| ((o * 16 + i) as f32 * 1.3 + seed).cos() * 0.5)
                .collect()
        })
        .collect();
    let lif = |size: usize| {
        serde_json::json!({
            "kind": "soft_lif", "tau_rc": 0.02, "tau_ref": 0.002, "amplitude": 0.063,
            "bias": vec![0.1f32; size],
        })
    };
    let net = serde_json::json!({
        "name": "profile-mlp",
        "populations": [
            {"name": "in", "shape": [784], "neuron": {"kind": "input"}},
            {"name": "hidden", "shape": [16], "neuron": lif(16)},
            {"name": "out", "shape": [10], "neuron": lif(10)},
        ],
        "projections": [
            {"name": "in_hidden", "from": "in", "to": "hidden",
             "ops": [{"kind": "dense", "weights": hidden}]},
            {"name": "hidden_out", "from": "hidden", "to": "out",
             "ops": [{"kind": "dense", "weights": out}]},
        ],
    });
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_string(&net).unwrap()).unwrap();
    path
}

/// loihi-like with 8 neurons per core: the 26 neurons take several cores, so spikes cross.
fn small_core_target(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("targets/loihi-like.yaml")).unwrap();
    let mut done = false;
    let text: String = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with("neurons:") {
                done = true;
                "  neurons: 8".to_string()
            } else if l.starts_with("name:") {
                "name: loihi-like-n8".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(done, "loihi-like.yaml has a core.neurons line");
    let path = dir.join("loihi-n8.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn profile(dir: &Path, net: &Path, out: &str, extra: &[&str]) -> Run {
    let net = path_str(net);
    let mut args = vec!["profile", "--net", &net, "--limit", "40", "--out", out];
    args.extend_from_slice(extra);
    lifchip(dir, &args)
}

fn compile(dir: &Path, net: &Path, target: &Path, profile: Option<&str>) -> Run {
    let (net, target) = (path_str(net), path_str(target));
    let mut args = vec![
        "compile", "--net", &net, "--target", &target, "--out", "net.chip", "--json", "c.json",
    ];
    if let Some(p) = profile {
        args.extend_from_slice(&["--profile", p]);
    }
    lifchip(dir, &args)
}

#[test]
fn profile_then_compile_reports_expected_traffic() {
    let dir = tempdir();
    let net = float_net(dir.path(), "mlp.yaml", 0.0);
    let target = small_core_target(dir.path());
    let run = profile(dir.path(), &net, "rates.json", &[]);
    run.ok();
    assert!(run.stdout.contains("spikes/tick"), "{}", run.stdout);

    let rates = read_json(&dir.path().join("rates.json"));
    let source = rates["source"].as_str().unwrap();
    for part in ["mnist", "train", "40 images", "rate mode"] {
        assert!(source.contains(part), "source {source:?} lacks {part:?}");
    }
    assert!(rates["net_hash"].as_u64().is_some());
    let pops = rates["populations"].as_array().unwrap();
    let shape: Vec<(&str, usize)> = pops
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["rates"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(shape, [("in", 784), ("hidden", 16), ("out", 10)]);
    // Spikes per tick: inputs are pixel values (input rate 1), neurons at most 1/tau_ref × dt.
    for p in pops {
        for r in p["rates"].as_array().unwrap() {
            let r = r.as_f64().unwrap();
            assert!((0.0..=1.0).contains(&r), "rate {r}");
        }
    }
    assert!(
        pops[1]["rates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_f64().unwrap() > 0.001)
    );

    let run = compile(dir.path(), &net, &target, Some("rates.json"));
    run.ok();
    assert!(
        run.stdout.contains("packets/tick") && run.stdout.contains("packet-hops/tick"),
        "{}",
        run.stdout
    );
    let report = read_json(&dir.path().join("c.json"));
    assert_eq!(report["rate_profile"].as_str(), Some(source));
    let packets = report["expected_packets_per_tick"].as_f64().unwrap();
    let hops = report["expected_packet_hops_per_tick"].as_f64().unwrap();
    assert!(packets > 0.0 && hops >= packets, "{packets} {hops}");
    assert!(report["cores_used"].as_u64().unwrap() >= 4);
    // The CHIPDIR's copy is the `--json` report without its wall-clock figures.
    let mut timeless = report.clone();
    for key in ["compile_seconds", "pass_seconds"] {
        timeless.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(
        read_json(&dir.path().join("net.chip/report.json")),
        timeless
    );

    // Without a profile the fields are null and the summary has no expected traffic.
    let run = compile(dir.path(), &net, &target, None);
    run.ok();
    assert!(!run.stdout.contains("packets/tick"), "{}", run.stdout);
    let report = read_json(&dir.path().join("c.json"));
    assert!(report["rate_profile"].is_null());
    assert!(report["expected_packets_per_tick"].is_null());
}

#[test]
fn profiles_are_deterministic() {
    let dir = tempdir();
    let net = float_net(dir.path(), "mlp.yaml", 0.0);
    profile(dir.path(), &net, "a.json", &[]).ok();
    profile(dir.path(), &net, "b.json", &[]).ok();
    let a = std::fs::read(dir.path().join("a.json")).unwrap();
    let b = std::fs::read(dir.path().join("b.json")).unwrap();
    assert!(a == b, "two runs wrote different profiles");
    // The hard LIF curve is another measurement, and says so.
    profile(dir.path(), &net, "lif.json", &["--curve", "lif"]).ok();
    let lif = read_json(&dir.path().join("lif.json"));
    assert!(lif["source"].as_str().unwrap().contains("lif curve"));
    assert_ne!(
        lif["populations"],
        read_json(&dir.path().join("a.json"))["populations"]
    );
}

#[test]
fn a_profile_of_another_net_is_refused() {
    let dir = tempdir();
    let net = float_net(dir.path(), "mlp.yaml", 0.0);
    let other = float_net(dir.path(), "other.yaml", 1.0);
    let target = small_core_target(dir.path());
    profile(dir.path(), &other, "other.json", &[]).ok();
    let run = compile(dir.path(), &net, &target, Some("other.json"));
    run.fails(1);
    for part in [
        "--profile other.json",
        "rate profile",
        "rate_profile",
        "another net",
        "lifchip profile",
    ] {
        assert!(run.stderr.contains(part), "lacks {part:?}: {}", run.stderr);
    }
    // Fingerprints are not a value and a limit.
    assert!(!run.stderr.contains("(limit"), "{}", run.stderr);
    assert!(!dir.path().join("net.chip").exists());
    let report = read_json(&dir.path().join("c.json"));
    assert_eq!(report["violations"][0]["kind"], "rate_profile");
}

#[test]
fn absurd_rates_are_refused_with_their_index() {
    let dir = tempdir();
    let net = float_net(dir.path(), "mlp.yaml", 0.0);
    let target = small_core_target(dir.path());
    profile(dir.path(), &net, "good.json", &[]).ok();
    let good = read_json(&dir.path().join("good.json"));
    for (i, rate) in [
        serde_json::json!(-5.0),
        serde_json::json!(1e20),
        serde_json::json!(1.5),
    ]
    .into_iter()
    .enumerate()
    {
        let mut bad = good.clone();
        bad["populations"][1]["rates"][3] = rate.clone();
        let file = format!("bad{i}.json");
        std::fs::write(dir.path().join(&file), bad.to_string()).unwrap();
        let run = compile(dir.path(), &net, &target, Some(&file));
        run.fails(1);
        for want in [
            file.as_str(),
            "populations[1]",
            "rates[3]",
            "spikes per tick",
        ] {
            assert!(
                run.stderr.contains(want),
                "{rate}: lacks {want:?}: {}",
                run.stderr
            );
        }
    }
    assert!(!dir.path().join("net.chip").exists());
}

#[test]
fn bad_profile_files_and_flags_are_clear_errors() {
    let dir = tempdir();
    let net = float_net(dir.path(), "mlp.yaml", 0.0);
    let target = small_core_target(dir.path());
    let cases: [(&str, &str, &[&str]); 4] = [
        ("missing.json", "", &["missing.json", "cannot read"]),
        (
            "syntax.json",
            "{\n  \"source\": \"x\",\n  oops",
            &["syntax.json:3:"],
        ),
        (
            "shape.json",
            "{\"source\": \"x\", \"net_hash\": 1}",
            &["shape.json:1:", "populations", "lifchip profile"],
        ),
        (
            "type.json",
            "[1, 2]",
            &[
                "type.json:1:",
                "expected the JSON that `lifchip profile` writes",
            ],
        ),
    ];
    for (file, text, wants) in cases {
        if !text.is_empty() {
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        let run = compile(dir.path(), &net, &target, Some(file));
        run.fails(1);
        for want in wants {
            assert!(
                run.stderr.contains(want),
                "{file}: lacks {want:?}: {}",
                run.stderr
            );
        }
    }
    assert!(!dir.path().join("net.chip").exists());

    // profile's own flags and inputs.
    let chip_units = root().join("examples/hand-written.yaml");
    // Bad values of closed-choice flags are usage errors (exit 2), the rest exit 1.
    let cases: [(&Path, &[&str], &str, i32); 4] = [
        (&net, &["--curve", "spiky"], "spiky", 2),
        (&net, &["--input-rate", "2"], "--input-rate", 1),
        (&net, &["--split", "validation"], "validation", 2),
        (&chip_units, &[], "chip units", 1),
    ];
    for (net, extra, want, code) in cases {
        let run = profile(dir.path(), net, "x.json", extra);
        run.fails(code);
        assert!(run.stderr.contains(want), "lacks {want:?}: {}", run.stderr);
    }
    lifchip(dir.path(), &["profile", "--net", &path_str(&net)]).fails(2);
    assert!(!dir.path().join("x.json").exists());
}
