//! The parsers under test: for each, seed inputs (real files of the repository or files the
//! library writes), how a mutated case is laid out on disk, and the call a command makes.

use std::path::{Path, PathBuf};

use crate::mutate::{Flavor, Rng, mutate};

/// Every parser lifchip runs on a user's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parser {
    /// A net as one YAML file (`lifchip_net::load`).
    NetYaml,
    /// A `NAME.net/` directory: `manifest.yaml` + `weights.bin`.
    NetDir,
    /// An `--input-spikes` JSON file.
    Spikes,
    /// A rate profile (`lifchip profile`'s output, read by `compile --profile`).
    RateProfile,
    /// A training config (`lifchip train --config`).
    TrainConfig,
    /// A sweep spec (`lifchip sweep`), with its targets resolved and its points planned.
    SweepSpec,
    /// A target YAML file.
    Target,
    /// A NIR (HDF5) file, imported as a net.
    Nir,
    /// A CHIPDIR (`manifest.json`, `target.yaml`, `cores.bin`), read and, when accepted,
    /// emulated for a few ticks.
    Chip,
    /// IDX (MNIST-layout) images and labels, raw or gzip.
    Idx,
}

impl Parser {
    pub const ALL: [Parser; 10] = [
        Parser::NetYaml,
        Parser::NetDir,
        Parser::Spikes,
        Parser::RateProfile,
        Parser::TrainConfig,
        Parser::SweepSpec,
        Parser::Target,
        Parser::Nir,
        Parser::Chip,
        Parser::Idx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Parser::NetYaml => "net-yaml",
            Parser::NetDir => "net-dir",
            Parser::Spikes => "spikes",
            Parser::RateProfile => "rate-profile",
            Parser::TrainConfig => "train-config",
            Parser::SweepSpec => "sweep-spec",
            Parser::Target => "target",
            Parser::Nir => "nir",
            Parser::Chip => "chip",
            Parser::Idx => "idx",
        }
    }

    pub fn parse(name: &str) -> Option<Parser> {
        Parser::ALL.into_iter().find(|p| p.name() == name)
    }

    fn flavor(self) -> Flavor {
        match self {
            Parser::Nir | Parser::Idx => Flavor::Binary,
            _ => Flavor::Text,
        }
    }

    /// A number mixed into the case seed, so that parsers draw different inputs.
    fn salt(self) -> u64 {
        Parser::ALL.iter().position(|p| *p == self).unwrap_or(0) as u64 + 1
    }
}

/// One input: the files of a case, as paths relative to the case directory.
pub type Files = Vec<(String, Vec<u8>)>;

/// The repository root (examples, targets, fixtures).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> Vec<u8> {
    let p = root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("seed {}: {e}", p.display()))
}

/// The files of a directory written by a library, as seed files under `prefix/`.
fn dir_files(dir: &Path, prefix: &str) -> Files {
    let mut out: Files = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.expect("a directory entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).expect("a seed file");
            (format!("{prefix}/{name}"), bytes)
        })
        .collect();
    out.sort();
    out
}

fn example_nets() -> Vec<lifchip_net::Net> {
    let mut nets: Vec<lifchip_net::Net> = [
        "examples/hand-written.yaml",
        "examples/xylo-hand-written.yaml",
    ]
    .iter()
    .map(|p| lifchip_net::load(&root().join(p)).expect("an example net"))
    .collect();
    // A conv net with pooling, imported from NIR, for the op pipeline.
    let nir = root().join("tests/fixtures/nir/sinabs_conv.nir");
    nets.push(
        lifchip_nir::import(&nir, &lifchip_nir::ImportOptions::default()).expect("a NIR fixture"),
    );
    nets
}

fn chip_seed(net_path: &str, target: &str, scratch: &Path) -> Files {
    let net = lifchip_net::load(&root().join(net_path)).expect("an example net");
    let target = lifchip_target::builtin(target).expect("a built-in target");
    compiled_chip_seed(&net, target, scratch)
}

