//! CHIPDIR on disk: `manifest.json`, `target.yaml` and `cores.bin`, written atomically and read
//! back with every check of the format.

use std::{fs, io::Write, path::Path};

use lifchip_target::Target;
use serde::{Deserialize, Serialize};

use crate::{
    ChipConfig, ChipError, FlatChip, PopulationInfo,
    binary::{self, CoresImage},
    validate::{check_bits, population_size, weight_format},
    view::{ChipView, CoreView, synapse_bits},
};

/// Name of the format, as written in `manifest.json`.
pub const CHIPDIR_FORMAT: &str = "lifchip-chipdir";
/// Version of the CHIPDIR format (manifest and `cores.bin` together).
pub const CHIPDIR_VERSION: u32 = 4;

const MANIFEST: &str = "manifest.json";
const TARGET: &str = "target.yaml";
const CORES: &str = "cores.bin";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    target: TargetRef,
    net: NetRef,
    readout: u32,
    input_channels: u64,
    /// `ChipConfig::input_rate`, as the shortest decimal that reads back exactly.
    input_rate: String,
    cores_bin: FileRef,
    cores: Vec<CoreSummary>,
    populations: Vec<PopulationSummary>,
    /// FNV-1a 64 (16 hex digits) of this manifest as the writer writes it, with this field
    /// set to [`UNSEALED`]: every other field (`input_rate`, `readout`, …) is covered.
    manifest_fnv1a64: String,
}

/// The value `manifest_fnv1a64` holds while the manifest's own hash is computed.
const UNSEALED: &str = "0000000000000000";

/// Longest value a message echoes from a file.
const ECHO_CHARS: usize = 80;

