//! Synaptic events per second per CPU core, functional and cycle-accurate:
//! `cargo bench -p lifchip-emulator` (or `cargo bench -p lifchip-emulator -- in_cache`).
//!
//! Every run is single-threaded (a one-thread pool), so the throughput criterion prints
//! (elements/s = synaptic events/s) is per CPU core. Three chips (`chips/mod.rs`), all on the
//! `loihi-like` neuron (8-bit mixed-sign weights, 24-bit state):
//!
//! - `in_cache`: one core, 1024 compartments, 768 input axons × 256 random synapses and 256
//!   recurrent axons × 16 (200,704 synapses); state and synapse memory fit in the L2 cache;
//! - `dense`: one core, a dense 512 × 512 layer and 64 recurrent axons × 16;
//! - `beyond_cache`: 512 cores on a 16 × 32 mesh, each 1024 compartments, 1792 input axons ×
//!   256 random synapses and 256 recurrent axons × 16 (237 million synapses, about 710 MB of
//!   synapse rows, beyond the L3 cache); every tick touches a different random subset of rows.
//!   `LIFCHIP_BENCH_CORES=N` changes the core count (512 cores take about 10 s and 3 GB to
//!   build).
//!
//! Input channel `i` drives axon `i` of every core; a different pseudo-random quarter (one
//! core) or sixteenth (`beyond_cache`) of the channels spikes each tick, and every
//! compartment also sends its spikes to a short recurrent row of the next core, so the cycle
//! model routes both input and spike packets. Figures: `docs/core-model.md`, "Performance".

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lifchip_emulator::{Emulator, Mode, RunOptions};

mod chips;
use chips::{Spec, chip, input};

/// Whether the command line's filters (`cargo bench -- FILTER`) select any benchmark of the
/// group `name`: building the large chip takes a while, so unselected groups are skipped.
fn selected(name: &str) -> bool {
    // Criterion options that take a value: their value is not a filter.
    const WITH_VALUE: [&str; 14] = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--profile-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--color",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    filters.is_empty()
        || filters.iter().any(|f| {
            ["functional", "cycle_accurate"]
                .iter()
                .any(|id| format!("{name}/{id}").contains(f.as_str()))
        })
}

fn bench_chip(c: &mut Criterion, name: &str, spec: &Spec, samples: usize, time: Duration) {
    if !selected(name) {
        return;
    }
    // One thread: the figures are per CPU core (big chips would otherwise run their
    // compartment passes on every core of the pool).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let config = chip(spec);
    let mut emu = Emulator::new(&config).expect("a valid chip");
    drop(config);
    let input = input(spec);
    let mut group = c.benchmark_group(name);
    group.sample_size(samples).measurement_time(time);
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        let options = RunOptions {
            mode,
            ..RunOptions::new(spec.ticks)
        };
        emu.reset();
        let r = emu.run(&input, &options).expect("runs");
        eprintln!(
            "{name}/{mode:?}: {} synapses, {} ticks: {} synaptic events, {} spikes, {} deliveries",
            emu.synapses(),
            spec.ticks,
            r.counts.synops,
            r.counts.spikes,
            r.counts.packets_in
        );
        group.throughput(Throughput::Elements(r.counts.synops));
        let id = match mode {
            Mode::Functional => "functional",
            Mode::CycleAccurate => "cycle_accurate",
        };
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                emu.reset();
                emu.run(&input, &options).expect("runs")
            })
        });
    }
    group.finish();
}

fn in_cache(c: &mut Criterion) {
    bench_chip(
        c,
        "in_cache",
        &chips::in_cache(),
        20,
        Duration::from_secs(5),
    );
}

fn dense(c: &mut Criterion) {
    bench_chip(c, "dense", &chips::dense(), 20, Duration::from_secs(5));
}

fn beyond_cache(c: &mut Criterion) {
    bench_chip(
        c,
        "beyond_cache",
        &chips::beyond_cache(),
        10,
        Duration::from_secs(20),
    );
}

criterion_group!(benches, in_cache, dense, beyond_cache);
criterion_main!(benches);
