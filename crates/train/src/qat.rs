//! Quantization-aware fine-tuning (QAT): the target's weight quantization in the forward pass,
//! the straight-through estimator in the backward pass.
//!
//! # The grid
//! The compiler (`lifchip-compiler`, `quantize_float_population`) stores each projection's
//! weights as integers of the target's storable grid `target.weight_grid(sign)` → `WeightGrid
//! { lo, hi, step }`, where `sign` is the projection's [`SignClass`] (all weights `>= 0`, all
//! `<= 0`, or mixed; Loihi's sign mode gives a mixed-sign projection one magnitude bit less,
//! i.e. twice the step). A float weight `w` becomes `q = clamp(round(w·scale / step)·step, lo, hi)` with
//! rounding half away from zero, and stands for `q / scale`.
//!
//! This module uses the same range, sign class, rounding and clamping, with the **max-abs
//! scale** `scale = wlim / wmax`, `wlim = max(hi, −lo)`, `wmax` the largest `|w|` of the layer:
//! the largest weight maps to the top of the range. The compiler's scale is this one times a
//! factor `r` in `(1/2, 1]`: it also has to fit the threshold and bias formats and it realises
//! the scale with a power-of-two weight exponent, so it picks the smallest exponent at which
//! the largest weight still fits (`r = 1` when the weight range binds). The QAT grid is thus the
//! max-abs approximation of the compiler's; weights on it land on the compiler's grid exactly
//! when `r = 1` and are re-rounded otherwise.
//!
//! The grid is computed per weighted op, i.e. per projection for the nets this crate trains
//! (one dense, conv2d or sparse op per projection). The compiler computes it on the expanded
//! synapse matrix: for a non-overlapping average pool before the weights, that matrix is the
//! weights times `1 / (kh·kw)`, the same grid up to the scale. Biases are not quantized (the
//! chip has separate bias formats).
//!
//! # Fine-tuning
//! [`fine_tune`] / [`fine_tune_on`] continue training a float net (one this crate trained, or
//! any feed-forward chain of soft-LIF/ReLU populations with one incoming projection each):
//! before each batch the float (master) weights are put aside and their quantized copies
//! swapped in; forward and backward passes run on the quantized weights; the master weights
//! are restored and the optimizer applies the gradients (taken with respect to the quantized
//! weights: the straight-through estimator, identity also where a weight is clipped) to them.
//! After the last epoch the weights are snapped to the grid (`snap: true`, the default), so the
//! saved net is exactly what the last forward passes saw, and `lifchip eval` of it measures the
//! quantized rate accuracy.

use std::collections::BTreeMap;

use lifchip_data::{DataSource, Dataset, Split};
use lifchip_net::{LinearOp, Net, Tensor};
use lifchip_target::{SignClass, Target, WeightEncoding, WeightGrid};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::config::{OptimizerConfig, ScheduleConfig};
use crate::eval::{Evaluation, eval_rate};
use crate::kernels::Kernel;
use crate::model::Model;
use crate::train::{Progress, TrainOptions, TrainReport};

/// The quantization grid of one layer: chip units per float unit, and the storable range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerGrid {
    pub scale: f64,
    pub range: WeightGrid,
}

impl LayerGrid {
    /// The float value `w` stands for after quantization.
    pub fn quantize(&self, w: f32) -> f32 {
        let WeightGrid { lo, hi, step } = self.range;
        let raw = (f64::from(w) * self.scale / step as f64).round() as i64 * step;
        (raw.clamp(lo, hi) as f64 / self.scale) as f32
    }
}

/// Settings of a QAT fine-tuning run; the weight format comes from a target
/// ([`QatConfig::from_target`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QatConfig {
    /// Name of the target the grid comes from (for reports and the net's metadata).
    pub target: String,
    /// `precision.weight_bits` of the target.
    pub weight_bits: u32,
    /// `precision.weight_encoding` of the target.
    pub encoding: WeightEncoding,
    /// The storable grid for excitatory, inhibitory and mixed layers (`target.weight_grid`).
    pub ranges: [WeightGrid; 3],
    /// `mnist` or a folder of MNIST-layout IDX files (the training split is used).
    pub data: String,
    pub train_limit: Option<usize>,
    /// Test images evaluated (quantized) after each epoch; 0 skips it.
    pub test_limit: Option<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam learning rate, decayed to 0 over the run by a cosine.
    pub lr: f32,
    /// Training rate noise (Hz × amplitude), as `activation.noise` of a training config.
    pub noise: f32,
    pub seed: u64,
    /// Snap the saved weights to the grid after the last epoch.
    pub snap: bool,
}