/// `text`, cut to [`ECHO_CHARS`] characters with "…" when longer.
fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The manifest's bytes as the writer writes them, `manifest_fnv1a64` included.
fn seal(manifest: &mut Manifest) -> Result<Vec<u8>, ChipError> {
    let pretty = |m: &Manifest| {
        serde_json::to_vec_pretty(m)
            .map(|mut bytes| {
                bytes.push(b'\n');
                bytes
            })
            .map_err(|e| {
                ChipError::invalid(None, "manifest", format!("cannot be written as JSON: {e}"))
            })
    };
    manifest.manifest_fnv1a64 = UNSEALED.to_string();
    manifest.manifest_fnv1a64 = format!(
        "{:016x}",
        lifchip_files::Fingerprint::of(&pretty(manifest)?)
    );
    pretty(manifest)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRef {
    name: String,
    file: String,
    /// FNV-1a 64 of `target.yaml`'s bytes, 16 hex digits.
    fnv1a64: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetRef {
    name: String,
    /// The net's hash, 16 hex digits.
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRef {
    file: String,
    bytes: u64,
    crc32: String,
    weight_field_bits: u32,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoreSummary {
    id: u32,
    x: u32,
    y: u32,
    compartments: u64,
    axons: u64,
    synapses: u64,
    groups: u64,
    destinations: u64,
    /// Synapse memory the target's cost model charges for this core.
    synapse_bits: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationSummary {
    name: String,
    shape: Vec<usize>,
    is_input: bool,
    neurons: u64,
}

/// Each core's summary for the manifest; the synapse memory bits are taken from `known` for
/// the cores it has them for (the checks computed them) and computed for the others.
fn summaries_with<C: ChipView>(config: &C, known: &[Option<u64>]) -> Vec<CoreSummary> {
    config
        .cores()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let synapses: u64 = c.axons().map(|a| a.synapses.len() as u64).sum();
            CoreSummary {
                id: c.id(),
                x: c.x(),
                y: c.y(),
                compartments: c.compartments().len() as u64,
                axons: c.n_axons() as u64,
                synapses,
                groups: c.group_exponents().len() as u64,
                destinations: c
                    .compartments()
                    .iter()
                    .map(|k| k.destinations.len() as u64)
                    .sum(),
                synapse_bits: known
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or_else(|| synapse_bits(c, config.target())),
            }
        })
        .collect()
}

/// `manifest.json`'s bytes for `config`, whose per-core summaries are `cores` and whose other
/// two files are `target` and a `cores.bin` of that length and CRC.
fn manifest_bytes<C: ChipView>(
    config: &C,
    cores: Vec<CoreSummary>,
    target: &[u8],
    (cores_len, cores_crc): (u64, u32),
    field_bits: u32,
) -> Result<Vec<u8>, ChipError> {
    let mut manifest = Manifest {
        format: CHIPDIR_FORMAT.to_string(),
        version: CHIPDIR_VERSION,
        target: TargetRef {
            name: config.target().name.clone(),
            file: TARGET.to_string(),
            fnv1a64: format!("{:016x}", lifchip_files::Fingerprint::of(target)),
        },
        net: NetRef {
            name: config.net_name().to_string(),
            hash: format!("{:016x}", config.net_hash()),
        },
        readout: config.readout(),
        input_channels: config.inputs().len() as u64,
        input_rate: format!("{}", config.input_rate()),
        cores_bin: FileRef {
            file: CORES.to_string(),
            bytes: cores_len,
            crc32: format!("{cores_crc:08x}"),
            weight_field_bits: field_bits,
        },
        cores,
        populations: config
            .populations()
            .iter()
            .map(|p| PopulationSummary {
                name: p.name.clone(),
                shape: p.shape.clone(),
                is_input: p.is_input,
                neurons: population_size(&p.shape).unwrap_or(0) as u64,
            })
            .collect(),
        manifest_fnv1a64: String::new(),
    };
    seal(&mut manifest)
}

/// Writes `config` as a CHIPDIR at `dir`, atomically.
///
/// The configuration is validated first (an invalid one is refused with
/// [`ChipError::Invalid`]). The files are built in a temporary directory beside `dir` and
/// renamed into place, so readers never see a half-written CHIPDIR. An existing `dir` is
/// replaced only if it is a CHIPDIR (holds `manifest.json`) or an empty directory; anything
/// else is refused with [`ChipError::NotChipdir`]. The same configuration always gives the same
/// bytes.
pub fn write_chipdir(config: &ChipConfig, dir: &Path) -> Result<(), ChipError> {
    write_any(config, dir)
}

/// [`write_chipdir`] for a [`FlatChip`]: the same checks and the same bytes. `cores.bin` is
/// streamed to disk as it is encoded, so a big chip is written in little more memory than
/// its tables.
pub fn write_chipdir_flat(config: &FlatChip, dir: &Path) -> Result<(), ChipError> {
    write_any(config, dir)
}

fn write_any<C: ChipView>(config: &C, dir: &Path) -> Result<(), ChipError> {
    // Everything that can be refused is checked before anything is written.
    config.target().validate()?;
    let bits = check_bits(config)?;
    let weights = weight_format(config.target())?;
    let target = serde_yaml::to_string(config.target())
        .map_err(|e| ChipError::invalid(None, "target", format!("cannot be written as YAML: {e}")))?
        .into_bytes();
    let summaries = summaries_with(config, &bits);
    if dir.file_name().is_none() {
        return Err(ChipError::io(
            dir,
            std::io::Error::other("not a directory name"),
        ));
    }
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            let replaceable = meta.is_dir()
                && (dir.join(MANIFEST).is_file()
                    || fs::read_dir(dir)
                        .map_err(|e| ChipError::io(dir, e))?
                        .next()
                        .is_none());
            if !replaceable {
                return Err(ChipError::NotChipdir {
                    path: dir.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ChipError::io(dir, e)),
    }
    let placements: Vec<&[(u32, u32)]> = config
        .populations()
        .iter()
        .map(|p| p.placement.as_slice())
        .collect();
    // The manifest needs `cores.bin`'s length and CRC: it is written last.
    let mut manifest_error = None;
    lifchip_files::write_dir_atomic_with(dir, |staging| {
        let create = |name: &str| fs::File::create(staging.join(name));
        let mut file = create(TARGET)?;
        file.write_all(&target)?;
        file.sync_all()?;
        let file = create(CORES)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let summed = binary::encode(
            &mut out,
            config.inputs(),
            &placements,
            config.cores(),
            weights.field_bits,
        )?;
        out.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
        let manifest = match manifest_bytes(config, summaries, &target, summed, weights.field_bits)
        {
            Ok(bytes) => bytes,
            Err(e) => {
                manifest_error = Some(e);
                return Err(std::io::Error::other("the manifest cannot be written"));
            }
        };
        let mut file = create(MANIFEST)?;
        file.write_all(&manifest)?;
        file.sync_all()
    })
    .map_err(|e| {
        manifest_error
            .take()
            .unwrap_or_else(|| ChipError::io(dir, e))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ChipError> {
    fs::read(path).map_err(|e| ChipError::io(path, e))
}

/// Reads and validates the CHIPDIR at `dir`.
///
/// Checks the manifest (format, version, no repeated key, its own hash `manifest_fnv1a64`,
/// its `file` fields, and that it is byte for byte what the writer writes for the chip read),
/// the target's hash, `cores.bin`'s size, checksums and
/// structure, that the manifest agrees with `cores.bin`, and every rule of [`validate`]. Any
/// problem is a [`ChipError`] naming the file, the core and the field; nothing in the files can
/// make it panic.
///
/// [`validate`]: crate::validate
pub fn read_chipdir(dir: &Path) -> Result<ChipConfig, ChipError> {
    read_chipdir_flat(dir).map(FlatChip::into_config)
}

/// [`read_chipdir`] into a [`FlatChip`], with the same checks: for big chips, in about the
/// memory of the CHIPDIR. `cores.bin` is read section by section (never whole) into the flat
/// tables.
pub fn read_chipdir_flat(dir: &Path) -> Result<FlatChip, ChipError> {
    let manifest_path = dir.join(MANIFEST);
    if !manifest_path.is_file() && dir.is_dir() {
        return Err(ChipError::NotChipdir {
            path: dir.to_path_buf(),
        });
    }
    let bytes = read(&manifest_path)?;
    let manifest = parse_manifest(&bytes, &manifest_path)?;
    let corrupt =
        |field: &str, detail: String| ChipError::corrupt(&manifest_path, None, field, detail);

    let target_path = dir.join(TARGET);
    let target_bytes = read(&target_path)?;
    let hash = format!("{:016x}", lifchip_files::Fingerprint::of(&target_bytes));
    if hash != manifest.target.fnv1a64 {
        return Err(ChipError::corrupt(
            &target_path,
            None,
            "content",
            format!(
                "FNV-1a hash is {hash}, the manifest says {}: the target was changed or damaged",
                manifest.target.fnv1a64
            ),
        ));
    }
    let text = std::str::from_utf8(&target_bytes).map_err(|e| ChipError::Parse {
        file: target_path.clone(),
        detail: format!("not UTF-8: {e}"),
    })?;
    let target: Target = lifchip_target::parse(text, &target_path.display().to_string())?;
    if target.name != manifest.target.name {
        return Err(corrupt(
            "target.name",
            format!(
                "{:?}, but target.yaml names {:?}",
                manifest.target.name, target.name
            ),
        ));
    }
    let weights = weight_format(&target).map_err(|e| e.in_file(&target_path))?;

    let cores_path = dir.join(CORES);
    let file = fs::File::open(&cores_path).map_err(|e| ChipError::io(&cores_path, e))?;
    let cores_len = file
        .metadata()
        .map_err(|e| ChipError::io(&cores_path, e))?
        .len();
    if cores_len != manifest.cores_bin.bytes {
        return Err(ChipError::corrupt(
            &cores_path,
            None,
            "size",
            format!(
                "{cores_len} bytes, the manifest says {} (truncated or replaced)",
                manifest.cores_bin.bytes
            ),
        ));
    }
    // The file's CRC is known only at its end: a damaged file is reported as damaged, not by
    // the first structural problem the damage causes.
    let capacity: Vec<(u64, u64)> = manifest
        .cores
        .iter()
        .map(|c| (c.axons, c.synapses))
        .collect();
    let (image, cores_crc) = binary::decode_file(file, &cores_path, cores_len, &capacity)?;
    let crc = format!("{cores_crc:08x}");
    if crc != manifest.cores_bin.crc32 {
        return Err(ChipError::corrupt(
            &cores_path,
            None,
            "crc32",
            format!(
                "{crc}, the manifest says {}: the file is damaged",
                manifest.cores_bin.crc32
            ),
        ));
    }
    let image = image?;
    check_agreement(&manifest, &image, weights.field_bits, &manifest_path)?;

    let net_hash = u64::from_str_radix(&manifest.net.hash, 16).map_err(|_| {
        corrupt(
            "net.hash",
            format!("{:?} is not 16 hex digits", manifest.net.hash),
        )
    })?;
    let input_rate: f64 = manifest.input_rate.parse().map_err(|_| {
        corrupt(
            "input_rate",
            format!("{:?} is not a number", manifest.input_rate),
        )
    })?;
    let CoresImage {
        inputs,
        placements,
        cores,
        ..
    } = image;
    let populations = manifest
        .populations
        .into_iter()
        .zip(placements)
        .map(|(p, placement)| PopulationInfo {
            name: p.name,
            shape: p.shape,
            is_input: p.is_input,
            placement,
        })
        .collect();
    let mut config = FlatChip {
        target,
        net_name: manifest.net.name,
        net_hash,
        populations,
        inputs,
        readout: manifest.readout,
        input_rate,
        cores,
        validated: false,
    };
    let bits = check_bits(&config).map_err(|e| e.in_file(&cores_path))?;
    let expected = summaries_with(&config, &bits);
    if expected != manifest.cores {
        return Err(corrupt(
            "cores",
            "the per-core summary disagrees with cores.bin".to_string(),
        ));
    }
    // The summaries just checked, not computed again (a big chip's synapse bits are costly).
    let written = manifest_bytes(
        &config,
        expected,
        &target_bytes,
        (cores_len, cores_crc),
        weights.field_bits,
    )
    .map_err(|e| e.in_file(&manifest_path))?;
    if written != bytes {
        let field = first_difference(&bytes, &written);
        return Err(corrupt(
            &field,
            "differs from what the writer produces for this chip (only a manifest exactly as \
             `lifchip compile` writes it is read)"
                .to_string(),
        ));
    }
    config.validated = true;
    Ok(config)
}

fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest, ChipError> {
    let parse = |e: serde_json::Error| ChipError::Parse {
        file: path.to_path_buf(),
        detail: e.to_string(),
    };
    serde_json::from_slice::<NoDuplicateKeys>(bytes).map_err(parse)?;
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(parse)?;
    let format = value.get("format").and_then(|v| v.as_str()).unwrap_or("");
    if format != CHIPDIR_FORMAT {
        return Err(ChipError::corrupt(
            path,
            None,
            "format",
            format!("{:?}; expected {CHIPDIR_FORMAT:?}", echo(format)),
        ));
    }
    let version = value.get("version");
    if version.and_then(|v| v.as_u64()) != Some(u64::from(CHIPDIR_VERSION)) {
        let shown = version.map_or_else(|| "missing".to_string(), |v| echo(&v.to_string()));
        return Err(ChipError::corrupt(
            path,
            None,
            "version",
            format!("{shown} is not supported (this reader knows version {CHIPDIR_VERSION})"),
        ));
    }
    let mut manifest: Manifest = serde_json::from_value(value).map_err(parse)?;
    let stated = std::mem::take(&mut manifest.manifest_fnv1a64);
    seal(&mut manifest)?;
    if manifest.manifest_fnv1a64 != stated {
        return Err(ChipError::corrupt(
            path,
            None,
            "manifest_fnv1a64",
            format!(
                "the manifest's content hashes to {}, the manifest says {:?}: it was edited or damaged",
                manifest.manifest_fnv1a64,
                echo(&stated)
            ),
        ));
    }
    for (field, file, expected) in [
        ("target.file", &manifest.target.file, TARGET),
        ("cores_bin.file", &manifest.cores_bin.file, CORES),
    ] {
        if file != expected {
            return Err(ChipError::corrupt(
                path,
                None,
                field,
                format!("{:?}; a CHIPDIR names {expected:?}", echo(file)),
            ));
        }
    }
    Ok(manifest)
}

/// The first top-level field where two manifests differ (their layout, when no field does).
fn first_difference(found: &[u8], written: &[u8]) -> String {
    let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
    if let (Some(serde_json::Value::Object(a)), Some(serde_json::Value::Object(b))) =
        (parse(found), parse(written))
    {
        for (key, value) in &b {
            if a.get(key) != Some(value) {
                return key.clone();
            }
        }
    }
    "layout".to_string()
}

/// Any JSON value; an object with a repeated key is an error.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<NoDuplicateKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<NoDuplicateKeys>()?;
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key {:?} (the writer writes each key once)",
                    echo(&key)
                )));
            }
        }
        Ok(NoDuplicateKeys)
    }
}

