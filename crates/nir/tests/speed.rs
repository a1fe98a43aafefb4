//! Importing a NIR file with 10 M parameters takes under 2 s (release build).

use lifchip_nir::ImportOptions;

mod common;

#[test]
fn ten_million_parameters_import_in_under_two_seconds() {
    let graph = common::big_graph::big_graph(3000, 3000, 100);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.nir");
    std::fs::write(&path, lifchip_nir::to_bytes(&graph).unwrap()).unwrap();
    let start = std::time::Instant::now();
    let net = lifchip_nir::import(&path, &ImportOptions::default()).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let params: usize = net
        .projections
        .iter()
        .flat_map(|p| &p.ops)
        .filter_map(|op| op.weights())
        .map(|w| w.len())
        .sum();
    eprintln!("imported {params} weights in {seconds:.3} s");
    assert!(params >= 10_000_000, "{params}");
    assert!(seconds < 2.0, "{seconds} s");
}
