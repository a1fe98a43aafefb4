//! Synaptic events per second per CPU core on the benchmark chips of `benches/events.rs`,
//! without criterion: `cargo run --release -p lifchip-emulator --example throughput [-- NAME...]`
//! with NAME among `in_cache`, `dense`, `beyond_cache` (default: all).
//!
//! Each run is single-threaded. Besides the wall-clock rate it prints the rate per second of
//! CPU time the thread actually got (from `/proc/thread-self/schedstat`, Linux), which stays
//! meaningful when other processes share the machine. Each measurement repeats the run for at
//! least half a second; the best of `LIFCHIP_REPS` (default 5) measurements is reported.

use std::time::Instant;

use lifchip_emulator::{Emulator, Mode, RunOptions};

#[path = "../benches/chips/mod.rs"]
mod chips;

/// Nanoseconds this thread has run on a CPU, if the kernel tells.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, spec: &chips::Spec, reps: usize) {
    let started = Instant::now();
    let config = chips::chip(spec);
    let mut emu = Emulator::new(&config).expect("a valid chip");
    drop(config);
    let input = chips::input(spec);
    println!(
        "{name}: {} cores, {} synapses, {:.1} MB of synapse rows (built in {:.1} s)",
        spec.cores,
        emu.synapses(),
        emu.synapse_bytes() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let mut rates = Vec::new();
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        let options = RunOptions {
            mode,
            ..RunOptions::new(spec.ticks)
        };
        // Repeat the run within one measurement for at least 0.5 s: the kernel's CPU-time
        // account is only updated every few milliseconds.
        emu.reset();
        let t0 = Instant::now();
        let events = emu.run(&input, &options).expect("runs").counts.synops;
        let once = t0.elapsed().as_secs_f64();
        let inner = ((0.5 / once).ceil() as usize).max(1);
        let (mut best_wall, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..reps {
            let cpu0 = thread_cpu_ns();
            let t0 = Instant::now();
            for _ in 0..inner {
                emu.reset();
                std::hint::black_box(emu.run(&input, &options).expect("runs"));
            }
            let wall = t0.elapsed().as_secs_f64() / inner as f64;
            if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
                best_cpu = best_cpu.min((b - a) as f64 * 1e-9 / inner as f64);
            }
            best_wall = best_wall.min(wall);
        }
        let per_cpu = events as f64 / best_cpu;
        println!(
            "  {mode:?}: {events} synaptic events; best of {reps}: {best_wall:.4} s wall = {:.3e} events/s, {best_cpu:.4} s CPU = {per_cpu:.3e} events/CPU-s",
            events as f64 / best_wall,
        );
        rates.push(per_cpu);
    }
    println!(
        "  cycle-accurate is {:.2}x slower than functional (CPU time)",
        rates[0] / rates[1]
    );
}

fn main() {
    // One thread: the figures are per CPU core (big chips would otherwise run their
    // compartment passes, and then their ticks, on the pool's threads, not this one).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let names: Vec<String> = std::env::args().skip(1).collect();
    let want = |n: &str| names.is_empty() || names.iter().any(|x| x == n);
    let reps = std::env::var("LIFCHIP_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    if want("in_cache") {
        measure("in_cache", &chips::in_cache(), reps);
    }
    if want("dense") {
        measure("dense", &chips::dense(), reps);
    }
    if want("beyond_cache") {
        measure("beyond_cache", &chips::beyond_cache(), reps.min(3));
    }
}
