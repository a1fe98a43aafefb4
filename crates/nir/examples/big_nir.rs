//! Writes a NIR file with 18.3 M weights (dense 3000x3000 input and recurrent layers), to time
//! an import the way a user runs it (`docs/nir.md`, "Speed"):
//!
//! ```text
//! cargo run --release -p lifchip-nir --example big_nir -- /tmp/big.nir
//! time lifchip import /tmp/big.nir --out /tmp/big.net
//! ```

use lifchip_nir::{Array, NirGraph, NirNode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: big_nir OUT.nir")?;
    let (n_in, n_hidden, n_out) = (3000, 3000, 100);
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
    std::fs::write(&path, lifchip_nir::to_bytes(&graph)?)?;
    let weights = n_in * n_hidden + n_hidden * n_hidden + n_hidden * n_out;
    println!("wrote {path}: {weights} weights");
    Ok(())
}
