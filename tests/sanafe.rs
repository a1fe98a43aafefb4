//! `loihi-like` against SANA-FE's hardware-calibrated Loihi model, without Python: the nets,
//! input spikes and SANA-FE results of `tests/fixtures/sanafe/` (written by
//! `bench/sanafe/compare.py --write-fixtures`) are compiled and emulated here, and lifchip's
//! spikes, dynamic energy and time per tick are held to SANA-FE's.

use std::path::Path;

use crate::util::{compile_run, lifchip, loihi_like_with, path_str, read_json, root, tempdir};

/// SANA-FE's own error against Loihi hardware (Boyle et al. 2025): the bands of issue 17.
const ENERGY_BAND: f64 = 0.10;
const TIME_BAND: f64 = 0.15;

/// Per net: (name, lifchip / SANA-FE energy, lifchip / SANA-FE time per tick).
fn ratios(target: &str, dir: &Path) -> Vec<(String, f64, f64)> {
    let fixtures = root().join("tests/fixtures/sanafe");
    let results = read_json(&fixtures.join("results.json"));
    let nets = results["nets"]
        .as_object()
        .expect("results.json lists nets");
    assert!(nets.len() >= 5, "at least five nets");
    let mut out = Vec::new();
    for (name, f) in nets {
        let chip = dir.join(format!("{name}.chip"));
        let net = path_str(&root().join(f["net"].as_str().unwrap()));
        let spikes = path_str(&root().join(f["spikes"].as_str().unwrap()));
        compile_run(dir, &net, target, &path_str(&chip)).ok();
        // The same mapping as the fixture's (else SANA-FE ran a different chip).
        let manifest = read_json(&chip.join("manifest.json"));
        let cores: Vec<(u64, u64)> = manifest["cores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["x"].as_u64().unwrap(), c["y"].as_u64().unwrap()))
            .collect();
        let expected: Vec<(u64, u64)> = f["cores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_u64().unwrap(), c[1].as_u64().unwrap()))
            .collect();
        assert_eq!(
            cores, expected,
            "{name}: core placement differs from the fixture's"
        );
        let report = dir.join(format!("{name}.json"));
        lifchip(
            dir,
            &[
                "emulate",
                "--chip",
                &path_str(&chip),
                "--input-spikes",
                &spikes,
                "--json",
                &path_str(&report),
            ],
        )
        .ok();
        let r = read_json(&report);
        let sanafe = &f["sanafe"];
        assert_eq!(
            r["spikes"].as_u64(),
            sanafe["spikes"].as_u64(),
            "{name}: both simulators must see the same spikes"
        );
        let dynamic = r["energy_joules_per_sample"].as_f64().unwrap()
            - r["energy_joules_per_sample_by_kind"]["static_power"]
                .as_f64()
                .unwrap();
        let per_tick = r["latency_seconds_per_sample"].as_f64().unwrap()
            / r["ticks_per_sample"].as_f64().unwrap();
        out.push((
            name.clone(),
            dynamic / sanafe["energy_joules"].as_f64().unwrap(),
            per_tick / sanafe["time_per_tick_seconds"].as_f64().unwrap(),
        ));
    }
    out
}

#[test]
fn loihi_like_is_within_sanafe_bands() {
    let dir = tempdir();
    for (name, energy, time) in ratios("loihi-like", dir.path()) {
        assert!(
            (energy - 1.0).abs() <= ENERGY_BAND,
            "{name}: energy lifchip / SANA-FE = {energy:.3}"
        );
        assert!(
            (time - 1.0).abs() <= TIME_BAND,
            "{name}: time per tick lifchip / SANA-FE = {time:.3}"
        );
    }
}

#[test]
fn without_pipelining_or_spike_costs_loihi_like_leaves_the_bands() {
    // The structure matters, not only the numbers: summing a core's synapse and neuron stages
    // makes some net too slow, and pricing only packets (no per-spike, per-message energy)
    // makes some net too cheap.
    let dir = tempdir();
    let serial = loihi_like_with(dir.path(), "serial.yaml", &[("pipelined", "false")]);
    let slow = ratios(&path_str(&serial), dir.path());
    assert!(
        slow.iter().any(|(_, _, t)| *t > 1.0 + TIME_BAND),
        "{slow:?}"
    );
    let packets_only = loihi_like_with(
        dir.path(),
        "packets.yaml",
        &[("spike_joules", "0.0"), ("message_joules", "0.0")],
    );
    let cheap = ratios(&path_str(&packets_only), dir.path());
    assert!(
        cheap.iter().any(|(_, e, _)| *e < 1.0 - ENERGY_BAND),
        "{cheap:?}"
    );
}
