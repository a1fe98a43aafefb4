//! The training configuration ([`TrainConfig`]): layers, neuron model, optimizer, schedule and
//! data, read from YAML with every field checked before any work starts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Everything that defines a training run. Read it with [`TrainConfig::from_yaml_str`] or
/// [`TrainConfig::load`]; [`TrainConfig::quick`] is the small MLP the demo trains.
///
/// ```yaml
/// name: mnist-mlp
/// data: mnist            # or a folder of MNIST-layout IDX files
/// seed: 1
/// epochs: 10
/// batch_size: 100
/// activation: {kind: soft_lif, amplitude: 0.063, tau_rc: 0.022, tau_ref: 0.002, gamma: 0.02, noise: 10}
/// optimizer: {kind: adam, lr: 0.001}
/// schedule: {kind: cosine}
/// layers:
///   - {kind: dense, units: 500}
///   - {kind: dense, units: 300}
///   - {kind: dense, units: 10}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Name of the trained net.
    #[serde(default = "default_name")]
    pub name: String,
    /// `mnist` (the bundled copy) or a folder holding MNIST-layout IDX files.
    #[serde(default = "default_data")]
    pub data: String,
    /// Train on only the first `train_limit` training images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Test images evaluated after each epoch (all if absent; 0 skips the per-epoch test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// Seeds weight initialisation, example order, noise and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub epochs: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Number of classes; the last layer must have this many neurons.
    #[serde(default = "default_classes")]
    pub classes: usize,
    /// The nonlinearity of every layer, the output layer included.
    #[serde(default)]
    pub activation: ActivationConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// L2 penalty on weights (not biases), added to the gradient.
    #[serde(default)]
    pub weight_decay: f32,
    #[serde(default)]
    pub init: InitConfig,
    /// After the random init, rescale each layer's weights so that its pre-activations on the
    /// first training batch have this root-mean-square (LSUV-style); absent or 0 turns it off.
    #[serde(default = "default_init_rms", skip_serializing_if = "Option::is_none")]
    pub init_rms: Option<f32>,
    pub layers: Vec<LayerConfig>,
}

fn default_name() -> String {
    "net".to_string()
}
fn default_data() -> String {
    "mnist".to_string()
}
fn default_seed() -> u64 {
    1
}
fn default_batch_size() -> usize {
    100
}
fn default_init_rms() -> Option<f32> {
    Some(1.0)
}
fn default_classes() -> usize {
    10
}

/// The neuron nonlinearity used in training; all layers share it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActivationConfig {
    /// The soft-LIF rate curve (smoothed by `gamma`), trained with rate noise.
    SoftLif(#[serde(deserialize_with = "lifchip_net::de::tracked")] LifConfig),
    /// The hard LIF rate curve (`gamma` ignored); for comparison.
    Lif(#[serde(deserialize_with = "lifchip_net::de::tracked")] LifConfig),
    /// Rectified linear units (rate mode only; cannot be run as spikes).
    Relu,
}

impl Default for ActivationConfig {
    fn default() -> Self {
        ActivationConfig::SoftLif(LifConfig::default())
    }
}

/// LIF parameters; defaults are the paper's MNIST values (Hunsberger & Eliasmith 2015).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifConfig {
    /// Output scale `A` (output = `A` × rate in Hz).
    #[serde(default = "default_amplitude")]
    pub amplitude: f32,
    /// Membrane time constant, seconds.
    #[serde(default = "default_tau_rc")]
    pub tau_rc: f32,
    /// Refractory period, seconds.
    #[serde(default = "default_tau_ref")]
    pub tau_ref: f32,
    /// Smoothing of the soft-LIF curve.
    #[serde(default = "default_gamma")]
    pub gamma: f32,
    /// Gain `alpha`: `J = gain * (x + bias) + 1`.
    #[serde(default = "default_gain")]
    pub gain: f32,
    /// Standard deviation of the training rate noise in Hz (scaled by `amplitude`); 0 disables.
    #[serde(default = "default_noise")]
    pub noise: f32,
}

