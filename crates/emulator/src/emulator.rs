//! [`Emulator`]: a loaded chip configuration with its state; single runs and parallel batches.

use std::sync::Arc;

use lifchip_chip::{ChipConfig, FlatChip};
use rayon::prelude::*;

use crate::{
    CycleDetail, EmuError, RunOptions, SampleResult,
    engine::{self, State},
    program::Program,
    synapses::LayoutOverride,
};

/// A chip configuration loaded into the emulator, with the chip's state.
///
/// [`run`](Emulator::run) continues from the current state (call [`reset`](Emulator::reset)
/// between independent samples); [`run_batch`](Emulator::run_batch) runs samples in parallel,
/// each from the reset state, and leaves this emulator's state alone.
#[derive(Clone, Debug)]
pub struct Emulator {
    program: Arc<Program>,
    state: State,
    detail: CycleDetail,
}

impl Emulator {
    /// Loads `config`: validates it (every rule of `lifchip_chip::validate`), checks that the
    /// emulator supports its target's numbers, and lays it out for fast ticks.
    pub fn new(config: &ChipConfig) -> Result<Emulator, EmuError> {
        Emulator::with_layout(config, LayoutOverride::default())
    }

    /// [`Emulator::new`] for a configuration in flat tables, as
    /// [`lifchip_chip::read_chipdir_flat`] reads it: the way to load a big chip (no
    /// per-row allocations between the CHIPDIR and the emulator).
    pub fn from_flat(config: &FlatChip) -> Result<Emulator, EmuError> {
        Emulator::from_flat_with_layout(config, LayoutOverride::default())
    }

    /// [`Emulator::from_flat`] consuming the configuration: its axons and synapses are dropped
    /// as soon as they are laid out, so a big chip's peak memory is not the configuration plus
    /// the emulator's tables.
    pub fn from_flat_owned(config: FlatChip) -> Result<Emulator, EmuError> {
        let program = Program::new_owned(config, &LayoutOverride::default())?;
        let state = State::new(&program);
        Ok(Emulator {
            program: Arc::new(program),
            state,
            detail: CycleDetail::default(),
        })
    }

    /// [`Emulator::new`] with the automatic choices of the synapse layout overridden: for tests
    /// that hold every layout to the same results.
    #[doc(hidden)]
    pub fn with_layout(config: &ChipConfig, layout: LayoutOverride) -> Result<Emulator, EmuError> {
        Emulator::from_flat_with_layout(&FlatChip::from_config(config), layout)
    }

    /// [`Emulator::with_layout`] for a flat configuration.
    #[doc(hidden)]
    pub fn from_flat_with_layout(
        config: &FlatChip,
        layout: LayoutOverride,
    ) -> Result<Emulator, EmuError> {
        let program = Program::new(config, &layout)?;
        let state = State::new(&program);
        Ok(Emulator {
            program: Arc::new(program),
            state,
            detail: CycleDetail::default(),
        })
    }

    /// Sets how much per-tick and per-core detail cycle-accurate runs keep in their
    /// [`CycleStats`](crate::CycleStats) (default [`CycleDetail::PerTick`]: totals and the
    /// per-tick vectors, not the `ticks × cores` compute cycles). Results are otherwise
    /// identical at every level.
    pub fn set_cycle_detail(&mut self, detail: CycleDetail) {
        self.detail = detail;
    }

    /// [`set_cycle_detail`](Emulator::set_cycle_detail), builder style.
    pub fn with_cycle_detail(mut self, detail: CycleDetail) -> Self {
        self.detail = detail;
        self
    }

    /// The cycle detail runs keep.
    pub fn cycle_detail(&self) -> CycleDetail {
        self.detail
    }

    /// Back to the state right after loading: every compartment's initial `u` and `v`
    /// (usually 0), accumulators, refractory counters and delay lines zero.
    pub fn reset(&mut self) {
        self.state.reset(&self.program);
    }

    /// Runs `options.ticks` ticks from the current state. `input[t]` lists the external input
    /// channels that spike at tick `t` (a channel listed `k` times spikes `k` times); ticks past
    /// `input.len()` have no input. Errors leave the state untouched.
    pub fn run(
        &mut self,
        input: &[Vec<u32>],
        options: &RunOptions,
    ) -> Result<SampleResult, EmuError> {
        engine::run(&self.program, &mut self.state, input, options, self.detail)
    }

    /// Runs each sample of `inputs` from the reset state, in parallel (rayon). The results, in
    /// sample order, do not depend on the number of threads.
    pub fn run_batch(
        &self,
        inputs: &[Vec<Vec<u32>>],
        options: &RunOptions,
    ) -> Result<Vec<SampleResult>, EmuError> {
        let program = &self.program;
        let detail = self.detail;
        inputs
            .par_iter()
            .enumerate()
            .map_init(
                || State::new(program),
                |state, (sample, input)| {
                    state.reset(program);
                    engine::run(program, state, input, options, detail).map_err(|e| {
                        EmuError::Sample {
                            sample,
                            source: Box::new(e),
                        }
                    })
                },
            )
            .collect()
    }

    /// External input channels of the loaded configuration.
    pub fn input_channels(&self) -> usize {
        self.program.in_tree.len()
    }

    /// Neurons of the readout population.
    pub fn readout_size(&self) -> usize {
        self.program.readout_comps().len()
    }

    /// Compartments on all cores.
    pub fn compartments(&self) -> usize {
        self.program.n_comp()
    }

    /// Synapses on all cores.
    pub fn synapses(&self) -> usize {
        self.program.synapses as usize
    }

    /// Bytes of the emulator's synapse memory: the stored rows' indices and weights (the
    /// working set of synaptic events; the layout is described in `docs/core-model.md`,
    /// "Performance").
    pub fn synapse_bytes(&self) -> usize {
        let p = &self.program;
        p.store.as_ref().map_or(0, |s| s.bytes()) + p.ev.len() * size_of::<(u32, i64)>()
    }
}
