//! `lifchip sweep`: runs a sweep spec through the study engine (`lifchip_study::run_sweep`) and
//! prints one line per point.

use std::path::PathBuf;

use clap::Args;

use crate::{progress::Terminal, util::CliResult};

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep spec (YAML; see examples/sweeps/ and docs/studies.md).
    #[arg(long)]
    pub spec: PathBuf,
    /// Output directory (created; finished points are kept and not recomputed).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads, shared by the points run at once and by the emulator inside each point
    /// (default: one per core, or RAYON_NUM_THREADS).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: SweepArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        check(
            &[Output::new("--out", &args.out, Kind::Dir)],
            &[("--spec", args.spec.as_path())],
        )?;
    }
    let outcome =
        lifchip_study::run_sweep(&args.spec, &args.out, args.threads, &Terminal::default())?;
    let summary = &outcome.summary;
    for r in &outcome.results {
        let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let qat = if summary.qat.is_none() {
            String::new()
        } else if let Some(a) = r.accuracy_qat {
            format!("  with QAT {:>6.2}%", a * 100.0)
        } else {
            format!("  with QAT failed: {}", r.qat_problems.join("; "))
        };
        match r.accuracy {
            Some(a) if r.ok => println!(
                "point {:>3} {:<40} accuracy {:>6.2}%{qat}  cores {:>4}  energy/sample {:.3e} J",
                r.point,
                values.join(", "),
                a * 100.0,
                r.cores_used.unwrap_or(0),
                r.energy_joules_per_sample.unwrap_or(0.0)
            ),
            _ => println!(
                "point {:>3} {:<40} failed: {}{qat}",
                r.point,
                values.join(", "),
                r.problems.join("; ")
            ),
        }
    }
    println!(
        "{} points ({} mapped; {} computed, {} reused) in {:.1} s on {} threads",
        summary.points,
        summary.mapped,
        summary.computed,
        summary.reused,
        summary.wall_seconds,
        summary.threads
    );
    println!("wrote {}", args.out.display());
    if summary.invalid > 0 {
        crate::fail!(
            "{} of {} points have an axis value that makes no valid target (see `failed:` above and {}); fix the spec",
            summary.invalid,
            summary.points,
            args.out.join("summary.json").display()
        );
    }
    Ok(())
}
