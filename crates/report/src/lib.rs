//! A self-contained HTML report of a mapping and a run: one file with inline SVG and CSS (no
//! script, nothing fetched) showing the mesh as a core map coloured by how full each core is,
//! the link loads of XY multicast routing, the per-layer quantization table and violations,
//! and, with an emulation report, spike rasters, firing-rate histograms, cycles, energy by
//! event kind and overflows.
//!
//! ```no_run
//! # fn demo() -> Result<(), lifchip_report::ReportError> {
//! use std::path::Path;
//! let chip = lifchip_report::ChipInput::from_chipdir(Path::new("out/net.chip"))?;
//! let run = lifchip_report::RunSummary::from_file(Path::new("run.json"))?;
//! let html = lifchip_report::render(&chip, Some((&run, Path::new("run.json"))))?;
//! lifchip_report::write_report(Path::new("report.html"), &html)?;
//! # Ok(()) }
//! ```
//!
//! The data flows down: this crate reads a `ChipConfig` (through `lifchip_chip`'s validating
//! reader) and JSON reports; it never sees the net or the compiler.

mod html;
mod inputs;
mod loads;
mod svg;

use std::path::{Path, PathBuf};

use lifchip_chip::ChipConfig;
use serde::Deserialize;

pub use inputs::{
    CompileSummary, CoreCycles, CoreUse, LayerQuantization, MAX_JSON_BYTES, Overflow, Probe,
    RunSummary, Violation,
};
pub use loads::{CoreFill, core_fill, link_loads};
pub use svg::{
    core_cycles_svg, core_map_svg, cycles_line_svg, link_map_svg, raster_svg, rate_histogram_svg,
};

/// What went wrong reading inputs or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chip(#[from] lifchip_chip::ChipError),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {bytes} bytes is larger than the {limit} bytes the report reads", path.display())]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("{}:{line}:{column}: not the expected JSON report: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file is well-formed but does not describe this chip.
    #[error("{}: {field}: {problem}", path.display())]
    Mismatch {
        path: PathBuf,
        field: String,
        problem: String,
    },
    #[error("{}: cannot write the report: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn mismatch(path: &Path, field: &str, problem: String) -> ReportError {
    ReportError::Mismatch {
        path: path.to_path_buf(),
        field: field.to_string(),
        problem,
    }
}

/// The chip side of a report: a validated configuration, its compile report when there is one,
/// and its fingerprint.
#[derive(Clone, Debug)]
pub struct ChipInput {
    /// Where it came from, shown on the page.
    pub source: String,
    pub config: ChipConfig,
    pub compile: Option<CompileSummary>,
    /// [`chipdir_fingerprint`] of the CHIPDIR, when read from one.
    pub fingerprint: Option<String>,
}

impl ChipInput {
    /// Reads a CHIPDIR with every check of `lifchip_chip::read_chipdir`, its `report.json`
    /// when present (checked to describe the same chip) and its fingerprint.
    pub fn from_chipdir(dir: &Path) -> Result<Self, ReportError> {
        let config = lifchip_chip::read_chipdir(dir)?;
        let fingerprint = chipdir_fingerprint(dir)?;
        let report = dir.join("report.json");
        let compile = if report.exists() {
            let summary = CompileSummary::from_file(&report)?;
            check_compile(&config, &summary, &report)?;
            Some(summary)
        } else {
            None
        };
        Ok(ChipInput {
            source: dir.display().to_string(),
            config,
            compile,
            fingerprint: Some(fingerprint),
        })
    }
}

/// The fields of `manifest.json` that identify a CHIPDIR's content.
#[derive(Deserialize)]
struct ManifestIds {
    target: ManifestTarget,
    net: ManifestNet,
    cores_bin: ManifestCores,
}
#[derive(Deserialize)]
struct ManifestTarget {
    fnv1a64: String,
}
#[derive(Deserialize)]
struct ManifestNet {
    hash: String,
}
#[derive(Deserialize)]
struct ManifestCores {
    crc32: String,
}

/// A fingerprint of a CHIPDIR's content: FNV-1a 64 (16 hex digits) of the net hash, the
/// target file's hash and `cores.bin`'s CRC-32 as the manifest records them. A copy of the
/// CHIPDIR has the same fingerprint; a different net, target or mapping has another. The
/// emulator's JSON report should carry it as `chip_fingerprint` so a report can tell that a
/// run belongs to a chip.
pub fn chipdir_fingerprint(dir: &Path) -> Result<String, ReportError> {
    let ids: ManifestIds = inputs::read_json(&dir.join("manifest.json"))?;
    Ok(lifchip_files::Fingerprint::new()
        .part(&ids.net.hash)
        .part(&ids.target.fnv1a64)
        .part(&ids.cores_bin.crc32)
        .hex())
}

