//! The lifchip study engine: the one deployment pipeline every command runs, and target sweeps.
//!
//! - [`pipeline`]: compile (quantize, partition, place, route) → emit → write the CHIPDIR →
//!   emulate → agreement with the float net, for `demo`, `compile` and every sweep point.
//! - [`emulate`]: a chip configuration run on a dataset, summed up in an [`EmulateReport`].
//! - [`profile`]: measured firing rates as the compiler's rate profile.
//! - Sweeps, by stage: [`spec`] (the spec file and its axes) → [`plan`] (targets, points, keys)
//!   → [`prepare`] (data, net, float reference, fine-tuned nets) → [`run`] (one point) →
//!   [`write`] (CSV, JSON, markdown) and [`plot`]; [`cache`] holds what is reused between runs,
//!   [`sweep`] runs them in order ([`run_sweep`]).
//!
//! **Invariants:** a sweep point that fails (target check, mapping, CHIPDIR write, emulation)
//! is recorded with its problems, never silently skipped; a cached result is reused only while
//! its key matches, and the key covers every input the result depends on (net, data, settings,
//! the point's whole target, the float reference, the fine-tuning settings).
//!
//! It reports progress through an [`Observer`] and prints nothing itself.

pub mod cache;
pub mod emulate;
pub mod error;
pub mod observe;
pub mod pipeline;
pub mod plan;
pub mod plot;
pub mod pooled;
pub mod prepare;
pub mod profile;
pub mod run;
pub mod spec;
pub use lifchip_stats as stats;
pub mod sweep;
pub mod write;

pub use crate::{
    emulate::{
        CoreCycles, EmulateReport, EmulateSettings, Encoding, emulate_dataset, probe_reports,
        probe_sample,
    },
    error::{Location, StudyError, StudyResult},
    observe::{Observer, Silent},
    pipeline::{
        DeployFailure, Deployed, Deployment, Emulation, agreement, deploy, quantize_options,
    },
    run::PointResult,
    sweep::{SweepOutcome, run_sweep},
};
