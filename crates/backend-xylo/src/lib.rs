//! The Xylo backend: a `xylo-like` chip configuration as a SynSense Rockpool Xylo
//! specification.
//!
//! [`to_xylo`] turns a [`lifchip_chip::ChipConfig`] into a [`XyloSpec`] — the arguments of
//! Rockpool's `config_from_specification` (input, recurrent and readout weights, weight
//! shifts, per-neuron `dash_mem`/`dash_syn`/thresholds, biases on v2, aliases, dt) — or
//! refuses it with every reason at once ([`XyloError::Unsupported`]: which core, compartment
//! or axon, which field, what Xylo allows). [`write_export`] writes it atomically as a
//! directory: `spec.npz`, `xylo.json` (generation, where each Xylo neuron came from) and the
//! loader `lifchip_xylo.py`, which builds the Rockpool configuration or a `XyloSim` module.
//!
//! The crate reads only the chip configuration and its target, never the compiler's
//! structures: it exports what a loader would write into the chip. `docs/backends.md`
//! describes the format, what Xylo cannot express and how agreement with the vendor's
//! simulator is tested.

mod error;
mod export;
mod spec;

pub use error::{Problem, Problems, XyloError};
pub use export::{
    EXPORT_FORMAT, EXPORT_VERSION, INPUT_NPY, LOADER, LOADER_PY, MANIFEST, SPEC_NPZ,
    input_raster_npy, manifest_json, spec_npz, write_export, write_export_with,
};
pub use spec::{
    Generation, HIDDEN_MAX_SPIKES, MAX_DASH, MAX_HIDDEN, MAX_INPUT_EVENTS, MAX_INPUTS, MAX_READOUT,
    MAX_WEIGHT_SHIFT, Origin, READOUT_MAX_SPIKES, XyloOptions, XyloSpec, to_xylo,
};
