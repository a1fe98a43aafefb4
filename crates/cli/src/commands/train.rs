//! `lifchip train`: a soft-LIF net from a YAML training config.

use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;
use lifchip_train::{Progress, TrainConfig, TrainOptions, TrainReport};

use crate::util::{CliResult, progress, write_json};

#[derive(Args)]
pub struct TrainArgs {
    /// Training config (see examples/mnist-mlp.yaml).
    #[arg(long)]
    pub config: PathBuf,
    /// Output net: a directory (NAME.net) or, with a .yaml extension, one YAML file.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the config's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the config's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many seconds (the net trained so far is written).
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Write a checkpoint net per epoch into this directory.
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Write the per-epoch log (CSV) here.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Write the training report (JSON) here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw accuracy and loss per epoch into this directory (PNG and SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Trains with a progress bar per epoch on stderr.
pub fn train_with_progress(
    config: &TrainConfig,
    options: &TrainOptions,
) -> CliResult<(lifchip_net::Net, TrainReport)> {
    let mut bar: Option<ProgressBar> = None;
    let mut on_progress = |p: &Progress| match p {
        Progress::Batch {
            epoch,
            epochs,
            batch,
            batches,
            loss,
            ..
        } => {
            let b = bar.get_or_insert_with(|| {
                progress(*batches as u64, &format!("epoch {epoch}/{epochs}"))
            });
            b.set_position(*batch as u64);
            if batch % 20 == 0 {
                b.set_prefix(format!("loss {loss:.3}"));
            }
        }
        Progress::Epoch(stats) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let test = stats
                .test_accuracy
                .map_or_else(String::new, |a| format!(", test {:.2}%", a * 100.0));
            eprintln!(
                "epoch {}: loss {:.4}, train {:.2}%{test}, {:.1} s",
                stats.epoch,
                stats.loss,
                stats.train_accuracy * 100.0,
                stats.seconds
            );
        }
    };
    Ok(lifchip_train::train(config, &mut on_progress, options)?)
}

pub fn run(args: TrainArgs) -> CliResult<()> {
    let mut config = TrainConfig::load(&args.config)?;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    config.validate()?;
    let options = TrainOptions {
        max_seconds: args.max_seconds,
        checkpoint_dir: args.checkpoints.clone(),
        log_csv: args.log.clone(),
    };
    let (net, report) = train_with_progress(&config, &options)?;
    lifchip_net::save(&net, &args.out)?;
    if let Some(json) = &args.json {
        write_json(json, &report)?;
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::util::CliError(format!("{}: {e}", dir.display())))?;
        let points: Vec<_> = report
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.loss, e.train_accuracy, e.test_accuracy))
            .collect();
        crate::commands::sweep::plot::training_curves(&points, dir)?;
    }
    let test = report.test_accuracy.map_or_else(
        || "not measured".to_string(),
        |a| format!("{:.2}% on {} test images", a * 100.0, report.test_samples),
    );
    println!(
        "trained {} ({} parameters) in {:.1} s, {:.0} images/s; rate accuracy {test}{}",
        report.name,
        report.parameters,
        report.seconds,
        report.images_per_second,
        if report.stopped_early {
            " (stopped at --max-seconds)"
        } else {
            ""
        }
    );
    println!("wrote {}", args.out.display());
    Ok(())
}
