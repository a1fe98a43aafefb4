//! File helpers every lifchip crate that writes files shares, so that each concern has one
//! definition:
//!
//! - [`write_atomic`] / [`write_atomic_with`]: an output appears whole or not at all (a temp file
//!   beside the destination, fsync, rename, fsync of the directory), with the permissions a plain
//!   `File::create` would give.
//! - [`check_yaml_nesting`]: a linear-time guard run before a YAML document reaches serde, whose
//!   parser takes time quadratic in the nesting depth (100,000 nested `[` took ~99 s).
//! - [`clean_stale`]: temp files and directories a killed run left beside an output are removed
//!   by the next write to the same place.
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
    std::fs::create_dir_all(&dir)?;
    clean_stale(path);
    let mut tmp = readable_tempfile(&dir, &format!(".{stem}.p{}-", std::process::id()), ".tmp")?;
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
/// may be replaced. Staging and parked directories are named `.NAME.tmp-pPID-*` /
/// `.NAME.old-pPID-*` (temp files of [`write_atomic`]: `.NAME.pPID-*.tmp`); [`clean_stale`]
/// removes those of dead processes.
pub fn write_dir_atomic(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    write_dir_atomic_with(dir, |staging| {
        for (file, bytes) in files {
            let mut f = File::create(staging.join(file))?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        Ok(())
    })
}

/// Like [`write_dir_atomic`], for writers that produce the files themselves (e.g. streamed
/// as they are encoded, never whole in memory): `fill` gets the staging directory, creates
/// the files in it and syncs each (`File::sync_all`); the directory replaces `dir` only if
/// `fill` succeeds (else it is removed).
pub fn write_dir_atomic_with(
    dir: &Path,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let parent = parent_dir(dir);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::create_dir_all(&parent)?;
    clean_stale(dir);
    let pid = std::process::id();
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.tmp-p{pid}-");
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        // 0777 minus the umask, like `create_dir` (a plain temp dir would stay 0700).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    let staging = builder.tempdir_in(&parent)?;
    fill(staging.path())?;
    sync_dir(staging.path())?;
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {
            // Park the old directory in a second temporary directory (removed when it drops).
            let old = tempfile::Builder::new()
                .prefix(&format!(".{name}.old-p{pid}-"))
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

/// Temp files and directories older than this are stale whoever made them (a fallback for
/// names without a process id, or systems without `/proc`).
pub const STALE_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a leftover beside an output is: which writer made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leftover {
    /// A temp file of [`write_atomic`]: `.NAME.pPID-XXXXXX.tmp`.
    File,
    /// A staging directory of [`write_dir_atomic`]: `.NAME.tmp-pPID-XXXXXX`.
    Staging,
    /// A parked old directory of [`write_dir_atomic`]: `.NAME.old-pPID-XXXXXX`.
    Parked,
}

/// The random part `tempfile` appends: 6 ASCII letters and digits.
fn is_random(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parses `pPID-XXXXXX` (current names) or `XXXXXX` (names before the process id was added).
fn parse_tail(tail: &str) -> Option<Option<u32>> {
    if let Some(rest) = tail.strip_prefix('p')
        && let Some((pid, random)) = rest.split_once('-')
        && is_random(random)
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
    {
        return pid.parse().ok().map(Some);
    }
    is_random(tail).then_some(None)
}

/// Whether `entry` (a file name in the output's directory) is a leftover of a write to
/// `name`, and of which process.
fn leftover(entry: &str, name: &str) -> Option<(Leftover, Option<u32>)> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    if let Some(tail) = rest.strip_prefix("tmp-") {
        return parse_tail(tail).map(|pid| (Leftover::Staging, pid));
    }
    if let Some(tail) = rest.strip_prefix("old-") {
        return parse_tail(tail).map(|pid| (Leftover::Parked, pid));
    }
    let tail = rest.strip_suffix(".tmp")?;
    parse_tail(tail).map(|pid| (Leftover::File, pid))
}

/// Whether process `pid` is certainly gone: `/proc` is there and has no entry for it.
fn process_gone(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes what a killed or crashed run left beside the output `path`: temp files of
/// [`write_atomic`] and staging or parked directories of [`write_dir_atomic`] for this very
/// name, when the process that made them is gone or they are older than [`STALE_AGE`]. A
/// parked directory holds the previous output when a run died between its two renames: it is
/// put back first when nothing is at `path`. Anything else (other names, other patterns, live
/// writers) is left alone; failures are ignored (a leftover is harmless).
pub fn clean_stale(path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let dir = parent_dir(path);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(entry_name) = file_name.to_str() else {
            continue;
        };
        if !entry_name.starts_with(&prefix) {
            continue;
        }
        let Some((kind, pid)) = leftover(entry_name, &name) else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_AGE);
        if !(old || pid.is_some_and(process_gone)) {
            continue;
        }
        let p = entry.path();
        match kind {
            Leftover::File if meta.is_file() => {
                let _ = std::fs::remove_file(&p);
            }
            Leftover::Staging if meta.is_dir() => {
                let _ = std::fs::remove_dir_all(&p);
            }
            Leftover::Parked if meta.is_dir() => {
                let parked = p.join(&name);
                if parked.symlink_metadata().is_ok() && path.symlink_metadata().is_err() {
                    let _ = std::fs::rename(&parked, path);
                }
                let _ = std::fs::remove_dir_all(&p);
            }
            _ => {}
        }
    }
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
            // A document this parser refuses may still be read by the caller's (more lenient)
            // one, nesting and all: count its flow brackets instead.
            Err(_) => return check_flow_nesting(text, limit),
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

/// The flow-collection depth of `text` (`[`, `{` outside quotes and comments), refused deeper
/// than `limit`: a lexical bound for text the YAML parser could not read, in linear time.
fn check_flow_nesting(text: &str, limit: usize) -> Result<(), TooDeep> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut chars = text.chars().peekable();
    // The character before, for `#` (a comment only after a space or at a line start).
    let mut previous = '\n';
    while let Some(c) = chars.next() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '#' if previous.is_whitespace() => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '"' | '\'' => {
                // A quoted scalar: to its closing quote (`\"` escapes in double quotes, `''`
                // in single ones), counting its lines.
                while let Some(q) = chars.next() {
                    if q == '\n' {
                        (line, column) = (line + 1, 0);
                    }
                    if c == '"' && q == '\\' {
                        chars.next();
                    } else if q == c {
                        if c == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep {
                        line,
                        column,
                        limit,
                    });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
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

    /// A process id no process has (above Linux's largest `pid_max`).
    const DEAD: u32 = 4_000_000_000;

    fn age(path: &Path, secs: u64) {
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        File::open(path).unwrap().set_modified(when).unwrap();
    }

    #[test]
    fn leftovers_are_recognised_by_name() {
        assert_eq!(
            leftover(".c.chip.tmp-p12-aB3dE9", "c.chip"),
            Some((Leftover::Staging, Some(12)))
        );
        assert_eq!(
            leftover(".c.chip.old-Ab3dE9", "c.chip"),
            Some((Leftover::Parked, None))
        );
        assert_eq!(
            leftover(".r.json.p7-abcdef.tmp", "r.json"),
            Some((Leftover::File, Some(7)))
        );
        assert_eq!(
            leftover(".r.json.abcdef.tmp", "r.json"),
            Some((Leftover::File, None))
        );
        for other in [
            ".r.json.abcdefg.tmp",
            ".r.json.p-abcdef.tmp",
            ".r.json.pxy-abcdef.tmp",
            ".r.json.tmp-mine",
            ".r.jsonx.abcdef.tmp",
            "r.json.abcdef.tmp",
            ".r.json.abcdef.tmp.bak",
        ] {
            assert_eq!(leftover(other, "r.json"), None, "{other}");
        }
    }

    #[test]
    fn the_next_write_removes_what_a_killed_run_left() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("r.json");
        let dead_file = d.path().join(format!(".r.json.p{DEAD}-abc123.tmp"));
        let live_file = d
            .path()
            .join(format!(".r.json.p{}-abc123.tmp", std::process::id()));
        let old_legacy = d.path().join(".r.json.xyz789.tmp");
        let new_legacy = d.path().join(".r.json.xyz788.tmp");
        let not_ours = d.path().join(format!(".r.json.p{DEAD}-abc123.tmp.keep"));
        let other_output = d.path().join(format!(".s.json.p{DEAD}-abc123.tmp"));
        for p in [
            &dead_file,
            &live_file,
            &old_legacy,
            &new_legacy,
            &not_ours,
            &other_output,
        ] {
            std::fs::write(p, "partial").unwrap();
        }
        age(&old_legacy, 2 * STALE_AGE.as_secs());
        write_atomic(&out, b"{}").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"{}");
        assert!(!dead_file.exists() && !old_legacy.exists());
        for kept in [&live_file, &new_legacy, &not_ours, &other_output] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
    }

    #[test]
    fn the_next_directory_write_removes_staging_and_restores_a_parked_output() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("c.chip");
        // Killed while staging: a half-written staging directory.
        let staging = d.path().join(format!(".c.chip.tmp-p{DEAD}-abc123"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("cores.bin"), "half").unwrap();
        // Killed between the two renames: the previous output parked, nothing at `out`.
        let parked = d.path().join(format!(".c.chip.old-p{DEAD}-abc123"));
        std::fs::create_dir_all(parked.join("c.chip")).unwrap();
        std::fs::write(parked.join("c.chip/manifest.json"), "previous").unwrap();
        clean_stale(&out);
        assert!(!staging.exists() && !parked.exists());
        assert_eq!(
            std::fs::read_to_string(out.join("manifest.json")).unwrap(),
            "previous"
        );
        // A staging directory of a live writer stays; an old one without a process id goes.
        let live = d
            .path()
            .join(format!(".c.chip.tmp-p{}-abc123", std::process::id()));
        let old = d.path().join(".c.chip.tmp-abc124");
        std::fs::create_dir(&live).unwrap();
        std::fs::create_dir(&old).unwrap();
        age(&old, 2 * STALE_AGE.as_secs());
        write_dir_atomic(&out, &[("manifest.json", b"new")]).unwrap();
        assert!(live.exists() && !old.exists());
        assert_eq!(
            std::fs::read_to_string(out.join("manifest.json")).unwrap(),
            "new"
        );
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn missing_parent_directories_are_created() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("a/b/r.json");
        write_atomic(&file, b"1").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"1");
        let dir = d.path().join("c/d/x.chip");
        write_dir_atomic(&dir, &[("f", b"2")]).unwrap();
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"2");
    }

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

    /// Fuzz case 257353 (net-yaml, seed 1): a bracket bomb on a line the strict scanner
    /// refuses (less indented than its flow sequence) but serde_yaml reads, level by level,
    /// for minutes. The brackets are counted then; quoted and commented ones are not.
    #[test]
    fn deep_flow_nesting_after_a_syntax_error_is_refused() {
        let bomb = "[".repeat(100_000);
        let text = format!("a:\n  b:\n    c: [[60, 0],\n{bomb}");
        let start = std::time::Instant::now();
        let err = check_yaml_nesting(&text, MAX_NESTING).unwrap_err();
        assert!(start.elapsed().as_secs_f64() < 0.5);
        assert_eq!((err.line, err.column), (4, 64), "{err}");
        let quoted = format!("a:\n  b:\n    c: [[60, 0],\n'{bomb}' # {bomb}\n\"{bomb}\\\"\"]");
        let shallow = check_yaml_nesting(&quoted, MAX_NESTING);
        assert!(shallow.is_ok(), "{shallow:?}");
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

    #[test]
    fn failed_directory_fill_keeps_the_old_directory_and_leaves_no_staging() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("x.chip");
        write_dir_atomic(&dir, &[("a", b"1")]).unwrap();
        let err = write_dir_atomic_with(&dir, |staging| {
            std::fs::write(staging.join("a"), b"half")?;
            Err(io::Error::other("encoder failed"))
        });
        assert_eq!(err.unwrap_err().to_string(), "encoder failed");
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1");
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
