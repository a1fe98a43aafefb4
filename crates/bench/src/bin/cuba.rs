//! The CUBA benchmark: generate → compile → write CHIPDIR → load → emulate (functional and
//! cycle-accurate), printing synaptic events/s, ticks/s, load time and peak memory.
//!
//! ```text
//! cargo run --release -p lifchip-bench --bin cuba -- --neurons 4000 --ticks 10000
//! cargo run --release -p lifchip-bench --bin cuba -- --neurons 40000 --ticks 10000 \
//!     --target bench/cuba/loihi-like-128x128.yaml --out target/cuba40k.chip
//! cargo run --release -p lifchip-bench --bin cuba -- --chip target/cuba40k.chip --ticks 1000
//! ```
//! See `bench/cuba/README.md`.

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use lifchip_bench::{
    cuba::{self, CubaSpec},
    memory,
};
use lifchip_emulator::{CycleDetail, Emulator, Mode, RunOptions, SampleResult};

#[derive(Parser, Debug)]
#[command(about = "CUBA balanced-network benchmark of lifchip's compiler and emulator")]
struct Args {
    /// Neurons (80 % excitatory, 20 % inhibitory). Threshold and bias scale with the fan-in
    /// `N p` (`CubaSpec::scaled`).
    #[arg(long, default_value_t = 4000)]
    neurons: usize,
    /// Connection probability.
    #[arg(long, default_value_t = 0.02)]
    p: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Excitatory and inhibitory weights (chip units).
    #[arg(long, default_value_t = 2)]
    w_exc: i32,
    #[arg(long, default_value_t = -110, allow_hyphen_values = true)]
    w_inh: i32,
    /// Multiplies the bias range (the drive above threshold) of `CubaSpec::scaled`.
    #[arg(long, default_value_t = 1.0)]
    bias_scale: f64,
    /// Poisson drive channels, their fan-out and rate (spikes per tick).
    #[arg(long, default_value_t = 40)]
    drive: usize,
    #[arg(long, default_value_t = 100)]
    drive_fanout: usize,
    #[arg(long, default_value_t = 0.01)]
    drive_rate: f64,
    /// Ticks to emulate (0.1 ms each in the Brian2 comparison: 10,000 = 1 s).
    #[arg(long, default_value_t = 1000)]
    ticks: u32,
    /// Target: a built-in name or a YAML file (default loihi-like, or the 128×128 variant
    /// `bench/cuba/loihi-like-128x128.yaml` above 10,000 neurons, the 256×256 one above 50,000).
    #[arg(long)]
    target: Option<String>,
    /// Where to write the CHIPDIR (default: a temporary directory, removed at the end).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the generated net as a net directory here.
    #[arg(long)]
    net_out: Option<PathBuf>,
    /// Emulate this existing CHIPDIR instead of generating and compiling (the drive uses
    /// --drive/--drive-rate/--seed, which must match the CHIPDIR's input channels).
    #[arg(long)]
    chip: Option<PathBuf>,
    /// Modes to run: functional, cycle, or both (alternating when repeated).
    #[arg(long, default_value = "both")]
    modes: String,
    /// Runs of each mode (alternating functional, cycle, ...); the median time is reported,
    /// and for the cycle-accurate mode also the first run and the median of the later ones
    /// (the first builds the cycle model's per-compartment tables).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Threads for the compiler and the emulator (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Also write each mode's full result as JSON here (event counts, energy, and the
    /// cycle model's per-tick and per-core cycles: to check that a change keeps every
    /// figure). The cycle-accurate runs then keep per-tick detail.
    #[arg(long)]
    results: Option<PathBuf>,
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if let Some(t) = args.threads {
        if !(1..=1024).contains(&t) {
            return Err(format!("--threads {t}: expected 1 ..= 1024"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    if !(1..=100).contains(&args.repeat) {
        return Err(format!("--repeat {}: expected 1 ..= 100", args.repeat));
    }
    if let Some(path) = &args.results {
        // Checked before minutes of work, not when the file is written.
        let inputs = [&args.chip, &args.out, &args.net_out];
        if path.is_dir() || inputs.iter().any(|p| p.as_deref() == Some(path.as_path())) {
            return Err(format!(
                "--results {}: expected a file path, not a directory or another option's path",
                path.display()
            ));
        }
        let dir = lifchip_files::parent_dir(path);
        if !dir.is_dir() {
            return Err(format!(
                "--results {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ));
        }
    }
    let modes: Vec<Mode> = match args.modes.as_str() {
        "both" => vec![Mode::Functional, Mode::CycleAccurate],
        "functional" => vec![Mode::Functional],
        "cycle" => vec![Mode::CycleAccurate],
        other => {
            return Err(format!(
                "--modes {other}: expected functional, cycle or both"
            ));
        }
    };
    if !(args.bias_scale > 0.0 && args.bias_scale <= 10.0) {
        return Err(format!(
            "--bias-scale {}: expected (0, 10]",
            args.bias_scale
        ));
    }
    let base = CubaSpec::scaled(args.neurons, args.p);
    let spec = CubaSpec {
        bias_lo: (f64::from(base.bias_lo) * args.bias_scale).round() as i32,
        bias_hi: (f64::from(base.bias_hi) * args.bias_scale).round() as i32,
        neurons: args.neurons,
        p: args.p,
        seed: args.seed,
        w_exc: args.w_exc,
        w_inh: args.w_inh,
        drive: args.drive,
        drive_fanout: args.drive_fanout,
        drive_rate: args.drive_rate,
        ..base
    };
    spec.check().map_err(|e| e.to_string())?;
    println!("machine: {}", uptime());
    let temp;
    let chipdir = match (&args.chip, &args.out) {
        (Some(dir), _) => dir.clone(),
        (None, out) => {
            let dir = match out {
                Some(d) => d.clone(),
                None => {
                    temp = tempfile::tempdir().map_err(|e| e.to_string())?;
                    temp.path().join("cuba.chip")
                }
            };
            compile(args, &spec, &dir)?;
            dir
        }
    };

    // Load.
    memory::reset_peak();
    let rss0 = memory::rss();
    let cpu0 = memory::cpu_ns();
    let started = Instant::now();
    let config = lifchip_chip::read_chipdir_flat(&chipdir).map_err(|e| e.to_string())?;
    let read_s = secs(started.elapsed());
    let emu = Emulator::from_flat_owned(config).map_err(|e| e.to_string())?;
    let load_s = secs(started.elapsed());
    let load_cpu = match (cpu0, memory::cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.3} s", b.saturating_sub(a) as f64 * 1e-9),
        _ => "n/a".to_string(),
    };
    let size = dir_size(&chipdir);
    println!(
        "load: {load_s:.3} s (read {read_s:.3} s; CPU {load_cpu}); CHIPDIR {}; resident +{} after load, peak {} (process)",
        mib(size),
        mib(memory::rss().zip(rss0).map(|(a, b)| a.saturating_sub(b))),
        mib(memory::peak_rss()),
    );
    println!(
        "chip: {} compartments, {} synapses, {} input channels",
        emu.compartments(),
        emu.synapses(),
        emu.input_channels()
    );
    let input = cuba::drive(&spec, args.ticks).map_err(|e| e.to_string())?;
    let channels = emu.input_channels();
    if input.iter().flatten().any(|&c| c as usize >= channels) {
        return Err(format!(
            "the drive has {} channels, the CHIPDIR {channels}: pass the --drive it was made with",
            spec.drive
        ));
    }

    // Emulate, alternating the modes.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    // CPU time of the runs, comparable with Brian2's `std::clock()` timing: of the threads
    // alive before and after a run (this one and the pool's; not a cycle-accurate run's cycle
    // thread, which ends with the run).
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut results: Vec<Option<SampleResult>> = vec![None; modes.len()];
    for _ in 0..args.repeat {
        for (m, &mode) in modes.iter().enumerate() {
            let detail = if args.results.is_some() {
                CycleDetail::PerTick
            } else {
                CycleDetail::Totals
            };
            let mut e = emu.clone().with_cycle_detail(detail);
            let options = RunOptions {
                mode,
                ..RunOptions::new(args.ticks)
            };
            memory::reset_peak();
            let cpu0 = memory::cpu_ns();
            let started = Instant::now();
            let r = e.run(&input, &options).map_err(|e| e.to_string())?;
            times[m].push(secs(started.elapsed()));
            if let (Some(a), Some(b)) = (cpu0, memory::cpu_ns()) {
                cpu[m].push(b.saturating_sub(a) as f64 * 1e-9);
            }
            if let Some(prev) = &results[m]
                && prev.counts != r.counts
            {
                return Err("two runs of the same input differ".into());
            }
            results[m] = Some(r);
        }
    }
    let mut functional = None;
    for (m, &mode) in modes.iter().enumerate() {
        // The first cycle-accurate run of a program also builds what the cycle model keeps
        // per spiking compartment (its per-core entries and multicast tree), on that
        // compartment's first spike; later runs of the same program reuse them.
        let later = match times[m].split_first() {
            Some((&first, rest)) if !rest.is_empty() => Some((first, median(&mut rest.to_vec()))),
            _ => None,
        };
        let t = median(&mut times[m]);
        let Some(r) = &results[m] else { continue };
        let c = &r.counts;
        let rate = c.spikes as f64 / (f64::from(args.ticks) * emu.compartments() as f64);
        let name = match mode {
            Mode::Functional => "functional",
            Mode::CycleAccurate => "cycle-accurate",
        };
        let cpu_s = if cpu[m].is_empty() {
            "n/a".to_string()
        } else {
            format!("{:.3} s", median(&mut cpu[m]))
        };
        print!(
            "{name}: {t:.3} s for {} ticks (median of {}; CPU {cpu_s}): {:.3e} synaptic events/s, \
             {:.0} ticks/s; {} spikes ({:.2} Hz at 0.1 ms/tick), {} synaptic events",
            args.ticks,
            args.repeat,
            c.synops as f64 / t,
            f64::from(args.ticks) / t,
            c.spikes,
            rate * 1e4,
            c.synops,
        );
        match mode {
            Mode::Functional => functional = Some(t),
            Mode::CycleAccurate => {
                if let Some(f) = functional {
                    print!("; {:.2}× the functional time", t / f);
                }
                if let Some(cs) = &r.cycles {
                    print!("; chip time {:.3e} s", cs.latency_seconds);
                }
            }
        }
        println!();
        if let (Mode::CycleAccurate, Some((first, rest))) = (mode, later) {
            print!(
                "cycle-accurate later runs: {rest:.3} s (median of {}; the first run {first:.3} s)",
                args.repeat - 1
            );
            if let Some(f) = functional {
                print!("; {:.2}× the functional time", rest / f);
            }
            println!();
        }
    }
    println!("peak resident (process): {}", mib(memory::peak_rss()));
    if let Some(path) = &args.results {
        let named: serde_json::Map<String, serde_json::Value> = modes
            .iter()
            .zip(&results)
            .filter_map(|(&mode, r)| {
                let name = match mode {
                    Mode::Functional => "functional",
                    Mode::CycleAccurate => "cycle_accurate",
                };
                Some((name.to_string(), serde_json::to_value(r.as_ref()?).ok()?))
            })
            .collect();
        let text = serde_json::to_vec_pretty(&named).map_err(|e| e.to_string())?;
        lifchip_files::write_atomic(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn compile(args: &Args, spec: &CubaSpec, dir: &std::path::Path) -> Result<(), String> {
    let started = Instant::now();
    let net = cuba::generate(spec).map_err(|e| e.to_string())?;
    let synapses = cuba::synapses(&net);
    println!(
        "generate: {} neurons, {synapses} synapses in {:.3} s",
        spec.neurons,
        secs(started.elapsed())
    );
    if let Some(path) = &args.net_out {
        lifchip_net::save(&net, path).map_err(|e| e.to_string())?;
    }
    let target_name = args.target.clone().unwrap_or_else(|| {
        // At p = 0.02 a core of 4,096 input axons holds ~4,096 / (N p) neurons: 16,384 cores
        // suffice up to ~50,000 neurons.
        if spec.neurons > 50_000 {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/cuba/loihi-like-256x256.yaml"
            )
            .into()
        } else if spec.neurons > 10_000 {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/cuba/loihi-like-128x128.yaml"
            )
            .into()
        } else {
            "loihi-like".into()
        }
    });
    let target = lifchip_target::resolve(&target_name).map_err(|e| e.to_string())?;
    memory::reset_peak();
    let started = Instant::now();
    let options = lifchip_compiler::QuantizeOptions {
        dt: 1e-4,
        ..Default::default()
    };
    let (mapped, report) = match lifchip_compiler::compile(&net, &target, &options) {
        Ok(x) => x,
        Err(report) => {
            let problems: Vec<String> = report
                .violations
                .iter()
                .map(|v| format!("{}: {} > {} ({})", v.place, v.value, v.limit, v.hint))
                .chain(report.internal_errors.iter().map(|e| e.to_string()))
                .collect();
            return Err(format!("compile failed: {}", problems.join("; ")));
        }
    };
    let compile_s = secs(started.elapsed());
    // The float net is not needed past the compiler (the mapped program has its own
    // quantized copy): 1.2 GB at 32 M synapses, off the peak of emit and write.
    drop(net);
    // Flat tables, streamed to disk: ~16 bytes per synapse instead of a `Vec` per row.
    let config = lifchip_backend_core::emit_flat(&mapped, &target).map_err(|e| e.to_string())?;
    drop(mapped);
    let emit_s = secs(started.elapsed()) - compile_s;
    println!(
        "compile: {compile_s:.2} s + emit {emit_s:.2} s on {} ({} cores, lower bound {}, fan-in-aware estimate {}); peak {}",
        target.name,
        report.cores_used,
        report.cores_lower_bound,
        report.cores_fanin_estimate,
        mib(memory::peak_rss())
    );
    let passes: Vec<String> = report
        .pass_seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    println!("  passes (s): {}", passes.join(", "));
    let started = Instant::now();
    lifchip_chip::write_chipdir_flat(&config, dir).map_err(|e| e.to_string())?;
    println!(
        "write: {:.2} s, {} at {}",
        secs(started.elapsed()),
        mib(dir_size(dir)),
        dir.display()
    );
    Ok(())
}

fn dir_size(dir: &std::path::Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).ok()? {
        total += entry.ok()?.metadata().ok()?.len();
    }
    Some(total)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            format!(
                "load average {}",
                s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            )
        })
        .unwrap_or_else(|_| "load average n/a".into())
}