fn default_amplitude() -> f32 {
    0.063
}
fn default_tau_rc() -> f32 {
    0.022
}
fn default_tau_ref() -> f32 {
    0.002
}
fn default_gamma() -> f32 {
    0.02
}
fn default_gain() -> f32 {
    1.0
}
fn default_noise() -> f32 {
    10.0
}

impl Default for LifConfig {
    fn default() -> Self {
        LifConfig {
            amplitude: default_amplitude(),
            tau_rc: default_tau_rc(),
            tau_ref: default_tau_ref(),
            gamma: default_gamma(),
            gain: default_gain(),
            noise: default_noise(),
        }
    }
}

/// The optimizer and its learning rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "repr::Optimizer"
)]
pub enum OptimizerConfig {
    Adam {
        #[serde(default = "default_adam_lr")]
        lr: f32,
        #[serde(default = "default_beta1")]
        beta1: f32,
        #[serde(default = "default_beta2")]
        beta2: f32,
        #[serde(default = "default_epsilon")]
        epsilon: f32,
    },
    /// Stochastic gradient descent with (heavy-ball) momentum.
    Sgd {
        #[serde(default = "default_sgd_lr")]
        lr: f32,
        #[serde(default = "default_momentum")]
        momentum: f32,
    },
}

fn default_adam_lr() -> f32 {
    1e-3
}
fn default_beta1() -> f32 {
    0.9
}
fn default_beta2() -> f32 {
    0.999
}
fn default_epsilon() -> f32 {
    1e-8
}
fn default_sgd_lr() -> f32 {
    0.05
}
fn default_momentum() -> f32 {
    0.9
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam {
            lr: default_adam_lr(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_epsilon(),
        }
    }
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Adam { lr, .. } | OptimizerConfig::Sgd { lr, .. } => *lr,
        }
    }
}

/// How the learning rate changes over training.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "repr::Schedule"
)]
pub enum ScheduleConfig {
    #[default]
    Constant,
    /// Multiply the rate by `factor` every `every` epochs.
    Step { every: usize, factor: f32 },
    /// Cosine decay from the base rate to `min_lr` over all batches of the run.
    Cosine {
        #[serde(default)]
        min_lr: f32,
    },
}

impl ScheduleConfig {
    /// The learning rate at `progress` (fraction of the run done, 0..1) in `epoch` (0-based).
    pub fn lr_at(&self, base: f32, epoch: usize, progress: f64) -> f32 {
        match self {
            ScheduleConfig::Constant => base,
            ScheduleConfig::Step { every, factor } => {
                let steps = epoch / (*every).max(1);
                base * factor.powi(i32::try_from(steps).unwrap_or(i32::MAX))
            }
            ScheduleConfig::Cosine { min_lr } => {
                let p = progress.clamp(0.0, 1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                (f64::from(*min_lr) + (f64::from(base) - f64::from(*min_lr)) * cos) as f32
            }
        }
    }
}

/// Weight initialisation (biases start at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitConfig {
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))`.
    #[default]
    GlorotUniform,
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
}

/// A size given as one number (square) or `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    Square(usize),
    Rect([usize; 2]),
}

impl Size2 {
    pub fn pair(self) -> [usize; 2] {
        match self {
            Size2::Square(v) => [v, v],
            Size2::Rect(v) => v,
        }
    }
}

fn size_one() -> Size2 {
    Size2::Square(1)
}
fn size_zero() -> Size2 {
    Size2::Square(0)
}

/// One entry of `layers`. `dense` and `conv2d` each make a population of neurons; `avg_pool`,
/// `flatten` and `dropout` act on the output of the previous population and become part of
/// the next projection (dropout only in training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "repr::Layer"
)]
pub enum LayerConfig {
    Dense {
        units: usize,
    },
    Conv2d {
        filters: usize,
        kernel: Size2,
        #[serde(default = "size_one")]
        stride: Size2,
        #[serde(default = "size_zero")]
        padding: Size2,
    },
    AvgPool {
        size: Size2,
        /// Defaults to the size (non-overlapping windows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<Size2>,
    },
    Flatten,
    /// Inverted dropout: zero a fraction `rate` of the inputs and scale the rest by
    /// `1 / (1 - rate)`, so nothing changes at test time.
    Dropout {
        rate: f32,
    },
}

