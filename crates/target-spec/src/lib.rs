//! Target descriptions: the parameterized neuromorphic core model, read from YAML.
//!
//! A [`Target`] holds every number in which one chip differs from another: the mesh, per-core
//! capacity, number formats, neuron dynamics, timing and energy. [`load`] reads a target file
//! and [`parse`] a target text; both check it against a declarative schema table and a list of
//! cross-field rules, reporting **every** problem at once ([`TargetError::Invalid`] with
//! [`Problem`]s: line, column, field, value, what was wrong, what was expected, and a
//! "did you mean" for misspelt keys and names). The shipped targets of `targets/` are embedded
//! ([`builtin`], [`builtin_names`]); [`resolve`] takes a built-in name or a path.
//! [`schema_markdown`] renders the reference of every field, as in `docs/target-yaml.md`.
//!
//! **Invariant:** a `Target` handed out by [`load`], [`parse`], [`resolve`] or [`builtin`] has
//! passed every check; [`Target::validate`] runs the same checks on one built in code.
//!
//! This crate does not map, emit or run anything: it only says what a chip is.

mod builtin;
mod check;
mod error;
mod grid;
mod load;
mod mesh;
mod rules;
mod schema;
mod table;
pub mod tree;

pub use crate::{
    builtin::{builtin, builtin_names, builtin_source, resolve},
    error::{Problem, TargetError},
    grid::{SignClass, WeightGrid},
    load::{load, parse},
    mesh::{Link, for_each_xy_link, hops, xy_route},
    schema::{
        Accumulate, Core, DecayKind, Dynamics, Energy, ExponentScope, Mesh, Overflow, Precision,
        Reset, SpikeTest, SynapseCost, Target, Timing, UpdateOrder, VoltageUpdate, WeightEncoding,
        WeightExponent,
    },
    table::schema_markdown,
};
