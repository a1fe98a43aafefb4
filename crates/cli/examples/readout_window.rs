//! How the readout's decoding changes a chip's accuracy: one emulation of every sample with the
//! readout population probed (spike ticks and `v` after every tick), then every decoding of
//! the list evaluated on the same spikes. Used to choose `lifchip emulate --readout-from T` on
//! the train split (docs/quantization.md, "Decoding window"):
//!
//! ```text
//! cargo run --release -p lifchip-cli --example readout_window -- \
//!     --chip target/conv10.chip --split train --limit 10000 --ticks 150 --ends 100,150 \
//!     --from 0,10,20,30,40,50
//! ```
//!
//! Regular-rate input is causal (the first `E` ticks of a longer run are the run of `E`
//! ticks), so one run of `--ticks` ticks gives every presentation length `E` of `--ends`. For
//! each `E` and `T` of `--from` it prints the accuracy of the window count over ticks `T..E`
//! (ties by `v` after tick `E - 1`, then the lowest index: exactly what `lifchip emulate
//! --ticks E --readout-from T` decides), and of exponentially filtered readouts (each spike
//! at tick `t` weighs `exp(-(E - 1 - t) / tau)`, ties the same). The first `--check` samples
//! are also run with `RunOptions::readout_from` for every `(E, T)`, and the window counts must
//! agree with the emulator's.

use std::{cmp::Reverse, error::Error, path::PathBuf};

use clap::Parser;
use lifchip_data::{DataSource, Split};
use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};

#[derive(Parser)]
struct Args {
    /// The CHIPDIR.
    #[arg(long)]
    chip: PathBuf,
    #[arg(long, default_value = "mnist")]
    data: String,
    /// `train` or `test`.
    #[arg(long, default_value = "train")]
    split: String,
    #[arg(long)]
    limit: Option<usize>,
    /// Ticks of the run (at least the largest of `--ends`).
    #[arg(long, default_value_t = 100)]
    ticks: u32,
    /// Presentation lengths evaluated (default: `--ticks`).
    #[arg(long, value_delimiter = ',')]
    ends: Vec<u32>,
    /// First counted ticks evaluated.
    #[arg(long, value_delimiter = ',', default_value = "0,10,20,30,40,50")]
    from: Vec<u32>,
    /// Time constants (ticks) of the exponentially filtered readouts.
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80")]
    taus: Vec<f64>,
    /// Samples cross-checked against the emulator's own `readout_from`.
    #[arg(long, default_value_t = 16)]
    check: usize,
}

