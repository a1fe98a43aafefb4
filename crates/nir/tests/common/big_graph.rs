//! The big NIR graph of the import-speed test and of the `big_nir` example: a dense input layer
//! and a recurrent layer of `n_hidden` LIF neurons, then `n_out` LIF outputs (18.3 M weights
//! at 3000/3000/100).

use lifchip_nir::{Array, NirGraph, NirNode};

pub fn big_graph(n_in: usize, n_hidden: usize, n_out: usize) -> NirGraph {
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
            "rec",
            NirNode::Linear {
                weight: weight(n_hidden, n_hidden),
            },
        ),
        (
            "fc2",
            NirNode::Linear {
                weight: weight(n_out, n_hidden),
            },
        ),
        ("lif2", lif(n_out)),
        ("output", NirNode::Output { shape: vec![n_out] }),
    ];
    for (k, node) in nodes {
        graph.nodes.insert(k.into(), node);
    }
    for (a, b) in [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "rec"),
        ("rec", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "output"),
    ] {
        graph.edges.push((a.into(), b.into()));
    }
    graph
}