/// A chip of 72 one-neuron cores (two inputs, one dense projection): enough cores for the
/// reader to decode `cores.bin` in two halves when its pool has two threads.
fn many_core_chip_seed(scratch: &Path) -> Files {
    let n = 72;
    let list = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(", ");
    let yaml = format!(
        "name: many-cores\npopulations:\n  - {{name: in, shape: [2], neuron: {{kind: input}}}}\n  \
         - name: out\n    shape: [{n}]\n    neuron: {{kind: chip_lif, current_decay: 1024, \
         voltage_decay: 256, threshold: 100, bias: [{}]}}\nprojections:\n  - name: in_out\n    \
         from: in\n    to: out\n    weight_exp: 0\n    ops:\n      - kind: dense\n        \
         weights: [{}]\n",
        list(&|i| (i % 3).to_string()),
        // One row per neuron: its weights from the two inputs.
        list(&|i| format!("[{}, {}]", 20 + 2 * (i % 40), -((i % 7) as i64) * 10)),
    );
    let net = lifchip_net::from_yaml_str(&yaml).expect("the many-core net");
    let mut target = lifchip_target::builtin("loihi-like").expect("a built-in target");
    target.core.neurons = 1;
    compiled_chip_seed(&net, target, scratch)
}

fn compiled_chip_seed(
    net: &lifchip_net::Net,
    target: lifchip_target::Target,
    scratch: &Path,
) -> Files {
    let opts = lifchip_compiler::QuantizeOptions::default();
    let (mapped, _) = lifchip_compiler::compile(net, &target, &opts).expect("it compiles");
    let config = lifchip_backend_core::emit(&mapped, &target).expect("it emits");
    let dir = scratch.join(format!("seed-{}-{}.chip", net.name, target.name));
    lifchip_chip::write_chipdir(&config, &dir).expect("a CHIPDIR");
    dir_files(&dir, "c.chip")
}

fn idx_seed(gz: bool, n: usize) -> Files {
    use lifchip_data::{IdxKind, encode_idx};
    let pixels: Vec<u8> = (0..n * 28 * 28).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let images = encode_idx(IdxKind::Images, &[n, 28, 28], &pixels).expect("IDX images");
    let labels = encode_idx(IdxKind::Labels, &[n], &labels).expect("IDX labels");
    if gz {
        vec![
            ("t10k-images-idx3-ubyte.gz".into(), gzip(&images)),
            ("t10k-labels-idx1-ubyte.gz".into(), gzip(&labels)),
        ]
    } else {
        vec![
            ("t10k-images-idx3-ubyte".into(), images),
            ("t10k-labels-idx1-ubyte".into(), labels),
        ]
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn rate_profile_seed(net: &lifchip_net::Net) -> Vec<u8> {
    let populations: Vec<serde_json::Value> = net
        .populations
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let rates: Vec<f64> = (0..p.size()).map(|k| ((i + k) % 7) as f64 * 0.03).collect();
            serde_json::json!({"name": p.name, "rates": rates})
        })
        .collect();
    let v = serde_json::json!({
        "source": "fuzz seed",
        "net_hash": net.fingerprint(),
        "dt": 0.001,
        "input_rate": 1.0,
        "populations": populations,
    });
    serde_json::to_vec_pretty(&v).expect("JSON")
}

/// The seed inputs of every parser, built once (some are written by the libraries).
pub struct Corpus {
    seeds: Vec<(Parser, Vec<Files>)>,
    /// What seed files refer to (the rate profile's net).
    profile_net: lifchip_net::Net,
    _scratch: tempfile::TempDir,
}

