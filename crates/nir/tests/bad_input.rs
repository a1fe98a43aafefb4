//! Bad input: hostile, truncated and malformed NIR files get a typed error naming the file
//! (and the node where there is one); never a panic or a hang.

use std::path::{Path, PathBuf};

use hdf5_pure::FileBuilder;
use lifchip_nir::{Array, ImportOptions, NirError, NirGraph, NirNode};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/nir")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| lifchip_nir::is_nir_path(p))
        .collect();
    v.sort();
    assert!(v.len() >= 8, "fixtures missing: {v:?}");
    v
}

fn import_bytes(bytes: Vec<u8>, name: &str) -> Result<lifchip_net::Net, NirError> {
    let path = Path::new(name);
    let graph = lifchip_nir::read_bytes(bytes, path)?;
    lifchip_nir::to_net(&graph, &ImportOptions::default(), path)
}

/// A small deterministic generator (xorshift64*), so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    let mut runs = 0;
    for file in fixture_files() {
        let original = std::fs::read(&file).unwrap();
        let name = file.display().to_string();
        for round in 0..120 {
            let mut bytes = original.clone();
            match round % 4 {
                0 => bytes.truncate(rng.below(original.len())),
                1 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(bytes.len());
                        bytes[at] ^= 1 << rng.below(8);
                    }
                }
                2 => {
                    let at = rng.below(bytes.len());
                    let len = rng.below(64).min(bytes.len() - at);
                    for b in &mut bytes[at..at + len] {
                        *b = 0xff;
                    }
                }
                _ => {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
            }
            runs += 1;
            let result = std::panic::catch_unwind(|| import_bytes(bytes, &name));
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    errors += 1;
                    let msg = e.to_string();
                    assert!(msg.contains(&name), "error does not name the file: {msg}");
                }
                Err(_) => panic!("{name}: mutation round {round} panicked"),
            }
        }
    }
    eprintln!("{runs} mutated files, {errors} refused with an error");
    assert!(errors > runs / 4, "mutations should mostly be refused");
}

fn lif(n: usize) -> NirNode {
    let v = |x: f64| Array::vector(vec![x; n]);
    NirNode::Lif {
        tau: v(1e-3),
        r: v(10.0),
        v_leak: v(0.0),
        v_threshold: v(1.0),
        v_reset: None,
    }
}

fn graph(nodes: Vec<(&str, NirNode)>, edges: &[(&str, &str)]) -> NirGraph {
    NirGraph {
        nodes: nodes.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        edges: edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        version: "1.0.8".into(),
    }
}

fn linear(rows: usize, cols: usize) -> NirNode {
    NirNode::Linear {
        weight: Array {
            shape: vec![rows, cols],
            data: vec![0.5; rows * cols],
        },
    }
}

fn import_graph(g: &NirGraph) -> Result<lifchip_net::Net, NirError> {
    let bytes = lifchip_nir::to_bytes(g).unwrap();
    import_bytes(bytes, "hostile.nir")
}

