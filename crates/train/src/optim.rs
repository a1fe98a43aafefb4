//! Optimizers (Adam, SGD with momentum) over the model's parameter slices.

use crate::config::OptimizerConfig;

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
    /// applies to it; `grads[k]` is its gradient (same length).
    pub fn step(
        &mut self,
        params: Vec<(&mut [f32], bool)>,
        grads: &[&[f32]],
        lr: f32,
        weight_decay: f32,
    ) {
        if self.first.len() != params.len() {
            self.first = params.iter().map(|(p, _)| vec![0.0; p.len()]).collect();
            self.second = params.iter().map(|(p, _)| vec![0.0; p.len()]).collect();
        }
        self.steps = self.steps.saturating_add(1);
        for (k, ((p, decay), g)) in params.into_iter().zip(grads).enumerate() {
            let wd = if decay { weight_decay } else { 0.0 };
            let m = &mut self.first[k];
            match self.config {
                OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    ..
                } => {
                    let v = &mut self.second[k];
                    let c1 = 1.0 - beta1.powi(self.steps);
                    let c2 = 1.0 - beta2.powi(self.steps);
                    for (((w, &g), m), v) in p
                        .iter_mut()
                        .zip(g.iter())
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                    {
                        let g = g + wd * *w;
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + epsilon);
                    }
                }
                OptimizerConfig::Sgd { momentum, .. } => {
                    for ((w, &g), m) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()) {
                        *m = momentum * *m + g + wd * *w;
                        *w -= lr * *m;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                opt.step(vec![(w.as_mut_slice(), false)], &[&g], lr, 0.0);
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
        assert!(
            (w[0] + 0.01).abs() < 1e-4 && (w[1] - 0.01).abs() < 1e-4,
            "{w:?}"
        );
    }
}
