//! `lifchip demo`: the main job on bundled defaults. Trains a small soft-LIF MLP on MNIST,
//! compiles it to the default target, emulates test images on the chip, and prints a table
//! of float and chip accuracy, cores, cycles, latency and energy.

use std::{path::PathBuf, time::Instant};

use clap::Args;
use lifchip_data::{DataSource, Split};
use lifchip_train::{LayerConfig, SpikingConfig, TrainConfig, TrainOptions};
use serde::Serialize;

use lifchip_study::{Deployment, EmulateReport, EmulateSettings, Emulation};

use crate::{
    html_report, progress,
    util::{CliError, CliResult, write_json},
};

#[derive(Args)]
pub struct DemoArgs {
    /// About a minute: a smaller net, less training, fewer test images.
    #[arg(long)]
    pub quick: bool,
    /// Target: a built-in name or a YAML file.
    #[arg(long, default_value = "loihi-like")]
    pub target: String,
    /// Keep the trained net, the CHIPDIR and the reports in this directory: `demo.net`,
    /// `demo.chip`, `train-report.json`, `emulate.json` (the run, with the spikes of the first
    /// test image probed) and `report.html` (the mapping and the run).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Test images evaluated in float and emulated on the chip (default: 1000, or 200 with --quick).
    #[arg(long)]
    pub images: Option<usize>,
    /// Ticks each image is shown on the chip.
    #[arg(long, default_value_t = 100)]
    pub ticks: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Most neurons per population whose spikes `demo --out` records for its report's raster.
const PROBED_NEURONS: usize = 512;

/// The summary `demo --json` writes.
#[derive(Serialize)]
struct DemoReport {
    target: String,
    train_seconds: f64,
    train_images: usize,
    float_rate_accuracy: f64,
    float_spiking_accuracy: f64,
    chip_accuracy: f64,
    chip_float_spiking_agreement: f64,
    test_images: usize,
    cores_used: u64,
    cores_lower_bound: u64,
    emulate: EmulateReport,
}

fn demo_config(quick: bool, seed: u64) -> TrainConfig {
    let mut config = TrainConfig::quick();
    config.name = "demo-mlp".into();
    config.seed = seed;
    if !quick {
        config.train_limit = None;
        config.epochs = 5;
        config.layers = vec![
            LayerConfig::Dense { units: 300 },
            LayerConfig::Dense { units: 10 },
        ];
    }
    config
}

pub fn run(args: DemoArgs) -> CliResult<()> {
    let started = Instant::now();
    let target = lifchip_target::resolve(&args.target)?;
    let images = args.images.unwrap_or(if args.quick { 200 } else { 1000 });
    if images == 0 || args.ticks == 0 {
        crate::fail!("--images and --ticks must be at least 1");
    }
    {
        use crate::outputs::{Kind, Output, check};
        let inside = args.out.as_ref().map(|d| {
            [
                d.join("demo.net"),
                d.join("demo.chip"),
                d.join("train-report.json"),
                d.join("report.html"),
            ]
        });
        let mut outs = Vec::new();
        if let (Some(dir), Some([net, chip, train, html])) = (&args.out, &inside) {
            outs.push(Output::new("--out", dir, Kind::Dir));
            outs.push(Output::new("--out", net, Kind::Net));
            outs.push(Output::new("--out", chip, Kind::ChipDir));
            outs.push(Output::new("--out", train, Kind::File));
            outs.push(Output::new("--out", html, Kind::File));
        }
        if let Some(p) = &args.json {
            outs.push(Output::new("--json", p, Kind::File));
        }
        let target_file = std::path::Path::new(&args.target);
        let ins: Vec<(&str, &std::path::Path)> = if target_file.is_file() {
            vec![("--target", target_file)]
        } else {
            Vec::new()
        };
        check(&outs, &ins)?;
    }
    let keep = args.out.clone();
    let scratch =
        tempfile::tempdir().map_err(|e| CliError(format!("cannot create a temp dir: {e}")))?;
    let out = keep.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&out).map_err(|e| CliError(format!("{}: {e}", out.display())))?;

    let config = demo_config(args.quick, args.seed);
    let hidden: Vec<String> = config
        .layers
        .iter()
        .filter_map(|l| match l {
            LayerConfig::Dense { units } => Some(units.to_string()),
            _ => None,
        })
        .collect();
    eprintln!(
        "1/3 train: soft-LIF MLP 784-{} on {} MNIST images, {} epoch(s)",
        hidden.join("-"),
        config
            .train_limit
            .map_or_else(|| "60000".to_string(), |n| n.to_string()),
        config.epochs
    );
    let mut training = progress::Training::default();
    let (net, train_report) =
        lifchip_train::train(&config, &mut |p| training.show(p), &TrainOptions::default())?;
    let net_path = out.join("demo.net");
    lifchip_net::save(&net, &net_path)?;

