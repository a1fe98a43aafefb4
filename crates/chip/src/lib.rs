//! The chip-configuration format: the contract between the compiler side and the emulator.
//!
//! A [`ChipConfig`] says, per core, what a loader would write into the chip: compartment
//! (neuron) configuration, input-axon synapse rows, accumulator-group exponents and fan-out
//! destinations; plus how external inputs enter and which population is read out.
//!
//! This crate does not compile or run anything.

mod config;

pub use config::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, PopulationInfo, Synapse,
};
