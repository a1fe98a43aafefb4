//! `lifchip-fuzz`: long fuzz campaigns over lifchip's parsers (`docs/fuzzing.md`).
//!
//! ```text
//! lifchip-fuzz --parser all --cases 1000000 --seed 1
//! lifchip-fuzz --parser chip --seed 1 --case 4711 --dump /tmp/case   # re-run one case
//! ```
//!
//! Prints one line per parser: cases, accepted, refused, panics, refusals that do not name the
//! file, the slowest case and the peak resident memory of the process. Exit code 0 when every
//! parser is clean, 1 when one is not, 3 on a hang (a case over `--hang` seconds).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser as _;
use lifchip_fuzz::{Corpus, Parser, campaign, peak_rss};

#[derive(clap::Parser)]
#[command(
    name = "lifchip-fuzz",
    about = "Mutation fuzzing of every lifchip parser"
)]
struct Args {
    /// A parser (net-yaml, net-dir, spikes, rate-profile, train-config, sweep-spec, target,
    /// nir, chip, idx) or `all`.
    #[arg(long, default_value = "all")]
    parser: String,
    /// Cases per parser.
    #[arg(long, default_value_t = 10_000)]
    cases: u64,
    /// The first case number (to resume or split a campaign).
    #[arg(long, default_value_t = 0)]
    start: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only this case and print its outcome.
    #[arg(long)]
    case: Option<u64>,
    /// With --case: write the case's files into this directory.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Seconds above which a case counts as slow.
    #[arg(long, default_value_t = 2.0)]
    limit: f64,
    /// Seconds after which a case is a hang (the process exits with code 3).
    #[arg(long, default_value_t = 20.0)]
    hang: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let parsers: Vec<Parser> = if args.parser == "all" {
        Parser::ALL.to_vec()
    } else {
        match Parser::parse(&args.parser) {
            Some(p) => vec![p],
            None => {
                eprintln!(
                    "lifchip-fuzz: unknown parser {:?}; one of: all, {}",
                    args.parser,
                    Parser::ALL.map(|p| p.name()).join(", ")
                );
                return ExitCode::from(2);
            }
        }
    };
    let corpus = Corpus::new();
    if let Some(case) = args.case {
        for p in parsers {
            let files = corpus.case(p, args.seed, case);
            if let Some(dir) = &args.dump {
                for (name, bytes) in &files {
                    let path = dir.join(p.name()).join(name);
                    if let Some(parent) = path.parent()
                        && let Err(e) = std::fs::create_dir_all(parent)
                    {
                        eprintln!("lifchip-fuzz: {}: {e}", parent.display());
                        return ExitCode::FAILURE;
                    }
                    if let Err(e) = std::fs::write(&path, bytes) {
                        eprintln!("lifchip-fuzz: {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                    println!("wrote {}", path.display());
                }
            }
            let dir = tempfile_dir();
            let started = std::time::Instant::now();
            let outcome = corpus.run(p, &dir.join(p.name()), &files);
            println!(
                "{} case {case}: {:?} in {:.3} s",
                p.name(),
                outcome,
                started.elapsed().as_secs_f64()
            );
        }
        return ExitCode::SUCCESS;
    }
    let limit = Duration::from_secs_f64(args.limit);
    let hang = Duration::from_secs_f64(args.hang);
    let mut clean = true;
    println!(
        "parser         cases  accepted   refused  panics  unnamed  slow  max_s   (case)  peak_rss_MiB"
    );
    for p in parsers {
        let started = std::time::Instant::now();
        let stats = campaign(
            &corpus,
            p,
            args.seed,
            args.start..args.start + args.cases,
            limit,
            hang,
            |s| {
                eprintln!(
                    "  {} {} cases, {} panics, {:.0} s",
                    p.name(),
                    s.cases,
                    s.panics.len(),
                    started.elapsed().as_secs_f64()
                )
            },
            args.cases.div_ceil(10).max(1),
        );
        println!(
            "{:<12} {:>8} {:>9} {:>9} {:>7} {:>8} {:>5} {:>6.3} {:>8} {:>13.0}",
            p.name(),
            stats.cases,
            stats.accepted,
            stats.refused,
            stats.panics.len(),
            stats.unnamed.len(),
            stats.slow.len(),
            stats.max_time.as_secs_f64(),
            stats.max_case,
            peak_rss().unwrap_or(0) as f64 / (1 << 20) as f64
        );
        for (case, msg) in stats.panics.iter().take(5) {
            println!("  panic, case {case}: {msg}");
        }
        for (case, msg) in stats.unnamed.iter().take(5) {
            println!("  unnamed, case {case}: {}", cut(msg));
        }
        for (case, t) in stats.slow.iter().take(5) {
            println!("  slow, case {case}: {:.2} s", t.as_secs_f64());
        }
        clean &= stats.clean();
    }
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lifchip-fuzz-one-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn cut(s: &str) -> String {
    s.chars().take(300).collect()
}
