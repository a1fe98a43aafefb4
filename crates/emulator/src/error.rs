//! The emulator's one error type.

use lifchip_chip::ChipError;

/// Why a configuration cannot be emulated or a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// The chip configuration breaks a rule of the format or a limit of its target.
    #[error(transparent)]
    Chip(#[from] ChipError),
    /// The target asks for something outside what the emulator implements.
    #[error(
        "target {target:?}: {field} = {value} is not supported by the emulator; expected {expected}"
    )]
    Unsupported {
        target: String,
        field: String,
        value: String,
        expected: String,
    },
    /// A run of zero ticks was asked for.
    #[error("ticks must be at least 1")]
    ZeroTicks,
    /// The readout window `readout_from..ticks` is empty.
    #[error(
        "readout_from {from} leaves no tick to count: the readout counts ticks {from}..{ticks}, so readout_from must be less than ticks ({ticks})"
    )]
    ReadoutFrom { from: u32, ticks: u32 },
    /// The input spike train is longer than the run.
    #[error("the input has spikes for {input_ticks} ticks, but the run has only {ticks} ticks")]
    InputTooLong { input_ticks: usize, ticks: u32 },
    /// An input spike names a channel the chip does not have.
    #[error(
        "input tick {tick}: channel {channel} does not exist (the chip has {channels} input channels)"
    )]
    InputChannel {
        tick: usize,
        channel: u32,
        channels: usize,
    },
    /// A probe names a population that cannot be probed.
    #[error("probe: population {population}: {detail}")]
    Probe { population: u32, detail: String },
    /// One sample of a batch failed.
    #[error("sample {sample}: {source}")]
    Sample {
        sample: usize,
        #[source]
        source: Box<EmuError>,
    },
}
