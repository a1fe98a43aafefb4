//! Populations, neuron models, projections and the [`Net`] that holds them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    LinearOp, NetError, PerNeuron, Tensor,
    io::{NET_FORMAT, NET_VERSION},
    ops::{Shape, check_shape},
    tensor::Indices,
};

/// Which rate curve a float LIF population was trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoftLifKind {
    /// The smoothed LIF rate of Hunsberger & Eliasmith (2015).
    #[default]
    Soft,
    /// The hard LIF rate curve (gamma ignored).
    Hard,
}

/// Float LIF parameters of a trained population. The input current of neuron `i` is
/// `J_i = gain * (x_i + bias_i) + 1`, where `x_i` is its summed synaptic input, so the firing
/// threshold `J = 1` sits at `x + bias = 0`; its output is `amplitude * rate(J)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftLif {
    #[serde(default)]
    pub rate: SoftLifKind,
    /// Membrane time constant in seconds.
    pub tau_rc: f32,
    /// Refractory period in seconds.
    pub tau_ref: f32,
    /// Output scale `A`: a spike contributes `amplitude` (rate units are spikes/s times A).
    pub amplitude: f32,
    /// Smoothing of the soft-LIF curve (`gamma`); unused for the hard curve.
    #[serde(default = "default_gamma")]
    pub gamma: f32,
    /// Gain `alpha` from summed input to current.
    #[serde(default = "default_gain")]
    pub gain: f32,
    /// Per-neuron bias (or a scalar for all), in synaptic-input units.
    pub bias: Tensor,
}

fn zero_tensor() -> Tensor {
    Tensor::scalar(0.0)
}

fn default_gamma() -> f32 {
    0.02
}

fn default_gain() -> f32 {
    1.0
}

/// Integer parameters of a hand-written population, already in the target's chip units:
/// the compiler copies them into the chip configuration unchanged. Every parameter is one
/// value for all neurons or a list with one value per neuron ([`PerNeuron`] for the integer
/// registers, a [`Tensor`] for the bias, its exponent and the initial state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipLif {
    /// Current decay constant (12-bit `du` for multiplicative decay, a shift for shift decay).
    pub current_decay: PerNeuron<u32>,
    /// Decay constant of the second synaptic current (`dash_syn_2`), on targets with
    /// `neuron.synaptic_currents: 2`.
    #[serde(default, skip_serializing_if = "all_zero")]
    pub current_decay_2: PerNeuron<u32>,
    /// Voltage decay constant (`dv`, or a shift).
    pub voltage_decay: PerNeuron<u32>,
    /// Threshold mantissa (`vth`).
    pub threshold: PerNeuron<i64>,
    /// Per-neuron bias mantissa (or a scalar for all).
    #[serde(default = "zero_tensor")]
    pub bias: Tensor,
    /// Per-neuron bias exponent (or a scalar for all): the effective bias is
    /// `bias << bias_exp`.
    #[serde(default = "zero_tensor")]
    pub bias_exp: Tensor,
    /// Per-neuron initial current `u` (or a scalar for all) after loading and reset.
    #[serde(default = "zero_tensor")]
    pub initial_u: Tensor,
    /// Per-neuron initial voltage `v` (or a scalar for all) after loading and reset.
    #[serde(default = "zero_tensor")]
    pub initial_v: Tensor,
    /// Refractory period in ticks.
    #[serde(default)]
    pub refractory: PerNeuron<u32>,
}

impl ChipLif {
    /// The integer-register parameters by name, as written in the net format.
    pub fn registers(&self) -> [(&'static str, PerNeuron<i64>); 5] {
        [
            ("current_decay", self.current_decay.map(i64::from)),
            ("current_decay_2", self.current_decay_2.map(i64::from)),
            ("voltage_decay", self.voltage_decay.map(i64::from)),
            ("threshold", self.threshold.clone()),
            ("refractory", self.refractory.map(i64::from)),
        ]
    }
}

/// Input from hard ReLU units (rate mode only; used for comparison runs of the trainer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relu {
    pub bias: Tensor,
}

/// When a [`Lif`] population spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifFire {
    /// A spike when `v > threshold` (snnTorch, Norse, NIR).
    #[default]
    Greater,
    /// A spike when `v >= threshold`.
    GreaterEqual,
    /// Never: the population passes its voltage `v` on (a leaky integrator / readout).
    Never,
}

/// What a spike does to `v` in a [`Lif`] population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifReset {
    /// `v = v_reset` (NIR's rule).
    #[default]
    Zero,
    /// `v -= threshold - v_reset` (snnTorch/Sinabs "subtract").
    Subtract,
}

