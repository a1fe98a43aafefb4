//! The soft-LIF trainer of lifchip, and float evaluation of trained nets in rate mode and as
//! spiking LIF neurons.
//!
//! # What it does
//! - [`TrainConfig`] describes a network (`dense`, `conv2d`, `avg_pool`, `flatten`, `dropout`
//!   layers), its neuron model (`soft_lif` of Hunsberger & Eliasmith 2015, hard `lif`, or
//!   `relu` for comparison), the optimizer (Adam or SGD with momentum), learning-rate schedule,
//!   epochs, batch size, weight decay, seed and data; it is read from YAML with every field
//!   checked first.
//! - [`train`] / [`train_on`] run mini-batch training on `ndarray` (GEMM for dense layers,
//!   im2col + GEMM for convolutions) from a seeded Glorot/He initialisation rescaled layer by
//!   layer on the first batch (`init_rms`, LSUV-style), with the paper's training noise (Gaussian rate noise of
//!   `noise` Hz × amplitude where `J > 1`, no gradient through it, output clipped at 0),
//!   softmax cross-entropy on the output layer's pre-activation, NaN/divergence detection,
//!   optional CSV log and per-epoch checkpoints, and return a [`lifchip_net::Net`] plus a
//!   [`TrainReport`]. The same seed gives a byte-identical net.
//! - [`eval_rate`] and [`eval_spiking`] evaluate any feed-forward float net (also one loaded
//!   from disk) on a [`lifchip_data::Dataset`]: rate mode with the net's own linear ops, or a
//!   batched step-by-step simulation of nengo's LIF neuron with alpha/lowpass synapses.
//! - [`fine_tune`] / [`fine_tune_on`] continue training an existing float net with a
//!   target's weight quantization in the forward pass (quantization-aware fine-tuning, straight-
//!   through estimator; [`QatConfig`] mirrors the compiler's per-layer grid, see the `qat`
//!   module); [`quantize_net`] and [`eval_quantized`] apply the same grid to a net.
//! - [`firing_rates`] measures every neuron's mean firing rate in rate mode over a dataset
//!   (Hz; the input population: mean pixel value), in the net's population order — what
//!   `lifchip profile` turns into the compiler's rate profile.
//! - [`bench_images_per_second`] measures training and inference throughput.
//!
//! # What it does not do
//! It does not quantize, compile or emulate (that is `lifchip-compiler` and the emulator), does
//! not evaluate chip-unit (`chip_lif`) or recurrent nets, trains an existing net only by QAT
//! fine-tuning (a [`train`] run starts from a seeded initialisation), and stores no dropout or
//! softmax in the net.
//!
//! # Example
//! ```no_run
//! use lifchip_train::{SpikingConfig, TrainConfig, TrainOptions, eval_spiking, train};
//!
//! let config = TrainConfig::quick(); // 784-100-10 soft-LIF MLP, one epoch on 30 000 images
//! let (net, report) = train(&config, &mut |_| {}, &TrainOptions::default())?;
//! println!("trained {} images in {:.1} s", report.train_images, report.seconds);
//! let test = lifchip_data::load(&lifchip_data::DataSource::Mnist, lifchip_data::Split::Test, Some(1000))
//!     .map_err(|e| lifchip_train::TrainError::Data { what: "test set".into(), source: e })?;
//! let spiking = eval_spiking(&net, &test, &SpikingConfig::default())?;
//! println!("spiking accuracy {:.2} %", 100.0 * spiking.accuracy);
//! # Ok::<(), lifchip_train::TrainError>(())
//! ```

mod act;
mod aligned;
mod bench;
mod config;
mod error;
mod eval;
mod exact;
mod graph;
mod kernels;
mod model;
mod optim;
mod packed;
mod pool;
mod qat;
mod rates;
mod spikes;
mod ticks;
mod train;

pub use crate::{
    bench::{BenchReport, bench_images_per_second},
    config::{
        ActivationConfig, InitConfig, LayerConfig, LifConfig, OptimizerConfig, ScheduleConfig,
        Size2, TrainConfig,
    },
    error::TrainError,
    eval::{
        EvalMode, Evaluation, PopulationActivity, SpikingConfig, Synapse, eval_rate, eval_spiking,
    },
    qat::{LayerGrid, QatConfig, eval_quantized, fine_tune, fine_tune_on, quantize_net},
    rates::{FiringRates, RateCurve, firing_rates},
    ticks::{TickNet, TickState, is_tick_net, run_ticks},
    train::{EpochStats, Progress, TrainOptions, TrainReport, train, train_on},
};
