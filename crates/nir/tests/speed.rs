//! Importing a NIR file with 10 M parameters takes under 2 s (release build).

use lifchip_nir::{Array, ImportOptions, NirGraph, NirNode};

#[test]
fn ten_million_parameters_import_in_under_two_seconds() {
    let (n_in, n_hidden) = (3000, 3000);
    let v = |x: f64, n: usize| Array::vector(vec![x; n]);
    let lif = |n: usize| NirNode::Lif {
        tau: v(1e-3, n),
        r: v(10.0, n),
        v_leak: v(0.0, n),
        v_threshold: v(1.0, n),
        v_reset: Some(v(0.0, n)),
    };
    let weight = |rows: usize, cols: usize| Array {
        shape: vec![rows, cols],
        data: (0..rows * cols)
            .map(|k| ((k % 97) as f64 - 48.0) * 1e-3)
            .collect(),
    };
    let mut graph = NirGraph {
        version: "1.0.8".into(),
        ..NirGraph::default()
    };
    let nodes = [
        ("input", NirNode::Input { shape: vec![n_in] }),
        (
            "fc1",
            NirNode::Affine {
                weight: weight(n_hidden, n_in),
                bias: v(0.1, n_hidden),
            },
        ),
        ("lif1", lif(n_hidden)),
        (
            "fc2",
            NirNode::Linear {
                weight: weight(100, n_hidden),
            },
        ),
        ("lif2", lif(100)),
        (
            "rec",
            NirNode::Linear {
                weight: weight(n_hidden, n_hidden),
            },
        ),
        ("output", NirNode::Output { shape: vec![100] }),
    ];
    for (k, node) in nodes {
        graph.nodes.insert(k.into(), node);
    }
    for (a, b) in [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif1", "rec"),
        ("rec", "lif1"),
        ("lif2", "output"),
    ] {
        graph.edges.push((a.into(), b.into()));
    }
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
