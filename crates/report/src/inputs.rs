//! What the report reads besides the chip configuration: the compile report
//! (`CHIPDIR/report.json`, `compile --json`) and the emulation report (`emulate --json`).
//!
//! These are the fields `docs/interfaces.md` documents, read with the report's own structs
//! (unknown fields ignored, optional ones defaulted) so the report does not depend on the
//! CLI's or the compiler's internal types.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use crate::ReportError;

/// Largest JSON file the report reads (a run with `--probe all --probe-state` can be large).
pub const MAX_JSON_BYTES: u64 = 256 << 20;

/// The compile report.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CompileSummary {
    pub target: String,
    pub neurons: u64,
    pub synapses: u64,
    pub cores_used: u64,
    pub cores_lower_bound: u64,
    pub per_core: Vec<CoreUse>,
    pub inter_core_spike_packets_estimate: u64,
    pub max_link_load: u64,
    /// Only in `compile --json`: `CHIPDIR/report.json` holds no wall-clock figures.
    pub compile_seconds: Option<f64>,
    pub quantization: Vec<LayerQuantization>,
    pub violations: Vec<Violation>,
}

/// One core's resources as the compiler reported them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CoreUse {
    pub core: u32,
    pub x: u32,
    pub y: u32,
    pub neurons: u64,
    pub input_axons: u64,
    pub synapse_bits: u64,
}

/// One layer's quantization figures.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LayerQuantization {
    pub layer: String,
    pub population: String,
    pub weight_bits: u32,
    pub weight_exp: i32,
    pub rms_relative_error: f64,
    pub weights_clipped: u64,
    pub weights_zeroed: u64,
    pub silent_neurons: u64,
    pub identical_neurons: u64,
}

/// A limit a compile broke.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Violation {
    pub kind: String,
    #[serde(rename = "where")]
    pub place: String,
    pub value: i64,
    pub limit: i64,
    pub hint: String,
}

/// The emulation report.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// The CHIPDIR path the run was given (informative only: a chip may move).
    pub chip: String,
    pub target: String,
    /// [`crate::chipdir_fingerprint`] of the CHIPDIR the run used, when the emulator writes it.
    pub chip_fingerprint: Option<String>,
    pub samples: u64,
    pub accuracy: Option<f64>,
    pub ticks_per_sample: u32,
    pub spikes: u64,
    pub synaptic_events: u64,
    pub cycles_per_tick_mean: f64,
    pub cycles_per_tick_max: u64,
    /// Cycles of each tick averaged over the samples (cycle-accurate runs).
    pub cycles_by_tick: Vec<f64>,
    /// Each core's compute cycles per tick (cycle-accurate runs).
    pub cycles_by_core: Vec<CoreCycles>,
    pub latency_seconds_per_sample: f64,
    pub energy_joules_per_sample: f64,
    /// Energy per sample by event kind (J), in name order.
    pub energy_joules_per_sample_by_kind: BTreeMap<String, f64>,
    pub overflows: Vec<Overflow>,
    pub mode: String,
    pub wall_seconds: f64,
    pub probes: Vec<Probe>,
    /// The sample the probes recorded, when the run covers several (`demo --out`).
    pub probed_sample: Option<u64>,
}

/// One core's compute cycles per tick over a run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CoreCycles {
    pub core: u32,
    pub mean: f64,
    pub max: u64,
}

/// Overflow events of one population over the whole run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Overflow {
    pub population: String,
    pub current: u64,
    pub voltage: u64,
    pub accumulator: u64,
}

/// One probed neuron's spikes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Probe {
    pub population: String,
    pub neuron: u32,
    pub spike_ticks: Vec<u32>,
}

/// Reads a JSON file of at most [`MAX_JSON_BYTES`] into `T`; errors name the file, line and
/// column.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ReportError> {
    let io = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_JSON_BYTES {
        return Err(ReportError::TooLarge {
            path: path.to_path_buf(),
            bytes: size,
            limit: MAX_JSON_BYTES,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse_json(&text, path)
}

/// Parses JSON text (serde_json's recursion limit bounds the nesting depth).
pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(
    text: &str,
    path: &Path,
) -> Result<T, ReportError> {
    serde_json::from_str(text).map_err(|e| ReportError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

impl CompileSummary {
    /// Reads a compile report (`CHIPDIR/report.json` or `compile --json`).
    pub fn from_file(path: &Path) -> Result<Self, ReportError> {
        read_json(path)
    }

    /// Parses a compile report from text; `origin` names it in errors (e.g. the in-memory
    /// report of `compile --report`, serialized with serde_json).
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self, ReportError> {
        parse_json(text, origin)
    }
}

impl RunSummary {
    /// Reads an emulation report (`emulate --json`).
    pub fn from_file(path: &Path) -> Result<Self, ReportError> {
        read_json(path)
    }

    /// Parses an emulation report from text; `origin` names it in errors (e.g. the in-memory
    /// report of `emulate --report`, serialized with serde_json).
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self, ReportError> {
        parse_json(text, origin)
    }
}