impl Corpus {
    pub fn new() -> Corpus {
        let scratch = tempfile::tempdir().expect("a temp dir");
        let nets = example_nets();
        let one = |rel: &str, name: &str| vec![(name.to_string(), read(rel))];
        let mut seeds = Vec::new();
        seeds.push((
            Parser::NetYaml,
            nets.iter()
                .map(|n| {
                    let text = lifchip_net::to_yaml_string(n).expect("YAML");
                    vec![("net.yaml".to_string(), text.into_bytes())]
                })
                .chain([one("examples/hand-written.yaml", "net.yaml")])
                .collect(),
        ));
        seeds.push((
            Parser::NetDir,
            nets.iter()
                .enumerate()
                .map(|(i, n)| {
                    let dir = scratch.path().join(format!("seed{i}.net"));
                    lifchip_net::save(n, &dir).expect("a net directory");
                    dir_files(&dir, "n.net")
                })
                .collect(),
        ));
        seeds.push((
            Parser::Spikes,
            vec![
                one("examples/hand-written-spikes.json", "spikes.json"),
                one("examples/xylo-hand-written-spikes.json", "spikes.json"),
            ],
        ));
        seeds.push((
            Parser::RateProfile,
            vec![vec![("profile.json".into(), rate_profile_seed(&nets[0]))]],
        ));
        seeds.push((
            Parser::TrainConfig,
            vec![
                one("examples/mnist-mlp.yaml", "config.yaml"),
                one("examples/mnist-conv.yaml", "config.yaml"),
            ],
        ));
        let mut specs = Vec::new();
        for name in [
            "core-limits",
            "mnist-mlp-14x14",
            "targets-small",
            "weight-bits",
            "weight-bits-qat",
        ] {
            specs.push(one(&format!("examples/sweeps/{name}.yaml"), "spec.yaml"));
        }
        seeds.push((Parser::SweepSpec, specs));
        seeds.push((
            Parser::Target,
            ["loihi-like", "tiny", "truenorth-like", "xylo-like"]
                .iter()
                .map(|t| one(&format!("targets/{t}.yaml"), "target.yaml"))
                .collect(),
        ));
        let mut nir: Vec<Files> = std::fs::read_dir(root().join("tests/fixtures/nir"))
            .expect("the NIR fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| lifchip_nir::is_nir_path(p))
            .map(|p| vec![("net.nir".to_string(), std::fs::read(p).expect("a fixture"))])
            .collect();
        nir.sort();
        seeds.push((Parser::Nir, nir));
        seeds.push((
            Parser::Chip,
            vec![
                chip_seed("examples/hand-written.yaml", "loihi-like", scratch.path()),
                chip_seed(
                    "examples/xylo-hand-written.yaml",
                    "xylo-like",
                    scratch.path(),
                ),
                many_core_chip_seed(scratch.path()),
            ],
        ));
        seeds.push((Parser::Idx, vec![idx_seed(false, 3), idx_seed(true, 5)]));
        Corpus {
            seeds,
            profile_net: nets[0].clone(),
            _scratch: scratch,
        }
    }

    pub fn seeds(&self, parser: Parser) -> &[Files] {
        self.seeds
            .iter()
            .find(|(p, _)| *p == parser)
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[])
    }

    /// The input of case `case` of `parser` under `seed`: a seed file set with one file
    /// mutated, checksums the format carries recomputed about half the time (so that mutations
    /// reach the structure behind them), and now and then an unmutated seed.
    pub fn case(&self, parser: Parser, seed: u64, case: u64) -> Files {
        let mut rng = Rng::new(
            seed ^ parser.salt().wrapping_mul(0xd6e8_feb8_6659_fd93)
                ^ case.wrapping_mul(0xa076_1d64_78bd_642f),
        );
        let seeds = self.seeds(parser);
        let mut files = rng.pick(seeds).clone();
        if case == 0 {
            return files;
        }
        let which = rng.below(files.len());
        let others: Vec<&[u8]> = seeds
            .iter()
            .flat_map(|s| s.iter().map(|(_, b)| b.as_slice()))
            .collect();
        let name = files[which].0.clone();
        let original = files[which].1.clone();
        let gz = name.ends_with(".gz");
        let mutated = if gz && rng.chance(60) {
            // Mutate what is inside the gzip stream, so that the IDX decoder sees it.
            match gunzip(&original) {
                Some(raw) => gzip(&mutate(&mut rng, &raw, &others, parser.flavor())),
                None => mutate(&mut rng, &original, &others, parser.flavor()),
            }
        } else {
            mutate(&mut rng, &original, &others, parser.flavor())
        };
        files[which].1 = mutated;
        if rng.chance(50) {
            fix_checksums(&mut files, &name, &original);
        }
        files
    }