impl QatConfig {
    /// The grid of `target` with the default schedule: 2 epochs of Adam at 1e-4 (cosine to 0),
    /// batch 100, noise 10 Hz, seed 1, all of bundled MNIST, snapping at the end.
    pub fn from_target(target: &Target) -> QatConfig {
        QatConfig {
            target: target.name.clone(),
            weight_bits: target.precision.weight_bits,
            encoding: target.precision.weight_encoding,
            ranges: [
                target.weight_grid(SignClass::Excitatory),
                target.weight_grid(SignClass::Inhibitory),
                target.weight_grid(SignClass::Mixed),
            ],
            data: "mnist".into(),
            train_limit: None,
            test_limit: Some(0),
            epochs: 2,
            batch_size: 100,
            lr: 1e-4,
            noise: 10.0,
            seed: 1,
            snap: true,
        }
    }

    /// The grid for a layer of sign class `sign`.
    pub fn range(&self, sign: SignClass) -> WeightGrid {
        match sign {
            SignClass::Excitatory => self.ranges[0],
            SignClass::Inhibitory => self.ranges[1],
            SignClass::Mixed => self.ranges[2],
        }
    }

    /// The max-abs grid of a layer's weights; `None` when they are all zero (nothing to
    /// quantize).
    pub fn grid(&self, w: &[f32]) -> Option<LayerGrid> {
        let wmax = w.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let range = self.range(SignClass::of(w));
        let wlim = range.max_magnitude() as f64;
        (wmax > 0.0 && wmax.is_finite() && wlim > 0.0).then(|| LayerGrid {
            scale: wlim / wmax,
            range,
        })
    }

    /// Writes the quantized copy of `w` into `out` (same length).
    pub fn quantize_into(&self, w: &[f32], out: &mut [f32]) {
        match self.grid(w) {
            Some(g) => out.iter_mut().zip(w).for_each(|(o, &v)| *o = g.quantize(v)),
            None => out.copy_from_slice(w),
        }
    }

    /// The quantized copy of `w`.
    pub fn quantize(&self, w: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; w.len()];
        self.quantize_into(w, &mut out);
        out
    }

    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<(), TrainError> {
        let err = |f: &str, m: String| Err(TrainError::config(format!("qat.{f}"), m));
        if self.epochs == 0 {
            return err("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return err("batch_size", "must be at least 1".into());
        }
        if self.train_limit == Some(0) {
            return err("train_limit", "must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return err("lr", format!("is {}, must be a positive number", self.lr));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return err(
                "noise",
                format!("is {}, must be zero or positive", self.noise),
            );
        }
        if self.ranges.iter().any(|r| r.step <= 0 || r.lo > r.hi) {
            return err("ranges", format!("{:?} is not a weight range", self.ranges));
        }
        Ok(())
    }
}

/// A copy of `net` whose weights are snapped to the QAT grid (biases untouched): what the QAT
/// forward pass computes with. Each weighted op (dense, conv2d, sparse) gets its own grid.
pub fn quantize_net(net: &Net, qat: &QatConfig) -> Net {
    let mut out = net.clone();
    for pr in &mut out.projections {
        for op in &mut pr.ops {
            if let Some(w) = op_weights_mut(op) {
                let q = qat.quantize(&w.data);
                *w = Tensor::new(w.shape.clone(), q);
            }
        }
    }
    out
}

/// Rate-mode accuracy of `net` with its weights quantized to the QAT grid.
pub fn eval_quantized(
    net: &Net,
    qat: &QatConfig,
    data: &Dataset,
) -> Result<Evaluation, TrainError> {
    eval_rate(&quantize_net(net, qat), data)
}

fn op_weights_mut(op: &mut LinearOp) -> Option<&mut Tensor> {
    match op {
        LinearOp::Dense { weights }
        | LinearOp::Conv2d { weights, .. }
        | LinearOp::Sparse { weights, .. } => Some(weights),
        LinearOp::AvgPool { .. } | LinearOp::Flatten => None,
    }
}

/// Puts the quantized weights into `model`, returning the float master weights per stage.
pub(crate) fn swap_in(model: &mut Model, qat: &QatConfig) -> Vec<Option<Vec<f32>>> {
    model
        .stages
        .iter_mut()
        .map(|stage| {
            let w = stage.ops.last_mut().and_then(Kernel::weights_mut)?;
            let slice = w.as_slice_mut()?;
            let master = slice.to_vec();
            qat.quantize_into(&master, slice);
            Some(master)
        })
        .collect()
}