impl LayerConfig {
    pub fn kind_name(&self) -> &'static str {
        match self {
            LayerConfig::Dense { .. } => "dense",
            LayerConfig::Conv2d { .. } => "conv2d",
            LayerConfig::AvgPool { .. } => "avg_pool",
            LayerConfig::Flatten => "flatten",
            LayerConfig::Dropout { .. } => "dropout",
        }
    }

    /// True for layers that hold weights and make a population.
    pub fn is_weighted(&self) -> bool {
        matches!(self, LayerConfig::Dense { .. } | LayerConfig::Conv2d { .. })
    }
}

impl TrainConfig {
    /// The demo's fast path: a 784-100-10 soft-LIF MLP, one epoch on the first 30 000 MNIST
    /// training images with Adam (batch 32). About 95 % rate accuracy in 1-2 s (release
    /// build, 2 cores); no per-epoch test (`test_limit: 0`).
    pub fn quick() -> TrainConfig {
        TrainConfig {
            name: "mnist-quick".into(),
            data: default_data(),
            train_limit: Some(30_000),
            test_limit: Some(0),
            seed: 1,
            epochs: 1,
            batch_size: 32,
            classes: 10,
            activation: ActivationConfig::default(),
            optimizer: OptimizerConfig::Adam {
                lr: 2e-3,
                beta1: default_beta1(),
                beta2: default_beta2(),
                epsilon: default_epsilon(),
            },
            schedule: ScheduleConfig::Constant,
            weight_decay: 0.0,
            init: InitConfig::GlorotUniform,
            init_rms: default_init_rms(),
            layers: vec![
                LayerConfig::Dense { units: 100 },
                LayerConfig::Dense { units: 10 },
            ],
        }
    }

    /// Parses and checks a config from YAML text.
    pub fn from_yaml_str(text: &str) -> Result<TrainConfig, TrainError> {
        Self::parse(text, Path::new("<string>"))
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<TrainConfig, TrainError> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        Self::parse(&text, path).map_err(|e| match e {
            TrainError::Config { field, message } => TrainError::ConfigFile {
                path: path.to_path_buf(),
                field,
                message,
            },
            other => other,
        })
    }

    /// The config as YAML (round-trips through [`TrainConfig::from_yaml_str`]).
    pub fn to_yaml_string(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_yaml::to_string(self).unwrap_or_default()
    }

