//! Optimizers (Adam, SGD with momentum) over the model's parameter slices.

use rayon::prelude::*;

use crate::config::OptimizerConfig;
use crate::exact::div_by;

/// Optimizer state: one moment buffer (two for Adam) per parameter slice, in the fixed order
/// of `Model::parameters_mut`.
pub(crate) struct Optimizer {
    config: OptimizerConfig,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    steps: i32,
}

impl Optimizer {
    pub fn new(config: &OptimizerConfig) -> Optimizer {
        Optimizer {
            config: config.clone(),
            first: Vec::new(),
            second: Vec::new(),
            steps: 0,
        }
    }

    /// One update. `params[k]` is a parameter slice with a flag saying whether weight decay
    /// applies to it; `grads[k]` is its gradient (same length). The update runs on the rayon
    /// pool in fixed chunks (element-wise, so the result does not depend on the thread count)
    /// and checks in the same pass that gradients and updated parameters are finite.
    pub fn step(
        &mut self,
        params: Vec<(&mut [f32], bool)>,
        grads: &[&[f32]],
        lr: f32,
        weight_decay: f32,
    ) -> StepCheck {
        if self.first.len() != params.len() {
            self.first = params.iter().map(|(p, _)| vec![0.0; p.len()]).collect();
            self.second = params.iter().map(|(p, _)| vec![0.0; p.len()]).collect();
        }
        self.steps = self.steps.saturating_add(1);
        let mut check = StepCheck::default();
        for (k, ((p, decay), g)) in params.into_iter().zip(grads).enumerate() {
            let wd = if decay { weight_decay } else { 0.0 };
            let m = &mut self.first[k];
            let (grad_bad, param_bad) = match self.config {
                OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    ..
                } => {
                    let v = &mut self.second[k];
                    let c1 = 1.0 - beta1.powi(self.steps);
                    let c2 = 1.0 - beta2.powi(self.steps);
                    let (inv_c1, inv_c2) = (1.0 / f64::from(c1), 1.0 / f64::from(c2));
                    p.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(v.par_chunks_mut(CHUNK))
                        .map(|(((p, g), m), v)| {
                            let h = AdamHyper {
                                beta1,
                                beta2,
                                epsilon,
                                lr,
                                wd,
                                inv_c1,
                                inv_c2,
                            };
                            adam_chunk(&h, p, g, m, v)
                        })
                        .reduce(|| (false, false), |a, b| (a.0 | b.0, a.1 | b.1))
                }
                OptimizerConfig::Sgd { momentum, .. } => p
                    .par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK))
                    .map(|((p, g), m)| {
                        let mut finite_g = true;
                        let mut finite_p = true;
                        for ((w, &g), m) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()) {
                            finite_g &= g.is_finite();
                            *m = momentum * *m + g + wd * *w;
                            *w -= lr * *m;
                            finite_p &= w.is_finite();
                        }
                        (!finite_g, !finite_p)
                    })
                    .reduce(|| (false, false), |a, b| (a.0 | b.0, a.1 | b.1)),
            };
            if grad_bad && check.bad_gradient.is_none() {
                check.bad_gradient = Some(k);
            }
            if param_bad && check.bad_parameter.is_none() {
                check.bad_parameter = Some(k);
            }
        }
        check
    }
}

/// Parameters per parallel chunk of an optimizer step.
const CHUNK: usize = 1 << 14;

