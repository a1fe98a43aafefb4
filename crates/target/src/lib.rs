//! Target descriptions: the parameterized neuromorphic core model, read from YAML.
//!
//! A [`Target`] holds every number in which one chip differs from another: the mesh, per-core
//! capacity, number formats, neuron dynamics, timing and energy. [`load`] reads a target file and
//! checks it, reporting **every** problem at once ([`Problem`]: line, column, field, value, what
//! was expected, and a "did you mean" for unknown keys). The shipped targets are embedded
//! ([`builtin`], [`builtin_names`]).
//!
//! This crate does not map, emit or run anything: it only says what a chip is.

mod schema;

pub use schema::{
    Accumulate, Core, DecayKind, Dynamics, Energy, ExponentScope, Mesh, Overflow, Precision,
    Reset, SpikeTest, SynapseCost, Target, Timing, UpdateOrder, WeightEncoding, WeightExponent,
};
