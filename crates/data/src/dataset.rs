//! The in-memory [`Dataset`] and [`load`], which finds and reads MNIST-layout IDX files.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::DataError;
use crate::idx::{IdxKind, read_idx};

/// Environment variable naming a folder that contains `mnist/`; checked before the bundled copy.
pub const DATA_DIR_ENV: &str = "LIFCHIP_DATA_DIR";

/// The repository's `data/` folder, fixed at compile time (works from any working directory).
const BUNDLED_DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// Labelled u8 images, all of the same size, in memory.
///
/// Invariants (kept by [`load`]; keep them if you build one by hand):
/// `images.len() == n * rows * cols` and `labels.len() == n`.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixels, row-major: image `i`, row `r`, column `c` is at `(i * rows + r) * cols + c`.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pixel buffer can be tens of megabytes: summarise instead of printing it.
        f.debug_struct("Dataset")
            .field("n", &self.n)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("images_len", &self.images.len())
            .field("labels_len", &self.labels.len())
            .finish()
    }
}

impl Dataset {
    /// Pixels per image (`rows * cols`), i.e. the number of network inputs.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major.
    ///
    /// # Panics
    /// If `i >= n` (like slice indexing).
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.pixels_per_image();
        &self.images[i * len..(i + 1) * len]
    }

    /// The pixels of image `i` scaled to `[0, 1]` (`p / 255`).
    ///
    /// # Panics
    /// If `i >= n`.
    pub fn pixels_f32(&self, i: usize) -> Vec<f32> {
        self.image(i)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect()
    }

    /// Number of classes: the largest label + 1 (0 for an empty dataset).
    pub fn num_classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| usize::from(m) + 1)
    }

    /// Keeps only the first `limit` examples (all of them if there are fewer).
    #[must_use]
    pub fn take(mut self, limit: usize) -> Dataset {
        if limit < self.n {
            self.n = limit;
            self.images.truncate(limit * self.pixels_per_image());
            self.images.shrink_to_fit();
            self.labels.truncate(limit);
            self.labels.shrink_to_fit();
        }
        self
    }
}

/// Which half of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (`train-*` files; 60 000 examples for MNIST).
    Train,
    /// The test set (`t10k-*` files; 10 000 examples for MNIST).
    Test,
}

impl Split {
    /// "train" or "test".
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// File-name prefix used by the MNIST layout: "train" or "t10k".
    fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;

    /// Accepts "train" and "test" (also "t10k"), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" | "t10k" => Ok(Split::Test),
            _ => Err(DataError::UnknownSplit(s.to_string())),
        }
    }
}

/// Where to load a dataset from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// The MNIST copy bundled in the repository's `data/mnist/` (or `$LIFCHIP_DATA_DIR/mnist/`).
    Mnist,
    /// A folder holding MNIST-layout IDX files: `train-images-idx3-ubyte[.gz]`,
    /// `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`.
    /// If both the plain and the `.gz` name exist, the plain one is read. Compression is detected
    /// from the content, not the name.
    Dir(PathBuf),
}

impl DataSource {
    /// `"mnist"` (any case) means [`DataSource::Mnist`]; anything else is a folder path.
    /// To use a folder literally called `mnist` in the working directory, write `./mnist`.
    ///
    /// # Errors
    /// [`DataError::EmptySource`] for an empty (or all-blank) string.
    pub fn parse(s: &str) -> Result<DataSource, DataError> {
        if s.trim().is_empty() {
            Err(DataError::EmptySource)
        } else if s.trim().eq_ignore_ascii_case("mnist") {
            Ok(DataSource::Mnist)
        } else {
            Ok(DataSource::Dir(PathBuf::from(s)))
        }
    }

    /// The folder the IDX files are read from.
    ///
    /// For [`DataSource::Mnist`]: `$LIFCHIP_DATA_DIR/mnist` if the variable is set and that
    /// folder exists, else the repository's `data/mnist` (path fixed at compile time).
    ///
    /// # Errors
    /// [`DataError::BundledNotFound`] if neither folder exists; [`DataError::NoSuchDir`] if a
    /// [`DataSource::Dir`] is not a folder.
    pub fn resolve_dir(&self) -> Result<PathBuf, DataError> {
        match self {
            DataSource::Dir(dir) => {
                if dir.is_dir() {
                    Ok(dir.clone())
                } else {
                    Err(DataError::NoSuchDir { dir: dir.clone() })
                }
            }
            DataSource::Mnist => mnist_dir(std::env::var_os(DATA_DIR_ENV)),
        }
    }
}

