//! File helpers every lifchip crate that writes files shares, so that each concern has one
//! definition:
//!
//! - [`write_atomic`] / [`write_atomic_with`]: an output appears whole or not at all (a temp file
//!   beside the destination, fsync, rename, fsync of the directory), with the permissions a plain
//!   `File::create` would give.
//! - [`check_yaml_nesting`]: a linear-time guard run before a YAML document reaches serde, whose
//!   parser takes time quadratic in the nesting depth (100,000 nested `[` took ~99 s).
//! - [`Fingerprint`]: the 64-bit content hash used for net fingerprints, target hashes in chip
//!   manifests and sweep cache keys (FNV-1a, which does not depend on the Rust version, so
//!   fingerprints written by one build are read by the next).

use std::fs::File;
use std::hash::Hasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory a file at `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file in `dir` created with mode 0666 minus the umask, like `File::create` (a plain
/// temp file would be private, 0600, and keep that after the rename).
pub fn readable_tempfile(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Writes `bytes` to `path` atomically: readers see the old file or the whole new one, never a
/// part, also after a crash (the data and the rename are synced).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], for writers that produce the content themselves: `fill` gets the temp
/// file (also reachable by path through [`tempfile::NamedTempFile::path`] for libraries that
/// insist on opening it themselves) and the rename happens only if it succeeds.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut tempfile::NamedTempFile) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(path);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = readable_tempfile(&dir, &format!(".{stem}."), ".tmp")?;
    fill(&mut tmp)?;
    tmp.flush()?;
    // A writer may have replaced the file behind the path (e.g. opened it by name): sync by path.
    File::open(tmp.path())?.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

/// Writes a directory of files atomically: the files are written and synced in a staging
/// directory beside `dir`, which then replaces `dir` (an existing `dir` is moved aside first and
/// put back if the final rename fails). The caller decides beforehand whether an existing `dir`
/// may be replaced. Staging and parked directories are named `.NAME.tmp-*` / `.NAME.old-*`.
pub fn write_dir_atomic(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    let parent = parent_dir(dir);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::create_dir_all(&parent)?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.tmp-");
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        // 0777 minus the umask, like `create_dir` (a plain temp dir would stay 0700).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    let staging = builder.tempdir_in(&parent)?;
    for (file, bytes) in files {
        let mut f = File::create(staging.path().join(file))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    sync_dir(staging.path())?;
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {
            // Park the old directory in a second temporary directory (removed when it drops).
            let old = tempfile::Builder::new()
                .prefix(&format!(".{name}.old-"))
                .tempdir_in(&parent)?;
            let parked = old.path().join(&name);
            std::fs::rename(dir, &parked)?;
            if let Err(e) = std::fs::rename(staging.path(), dir) {
                let _ = std::fs::rename(&parked, dir);
                return Err(e);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::rename(staging.path(), dir)?,
        Err(e) => return Err(e),
    }
    // The staging directory now lives at `dir`; keep it from being cleaned up.
    let _ = staging.keep();
    sync_dir(&parent)
}

/// Makes a rename in `dir` durable. A no-op where directories cannot be opened (Windows).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// How deep YAML and JSON inputs may nest. Nets, configs and specs need fewer than 10 levels;
/// the target parser uses the same limit.
pub const MAX_NESTING: usize = 64;

/// A document nests deeper than [`MAX_NESTING`]: where (1-based) the first too-deep collection
/// opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
    pub limit: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nesting deeper than {} levels at line {} column {}",
            self.limit, self.line, self.column
        )
    }
}

impl std::error::Error for TooDeep {}

/// Refuses YAML text that nests collections deeper than `limit`, in time linear in the part
/// read (it stops at the first too-deep collection). Syntax errors are left to the caller's
/// parser, which reports them with its own messages.
pub fn check_yaml_nesting(text: &str, limit: usize) -> Result<(), TooDeep> {
    use saphyr_parser::{Event, Parser};
    let mut depth = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(item) => item,
            // The scanner has a flow-nesting limit of its own (about 255 levels).
            Err(e) if e.info().contains("recursion limit") => {
                return Err(TooDeep {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    limit,
                });
            }
            Err(_) => return Ok(()),
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        limit,
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The 64-bit content fingerprint (FNV-1a) of lifchip's files and caches.
#[derive(Default)]
pub struct Fingerprint(fnv::FnvHasher);

impl Fingerprint {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.write(bytes);
        self
    }

    /// Adds one part of a composite key, followed by a separator byte that no UTF-8 text holds,
    /// so `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn part(&mut self, text: &str) -> &mut Self {
        self.0.write(text.as_bytes());
        self.0.write(&[0xff]);
        self
    }

    pub fn value(&self) -> u64 {
        self.0.finish()
    }

    /// The value as 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }

    /// The fingerprint of one byte string.
    pub fn of(bytes: &[u8]) -> u64 {
        Self::new().bytes(bytes).value()
    }
}