/// What an optimizer step found: the first parameter slice (in `params` order) with a
/// non-finite gradient, and the first with a non-finite value after the update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StepCheck {
    pub bad_gradient: Option<usize>,
    pub bad_parameter: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched Adam chunk gives the same bits at every vector level.
    #[test]
    fn adam_chunk_is_the_same_at_every_level() {
        let n = 1000;
        let g0: Vec<f32> = (0..n).map(|k| ((k as f32) * 0.37).sin() * 1e-2).collect();
        let h = AdamHyper {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            lr: 3e-4,
            wd: 1e-4,
            inv_c1: 1.0 / f64::from(0.1f32),
            inv_c2: 1.0 / f64::from(0.001f32),
        };
        let run = |level| {
            lifchip_simd::cap(level);
            let mut p: Vec<f32> = (0..n).map(|k| ((k as f32) * 0.11).cos()).collect();
            let mut m = vec![0.0f32; n];
            let mut v = vec![0.0f32; n];
            let mut bad = Vec::new();
            for _ in 0..5 {
                bad.push(adam_chunk(&h, &mut p, &g0, &mut m, &mut v));
            }
            let bits = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (bits(&p), bits(&m), bits(&v), bad)
        };
        let base = run(lifchip_simd::Level::Base);
        assert_eq!(base, run(lifchip_simd::Level::Avx2));
        assert_eq!(base, run(lifchip_simd::Level::Avx512));
        lifchip_simd::cap(lifchip_simd::Level::Avx512);
    }

    /// Minimises (w - 3)^2 and checks both optimizers get there.
    #[test]
    fn optimizers_minimise_a_quadratic() {
        for (config, lr) in [
            (OptimizerConfig::default(), 0.1),
            (
                OptimizerConfig::Sgd {
                    lr: 0.05,
                    momentum: 0.9,
                },
                0.05,
            ),
        ] {
            let mut opt = Optimizer::new(&config);
            let mut w = vec![0.0f32, 10.0];
            for _ in 0..500 {
                let g: Vec<f32> = w.iter().map(|v| 2.0 * (v - 3.0)).collect();
                let check = opt.step(vec![(w.as_mut_slice(), false)], &[&g], lr, 0.0);
                assert_eq!(check, StepCheck::default());
            }
            assert!(
                w.iter().all(|v| (v - 3.0).abs() < 1e-2),
                "{config:?}: {w:?}"
            );
        }
        // The first Adam step moves every weight by about lr, whatever the gradient scale.
        let mut opt = Optimizer::new(&OptimizerConfig::default());
        let mut w = vec![0.0f32, 0.0];
        opt.step(vec![(w.as_mut_slice(), true)], &[&[1e-4, -1e4]], 0.01, 0.0);
        // Non-finite gradients and parameters are reported by slice.
        let mut ok = vec![1.0f32; 3];
        let mut bad = vec![1.0f32; 40_000];
        let check = opt.step(
            vec![(ok.as_mut_slice(), true), (bad.as_mut_slice(), true)],
            &[&[0.0; 3], &{
                let mut g = vec![0.0f32; 40_000];
                g[39_999] = f32::NAN;
                g
            }],
            0.01,
            0.0,
        );
        assert_eq!(check.bad_gradient, Some(1));
        assert_eq!(check.bad_parameter, Some(1));
        assert!(
            (w[0] + 0.01).abs() < 1e-4 && (w[1] - 0.01).abs() < 1e-4,
            "{w:?}"
        );
    }
}

/// The scalars of one Adam update.
struct AdamHyper {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    lr: f32,
    wd: f32,
    /// `1 / c1` and `1 / c2` in f64, for [`div_by`] (the Adam pass was bound by its divisions
    /// and square root): the bias corrections `c1 = 1 - beta1^t`,
    /// `c2 = 1 - beta2^t` are f32.
    inv_c1: f64,
    inv_c2: f64,
}

lifchip_simd::multiversion! {
    /// One chunk of the Adam update; returns (gradient not finite, parameter not finite).
    fn adam_chunk<>(
        h: &AdamHyper,
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> (bool, bool) => adam_chunk_generic
}

/// Element-wise, the same IEEE operations in the same order at every vector width (no FMA).
#[inline(always)]
fn adam_chunk_generic(
    h: &AdamHyper,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> (bool, bool) {
    let mut finite_g = true;
    let mut finite_p = true;
    for (((w, &g), m), v) in p
        .iter_mut()
        .zip(g.iter())
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        finite_g &= g.is_finite();
        let g = g + h.wd * *w;
        *m = h.beta1 * *m + (1.0 - h.beta1) * g;
        *v = h.beta2 * *v + (1.0 - h.beta2) * g * g;
        *w -= h.lr * div_by(*m, h.inv_c1) / (div_by(*v, h.inv_c2).sqrt() + h.epsilon);
        finite_p &= w.is_finite();
    }
    (!finite_g, !finite_p)
}
