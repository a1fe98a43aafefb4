//! `lifchip train`: a soft-LIF net from a YAML training config, or (`--qat TARGET --init NET`)
//! quantization-aware fine-tuning of a trained net for a target's weight format.

use std::path::PathBuf;

use clap::Args;
use lifchip_train::{QatConfig, TrainConfig, TrainOptions, TrainReport};

use crate::{
    progress,
    util::{CliError, CliResult, write_json},
};

#[derive(Args)]
pub struct TrainArgs {
    /// Training config (see examples/mnist-mlp.yaml).
    #[arg(long, required_unless_present = "qat", conflicts_with_all = ["qat", "init"])]
    pub config: Option<PathBuf>,
    /// Quantization-aware fine-tuning for this target's weight format (a built-in name or a
    /// target file): retrain the net of --init with its weights quantized in the forward pass.
    #[arg(long, value_name = "TARGET", requires = "init")]
    pub qat: Option<String>,
    /// The trained net to fine-tune (with --qat).
    #[arg(long, value_name = "NET", requires = "qat")]
    pub init: Option<PathBuf>,
    /// With --qat: Adam learning rate (cosine decay to 0 over the run).
    #[arg(long, requires = "qat")]
    pub lr: Option<f32>,
    /// With --qat: mini-batch size.
    #[arg(long, requires = "qat")]
    pub batch_size: Option<usize>,
    /// With --qat: train on the first N training images only.
    #[arg(long, requires = "qat")]
    pub train_limit: Option<usize>,
    /// With --qat: test images evaluated (quantized) after each epoch and at the end (0: none).
    #[arg(long, requires = "qat", default_value_t = 10_000)]
    pub test_limit: usize,
    /// With --qat: training data, `mnist` or a folder of MNIST-layout IDX files.
    #[arg(long, requires = "qat", default_value = "mnist")]
    pub data: String,
    /// With --qat: keep the float weights instead of snapping them to the grid at the end.
    #[arg(long, requires = "qat")]
    pub no_snap: bool,
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
fn train_with_progress(
    config: &TrainConfig,
    options: &TrainOptions,
) -> CliResult<(lifchip_net::Net, TrainReport)> {
    let mut training = progress::Training::default();
    Ok(lifchip_train::train(
        config,
        &mut |p| training.show(p),
        options,
    )?)
}

/// The QAT settings of `lifchip train --qat` for `target`.
fn qat_config(args: &TrainArgs, target: &lifchip_target::Target) -> CliResult<QatConfig> {
    let mut q = QatConfig::from_target(target);
    q.data.clone_from(&args.data);
    q.train_limit = args.train_limit;
    q.test_limit = Some(args.test_limit);
    if let Some(e) = args.epochs {
        q.epochs = e;
    }
    if let Some(lr) = args.lr {
        q.lr = lr;
    }
    if let Some(b) = args.batch_size {
        q.batch_size = b;
    }
    if let Some(s) = args.seed {
        q.seed = s;
    }
    q.snap = !args.no_snap;
    q.validate()
        .map_err(|e| CliError(e.to_string().replace("config field `qat.", "`--")))?;
    Ok(q)
}

fn run_qat(args: &TrainArgs, target_ref: &str, init: &std::path::Path) -> CliResult<()> {
    let target = lifchip_target::resolve(target_ref)?;
    let qat = qat_config(args, &target)?;
    let net = lifchip_net::load(init)?;
    let options = TrainOptions {
        max_seconds: args.max_seconds,
        checkpoint_dir: args.checkpoints.clone(),
        log_csv: args.log.clone(),
    };
    let test = match qat.test_limit {
        Some(0) => None,
        limit => Some(
            lifchip_data::load(
                &lifchip_data::DataSource::parse(&qat.data)?,
                lifchip_data::Split::Test,
                limit,
            )
            .map_err(|e| CliError(format!("--data {}: {e}", qat.data)))?,
        ),
    };
    let before = match &test {
        Some(t) => Some(lifchip_train::eval_quantized(&net, &qat, t)?),
        None => None,
    };
    eprintln!(
        "fine-tuning {} for {} ({}-bit weights, {:?}): {} epochs, lr {:e}",
        net.name, target.name, qat.weight_bits, qat.encoding, qat.epochs, qat.lr
    );
    let mut training = progress::Training::default();
    let (tuned, report) =
        lifchip_train::fine_tune(&net, &qat, &mut |p| training.show(p), &options)?;
    lifchip_net::save(&tuned, &args.out)?;
    if let Some(json) = &args.json {
        #[derive(serde::Serialize)]
        struct QatReport<'a> {
            target: &'a str,
            qat: &'a QatConfig,
            quantized_accuracy_before: Option<f64>,
            quantized_accuracy_after: Option<f64>,
            #[serde(flatten)]
            report: &'a TrainReport,
        }
        write_json(
            json,
            &QatReport {
                target: &target.name,
                qat: &qat,
                quantized_accuracy_before: before.as_ref().map(|e| e.accuracy),
                quantized_accuracy_after: report.test_accuracy,
                report: &report,
            },
        )?;
    }
    plot_curves(args, &report)?;
    match (&before, report.test_accuracy) {
        (Some(b), Some(a)) => println!(
            "fine-tuned {} for {} in {:.1} s; rate accuracy with {}-bit weights on {} test images: {:.2}% before, {:.2}% after{}",
            report.name,
            target.name,
            report.seconds,
            qat.weight_bits,
            b.samples,
            b.accuracy * 100.0,
            a * 100.0,
            if report.stopped_early {
                " (stopped at --max-seconds)"
            } else {
                ""
            }
        ),
        _ => println!(
            "fine-tuned {} for {} in {:.1} s",
            report.name, target.name, report.seconds
        ),
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

fn plot_curves(args: &TrainArgs, report: &TrainReport) -> CliResult<()> {
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::util::CliError(format!("{}: {e}", dir.display())))?;
        let points: Vec<_> = report
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.loss, e.train_accuracy, e.test_accuracy))
            .collect();
        lifchip_study::plot::training_curves(&points, dir)?;
    }
    Ok(())
}

pub fn run(args: TrainArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        let mut outs = vec![Output::new("--out", &args.out, Kind::Net)];
        if let Some(p) = &args.json {
            outs.push(Output::new("--json", p, Kind::File));
        }
        if let Some(p) = &args.log {
            outs.push(Output::new("--log", p, Kind::File));
        }
        if let Some(p) = &args.checkpoints {
            outs.push(Output::new("--checkpoints", p, Kind::Dir));
        }
        if let Some(p) = &args.plot {
            outs.push(Output::new("--plot", p, Kind::Dir));
        }
        let mut ins: Vec<(&str, &std::path::Path)> = Vec::new();
        if let Some(p) = &args.config {
            ins.push(("--config", p.as_path()));
        }
        if let Some(p) = &args.init {
            ins.push(("--init", p.as_path()));
        }
        check(&outs, &ins)?;
    }
    let config_path = match (&args.config, &args.qat, &args.init) {
        (_, Some(target), Some(init)) => return run_qat(&args, target, init),
        (Some(c), None, None) => c.clone(),
        _ => crate::fail!("give --config FILE, or --qat TARGET with --init NET"),
    };
    let mut config = TrainConfig::load(&config_path).map_err(|e| {
        let (m, p) = (e.to_string(), config_path.display().to_string());
        CliError(if m.contains(&p) {
            m
        } else {
            format!("{p}: {m}")
        })
    })?;
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
    plot_curves(&args, &report)?;
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
