//! The cache keys of a committed sweep: planning `examples/sweeps/core-limits.yaml` again must
//! give the keys its `results.json` holds, so results written by earlier builds stay valid.

use std::path::Path;

use lifchip_study::{cache, plan, spec::SpecFile};

#[test]
fn committed_results_keep_their_keys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = SpecFile::load(&root.join("examples/sweeps/core-limits.yaml")).unwrap();
    let spec = &file.spec;
    let config =
        lifchip_train::TrainConfig::load(&file.relative(spec.train.as_ref().unwrap())).unwrap();
    let net = cache::key(&[
        "lifchip-sweep-train-1",
        &config.to_yaml_string(),
        &spec.downsample.to_string(),
    ]);
    let data_desc = format!(
        "{}|{}|{}|{}",
        spec.data, spec.split, spec.samples, spec.downsample
    );
    let bases = plan::resolve_targets(&file).unwrap();
    let plans = plan::plan_points(
        &file,
        &bases,
        &format!("{net}|reference"),
        &data_desc,
        "",
        "",
    );
    let text =
        std::fs::read_to_string(root.join("examples/sweeps/results/core-limits/results.json"))
            .unwrap();
    let results: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(plans.len(), results.len());
    for (p, r) in plans.iter().zip(&results) {
        assert_eq!(Some(p.key.as_str()), r["key"].as_str(), "point {}", p.index);
    }
}

/// Results written before the per-image correctness was kept still load as point results;
/// they have no interval (no image count) and take no part in paired comparisons.
#[test]
fn committed_results_still_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text =
        std::fs::read_to_string(root.join("examples/sweeps/results/core-limits/results.json"))
            .unwrap();
    let results: Vec<lifchip_study::PointResult> = serde_json::from_str(&text).unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().any(|r| r.accuracy.is_some()));
    for r in &results {
        assert!(r.correct.is_empty() || r.samples == Some(r.correct.len() as u64));
        if r.samples.is_none() {
            assert_eq!(r.accuracy_interval(), None);
        }
    }
}
