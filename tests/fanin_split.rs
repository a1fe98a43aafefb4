//! Fan-in splitting through the CLI: a neuron with more inputs than a core's axons maps as
//! partial sums on a target that allows it, and spikes exactly as the unsplit neuron does.

use crate::util::*;

/// 12 inputs -> 3 chip-unit LIF neurons, every neuron reading all 12 inputs.
const NET: &str = "name: wide
populations:
  - {name: in, shape: [12], neuron: {kind: input}}
  - name: out
    shape: [3]
    neuron: {kind: chip_lif, current_decay: 1024, voltage_decay: 256, threshold: 300, bias: [0, 0, 0]}
projections:
  - name: in_out
    from: in
    to: out
    weight_exp: 0
    ops:
      - kind: dense
        weights: [[40, 30, 20, 10, 50, 60, 20, 30, 40, 10, 20, 30],
                   [10, 60, 10, 60, 10, 60, 10, 60, 10, 60, 10, 60],
                   [60, 50, 40, 30, 20, 10, 60, 50, 40, 30, 20, 10]]
";

fn target_with(dir: &std::path::Path, name: &str, axons: u32, split: bool) -> std::path::PathBuf {
    loihi_like_with(
        dir,
        name,
        &[
            ("input_axons", &axons.to_string()),
            ("fanin_split", &split.to_string()),
        ],
    )
}

fn compile_and_run(
    dir: &std::path::Path,
    target: &std::path::Path,
    tag: &str,
) -> serde_json::Value {
    let chip = dir.join(format!("{tag}.chip"));
    let report = dir.join(format!("{tag}-compile.json"));
    lifchip(
        dir,
        &[
            "compile",
            "--net",
            "wide.yaml",
            "--target",
            &path_str(target),
            "--out",
            &path_str(&chip),
            "--json",
            &path_str(&report),
        ],
    )
    .ok();
    let out = dir.join(format!("{tag}-emulate.json"));
    lifchip(
        dir,
        &[
            "emulate",
            "--chip",
            &path_str(&chip),
            "--input-spikes",
            "spikes.json",
            "--probe",
            "all",
            "--probe-state",
            "--json",
            &path_str(&out),
        ],
    )
    .ok();
    serde_json::json!({"compile": read_json(&report), "emulate": read_json(&out)})
}

#[test]
fn split_neurons_spike_exactly_like_unsplit_ones() {
    let dir = tempdir();
    std::fs::write(dir.path().join("wide.yaml"), NET).unwrap();
    // Every input spikes on a different rhythm for 40 ticks.
    let spikes: Vec<String> = (0..40)
        .flat_map(|t| {
            (0..12)
                .filter(move |i| (t + i) % (i % 4 + 2) == 0)
                .map(move |i| format!("[{t}, {i}]"))
        })
        .collect();
    std::fs::write(
        dir.path().join("spikes.json"),
        format!("{{\"ticks\": 40, \"spikes\": [{}]}}", spikes.join(", ")),
    )
    .unwrap();

    // 4 axons per core: without splitting the layer cannot map, and the error says how to fix it.
    let narrow = target_with(dir.path(), "narrow.yaml", 4, false);
    let run = compile_run(dir.path(), "wide.yaml", &path_str(&narrow), "x.chip");
    run.fails(1);
    assert!(
        run.stderr.contains("input_axons") && run.stderr.contains("fanin_split"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("x.chip").exists());

    let split = target_with(dir.path(), "split.yaml", 4, true);
    let whole = target_with(dir.path(), "whole.yaml", 4096, false);
    let a = compile_and_run(dir.path(), &split, "split");
    let b = compile_and_run(dir.path(), &whole, "whole");
    assert_eq!(a["compile"]["split_neurons"], 3);
    assert_eq!(a["compile"]["partial_compartments"], 6);
    assert_eq!(b["compile"]["split_neurons"], 0);
    assert!(a["compile"]["cores_used"].as_u64() >= Some(3));
    let (pa, pb) = (&a["emulate"]["probes"], &b["emulate"]["probes"]);
    assert_eq!(pa, pb, "split and unsplit neurons differ");
    let spikes: usize = pa
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spike_ticks"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(spikes > 0, "nothing spiked: the comparison would be empty");
    assert_eq!(
        a["emulate"]["synaptic_events"],
        b["emulate"]["synaptic_events"]
    );
}