/// Puts the master weights of [`swap_in`] back.
pub(crate) fn restore(model: &mut Model, masters: Vec<Option<Vec<f32>>>) {
    for (stage, master) in model.stages.iter_mut().zip(masters) {
        if let (Some(m), Some(s)) = (
            master,
            stage
                .ops
                .last_mut()
                .and_then(Kernel::weights_mut)
                .and_then(|w| w.as_slice_mut()),
        ) {
            s.copy_from_slice(&m);
        }
    }
}

/// Loads the data `qat` names and fine-tunes `net` ([`fine_tune_on`]).
pub fn fine_tune(
    net: &Net,
    qat: &QatConfig,
    progress: &mut dyn FnMut(&Progress),
    options: &TrainOptions,
) -> Result<(Net, TrainReport), TrainError> {
    qat.validate()?;
    let source =
        DataSource::parse(&qat.data).map_err(|e| TrainError::config("qat.data", e.to_string()))?;
    let load = |split: Split, limit: Option<usize>| {
        lifchip_data::load(&source, split, limit).map_err(|e| TrainError::Data {
            what: format!("{split} split of {source}"),
            source: e,
        })
    };
    let train_set = load(Split::Train, qat.train_limit)?;
    let test_set = match qat.test_limit {
        Some(0) => None,
        limit => Some(load(Split::Test, limit)?),
    };
    fine_tune_on(net, qat, &train_set, test_set.as_ref(), progress, options)
}

/// Fine-tunes `net` for `qat.epochs` with the quantized weights in the forward pass; returns
/// the net with the new (snapped, when `qat.snap`) weights and biases, everything else as it
/// was, and a report whose test accuracies are those of the quantized net.
pub fn fine_tune_on(
    net: &Net,
    qat: &QatConfig,
    train: &Dataset,
    test: Option<&Dataset>,
    progress: &mut dyn FnMut(&Progress),
    options: &TrainOptions,
) -> Result<(Net, TrainReport), TrainError> {
    qat.validate()?;
    let mut model = Model::from_net(net, qat.noise)?;
    let settings = crate::train::LoopSettings {
        name: net.name.clone(),
        seed: qat.seed,
        epochs: qat.epochs,
        batch_size: qat.batch_size,
        optimizer: OptimizerConfig::Adam {
            lr: qat.lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        },
        schedule: ScheduleConfig::Cosine { min_lr: 0.0 },
        weight_decay: 0.0,
        classes: model
            .stages
            .last()
            .map_or(0, |s| s.bias.len() * s.bias_block),
        qat: Some(qat.clone()),
    };
    let mut base = net.clone();
    let snapshot = |model: &Model, meta: BTreeMap<String, String>| {
        let mut n = base.clone();
        model.write_back(&mut n)?;
        n.meta.extend(meta);
        Ok(n)
    };
    let outcome = crate::train::run_loop(
        &mut model, &settings, train, test, progress, options, &snapshot,
    )?;
    if qat.snap {
        let _ = swap_in(&mut model, qat);
    }
    model.write_back(&mut base)?;
    let test_eval = match test {
        Some(t) => Some(eval_quantized(&base, qat, t)?),
        None => None,
    };
    base.meta.extend(qat_meta(qat, outcome.epochs.len()));
    if let Some(e) = &test_eval {
        base.meta.insert(
            "qat_rate_test_accuracy".into(),
            format!("{:.4}", e.accuracy),
        );
    }
    base.validate()?;
    let report = outcome.report(&settings, &model, test_eval.as_ref());
    Ok((base, report))
}

