//! The training loop: data loading, seeded mini-batches, forward/backward, optimizer steps,
//! divergence checks, per-epoch test accuracy, CSV log, checkpoints and the final [`Net`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lifchip_data::{DataSource, Dataset, Split, shuffled_indices};
use lifchip_net::Net;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::act::mix;
use crate::config::{ActivationConfig, OptimizerConfig, ScheduleConfig, TrainConfig};
use crate::eval::{eval_rate, on_pool, pixels, rate_predictions};
use crate::model::{Model, softmax_cross_entropy};
use crate::optim::Optimizer;
use crate::qat::QatConfig;

/// A mean cross-entropy above this (logit gaps of ~1e6) counts as divergence, as does NaN.
const EXPLODED_LOSS: f64 = 1e6;
/// Weights beyond this magnitude are reported as the diverged layer.
const EXPLODED_WEIGHT: f32 = 1e6;

/// How a training run is carried out (not what is trained): time budget, log and checkpoints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainOptions {
    /// Stop after the batch during which this many seconds have passed; the report says so.
    pub max_seconds: Option<f64>,
    /// Write `epoch-NNN.net` (net directory format) here after each epoch.
    pub checkpoint_dir: Option<PathBuf>,
    /// Write `epoch,loss,train_accuracy,test_accuracy,seconds,learning_rate` lines here.
    pub log_csv: Option<PathBuf>,
}

/// Statistics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss (softmax cross-entropy, with noise and dropout on).
    pub loss: f64,
    /// Accuracy on the training batches as they were trained (noise and dropout on).
    pub train_accuracy: f64,
    /// Rate-mode test accuracy after the epoch, if a test set was given.
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds since training started.
    pub seconds: f64,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f32,
    /// Images trained on in this epoch.
    pub images: usize,
}

/// What [`train`] reports next to the net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub name: String,
    pub seed: u64,
    pub epochs: Vec<EpochStats>,
    pub parameters: usize,
    pub train_images: usize,
    /// Final rate-mode accuracy of the returned net on the test set, if one was given.
    pub test_accuracy: Option<f64>,
    pub test_samples: usize,
    pub seconds: f64,
    /// Training throughput (forward + backward + update).
    pub images_per_second: f64,
    /// True when `max_seconds` ran out before the configured epochs finished.
    pub stopped_early: bool,
}

/// Progress events passed to the callback of [`train`].
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// A batch was trained. `batch` counts from 1 within the epoch.
    Batch {
        epoch: usize,
        epochs: usize,
        batch: usize,
        batches: usize,
        loss: f64,
        learning_rate: f32,
    },
    /// An epoch finished.
    Epoch(&'a EpochStats),
}

/// Loads the config's data (training set, and the test set unless `test_limit` is 0) and trains.
pub fn train(
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Progress),
    options: &TrainOptions,
) -> Result<(Net, TrainReport), TrainError> {
    config.validate()?;
    let source =
        DataSource::parse(&config.data).map_err(|e| TrainError::config("data", e.to_string()))?;
    let load = |split: Split, limit: Option<usize>| {
        lifchip_data::load(&source, split, limit).map_err(|e| TrainError::Data {
            what: format!("{split} split of {source}"),
            source: e,
        })
    };
    let train_set = load(Split::Train, config.train_limit)?;
    let test_set = match config.test_limit {
        Some(0) => None,
        limit => Some(load(Split::Test, limit)?),
    };
    train_on(config, &train_set, test_set.as_ref(), progress, options)
}

fn check_labels(data: &Dataset, classes: usize, what: &str) -> Result<(), TrainError> {
    if data.images.len() != data.n * data.rows * data.cols || data.labels.len() != data.n {
        return Err(TrainError::mismatch(
            what,
            "pixel or label buffer does not hold n images",
        ));
    }
    if let Some((k, &l)) = data
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= classes)
    {
        return Err(TrainError::mismatch(
            format!("{what} image {k}"),
            format!("label {l} is out of range for classes = {classes}"),
        ));
    }
    Ok(())
}

/// Labels of both sets within `classes`, and test images the size of the training images.
fn check_sets(train: &Dataset, test: Option<&Dataset>, classes: usize) -> Result<(), TrainError> {
    check_labels(train, classes, "training set")?;
    if let Some(t) = test {
        check_labels(t, classes, "test set")?;
        if (t.rows, t.cols) != (train.rows, train.cols) {
            return Err(TrainError::mismatch(
                "test set",
                format!(
                    "images are {}x{}, training images {}x{}",
                    t.rows, t.cols, train.rows, train.cols
                ),
            ));
        }
    }
    Ok(())
}