/// A parser's message for a person: without the " at line L column C" the caller prints in
/// front already, and cut to at most ~200 characters (a 2 MB bad value is not echoed in full;
/// the start and the end, which says what was expected, are kept).
pub fn short_message(message: &str) -> String {
    let message = match message.rsplit_once(" at line ") {
        Some((head, tail))
            if tail
                .split_once(" column ")
                .is_some_and(|(l, c)| l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok()) =>
        {
            head
        }
        _ => message,
    };
    let chars = message.chars().count();
    if chars <= 200 {
        return message.to_string();
    }
    let head: String = message.chars().take(120).collect();
    let tail: String = message.chars().skip(chars - 60).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_message_drops_the_location_and_cuts_long_values() {
        use super::short_message;
        assert_eq!(
            short_message("layers: invalid value: integer -16, expected usize at line 23 column 3"),
            "layers: invalid value: integer -16, expected usize"
        );
        assert_eq!(short_message("see at line two"), "see at line two");
        let long = format!(
            "invalid type: string \"{}\", expected i64",
            "x".repeat(2_000_000)
        );
        let short = short_message(&long);
        assert!(short.chars().count() < 200, "{}", short.len());
        assert!(
            short.contains('…') && short.ends_with("expected i64"),
            "{short}"
        );
    }

    use super::*;

    #[test]
    fn fingerprint_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors: the empty string and "a".
        assert_eq!(Fingerprint::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fingerprint::of(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn deep_yaml_is_refused_quickly() {
        let text = "[".repeat(100_000);
        let start = std::time::Instant::now();
        let err = check_yaml_nesting(&text, MAX_NESTING).unwrap_err();
        assert!(start.elapsed().as_secs_f64() < 0.5);
        assert_eq!((err.line, err.limit), (1, 64));
        let text = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = check_yaml_nesting(&text, MAX_NESTING).unwrap_err();
        assert_eq!((err.line, err.column), (1, 65));
        let nested_maps: String = (0..100)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect();
        assert!(check_yaml_nesting(&nested_maps, MAX_NESTING).is_err());
    }

    #[test]
    fn shallow_and_broken_yaml_pass_to_the_real_parser() {
        assert!(check_yaml_nesting("a: [[1, 2], {b: 3}]\n", MAX_NESTING).is_ok());
        assert!(check_yaml_nesting("a: [1, 2\n", MAX_NESTING).is_ok());
    }

    #[test]
    fn parts_are_separated() {
        let ab_c = Fingerprint::new().part("ab").part("c").value();
        let a_bc = Fingerprint::new().part("a").part("bc").value();
        assert_ne!(ab_c, a_bc);
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }

    #[test]
    fn failed_fill_leaves_destination_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"keep").unwrap();
        let err = write_atomic_with(&path, |_| Err(io::Error::other("boom")));
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_dir_replaces_old_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("x.chip");
        write_dir_atomic(&dir, &[("a", b"1"), ("b", b"2")]).unwrap();
        write_dir_atomic(&dir, &[("a", b"3")]).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"3");
        assert!(
            !dir.join("b").exists(),
            "the old directory is replaced, not merged"
        );
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_is_not_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_ne!(
            mode & 0o044,
            0,
            "readable by others as with File::create (umask permitting)"
        );
    }
}