fn qat_meta(qat: &QatConfig, epochs: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("qat_target".into(), qat.target.clone());
    m.insert("qat_weight_bits".into(), qat.weight_bits.to_string());
    m.insert(
        "qat_weight_encoding".into(),
        match qat.encoding {
            WeightEncoding::Signed => "signed",
            WeightEncoding::LoihiSignMode => "loihi_sign_mode",
        }
        .into(),
    );
    m.insert("qat_epochs".into(), epochs.to_string());
    m.insert("qat_lr".into(), format!("{:e}", qat.lr));
    m.insert("qat_seed".into(), qat.seed.to_string());
    m.insert("qat_snapped".into(), qat.snap.to_string());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(bits: u32) -> QatConfig {
        let mut t = lifchip_target::builtin("loihi-like").expect("built-in target");
        t.precision.weight_encoding = WeightEncoding::Signed;
        t.precision.weight_bits = bits;
        QatConfig::from_target(&t)
    }

    fn loihi(bits: u32) -> QatConfig {
        let mut t = lifchip_target::builtin("loihi-like").expect("built-in target");
        t.precision.weight_bits = bits;
        QatConfig::from_target(&t)
    }

    #[test]
    fn signed_grid_values_and_rounding() {
        // 3-bit signed: -4..=3, wlim = 4, wmax 1 -> scale 4, values are k / 4.
        let q = signed(3);
        assert_eq!(
            q.range(SignClass::Mixed),
            WeightGrid {
                lo: -4,
                hi: 3,
                step: 1
            }
        );
        let w = [1.0f32, -1.0, 0.3, 0.374, 0.375, -0.125, 0.0, 0.12];
        let out = q.quantize(&w);
        // 1.0 -> 4 clipped to 3; -1.0 -> -4; 0.3*4 = 1.2 -> 1; 0.375*4 = 1.5 -> 2 (half away).
        assert_eq!(out, vec![0.75, -1.0, 0.25, 0.25, 0.5, -0.25, 0.0, 0.0]);
    }

    #[test]
    fn loihi_sign_modes_give_mixed_layers_one_bit_less() {
        let q = loihi(4);
        // 4 of 8 bits: step 16 for one sign, 32 mixed; magnitudes up to 240 / 224.
        assert_eq!(
            q.range(SignClass::Excitatory),
            WeightGrid {
                lo: 0,
                hi: 240,
                step: 16
            }
        );
        assert_eq!(
            q.range(SignClass::Inhibitory),
            WeightGrid {
                lo: -240,
                hi: 0,
                step: 16
            }
        );
        assert_eq!(
            q.range(SignClass::Mixed),
            WeightGrid {
                lo: -256,
                hi: 224,
                step: 32
            }
        );
        // All positive: 15 levels above zero.
        let pos: Vec<f32> = (0..=30).map(|k| k as f32 / 30.0).collect();
        let levels = |v: &[f32]| {
            let mut l: Vec<i64> = v.iter().map(|x| (x * 1e4).round() as i64).collect();
            l.sort_unstable();
            l.dedup();
            l.len()
        };
        assert_eq!(levels(&q.quantize(&pos)), 16);
        // Mixed: the grid has twice the step, so fewer levels over the same span.
        let mixed: Vec<f32> = (-30..=30).map(|k| k as f32 / 30.0).collect();
        let out = q.quantize(&mixed);
        assert!(levels(&out) <= 16, "{}", levels(&out));
        // The largest negative weight maps to lo = -256 (= -wlim), the positive side clips at 224.
        assert_eq!(out[0], -1.0);
        assert!((out[60] - 224.0 / 256.0).abs() < 1e-6, "{}", out[60]);
        // 2 bits mixed: {-256, -128, 0, 128}: a ternary-plus layer.
        let q2 = loihi(2);
        assert_eq!(
            q2.range(SignClass::Mixed),
            WeightGrid {
                lo: -256,
                hi: 128,
                step: 128
            }
        );
        let out = q2.quantize(&[-1.0, -0.3, 0.2, 0.26, 1.0]);
        assert_eq!(out, vec![-1.0, -0.5, 0.0, 0.5, 0.5]);
    }

    #[test]
    fn clamping_idempotence_and_zero_layers() {
        for q in [
            signed(2),
            signed(3),
            signed(5),
            loihi(2),
            loihi(3),
            loihi(8),
        ] {
            let w: Vec<f32> = (0..200)
                .map(|k| ((k * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let once = q.quantize(&w);
            let twice = q.quantize(&once);
            // Quantizing a quantized layer changes nothing (the grid of the quantized copy can
            // only differ when the largest weight was clipped, which rescales exactly).
            let g = q.grid(&once).unwrap();
            for (&a, &b) in once.iter().zip(&twice) {
                assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} {b} {g:?}");
            }
            let wmax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(once.iter().all(|v| v.abs() <= wmax * 1.000_001));
            // Every value is an integer multiple of the step within the range.
            let g = q.grid(&w).unwrap();
            for &v in &once {
                let units = f64::from(v) * g.scale;
                assert!(
                    (units / g.range.step as f64 - (units / g.range.step as f64).round()).abs()
                        < 1e-3
                );
                assert!(units >= g.range.lo as f64 - 1e-3 && units <= g.range.hi as f64 + 1e-3);
            }
        }
        let q = signed(4);
        assert_eq!(q.quantize(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert!(q.grid(&[0.0]).is_none());
        assert_eq!(SignClass::of(&[0.0, 1.0]), SignClass::Excitatory);
        assert_eq!(SignClass::of(&[0.0, -1.0]), SignClass::Inhibitory);
        assert_eq!(SignClass::of(&[-1.0, 1.0]), SignClass::Mixed);
        assert_eq!(SignClass::of(&[]), SignClass::Excitatory);
    }

    #[test]
    fn more_bits_quantize_more_finely() {
        let w: Vec<f32> = (0..500)
            .map(|k| ((k * 7919 % 997) as f32 / 997.0 - 0.5).powi(3))
            .collect();
        let err = |q: &QatConfig| {
            let out = q.quantize(&w);
            let e: f64 = out
                .iter()
                .zip(&w)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            let r: f64 = w.iter().map(|b| f64::from(*b).powi(2)).sum();
            (e / r).sqrt()
        };
        let errs: Vec<f64> = (2..=8).map(|b| err(&loihi(b))).collect();
        assert!(errs.windows(2).all(|p| p[1] <= p[0]), "{errs:?}");
        assert!(errs[6] < 0.02 && errs[0] > 0.3, "{errs:?}");
    }

    fn small_model() -> Model {
        let cfg = crate::TrainConfig::from_yaml_str(
            "epochs: 1\nclasses: 3\nactivation: {kind: soft_lif, gamma: 0.2, noise: 0}\nlayers: [{kind: dense, units: 6}, {kind: dense, units: 3}]",
        )
        .unwrap();
        Model::new(&cfg, [1, 3, 4]).unwrap()
    }

    /// The straight-through estimator: the gradient QAT applies is the gradient of the loss at
    /// the quantized weights, and the float weights come back unchanged after the swap.
    #[test]
    fn ste_gradients_are_those_of_the_quantized_weights() {
        let q = loihi(3);
        let mut model = small_model();
        let masters_before: Vec<Vec<f32>> = model
            .stages
            .iter()
            .map(|s| s.weights().unwrap().iter().copied().collect())
            .collect();
        let x = crate::kernels::tests::array(4, 12, 3).mapv(f32::abs);
        let labels = [0u8, 1, 2, 1];
        let grads_of = |m: &Model| {
            let (logits, tape) = m.forward_train(x.clone(), 9, true).unwrap();
            let (_, _, d) = crate::model::softmax_cross_entropy(&logits, &labels);
            m.backward(tape, d)
        };
        // Reference: a model that simply holds the quantized weights.
        let mut reference = model.clone();
        for stage in &mut reference.stages {
            let w = stage.ops.last_mut().and_then(Kernel::weights_mut).unwrap();
            let qw = q.quantize(w.as_slice().unwrap());
            w.as_slice_mut().unwrap().copy_from_slice(&qw);
        }
        let want = grads_of(&reference);
        let masters = swap_in(&mut model, &q);
        let got = grads_of(&model);
        restore(&mut model, masters);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.weights, w.weights);
            assert_eq!(g.bias, w.bias);
        }
        // The quantized gradient differs from the float one (the swap did something) ...
        let float = grads_of(&model);
        assert_ne!(float[0].weights, got[0].weights);
        // ... and the master weights are restored bit for bit.
        for (s, before) in model.stages.iter().zip(&masters_before) {
            let now: Vec<f32> = s.weights().unwrap().iter().copied().collect();
            assert_eq!(&now, before);
        }
    }

    #[test]
    fn a_net_round_trips_through_the_model() {
        let model = small_model();
        let net = model.to_net("t", BTreeMap::new()).unwrap();
        let back = Model::from_net(&net, 0.0).unwrap();
        let mut again = net.clone();
        back.write_back(&mut again).unwrap();
        assert_eq!(again, net);
        let x = crate::kernels::tests::array(2, 12, 5).mapv(f32::abs);
        assert_eq!(back.logits(x.clone()), model.logits(x));
        // Snapping writes the grid values.
        let snapped = quantize_net(&net, &loihi(2));
        let LinearOp::Dense { weights } = &snapped.projections[0].ops[0] else {
            panic!("dense")
        };
        let grid = loihi(2)
            .grid(
                &model.stages[0]
                    .weights()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        assert!(weights.data.iter().all(|&v| {
            let u = f64::from(v) * grid.scale / grid.range.step as f64;
            (u - u.round()).abs() < 1e-4
        }));
    }

    #[test]
    fn validation_names_the_field() {
        let mut q = signed(4);
        q.epochs = 0;
        assert!(q.validate().unwrap_err().to_string().contains("qat.epochs"));
        let mut q = signed(4);
        q.lr = f32::NAN;
        assert!(q.validate().unwrap_err().to_string().contains("qat.lr"));
    }
}
