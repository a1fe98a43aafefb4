//! The crate's one error type, [`DataError`]: every message names the file (or entry) and says what was expected.

use std::path::PathBuf;

/// Everything that can go wrong while reading a dataset or an input-spikes file.
///
/// Every variant that comes from a file carries its path, and the `Display` text says
/// what was found and what was expected, so it can be shown to a user as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file (or folder) could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// The file starts with the gzip magic bytes (1f 8b) but does not decompress.
    #[error("{}: corrupt gzip stream: {source}", path.display())]
    Gzip {
        /// The compressed file.
        path: PathBuf,
        /// What the decompressor reported.
        source: std::io::Error,
    },

    /// The IDX file (decompressed, or on disk) would be larger than [`crate::MAX_IDX_BYTES`];
    /// refused before its data is read or decompressed.
    #[error(
        "{}: {what} is {size} bytes, over the limit of {limit} bytes for one IDX file (MAX_IDX_BYTES)",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What has that size: "the file", or the header's shape.
        what: String,
        /// Its size in bytes.
        size: String,
        /// The limit.
        limit: usize,
    },

    /// A gzip IDX file decompresses to more than its header announces (stopped reading there,
    /// so a gzip bomb is never expanded).
    #[error(
        "{}: header says {shape} = {expected} bytes of {what}, the gzip stream holds more          (trailing data; decompression stopped there)",
        path.display()
    )]
    GzipTrailing {
        /// The compressed file.
        path: PathBuf,
        /// The dimensions, written `a×b×c`.
        shape: String,
        /// Data bytes announced by the header.
        expected: usize,
        /// "pixels" or "labels".
        what: &'static str,
    },

    /// The file is shorter than the IDX header it must start with.
    #[error(
        "{}: truncated header: an IDX file with {dims} dimension(s) starts with a {needed}-byte header \
         (4-byte magic + 4 bytes per dimension), file holds {found} byte(s)",
        path.display()
    )]
    HeaderTruncated {
        /// The IDX file (after decompression).
        path: PathBuf,
        /// Number of dimensions expected.
        dims: u8,
        /// Header length needed, in bytes.
        needed: usize,
        /// Bytes actually present.
        found: usize,
    },

    /// The first two bytes of the magic number are not zero: this is not an IDX file.
    #[error(
        "{}: not an IDX file: magic number is {found:#010x}, expected {expected:#010x} \
         (an IDX magic number starts with two zero bytes)",
        path.display()
    )]
    NotIdx {
        /// The file.
        path: PathBuf,
        /// The big-endian u32 found in the first four bytes.
        found: u32,
        /// The magic number expected.
        expected: u32,
    },

    /// The IDX data-type byte (third byte) is not 0x08 (unsigned byte).
    #[error(
        "{}: IDX data type byte is {found:#04x} ({}), expected 0x08 (unsigned byte); \
         magic number is {magic:#010x}, expected {expected:#010x}",
        path.display(),
        idx_type_name(*found)
    )]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The data-type byte found.
        found: u8,
        /// The whole magic number found.
        magic: u32,
        /// The magic number expected.
        expected: u32,
    },

    /// The IDX dimension count (fourth byte) is not the one expected.
    #[error(
        "{}: IDX file has {found} dimension(s) (magic number {magic:#010x}), expected {expected_dims} \
         (magic number {expected:#010x}, {what})",
        path.display()
    )]
    WrongDims {
        /// The file.
        path: PathBuf,
        /// Number of dimensions found.
        found: u8,
        /// Number of dimensions expected.
        expected_dims: u8,
        /// The whole magic number found.
        magic: u32,
        /// The magic number expected.
        expected: u32,
        /// What the file was expected to hold, e.g. "images: count × rows × cols".
        what: &'static str,
    },

    /// The product of the header's dimensions does not fit in memory sizes.
    #[error("{}: header dimensions {shape} overflow the addressable size", path.display())]
    SizeOverflow {
        /// The file.
        path: PathBuf,
        /// The dimensions, written `a×b×c`.
        shape: String,
    },

    /// The file holds fewer data bytes than the header announces.
    #[error(
        "{}: truncated: header says {shape} = {expected} bytes of {what}, file holds {found}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The dimensions, written `a×b×c`.
        shape: String,
        /// Data bytes announced by the header.
        expected: usize,
        /// Data bytes present after the header.
        found: usize,
        /// "pixels" or "labels".
        what: &'static str,
    },

    /// The file holds more data bytes than the header announces.
    #[error(
        "{}: too long: header says {shape} = {expected} bytes of {what}, file holds {found} \
         ({} unexpected trailing byte(s))",
        path.display(),
        found.saturating_sub(*expected)
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The dimensions, written `a×b×c`.
        shape: String,
        /// Data bytes announced by the header.
        expected: usize,
        /// Data bytes present after the header.
        found: usize,
        /// "pixels" or "labels".
        what: &'static str,
    },

    /// An IDX array that cannot be written: a dimension larger than the header's u32 fields,
    /// or data whose length is not the product of the dimensions.
    #[error("cannot write an IDX file of {what}: {reason}")]
    IdxUnwritable {
        /// "pixels" or "labels".
        what: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The images file and the labels file disagree on the number of examples.
    #[error(
        "{} holds {images} image(s) but {} holds {labels} label(s); the counts must agree",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
        /// The labels file.
        labels_path: PathBuf,
        /// Number of labels.
        labels: usize,
    },

    /// None of the accepted names of a dataset file exist in the folder.
    #[error(
        "{}: no {what} file: looked for {}",
        dir.display(),
        looked_for.join(", ")
    )]
    MissingFile {
        /// The folder searched.
        dir: PathBuf,
        /// What was wanted, e.g. "t10k images".
        what: String,
        /// The file names tried, in order.
        looked_for: Vec<String>,
    },

    /// The dataset folder does not exist or is not a folder.
    #[error("{}: dataset folder does not exist or is not a folder", dir.display())]
    NoSuchDir {
        /// The folder given.
        dir: PathBuf,
    },

    /// The bundled MNIST copy could not be found.
    #[error(
        "bundled MNIST data not found: looked for {}; set LIFCHIP_DATA_DIR to a folder containing mnist/",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and ")
    )]
    BundledNotFound {
        /// The `mnist` folders tried, in order.
        tried: Vec<PathBuf>,
    },

    /// An empty string was given where a data source ("mnist" or a folder) was expected.
    #[error("empty data source: expected \"mnist\" or a folder holding MNIST-layout IDX files")]
    EmptySource,

    /// A split name other than "train" or "test".
    #[error("unknown split {0:?}: expected \"train\" or \"test\"")]
    UnknownSplit(String),

    /// The input-spikes text is not JSON of the expected shape.
    #[error(
        "{origin}: not valid input-spikes JSON (expected {{\"ticks\": T, \"spikes\": [[tick, input_index], ...]}}): {source}"
    )]
    SpikesJson {
        /// Where the text came from (a path, or "input spikes").
        origin: String,
        /// The JSON parser's error (with line and column).
        source: serde_json::Error,
    },

    /// The `ticks` field of an input-spikes file is unusable.
    #[error("{origin}: ticks: {reason}")]
    SpikesTicks {
        /// Where the spikes came from (a path, or "input spikes").
        origin: String,
        /// What is wrong.
        reason: String,
    },

    /// One entry of the `spikes` list is wrong.
    #[error("{origin}: spikes[{entry}]: {reason}")]
    SpikeEntry {
        /// Where the spikes came from (a path, or "input spikes").
        origin: String,
        /// Position of the entry in the list (0-based).
        entry: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Name of an IDX data-type byte, for messages.
fn idx_type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "not an IDX data type",
    }
}
