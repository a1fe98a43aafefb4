//! Per-neuron mean firing rates of a float net in rate mode, measured over a dataset: what a
//! compiler needs to weight inter-core traffic by how often each neuron actually spikes
//! (`lifchip profile` turns them into a rate profile).

use lifchip_data::Dataset;
use lifchip_net::{Net, Neuron};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::act::Activation;
use crate::eval::pixels;
use crate::graph::Graph;

/// Which rate curve the neurons follow while the rates are measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateCurve {
    /// Each population's own curve, as trained (rate mode: soft-LIF where the net says
    /// `soft`), so neurons below threshold keep the small rates of the smoothed tail.
    #[default]
    Net,
    /// The hard LIF curve for every LIF population (soft or not): zero below threshold, which
    /// is how spiking neurons (and a chip) behave.
    Lif,
}

impl RateCurve {
    pub fn as_str(self) -> &'static str {
        match self {
            RateCurve::Net => "net",
            RateCurve::Lif => "lif",
        }
    }
}

/// Mean activity of every neuron of one population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FiringRates {
    pub name: String,
    /// True for the input population: `rates` are then mean pixel values in `[0, 1]`.
    pub input: bool,
    /// One value per neuron: the mean firing rate in Hz (a `relu` population: its mean output),
    /// or for the input population the mean pixel value.
    pub rates: Vec<f32>,
}

/// Images per forward batch (fixed, so sums are added in the same order on every machine).
const BATCH: usize = 256;