    /// Writes `files` into `dir` (emptied first) and runs the parser on them. `Err` carries the
    /// message of a refusal and whether that message must name the file.
    pub fn run(&self, parser: Parser, dir: &Path, files: &Files) -> Result<(), Refusal> {
        write_files(dir, files);
        let reader = |e: &dyn std::fmt::Display| Refusal {
            message: e.to_string(),
            names_file: true,
        };
        let later = |e: &dyn std::fmt::Display| Refusal {
            message: e.to_string(),
            names_file: false,
        };
        match parser {
            Parser::NetYaml => lifchip_net::load(&dir.join("net.yaml"))
                .map(drop)
                .map_err(|e| reader(&e)),
            Parser::NetDir => lifchip_net::load(&dir.join("n.net"))
                .map(drop)
                .map_err(|e| reader(&e)),
            Parser::Spikes => {
                let spikes = lifchip_data::InputSpikes::from_json_file(&dir.join("spikes.json"))
                    .map_err(|e| reader(&e))?;
                spikes.validate(16).map_err(|e| later(&e))?;
                let _ = spikes.per_tick();
                Ok(())
            }
            Parser::RateProfile => {
                let profile = lifchip_study::profile::load_profile(&dir.join("profile.json"))
                    .map_err(|e| reader(&e))?;
                let target = lifchip_target::builtin("loihi-like").expect("a built-in target");
                let opts = lifchip_compiler::QuantizeOptions::default();
                lifchip_compiler::compile_with_profile(
                    &self.profile_net,
                    &target,
                    &opts,
                    Some(&profile),
                )
                .map(drop)
                .map_err(|r| later(&format!("{:?}", r.violations)))
            }
            Parser::TrainConfig => lifchip_train::TrainConfig::load(&dir.join("config.yaml"))
                .map(drop)
                .map_err(|e| reader(&e)),
            Parser::SweepSpec => {
                use lifchip_study::{plan, spec::SpecFile};
                let file = SpecFile::load(&dir.join("spec.yaml")).map_err(|e| reader(&e))?;
                let bases = plan::resolve_targets(&file).map_err(|e| reader(&e))?;
                let _ = file.nir_options().map_err(|e| reader(&e))?;
                let points = plan::plan_points(&file, &bases, "net", "data", "qat", "train");
                std::hint::black_box(points.len());
                Ok(())
            }
            Parser::Target => lifchip_target::load(dir.join("target.yaml"))
                .map(drop)
                .map_err(|e| reader(&e)),
            Parser::Nir => lifchip_nir::import(&dir.join("net.nir"), &Default::default())
                .map(drop)
                .map_err(|e| reader(&e)),
            Parser::Chip => {
                let config =
                    lifchip_chip::read_chipdir(&dir.join("c.chip")).map_err(|e| reader(&e))?;
                let mut emu = lifchip_emulator::Emulator::new(&config).map_err(|e| later(&e))?;
                let channels = emu.input_channels() as u32;
                let input: Vec<Vec<u32>> = (0..4)
                    .map(|t| (0..channels.min(8)).filter(|c| (c + t) % 2 == 0).collect())
                    .collect();
                emu.run(&input, &lifchip_emulator::RunOptions::new(6))
                    .map(drop)
                    .map_err(|e| later(&e))
            }
            Parser::Idx => lifchip_data::load(
                &lifchip_data::DataSource::Dir(dir.to_path_buf()),
                lifchip_data::Split::Test,
                None,
            )
            .map(drop)
            .map_err(|e| reader(&e)),
        }
    }
}

impl Default for Corpus {
    fn default() -> Self {
        Corpus::new()
    }
}

/// A refusal: the message, and whether it comes from reading the file (and so must name it).
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub names_file: bool,
}

/// Empties `dir` and writes `files` into it (creating subdirectories).
pub fn write_files(dir: &Path, files: &Files) {
    clear_dir(dir);
    for (name, bytes) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("a case directory");
        }
        std::fs::write(&p, bytes).expect("a case file");
    }
}