/// The bundled MNIST folder, given the value of `LIFCHIP_DATA_DIR` (if set).
fn mnist_dir(env_value: Option<OsString>) -> Result<PathBuf, DataError> {
    let mut tried = Vec::new();
    if let Some(env_dir) = env_value.filter(|v| !v.is_empty()) {
        tried.push(PathBuf::from(env_dir).join("mnist"));
    }
    tried.push(Path::new(BUNDLED_DATA_DIR).join("mnist"));
    match tried.iter().find(|d| d.is_dir()) {
        // Canonical form reads better in messages than ".../crates/data/../../data/mnist".
        Some(d) => Ok(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())),
        None => Err(DataError::BundledNotFound { tried }),
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Mnist => f.write_str("mnist"),
            DataSource::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

impl FromStr for DataSource {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataSource::parse(s)
    }
}

/// Finds `<prefix>-<stem>` (preferred) or `<prefix>-<stem>.gz` in `dir`.
fn find_file(dir: &Path, split: Split, kind: IdxKind) -> Result<PathBuf, DataError> {
    let (stem, what) = match kind {
        IdxKind::Images => ("images-idx3-ubyte", "images"),
        IdxKind::Labels => ("labels-idx1-ubyte", "labels"),
    };
    let base = format!("{}-{stem}", split.file_prefix());
    let names = [base.clone(), format!("{base}.gz")];
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: format!("{} {what}", split.file_prefix()),
            looked_for: names.to_vec(),
        })
}

