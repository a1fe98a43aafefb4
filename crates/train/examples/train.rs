//! Trains a config (default: the quick demo MLP) and reports rate and spiking accuracy:
//! `cargo run --release -p lifchip-train --example train -- [CONFIG.yaml] [--epochs N] [--limit N] [--spiking N] [--out NET] [--csv FILE]`.

use std::path::PathBuf;
use std::time::Instant;

use lifchip_data::{DataSource, Split, load};
use lifchip_train::{
    Progress, SpikingConfig, TrainConfig, TrainOptions, eval_rate, eval_spiking, train,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config = TrainConfig::quick();
    let mut spiking = 1000usize;
    let mut out = None;
    let mut options = TrainOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--epochs" => config.epochs = args.next().ok_or("--epochs N")?.parse()?,
            "--limit" => config.train_limit = Some(args.next().ok_or("--limit N")?.parse()?),
            "--spiking" => spiking = args.next().ok_or("--spiking N")?.parse()?,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out NET")?)),
            "--csv" => options.log_csv = Some(PathBuf::from(args.next().ok_or("--csv FILE")?)),
            "--seconds" => options.max_seconds = Some(args.next().ok_or("--seconds S")?.parse()?),
            path => config = TrainConfig::load(std::path::Path::new(path))?,
        }
    }
    let start = Instant::now();
    let (net, report) = train(
        &config,
        &mut |p| {
            if let Progress::Batch { batch, loss, .. } = p
                && std::env::var_os("VERBOSE").is_some()
                && (batch % 10 == 1)
            {
                eprintln!("  batch {batch}: loss {loss:.4}");
            }
            if let Progress::Epoch(s) = p {
                eprintln!(
                    "epoch {}: loss {:.4} train {:.4} test {:?} lr {:.2e} at {:.1} s",
                    s.epoch, s.loss, s.train_accuracy, s.test_accuracy, s.learning_rate, s.seconds
                );
            }
        },
        &options,
    )?;
    println!(
        "trained {} images in {:.2} s ({:.0} images/s), {} parameters, stopped early: {}",
        report.train_images,
        report.seconds,
        report.images_per_second,
        report.parameters,
        report.stopped_early
    );
    if let Some(out) = out {
        lifchip_net::save(&net, &out)?;
    }
    let test = load(&DataSource::Mnist, Split::Test, None)?;
    let rate = eval_rate(&net, &test)?;
    println!(
        "rate accuracy {:.2} % on {} test images ({:.2} s)",
        100.0 * rate.accuracy,
        rate.samples,
        rate.seconds
    );
    if spiking > 0 {
        let subset = test.take(spiking);
        let s = eval_spiking(&net, &subset, &SpikingConfig::default())?;
        println!(
            "spiking accuracy {:.2} % on {} test images ({:.2} s, {} silent), rates {:?}",
            100.0 * s.accuracy,
            s.samples,
            s.seconds,
            s.silent_outputs,
            s.populations
                .iter()
                .map(|p| (p.name.clone(), (p.mean_rate_hz * 10.0).round() / 10.0))
                .collect::<Vec<_>>()
        );
    }
    eprintln!("total {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
