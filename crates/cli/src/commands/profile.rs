//! `lifchip profile`: measure every neuron's firing rate on training data and write the rate
//! profile that `lifchip compile --profile` uses to weight inter-core traffic.

use std::path::PathBuf;

use clap::Args;
use lifchip_compiler::QuantizeOptions;
use lifchip_data::{DataSource, Split};
use lifchip_study::profile::to_profile;
use lifchip_train::RateCurve;

use crate::util::{CliResult, write_json};

#[derive(Args)]
pub struct ProfileArgs {
    /// The float net: a directory, a YAML file, or a NIR file (`*.nir`).
    #[arg(long)]
    pub net: PathBuf,
    #[command(flatten)]
    pub nir: crate::netfile::NirFlags,
    /// `mnist` (bundled) or a folder of MNIST-layout IDX files.
    #[arg(long, default_value = "mnist")]
    pub data: String,
    /// The split the rates are measured on (the training set by default).
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    pub split: String,
    /// Measure on the first N images.
    #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: usize,
    /// Rate curve: `net` (each population's own, as trained: soft-LIF) or `lif` (hard LIF,
    /// zero below threshold, as spiking neurons fire).
    #[arg(long, default_value = "net", value_parser = ["net", "lif"])]
    pub curve: String,
    /// Input spikes per tick for a pixel of value 1: use the value `compile` gets.
    #[arg(long, default_value_t = 1.0)]
    pub input_rate: f64,
    /// Where to write the profile (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: ProfileArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        check(
            &[Output::new("--out", &args.out, Kind::File)],
            &[("--net", args.net.as_path())],
        )?;
    }
    let curve = match args.curve.as_str() {
        "net" => RateCurve::Net,
        "lif" => RateCurve::Lif,
        other => crate::fail!("--curve {other}: expected net or lif"),
    };
    if args.limit == 0 {
        crate::fail!("--limit 0: expected at least one image");
    }
    let opts =
        lifchip_study::quantize_options(QuantizeOptions::default().synapse_tau, args.input_rate)?;
    let net = crate::netfile::load_net(&args.net, &args.nir.options()?)?;
    let source = DataSource::parse(&args.data)?;
    let split: Split = args.split.parse()?;
    let data = lifchip_data::load(&source, split, Some(args.limit))?;
    let started = std::time::Instant::now();
    let rates = lifchip_train::firing_rates(&net, &data, curve)?;
    let description = format!(
        "{} {}, first {} images, rate mode ({} curve), dt {} s, input rate {} spikes/tick",
        args.data,
        args.split,
        data.n,
        curve.as_str(),
        opts.dt,
        opts.input_rate
    );
    let profile = to_profile(&net, rates, &opts, description);
    println!(
        "profile of {:?} (fingerprint {:016x}) on {} in {:.1} s",
        net.name,
        profile.net_hash,
        profile.source,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<16} {:>8} {:>14} {:>14} {:>8}",
        "population", "neurons", "spikes/tick", "mean/neuron", "silent"
    );
    let mut total = 0.0;
    for p in &profile.populations {
        let sum: f64 = p.rates.iter().map(|&r| f64::from(r)).sum();
        let silent = p.rates.iter().filter(|&&r| r < 1e-6).count();
        total += sum;
        println!(
            "{:<16} {:>8} {:>14.3} {:>14.5} {:>8}",
            p.name,
            p.rates.len(),
            sum,
            sum / p.rates.len().max(1) as f64,
            silent
        );
    }
    println!("total {total:.3} spikes per tick");
    write_json(&args.out, &profile)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
