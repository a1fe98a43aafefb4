//! Reading and writing nets: a single YAML file, or a `NAME.net/` directory with
//! `manifest.yaml` and a checksummed little-endian `weights.bin`.
//!
//! `weights.bin` layout: 8 bytes magic `LIFCHIPW`, u32 version (1), u32 CRC-32 (IEEE) of the
//! payload, u64 payload length in bytes, then the payload: every tensor's values as f32 and every
//! index list as u32, little-endian, at the offsets the manifest gives. Writes are atomic: the
//! file or directory is built beside its destination and renamed into place.

use std::{fs, path::Path};

use crate::{Net, NetError, tensor::BlobRef};

/// The `format` value every net file carries.
pub const NET_FORMAT: &str = "lifchip-net";
/// The net format version this build reads and writes.
pub const NET_VERSION: u32 = 1;

const BLOB_MAGIC: &[u8; 8] = b"LIFCHIPW";
const BLOB_VERSION: u32 = 1;
const BLOB_HEADER: usize = 24;
const MANIFEST: &str = "manifest.yaml";
const WEIGHTS: &str = "weights.bin";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |source| NetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format_err(path: &Path, message: impl Into<String>) -> NetError {
    NetError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn parse_yaml(text: &str, path: &Path) -> Result<Net, NetError> {
    lifchip_files::check_yaml_nesting(text, lifchip_files::MAX_NESTING).map_err(|e| {
        NetError::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.to_string(),
        }
    })?;
    crate::de::from_yaml_str::<Net>(text).map_err(|e| NetError::Yaml {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })
}

/// Parses a single-file YAML net (inline weights) and validates it.
pub fn from_yaml_str(text: &str) -> Result<Net, NetError> {
    let net = parse_yaml(text, Path::new("<string>"))?;
    net.validate()?;
    Ok(net)
}

/// Serializes a net with inline weights as YAML.
pub fn to_yaml_string(net: &Net) -> Result<String, NetError> {
    serde_yaml::to_string(net).map_err(|e| NetError::invalid("net", e.to_string()))
}

/// Loads a net from a YAML file or a net directory, and validates it.
pub fn load(path: &Path) -> Result<Net, NetError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let net = if meta.is_dir() {
        load_dir(path)?
    } else {
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        parse_yaml(&text, path)?
    };
    net.validate()
        .map_err(|e| format_err(path, e.to_string()))?;
    Ok(net)
}

fn load_dir(dir: &Path) -> Result<Net, NetError> {
    let manifest_path = dir.join(MANIFEST);
    let text = fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
    let mut net = parse_yaml(&text, &manifest_path)?;
    let weights_path = dir.join(WEIGHTS);
    let bytes = fs::read(&weights_path).map_err(io_err(&weights_path))?;
    let payload = check_blob(&bytes, &weights_path)?;
    let (tensors, indices) = net.tensors_mut();
    for t in tensors {
        if let Some(blob) = t.blob.take() {
            t.data = blob_slice(payload, blob, &weights_path)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
    }
    for i in indices {
        if let Some(blob) = i.blob.take() {
            i.data = blob_slice(payload, blob, &weights_path)?
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
    }
    Ok(net)
}

fn check_blob<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], NetError> {
    if bytes.len() < BLOB_HEADER {
        return Err(format_err(
            path,
            format!(
                "truncated: {} bytes, a weights file has a {BLOB_HEADER}-byte header",
                bytes.len()
            ),
        ));
    }
    if &bytes[..8] != BLOB_MAGIC {
        return Err(format_err(
            path,
            "not a lifchip weights file (magic LIFCHIPW missing)",
        ));
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = word(8);
    if version != BLOB_VERSION {
        return Err(format_err(
            path,
            format!("weights version {version} is not supported (expected {BLOB_VERSION})"),
        ));
    }
    let crc = word(12);
    let len = u64::from(word(16)) | (u64::from(word(20)) << 32);
    let payload = &bytes[BLOB_HEADER..];
    if payload.len() as u64 != len {
        return Err(format_err(
            path,
            format!(
                "header says {len} payload bytes, file holds {} (truncated or padded)",
                payload.len()
            ),
        ));
    }
    let actual = crc32fast::hash(payload);
    if actual != crc {
        return Err(format_err(
            path,
            format!("checksum mismatch: header {crc:08x}, payload {actual:08x} (file corrupt)"),
        ));
    }
    Ok(payload)
}

fn blob_slice<'a>(payload: &'a [u8], blob: BlobRef, path: &Path) -> Result<&'a [u8], NetError> {
    let start = blob.offset;
    let end = blob.count.checked_mul(4).and_then(|n| n.checked_add(start));
    match end {
        Some(end) if start.is_multiple_of(4) && end <= payload.len() as u64 => {
            Ok(&payload[start as usize..end as usize])
        }
        _ => Err(format_err(
            path,
            format!(
                "manifest refers to {} values at byte {} but the payload holds {} bytes",
                blob.count,
                blob.offset,
                payload.len()
            ),
        )),
    }
}