fn clear_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Recomputes `cores.bin`'s own CRC-32s: the file header's (over its first 28 bytes) and every
/// section's (tag, core, length and payload), walking the sections as the reader does until a
/// length runs past the end.
fn fix_cores_crcs(bytes: &mut [u8]) {
    const HEADER: usize = 32;
    const SECTION: usize = 16;
    if bytes.len() < HEADER || !bytes.starts_with(b"LIFCHIPC") {
        return;
    }
    let crc = crc32fast::hash(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    let mut at = HEADER;
    while bytes.len() - at >= SECTION + 4 {
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[at + 8..at + 16]);
        let len = u64::from_le_bytes(len);
        if len > (bytes.len() - at - SECTION - 4) as u64 {
            return;
        }
        let end = at + SECTION + len as usize;
        let crc = crc32fast::hash(&bytes[at..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        at = end + 4;
    }
}

/// Recomputes a CHIPDIR manifest's own hash (`manifest_fnv1a64`, the v4 seal) over its bytes
/// as they stand, so that a fixed-up or value-mutated manifest reaches the checks behind the
/// seal. The reader hashes its canonical re-serialization, so this matches exactly when the
/// (mutated) text is still in the writer's form: a changed value, a fixed-up checksum.
fn reseal_manifest(files: &mut Files) {
    const KEY: &[u8] = b"\"manifest_fnv1a64\": \"";
    let Some(m) = find(files, "manifest.json") else {
        return;
    };
    let bytes = &mut files[m].1;
    let Some(at) = bytes.windows(KEY.len()).position(|w| w == KEY) else {
        return;
    };
    let start = at + KEY.len();
    if bytes.len() < start + 17 || bytes[start + 16] != b'"' {
        return;
    }
    bytes[start..start + 16].copy_from_slice(b"0000000000000000");
    let hash = format!("{:016x}", lifchip_files::Fingerprint::of(bytes));
    bytes[start..start + 16].copy_from_slice(hash.as_bytes());
}

fn find(files: &Files, suffix: &str) -> Option<usize> {
    files.iter().position(|(n, _)| n.ends_with(suffix))
}

/// Recomputes the checksums that guard a mutated file: a net's `weights.bin` header (length and
/// CRC-32 of the payload), a CHIPDIR's `cores.bin` size and CRC-32 and `target.yaml` hash in
/// `manifest.json` — then a CHIPDIR manifest's own seal (`manifest_fnv1a64`). `name` is the
/// file that was mutated, `original` its bytes before.
pub fn fix_checksums(files: &mut Files, name: &str, original: &[u8]) {
    fix_file_checksums(files, name, original);
    reseal_manifest(files);
}

fn fix_file_checksums(files: &mut Files, name: &str, original: &[u8]) {
    if name.ends_with("weights.bin") {
        let Some(i) = find(files, "weights.bin") else {
            return;
        };
        let bytes = &mut files[i].1;
        if bytes.len() >= 24 && bytes.starts_with(b"LIFCHIPW") {
            let payload_len = (bytes.len() - 24) as u64;
            let crc = crc32fast::hash(&bytes[24..]);
            bytes[12..16].copy_from_slice(&crc.to_le_bytes());
            bytes[16..24].copy_from_slice(&payload_len.to_le_bytes());
        }
    } else if name.ends_with("cores.bin") || name.ends_with("target.yaml") {
        let (Some(m), Some(i)) = (find(files, "manifest.json"), find(files, name)) else {
            return;
        };
        if name.ends_with("cores.bin") {
            fix_cores_crcs(&mut files[i].1);
        }
        let new = files[i].1.clone();
        let manifest = String::from_utf8_lossy(&files[m].1).into_owned();
        let fixed = if name.ends_with("cores.bin") {
            manifest
                .replace(
                    &format!("{:08x}", crc32fast::hash(original)),
                    &format!("{:08x}", crc32fast::hash(&new)),
                )
                .replace(
                    &format!("\"bytes\": {}", original.len()),
                    &format!("\"bytes\": {}", new.len()),
                )
        } else {
            manifest.replace(
                &format!("{:016x}", lifchip_files::Fingerprint::of(original)),
                &format!("{:016x}", lifchip_files::Fingerprint::of(&new)),
            )
        };
        files[m].1 = fixed.into_bytes();
    }
}
