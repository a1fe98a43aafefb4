//! IDX file reader (the MNIST format): gzip detection by magic bytes, strict header and length checks.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// IDX data-type byte for unsigned bytes.
const IDX_U8: u8 = 0x08;
/// The largest IDX file read, in bytes: on disk for a plain file, decompressed (header
/// included) for a gzip file, whose header is read first so that nothing larger is ever
/// decompressed or allocated. EMNIST's largest split (byclass, 697,932 images) is 547 MB.
pub const MAX_IDX_BYTES: usize = 1 << 30;

/// What an IDX file is expected to hold; fixes the expected magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdxKind {
    /// u8 images, 3 dimensions (count × rows × cols), magic 0x00000803.
    Images,
    /// u8 labels, 1 dimension (count), magic 0x00000801.
    Labels,
}

impl IdxKind {
    /// Number of dimensions this kind has.
    pub fn dims(self) -> u8 {
        match self {
            IdxKind::Images => 3,
            IdxKind::Labels => 1,
        }
    }

    /// The full magic number expected: `0x0000_08NN` with NN the dimension count.
    pub fn magic(self) -> u32 {
        (u32::from(IDX_U8) << 8) | u32::from(self.dims())
    }

    fn layout(self) -> &'static str {
        match self {
            IdxKind::Images => "u8 images: count × rows × cols",
            IdxKind::Labels => "u8 labels: count",
        }
    }

    fn data_name(self) -> &'static str {
        match self {
            IdxKind::Images => "pixels",
            IdxKind::Labels => "labels",
        }
    }
}

/// A decoded u8 IDX array: its dimensions and its row-major data (header removed).
#[derive(Clone, PartialEq, Eq)]
pub struct Idx {
    /// Dimension sizes from the header, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data; its length is exactly the product of `dims`.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Idx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idx")
            .field("dims", &self.dims)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Reads an IDX file, gzip-compressed or not (detected by the gzip magic bytes, not the extension).
/// A gzip file is decompressed only as far as its header announces (plus one byte), and a
/// header announcing more than [`MAX_IDX_BYTES`] is refused before any data is decompressed.
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read, [`DataError::Gzip`] if it is gzip but corrupt,
/// [`DataError::TooLarge`], [`DataError::GzipTrailing`], and the errors of [`decode_idx`].
pub fn read_idx(path: &Path, kind: IdxKind) -> Result<Idx, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_IDX_BYTES as u64 {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "the file".into(),
            size: size.to_string(),
            limit: MAX_IDX_BYTES,
        });
    }
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        gunzip_idx(path, &raw, kind)?
    } else {
        raw
    };
    decode_idx(path, bytes, kind)
}

/// Decompresses a gzip IDX file: its header first, then exactly the data bytes the header
/// announces and one more (to detect trailing data), never more than [`MAX_IDX_BYTES`]. A
/// header that cannot be read or is not the expected one is returned as is, for
/// [`decode_idx`] to name the problem.
fn gunzip_idx(path: &Path, raw: &[u8], kind: IdxKind) -> Result<Vec<u8>, DataError> {
    let gzip = |source| DataError::Gzip {
        path: path.to_path_buf(),
        source,
    };
    let header_len = 4 + 4 * usize::from(kind.dims());
    let mut decoder = MultiGzDecoder::new(raw);
    let mut out = Vec::with_capacity(header_len);
    (&mut decoder)
        .take(header_len as u64)
        .read_to_end(&mut out)
        .map_err(gzip)?;
    if out.len() < header_len || out[..4] != kind.magic().to_be_bytes() {
        return Ok(out);
    }
    let dims: Vec<u128> = out[4..]
        .chunks_exact(4)
        .map(|c| u128::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    // At most three dimensions of u32: the product fits in u128.
    let data: u128 = dims.iter().product();
    let shape = shape_text(dims.iter());
    if data + header_len as u128 > MAX_IDX_BYTES as u128 {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: format!("the data its header {shape} announces"),
            size: data.to_string(),
            limit: MAX_IDX_BYTES,
        });
    }
    let data = data as usize;
    // The gzip trailer's ISIZE (uncompressed size mod 2^32) is a capacity hint for a
    // single-member file; it is only a hint, so it is capped by the header's size.
    let hint = raw
        .len()
        .checked_sub(4)
        .and_then(|start| raw.get(start..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize)
        .min(header_len + data);
    out.reserve(hint.saturating_sub(out.len()));
    // Reading to the end of the stream (one byte short of the limit) checks its CRC too.
    decoder
        .take(data as u64 + 1)
        .read_to_end(&mut out)
        .map_err(gzip)?;
    if out.len() > header_len + data {
        return Err(DataError::GzipTrailing {
            path: path.to_path_buf(),
            shape,
            expected: data,
            what: kind.data_name(),
        });
    }
    Ok(out)
}

