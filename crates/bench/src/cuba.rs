//! The CUBA balanced network in chip units, and its Poisson drive.
//!
//! Two `chip_lif` populations, `exc` (`round(0.8 N)` neurons) and `inh` (the rest), connected
//! all-to-all at random with probability `p` (no self-connections), four sparse projections
//! (`exc→exc`, `exc→inh` with weight `w_exc > 0`, `inh→exc`, `inh→inh` with `w_inh < 0`). As in
//! Brian2's CUBA example, the neurons are driven above threshold by a constant input (here the
//! bias, drawn per neuron in `bias_lo..=bias_hi` so that they do not start in lockstep from the
//! chip's zero state) and held at low rates by the balance of excitation and inhibition; a
//! small Poisson drive (`drive` channels, each onto `drive_fanout` random neurons) keeps the
//! activity irregular. The default constants are `loihi-like` units for a 0.1 ms tick: current
//! decay `du = 80` (τ ≈ 5 ms), voltage decay `dv = 20` (τ ≈ 20 ms), threshold `vth = 1000`.
//!
//! Everything is drawn from one seed with a local generator (splitmix64), so the same spec
//! gives the same net on every machine; connections are drawn by geometric skips, in time
//! proportional to the synapses.

use lifchip_net::{ChipLif, Indices, LinearOp, Net, Neuron, Population, Projection, Tensor};

/// Largest network the generator accepts.
pub const MAX_NEURONS: usize = 10_000_000;
/// Largest expected number of synapses the generator accepts.
pub const MAX_SYNAPSES: f64 = 2.0e9;
/// Largest number of drive channels, and of ticks of drive.
pub const MAX_DRIVE: usize = 10_000_000;
pub const MAX_TICKS: u32 = 100_000_000;