/// Trains on datasets already in memory (`test` is evaluated after each epoch and at the end).
pub fn train_on(
    config: &TrainConfig,
    train: &Dataset,
    test: Option<&Dataset>,
    progress: &mut dyn FnMut(&Progress),
    options: &TrainOptions,
) -> Result<(Net, TrainReport), TrainError> {
    config.validate()?;
    if train.n == 0 || train.rows == 0 || train.cols == 0 {
        return Err(TrainError::mismatch(
            "training set",
            format!(
                "holds {} images of {}x{} pixels; need at least one non-empty image",
                train.n, train.rows, train.cols
            ),
        ));
    }
    check_sets(train, test, config.classes)?;
    let mut model = Model::new(config, [1, train.rows, train.cols])?;
    if let Some(rms) = config.init_rms.filter(|r| *r > 0.0) {
        let first: Vec<usize> = shuffled_indices(train.n, mix(config.seed, 0x1e57))
            .into_iter()
            .take(config.batch_size.max(256))
            .collect();
        model.rescale_init(pixels(train, &first), rms);
    }
    let settings = LoopSettings {
        name: config.name.clone(),
        seed: config.seed,
        epochs: config.epochs,
        batch_size: config.batch_size,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
        weight_decay: config.weight_decay,
        classes: config.classes,
        qat: None,
    };
    let snapshot = |model: &Model, m: BTreeMap<String, String>| {
        let epochs = m.get("epochs").and_then(|e| e.parse().ok()).unwrap_or(0);
        let acc = m.get("rate_test_accuracy").and_then(|a| a.parse().ok());
        let images = m
            .get("train_images")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        model.to_net(&config.name, meta(config, epochs, acc, images))
    };
    let outcome = run_loop(
        &mut model, &settings, train, test, progress, options, &snapshot,
    )?;
    let provisional = model.to_net(&config.name, BTreeMap::new())?;
    let final_eval = match test {
        Some(t) => Some(eval_rate(&provisional, t)?),
        None => None,
    };
    let test_accuracy = final_eval.as_ref().map(|e| e.accuracy);
    let net = model.to_net(
        &config.name,
        meta(
            config,
            outcome.epochs.len(),
            test_accuracy,
            outcome.trained_images,
        ),
    )?;
    let report = outcome.report(&settings, &model, final_eval.as_ref());
    Ok((net, report))
}

/// Turns the model and an epoch's metadata (`epochs`, `train_images`, `rate_test_accuracy`)
/// into a checkpoint net.
pub(crate) type Snapshot<'a> =
    dyn Fn(&Model, BTreeMap<String, String>) -> Result<Net, TrainError> + 'a;

/// What the shared training loop needs, from a [`TrainConfig`] or a QAT fine-tuning config.
pub(crate) struct LoopSettings {
    pub name: String,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub weight_decay: f32,
    pub classes: usize,
    /// Quantize the weights in every forward pass (straight-through estimator backward).
    pub qat: Option<QatConfig>,
}

/// What the loop did.
pub(crate) struct LoopOutcome {
    pub epochs: Vec<EpochStats>,
    pub trained_images: usize,
    pub stopped_early: bool,
    pub start: Instant,
    pub train_seconds: f64,
}

impl LoopOutcome {
    pub fn report(
        self,
        settings: &LoopSettings,
        model: &Model,
        final_eval: Option<&crate::eval::Evaluation>,
    ) -> TrainReport {
        TrainReport {
            name: settings.name.clone(),
            seed: settings.seed,
            epochs: self.epochs,
            parameters: model.parameter_count(),
            train_images: self.trained_images,
            test_accuracy: final_eval.map(|e| e.accuracy),
            test_samples: final_eval.map_or(0, |e| e.samples),
            seconds: self.start.elapsed().as_secs_f64(),
            images_per_second: self.trained_images as f64 / self.train_seconds.max(1e-9),
            stopped_early: self.stopped_early,
        }
    }
}