/// Where this tick's input enters a [`Lif`] population with a synaptic current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrentOrder {
    /// `i` takes this tick's input first, then `v` integrates the new `i` (snnTorch `Synaptic`).
    #[default]
    InputFirst,
    /// Forward Euler: `v` integrates the previous `i`, then `i` takes this tick's input (Norse).
    Euler,
}

/// The synaptic current of a current-based [`Lif`] population (NIR `CubaLIF`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifCurrent {
    /// Fraction of `i` kept per tick (`1 - dt / tau_syn`).
    pub keep: Tensor,
    /// Input to current gain per tick (`w_in * dt / tau_syn`).
    pub gain: Tensor,
    #[serde(default)]
    pub order: CurrentOrder,
}

/// A leaky integrate-and-fire population given per tick, as a continuous-time model (NIR's
/// LIF, CubaLIF, IF, LI, Integrator, Threshold) discretised at `dt`. With `x` the summed input
/// of the tick (projections, previous-tick values for recurrent ones, plus `bias`), every tick:
///
/// ```text
/// i = x                                   (no current), or see LifCurrent::order
/// v = voltage_keep * v + voltage_gain * i + leak
/// spike (fire rule); on a spike: reset rule
/// ```
///
/// A spike is worth 1 to the next projection (one tick of value 1); a `never` population
/// passes `v` on. `docs/nir.md` derives the constants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lif {
    /// Seconds per tick these constants were derived for.
    pub dt: f32,
    /// Fraction of `v` kept per tick (`1 - dt / tau`; 1 for IF and Integrator).
    pub voltage_keep: Tensor,
    /// Gain from current to `v` per tick (`r * dt / tau`).
    pub voltage_gain: Tensor,
    /// Constant added to `v` per tick (`v_leak * dt / tau`).
    #[serde(default = "zero_tensor")]
    pub leak: Tensor,
    pub threshold: Tensor,
    #[serde(default = "zero_tensor")]
    pub v_reset: Tensor,
    /// `v` at the start of a run (Norse starts at `v_leak`; others at 0).
    #[serde(default = "zero_tensor")]
    pub v_start: Tensor,
    #[serde(default)]
    pub fire: LifFire,
    #[serde(default)]
    pub reset: LifReset,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<LifCurrent>,
    /// Constant input added to `x` every tick (e.g. an affine bias), in input units.
    #[serde(default = "zero_tensor")]
    pub bias: Tensor,
}

impl Lif {
    /// Every per-neuron tensor but the bias, with its field name.
    pub fn tensors(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = vec![
            ("voltage_keep", &self.voltage_keep),
            ("voltage_gain", &self.voltage_gain),
            ("leak", &self.leak),
            ("threshold", &self.threshold),
            ("v_reset", &self.v_reset),
            ("v_start", &self.v_start),
        ];
        if let Some(c) = &self.current {
            v.push(("current.keep", &c.keep));
            v.push(("current.gain", &c.gain));
        }
        v
    }

    fn tensors_mut(&mut self) -> Vec<&mut Tensor> {
        let mut v = vec![
            &mut self.voltage_keep,
            &mut self.voltage_gain,
            &mut self.leak,
            &mut self.threshold,
            &mut self.v_reset,
            &mut self.v_start,
            &mut self.bias,
        ];
        if let Some(c) = &mut self.current {
            v.push(&mut c.keep);
            v.push(&mut c.gain);
        }
        v
    }

