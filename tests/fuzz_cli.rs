//! Issue 15, item 8, through the binary: mutated inputs of every parser (the cases of
//! `lifchip-fuzz`, `docs/fuzzing.md`) given to the command that reads them, under a 4 GiB
//! address-space cap. When the library refuses a case, the command exits 1 (or 2) within 2 s,
//! names the file, and neither panics nor aborts; when the library accepts it, the command
//! still ends without a panic or a signal.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use lifchip_fuzz::{Corpus, Parser, write_files};

use crate::util::*;

/// The address-space cap every run gets (bytes).
const MEMORY_CAP: u64 = 4 << 30;

struct Capped {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

/// Runs `lifchip ARGS` under the memory cap (`prlimit --as`, or the shell's `ulimit -v`).
fn capped(dir: &Path, args: &[String]) -> Capped {
    let bin = env!("CARGO_BIN_EXE_lifchip");
    let mut cmd = if Command::new("prlimit").arg("--version").output().is_ok() {
        let mut c = Command::new("prlimit");
        c.arg(format!("--as={MEMORY_CAP}")).arg(bin);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -v {}; exec \"$0\" \"$@\"",
                MEMORY_CAP / 1024
            ))
            .arg(bin);
        c
    };
    let started = Instant::now();
    let out = cmd
        .args(args)
        .current_dir(dir)
        .output()
        .expect("lifchip runs");
    Capped {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// The command line that reads the case in `d` (absolute paths), given a chip of the
/// hand-written net. `None`: the command would do real work on an accepted input (train, sweep).
fn command(parser: Parser, d: &Path, chip: &Path, accepted: bool) -> Option<Vec<String>> {
    let s = |p: PathBuf| path_str(&p);
    let hand = s(root().join("examples/hand-written.yaml"));
    let spikes = s(root().join("examples/hand-written-spikes.json"));
    let v: Vec<String> = match parser {
        Parser::NetYaml => vec![
            "export".into(),
            s(d.join("net.yaml")),
            "--out".into(),
            s(d.join("o.nir")),
        ],
        Parser::NetDir => vec![
            "export".into(),
            s(d.join("n.net")),
            "--out".into(),
            s(d.join("o.nir")),
        ],
        Parser::Spikes => vec![
            "emulate".into(),
            "--chip".into(),
            s(chip.to_path_buf()),
            "--input-spikes".into(),
            s(d.join("spikes.json")),
        ],
        Parser::RateProfile => vec![
            "compile".into(),
            "--net".into(),
            hand,
            "--target".into(),
            "loihi-like".into(),
            "--profile".into(),
            s(d.join("profile.json")),
            "--out".into(),
            s(d.join("o.chip")),
        ],
        Parser::TrainConfig if !accepted => vec![
            "train".into(),
            "--config".into(),
            s(d.join("config.yaml")),
            "--out".into(),
            s(d.join("o.net")),
        ],
        Parser::SweepSpec if !accepted => vec![
            "sweep".into(),
            s(d.join("spec.yaml")),
            "--out".into(),
            s(d.join("out")),
        ],
        Parser::TrainConfig | Parser::SweepSpec => return None,
        Parser::Target => vec![
            "compile".into(),
            "--net".into(),
            hand,
            "--target".into(),
            s(d.join("target.yaml")),
            "--out".into(),
            s(d.join("o.chip")),
        ],
        Parser::Nir => vec![
            "import".into(),
            s(d.join("net.nir")),
            "--out".into(),
            s(d.join("o.net")),
        ],
        Parser::Chip => vec![
            "emulate".into(),
            "--chip".into(),
            s(d.join("c.chip")),
            "--input-spikes".into(),
            spikes,
        ],
        Parser::Idx => vec![
            "emulate".into(),
            "--chip".into(),
            s(chip.to_path_buf()),
            "--data".into(),
            s(d.to_path_buf()),
            "--limit".into(),
            "2".into(),
        ],
    };
    Some(v)
}

#[test]
fn mutated_inputs_through_the_cli_are_refused_quickly_in_bounded_memory() {
    let cases: u64 = std::env::var("LIFCHIP_FUZZ_CLI_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let corpus = Corpus::new();
    let dir = tempdir();
    let chip = dir.path().join("hand.chip");
    compile_ok(
        dir.path(),
        &root().join("examples/hand-written.yaml"),
        "loihi-like",
        &chip,
    );
    let lib_dir = dir.path().join("lib");
    let case_dir = dir.path().join("fuzzcase");
    std::fs::create_dir_all(&lib_dir).unwrap();
    std::fs::create_dir_all(&case_dir).unwrap();
    let mut refused = 0;
    let mut failures = Vec::new();
    for parser in Parser::ALL {
        for case in 1..=cases {
            let files = corpus.case(parser, 0x15b, case);
            let lib = corpus.run(parser, &lib_dir, &files);
            let reader_refused = matches!(&lib, Err(r) if r.names_file);
            write_files(&case_dir, &files);
            let Some(args) = command(parser, &case_dir, &chip, lib.is_ok()) else {
                continue;
            };
            let run = capped(dir.path(), &args);
            let what = format!("{} case {case}", parser.name());
            if run.stderr.contains("panicked") || run.stderr.contains("memory allocation") {
                failures.push(format!("{what}: {}", run.stderr));
            }
            match run.code {
                None => failures.push(format!("{what}: killed by a signal: {}", run.stderr)),
                Some(code) if reader_refused => {
                    refused += 1;
                    if code != 1 && code != 2 {
                        failures.push(format!("{what}: exit {code}: {}", run.stderr));
                    }
                    if !run.stderr.contains(&path_str(&case_dir)) {
                        failures.push(format!(
                            "{what}: the message does not name the file: {}",
                            run.stderr
                        ));
                    }
                    if run.took > Duration::from_secs(2) {
                        failures.push(format!("{what}: took {:?}", run.took));
                    }
                }
                Some(code) => {
                    if code != 0 && code != 1 {
                        failures.push(format!("{what}: exit {code}: {}", run.stderr));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(refused as u64 > cases * 3, "only {refused} refusals");
}
