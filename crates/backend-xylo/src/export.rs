//! Writing a [`XyloSpec`] as an export directory: `spec.npz` (the arrays Rockpool's
//! `config_from_specification` takes), `xylo.json` (generation, neuron origins, dt) and
//! `lifchip_xylo.py` (the loader).

use std::io::{Cursor, Write};
use std::path::Path;

use npyz::WriterBuilder;
use serde::Serialize;

use crate::error::XyloError;
use crate::spec::{Origin, XyloSpec};

/// The loader module written beside the arrays.
pub const LOADER_PY: &str = include_str!("../python/lifchip_xylo.py");
/// Name of the export manifest.
pub const MANIFEST: &str = "xylo.json";
/// Name of the arrays file.
pub const SPEC_NPZ: &str = "spec.npz";
/// Name of the loader module.
pub const LOADER: &str = "lifchip_xylo.py";
/// Name of an input raster written with the export (`(ticks, channels)` uint8 counts).
pub const INPUT_NPY: &str = "input.npy";
/// Format name and version of `xylo.json`.
pub const EXPORT_FORMAT: &str = "lifchip-xylo-export";
pub const EXPORT_VERSION: u32 = 1;

#[derive(Serialize)]
struct NeuronEntry<'a> {
    population: &'a str,
    neuron: u32,
    compartment: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias_of: Option<u32>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'a str,
    version: u32,
    generation: &'a str,
    chips: &'a [&'a str],
    net: &'a str,
    net_hash: String,
    dt: f64,
    inputs: usize,
    readout_population: &'a str,
    hidden: Vec<NeuronEntry<'a>>,
    readout: Vec<NeuronEntry<'a>>,
    spec: &'a str,
    loader: &'a str,
}

fn entries(origins: &[Origin]) -> Vec<NeuronEntry<'_>> {
    origins
        .iter()
        .map(|o| NeuronEntry {
            population: &o.population,
            neuron: o.neuron,
            compartment: o.compartment,
            alias_of: o.alias_of,
        })
        .collect()
}

fn npz_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// One array of an `.npz` archive.
struct Arrays<'z> {
    zip: zip::ZipWriter<Cursor<&'z mut Vec<u8>>>,
}

impl Arrays<'_> {
    fn put<T: npyz::AutoSerialize + Copy>(
        &mut self,
        name: &str,
        shape: &[u64],
        data: &[T],
    ) -> std::io::Result<()> {
        // Stored (uncompressed) entries with the zip format's fixed default time: the same
        // specification always gives the same bytes.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        self.zip
            .start_file(format!("{name}.npy"), options)
            .map_err(npz_err)?;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut self.zip)
            .begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()
    }
}

/// The `.npz` bytes of `spec`: one array per `config_from_specification` argument
/// (scalars as 0-d arrays), aliases as an `(hidden, k)` int16 table padded with -1.
pub fn spec_npz(spec: &XyloSpec) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let (n_i, n_h, n_o) = (
        spec.inputs as u64,
        spec.hidden.len() as u64,
        spec.readout.len() as u64,
    );
    {
        let mut z = Arrays {
            zip: zip::ZipWriter::new(Cursor::new(&mut bytes)),
        };
        z.put("weights_in", &[n_i, n_h, 2], &spec.weights_in)?;
        z.put("weights_rec", &[n_h, n_h, 2], &spec.weights_rec)?;
        z.put("weights_out", &[n_h, n_o], &spec.weights_out)?;
        z.put("weight_shift_in", &[], &[spec.weight_shift_in])?;
        z.put("weight_shift_rec", &[], &[spec.weight_shift_rec])?;
        z.put("weight_shift_out", &[], &[spec.weight_shift_out])?;
        z.put("dash_mem", &[n_h], &spec.dash_mem)?;
        z.put("dash_syn", &[n_h], &spec.dash_syn)?;
        z.put("dash_syn_2", &[n_h], &spec.dash_syn_2)?;
        z.put("dash_mem_out", &[n_o], &spec.dash_mem_out)?;
        z.put("dash_syn_out", &[n_o], &spec.dash_syn_out)?;
        z.put("threshold", &[n_h], &spec.threshold)?;
        z.put("threshold_out", &[n_o], &spec.threshold_out)?;
        z.put("bias_hidden", &[n_h], &spec.bias)?;
        z.put("bias_out", &[n_o], &spec.bias_out)?;
        let width = spec.aliases.iter().map(Vec::len).max().unwrap_or(0);
        let mut table = vec![-1i16; spec.aliases.len() * width];
        for (i, targets) in spec.aliases.iter().enumerate() {
            for (j, &t) in targets.iter().enumerate() {
                table[i * width + j] = t as i16;
            }
        }
        z.put("aliases", &[n_h, width as u64], &table)?;
        z.put("dt", &[], &[spec.dt])?;
        let mut cursor = z.zip.finish().map_err(npz_err)?;
        cursor.flush()?;
    }
    Ok(bytes)
}