    /// The soft-LIF population with the same firing-rate curve at constant input (hard LIF,
    /// no refractory period), for runners that map rates: the compiler's quantizer. `v`'s
    /// steady state `(gain * x + leak) / (1 - keep)` reaches the threshold exactly where the
    /// soft-LIF current `J = gain' * (x + bias') + 1` reaches 1. A spike, worth 1 per tick here,
    /// has amplitude `dt`. Needs uniform (scalar-valued) keep, gain and threshold, a leak
    /// (`keep < 1`), a reset to zero and no synaptic current; otherwise the reason.
    pub fn rate_equivalent(&self, size: usize) -> Result<SoftLif, String> {
        let uniform = |name: &str, t: &Tensor| -> Result<f32, String> {
            let first = t.data.first().copied().unwrap_or(0.0);
            if t.data.iter().all(|&v| v == first) {
                Ok(first)
            } else {
                Err(format!("{name} differs between neurons"))
            }
        };
        if self.fire == LifFire::Never {
            return Err("it does not spike (a leaky integrator / readout)".into());
        }
        if self.current.is_some() {
            return Err("it has a synaptic current (CubaLIF)".into());
        }
        let keep = uniform("voltage_keep", &self.voltage_keep)?;
        let gain = uniform("voltage_gain", &self.voltage_gain)?;
        let threshold = uniform("threshold", &self.threshold)?;
        let v_reset = uniform("v_reset", &self.v_reset)?;
        if !(keep > 0.0 && keep < 1.0) {
            return Err(format!(
                "voltage_keep = {keep}: a rate needs a leak in (0, 1)"
            ));
        }
        if v_reset != 0.0 || threshold.is_nan() || threshold <= 0.0 || gain.is_nan() || gain <= 0.0
        {
            return Err(
                "a rate mapping needs v_reset = 0, threshold > 0 and voltage_gain > 0".into(),
            );
        }
        let leak = self.leak.broadcast(size).unwrap_or_default();
        let bias = self.bias.broadcast(size).unwrap_or_default();
        let scale = (1.0 - keep) * threshold;
        let soft_gain = gain / scale;
        Ok(SoftLif {
            rate: SoftLifKind::Hard,
            tau_rc: -self.dt / keep.ln(),
            tau_ref: 0.0,
            amplitude: self.dt,
            gamma: default_gamma(),
            gain: soft_gain,
            bias: Tensor::new(
                vec![size],
                leak.iter()
                    .zip(&bias)
                    .map(|(&l, &b)| b + (l / scale - 1.0) / soft_gain)
                    .collect(),
            ),
        })
    }
}

/// The neuron model of a population.
// A net has few populations: the size of the `lif` and chip-unit variants costs nothing worth a
// box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Neuron {
    /// Spike sources driven from outside (the encoded data).
    Input,
    // `tracked`: an error names the field inside the variant (`crate::de`).
    SoftLif(#[serde(deserialize_with = "crate::de::tracked")] SoftLif),
    ChipLif(#[serde(deserialize_with = "crate::de::tracked")] ChipLif),
    Relu(#[serde(deserialize_with = "crate::de::tracked")] Relu),
    /// Per-tick LIF of an imported (NIR) net.
    Lif(#[serde(deserialize_with = "crate::de::tracked")] Lif),
}

impl Neuron {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Neuron::Input => "input",
            Neuron::SoftLif(_) => "soft_lif",
            Neuron::ChipLif(_) => "chip_lif",
            Neuron::Relu(_) => "relu",
            Neuron::Lif(_) => "lif",
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Neuron::Input => None,
            Neuron::SoftLif(p) => Some(&p.bias),
            Neuron::ChipLif(p) => Some(&p.bias),
            Neuron::Relu(p) => Some(&p.bias),
            Neuron::Lif(p) => Some(&p.bias),
        }
    }
}

/// The most neurons one population may have (the product of its shape; docs/interfaces.md,
/// Limits). Checked with overflow-safe arithmetic before any size is used.
pub const MAX_POPULATION_SIZE: usize = 1 << 24;

/// A group of neurons sharing one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    pub name: String,
    /// `[n]` or `[channels, height, width]`.
    pub shape: Shape,
    pub neuron: Neuron,
}