/// Loads one split of a dataset, optionally only its first `limit` examples.
///
/// Files may be gzip-compressed or not (detected by content). Both files are checked in full
/// (magic number, dimensions, exact length) even when `limit` is given.
///
/// # Errors
/// Any [`DataError`] from locating or decoding the files, and [`DataError::CountMismatch`] if
/// the images and labels files disagree on the number of examples.
pub fn load(source: &DataSource, split: Split, limit: Option<usize>) -> Result<Dataset, DataError> {
    let dir = source.resolve_dir()?;
    let images_path = find_file(&dir, split, IdxKind::Images)?;
    let labels_path = find_file(&dir, split, IdxKind::Labels)?;
    let images = read_idx(&images_path, IdxKind::Images)?;
    let labels = read_idx(&labels_path, IdxKind::Labels)?;
    // decode_idx guarantees dims.len() == kind.dims(), but stay total anyway.
    let (n, rows, cols) = match images.dims.as_slice() {
        &[n, rows, cols] => (n, rows, cols),
        _ => (0, 0, 0),
    };
    let n_labels = labels.dims.first().copied().unwrap_or(0);
    if n != n_labels {
        return Err(DataError::CountMismatch {
            images_path,
            images: n,
            labels_path,
            labels: n_labels,
        });
    }
    let ds = Dataset {
        images: images.data,
        labels: labels.data,
        n,
        rows,
        cols,
    };
    Ok(match limit {
        Some(l) => ds.take(l),
        None => ds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::tests::{gzip, idx_bytes};

    /// Writes a small MNIST-layout folder: `n_img` 2×3 images, `n_lab` labels.
    fn write_split(dir: &Path, prefix: &str, n_img: u32, n_lab: u32, gz: bool) {
        let px: Vec<u8> = (0..n_img * 6).map(|i| i as u8).collect();
        let lab: Vec<u8> = (0..n_lab).map(|i| (i % 4) as u8).collect();
        let ext = if gz { ".gz" } else { "" };
        let mut img = idx_bytes(&[n_img, 2, 3], &px);
        let mut lb = idx_bytes(&[n_lab], &lab);
        if gz {
            img = gzip(&img);
            lb = gzip(&lb);
        }
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), lb).unwrap();
    }

    #[test]
    fn load_dir_both_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 5, 5, true);
        write_split(dir.path(), "t10k", 3, 3, false);
        let src = DataSource::Dir(dir.path().to_path_buf());

        let train = load(&src, Split::Train, None).unwrap();
        assert_eq!((train.n, train.rows, train.cols), (5, 2, 3));
        assert_eq!(train.images.len(), 30);
        assert_eq!(train.labels, vec![0, 1, 2, 3, 0]);
        assert_eq!(train.image(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(train.num_classes(), 4);
        let f = train.pixels_f32(0);
        assert_eq!(f.len(), 6);
        assert_eq!(f[0], 0.0);
        assert!((f[5] - 5.0 / 255.0).abs() < 1e-7);

        let test = load(&src, Split::Test, Some(2)).unwrap();
        assert_eq!((test.n, test.images.len(), test.labels.len()), (2, 12, 2));
        let all = load(&src, Split::Test, Some(100)).unwrap();
        assert_eq!(all.n, 3);
    }

    #[test]
    fn pixels_f32_range() {
        let ds = Dataset {
            images: vec![0, 255, 128, 1],
            labels: vec![9],
            n: 1,
            rows: 2,
            cols: 2,
        };
        let f = ds.pixels_f32(0);
        assert_eq!(f[0], 0.0);
        assert_eq!(f[1], 1.0);
        assert!(f.iter().all(|&x| (0.0..=1.0).contains(&x)));
        assert_eq!(ds.num_classes(), 10);
        assert_eq!(ds.clone().take(0).n, 0);
        assert_eq!(ds.clone().take(0).num_classes(), 0);
    }

    #[test]
    fn count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "t10k", 4, 3, false);
        let e = load(&DataSource::Dir(dir.path().into()), Split::Test, None).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    images: 4,
                    labels: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("t10k-images-idx3-ubyte") && msg.contains("t10k-labels-idx1-ubyte"),
            "{msg}"
        );
        assert!(
            msg.contains("4 image(s)") && msg.contains("3 label(s)"),
            "{msg}"
        );
    }

    #[test]
    fn missing_files() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 2, 2, false);
        let src = DataSource::Dir(dir.path().to_path_buf());
        let e = load(&src, Split::Test, None).unwrap_err();
        match &e {
            DataError::MissingFile {
                dir: d, looked_for, ..
            } => {
                assert_eq!(d, dir.path());
                assert_eq!(
                    looked_for,
                    &["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(
            msg.contains("t10k-images-idx3-ubyte, t10k-images-idx3-ubyte.gz"),
            "{msg}"
        );

        // images present, labels missing
        std::fs::remove_file(dir.path().join("train-labels-idx1-ubyte")).unwrap();
        let e = load(&src, Split::Train, None).unwrap_err();
        assert!(e.to_string().contains("train-labels-idx1-ubyte.gz"), "{e}");

        let e = load(
            &DataSource::Dir(dir.path().join("absent")),
            Split::Train,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, DataError::NoSuchDir { .. }), "{e:?}");
    }

    #[test]
    fn bad_file_in_dir_names_it() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), "train", 2, 2, false);
        let p = dir.path().join("train-labels-idx1-ubyte");
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.pop();
        std::fs::write(&p, bytes).unwrap();
        let e = load(&DataSource::Dir(dir.path().into()), Split::Train, None).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
        assert!(
            e.to_string().contains("train-labels-idx1-ubyte: truncated"),
            "{e}"
        );
    }

    #[test]
    fn parse_source_and_split() {
        assert_eq!(DataSource::parse("mnist").unwrap(), DataSource::Mnist);
        assert_eq!(DataSource::parse("MNIST").unwrap(), DataSource::Mnist);
        assert_eq!(
            DataSource::parse("./mnist").unwrap(),
            DataSource::Dir(PathBuf::from("./mnist"))
        );
        assert!(matches!(
            DataSource::parse(" "),
            Err(DataError::EmptySource)
        ));
        assert_eq!("mnist".parse::<DataSource>().unwrap().to_string(), "mnist");
        assert_eq!("train".parse::<Split>().unwrap(), Split::Train);
        assert_eq!("Test".parse::<Split>().unwrap(), Split::Test);
        assert!("val".parse::<Split>().is_err());
    }

    #[test]
    fn mnist_dir_env_then_bundled() {
        let env = tempfile::tempdir().unwrap();
        // env var set but no mnist/ inside: falls back to the bundled copy
        let d = mnist_dir(Some(env.path().as_os_str().to_owned())).unwrap();
        assert!(d.ends_with("data/mnist"), "{}", d.display());
        assert_eq!(mnist_dir(None).unwrap(), d);
        assert_eq!(mnist_dir(Some(OsString::new())).unwrap(), d);
        // env var pointing at a folder with mnist/: used first
        std::fs::create_dir(env.path().join("mnist")).unwrap();
        write_split(&env.path().join("mnist"), "t10k", 1, 1, false);
        let d = mnist_dir(Some(env.path().as_os_str().to_owned())).unwrap();
        assert_eq!(d, std::fs::canonicalize(env.path().join("mnist")).unwrap());
        let ds = load(&DataSource::Dir(d), Split::Test, None).unwrap();
        assert_eq!(ds.n, 1);
    }

    #[test]
    fn bundled_mnist_test_split() {
        let ds = load(&DataSource::Mnist, Split::Test, None).unwrap();
        assert_eq!((ds.n, ds.rows, ds.cols), (10_000, 28, 28));
        assert_eq!(ds.images.len(), 10_000 * 28 * 28);
        assert_eq!(ds.labels.len(), 10_000);
        assert!(ds.labels.iter().all(|&l| l < 10));
        assert_eq!(ds.num_classes(), 10);
        assert_eq!(ds.labels[0], 7);
        // the first test image is a 7: some ink, mostly background
        let ink = ds.image(0).iter().filter(|&&p| p > 0).count();
        assert!(ink > 50 && ink < 400, "{ink}");
    }
}