/// `xylo.json` of `spec`.
pub fn manifest_json(spec: &XyloSpec) -> String {
    let m = Manifest {
        format: EXPORT_FORMAT,
        version: EXPORT_VERSION,
        generation: spec.generation.name(),
        chips: spec.generation.chips(),
        net: &spec.net_name,
        net_hash: format!("{:016x}", spec.net_hash),
        dt: spec.dt,
        inputs: spec.inputs,
        readout_population: &spec.readout_population,
        hidden: entries(&spec.hidden),
        readout: entries(&spec.readout),
        spec: SPEC_NPZ,
        loader: LOADER,
    };
    let mut s = serde_json::to_string_pretty(&m).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes the export directory `dir` atomically. An existing `dir` is replaced only if it is
/// an earlier export (it holds `xylo.json`) or empty.
pub fn write_export(spec: &XyloSpec, dir: &Path) -> Result<(), XyloError> {
    write_export_with(spec, dir, &[])
}

/// [`write_export`] with extra files in the same directory (e.g. [`INPUT_NPY`]), written in
/// the same atomic step.
pub fn write_export_with(
    spec: &XyloSpec,
    dir: &Path,
    extra: &[(&str, &[u8])],
) -> Result<(), XyloError> {
    let io = |source| XyloError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        let replaceable = meta.is_dir()
            && (dir.join(MANIFEST).is_file()
                || std::fs::read_dir(dir).map_err(io)?.next().is_none());
        if !replaceable {
            return Err(XyloError::NotExportDir {
                path: dir.to_path_buf(),
            });
        }
    }
    let npz = spec_npz(spec).map_err(io)?;
    let manifest = manifest_json(spec);
    let mut files: Vec<(&str, &[u8])> = vec![
        (SPEC_NPZ, &npz),
        (MANIFEST, manifest.as_bytes()),
        (LOADER, LOADER_PY.as_bytes()),
    ];
    files.extend_from_slice(extra);
    lifchip_files::write_dir_atomic(dir, &files).map_err(io)
}

/// The `.npy` bytes of an input raster: `(ticks, channels)` uint8 spike counts, what
/// `XyloSim.evolve` takes. `events[t]` lists the channels that spike at tick `t`, a channel
/// listed `n` times spiking `n` times; counts above 255 are clamped (Xylo itself takes at most
/// 15 per channel per tick).
pub fn input_raster_npy(events: &[Vec<u32>], channels: usize) -> std::io::Result<Vec<u8>> {
    let mut raster = vec![0u8; events.len() * channels];
    for (t, tick) in events.iter().enumerate() {
        for &ch in tick {
            if let Some(c) = raster.get_mut(t * channels + ch as usize)
                && (ch as usize) < channels
            {
                *c = c.saturating_add(1);
            }
        }
    }
    let mut bytes = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[events.len() as u64, channels as u64])
        .writer(&mut bytes)
        .begin_nd()?;
    w.extend(raster)?;
    w.finish()?;
    Ok(bytes)
}
