//! Throughput benchmark: images per second for training, rate evaluation and spiking
//! evaluation of a configured network, on synthetic 28×28 images (no data loading).

use std::time::Instant;

use lifchip_data::Dataset;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::act::mix;
use crate::config::{ActivationConfig, TrainConfig};
use crate::eval::{SpikingConfig, eval_rate, eval_spiking};
use crate::train::{TrainOptions, train_on};

/// Measured throughput of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub name: String,
    pub parameters: usize,
    /// Images used for training and rate evaluation.
    pub images: usize,
    /// One epoch of training (forward, backward, optimizer step) over `images`.
    pub train_images_per_second: f64,
    /// Rate-mode inference.
    pub rate_images_per_second: f64,
    /// Images simulated as spikes (at most 200; 0 for ReLU nets).
    pub spiking_images: usize,
    /// Spiking inference with the default [`SpikingConfig`] (0.2 s per image at dt = 1 ms).
    pub spiking_images_per_second: f64,
    pub threads: usize,
}

/// Synthetic data: `n` random 28×28 images with random labels below `classes`.
fn synthetic(n: usize, classes: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(mix(seed, 0xbe4c));
    let images = (0..n * 28 * 28)
        .map(|_| {
            if rng.random::<f32>() < 0.8 {
                0
            } else {
                rng.random::<u8>()
            }
        })
        .collect();
    let labels = (0..n)
        .map(|_| rng.random_range(0..classes.clamp(1, 256)) as u8)
        .collect();
    Dataset {
        images,
        labels,
        n,
        rows: 28,
        cols: 28,
    }
}

/// Measures images/s of `config`'s network on `n` synthetic 28×28 images: one training epoch,
/// one rate-mode pass, and a spiking pass over `min(n, 200)` images. The config's data,
/// epochs and limits are ignored; its layers, neuron, optimizer and batch size are used.
pub fn bench_images_per_second(config: &TrainConfig, n: usize) -> Result<BenchReport, TrainError> {
    if n == 0 {
        return Err(TrainError::config(
            "n",
            "the benchmark needs at least one image",
        ));
    }
    let mut cfg = config.clone();
    cfg.epochs = 1;
    cfg.train_limit = None;
    cfg.test_limit = Some(0);
    cfg.validate()?;
    let data = synthetic(n, cfg.classes, cfg.seed);
    let start = Instant::now();
    let (net, report) = train_on(&cfg, &data, None, &mut |_| {}, &TrainOptions::default())?;
    let train_seconds = start.elapsed().as_secs_f64();
    let rate = eval_rate(&net, &data)?;
    let spiking_images = if matches!(cfg.activation, ActivationConfig::Relu) {
        0
    } else {
        n.min(200)
    };
    let spiking_images_per_second = if spiking_images > 0 {
        let subset = data.clone().take(spiking_images);
        let spiking = eval_spiking(&net, &subset, &SpikingConfig::default())?;
        spiking_images as f64 / spiking.seconds.max(1e-9)
    } else {
        0.0
    };
    Ok(BenchReport {
        name: cfg.name.clone(),
        parameters: report.parameters,
        images: n,
        train_images_per_second: n as f64 / train_seconds.max(1e-9),
        rate_images_per_second: n as f64 / rate.seconds.max(1e-9),
        spiking_images,
        spiking_images_per_second,
        threads: rayon::current_num_threads(),
    })
}
