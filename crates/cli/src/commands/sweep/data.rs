//! Downsampled datasets: average pooling of every image, and an MNIST-layout IDX folder of the
//! pooled images, so that the trainer, `lifchip eval` and the sweep all read the same pixels.

use std::path::{Path, PathBuf};

use lifchip_data::{DataSource, Dataset, Split};

use crate::util::{CliError, CliResult};

/// Average-pools every image by `factor` in both directions (a `factor` × `factor` block becomes
/// one pixel, the rounded mean). The image size must be a multiple of `factor`.
pub fn downsample(data: &Dataset, factor: usize) -> CliResult<Dataset> {
    if factor <= 1 {
        return Ok(data.clone());
    }
    if !data.rows.is_multiple_of(factor) || !data.cols.is_multiple_of(factor) {
        crate::fail!(
            "downsample: {factor} does not divide the {}x{} images; use a divisor of both",
            data.rows,
            data.cols
        );
    }
    let (rows, cols) = (data.rows / factor, data.cols / factor);
    let area = (factor * factor) as u32;
    let mut images = Vec::with_capacity(data.n * rows * cols);
    for i in 0..data.n {
        let image = data.image(i);
        for r in 0..rows {
            for c in 0..cols {
                let mut sum = 0u32;
                for dr in 0..factor {
                    let row = (r * factor + dr) * data.cols + c * factor;
                    sum += image[row..row + factor]
                        .iter()
                        .map(|&p| u32::from(p))
                        .sum::<u32>();
                }
                images.push(u8::try_from((sum + area / 2) / area).unwrap_or(u8::MAX));
            }
        }
    }
    Ok(Dataset {
        images,
        labels: data.labels.clone(),
        n: data.n,
        rows,
        cols,
    })
}

fn idx_images(data: &Dataset) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.images.len());
    out.extend_from_slice(&0x0000_0803u32.to_be_bytes());
    for d in [data.n, data.rows, data.cols] {
        out.extend_from_slice(&u32::try_from(d).unwrap_or(u32::MAX).to_be_bytes());
    }
    out.extend_from_slice(&data.images);
    out
}

fn idx_labels(data: &Dataset) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.labels.len());
    out.extend_from_slice(&0x0000_0801u32.to_be_bytes());
    out.extend_from_slice(&u32::try_from(data.n).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&data.labels);
    out
}

/// The folder `under/NAME-RxC` holding both splits of `source` pooled by `factor`, written
/// (atomically, as a whole folder) unless it is already there. Returns its path.
pub fn pooled_folder(
    source: &DataSource,
    source_name: &str,
    factor: usize,
    under: &Path,
) -> CliResult<PathBuf> {
    let test = lifchip_data::load(source, Split::Test, None)?;
    let (rows, cols) = (test.rows / factor.max(1), test.cols / factor.max(1));
    let stem: String = source_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    let stem = if stem.is_empty() { "data".into() } else { stem };
    let dir = under.join(format!("{stem}-{rows}x{cols}"));
    if dir.join("t10k-labels-idx1-ubyte").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(under).map_err(|e| CliError(format!("{}: {e}", under.display())))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".pooled-");
    #[cfg(unix)]
    {
        // 0777 minus the umask, like `create_dir` (a plain temp dir would stay 0700).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    let staging = builder
        .tempdir_in(under)
        .map_err(|e| CliError(format!("{}: {e}", under.display())))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = staging.path().join(name);
        std::fs::write(&p, bytes).map_err(|e| CliError(format!("{}: {e}", p.display())))
    };
    let test = downsample(&test, factor)?;
    write("t10k-images-idx3-ubyte", &idx_images(&test))?;
    write("t10k-labels-idx1-ubyte", &idx_labels(&test))?;
    drop(test);
    let train = downsample(&lifchip_data::load(source, Split::Train, None)?, factor)?;
    write("train-images-idx3-ubyte", &idx_images(&train))?;
    write("train-labels-idx1-ubyte", &idx_labels(&train))?;
    write(
        "PROVENANCE.md",
        format!(
            "# {stem}-{rows}x{cols}\n\nWritten by `lifchip sweep`: every image of `{source_name}` \
             average-pooled {factor}x{factor} (the rounded mean of each block).\n"
        )
        .as_bytes(),
    )?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another sweep may have written the same folder meanwhile.
        if !dir.join("t10k-labels-idx1-ubyte").is_file() {
            crate::fail!("{}: {e}", dir.display());
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_blocks_to_their_rounded_mean() {
        let data = Dataset {
            images: vec![0, 255, 10, 20, 0, 255, 30, 41],
            labels: vec![7],
            n: 1,
            rows: 2,
            cols: 4,
        };
        let d = downsample(&data, 2).map_err(|e| e.0);
        let d = d.as_ref().map(|d| (d.rows, d.cols, d.images.clone()));
        assert_eq!(d, Ok((1, 2, vec![128, 25])));
        assert!(downsample(&data, 3).is_err());
    }

    #[test]
    fn idx_round_trips_through_the_reader() {
        let data = Dataset {
            images: (0..24).collect(),
            labels: vec![1, 2],
            n: 2,
            rows: 3,
            cols: 4,
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        for (name, bytes) in [
            ("t10k-images-idx3-ubyte", idx_images(&data)),
            ("t10k-labels-idx1-ubyte", idx_labels(&data)),
        ] {
            assert!(std::fs::write(dir.path().join(name), bytes).is_ok());
        }
        let back = lifchip_data::load(
            &DataSource::Dir(dir.path().to_path_buf()),
            Split::Test,
            None,
        )
        .map_err(|e| e.to_string());
        assert_eq!(back, Ok(data));
    }
}