#[test]
fn graph_problems_name_the_node() {
    let input = || NirNode::Input { shape: vec![3] };
    // Dangling edge.
    let g = graph(
        vec![("in", input()), ("w", linear(2, 3)), ("a", lif(2))],
        &[("in", "w"), ("w", "a"), ("a", "ghost")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("hostile.nir") && e.contains("ghost"), "{e}");
    // A cycle of linear nodes only (no state).
    let g = graph(
        vec![
            ("in", input()),
            ("w1", linear(3, 3)),
            ("w2", linear(3, 3)),
            ("a", lif(3)),
        ],
        &[("in", "w1"), ("w1", "w2"), ("w2", "w1"), ("w2", "a")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("no neuron") && e.contains("w1"), "{e}");
    // Shape mismatch between connected nodes.
    let g = graph(
        vec![("in", input()), ("w", linear(2, 4)), ("a", lif(2))],
        &[("in", "w"), ("w", "a")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("node w") && e.contains("4 inputs"), "{e}");
    // Neuron parameters of the wrong size.
    let g = graph(
        vec![("in", input()), ("w", linear(2, 3)), ("a", lif(5))],
        &[("in", "w"), ("w", "a")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("node a") && e.contains("5 neurons"), "{e}");
    // A time constant that is not positive.
    let mut bad = lif(2);
    if let NirNode::Lif { tau, .. } = &mut bad {
        tau.data[1] = 0.0;
    }
    let g = graph(
        vec![("in", input()), ("w", linear(2, 3)), ("a", bad)],
        &[("in", "w"), ("w", "a")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("node a") && e.contains("tau"), "{e}");
}

#[test]
fn every_unsupported_node_is_listed_at_once() {
    let g = graph(
        vec![
            ("in", NirNode::Input { shape: vec![2] }),
            (
                "d1",
                NirNode::Delay {
                    delay: Array::vector(vec![1.0, 2.0]),
                },
            ),
            (
                "d2",
                NirNode::Delay {
                    delay: Array::vector(vec![1.0, 2.0]),
                },
            ),
            ("a", lif(2)),
        ],
        &[("in", "d1"), ("d1", "d2"), ("d2", "a")],
    );
    match import_graph(&g).unwrap_err() {
        NirError::Unsupported { refusals, path } => {
            assert_eq!(path, Path::new("hostile.nir"));
            let names: Vec<&str> = refusals.iter().map(|r| r.node.as_str()).collect();
            assert_eq!(names, ["d1", "d2"]);
            assert!(
                refusals
                    .iter()
                    .all(|r| r.kind == "Delay" && r.why.contains("delay"))
            );
        }
        other => panic!("{other}"),
    }
}

/// Builds raw HDF5 the way `nir.write` lays it out, with `node` replaced by `edit`.
fn raw(edit: impl FnOnce(&mut hdf5_pure::GroupBuilder)) -> Vec<u8> {
    let mut file = FileBuilder::new();
    file.create_dataset("version")
        .with_vlen_strings(&["1.0.8"])
        .with_shape(&[]);
    let mut node = file.create_group("node");
    edit(&mut node);
    file.add_group(node.finish());
    file.finish().unwrap()
}

fn put_type(g: &mut hdf5_pure::GroupBuilder, t: &str) {
    g.create_dataset("type")
        .with_vlen_strings(&[t])
        .with_shape(&[]);
}

fn two_node_graph(lif_edit: impl FnOnce(&mut hdf5_pure::GroupBuilder)) -> Vec<u8> {
    raw(|node| {
        put_type(node, "NIRGraph");
        let mut nodes = node.create_group("nodes");
        let mut input = nodes.create_group("in");
        put_type(&mut input, "Input");
        input.create_dataset("shape").with_i64_data(&[2]);
        nodes.add_group(input.finish());
        let mut l = nodes.create_group("a");
        put_type(&mut l, "LIF");
        lif_edit(&mut l);
        nodes.add_group(l.finish());
        node.add_group(nodes.finish());
        node.create_dataset("edges")
            .with_vlen_strings(&["in", "a"])
            .with_shape(&[1, 2]);
    })
}

#[test]
fn missing_datasets_and_wrong_dtypes_are_named() {
    let full = |g: &mut hdf5_pure::GroupBuilder, skip: &str| {
        for name in ["tau", "r", "v_leak", "v_threshold"] {
            if name != skip {
                g.create_dataset(name).with_f64_data(&[1e-3, 1e-3]);
            }
        }
    };
    let ok = two_node_graph(|g| full(g, ""));
    import_bytes(ok, "ok.nir").unwrap();
    let missing = two_node_graph(|g| full(g, "v_threshold"));
    let e = import_bytes(missing, "m.nir").unwrap_err().to_string();
    assert!(
        e.contains("m.nir") && e.contains("node a") && e.contains("v_threshold"),
        "{e}"
    );
    let wrong = two_node_graph(|g| {
        full(g, "tau");
        g.create_dataset("tau").with_vlen_strings(&["fast", "slow"]);
    });
    let e = import_bytes(wrong, "w.nir").unwrap_err().to_string();
    assert!(
        e.contains("node a") && e.contains("tau") && e.contains("expected float"),
        "{e}"
    );
    let no_type = raw(|node| {
        node.create_dataset("edges")
            .with_vlen_strings(&[])
            .with_shape(&[0, 2]);
    });
    let e = import_bytes(no_type, "t.nir").unwrap_err().to_string();
    assert!(e.contains("t.nir") && e.contains("`nodes`"), "{e}");
    let e = import_bytes(b"not hdf5 at all".to_vec(), "x.nir")
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.nir") && e.contains("HDF5"), "{e}");
}

#[test]
fn deep_nesting_is_refused() {
    fn nest(g: &mut hdf5_pure::GroupBuilder, depth: usize) {
        put_type(g, "NIRGraph");
        let mut nodes = g.create_group("nodes");
        if depth > 0 {
            let mut inner = nodes.create_group("g");
            nest(&mut inner, depth - 1);
            nodes.add_group(inner.finish());
        }
        g.add_group(nodes.finish());
        g.create_dataset("edges")
            .with_vlen_strings(&[])
            .with_shape(&[0, 2]);
    }
    let bytes = raw(|node| nest(node, lifchip_nir::MAX_DEPTH + 4));
    let e = import_bytes(bytes, "deep.nir").unwrap_err().to_string();
    assert!(e.contains("deep.nir") && e.contains("nested deeper"), "{e}");
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let g = graph(
        vec![
            (
                "in",
                NirNode::Input {
                    shape: vec![1 << 20, 1 << 20, 1 << 20],
                },
            ),
            ("a", lif(1)),
        ],
        &[("in", "a")],
    );
    let e = import_graph(&g).unwrap_err().to_string();
    assert!(e.contains("hostile.nir") && e.contains("in"), "{e}");
}