impl Population {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A linear map from population `from` onto population `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Projection {
    pub name: String,
    pub from: String,
    pub to: String,
    pub ops: Vec<LinearOp>,
    /// Weight exponent of a chip-unit projection: delivered input is `sum(w) << weight_exp`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_exp: i32,
    /// Sign mode of a chip-unit projection on a `loihi_sign_mode` target (Lava's Dense
    /// `sign_mode`): its weights must be storable in that mode. Absent: inferred from the
    /// weights' signs (all >= 0 excitatory, all <= 0 inhibitory, else mixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_mode: Option<SignMode>,
    /// The synaptic current of the target population this chip-unit projection feeds: 1, or 2
    /// on a target with `neuron.synaptic_currents: 2` (Xylo's `I_syn2`).
    #[serde(default = "one_u8", skip_serializing_if = "is_one")]
    pub current: u8,
}

fn one_u8() -> u8 {
    1
}

fn is_one(v: &u8) -> bool {
    *v == 1
}

fn all_zero(v: &PerNeuron<u32>) -> bool {
    v.is_all(0)
}

/// Loihi's synapse sign modes (Lava's `SignMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignMode {
    Excitatory,
    Inhibitory,
    Mixed,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

fn default_format() -> String {
    NET_FORMAT.to_string()
}

fn default_version() -> u32 {
    NET_VERSION
}

/// A whole network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default = "default_version")]
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub populations: Vec<Population>,
    pub projections: Vec<Projection>,
    /// The readout population (classification by its spike counts; on Xylo its neurons are
    /// the readout neurons). Absent: the last population in file order that no projection
    /// leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<String>,
    /// Free-form provenance (trainer config, seed, measured accuracy...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl Net {
    pub fn new(name: impl Into<String>) -> Self {
        Net {
            format: NET_FORMAT.to_string(),
            version: NET_VERSION,
            name: name.into(),
            description: String::new(),
            populations: Vec::new(),
            projections: Vec::new(),
            readout: None,
            meta: BTreeMap::new(),
        }
    }

    pub fn population(&self, name: &str) -> Option<&Population> {
        self.populations.iter().find(|p| p.name == name)
    }

    pub fn population_index(&self, name: &str) -> Option<usize> {
        self.populations.iter().position(|p| p.name == name)
    }

    /// The input populations, in file order.
    pub fn inputs(&self) -> impl Iterator<Item = &Population> {
        self.populations
            .iter()
            .filter(|p| matches!(p.neuron, Neuron::Input))
    }

    /// The projections arriving at population `name`.
    pub fn projections_into<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Projection> {
        self.projections.iter().filter(move |p| p.to == name)
    }

    /// The readout population: the one `readout` names, else the last population in file
    /// order that no projection leaves.
    pub fn output(&self) -> Option<&Population> {
        if let Some(name) = &self.readout {
            return self.population(name);
        }
        let sources: BTreeSet<&str> = self.projections.iter().map(|p| p.from.as_str()).collect();
        self.populations
            .iter()
            .rev()
            .find(|p| !sources.contains(p.name.as_str()) && !matches!(p.neuron, Neuron::Input))
            .or_else(|| self.populations.last())
    }

    /// True when every neuron population is already in chip units.
    pub fn is_chip_units(&self) -> bool {
        self.populations
            .iter()
            .all(|p| matches!(p.neuron, Neuron::Input | Neuron::ChipLif(_)))
    }

    pub fn num_neurons(&self) -> usize {
        self.populations.iter().map(Population::size).sum()
    }

    /// Checks names, references, shapes, tensor sizes and units; reports every problem found.
    pub fn validate(&self) -> Result<(), NetError> {
        let mut problems = Vec::new();
        if self.format != NET_FORMAT {
            problems.push(format!(
                "format is {:?}, expected {NET_FORMAT:?}",
                self.format
            ));
        }
        if self.version != NET_VERSION {
            problems.push(format!(
                "version {} is not supported (this build reads version {NET_VERSION})",
                self.version
            ));
        }
        // Sizes first: everything below multiplies shapes, which must not overflow.
        for (k, p) in self.populations.iter().enumerate() {
            let size = p
                .shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d));
            if size.is_none_or(|n| n > MAX_POPULATION_SIZE) {
                problems.push(format!(
                    "populations[{k}] ({}): shape {:?} has more than {MAX_POPULATION_SIZE} \
                     neurons (limit, docs/interfaces.md#limits)",
                    p.name, p.shape
                ));
            }
        }
        if !problems.is_empty() {
            return Err(NetError::invalid(
                format!("net {:?}", self.name),
                problems.join("\n  "),
            ));
        }
        if let Some(name) = &self.readout {
            match self.population(name) {
                None => problems.push(format!("readout {name:?} names no population")),
                Some(p) if matches!(p.neuron, Neuron::Input) => problems.push(format!(
                    "readout {name:?} is an input population (it has no neurons)"
                )),
                Some(_) => {}
            }
        }
        let mut names = BTreeSet::new();
        for (k, p) in self.populations.iter().enumerate() {
            let place = format!("populations[{k}] ({})", p.name);
            if !names.insert(p.name.as_str()) {
                problems.push(format!("{place}: duplicate population name"));
            }
            if p.shape.is_empty()
                || p.shape.contains(&0)
                || !(p.shape.len() == 1 || p.shape.len() == 3)
            {
                problems.push(format!(
                    "{place}: shape {:?} must be [n] or [channels, height, width] with no zero",
                    p.shape
                ));
            }
            if let Some(bias) = p.neuron.bias() {
                if bias.broadcast(p.size()).is_none() {
                    problems.push(format!(
                        "{place}: bias has {} values, expected 1 or {}",
                        bias.len(),
                        p.size()
                    ));
                }
                if bias.data.iter().any(|v| !v.is_finite()) {
                    problems.push(format!("{place}: bias holds a NaN or infinite value"));
                }
            }
            match &p.neuron {
                Neuron::SoftLif(s) => {
                    for (field, v) in [
                        ("tau_rc", s.tau_rc),
                        ("tau_ref", s.tau_ref),
                        ("amplitude", s.amplitude),
                        ("gain", s.gain),
                    ] {
                        if !(v.is_finite() && v > 0.0 || field == "tau_ref" && v == 0.0) {
                            problems.push(format!(
                                "{place}: {field} = {v}, expected a positive number"
                            ));
                        }
                    }
                    if s.rate == SoftLifKind::Soft && !(s.gamma.is_finite() && s.gamma > 0.0) {
                        problems.push(format!(
                            "{place}: gamma = {}, expected a positive number",
                            s.gamma
                        ));
                    }
                }
                Neuron::ChipLif(c) => {
                    for (field, values) in c.registers() {
                        if !values.fits(p.size()) {
                            problems.push(format!(
                                "{place}: chip_lif {field} has {} values, expected one integer or a list of {} (one per neuron)",
                                values.len(),
                                p.size()
                            ));
                        }
                    }
                    if !c.bias.is_integral() {
                        problems.push(format!("{place}: chip_lif bias must hold integers"));
                    }
                    for (field, t) in [
                        ("bias_exp", &c.bias_exp),
                        ("initial_u", &c.initial_u),
                        ("initial_v", &c.initial_v),
                    ] {
                        if t.broadcast(p.size()).is_none() || !t.is_integral() {
                            problems.push(format!(
                                "{place}: chip_lif {field} has {} values, expected 1 or {} integers",
                                t.len(),
                                p.size()
                            ));
                        }
                    }
                }
                Neuron::Lif(l) => {
                    if !(l.dt.is_finite() && l.dt > 0.0) {
                        problems.push(format!(
                            "{place}: dt = {}, expected a positive number of seconds",
                            l.dt
                        ));
                    }
                    for (field, t) in l.tensors() {
                        if t.broadcast(p.size()).is_none() {
                            problems.push(format!(
                                "{place}: {field} has {} values, expected 1 or {}",
                                t.len(),
                                p.size()
                            ));
                        }
                        if t.data.iter().any(|v| !v.is_finite()) {
                            problems
                                .push(format!("{place}: {field} holds a NaN or infinite value"));
                        }
                    }
                }
                Neuron::Input | Neuron::Relu(_) => {}
            }
        }
        let any_chip = self
            .populations
            .iter()
            .any(|p| matches!(p.neuron, Neuron::ChipLif(_)));
        let any_float = self.populations.iter().any(|p| {
            matches!(
                p.neuron,
                Neuron::SoftLif(_) | Neuron::Relu(_) | Neuron::Lif(_)
            )
        });
        if any_chip && any_float {
            problems.push(
                "a net is either all chip units (chip_lif) or all float (soft_lif/relu/lif), not both"
                    .into(),
            );
        }
        if self.inputs().next().is_none() {
            problems.push("the net has no input population (neuron kind: input)".into());
        }
        let mut proj_names = BTreeSet::new();
        for (k, pr) in self.projections.iter().enumerate() {
            let place = format!("projections[{k}] ({})", pr.name);
            if !proj_names.insert(pr.name.as_str()) {
                problems.push(format!("{place}: duplicate projection name"));
            }
            let from = self.population(&pr.from);
            let to = self.population(&pr.to);
            if from.is_none() {
                problems.push(format!("{place}: from = {:?} names no population", pr.from));
            }
            match to {
                None => problems.push(format!("{place}: to = {:?} names no population", pr.to)),
                Some(t) if matches!(t.neuron, Neuron::Input) => problems.push(format!(
                    "{place}: to = {:?} is an input population; inputs take no projections",
                    pr.to
                )),
                _ => {}
            }
            if pr.ops.is_empty() {
                problems.push(format!(
                    "{place}: ops is empty; give at least one linear op"
                ));
            }
            for op in &pr.ops {
                if let Some(w) = op.weights() {
                    if w.data.iter().any(|v| !v.is_finite()) {
                        problems.push(format!(
                            "{place}: {} weights hold a NaN or infinite value",
                            op.name()
                        ));
                    }
                    if any_chip && !w.is_integral() {
                        problems.push(format!("{place}: chip-unit weights must be integers"));
                    }
                    if !any_chip && pr.sign_mode.is_some() {
                        problems.push(format!(
                            "{place}: sign_mode is for chip-unit (chip_lif) nets; a float net's signs come from training"
                        ));
                    }
                    if !(1..=2).contains(&pr.current) {
                        problems.push(format!(
                            "{place}: current {} must be 1 or 2 (the synaptic current it feeds)",
                            pr.current
                        ));
                    } else if !any_chip && pr.current != 1 {
                        problems.push(format!(
                            "{place}: current 2 is for chip-unit (chip_lif) nets"
                        ));
                    }
                }
            }
            if let (Some(from), Some(to)) = (from, to) {
                match check_shape(&place, &pr.ops, &from.shape) {
                    Ok(shape) => {
                        let size: usize = shape.iter().product();
                        if size != to.size() {
                            problems.push(format!(
                                "{place}: ops produce shape {shape:?} ({size} neurons) but {:?} has shape {:?} ({} neurons)",
                                to.name,
                                to.shape,
                                to.size()
                            ));
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NetError::invalid(
                format!("net {:?}", self.name),
                problems.join("\n  "),
            ))
        }
    }

    pub(crate) fn tensors_mut(&mut self) -> (Vec<&mut Tensor>, Vec<&mut Indices>) {
        let mut tensors = Vec::new();
        let mut indices = Vec::new();
        for p in &mut self.populations {
            match &mut p.neuron {
                Neuron::ChipLif(c) => {
                    tensors.push(&mut c.bias);
                    tensors.push(&mut c.bias_exp);
                    tensors.push(&mut c.initial_u);
                    tensors.push(&mut c.initial_v);
                }
                Neuron::SoftLif(n) => tensors.push(&mut n.bias),
                Neuron::Relu(n) => tensors.push(&mut n.bias),
                Neuron::Lif(l) => tensors.extend(l.tensors_mut()),
                Neuron::Input => {}
            }
        }
        for pr in &mut self.projections {
            for op in &mut pr.ops {
                let (t, i) = op.storage_mut();
                tensors.extend(t);
                indices.extend(i);
            }
        }
        (tensors, indices)
    }

    /// A 64-bit FNV-1a fingerprint of the whole net (structure and every value), for manifests:
    /// every tensor's values, then every index list's, in [`Net::tensors_mut`]'s order, then the
    /// JSON of the net with all of them emptied.
    pub fn fingerprint(&self) -> u64 {
        // The projections' values (all but a sliver of a big net's bytes) are read in place,
        // not copied: the copy holds them emptied.
        let mut copy = Net {
            format: self.format.clone(),
            version: self.version,
            name: self.name.clone(),
            description: self.description.clone(),
            populations: self.populations.clone(),
            projections: self
                .projections
                .iter()
                .map(|pr| Projection {
                    name: pr.name.clone(),
                    from: pr.from.clone(),
                    to: pr.to.clone(),
                    ops: pr.ops.iter().map(LinearOp::without_values).collect(),
                    weight_exp: pr.weight_exp,
                    sign_mode: pr.sign_mode,
                    current: pr.current,
                })
                .collect(),
            readout: self.readout.clone(),
            meta: self.meta.clone(),
        };
        let mut hash = lifchip_files::Fingerprint::new();
        // Indices live in projections only; the populations' tensors come first.
        let (tensors, _) = copy.tensors_mut();
        for t in tensors {
            hash_values(&mut hash, &t.data, f32::to_le_bytes);
            t.data.clear();
            t.blob = None;
        }
        let ops = || self.projections.iter().flat_map(|pr| &pr.ops);
        for t in ops().flat_map(|op| op.storage().0) {
            hash_values(&mut hash, &t.data, f32::to_le_bytes);
        }
        for i in ops().flat_map(|op| op.storage().1) {
            hash_values(&mut hash, &i.data, u32::to_le_bytes);
        }
        let text = serde_json::to_string(&copy).unwrap_or_default();
        hash.bytes(text.as_bytes());
        hash.value()
    }
}

/// Adds `values` to `hash` as their little-endian bytes, a block at a time.
fn hash_values<T: Copy>(
    hash: &mut lifchip_files::Fingerprint,
    values: &[T],
    to_le: fn(T) -> [u8; 4],
) {
    let mut block = [0u8; 4096];
    for chunk in values.chunks(block.len() / 4) {
        for (out, &v) in block.chunks_exact_mut(4).zip(chunk) {
            out.copy_from_slice(&to_le(v));
        }
        hash.bytes(&block[..chunk.len() * 4]);
    }
}