/// Measures the mean rate of every neuron of `net` in rate mode over all images of `data`:
/// one [`FiringRates`] per population, in the net's population order (the input population
/// included). A LIF population's activation is `amplitude * rate`, so its rates are the
/// activation divided by the population's amplitude, in Hz. Deterministic: the same net and
/// data give the same bits.
///
/// Errors: a net that rate mode cannot run (chip units, recurrent, several inputs), images of
/// another size than the input population, or an empty dataset.
pub fn firing_rates(
    net: &Net,
    data: &Dataset,
    curve: RateCurve,
) -> Result<Vec<FiringRates>, TrainError> {
    let mut graph = Graph::from_net(net)?;
    if curve == RateCurve::Lif {
        for node in &mut graph.nodes {
            if let Activation::SoftLif(p) = node.act {
                node.act = Activation::Lif(p);
            }
        }
    }
    let n_px = data.rows * data.cols;
    if n_px != graph.input_size || data.images.len() != data.n * n_px {
        return Err(TrainError::mismatch(
            "dataset",
            format!(
                "images are {}x{} = {} pixels ({} bytes for {} images), but the net's input population has {} neurons",
                data.rows,
                data.cols,
                n_px,
                data.images.len(),
                data.n,
                graph.input_size
            ),
        ));
    }
    if data.n == 0 {
        return Err(TrainError::mismatch(
            "dataset",
            "holds no images: rates need at least one",
        ));
    }
    let mut input_sum = vec![0f64; n_px];
    let mut sums: Vec<Vec<f64>> = graph.nodes.iter().map(|n| vec![0f64; n.size]).collect();
    let all: Vec<usize> = (0..data.n).collect();
    // One job on the pool (see `eval::on_pool`); the sums run in image order.
    crate::eval::on_pool(|| {
        for chunk in all.chunks(BATCH) {
            let x = pixels(data, chunk);
            for row in x.rows() {
                for (s, &v) in input_sum.iter_mut().zip(row) {
                    *s += f64::from(v);
                }
            }
            for (acts, sum) in graph.activations(&x).iter().zip(&mut sums) {
                for row in acts.rows() {
                    for (s, &v) in sum.iter_mut().zip(row) {
                        *s += f64::from(v);
                    }
                }
            }
        }
    });
    let n = data.n as f64;
    let mean = |sum: &[f64], scale: f64| -> Vec<f32> {
        sum.iter().map(|s| (s / n / scale) as f32).collect()
    };
    let mut out = Vec::with_capacity(net.populations.len());
    for pop in &net.populations {
        if matches!(pop.neuron, Neuron::Input) {
            out.push(FiringRates {
                name: pop.name.clone(),
                input: true,
                rates: mean(&input_sum, 1.0),
            });
            continue;
        }
        let k = graph
            .nodes
            .iter()
            .position(|node| node.name == pop.name)
            .ok_or_else(|| {
                TrainError::unsupported(
                    format!("net {:?}, population {:?}", net.name, pop.name),
                    "is not reached in rate mode",
                )
            })?;
        let amplitude = match graph.nodes[k].act {
            Activation::SoftLif(p) | Activation::Lif(p) => f64::from(p.amplitude),
            Activation::Relu => 1.0,
        };
        if !(amplitude.is_finite() && amplitude > 0.0) {
            return Err(TrainError::unsupported(
                format!("net {:?}, population {:?}", net.name, pop.name),
                format!("amplitude {amplitude} must be positive to turn activations into Hz"),
            ));
        }
        out.push(FiringRates {
            name: pop.name.clone(),
            input: false,
            rates: mean(&sums[k], amplitude),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAU_RC: f64 = 0.02;
    const TAU_REF: f64 = 0.002;
    const GAMMA: f64 = 0.02;
    const AMPLITUDE: f64 = 0.063;

    /// A 4-pixel input, one dense layer of 3 neurons (weights `w`, biases `b`), then a
    /// 2-neuron output layer.
    fn net(kind: &str, w: [[f32; 4]; 3], b: [f32; 3]) -> Net {
        let yaml = format!(
            "name: probe\npopulations:\n  - {{name: in, shape: [4], neuron: {{kind: input}}}}\n  - name: hidden\n    shape: [3]\n    neuron: {{kind: soft_lif, rate: {kind}, tau_rc: {TAU_RC}, tau_ref: {TAU_REF}, amplitude: {AMPLITUDE}, gamma: {GAMMA}, bias: {b:?}}}\n  - name: out\n    shape: [2]\n    neuron: {{kind: soft_lif, tau_rc: {TAU_RC}, tau_ref: {TAU_REF}, amplitude: {AMPLITUDE}, bias: [1.0, -1.0]}}\nprojections:\n  - name: in_hidden\n    from: in\n    to: hidden\n    ops:\n      - kind: dense\n        weights: {w:?}\n  - name: hidden_out\n    from: hidden\n    to: out\n    ops:\n      - kind: dense\n        weights: [[0, 0, 0], [0, 0, 0]]\n"
        );
        lifchip_net::from_yaml_str(&yaml).unwrap()
    }

    fn data(images: &[[u8; 4]]) -> Dataset {
        Dataset {
            images: images.iter().flatten().copied().collect(),
            labels: vec![0; images.len()],
            n: images.len(),
            rows: 2,
            cols: 2,
        }
    }

    fn hard_lif_hz(pre: f64) -> f64 {
        if pre <= 0.0 {
            0.0
        } else {
            1.0 / (TAU_REF + TAU_RC * (1.0 + 1.0 / pre).ln())
        }
    }

    fn soft_lif_hz(pre: f64) -> f64 {
        let j = GAMMA * (pre / GAMMA).exp().ln_1p();
        1.0 / (TAU_REF + TAU_RC * (1.0 + 1.0 / j).ln())
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() <= 1e-4 * b.abs().max(1.0)
    }

    #[test]
    fn a_constant_drive_gives_the_analytic_lif_rates() {
        // Zero weights: every neuron sees only its bias.
        let bias = [1.0f32, 0.05, -0.5];
        let images = [[0, 255, 51, 102], [255, 255, 0, 0]];
        for kind in ["soft", "hard"] {
            let net = net(kind, [[0.0; 4]; 3], bias);
            let rates = firing_rates(&net, &data(&images), RateCurve::Net).unwrap();
            let names: Vec<&str> = rates.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["in", "hidden", "out"]);
            assert_eq!(
                rates.iter().map(|r| r.rates.len()).collect::<Vec<_>>(),
                [4, 3, 2]
            );
            assert_eq!(
                rates.iter().map(|r| r.input).collect::<Vec<_>>(),
                [true, false, false]
            );
            // Input: mean pixel value.
            for (got, want) in rates[0].rates.iter().zip([0.5, 1.0, 0.1, 0.2]) {
                assert!(close(*got, want), "input {got} vs {want}");
            }
            for (&got, &b) in rates[1].rates.iter().zip(&bias) {
                let want = if kind == "soft" {
                    soft_lif_hz(f64::from(b))
                } else {
                    hard_lif_hz(f64::from(b))
                };
                assert!(close(got, want), "{kind} bias {b}: {got} Hz vs {want} Hz");
            }
            // The output population is measured too (its rate, not its logit).
            assert!(close(rates[2].rates[0], soft_lif_hz(1.0)));
            assert!(rates[2].rates[1] < 5.0, "{}", rates[2].rates[1]);
        }
        // The hard curve silences the soft tail below threshold.
        let net = net("soft", [[0.0; 4]; 3], bias);
        let hard = firing_rates(&net, &data(&images), RateCurve::Lif).unwrap();
        assert!(close(hard[1].rates[0], hard_lif_hz(1.0)));
        assert_eq!(hard[1].rates[2], 0.0);
    }

    #[test]
    fn rates_average_the_drive_over_images() {
        // Neuron 0 is driven by pixel 0 only: on at 255 (pre = 2), off at 0 (pre = -1).
        let mut w = [[0.0f32; 4]; 3];
        w[0][0] = 3.0;
        let net = net("hard", w, [-1.0, -1.0, -1.0]);
        let rates =
            firing_rates(&net, &data(&[[255, 0, 0, 0], [0, 0, 0, 0]]), RateCurve::Net).unwrap();
        assert!(close(rates[1].rates[0], hard_lif_hz(2.0) / 2.0));
        assert_eq!(&rates[1].rates[1..], &[0.0, 0.0]);
    }

    #[test]
    fn rates_are_deterministic_and_errors_are_typed() {
        let net = net("soft", [[0.3, -0.2, 0.1, 0.5]; 3], [0.1, 0.2, 0.3]);
        let images: Vec<[u8; 4]> = (0..600u32)
            .map(|k| {
                let b = |m: u32| ((k * m) % 256) as u8;
                [b(7), b(13), b(29), b(101)]
            })
            .collect();
        let a = firing_rates(&net, &data(&images), RateCurve::Net).unwrap();
        let b = firing_rates(&net, &data(&images), RateCurve::Net).unwrap();
        assert_eq!(a, b);
        assert!(
            a.iter()
                .flat_map(|p| &p.rates)
                .all(|r| r.is_finite() && *r >= 0.0)
        );
        // Wrong image size, and no images at all.
        let mut wrong = data(&images);
        wrong.cols = 3;
        assert!(matches!(
            firing_rates(&net, &wrong, RateCurve::Net),
            Err(TrainError::Mismatch { .. })
        ));
        assert!(firing_rates(&net, &data(&[]), RateCurve::Net).is_err());
    }
}
