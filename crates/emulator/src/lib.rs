//! The cycle-accurate emulator of lifchip's parameterized neuromorphic core model.
//!
//! It runs a chip configuration ([`lifchip_chip::ChipConfig`], as read from a CHIPDIR) tick by
//! tick with the exact integer semantics of `docs/core-model.md` — every switch of the target
//! schema: multiplicative or shift decays, update order, sum-then-add or per-event saturating
//! accumulation, group weight exponents, overflow modes, bias, threshold, reset, multi-spike,
//! refractory periods, synaptic and input delays — and, in [`Mode::CycleAccurate`], the
//! cycle model: per-core compute cycles, a cycle-stepped mesh with XY multicast routing, FIFOs
//! and backpressure, tick lengths, latency and energy. [`Mode::Functional`] skips the cycle
//! accounting and gives the same spikes, faster.
//!
//! Main types: [`Emulator`] (a loaded configuration and its state; [`Emulator::run`],
//! [`Emulator::reset`], [`Emulator::run_batch`] over samples in parallel), [`RunOptions`]
//! and [`Probes`] (what to run and record), [`SampleResult`] (readout spike counts, event
//! counts, [`CycleStats`], [`EnergyBreakdown`], per-population [`OverflowCounts`], probes),
//! [`CycleDetail`] (how much per-tick and per-core cycle detail a run keeps).
//!
//! It does **not** read networks, compile, or encode images into spikes: input is a list of
//! input-channel indices per tick, and the configuration comes from the chip crate only.
//!
//! ```no_run
//! # fn demo(config: &lifchip_chip::ChipConfig) -> Result<(), lifchip_emulator::EmuError> {
//! use lifchip_emulator::{Emulator, RunOptions};
//! let mut emu = Emulator::new(config)?;
//! let input = vec![vec![0, 3], vec![], vec![1]]; // channels spiking at ticks 0, 1, 2
//! let result = emu.run(&input, &RunOptions::new(20))?;
//! println!("class {:?}, {} synaptic events", result.predicted_class(), result.synaptic_events());
//! emu.reset();
//! # Ok(()) }
//! ```

mod emulator;
mod engine;
mod error;
mod network;
mod program;
mod result;
mod shapes;
mod synapses;

pub use emulator::Emulator;
pub use error::EmuError;
pub use result::{
    CycleDetail, CycleStats, EnergyBreakdown, EventCounts, Mode, NeuronProbe, OverflowCounts,
    ProbeSet, Probes, RunOptions, SampleResult,
};
#[doc(hidden)]
pub use synapses::LayoutOverride;

/// The benchmark chips, for unit tests.
#[cfg(test)]
#[path = "../benches/chips/mod.rs"]
mod bench_chips;