    let test = lifchip_data::load(&DataSource::Mnist, Split::Test, Some(images))?;
    eprintln!(
        "2/3 evaluate in float: rate and spiking LIF on {} test images",
        test.n
    );
    let rate = lifchip_train::eval_rate(&net, &test)?;
    let spiking = lifchip_train::eval_spiking(&net, &test, &SpikingConfig::default())?;

    eprintln!(
        "3/3 compile to {}, write the CHIPDIR, emulate {} test images for {} ticks each",
        target.name, test.n, args.ticks
    );
    let chip_path = out.join("demo.chip");
    let options = lifchip_study::quantize_options(0.005, 1.0)?;
    let bar = progress::bar(test.n as u64, "emulate");
    let deployed = lifchip_study::deploy(Deployment {
        net: &net,
        target: &target,
        options: &options,
        profile: None,
        chip_dir: &chip_path,
        emulation: Some(Emulation {
            data: &test,
            settings: EmulateSettings::regular(args.ticks, args.seed),
            float_predictions: &spiking.predictions,
            on_progress: &|done, _| bar.set_position(done as u64),
        }),
        exact: None,
    });
    bar.finish_and_clear();
    let deployed = deployed.map_err(|f| f.into_error(&net, &target))?;
    let compile = &deployed.report;
    let Some(emulate) = deployed.emulation else {
        crate::fail!("the demo's chip was not emulated");
    };
    let chip_accuracy = emulate.accuracy.unwrap_or(0.0);
    let agreement = deployed.agreement.unwrap_or(0.0);

    println!();
    println!(
        "lifchip demo: MNIST, soft-LIF MLP 784-{} on {}",
        hidden.join("-"),
        target.name
    );
    println!(
        "  {:<34} {} images in {:.1} s",
        "training", train_report.train_images, train_report.seconds
    );
    println!(
        "  {:<34} {:.2}%",
        format!("float accuracy, rate ({} images)", rate.samples),
        rate.accuracy * 100.0
    );
    println!(
        "  {:<34} {:.2}%",
        format!("float accuracy, spiking ({} images)", spiking.samples),
        spiking.accuracy * 100.0
    );
    println!(
        "  {:<34} {:.2}%",
        format!("chip accuracy ({} images)", emulate.samples),
        chip_accuracy * 100.0
    );
    println!(
        "  {:<34} {:.2}%",
        "chip agrees with float spiking",
        agreement * 100.0
    );
    println!(
        "  {:<34} {} (lower bound {})",
        "cores used", compile.cores_used, compile.cores_lower_bound
    );
    println!(
        "  {:<34} {} neurons, {} synapses",
        "mapped", compile.neurons, compile.synapses
    );
    println!(
        "  {:<34} {:.0} mean, {} max",
        "cycles per tick", emulate.cycles_per_tick_mean, emulate.cycles_per_tick_max
    );
    println!(
        "  {:<34} {:.3} ms ({} ticks)",
        "latency per image",
        emulate.latency_seconds_per_sample * 1e3,
        args.ticks
    );
    println!(
        "  {:<34} {:.3} uJ",
        "energy per image",
        emulate.energy_joules_per_sample * 1e6
    );
    println!(
        "  {:<34} {:.3e} synaptic events/s",
        "emulator speed", emulate.synaptic_events_per_second
    );
    println!(
        "  {:<34} {:.1} s",
        "total time",
        started.elapsed().as_secs_f64()
    );
    match &keep {
        Some(dir) => println!("  net, CHIPDIR and reports kept in {}", dir.display()),
        None => println!("  (pass --out DIR to keep the trained net and the CHIPDIR)"),
    }
    if let Some(json) = &args.json {
        let report = DemoReport {
            target: target.name.clone(),
            train_seconds: train_report.seconds,
            train_images: train_report.train_images,
            float_rate_accuracy: rate.accuracy,
            float_spiking_accuracy: spiking.accuracy,
            chip_accuracy,
            chip_float_spiking_agreement: agreement,
            test_images: test.n,
            cores_used: compile.cores_used,
            cores_lower_bound: compile.cores_lower_bound,
            emulate: emulate.clone(),
        };
        write_json(json, &report)?;
    }
    if keep.is_some() {
        write_json(&out.join("train-report.json"), &train_report)?;
        let mut run = emulate.clone();
        run.chip_fingerprint = Some(lifchip_report::chipdir_fingerprint(&chip_path)?);
        // The report's raster: the first test image again, every population probed (at most
        // PROBED_NEURONS neurons each, evenly spaced).
        let config = lifchip_chip::read_chipdir_flat(&chip_path)?;
        run.probes = lifchip_study::probe_sample(
            &config,
            &test,
            0,
            &EmulateSettings::regular(args.ticks, args.seed),
            PROBED_NEURONS,
        )?;
        run.probed_sample = Some(0);
        write_json(&out.join("emulate.json"), &run)?;
        let html = out.join("report.html");
        html_report::write_for_chip(&chip_path, Some(&run), &html)?;
        println!("  report: {}", html.display());
    }
    Ok(())
}