    fn parse(text: &str, path: &Path) -> Result<TrainConfig, TrainError> {
        lifchip_files::check_yaml_nesting(text, lifchip_files::MAX_NESTING).map_err(|e| {
            TrainError::ConfigYaml {
                path: path.to_path_buf(),
                line: e.line,
                column: e.column,
                message: e.to_string(),
            }
        })?;
        let config: TrainConfig =
            lifchip_net::de::from_yaml_str(text).map_err(|e| TrainError::ConfigYaml {
                path: path.to_path_buf(),
                line: e.line,
                column: e.column,
                message: e.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value's range; layer shapes are checked against the data in training.
    pub fn validate(&self) -> Result<(), TrainError> {
        fn err(field: impl Into<String>, message: impl Into<String>) -> TrainError {
            TrainError::config(field, message)
        }
        if self.name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        if self.data.trim().is_empty() {
            return Err(err("data", "must be `mnist` or a folder path"));
        }
        if self.epochs == 0 {
            return Err(err("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(err("batch_size", "must be at least 1"));
        }
        if self.train_limit == Some(0) {
            return Err(err(
                "train_limit",
                "must be at least 1 (leave it out to use every image)",
            ));
        }
        if self.classes < 2 {
            return Err(err(
                "classes",
                format!("is {}, must be at least 2", self.classes),
            ));
        }
        positive("weight_decay", self.weight_decay, true)?;
        if let Some(rms) = self.init_rms {
            positive("init_rms", rms, true)?;
        }
        match &self.activation {
            ActivationConfig::SoftLif(p) | ActivationConfig::Lif(p) => {
                positive("activation.amplitude", p.amplitude, false)?;
                positive("activation.tau_rc", p.tau_rc, false)?;
                positive("activation.tau_ref", p.tau_ref, true)?;
                positive("activation.gain", p.gain, false)?;
                positive("activation.noise", p.noise, true)?;
                if matches!(self.activation, ActivationConfig::SoftLif(_)) {
                    positive("activation.gamma", p.gamma, false)?;
                }
            }
            ActivationConfig::Relu => {}
        }
        match &self.optimizer {
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => {
                positive("optimizer.lr", *lr, false)?;
                unit_interval("optimizer.beta1", *beta1)?;
                unit_interval("optimizer.beta2", *beta2)?;
                positive("optimizer.epsilon", *epsilon, false)?;
            }
            OptimizerConfig::Sgd { lr, momentum } => {
                positive("optimizer.lr", *lr, false)?;
                unit_interval("optimizer.momentum", *momentum)?;
            }
        }
        match &self.schedule {
            ScheduleConfig::Constant => {}
            ScheduleConfig::Step { every, factor } => {
                if *every == 0 {
                    return Err(err("schedule.every", "must be at least 1 epoch"));
                }
                positive("schedule.factor", *factor, false)?;
            }
            ScheduleConfig::Cosine { min_lr } => {
                positive("schedule.min_lr", *min_lr, true)?;
                if *min_lr > self.optimizer.lr() {
                    return Err(err("schedule.min_lr", "is larger than optimizer.lr"));
                }
            }
        }
        if self.layers.is_empty() {
            return Err(err("layers", "is empty; give at least one dense layer"));
        }
        for (k, layer) in self.layers.iter().enumerate() {
            let field = |name: &str| format!("layers[{k}].{name}");
            match layer {
                LayerConfig::Dense { units } => in_range(&field("units"), *units, MAX_UNITS)?,
                LayerConfig::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                } => {
                    for v in padding.pair() {
                        if v > MAX_KERNEL {
                            in_range(&field("padding"), v, MAX_KERNEL)?;
                        }
                    }
                    in_range(&field("filters"), *filters, MAX_UNITS)?;
                    for v in kernel.pair() {
                        in_range(&field("kernel"), v, MAX_KERNEL)?;
                    }
                    for v in stride.pair() {
                        in_range(&field("stride"), v, MAX_KERNEL)?;
                    }
                }
                LayerConfig::AvgPool { size, stride } => {
                    for v in size.pair() {
                        in_range(&field("size"), v, MAX_KERNEL)?;
                    }
                    for v in stride.map_or([1, 1], Size2::pair) {
                        in_range(&field("stride"), v, MAX_KERNEL)?;
                    }
                }
                LayerConfig::Flatten => {}
                LayerConfig::Dropout { rate } => {
                    if !(rate.is_finite() && (0.0..1.0).contains(rate)) {
                        return Err(err(field("rate"), format!("is {rate}, must be in [0, 1)")));
                    }
                }
            }
        }
        match self.layers.iter().rposition(LayerConfig::is_weighted) {
            None => return Err(err("layers", "has no dense or conv2d layer")),
            Some(last) if last + 1 != self.layers.len() => {
                let k = last + 1;
                return Err(err(
                    format!("layers[{k}]"),
                    format!(
                        "{} after the last weighted layer has no layer to feed; the last layer must be dense or conv2d",
                        self.layers[k].kind_name()
                    ),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

fn positive(field: &str, v: f32, zero_ok: bool) -> Result<(), TrainError> {
    let ok = v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0));
    if ok {
        Ok(())
    } else {
        let what = if zero_ok {
            "zero or positive"
        } else {
            "positive"
        };
        Err(TrainError::config(
            field,
            format!("is {v}, must be a finite {what} number"),
        ))
    }
}

fn unit_interval(field: &str, v: f32) -> Result<(), TrainError> {
    if v.is_finite() && (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(TrainError::config(
            field,
            format!("is {v}, must be in [0, 1)"),
        ))
    }
}

/// The largest `units` of a dense layer and `filters` of a conv2d layer (docs/interfaces.md,
/// Limits): weights are allocated from these before any data is read.
pub const MAX_UNITS: usize = 65_536;

/// The largest kernel side and stride of a conv2d or avg_pool layer.
pub const MAX_KERNEL: usize = 1024;

fn at_least_one(field: &str, v: usize) -> Result<(), TrainError> {
    if v >= 1 {
        Ok(())
    } else {
        Err(TrainError::config(field, "must be at least 1"))
    }
}

fn in_range(field: &str, v: usize, limit: usize) -> Result<(), TrainError> {
    at_least_one(field, v)?;
    if v > limit {
        return Err(TrainError::config(
            field,
            format!("is {v}, too large (limit {limit}, docs/interfaces.md#limits)"),
        ));
    }
    Ok(())
}

/// How the tagged enums of the config are read: the same fields, each variant's content read by
/// `lifchip_net::de::tracked`, so that an error names the field (`layers[1].units: …`) rather
/// than the list. The `From` impls name every field, so the two cannot drift apart silently.
mod repr {
    use lifchip_net::de::tracked;
    use serde::Deserialize;

    use super::{LayerConfig, OptimizerConfig, ScheduleConfig, Size2};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Nothing {}

    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub(super) enum Layer {
        Dense(#[serde(deserialize_with = "tracked")] Dense),
        Conv2d(#[serde(deserialize_with = "tracked")] Conv2d),
        AvgPool(#[serde(deserialize_with = "tracked")] AvgPool),
        Flatten(#[serde(deserialize_with = "tracked")] Nothing),
        Dropout(#[serde(deserialize_with = "tracked")] Dropout),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Dense {
        units: usize,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Conv2d {
        filters: usize,
        kernel: Size2,
        #[serde(default = "super::size_one")]
        stride: Size2,
        #[serde(default = "super::size_zero")]
        padding: Size2,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct AvgPool {
        size: Size2,
        #[serde(default)]
        stride: Option<Size2>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Dropout {
        rate: f32,
    }

    impl From<Layer> for LayerConfig {
        fn from(layer: Layer) -> Self {
            match layer {
                Layer::Dense(Dense { units }) => LayerConfig::Dense { units },
                Layer::Conv2d(Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                }) => LayerConfig::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                },
                Layer::AvgPool(AvgPool { size, stride }) => LayerConfig::AvgPool { size, stride },
                Layer::Flatten(Nothing {}) => LayerConfig::Flatten,
                Layer::Dropout(Dropout { rate }) => LayerConfig::Dropout { rate },
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub(super) enum Optimizer {
        Adam(#[serde(deserialize_with = "tracked")] Adam),
        Sgd(#[serde(deserialize_with = "tracked")] Sgd),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Adam {
        #[serde(default = "super::default_adam_lr")]
        lr: f32,
        #[serde(default = "super::default_beta1")]
        beta1: f32,
        #[serde(default = "super::default_beta2")]
        beta2: f32,
        #[serde(default = "super::default_epsilon")]
        epsilon: f32,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Sgd {
        #[serde(default = "super::default_sgd_lr")]
        lr: f32,
        #[serde(default = "super::default_momentum")]
        momentum: f32,
    }

    impl From<Optimizer> for OptimizerConfig {
        fn from(o: Optimizer) -> Self {
            match o {
                Optimizer::Adam(Adam {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                }) => OptimizerConfig::Adam {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                },
                Optimizer::Sgd(Sgd { lr, momentum }) => OptimizerConfig::Sgd { lr, momentum },
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub(super) enum Schedule {
        Constant(#[serde(deserialize_with = "tracked")] Nothing),
        Step(#[serde(deserialize_with = "tracked")] Step),
        Cosine(#[serde(deserialize_with = "tracked")] Cosine),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Step {
        every: usize,
        factor: f32,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Cosine {
        #[serde(default)]
        min_lr: f32,
    }

    impl From<Schedule> for ScheduleConfig {
        fn from(s: Schedule) -> Self {
            match s {
                Schedule::Constant(Nothing {}) => ScheduleConfig::Constant,
                Schedule::Step(Step { every, factor }) => ScheduleConfig::Step { every, factor },
                Schedule::Cosine(Cosine { min_lr }) => ScheduleConfig::Cosine { min_lr },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(yaml: &str, expect: &str) {
        let e = TrainConfig::from_yaml_str(yaml).unwrap_err().to_string();
        assert!(e.contains(expect), "error {e:?} should contain {expect:?}");
    }

    /// A wrong value inside a tagged entry names its field, with no location pointing at the
    /// list and none printed twice (issue 15).
    #[test]
    fn type_errors_name_the_field_inside_tagged_entries() {
        let path = Path::new("cfg.yaml");
        let base = "epochs: 1\nlayers:\n  - {kind: dense, units: 10}\n";
        for (tail, expect) in [
            (
                "  - kind: dense\n    units: -16\n",
                "cfg.yaml: layers[1].units: invalid value: integer `-16`, expected usize",
            ),
            (
                "  - {kind: conv2d, filters: 2, kernel: [3, x]}\n",
                "cfg.yaml: layers[1].kernel: ",
            ),
            (
                "optimizer: {kind: sgd, momentum: [1]}\n",
                "cfg.yaml: optimizer.momentum: invalid type: sequence, expected f32",
            ),
            (
                "activation: {kind: lif, tau_rc: x}\n",
                "cfg.yaml: activation.tau_rc: invalid type: string \"x\", expected f32",
            ),
            (
                "schedule: {kind: step, every: 2, factor: 0.5, extra: 1}\n",
                "cfg.yaml: schedule: unknown field `extra`",
            ),
        ] {
            let e = TrainConfig::parse(&format!("{base}{tail}"), path)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(expect), "{e:?} should start with {expect:?}");
            assert!(!e.contains("line"), "{e}");
        }
        // Where serde_yaml's location is that of the field, it stays.
        let e = TrainConfig::parse("epochs: -1\nlayers: []\n", path)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cfg.yaml:1:9: epochs: invalid "), "{e}");
    }

    #[test]
    fn a_value_out_of_range_in_a_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg.yaml");
        std::fs::write(
            &path,
            "epochs: 2\ninit_rms: -1\nlayers: [{kind: dense, units: 10}]\n",
        )
        .unwrap();
        let e = TrainConfig::load(&path).unwrap_err();
        assert!(matches!(e, TrainError::ConfigFile { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("init_rms"), "{e}");
    }

    #[test]
    fn deeply_nested_config_is_refused_quickly() {
        let text = format!("epochs: 2\nlayers: {}", "[".repeat(100_000));
        let start = std::time::Instant::now();
        check_err(&text, "nesting deeper than 64 levels at line 2");
        assert!(
            start.elapsed().as_secs_f64() < 1.0,
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn defaults_are_the_papers() {
        let c =
            TrainConfig::from_yaml_str("epochs: 2\nlayers: [{kind: dense, units: 10}]").unwrap();
        let ActivationConfig::SoftLif(p) = &c.activation else {
            panic!("default activation is soft_lif")
        };
        assert_eq!(
            (p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain, p.noise),
            (0.063, 0.022, 0.002, 0.02, 1.0, 10.0)
        );
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.data, "mnist");
        assert!(matches!(c.optimizer, OptimizerConfig::Adam { lr, .. } if lr == 1e-3));
    }

    #[test]
    fn full_config_round_trips() {
        let yaml = r#"
name: conv
data: /some/folder
seed: 7
epochs: 3
batch_size: 50
train_limit: 1000
test_limit: 0
activation: {kind: lif, tau_rc: 0.05, tau_ref: 0.001, gain: 0.825, noise: 0}
optimizer: {kind: sgd, lr: 0.1, momentum: 0.5}
schedule: {kind: step, every: 2, factor: 0.5}
weight_decay: 0.0001
init: he_uniform
layers:
  - {kind: conv2d, filters: 4, kernel: 5, stride: [1, 2], padding: 2}
  - {kind: avg_pool, size: 2}
  - {kind: flatten}
  - {kind: dropout, rate: 0.5}
  - {kind: dense, units: 10}
"#;
        let c = TrainConfig::from_yaml_str(yaml).unwrap();
        assert_eq!(c.layers.len(), 5);
        assert_eq!(
            c.layers[0],
            LayerConfig::Conv2d {
                filters: 4,
                kernel: Size2::Square(5),
                stride: Size2::Rect([1, 2]),
                padding: Size2::Square(2)
            }
        );
        let back = TrainConfig::from_yaml_str(&c.to_yaml_string()).unwrap();
        assert_eq!(back, c);
        let relu = TrainConfig::from_yaml_str(
            "epochs: 1\nactivation: {kind: relu}\nlayers: [{kind: dense, units: 10}]",
        )
        .unwrap();
        assert_eq!(relu.activation, ActivationConfig::Relu);
        assert_eq!(
            TrainConfig::from_yaml_str(&TrainConfig::quick().to_yaml_string()).unwrap(),
            TrainConfig::quick()
        );
    }

    #[test]
    fn errors_name_the_field() {
        check_err(
            "epochs: 1\nlayers: [{kind: dense, units: 10}]\nbogus: 1",
            "unknown field `bogus`",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: dense, unit: 10}]",
            "unknown field `unit`",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: dense, units: 0}]",
            "layers[0].units",
        );
        check_err("epochs: 0\nlayers: [{kind: dense, units: 10}]", "`epochs`");
        check_err(
            "epochs: 1\nlayers: [{kind: dense, units: 100000000}]",
            "is 100000000, too large (limit 65536",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: conv2d, filters: 4, kernel: 3, padding: 99999999}, {kind: dense, units: 10}]",
            "layers[0].padding",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: dense, units: 10}, {kind: avg_pool, size: 2}]",
            "layers[1]",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: dropout, rate: 1.0}, {kind: dense, units: 10}]",
            "layers[0].rate",
        );
        check_err("epochs: 1\nlayers: []", "`layers`");
        check_err(
            "epochs: 1\noptimizer: {kind: adam, lr: -1}\nlayers: [{kind: dense, units: 10}]",
            "optimizer.lr",
        );
        check_err(
            "epochs: 1\nactivation: {kind: soft_lif, tau_rc: 0}\nlayers: [{kind: dense, units: 10}]",
            "activation.tau_rc",
        );
        check_err(
            "epochs: 1\nactivation: {kind: soft_lif, gamma: .nan}\nlayers: [{kind: dense, units: 10}]",
            "activation.gamma",
        );
        check_err(
            "epochs: 1\nschedule: {kind: step, every: 0, factor: 0.5}\nlayers: [{kind: dense, units: 10}]",
            "schedule.every",
        );
        check_err(
            "epochs: 1\nlayers: [{kind: maxpool, size: 2}]",
            "unknown variant `maxpool`",
        );
        // YAML errors carry a line and column where serde_yaml knows the field's, the path
        // of the field always.
        check_err(
            "epochs: 1\nlayers: []\nseed: ten",
            "<string>:3:7: seed: invalid type",
        );
        check_err(
            "epochs: 1\nlayers:\n  - {kind: dense, units: ten}",
            "<string>: layers[0].units: invalid type",
        );
    }

    #[test]
    fn schedules() {
        let step = ScheduleConfig::Step {
            every: 2,
            factor: 0.1,
        };
        assert_eq!(step.lr_at(1.0, 0, 0.0), 1.0);
        assert_eq!(step.lr_at(1.0, 1, 0.3), 1.0);
        assert!((step.lr_at(1.0, 2, 0.5) - 0.1).abs() < 1e-7);
        let cos = ScheduleConfig::Cosine { min_lr: 0.0 };
        assert_eq!(cos.lr_at(2.0, 0, 0.0), 2.0);
        assert!((cos.lr_at(2.0, 0, 0.5) - 1.0).abs() < 1e-6);
        assert!(cos.lr_at(2.0, 0, 1.0).abs() < 1e-6);
    }
}
