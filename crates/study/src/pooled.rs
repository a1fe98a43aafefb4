//! Downsampled datasets: average pooling of every image, and an MNIST-layout IDX folder of the
//! pooled images, so that the trainer, `lifchip eval` and the sweep all read the same pixels.

use std::path::{Path, PathBuf};

use lifchip_data::{DataSource, Dataset, Split};

use crate::error::{StudyError, StudyResult};

/// Average-pools every image by `factor` in both directions (a `factor` × `factor` block becomes
/// one pixel, the rounded mean). The image size must be a multiple of `factor`.
pub fn downsample(data: &Dataset, factor: usize) -> StudyResult<Dataset> {
    if factor <= 1 {
        return Ok(data.clone());
    }
    if !data.rows.is_multiple_of(factor) || !data.cols.is_multiple_of(factor) {
        return Err(StudyError::Downsample {
            factor,
            rows: data.rows,
            cols: data.cols,
        });
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

/// The folder `under/NAME-RxC` holding both splits of `source` pooled by `factor`, written
/// (atomically, as a whole folder) unless it is already there. Returns its path.
pub fn pooled_folder(
    source: &DataSource,
    source_name: &str,
    factor: usize,
    under: &Path,
) -> StudyResult<PathBuf> {
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
    let test = downsample(&test, factor)?;
    let (test_images, test_labels) = test.to_idx()?;
    drop(test);
    let train = downsample(&lifchip_data::load(source, Split::Train, None)?, factor)?;
    let (train_images, train_labels) = train.to_idx()?;
    drop(train);
    let provenance = format!(
        "# {stem}-{rows}x{cols}\n\nWritten by `lifchip sweep`: every image of `{source_name}` \
         average-pooled {factor}x{factor} (the rounded mean of each block).\n"
    );
    let files: [(&str, &[u8]); 5] = [
        ("t10k-images-idx3-ubyte", &test_images),
        ("t10k-labels-idx1-ubyte", &test_labels),
        ("train-images-idx3-ubyte", &train_images),
        ("train-labels-idx1-ubyte", &train_labels),
        ("PROVENANCE.md", provenance.as_bytes()),
    ];
    if let Err(source) = lifchip_files::write_dir_atomic(&dir, &files) {
        // Another sweep may have written the same folder meanwhile.
        if !dir.join("t10k-labels-idx1-ubyte").is_file() {
            return Err(StudyError::Write { path: dir, source });
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
        let d = downsample(&data, 2).map_err(|e| e.to_string());
        let d = d.as_ref().map(|d| (d.rows, d.cols, d.images.clone()));
        assert_eq!(d, Ok((1, 2, vec![128, 25])));
        assert!(downsample(&data, 3).is_err());
    }
}
