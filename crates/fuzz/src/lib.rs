//! Seeded mutation fuzzing of every lifchip parser (issue 15).
//!
//! [`Corpus`] holds seed inputs of each [`Parser`] (the repository's example files, targets and
//! NIR fixtures, and nets, CHIPDIRs and IDX files written by the libraries); [`Corpus::case`]
//! turns a (parser, seed, case number) into one mutated input, so any case can be re-run alone;
//! [`campaign`] runs a range of cases under `catch_unwind`, times each, checks that a refusal
//! names the file, and aborts the process with the case number when one case runs past the hang
//! limit. The test suite (`tests/parsers.rs`) runs a few hundred cases per parser; the
//! `lifchip-fuzz` binary runs long campaigns (`docs/fuzzing.md`).

pub mod mutate;
pub mod parsers;

use std::{
    ops::Range,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub use parsers::{Corpus, Files, Parser, Refusal, fix_checksums, write_files};

/// What a campaign over one parser found.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub cases: u64,
    pub accepted: u64,
    pub refused: u64,
    /// Cases that panicked: (case, panic message).
    pub panics: Vec<(u64, String)>,
    /// Refusals whose message does not name the file: (case, message).
    pub unnamed: Vec<(u64, String)>,
    /// The slowest case and its time.
    pub max_case: u64,
    pub max_time: Duration,
    /// Cases over the per-case time limit: (case, time).
    pub slow: Vec<(u64, Duration)>,
}

impl Stats {
    /// No panic, no unnamed file, no case over the limit.
    pub fn clean(&self) -> bool {
        self.panics.is_empty() && self.unnamed.is_empty() && self.slow.is_empty()
    }
}

/// The case a campaign is running, for the watchdog.
type Current = Arc<Mutex<Option<(Parser, u64, u64, Instant)>>>;

/// A thread that ends the process (exit code 3, naming the case) when one case has run longer
/// than `hang`: a hang cannot be caught like a panic.
fn watchdog(current: Current, hang: Duration) -> Arc<Mutex<bool>> {
    let done = Arc::new(Mutex::new(false));
    let stop = done.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if stop.lock().map(|d| *d).unwrap_or(true) {
                return;
            }
            let running = current.lock().ok().and_then(|c| *c);
            if let Some((parser, seed, case, started)) = running
                && started.elapsed() > hang
            {
                eprintln!(
                    "lifchip-fuzz: HANG: {} seed {seed} case {case} has run for {:.1} s; re-run it with \
                     `lifchip-fuzz --parser {} --seed {seed} --case {case} --dump DIR`",
                    parser.name(),
                    started.elapsed().as_secs_f64(),
                    parser.name()
                );
                std::process::exit(3);
            }
        }
    });
    done
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs cases `cases` of `parser` under `seed` in a fresh directory. A case over `limit` is
/// recorded in [`Stats::slow`]; one over `hang` ends the process. `progress` is called every
/// `every` cases.
#[allow(clippy::too_many_arguments)]
pub fn campaign(
    corpus: &Corpus,
    parser: Parser,
    seed: u64,
    cases: Range<u64>,
    limit: Duration,
    hang: Duration,
    mut progress: impl FnMut(&Stats),
    every: u64,
) -> Stats {
    let scratch = tempfile::tempdir().expect("a temp dir");
    let dir = scratch
        .path()
        .join(format!("lifchip-fuzz-{}", parser.name()));
    std::fs::create_dir_all(&dir).expect("a case directory");
    let current: Current = Arc::new(Mutex::new(None));
    let done = watchdog(current.clone(), hang);
    let mut stats = Stats::default();
    for case in cases {
        let files = corpus.case(parser, seed, case);
        if let Ok(mut c) = current.lock() {
            *c = Some((parser, seed, case, Instant::now()));
        }
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| corpus.run(parser, &dir, &files)));
        let took = started.elapsed();
        if let Ok(mut c) = current.lock() {
            *c = None;
        }
        stats.cases += 1;
        match outcome {
            Ok(Ok(())) => stats.accepted += 1,
            Ok(Err(refusal)) => {
                stats.refused += 1;
                if refusal.names_file && !names(&refusal.message, &dir) {
                    stats.unnamed.push((case, refusal.message));
                }
            }
            Err(payload) => stats.panics.push((case, panic_message(payload.as_ref()))),
        }
        if took > stats.max_time {
            stats.max_time = took;
            stats.max_case = case;
        }
        if took > limit {
            stats.slow.push((case, took));
        }
        if every > 0 && stats.cases.is_multiple_of(every) {
            progress(&stats);
        }
    }
    if let Ok(mut d) = done.lock() {
        *d = true;
    }
    stats
}

/// Whether a message names a file of the case directory.
fn names(message: &str, dir: &Path) -> bool {
    message.contains(&dir.display().to_string())
}

/// Peak resident memory of this process in bytes (`VmHWM`, Linux), if known.
pub fn peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line["VmHWM:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}
