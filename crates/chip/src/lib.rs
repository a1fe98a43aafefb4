//! The chip-configuration format: the contract between the compiler side and the emulator,
//! like an instruction-set architecture.
//!
//! A [`ChipConfig`] says, per core ([`CoreConfig`]), what a loader would write into the chip:
//! the compartment (neuron) table ([`Compartment`]), input-axon synapse rows ([`Axon`],
//! [`Synapse`]), accumulator-group weight exponents and fan-out [`Destination`]s; plus how
//! external inputs enter and which population is read out. On disk it is a CHIPDIR:
//! `manifest.json`, the embedded `target.yaml`, and `cores.bin` in the little-endian layout of
//! `docs/chip-config.md`, each section with its length and CRC-32.
//!
//! - [`write_chipdir`] validates and writes a CHIPDIR atomically; the same configuration always
//!   gives the same bytes. [`read_chipdir`] checks everything and refuses a damaged, truncated
//!   or inconsistent CHIPDIR with a [`ChipError`] that names the file, the core and the field.
//! - [`validate`] holds a configuration against the format's rules and its target's limits.
//! - [`xy_route`] is the target's dimension-order multicast route, checked against the mesh.
//! - [`dump_text`] renders a configuration for diffs and golden tests.
//!
//! This crate does not compile networks (the compiler and backends do) and does not run
//! configurations (the emulator does).
//!
//! ```no_run
//! # fn demo(config: &lifchip_chip::ChipConfig) -> Result<(), lifchip_chip::ChipError> {
//! let dir = std::path::Path::new("out/mnist.chip");
//! lifchip_chip::write_chipdir(config, dir)?;
//! let back = lifchip_chip::read_chipdir(dir)?;
//! assert_eq!(&back, config);
//! # Ok(()) }
//! ```

mod binary;
mod chipdir;
mod config;
mod dump;
mod error;
mod flat;
mod route;
mod validate;
mod view;

pub use chipdir::{
    CHIPDIR_FORMAT, CHIPDIR_VERSION, read_chipdir, read_chipdir_flat, write_chipdir,
    write_chipdir_flat,
};
pub use config::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, PartialRoot, PopulationInfo, Synapse,
};
pub use dump::dump_text;
pub use error::ChipError;
pub use flat::{AxonRef, Axons, FlatChip, FlatChipBuilder, FlatCore};
pub use lifchip_target::Link;
pub use route::xy_route;
pub use validate::{WeightFormat, index_bits, validate, weight_format};