/// A compile report must describe this chip: same target, same cores.
fn check_compile(
    config: &ChipConfig,
    compile: &CompileSummary,
    path: &Path,
) -> Result<(), ReportError> {
    if compile.target != config.target.name {
        return Err(mismatch(
            path,
            "target",
            format!(
                "the compile report is for target {:?} but the chip is for {:?}",
                compile.target, config.target.name
            ),
        ));
    }
    if !compile.per_core.is_empty() && compile.per_core.len() != config.cores.len() {
        return Err(mismatch(
            path,
            "per_core",
            format!(
                "{} cores in the compile report, {} in the chip",
                compile.per_core.len(),
                config.cores.len()
            ),
        ));
    }
    Ok(())
}

/// A run must come from this chip: the fingerprint when the run has one, otherwise the
/// target name and every population and neuron it names.
pub fn check_run(chip: &ChipInput, run: &RunSummary, path: &Path) -> Result<(), ReportError> {
    let config = &chip.config;
    if let (Some(theirs), Some(ours)) = (&run.chip_fingerprint, &chip.fingerprint)
        && theirs != ours
    {
        return Err(mismatch(
            path,
            "chip_fingerprint",
            format!(
                "the run used chip {theirs}, not {} (fingerprint {ours}); run the emulator on this CHIPDIR",
                chip.source
            ),
        ));
    }
    if run.target != config.target.name {
        return Err(mismatch(
            path,
            "target",
            format!(
                "the run is of a chip for target {:?}, but {} is for target {:?}",
                run.target, chip.source, config.target.name
            ),
        ));
    }
    let population = |name: &str, field: &str| {
        config
            .populations
            .iter()
            .find(|p| p.name == name && !p.is_input)
            .ok_or_else(|| {
                mismatch(
                    path,
                    field,
                    format!(
                        "population {name:?} is not a neuron population of {}",
                        chip.source
                    ),
                )
            })
    };
    for (i, probe) in run.probes.iter().enumerate() {
        let field = format!("probes[{i}]");
        let pop = population(&probe.population, &field)?;
        if probe.neuron as usize >= pop.placement.len() {
            return Err(mismatch(
                path,
                &format!("{field}.neuron"),
                format!(
                    "neuron {} but population {:?} has {} neurons",
                    probe.neuron,
                    probe.population,
                    pop.placement.len()
                ),
            ));
        }
        if let Some(&t) = probe
            .spike_ticks
            .iter()
            .find(|&&t| t >= run.ticks_per_sample)
        {
            return Err(mismatch(
                path,
                &format!("{field}.spike_ticks"),
                format!(
                    "tick {t} but the run has {} ticks per sample",
                    run.ticks_per_sample
                ),
            ));
        }
    }
    for (i, o) in run.overflows.iter().enumerate() {
        population(&o.population, &format!("overflows[{i}].population"))?;
    }
    if !run.cycles_by_tick.is_empty() && run.cycles_by_tick.len() != run.ticks_per_sample as usize {
        return Err(mismatch(
            path,
            "cycles_by_tick",
            format!(
                "{} values but the run has {} ticks per sample",
                run.cycles_by_tick.len(),
                run.ticks_per_sample
            ),
        ));
    }
    if let Some(i) = run
        .cycles_by_tick
        .iter()
        .position(|c| !c.is_finite() || *c < 0.0)
    {
        return Err(mismatch(
            path,
            &format!("cycles_by_tick[{i}]"),
            "expected a finite number of cycles, at least 0".into(),
        ));
    }
    for (i, c) in run.cycles_by_core.iter().enumerate() {
        if c.core as usize >= config.cores.len() {
            return Err(mismatch(
                path,
                &format!("cycles_by_core[{i}].core"),
                format!(
                    "core {} but {} has {} cores",
                    c.core,
                    chip.source,
                    config.cores.len()
                ),
            ));
        }
        if !c.mean.is_finite() || c.mean < 0.0 {
            return Err(mismatch(
                path,
                &format!("cycles_by_core[{i}].mean"),
                "expected a finite number of cycles, at least 0".into(),
            ));
        }
    }
    Ok(())
}

/// Renders the report page. With a run (and the path it was read from, for errors), the run
/// is first checked to belong to the chip ([`check_run`]).
pub fn render(chip: &ChipInput, run: Option<(&RunSummary, &Path)>) -> Result<String, ReportError> {
    if let Some((run, path)) = run {
        check_run(chip, run, path)?;
    }
    Ok(html::page(chip, run.map(|(r, _)| r)))
}

/// Renders the report of a compile that produced no chip (the net did not fit): the target,
/// the quantization table and the violations.
pub fn render_failed_compile(compile: &CompileSummary, source: &str) -> String {
    html::failed_page(compile, source)
}

/// Writes the page atomically (a reader sees the old file or the whole new one).
pub fn write_report(out: &Path, html: &str) -> Result<(), ReportError> {
    lifchip_files::write_atomic(out, html.as_bytes()).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })
}