/// The class with the highest score, ties to the highest voltage, then the lowest index.
fn decide<S: PartialOrd + Copy>(score: &[S], v: &[i64]) -> usize {
    let mut best = 0;
    for k in 1..score.len() {
        let better = match score[k].partial_cmp(&score[best]) {
            Some(std::cmp::Ordering::Greater) => true,
            Some(std::cmp::Ordering::Equal) => (v[k], Reverse(k)) > (v[best], Reverse(best)),
            _ => false,
        };
        if better {
            best = k;
        }
    }
    best
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = Args::parse();
    if args.ends.is_empty() {
        args.ends = vec![args.ticks];
    }
    if let Some(&e) = args.ends.iter().find(|&&e| e == 0 || e > args.ticks) {
        return Err(format!("--ends {e}: expected 1 to --ticks ({})", args.ticks).into());
    }
    let config = lifchip_chip::read_chipdir(&args.chip)?;
    let split: Split = args.split.parse()?;
    let data = lifchip_data::load(&DataSource::parse(&args.data)?, split, args.limit)?;
    let emulator = Emulator::new(&config)?;
    let probe = RunOptions {
        mode: Mode::Functional,
        probes: Probes {
            set: ProbeSet::Populations(vec![config.readout]),
            state: true,
        },
        ..RunOptions::new(args.ticks)
    };
    let rate = config.input_rate as f32;
    let classes = emulator.readout_size();
    // Decoders: per end, the window counts of every `from`, then the filters of every tau.
    let per_end = args.from.len() + args.taus.len();
    let mut correct = vec![0usize; args.ends.len() * per_end];
    let mut tied = vec![0usize; args.ends.len() * args.from.len()];
    let mut checked = 0usize;
    let started = std::time::Instant::now();
    for chunk_start in (0..data.n).step_by(256) {
        let chunk_end = (chunk_start + 256).min(data.n);
        let batch: Vec<Vec<Vec<u32>>> = (chunk_start..chunk_end)
            .map(|i| lifchip_data::rate_regular(&data.pixels_f32(i), rate, args.ticks))
            .collect();
        let results = emulator.run_batch(&batch, &probe)?;
        for (j, r) in results.iter().enumerate() {
            let i = chunk_start + j;
            let label = usize::from(data.labels[i]);
            if r.probes.len() != classes {
                return Err("the readout's probes do not cover its neurons".into());
            }
            for (e_i, &end) in args.ends.iter().enumerate() {
                let v: Vec<i64> = r.probes.iter().map(|p| p.v[end as usize - 1]).collect();
                for (f_i, &from) in args.from.iter().enumerate() {
                    let counts: Vec<u32> = r
                        .probes
                        .iter()
                        .map(|p| {
                            p.spike_ticks
                                .iter()
                                .filter(|&&t| t >= from && t < end)
                                .count() as u32
                        })
                        .collect();
                    if decide(&counts, &v) == label {
                        correct[e_i * per_end + f_i] += 1;
                    }
                    let max = counts.iter().max().copied().unwrap_or(0);
                    if counts.iter().filter(|&&c| c == max).count() > 1 {
                        tied[e_i * args.from.len() + f_i] += 1;
                    }
                    if i < args.check && from < end {
                        let mut emu = emulator.clone();
                        emu.reset();
                        let own = emu.run(
                            &batch[j][..end as usize],
                            &RunOptions {
                                mode: Mode::Functional,
                                readout_from: from,
                                ..RunOptions::new(end)
                            },
                        )?;
                        if own.readout_counts != counts || own.readout_voltages != v {
                            return Err(format!(
                                "sample {i}, ticks {end}, readout_from {from}: the emulator counts {:?}, the probes {counts:?}",
                                own.readout_counts
                            )
                            .into());
                        }
                        checked += 1;
                    }
                }
                for (t_i, &tau) in args.taus.iter().enumerate() {
                    let score: Vec<f64> = r
                        .probes
                        .iter()
                        .map(|p| {
                            p.spike_ticks
                                .iter()
                                .filter(|&&t| t < end)
                                .map(|&t| (-f64::from(end - 1 - t) / tau).exp())
                                .sum()
                        })
                        .collect();
                    if decide(&score, &v) == label {
                        correct[e_i * per_end + args.from.len() + t_i] += 1;
                    }
                }
            }
        }
        eprint!("\r{chunk_end}/{} samples", data.n);
    }
    eprintln!(
        "\r{} samples of {} ({:?} split) in {:.0} s; {checked} window counts cross-checked against RunOptions::readout_from",
        data.n,
        args.data,
        split,
        started.elapsed().as_secs_f64()
    );
    let pct = |c: usize| 100.0 * c as f64 / data.n.max(1) as f64;
    println!("ticks  decoding                      accuracy  errors  tied");
    for (e_i, &end) in args.ends.iter().enumerate() {
        for (f_i, &from) in args.from.iter().enumerate() {
            let c = correct[e_i * per_end + f_i];
            let window = format!("count over ticks {from}..{end}");
            println!(
                "{end:5}  {window:28}  {:7.2}%  {:6}  {:4}",
                pct(c),
                data.n - c,
                tied[e_i * args.from.len() + f_i]
            );
        }
        for (t_i, &tau) in args.taus.iter().enumerate() {
            let c = correct[e_i * per_end + args.from.len() + t_i];
            let filter = format!("exp filter, tau {tau} ticks");
            println!("{end:5}  {filter:28}  {:7.2}%  {:6}", pct(c), data.n - c);
        }
    }
    Ok(())
}
