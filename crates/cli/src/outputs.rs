//! Checks on output paths, run before any work starts: an output never destroys an input, a
//! report never lands on a directory, and a net or chip directory is only ever replaced by an
//! output of the same kind.

use std::path::{Path, PathBuf};

use crate::util::{CliError, CliResult};

/// What a command writes at an output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A single file (JSON, CSV, HTML, YAML report, ...): may replace a file, never a directory.
    File,
    /// A net (a `NAME.net` directory or a `.yaml` file): may replace only a net.
    Net,
    /// A compiled chip directory (`manifest.json` + `cores.bin`): may replace only a chip
    /// directory or an empty directory.
    ChipDir,
    /// A directory of outputs (plots, checkpoints, sweep results, exports): may not be a file.
    Dir,
}

/// One output: the flag that names it, its path and its kind.
pub struct Output<'a> {
    pub flag: &'a str,
    pub path: &'a Path,
    pub kind: Kind,
}

impl<'a> Output<'a> {
    pub fn new(flag: &'a str, path: &'a Path, kind: Kind) -> Self {
        Output { flag, path, kind }
    }
}

/// The canonical form of `p` if it exists, else `p` made absolute (for comparisons).
fn normal(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    // A path that does not exist yet: canonicalize its parent when possible.
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => match parent.canonicalize()
        {
            Ok(c) => c.join(name),
            Err(_) => p.to_path_buf(),
        },
        _ => std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// True when `inner` is `outer` or lies inside it.
fn within(inner: &Path, outer: &Path) -> bool {
    inner.starts_with(outer)
}

fn is_net(path: &Path) -> bool {
    lifchip_net::load(path).is_ok()
}

fn is_chip_dir(path: &Path) -> bool {
    path.join("manifest.json").is_file() && path.join("cores.bin").is_file()
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Refuses, before anything is computed, any output that would overwrite an input, any two
/// outputs at the same place, a file output on a directory (or the reverse), and any existing
/// file or directory that is not an output of the same kind.
pub fn check(outputs: &[Output<'_>], inputs: &[(&str, &Path)]) -> CliResult<()> {
    for (i, out) in outputs.iter().enumerate() {
        let o = normal(out.path);
        for (flag, input) in inputs {
            let inp = normal(input);
            let hit = if out.kind == Kind::Dir {
                inp == o
            } else {
                within(&inp, &o)
            };
            if hit {
                return Err(CliError(format!(
                    "{} {}: would overwrite the input {flag} {}; choose another output path",
                    out.flag,
                    out.path.display(),
                    input.display()
                )));
            }
        }
        for other in &outputs[..i] {
            if normal(other.path) == o {
                return Err(CliError(format!(
                    "{} and {} both name {}; choose different output paths",
                    other.flag,
                    out.flag,
                    out.path.display()
                )));
            }
        }
        let p = out.path;
        if !p.exists() {
            continue;
        }
        let refuse = |what: &str| {
            Err(CliError(format!(
                "{} {}: {what}; refusing to overwrite it (remove it or choose another path)",
                out.flag,
                p.display()
            )))
        };
        match out.kind {
            Kind::File => {
                if p.is_dir() {
                    return refuse("is a directory, expected a file path");
                }
            }
            Kind::Dir => {
                if !p.is_dir() {
                    return refuse("exists and is not a directory");
                }
            }
            Kind::Net => {
                if !is_net(p) {
                    return refuse("exists and is not a net");
                }
            }
            Kind::ChipDir => {
                if !p.is_dir() {
                    return refuse("exists and is not a directory");
                }
                if !is_chip_dir(p) && !is_empty_dir(p) {
                    return refuse("exists and is neither a chip directory nor empty");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_over_input_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("cfg.yaml");
        std::fs::write(&cfg, "x: 1").unwrap();
        let e = check(
            &[Output::new("--out", &cfg, Kind::Net)],
            &[("--config", cfg.as_path())],
        )
        .unwrap_err();
        assert!(
            e.0.contains("would overwrite the input --config"),
            "{}",
            e.0
        );
    }

    #[test]
    fn file_output_on_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = check(&[Output::new("--json", d.path(), Kind::File)], &[]).unwrap_err();
        assert!(e.0.contains("is a directory"), "{}", e.0);
    }

    #[test]
    fn non_net_and_non_chip_are_refused_but_new_paths_pass() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("notes.yaml");
        std::fs::write(&f, "hello: world").unwrap();
        assert!(check(&[Output::new("--out", &f, Kind::Net)], &[]).is_err());
        std::fs::write(d.path().join("keep.txt"), "x").unwrap();
        assert!(check(&[Output::new("--out", d.path(), Kind::ChipDir)], &[]).is_err());
        let new = d.path().join("new.chip");
        assert!(check(&[Output::new("--out", &new, Kind::ChipDir)], &[]).is_ok());
        let same = [
            Output::new("--json", &f, Kind::File),
            Output::new("--report", &f, Kind::File),
        ];
        assert!(check(&same, &[]).is_err());
    }
}
