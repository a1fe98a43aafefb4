//! The crate's one error type, [`StudyError`]: each message names the file (and, for a sweep
//! spec, the line and column), what was wrong and what was expected, so the CLI shows it as is.

use std::{fmt, path::PathBuf};

use lifchip_compiler::CompileReport;

pub type StudyResult<T> = Result<T, StudyError>;

/// A place in a sweep spec: the file, and the line and column (1-based) of the key when the
/// key is written in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line_column: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_column {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    /// A sweep spec (or something it names) is wrong, at a place in the spec file.
    #[error("{at}: {message}")]
    Spec { at: Location, message: String },

    /// A file or folder could not be read or created.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An output file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A report could not be encoded.
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },

    /// A setting is out of its range (`name` as the user gives it, e.g. `--input-rate`).
    #[error("{name} {value}: expected {expected}")]
    Setting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    /// The compiler's own verifier rejected its partition: a bug, not the user's net.
    #[error(
        "compiler bug (please report): the partition of net {net:?} failed verification:\n{}",
        report.internal_errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n")
    )]
    CompilerBug {
        net: String,
        report: Box<CompileReport>,
    },

    /// The net does not fit the target: every violation is in the report.
    #[error(
        "net {net:?} does not fit target {target:?}; {} violation(s):\n{}",
        report.violations.len(),
        violation_list(report)
    )]
    DoesNotFit {
        net: String,
        target: String,
        report: Box<CompileReport>,
    },

    /// The rate profile given to the compiler does not describe the net.
    #[error(
        "the rate profile does not describe net {net:?}:\n{}",
        violation_list(report)
    )]
    ProfileMismatch {
        net: String,
        report: Box<CompileReport>,
    },

    /// A rate profile file cannot be read.
    #[error("rate profile {}: cannot read: {source}", path.display())]
    ProfileRead {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A rate profile file is not the JSON `lifchip profile` writes.
    #[error(
        "rate profile {}:{line}:{column}: {message}; expected the JSON that `lifchip profile` writes",
        path.display()
    )]
    ProfileJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A rate in a rate profile is not a number of spikes per tick.
    #[error(
        "rate profile {}: {population}: rates[{index}]: rate {rate} is not a finite number of spikes per tick in [0, 1]",
        path.display()
    )]
    ProfileRate {
        path: PathBuf,
        population: String,
        index: usize,
        rate: f32,
    },

    /// The images do not have as many pixels as the chip has input channels.
    #[error(
        "the chip takes {inputs} input channels but the data has {rows}x{cols} = {} pixels per image",
        rows * cols
    )]
    InputsMismatch {
        inputs: usize,
        rows: usize,
        cols: usize,
    },

    /// A sample index beyond the data.
    #[error("sample {index} does not exist: the data has {samples} samples")]
    NoSample { index: usize, samples: usize },

    /// A label of the data has no neuron in the chip's readout population.
    #[error(
        "image {image} (0-based) has label {label}, but the chip's readout population has {readout} neurons (labels 0..{readout})"
    )]
    ClassesMismatch {
        image: usize,
        label: u8,
        readout: usize,
    },

    /// The downsampling factor does not divide the images.
    #[error("downsample: {factor} does not divide the {rows}x{cols} images; use a divisor of both")]
    Downsample {
        factor: usize,
        rows: usize,
        cols: usize,
    },

    /// A plot could not be drawn.
    #[error("drawing a plot: {0}")]
    Plot(String),

    /// The worker threads could not be started.
    #[error("cannot start {threads} worker threads: {message}")]
    Threads { threads: usize, message: String },

    #[error(transparent)]
    Net(#[from] lifchip_net::NetError),
    #[error(transparent)]
    Data(#[from] lifchip_data::DataError),
    #[error(transparent)]
    Train(#[from] lifchip_train::TrainError),
    #[error(transparent)]
    Target(#[from] lifchip_target::TargetError),
    #[error(transparent)]
    Chip(#[from] lifchip_chip::ChipError),
    #[error(transparent)]
    Emulator(#[from] lifchip_emulator::EmuError),
}

/// Puts an error at its place in a sweep spec, with `what` (e.g. `net: `) in front of it.
pub(crate) trait AtSpec {
    fn into_spec(self, at: Location, what: &str) -> StudyError;
}

impl<E: fmt::Display> AtSpec for E {
    fn into_spec(self, at: Location, what: &str) -> StudyError {
        StudyError::Spec {
            at,
            message: format!("{what}{self}"),
        }
    }
}

fn violation_list(report: &CompileReport) -> String {
    report
        .violations
        .iter()
        .map(|v| format!("  - {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