/// What is wrong with a [`CubaSpec`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CubaError {
    #[error("{name} = {value}: expected {expected}")]
    Setting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The parameters of a CUBA network (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct CubaSpec {
    pub neurons: usize,
    pub p: f64,
    pub seed: u64,
    pub w_exc: i32,
    pub w_inh: i32,
    pub current_decay: u32,
    pub voltage_decay: u32,
    pub threshold: i64,
    pub bias_lo: i32,
    pub bias_hi: i32,
    /// Poisson drive channels (0: none).
    pub drive: usize,
    /// Neurons each drive channel connects to.
    pub drive_fanout: usize,
    /// Spikes per tick of each drive channel.
    pub drive_rate: f64,
}

impl Default for CubaSpec {
    fn default() -> Self {
        CubaSpec {
            neurons: 4000,
            p: 0.02,
            seed: 1,
            w_exc: 2,
            w_inh: -110,
            current_decay: 80,
            voltage_decay: 20,
            threshold: 1000,
            bias_lo: 290,
            bias_hi: 350,
            drive: 40,
            drive_fanout: 100,
            drive_rate: 0.01,
        }
    }
}

fn setting(name: &'static str, value: impl ToString, expected: &'static str) -> CubaError {
    CubaError::Setting {
        name,
        value: value.to_string(),
        expected,
    }
}

impl CubaSpec {
    /// The default spec for `neurons` and `p`, with the threshold and the bias range scaled by
    /// `k = round(neurons × p / 80)` (at most 11, which keeps the bias within 13 bits) so that
    /// the weights keep their size relative to threshold as the fan-in grows from the 80
    /// inputs of the 4,000-neuron, p = 0.02 original (Brian2's example scales its weights by
    /// `80 / (N p)` instead; integer weights cannot shrink below 1).
    pub fn scaled(neurons: usize, p: f64) -> CubaSpec {
        let base = CubaSpec::default();
        let k = (neurons as f64 * p / 80.0).round().clamp(1.0, 11.0) as i32;
        CubaSpec {
            neurons,
            p,
            threshold: base.threshold * i64::from(k),
            bias_lo: base.bias_lo * k,
            bias_hi: base.bias_hi * k,
            ..base
        }
    }

    /// Excitatory neurons: `round(0.8 N)`.
    pub fn excitatory(&self) -> usize {
        (self.neurons * 4).div_ceil(5).min(self.neurons)
    }

    /// Checks every size and value before anything is allocated.
    pub fn check(&self) -> Result<(), CubaError> {
        if !(2..=MAX_NEURONS).contains(&self.neurons) {
            return Err(setting("neurons", self.neurons, "2 ..= 10,000,000"));
        }
        if !(self.p > 0.0 && self.p <= 1.0) {
            return Err(setting("p", self.p, "a probability in (0, 1]"));
        }
        let n = self.neurons as f64;
        if n * n * self.p > MAX_SYNAPSES {
            return Err(setting(
                "neurons² × p",
                n * n * self.p,
                "at most 2e9 expected synapses",
            ));
        }
        if self.w_exc <= 0 || self.w_inh >= 0 {
            return Err(setting(
                "w_exc / w_inh",
                format!("{} / {}", self.w_exc, self.w_inh),
                "w_exc > 0 and w_inh < 0",
            ));
        }
        if self.bias_lo > self.bias_hi {
            return Err(setting(
                "bias",
                format!("{}..={}", self.bias_lo, self.bias_hi),
                "bias_lo <= bias_hi",
            ));
        }
        if self.drive > MAX_DRIVE {
            return Err(setting("drive", self.drive, "at most 10,000,000 channels"));
        }
        if self.drive > 0 && !(1..=self.neurons).contains(&self.drive_fanout) {
            return Err(setting(
                "drive_fanout",
                self.drive_fanout,
                "1 ..= neurons when there is a drive",
            ));
        }
        if !(self.drive_rate >= 0.0 && self.drive_rate <= 1.0) {
            return Err(setting(
                "drive_rate",
                self.drive_rate,
                "spikes per tick in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// splitmix64: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + self.below(span) as i64) as i32
    }
}

/// The synapses `pre → post` of a random projection from `0..n_pre` onto `0..n_post` with
/// probability `p`, without `pre == post` when `same` (a population onto itself): for each
/// postsynaptic neuron, the presynaptic ones by geometric skips.
fn random_pairs(
    rng: &mut Rng,
    n_pre: usize,
    n_post: usize,
    p: f64,
    same: bool,
) -> (Vec<u32>, Vec<u32>) {
    let expected = (n_pre as f64 * n_post as f64 * p * 1.05) as usize + 16;
    let mut pre = Vec::with_capacity(expected);
    let mut post = Vec::with_capacity(expected);
    // ln(1 - p); p = 1 takes every pair.
    let log_q = (1.0 - p).ln();
    for j in 0..n_post {
        let mut i: i64 = -1;
        loop {
            let skip = if p >= 1.0 {
                0
            } else {
                // 1 - unit() is in (0, 1]: its log is finite.
                let u = 1.0 - rng.unit();
                (u.ln() / log_q).floor().min(n_pre as f64) as i64
            };
            i += skip + 1;
            if i >= n_pre as i64 {
                break;
            }
            if same && i as usize == j {
                continue;
            }
            pre.push(i as u32);
            post.push(j as u32);
        }
    }
    (pre, post)
}

fn sparse(
    name: &str,
    from: &str,
    to: &str,
    outputs: usize,
    pairs: (Vec<u32>, Vec<u32>),
    w: i32,
) -> Projection {
    let n = pairs.0.len();
    Projection {
        current: 1,
        sign_mode: None,
        name: name.into(),
        from: from.into(),
        to: to.into(),
        ops: vec![LinearOp::Sparse {
            outputs,
            pre: Indices::new(pairs.0),
            post: Indices::new(pairs.1),
            weights: Tensor::new(vec![n], vec![w as f32; n]),
        }],
        weight_exp: 0,
    }
}

/// The CUBA network of `spec`, in chip units.
pub fn generate(spec: &CubaSpec) -> Result<Net, CubaError> {
    spec.check()?;
    let ne = spec.excitatory();
    let ni = spec.neurons - ne;
    let mut rng = Rng::new(spec.seed);
    let population = |name: &str, n: usize, rng: &mut Rng| Population {
        name: name.into(),
        shape: vec![n],
        neuron: Neuron::ChipLif(ChipLif {
            current_decay: spec.current_decay.into(),
            voltage_decay: spec.voltage_decay.into(),
            threshold: spec.threshold.into(),
            bias: Tensor::new(
                vec![n],
                (0..n)
                    .map(|_| rng.between(spec.bias_lo, spec.bias_hi) as f32)
                    .collect(),
            ),
            bias_exp: Tensor::scalar(0.0),
            initial_u: Tensor::scalar(0.0),
            initial_v: Tensor::scalar(0.0),
            current_decay_2: 0.into(),
            refractory: 0.into(),
        }),
    };
    let mut net = Net::new(format!("cuba-{}", spec.neurons));
    net.description = format!(
        "CUBA balanced network: {} excitatory, {} inhibitory neurons, p = {}, seed {}",
        ne, ni, spec.p, spec.seed
    );
    if spec.drive > 0 {
        net.populations.push(Population {
            name: "drive".into(),
            shape: vec![spec.drive],
            neuron: Neuron::Input,
        });
    }
    net.populations.push(population("exc", ne, &mut rng));
    net.populations.push(population("inh", ni, &mut rng));
    if spec.drive > 0 {
        // Each channel onto `drive_fanout` distinct random neurons (of both populations).
        let (mut to_e, mut to_i) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        let mut picked = Vec::with_capacity(spec.drive_fanout);
        for c in 0..spec.drive {
            picked.clear();
            // Floyd's algorithm: `drive_fanout` distinct values of 0..neurons.
            let n = spec.neurons as u64;
            for j in n - spec.drive_fanout as u64..n {
                let t = rng.below(j + 1);
                let v = if picked.contains(&t) { j } else { t };
                picked.push(v);
            }
            picked.sort_unstable();
            for &k in &picked {
                let k = k as usize;
                if k < ne {
                    to_e.0.push(c as u32);
                    to_e.1.push(k as u32);
                } else {
                    to_i.0.push(c as u32);
                    to_i.1.push((k - ne) as u32);
                }
            }
        }
        if !to_e.0.is_empty() {
            net.projections
                .push(sparse("drive_exc", "drive", "exc", ne, to_e, spec.w_exc));
        }
        if !to_i.0.is_empty() && ni > 0 {
            net.projections
                .push(sparse("drive_inh", "drive", "inh", ni, to_i, spec.w_exc));
        }
    }
    let p = spec.p;
    let ee = random_pairs(&mut rng, ne, ne, p, true);
    net.projections
        .push(sparse("exc_exc", "exc", "exc", ne, ee, spec.w_exc));
    if ni > 0 {
        let ei = random_pairs(&mut rng, ne, ni, p, false);
        net.projections
            .push(sparse("exc_inh", "exc", "inh", ni, ei, spec.w_exc));
        let ie = random_pairs(&mut rng, ni, ne, p, false);
        net.projections
            .push(sparse("inh_exc", "inh", "exc", ne, ie, spec.w_inh));
        let ii = random_pairs(&mut rng, ni, ni, p, true);
        net.projections
            .push(sparse("inh_inh", "inh", "inh", ni, ii, spec.w_inh));
    }
    // Projections with no synapse at all (tiny nets, tiny p) are dropped.
    net.projections.retain(|pr| match &pr.ops[0] {
        LinearOp::Sparse { pre, .. } => !pre.data.is_empty(),
        _ => true,
    });
    net.meta
        .insert("generator".into(), "lifchip-bench cuba".into());
    net.meta.insert("seed".into(), spec.seed.to_string());
    Ok(net)
}

/// The drive for `ticks` ticks: each channel spikes independently with probability
/// `drive_rate` per tick (seeded from `seed`, apart from the net's own draws).
pub fn drive(spec: &CubaSpec, ticks: u32) -> Result<Vec<Vec<u32>>, CubaError> {
    spec.check()?;
    if !(1..=MAX_TICKS).contains(&ticks) {
        return Err(setting("ticks", ticks, "1 ..= 100,000,000"));
    }
    let mut rng = Rng::new(spec.seed ^ 0xd1b5_4a32_d192_ed03);
    let mut out = Vec::with_capacity(ticks as usize);
    if spec.drive == 0 || spec.drive_rate == 0.0 {
        out.resize(ticks as usize, Vec::new());
        return Ok(out);
    }
    let log_q = (1.0 - spec.drive_rate).ln();
    // Over all (tick, channel) cells in order, geometric skips between spikes.
    let cells = u64::from(ticks) * spec.drive as u64;
    let mut at: i128 = -1;
    out.resize(ticks as usize, Vec::new());
    loop {
        let skip = if spec.drive_rate >= 1.0 {
            0
        } else {
            let u = 1.0 - rng.unit();
            (u.ln() / log_q).floor().min(cells as f64) as i128
        };
        at += skip + 1;
        if at >= i128::from(cells) {
            break;
        }
        let (t, c) = (at as u64 / spec.drive as u64, at as u64 % spec.drive as u64);
        out[t as usize].push(c as u32);
    }
    Ok(out)
}

/// Synapses of `net` (of its sparse projections).
pub fn synapses(net: &Net) -> usize {
    net.projections
        .iter()
        .map(|pr| match &pr.ops[0] {
            LinearOp::Sparse { pre, .. } => pre.data.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The big-mesh targets of `bench/cuba` are `loihi-like` with only the mesh enlarged.
    #[test]
    fn big_mesh_targets_are_loihi_like_on_a_bigger_mesh() {
        let loihi = lifchip_target::builtin("loihi-like").unwrap();
        for (file, side) in [
            ("loihi-like-128x128.yaml", 128),
            ("loihi-like-256x256.yaml", 256),
        ] {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/cuba/").to_string() + file;
            let t = lifchip_target::resolve(&path).unwrap();
            assert_eq!((t.mesh.width, t.mesh.height), (side, side), "{file}");
            assert_eq!(t.core, loihi.core, "{file}");
            assert_eq!(t.neuron, loihi.neuron, "{file}");
            assert_eq!(t.precision, loihi.precision, "{file}");
        }
    }

    #[test]
    fn generates_a_valid_net_of_the_right_density() {
        let spec = CubaSpec {
            neurons: 2000,
            p: 0.05,
            ..CubaSpec::default()
        };
        let net = generate(&spec).expect("valid spec");
        net.validate().expect("valid net");
        assert_eq!(net.population("exc").map(|p| p.size()), Some(1600));
        assert_eq!(net.population("inh").map(|p| p.size()), Some(400));
        let recurrent: usize = synapses(&net) - 40 * 100;
        let expected = 2000.0 * 2000.0 * 0.05;
        let sd = (expected * 0.95f64).sqrt();
        assert!(
            (recurrent as f64 - expected).abs() < 5.0 * sd,
            "{recurrent} synapses, expected {expected}"
        );
        // No self-connections, pre indices ascending per post, signs by population.
        for pr in &net.projections {
            let LinearOp::Sparse {
                pre, post, weights, ..
            } = &pr.ops[0]
            else {
                panic!("sparse only")
            };
            if pr.from == pr.to {
                assert!(pre.data.iter().zip(&post.data).all(|(a, b)| a != b));
            }
            let w = if pr.from == "inh" {
                spec.w_inh
            } else {
                spec.w_exc
            } as f32;
            assert!(weights.data.iter().all(|&x| x == w), "{}", pr.name);
        }
        assert_eq!(generate(&spec), Ok(net), "same seed, same net");
        let other = generate(&CubaSpec {
            seed: 2,
            ..spec.clone()
        })
        .expect("valid");
        assert_ne!(synapses(&other), 0);
        assert_ne!(generate(&spec).ok(), Some(other));
    }

    #[test]
    fn drive_has_its_rate() {
        let spec = CubaSpec {
            drive: 50,
            drive_rate: 0.1,
            ..CubaSpec::default()
        };
        let d = drive(&spec, 2000).expect("valid");
        assert_eq!(d.len(), 2000);
        let total: usize = d.iter().map(Vec::len).sum();
        let expected = 50.0 * 2000.0 * 0.1;
        assert!(
            (total as f64 - expected).abs() < 5.0 * expected.sqrt(),
            "{total}"
        );
        assert!(d.iter().flatten().all(|&c| c < 50));
        assert!(d.iter().all(|t| t.is_sorted()));
        assert_eq!(drive(&spec, 2000), Ok(d));
    }

    #[test]
    fn refuses_bad_sizes_before_allocating() {
        let bad = [
            CubaSpec {
                neurons: 0,
                ..CubaSpec::default()
            },
            CubaSpec {
                neurons: usize::MAX,
                ..CubaSpec::default()
            },
            CubaSpec {
                neurons: 1_000_000,
                p: 0.5,
                ..CubaSpec::default()
            },
            CubaSpec {
                p: 0.0,
                ..CubaSpec::default()
            },
            CubaSpec {
                p: f64::NAN,
                ..CubaSpec::default()
            },
            CubaSpec {
                w_inh: 3,
                ..CubaSpec::default()
            },
            CubaSpec {
                drive_fanout: 5000,
                ..CubaSpec::default()
            },
            CubaSpec {
                drive_rate: 2.0,
                ..CubaSpec::default()
            },
        ];
        for spec in bad {
            assert!(generate(&spec).is_err(), "{spec:?}");
        }
        assert!(drive(&CubaSpec::default(), 0).is_err());
    }
}
