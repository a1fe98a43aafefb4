//! Helpers: run `lifchip` with arguments in a temp dir and capture what it did.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The repository root (where `targets/`, `examples/` and `data/` live).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "lifchip failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        self
    }
}

/// Runs `lifchip ARGS` with `dir` as the working directory.
pub fn lifchip(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lifchip"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the lifchip binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `targets/loihi-like.yaml` with some lines replaced, written to `dir/name`: each
/// `(key, value)` replaces the first line whose trimmed text starts with `key:` (keeping its
/// indentation). Panics when a key is missing, so a renamed field cannot go unnoticed.
pub fn loihi_like_with(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(root().join("targets/loihi-like.yaml"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    for (key, value) in edits {
        let prefix = format!("{key}:");
        let line = lines
            .iter_mut()
            .find(|l| l.trim_start().starts_with(&prefix))
            .unwrap_or_else(|| panic!("loihi-like.yaml has no `{key}` line"));
        let indent = line.len() - line.trim_start().len();
        *line = format!("{}{key}: {value}", " ".repeat(indent));
    }
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Writes `config` to `dir/NAME.yaml` and trains it into `dir/NAME.net` with `lifchip train`.
pub fn train_net(dir: &Path, name: &str, config: &str) -> PathBuf {
    let yaml = dir.join(format!("{name}.yaml"));
    std::fs::write(&yaml, config).unwrap();
    let net = dir.join(format!("{name}.net"));
    lifchip(
        dir,
        &[
            "train",
            "--config",
            &path_str(&yaml),
            "--out",
            &path_str(&net),
        ],
    )
    .ok();
    net
}

/// Compiles `net` for `target` (a built-in name or a file) into the CHIPDIR `out` with
/// `lifchip compile`, which must succeed.
#[track_caller]
pub fn compile_ok(dir: &Path, net: &Path, target: &str, out: &Path) {
    compile_run(dir, &path_str(net), target, &path_str(out)).ok();
}

/// `lifchip compile --net NET --target TARGET --out OUT`, whatever its outcome.
pub fn compile_run(dir: &Path, net: &str, target: &str, out: &str) -> Run {
    lifchip(
        dir,
        &["compile", "--net", net, "--target", target, "--out", out],
    )
}

/// Emulates the CHIPDIR `chip` on the spike file `spikes` with `lifchip emulate`, which must
/// succeed, writing its report to `report`.
#[track_caller]
pub fn emulate_spikes_ok(dir: &Path, chip: &Path, spikes: &Path, report: &Path) {
    lifchip(
        dir,
        &[
            "emulate",
            "--chip",
            &path_str(chip),
            "--input-spikes",
            &path_str(spikes),
            "--json",
            &path_str(report),
        ],
    )
    .ok();
}