/// Writes a net atomically: `*.yaml`/`*.yml` paths get a single YAML file with inline weights,
/// any other path a net directory. The net is validated first, so a broken net is never written.
pub fn save(net: &Net, path: &Path) -> Result<(), NetError> {
    net.validate()?;
    let is_yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if is_yaml {
        let text = to_yaml_string(net)?;
        write_file_atomic(path, text.as_bytes())
    } else {
        save_dir(net, path)
    }
}

fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetError> {
    lifchip_files::write_atomic(path, bytes).map_err(io_err(path))
}

fn save_dir(net: &Net, path: &Path) -> Result<(), NetError> {
    if path.is_file() {
        return Err(format_err(
            path,
            "exists and is a file; a net directory was to be written here",
        ));
    }
    if path.is_dir()
        && fs::read_dir(path).map_err(io_err(path))?.next().is_some()
        && !path.join(MANIFEST).is_file()
    {
        return Err(format_err(
            path,
            "exists and is not a net directory (no manifest.yaml); refusing to replace it",
        ));
    }
    let mut copy = net.clone();
    let mut payload: Vec<u8> = Vec::new();
    let (tensors, indices) = copy.tensors_mut();
    for t in tensors {
        let offset = payload.len() as u64;
        payload.reserve(t.data.len() * 4);
        for v in &t.data {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        t.blob = Some(BlobRef {
            offset,
            count: t.data.len() as u64,
        });
        t.data = Vec::new();
    }
    for i in indices {
        let offset = payload.len() as u64;
        for v in &i.data {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        i.blob = Some(BlobRef {
            offset,
            count: i.data.len() as u64,
        });
        i.data = Vec::new();
    }
    let manifest = to_yaml_string(&copy)?;
    let mut blob = Vec::with_capacity(BLOB_HEADER + payload.len());
    blob.extend_from_slice(BLOB_MAGIC);
    blob.extend_from_slice(&BLOB_VERSION.to_le_bytes());
    blob.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    blob.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    blob.extend_from_slice(&payload);

    lifchip_files::write_dir_atomic(path, &[(MANIFEST, manifest.as_bytes()), (WEIGHTS, &blob)])
        .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        LinearOp, Neuron, Population, Projection, SoftLif, SoftLifKind, Tensor, tensor::Indices,
    };

    fn sample_net(n_hidden: usize) -> Net {
        let mut net = Net::new("t");
        net.populations.push(Population {
            name: "in".into(),
            shape: vec![1, 4, 4],
            neuron: Neuron::Input,
        });
        let lif = |n: usize| {
            Neuron::SoftLif(SoftLif {
                rate: SoftLifKind::Soft,
                tau_rc: 0.02,
                tau_ref: 0.002,
                amplitude: 0.063,
                gamma: 0.02,
                gain: 1.0,
                bias: Tensor::new(vec![n], (0..n).map(|v| v as f32 * 0.5).collect()),
            })
        };
        net.populations.push(Population {
            name: "h".into(),
            shape: vec![n_hidden],
            neuron: lif(n_hidden),
        });
        net.populations.push(Population {
            name: "out".into(),
            shape: vec![3],
            neuron: lif(3),
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: "in_h".into(),
            from: "in".into(),
            to: "h".into(),
            ops: vec![
                LinearOp::Flatten,
                LinearOp::Dense {
                    weights: Tensor::new(
                        vec![n_hidden, 16],
                        (0..n_hidden * 16).map(|v| (v as f32).sin()).collect(),
                    ),
                },
            ],
            weight_exp: 0,
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: "h_out".into(),
            from: "h".into(),
            to: "out".into(),
            ops: vec![LinearOp::Sparse {
                outputs: 3,
                pre: Indices::new(vec![0, 1, 2]),
                post: Indices::new(vec![2, 1, 0]),
                weights: Tensor::new(vec![3], vec![1.5, -2.0, 0.25]),
            }],
            weight_exp: 0,
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: "h_h".into(),
            from: "h".into(),
            to: "h".into(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::zeros(vec![n_hidden, n_hidden]),
            }],
            weight_exp: 0,
        });
        net
    }

    #[test]
    fn deeply_nested_yaml_is_refused_quickly() {
        let text = format!("name: x\npopulations: {}", "[".repeat(100_000));
        let start = std::time::Instant::now();
        let err = from_yaml_str(&text).unwrap_err();
        assert!(
            start.elapsed().as_secs_f64() < 1.0,
            "took {:?}",
            start.elapsed()
        );
        assert!(err.to_string().contains("nesting deeper than 64"), "{err}");
    }

    #[test]
    fn round_trip_dir_and_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let net = sample_net(5);
        let p = dir.path().join("a.net");
        save(&net, &p).unwrap();
        assert_eq!(load(&p).unwrap(), net);
        // Saving again replaces the directory in place.
        save(&net, &p).unwrap();
        assert_eq!(load(&p).unwrap(), net);
        let y = dir.path().join("a.yaml");
        save(&net, &y).unwrap();
        assert_eq!(load(&y).unwrap(), net);
        assert_eq!(net.fingerprint(), load(&p).unwrap().fingerprint());
    }

    /// The fingerprint as it was first computed: on a whole copy of the net, emptied.
    fn fingerprint_of_a_copy(net: &Net) -> u64 {
        let mut copy = net.clone();
        let mut hash = lifchip_files::Fingerprint::new();
        let (tensors, indices) = copy.tensors_mut();
        for t in tensors {
            for v in &t.data {
                hash.bytes(&v.to_le_bytes());
            }
            t.data.clear();
            t.blob = None;
        }
        for i in indices {
            for v in &i.data {
                hash.bytes(&v.to_le_bytes());
            }
            i.data.clear();
            i.blob = None;
        }
        hash.bytes(serde_json::to_string(&copy).unwrap().as_bytes());
        hash.value()
    }

    #[test]
    fn fingerprint_reads_the_values_in_place_with_the_same_result() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut nets = vec![sample_net(5), sample_net(1100)];
        for example in [
            "examples/hand-written.yaml",
            "examples/xylo-hand-written.yaml",
        ] {
            nets.push(load(&root.join(example)).unwrap());
        }
        // Conv, pooling and every other op kind; blob references from a saved copy.
        let mut conv = sample_net(4);
        conv.projections[0].ops.insert(
            0,
            LinearOp::Conv2d {
                out_channels: 2,
                kernel: [3, 3],
                stride: [1, 2],
                padding: [1, 0],
                weights: Tensor::new(vec![2, 1, 3, 3], (0..18).map(|k| k as f32 * 0.5).collect()),
            },
        );
        conv.projections[0].ops.insert(
            1,
            LinearOp::AvgPool {
                size: [2, 2],
                stride: Some([1, 1]),
            },
        );
        nets.push(conv);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.net");
        save(&sample_net(7), &p).unwrap();
        nets.push(load(&p).unwrap());
        for (k, net) in nets.iter().enumerate() {
            assert_eq!(net.fingerprint(), fingerprint_of_a_copy(net), "net {k}");
        }
        // Every value counts.
        let mut changed = nets[0].clone();
        if let LinearOp::Sparse { pre, .. } = &mut changed.projections[1].ops[0] {
            pre.data[0] ^= 1;
        }
        assert_ne!(changed.fingerprint(), nets[0].fingerprint());
    }

    #[test]
    fn corrupt_weights_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.net");
        save(&sample_net(4), &p).unwrap();
        let w = p.join(WEIGHTS);
        let mut bytes = fs::read(&w).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&w, &bytes).unwrap();
        assert!(
            load(&p)
                .unwrap_err()
                .to_string()
                .contains("checksum mismatch")
        );
        fs::write(&w, &bytes[..bytes.len() - 7]).unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("truncated"));
        fs::write(&w, b"nope").unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn yaml_errors_have_positions() {
        let text = "name: x\npopulations: []\nprojections: []\nbogus: 1\n";
        let e = parse_yaml(text, Path::new("f.yaml")).unwrap_err();
        match e {
            NetError::Yaml { line, .. } => assert!(line >= 1),
            other => panic!("unexpected {other}"),
        }
    }

    /// A wrong value inside a population's neuron names the field, not the population, and
    /// no location pointing elsewhere (issue 15).
    #[test]
    fn type_errors_name_the_field_inside_the_neuron() {
        let text = "name: x\npopulations:\n  - {name: in, shape: [2], neuron: {kind: input}}\n  - name: out\n    shape: [2]\n    neuron: {kind: chip_lif, current_decay: 1, voltage_decay: 0, threshold: .nan}\nprojections: []\n";
        let e = parse_yaml(text, Path::new("n.yaml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "n.yaml: populations[1].neuron.threshold: NaN is not an integer (chip-unit parameters are integers)"
        );
        let text = text.replace("threshold: .nan", "threshold: 1, bias: [1, x]");
        let e = parse_yaml(&text, Path::new("n.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("n.yaml: populations[1].neuron.bias: "), "{e}");
        let text = text.replace("bias: [1, x]", "refractory: 1, bogus: 2");
        let e = parse_yaml(&text, Path::new("n.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("n.yaml: populations[1].neuron: unknown field `bogus`"),
            "{e}"
        );
    }

    /// The same inside a projection's ops, whose variants serde also buffers (issue 15).
    #[test]
    fn errors_inside_ops_name_the_field() {
        let text = "name: x\npopulations:\n  - {name: in, shape: [2], neuron: {kind: input}}\n  - {name: out, shape: [2], neuron: {kind: relu, bias: 0}}\nprojections:\n  - name: p\n    from: in\n    to: out\n    ops:\n      - {kind: flatten}\n      - {kind: sparse, outputs: 2, pre: [0], post: [1], weights: [1]}\n";
        assert!(parse_yaml(text, Path::new("n.yaml")).is_ok());
        let error = |from: &str, to: &str| {
            let bad = text.replace(from, to);
            assert_ne!(bad, text);
            parse_yaml(&bad, Path::new("n.yaml"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("outputs: 2", "outputs: -2"),
            "n.yaml: projections[0].ops[1].outputs: invalid value: integer `-2`, expected usize"
        );
        assert_eq!(
            error("pre: [0]", "pre: [x]"),
            "n.yaml: projections[0].ops[1].pre: expected a list of indices (integers from 0 to 4294967295) or {blob: {offset, count}}"
        );
        assert_eq!(
            error("weights: [1]", "weights: [a]"),
            "n.yaml: projections[0].ops[1].weights: expected a number, a list of numbers, a list of rows of numbers, or {shape: [..], values: [..]}"
        );
        assert!(
            error("weights: [1]}", "weights: [1], bogus: 1}")
                .starts_with("n.yaml: projections[0].ops[1]: unknown field `bogus`"),
        );
        assert!(
            error("{kind: flatten}", "{kind: flatten, size: 2}")
                .starts_with("n.yaml: projections[0].ops[0]: unknown field `size`"),
        );
        assert!(
            error("kind: sparse", "kind: sparze")
                .starts_with("n.yaml:11:16: projections[0].ops[1].kind: unknown variant `sparze`"),
        );
    }

    #[test]
    fn validation_lists_every_problem() {
        let mut net = sample_net(4);
        net.projections[0].to = "nowhere".into();
        net.populations[2].shape = vec![0];
        let msg = net.validate().unwrap_err().to_string();
        assert!(msg.contains("nowhere"), "{msg}");
        assert!(msg.contains("shape [0]"), "{msg}");
    }

    #[test]
    fn million_weights_load_fast() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.net");
        let mut big = sample_net(1000);
        if let LinearOp::Dense { weights } = &mut big.projections[2].ops[0] {
            *weights = Tensor::new(vec![1000, 1000], vec![0.5; 1_000_000]);
        }
        save(&big, &p).unwrap();
        let t = std::time::Instant::now();
        let loaded = load(&p).unwrap();
        assert!(t.elapsed().as_secs_f64() < 1.0, "{:?}", t.elapsed());
        assert_eq!(loaded, big);
    }

    #[test]
    fn hand_written_chip_net() {
        let yaml = r#"
name: hand
populations:
  - {name: in, shape: [2], neuron: {kind: input}}
  - name: out
    shape: [2]
    neuron: {kind: chip_lif, current_decay: 4095, voltage_decay: 0, threshold: 100, bias: 0}
projections:
  - name: w
    from: in
    to: out
    weight_exp: 1
    ops: [{kind: dense, weights: [[3, -4], [1, 2]]}]
"#;
        let net = from_yaml_str(yaml).unwrap();
        assert!(net.is_chip_units());
        let bad = yaml.replace("[[3, -4]", "[[3.5, -4]");
        assert!(
            from_yaml_str(&bad)
                .unwrap_err()
                .to_string()
                .contains("integers")
        );
    }
}
