//! `lifchip eval`: float accuracy of a net, in rate mode or as spiking LIF neurons.

use std::path::PathBuf;

use clap::Args;
use lifchip_data::{DataSource, Split};
use lifchip_train::{Evaluation, SpikingConfig, Synapse};
use serde::Serialize;

use crate::util::{CliResult, write_json};

#[derive(Args)]
pub struct EvalArgs {
    /// The net: a directory, a YAML file, or a NIR file (`*.nir`).
    #[arg(long)]
    pub net: PathBuf,
    #[command(flatten)]
    pub nir: crate::netfile::NirFlags,
    /// `mnist` (bundled) or a folder of MNIST-layout IDX files.
    #[arg(long, default_value = "mnist")]
    pub data: String,
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    pub split: String,
    /// Evaluate only the first N images.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: Option<usize>,
    /// Run spiking LIF neurons (dt = 1 ms) instead of rates.
    #[arg(long)]
    pub spiking: bool,
    /// Spiking: seconds each image is shown.
    #[arg(long, default_value_t = 0.2)]
    pub presentation: f32,
    /// Spiking: seconds at the end of the presentation that are classified.
    #[arg(long, default_value_t = 0.1)]
    pub window: f32,
    /// Spiking: synapse time constant in seconds.
    #[arg(long, default_value_t = 0.005)]
    pub tau_s: f32,
    /// Spiking: `alpha`, `lowpass` or `none`.
    #[arg(long, default_value = "alpha", value_parser = ["alpha", "lowpass", "none"])]
    pub synapse: String,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize)]
struct EvalReport<'a> {
    accuracy: f64,
    samples: usize,
    mode: &'static str,
    net: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    spiking: Option<&'a SpikingConfig>,
    details: &'a Evaluation,
}

pub fn run(args: EvalArgs) -> CliResult<()> {
    if let Some(p) = &args.json {
        use crate::outputs::{Kind, Output, check};
        check(
            &[Output::new("--json", p, Kind::File)],
            &[("--net", args.net.as_path())],
        )?;
    }
    let net = crate::netfile::load_net(&args.net, &args.nir.options()?)?;
    let source = DataSource::parse(&args.data)?;
    let split: Split = args.split.parse()?;
    let data = lifchip_data::load(&source, split, args.limit)?;
    let synapse = match args.synapse.as_str() {
        "alpha" => Synapse::Alpha,
        "lowpass" => Synapse::Lowpass,
        "none" => Synapse::None,
        other => crate::fail!("--synapse {other}: expected alpha, lowpass or none"),
    };
    let spiking = SpikingConfig {
        presentation: args.presentation,
        window: args.window,
        tau_s: args.tau_s,
        synapse,
        ..SpikingConfig::default()
    };
    let evaluation = if args.spiking {
        lifchip_train::eval_spiking(&net, &data, &spiking)?
    } else {
        lifchip_train::eval_rate(&net, &data)?
    };
    println!(
        "{} accuracy {:.2}% on {} images of {} ({}) in {:.1} s",
        evaluation.mode.as_str(),
        evaluation.accuracy * 100.0,
        evaluation.samples,
        args.data,
        args.split,
        evaluation.seconds
    );
    for p in &evaluation.populations {
        println!(
            "  {:<12} {:>7} neurons, mean rate {:.1} Hz",
            p.name, p.neurons, p.mean_rate_hz
        );
    }
    if let Some(json) = &args.json {
        let report = EvalReport {
            accuracy: evaluation.accuracy,
            samples: evaluation.samples,
            mode: evaluation.mode.as_str(),
            net: args.net.display().to_string(),
            spiking: args.spiking.then_some(&spiking),
            details: &evaluation,
        };
        write_json(json, &report)?;
    }
    Ok(())
}
