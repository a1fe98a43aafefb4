//! IDX file writer (the MNIST format), the inverse of [`crate::decode_idx`]: what it writes,
//! the reader reads back unchanged.

use crate::{dataset::Dataset, error::DataError, idx::IdxKind};

/// Encodes a u8 IDX array of `kind`: the magic number, each dimension as a big-endian u32, then
/// `data` (row-major). `dims` must have the kind's dimension count, each dimension must fit in
/// a u32, and `data` must hold exactly their product of bytes.
///
/// # Errors
/// [`DataError::IdxUnwritable`] when the dimensions and the data do not make an IDX array.
pub fn encode_idx(kind: IdxKind, dims: &[usize], data: &[u8]) -> Result<Vec<u8>, DataError> {
    let what = match kind {
        IdxKind::Images => "pixels",
        IdxKind::Labels => "labels",
    };
    let unwritable = |reason: String| DataError::IdxUnwritable { what, reason };
    if dims.len() != usize::from(kind.dims()) {
        return Err(unwritable(format!(
            "{} dimension(s) given, the format holds {}",
            dims.len(),
            kind.dims()
        )));
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&kind.magic().to_be_bytes());
    for &d in dims {
        let d = u32::try_from(d)
            .map_err(|_| unwritable(format!("dimension {d} does not fit the u32 header field")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    let len = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if len != Some(data.len()) {
        return Err(unwritable(format!(
            "{} byte(s) of data for dimensions {dims:?}",
            data.len()
        )));
    }
    out.extend_from_slice(data);
    Ok(out)
}

impl Dataset {
    /// The images file (`*-images-idx3-ubyte`) and the labels file (`*-labels-idx1-ubyte`) of
    /// this dataset.
    ///
    /// # Errors
    /// [`DataError::IdxUnwritable`] when the sizes do not agree with the buffers.
    pub fn to_idx(&self) -> Result<(Vec<u8>, Vec<u8>), DataError> {
        let images = encode_idx(
            IdxKind::Images,
            &[self.n, self.rows, self.cols],
            &self.images,
        )?;
        let labels = encode_idx(IdxKind::Labels, &[self.n], &self.labels)?;
        Ok((images, labels))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::{DataSource, Split, decode_idx, load};

    #[test]
    fn a_dataset_round_trips_through_the_folder_reader() {
        let data = Dataset {
            images: (0..24).collect(),
            labels: vec![1, 2],
            n: 2,
            rows: 3,
            cols: 4,
        };
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = data.to_idx().unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), images).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), labels).unwrap();
        let back = load(
            &DataSource::Dir(dir.path().to_path_buf()),
            Split::Test,
            None,
        )
        .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn inconsistent_arrays_are_refused() {
        let e = encode_idx(IdxKind::Images, &[2, 2, 2], &[0; 7]).unwrap_err();
        assert!(e.to_string().contains("7 byte(s) of data"), "{e}");
        let e = encode_idx(IdxKind::Labels, &[1, 1], &[0]).unwrap_err();
        assert!(e.to_string().contains("2 dimension(s) given"), "{e}");
        let short = Dataset {
            images: vec![0; 3],
            labels: vec![0],
            n: 1,
            rows: 2,
            cols: 2,
        };
        assert!(short.to_idx().is_err());
    }

    proptest! {
        #[test]
        fn encoded_arrays_decode_to_themselves(
            n in 0usize..4, rows in 0usize..5, cols in 0usize..5, seed in any::<u8>()
        ) {
            let data: Vec<u8> = (0..n * rows * cols).map(|k| (k as u8).wrapping_mul(seed)).collect();
            let bytes = encode_idx(IdxKind::Images, &[n, rows, cols], &data).unwrap();
            let back = decode_idx(Path::new("x"), bytes, IdxKind::Images).unwrap();
            prop_assert_eq!(back.dims, vec![n, rows, cols]);
            prop_assert_eq!(back.data, data);
            let labels: Vec<u8> = (0..n as u8).collect();
            let bytes = encode_idx(IdxKind::Labels, &[n], &labels).unwrap();
            let back = decode_idx(Path::new("y"), bytes, IdxKind::Labels).unwrap();
            prop_assert_eq!(back.data, labels);
        }
    }
}