/// The training loop shared by [`train_on`] and QAT fine-tuning: seeded mini-batches,
/// forward/backward (on the quantized weights when `settings.qat` is set), optimizer steps on
/// the float weights, divergence checks, per-epoch test accuracy, CSV log and checkpoints
/// (`snapshot` turns the model and the epoch's metadata into the checkpoint net).
pub(crate) fn run_loop(
    model: &mut Model,
    settings: &LoopSettings,
    train: &Dataset,
    test: Option<&Dataset>,
    progress: &mut dyn FnMut(&Progress),
    options: &TrainOptions,
    snapshot: &Snapshot,
) -> Result<LoopOutcome, TrainError> {
    let start = Instant::now();
    if train.n == 0 || train.rows * train.cols != model.input_shape.iter().product::<usize>() {
        return Err(TrainError::mismatch(
            "training set",
            format!(
                "holds {} images of {}x{} pixels; the net takes {} inputs",
                train.n,
                train.rows,
                train.cols,
                model.input_shape.iter().product::<usize>()
            ),
        ));
    }
    check_sets(train, test, settings.classes)?;
    let qat = settings.qat.as_ref();
    let mut optimizer = Optimizer::new(&settings.optimizer);
    let mut log = match &options.log_csv {
        Some(path) => Some(CsvLog::create(path)?),
        None => None,
    };
    if let Some(dir) = &options.checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    }
    let batches = train.n.div_ceil(settings.batch_size);
    let total_batches = (batches * settings.epochs).max(1);
    let base_lr = settings.optimizer.lr();
    let mut epochs = Vec::new();
    let mut trained_images = 0usize;
    let mut stopped_early = false;
    for epoch in 0..settings.epochs {
        let order = shuffled_indices(train.n, mix(settings.seed, 0x5eed_0000 + epoch as u64));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = base_lr;
        for (b, chunk) in order.chunks(settings.batch_size).enumerate() {
            let step = epoch * batches + b;
            lr = settings
                .schedule
                .lr_at(base_lr, epoch, step as f64 / total_batches as f64);
            // The batch runs as one job on the pool (see `on_pool`).
            let (loss, ok) = on_pool(|| -> Result<(f64, usize), TrainError> {
                let x = pixels(train, chunk);
                let labels: Vec<u8> = chunk.iter().map(|&i| train.labels[i]).collect();
                let batch_seed = mix(settings.seed, 0xba7c_0000_0000 + step as u64);
                let diverged = |layer: &str, what: &str| TrainError::Diverged {
                    epoch: epoch + 1,
                    batch: b + 1,
                    layer: layer.to_string(),
                    what: what.to_string(),
                };
                // QAT: forward and backward on the quantized weights, update the float ones.
                let masters = qat.map(|q| crate::qat::swap_in(model, q));
                let forward = model.forward_train(x, batch_seed, true);
                let (logits, tape) = match forward {
                    Ok(f) => f,
                    Err(s) => {
                        let name = model.stages[s].name.clone();
                        return Err(diverged(&name, "the activity"));
                    }
                };
                let (loss, ok, dlogits) = softmax_cross_entropy(&logits, &labels);
                if !loss.is_finite() || loss > EXPLODED_LOSS {
                    if let Some(m) = masters {
                        crate::qat::restore(model, m);
                    }
                    // Name the first layer whose weights blew up, else the output layer.
                    let layer = model
                        .stages
                        .iter()
                        .find(|s| {
                            s.weights().is_some_and(|w| {
                                w.iter().any(|v| v.is_nan() || v.abs() >= EXPLODED_WEIGHT)
                            })
                        })
                        .or(model.stages.last())
                        .map_or("out", |s| s.name.as_str());
                    return Err(diverged(layer, &format!("the loss ({loss:e})")));
                }
                let grads = model.backward(tape, dlogits);
                if let Some(m) = masters {
                    crate::qat::restore(model, m);
                }
                let grad_slices: Vec<&[f32]> = grads
                    .iter()
                    .flat_map(|g| [g.weights.as_slice().unwrap_or(&[]), g.bias.as_slice()])
                    .collect();
                // The step checks gradients and updated parameters in the same pass; a failure
                // ends the run, so the updated (bad) parameters are never used.
                let check = optimizer.step(
                    model.parameters_mut(),
                    &grad_slices,
                    lr,
                    settings.weight_decay,
                );
                drop(grad_slices);
                grads
                    .into_iter()
                    .for_each(|g| crate::pool::recycle(g.weights));
                if let Some(k) = check.bad_gradient {
                    return Err(diverged(&model.stages[k / 2].name, "the gradient"));
                }
                if let Some(k) = check.bad_parameter {
                    return Err(diverged(&model.stages[k / 2].name, "a weight or bias"));
                }
                Ok((loss, ok))
            })?;
            loss_sum += loss * chunk.len() as f64;
            correct += ok;
            seen += chunk.len();
            trained_images += chunk.len();
            progress(&Progress::Batch {
                epoch: epoch + 1,
                epochs: settings.epochs,
                batch: b + 1,
                batches,
                loss,
                learning_rate: lr,
            });
            if options
                .max_seconds
                .is_some_and(|m| start.elapsed().as_secs_f64() >= m)
            {
                stopped_early = epoch + 1 < settings.epochs || b + 1 < batches;
                break;
            }
        }
        let test_accuracy = test.map(|t| match qat {
            Some(q) => {
                let mut quantized = model.clone();
                let _ = crate::qat::swap_in(&mut quantized, q);
                model_accuracy(&quantized, t)
            }
            None => model_accuracy(model, t),
        });
        let stats = EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_accuracy,
            seconds: start.elapsed().as_secs_f64(),
            learning_rate: lr,
            images: seen,
        };
        if let Some(log) = log.as_mut() {
            log.write(&stats)?;
        }
        if let Some(dir) = &options.checkpoint_dir {
            let mut m = BTreeMap::new();
            m.insert("epochs".to_string(), (epoch + 1).to_string());
            m.insert("train_images".to_string(), trained_images.to_string());
            if let Some(a) = test_accuracy {
                m.insert("rate_test_accuracy".to_string(), format!("{a:.4}"));
            }
            let net = snapshot(model, m)?;
            lifchip_net::save(&net, &dir.join(format!("epoch-{:03}.net", epoch + 1)))?;
        }
        progress(&Progress::Epoch(&stats));
        epochs.push(stats);
        if stopped_early {
            break;
        }
    }
    // The recycled buffers are not needed after training.
    crate::pool::clear();
    Ok(LoopOutcome {
        epochs,
        trained_images,
        stopped_early,
        start,
        train_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Rate accuracy of the training model itself (no net conversion), used after each epoch.
fn model_accuracy(model: &Model, data: &Dataset) -> f64 {
    let predictions = rate_predictions(data, |x| model.logits(x));
    let correct = predictions
        .iter()
        .zip(&data.labels)
        .filter(|&(&p, &label)| p == usize::from(label))
        .count();
    correct as f64 / data.n.max(1) as f64
}

/// Provenance stored in the net (deterministic: no timings, so the same seed gives the same file).
fn meta(
    config: &TrainConfig,
    epochs: usize,
    accuracy: Option<f64>,
    images: usize,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "trainer".into(),
        format!("lifchip-train {}", env!("CARGO_PKG_VERSION")),
    );
    m.insert("seed".into(), config.seed.to_string());
    m.insert("epochs".into(), epochs.to_string());
    m.insert("train_images".into(), images.to_string());
    m.insert("data".into(), config.data.clone());
    let activation = match config.activation {
        ActivationConfig::SoftLif(_) => "soft_lif",
        ActivationConfig::Lif(_) => "lif",
        ActivationConfig::Relu => "relu",
    };
    m.insert("activation".into(), activation.into());
    if let Some(a) = accuracy {
        m.insert("rate_test_accuracy".into(), format!("{a:.4}"));
    }
    m.insert("train_config".into(), config.to_yaml_string());
    m
}

/// The per-epoch CSV log, flushed after every line.
struct CsvLog {
    path: PathBuf,
    file: File,
}

impl CsvLog {
    fn create(path: &Path) -> Result<CsvLog, TrainError> {
        let mut file = File::create(path).map_err(TrainError::io(path))?;
        writeln!(
            file,
            "epoch,loss,train_accuracy,test_accuracy,seconds,learning_rate"
        )
        .map_err(TrainError::io(path))?;
        Ok(CsvLog {
            path: path.to_path_buf(),
            file,
        })
    }

    fn write(&mut self, s: &EpochStats) -> Result<(), TrainError> {
        let test = s.test_accuracy.map_or(String::new(), |a| format!("{a:.6}"));
        writeln!(
            self.file,
            "{},{:.6},{:.6},{},{:.3},{:e}",
            s.epoch, s.loss, s.train_accuracy, test, s.seconds, s.learning_rate
        )
        .and_then(|()| self.file.flush())
        .map_err(TrainError::io(&self.path))
    }
}
