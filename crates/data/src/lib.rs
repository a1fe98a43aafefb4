//! Dataset readers and input encoding for lifchip: loads MNIST-layout IDX files into memory and
//! turns pixel intensities into input spikes.
//!
//! # What it does
//! - [`load`] reads one [`Split`] of a [`DataSource`] — the MNIST copy bundled in the repository
//!   (`data/mnist/`, or `$LIFCHIP_DATA_DIR/mnist/`) or any folder of MNIST-layout IDX files —
//!   into a [`Dataset`] (u8 pixels, row-major, plus u8 labels).
//! - [`read_idx`] / [`decode_idx`] are the underlying IDX reader ([`encode_idx`] and
//!   [`Dataset::to_idx`] the writer): gzip is detected by its magic
//!   bytes, and the magic number, dimension count and exact data length are checked. Every
//!   failure is a [`DataError`] naming the file, what was found and what was expected.
//! - [`rate_regular`] and [`poisson`] encode pixels in `[0, 1]` as per-tick spike lists;
//!   [`InputSpikes`] reads, checks and writes the input-spikes JSON file
//!   `{"ticks": T, "spikes": [[tick, input_index], ...]}`.
//! - [`shuffled_indices`] gives a seeded, deterministic example order for mini-batches.
//!
//! # What it does not do
//! No training, no network or chip models, and no spike simulation: beyond encoding inputs,
//! spikes are the emulator's business. It downloads nothing; MNIST is bundled in the repository.
//!
//! # Example
//! ```
//! use lifchip_data::{DataSource, Split, load, rate_regular};
//!
//! let test = load(&DataSource::Mnist, Split::Test, Some(10))?;
//! assert_eq!((test.n, test.rows, test.cols), (10, 28, 28));
//! assert_eq!(test.labels[0], 7);
//!
//! // 100 ticks, a white pixel spikes every 5th tick
//! let spikes = rate_regular(&test.pixels_f32(0), 0.2, 100);
//! assert_eq!(spikes.len(), 100);
//! # Ok::<(), lifchip_data::DataError>(())
//! ```

mod batch;
mod dataset;
mod encode;
mod error;
mod idx;
mod idx_write;

pub use crate::{
    batch::shuffled_indices,
    dataset::{DATA_DIR_ENV, DataSource, Dataset, Split, load},
    encode::{InputSpikes, MAX_TICKS, poisson, rate_regular},
    error::DataError,
    idx::{Idx, IdxKind, MAX_IDX_BYTES, decode_idx, read_idx},
    idx_write::encode_idx,
};