fn check_agreement(
    manifest: &Manifest,
    image: &CoresImage,
    weight_bits: u32,
    path: &Path,
) -> Result<(), ChipError> {
    let mismatch = |field: &str, manifest: String, binary: String| {
        Err(ChipError::corrupt(
            path,
            None,
            field,
            format!("the manifest says {manifest}, cores.bin says {binary}"),
        ))
    };
    if image.weight_field_bits != weight_bits || manifest.cores_bin.weight_field_bits != weight_bits
    {
        return mismatch(
            "cores_bin.weight_field_bits",
            format!(
                "{} (the target needs {weight_bits})",
                manifest.cores_bin.weight_field_bits
            ),
            image.weight_field_bits.to_string(),
        );
    }
    if manifest.cores.len() != image.cores.len() {
        return mismatch(
            "cores",
            format!("{} cores", manifest.cores.len()),
            format!("{}", image.cores.len()),
        );
    }
    if manifest.input_channels != image.inputs.len() as u64 {
        return mismatch(
            "input_channels",
            manifest.input_channels.to_string(),
            image.inputs.len().to_string(),
        );
    }
    if manifest.populations.len() != image.placements.len() {
        return mismatch(
            "populations",
            format!("{} populations", manifest.populations.len()),
            format!("{}", image.placements.len()),
        );
    }
    for (p, pop) in manifest.populations.iter().enumerate() {
        if population_size(&pop.shape).map(|n| n as u64) != Some(pop.neurons) {
            return Err(ChipError::corrupt(
                path,
                None,
                format!("populations[{p}].neurons"),
                format!("{} does not match shape {:?}", pop.neurons, pop.shape),
            ));
        }
    }
    for (m, c) in manifest.cores.iter().zip(&image.cores) {
        if (m.id, m.x, m.y) != (c.id, c.x, c.y) {
            return Err(ChipError::corrupt(
                path,
                Some(c.id),
                "id, x, y",
                format!(
                    "the manifest says ({}, {}, {}), cores.bin says ({}, {}, {})",
                    m.id, m.x, m.y, c.id, c.x, c.y
                ),
            ));
        }
    }
    Ok(())
}