fn shape_text<T: ToString>(dims: impl Iterator<Item = T>) -> String {
    dims.map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}

/// Checks and decodes the bytes of an (uncompressed) IDX file.
///
/// Checks, in order: the header is complete; the magic number's first two bytes are zero; the
/// data-type byte is 0x08 (unsigned byte); the dimension count matches `kind`; the data length
/// equals the product of the dimensions exactly (neither truncated nor over-long).
/// `path` is only used in error messages. Never panics, whatever the bytes.
///
/// # Errors
/// [`DataError::HeaderTruncated`], [`DataError::NotIdx`], [`DataError::WrongType`],
/// [`DataError::WrongDims`], [`DataError::SizeOverflow`], [`DataError::Truncated`],
/// [`DataError::TrailingBytes`].
pub fn decode_idx(path: &Path, mut bytes: Vec<u8>, kind: IdxKind) -> Result<Idx, DataError> {
    let ndims = kind.dims();
    let header_len = 4 + 4 * usize::from(ndims);
    let expected = kind.magic();
    let header_err = || DataError::HeaderTruncated {
        path: path.to_path_buf(),
        dims: ndims,
        needed: header_len,
        found: bytes.len(),
    };

    let magic_bytes = bytes
        .get(0..4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
        .ok_or_else(header_err)?;
    let magic = u32::from_be_bytes(magic_bytes);
    let [z0, z1, dtype, found_dims] = magic_bytes;
    if z0 != 0 || z1 != 0 {
        return Err(DataError::NotIdx {
            path: path.to_path_buf(),
            found: magic,
            expected,
        });
    }
    if dtype != IDX_U8 {
        return Err(DataError::WrongType {
            path: path.to_path_buf(),
            found: dtype,
            magic,
            expected,
        });
    }
    if found_dims != ndims {
        return Err(DataError::WrongDims {
            path: path.to_path_buf(),
            found: found_dims,
            expected_dims: ndims,
            magic,
            expected,
            what: kind.layout(),
        });
    }
    let header = bytes.get(4..header_len).ok_or_else(header_err)?;
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(|c| u32::from_be_bytes(c) as usize)
        .collect();
    let shape = shape_text(dims.iter());
    let Some(expected_len) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(DataError::SizeOverflow {
            path: path.to_path_buf(),
            shape,
        });
    };
    let found = bytes.len() - header_len;
    if found < expected_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            shape,
            expected: expected_len,
            found,
            what: kind.data_name(),
        });
    }
    if found > expected_len {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            shape,
            expected: expected_len,
            found,
            what: kind.data_name(),
        });
    }
    bytes.drain(..header_len);
    Ok(Idx { dims, data: bytes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;

    /// Builds the bytes of a u8 IDX file with the given dims and data.
    pub(crate) fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, IDX_U8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn images_2x2x3() -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..12).collect();
        (idx_bytes(&[2, 2, 3], &data), data)
    }

    #[test]
    fn good_file_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, data) = images_2x2x3();
        for (name, content) in [("plain", bytes.clone()), ("compressed.gz", gzip(&bytes))] {
            let p = write(dir.path(), name, &content);
            let idx = read_idx(&p, IdxKind::Images).unwrap();
            assert_eq!(idx.dims, vec![2, 2, 3]);
            assert_eq!(idx.data, data);
        }
    }

    #[test]
    fn gzip_detected_by_magic_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, data) = images_2x2x3();
        // compressed content without .gz, uncompressed content with .gz
        let a = write(dir.path(), "images-no-ext", &gzip(&bytes));
        let b = write(dir.path(), "images-lies.gz", &bytes);
        assert_eq!(read_idx(&a, IdxKind::Images).unwrap().data, data);
        assert_eq!(read_idx(&b, IdxKind::Images).unwrap().data, data);
    }

    /// The gzip reader of [`read_idx`] on bytes (images), or the bytes when not gzip.
    fn maybe_gunzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
        if raw.starts_with(&GZIP_MAGIC) {
            gunzip_idx(path, &raw, IdxKind::Images)
        } else {
            Ok(raw)
        }
    }

    /// A gzip bomb is never expanded: its header bounds what is decompressed, and a header
    /// over the limit is refused before any data is, naming the file and the limit.
    #[test]
    fn gzip_bombs_are_refused_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = |dims: [u32; 3]| {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(&idx_bytes(&dims, &[])).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..256 {
                enc.write_all(&zeros).unwrap();
            }
            enc.finish().unwrap()
        };
        // 256 MiB of zeros behind a header announcing 2 pixels.
        let p = write(dir.path(), "small-header.gz", &bomb([2, 1, 1]));
        let t = std::time::Instant::now();
        let e = read_idx(&p, IdxKind::Images).unwrap_err();
        assert!(t.elapsed().as_secs_f64() < 0.5, "{:?}", t.elapsed());
        assert!(matches!(e, DataError::GzipTrailing { .. }), "{e:?}");
        assert!(e.to_string().contains("small-header.gz"), "{e}");
        // A header announcing 4 GiB: refused before decompressing.
        let p = write(dir.path(), "huge-header.gz", &bomb([65536, 256, 256]));
        let t = std::time::Instant::now();
        let e = read_idx(&p, IdxKind::Images).unwrap_err().to_string();
        assert!(t.elapsed().as_secs_f64() < 0.5, "{:?}", t.elapsed());
        assert!(
            e.contains("huge-header.gz")
                && e.contains("65536×256×256")
                && e.contains(&MAX_IDX_BYTES.to_string()),
            "{e}"
        );
        // A stream one byte short, and a good one, still decompress to the end (CRC checked).
        let (bytes, _) = images_2x2x3();
        let p = write(dir.path(), "short.gz", &gzip(&bytes[..bytes.len() - 1]));
        let e = read_idx(&p, IdxKind::Images).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
        let mut bad_crc = gzip(&bytes);
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        let p = write(dir.path(), "crc.gz", &bad_crc);
        let e = read_idx(&p, IdxKind::Images).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e:?}");
    }

    #[test]
    fn multi_member_gzip() {
        let (bytes, data) = images_2x2x3();
        let (a, b) = bytes.split_at(7);
        let mut two = gzip(a);
        two.extend(gzip(b));
        let out = maybe_gunzip(Path::new("x.gz"), two).unwrap();
        assert_eq!(
            decode_idx(Path::new("x"), out, IdxKind::Images)
                .unwrap()
                .data,
            data
        );
    }

    #[test]
    fn labels_good() {
        let idx = decode_idx(Path::new("l"), idx_bytes(&[3], &[7, 2, 1]), IdxKind::Labels).unwrap();
        assert_eq!(idx.dims, vec![3]);
        assert_eq!(idx.data, vec![7, 2, 1]);
    }

    #[test]
    fn empty_dataset_is_fine() {
        let idx = decode_idx(
            Path::new("e"),
            idx_bytes(&[0, 28, 28], &[]),
            IdxKind::Images,
        )
        .unwrap();
        assert_eq!(idx.dims, vec![0, 28, 28]);
        assert!(idx.data.is_empty());
    }

    #[test]
    fn wrong_magic() {
        let mut b = idx_bytes(&[1], &[0]);
        b[0] = 0x12;
        let e = decode_idx(Path::new("f.idx"), b, IdxKind::Labels).unwrap_err();
        assert!(matches!(
            e,
            DataError::NotIdx {
                found: 0x1200_0801,
                expected: 0x801,
                ..
            }
        ));
        let msg = e.to_string();
        assert!(msg.starts_with("f.idx: not an IDX file"), "{msg}");
        assert!(msg.contains("0x00000801"), "{msg}");
    }

    #[test]
    fn wrong_dtype_byte() {
        let mut b = idx_bytes(&[1, 1, 1], &[0]);
        b[2] = 0x0D;
        let e = decode_idx(Path::new("img"), b, IdxKind::Images).unwrap_err();
        assert!(
            matches!(e, DataError::WrongType { found: 0x0D, .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("0x0d (f32), expected 0x08 (unsigned byte)"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_dims() {
        // a labels file given where images are expected, and vice versa
        let e = decode_idx(Path::new("l"), idx_bytes(&[2], &[1, 2]), IdxKind::Images).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongDims {
                    found: 1,
                    expected_dims: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("expected 3"), "{e}");
        let e =
            decode_idx(Path::new("i"), idx_bytes(&[1, 1, 1], &[1]), IdxKind::Labels).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongDims {
                    found: 3,
                    expected_dims: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn truncated_header() {
        for len in 0..16 {
            let b = idx_bytes(&[1, 1, 1], &[0])[..len].to_vec();
            let e = decode_idx(Path::new("h"), b, IdxKind::Images).unwrap_err();
            assert!(
                matches!(e, DataError::HeaderTruncated { needed: 16, found, .. } if found == len),
                "len {len}: {e:?}"
            );
        }
    }

    #[test]
    fn truncated_data() {
        let b = idx_bytes(&[10000, 28, 28], &[0; 1234]);
        let e = decode_idx(Path::new("t10k-images-idx3-ubyte.gz"), b, IdxKind::Images).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t10k-images-idx3-ubyte.gz: truncated: header says 10000×28×28 = 7840000 bytes of pixels, file holds 1234"
        );
    }

    #[test]
    fn trailing_bytes() {
        let b = idx_bytes(&[3], &[1, 2, 3, 4, 5]);
        let e = decode_idx(Path::new("labels"), b, IdxKind::Labels).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::TrailingBytes {
                    expected: 3,
                    found: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "labels: too long: header says 3 = 3 bytes of labels, file holds 5 (2 unexpected trailing byte(s))"
        );
    }

    #[test]
    fn size_overflow_is_an_error() {
        let b = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        let e = decode_idx(Path::new("o"), b, IdxKind::Images).unwrap_err();
        assert!(matches!(e, DataError::SizeOverflow { .. }), "{e:?}");
    }

    #[test]
    fn corrupt_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = images_2x2x3();
        let good = gzip(&bytes);

        // garbage after the magic
        let mut garbage = vec![0x1f, 0x8b];
        garbage.extend_from_slice(&[0xff; 40]);
        // a bit flipped in the deflate data (checksum or stream error)
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        // cut short
        let cut = good[..good.len() - 6].to_vec();

        for (name, content) in [
            ("garbage.gz", garbage),
            ("flipped.gz", flipped),
            ("cut.gz", cut),
        ] {
            let p = write(dir.path(), name, &content);
            let e = read_idx(&p, IdxKind::Images).unwrap_err();
            assert!(matches!(e, DataError::Gzip { .. }), "{name}: {e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains(name) && msg.contains("corrupt gzip stream"),
                "{msg}"
            );
        }
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope");
        let e = read_idx(&p, IdxKind::Labels).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("nope"), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = Path::new("fuzz");
            let _ = decode_idx(p, bytes.clone(), IdxKind::Images);
            let _ = decode_idx(p, bytes.clone(), IdxKind::Labels);
            if let Ok(b) = maybe_gunzip(p, bytes) {
                let _ = decode_idx(p, b, IdxKind::Images);
            }
        }

        #[test]
        fn arbitrary_bytes_after_gzip_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = GZIP_MAGIC.to_vec();
            bytes.extend(tail);
            let _ = maybe_gunzip(Path::new("fuzz.gz"), bytes);
        }

        #[test]
        fn header_like_bytes_never_panic(
            dims in proptest::collection::vec(0u32..6, 0..4),
            ndims_byte in 0u8..5,
            dtype in prop_oneof![Just(IDX_U8), any::<u8>()],
            extra in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut b = vec![0, 0, dtype, ndims_byte];
            for d in &dims {
                b.extend_from_slice(&d.to_be_bytes());
            }
            b.extend(extra);
            for kind in [IdxKind::Images, IdxKind::Labels] {
                if let Ok(idx) = decode_idx(Path::new("p"), b.clone(), kind) {
                    let n: usize = idx.dims.iter().product();
                    prop_assert_eq!(idx.data.len(), n);
                    prop_assert_eq!(idx.dims.len(), usize::from(kind.dims()));
                }
            }
        }

        #[test]
        fn valid_files_round_trip(
            n in 0u32..5, r in 0u32..5, c in 0u32..5, seed in any::<u8>(), gz in any::<bool>()
        ) {
            let data: Vec<u8> = (0..n * r * c).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let mut b = idx_bytes(&[n, r, c], &data);
            if gz {
                b = gzip(&b);
            }
            let b = maybe_gunzip(Path::new("v"), b).unwrap();
            let idx = decode_idx(Path::new("v"), b, IdxKind::Images).unwrap();
            prop_assert_eq!(idx.dims, vec![n as usize, r as usize, c as usize]);
            prop_assert_eq!(idx.data, data);
        }
    }
}
