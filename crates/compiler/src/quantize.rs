//! Quantize pass: a float soft-LIF net (or a chip-unit net) → integer chip units of a target.
//!
//! Assumes: a validated [`Net`]. Guarantees: every weight, threshold, bias and decay fits the
//! target's formats (else a [`Violation`] naming the layer). Does not: place neurons on cores.
//! The derivation of the mapping is written in `docs/quantization.md`.

use std::collections::{BTreeMap, HashMap};

use lifchip_net::{Net, Neuron, PerNeuron, SignMode, SoftLif};
use lifchip_target::{DecayKind, ExponentScope, SignClass, Target, UpdateOrder, WeightGrid};
use rayon::prelude::*;
use serde::Serialize;

use crate::{
    Violation, ViolationKind,
    expand::{Fanin, expand},
};

/// Options of the float → chip mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeOptions {
    /// Seconds per tick.
    pub dt: f64,
    /// Synaptic time constant of the chip's current `u`, in seconds (0: no filtering).
    pub synapse_tau: f64,
    /// Input spikes per tick for a pixel of value 1 (inputs are rate-coded).
    pub input_rate: f64,
    /// Match the chip's rate curve to the trained one where the target cannot hold the
    /// refractory period: scale each hidden soft-LIF population's drive above threshold
    /// (`J - 1`) by the factor that best fits the two curves ([`rate_match_gain`];
    /// docs/quantization.md). Off by default.
    pub rate_match: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            dt: 0.001,
            synapse_tau: 0.005,
            input_rate: 1.0,
            rate_match: false,
        }
    }
}

impl QuantizeOptions {
    /// The options a net is quantized with. A net of per-tick `lif` neurons (an imported NIR
    /// net) defines its own tick: the chip runs at the neurons' `dt`, so that their decays map
    /// one to one, and without a synaptic filter, since they have no synaptic current (a
    /// filter at `dt` = 0.1 ms would average over dozens of ticks the source library never
    /// averaged). Other nets keep the options as given. docs/nir.md.
    pub fn for_net(&self, net: &Net) -> QuantizeOptions {
        let mut dts = net.populations.iter().filter_map(|p| match &p.neuron {
            Neuron::Lif(l) => Some(l.dt),
            _ => None,
        });
        match dts.next() {
            Some(dt) if dt.is_finite() && dt > 0.0 && dts.all(|d| d == dt) => QuantizeOptions {
                dt: f64::from(dt),
                synapse_tau: 0.0,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

/// Chip-unit parameters of one neuron population. The integer registers are one value for
/// the population or one per neuron ([`PerNeuron`]: a chip-unit net may give either; a
/// float population's are one value); use [`PerNeuron::at`] for neuron `n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantNeuron {
    pub current_decay: PerNeuron<u32>,
    /// Decay of the second synaptic current (targets with `neuron.synaptic_currents: 2`).
    pub current_decay_2: PerNeuron<u32>,
    pub voltage_decay: PerNeuron<u32>,
    pub threshold: PerNeuron<u32>,
    pub bias: Vec<i32>,
    /// Per-neuron bias exponent: the bias is `bias[n] << bias_exp[n]`.
    pub bias_exp: Vec<u32>,
    pub refractory: PerNeuron<u32>,
    /// Per-neuron `u` and `v` after loading and reset.
    pub initial_u: Vec<i64>,
    pub initial_v: Vec<i64>,
}

/// A population in chip units (`neuron` is `None` for an input population).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantPopulation {
    pub name: String,
    pub shape: Vec<usize>,
    pub neuron: Option<QuantNeuron>,
}

impl QuantPopulation {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A projection in chip units: integer synapses by postsynaptic neuron and one exponent.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantProjection {
    pub name: String,
    pub from: usize,
    pub to: usize,
    pub weight_exp: i32,
    /// The synaptic current of the target population it feeds (1 or 2).
    pub current: u8,
    pub synapses: Fanin<i32>,
}

/// What quantization did to one layer (projection).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerQuantization {
    pub layer: String,
    /// The population this projection drives (silent/identical counts are of that population,
    /// over all its incoming projections).
    pub population: String,
    pub weight_bits: u32,
    pub weight_exp: i32,
    /// `sqrt(sum (dequantized - float)^2 / sum float^2)` over the projection's weights.
    pub rms_relative_error: f64,
    pub weights_clipped: u64,
    /// Nonzero float weights that rounded to zero (dropped from synapse memory).
    pub weights_zeroed: u64,
    /// Neurons of the target population that can never fire (no input and sub-threshold bias).
    pub silent_neurons: u64,
    /// Neurons of the target population identical in chip units to an earlier one.
    pub identical_neurons: u64,
}

/// A net in a target's chip units: what the partitioner and the integer reference consume.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantNet {
    pub name: String,
    pub hash: u64,
    pub populations: Vec<QuantPopulation>,
    pub projections: Vec<QuantProjection>,
    /// Index of the readout population.
    pub readout: usize,
    /// Input spikes per tick for a pixel of value 1.
    pub input_rate: f64,
    pub layers: Vec<LayerQuantization>,
    /// Packet weight of each neuron's spikes, per population: 1 each (every neuron spiking
    /// once) unless a [`crate::RateProfile`] gave expected packets per tick (in millionths).
    pub packet_weights: Option<Vec<Vec<u64>>>,
}

impl QuantNet {
    /// The packet weight of neuron `neuron` of population `population` (see `packet_weights`).
    pub fn packet_weight(&self, population: usize, neuron: u32) -> u64 {
        match &self.packet_weights {
            Some(w) => w
                .get(population)
                .and_then(|p| p.get(neuron as usize))
                .copied()
                .unwrap_or(0),
            None => 1,
        }
    }

    pub fn num_neurons(&self) -> usize {
        self.populations
            .iter()
            .filter(|p| p.neuron.is_some())
            .map(QuantPopulation::size)
            .sum()
    }

    pub fn num_synapses(&self) -> usize {
        self.projections
            .iter()
            .map(|p| p.synapses.num_synapses())
            .sum()
    }
}

/// Per-tick factors of the target's decays and synaptic filter.
struct Decays {
    current_decay: u32,
    voltage_decay: u32,
    /// Voltage kept per tick.
    voltage_keep: f64,
    /// Total voltage a unit of accumulated weight sum adds over time (the filter's DC gain,
    /// including `input_shift`).
    filter_gain: f64,
}

fn decays(target: &Target, opts: &QuantizeOptions, tau_rc: f64) -> Decays {
    let dynamics = &target.neuron;
    let unity = f64::from(1u32 << dynamics.decay_bits.min(30));
    let keep_v = (-opts.dt / tau_rc).exp();
    let keep_u = if opts.synapse_tau > 0.0 {
        (-opts.dt / opts.synapse_tau).exp()
    } else {
        0.0
    };
    let (voltage_decay, voltage_keep, current_decay, current_keep) = match dynamics.decay {
        DecayKind::Multiplicative => {
            let max = unity as i64 - 1;
            let dv = ((unity * (1.0 - keep_v)).round() as i64
                - i64::from(dynamics.voltage_decay_offset))
            .clamp(0, max);
            let du = ((unity * (1.0 - keep_u)).round() as i64
                - i64::from(dynamics.current_decay_offset))
            .clamp(0, max);
            let kv =
                (unity - (dv + i64::from(dynamics.voltage_decay_offset)) as f64).max(0.0) / unity;
            let ku =
                (unity - (du + i64::from(dynamics.current_decay_offset)) as f64).max(0.0) / unity;
            (dv as u32, kv, du as u32, ku)
        }
        DecayKind::Shift => {
            let shift = |keep: f64, min: i64| -> i64 {
                if keep <= 0.0 {
                    min
                } else {
                    (-(1.0 - keep).log2()).round().clamp(min as f64, 15.0) as i64
                }
            };
            // With input-then-decay a shift of 0 would erase the input before it is used.
            let min_u = i64::from(dynamics.order == UpdateOrder::InputThenDecay);
            let dv = shift(keep_v, 1);
            let du = shift(keep_u, min_u);
            let kv = 1.0 - (-(dv as f64)).exp2();
            let ku = 1.0 - (-(du as f64)).exp2();
            (dv as u32, kv, du as u32, ku)
        }
    };
    let geometric = 1.0 / (1.0 - current_keep).max(1e-12);
    let order_gain = match dynamics.order {
        UpdateOrder::DecayThenInput => geometric,
        UpdateOrder::InputThenDecay => current_keep * geometric,
    };
    Decays {
        current_decay,
        voltage_decay,
        voltage_keep,
        filter_gain: order_gain * f64::from(1u32 << target.precision.input_shift.min(30)),
    }
}

fn exponent_range(target: &Target) -> (i32, i32) {
    let e = &target.precision.weight_exponent;
    match e.scope {
        ExponentScope::None => (0, 0),
        ExponentScope::Layer | ExponentScope::Core => (e.min, e.max),
    }
}

/// Quantizes `net` for `target`. Returns the chip-unit net, or every violation found.
pub fn quantize(
    net: &Net,
    target: &Target,
    opts: &QuantizeOptions,
) -> Result<QuantNet, Vec<Violation>> {
    let opts = &opts.for_net(net);
    let mut violations = Vec::new();
    let index: HashMap<&str, usize> = net
        .populations
        .iter()
        .enumerate()
        .map(|(k, p)| (p.name.as_str(), k))
        .collect();
    let expanded: Vec<Fanin<f32>> = net
        .projections
        .par_iter()
        .map(|pr| {
            let from = &net.populations[index[pr.from.as_str()]];
            expand(&pr.ops, &from.shape)
        })
        .collect();

    let mut populations: Vec<QuantPopulation> = net
        .populations
        .iter()
        .map(|p| QuantPopulation {
            name: p.name.clone(),
            shape: p.shape.clone(),
            neuron: None,
        })
        .collect();
    let mut projections: Vec<Option<QuantProjection>> = vec![None; net.projections.len()];
    let mut layers: BTreeMap<usize, LayerQuantization> = BTreeMap::new();

    let incoming_of = |pi: usize| -> Vec<usize> {
        (0..net.projections.len())
            .filter(|&k| net.projections[k].to == net.populations[pi].name)
            .collect()
    };
    // Float populations are quantized independently of each other: in parallel.
    let mut float_results: Vec<Option<Result<PopulationQuant, Vec<Violation>>>> = net
        .populations
        .par_iter()
        .enumerate()
        .map(|(pi, pop)| match &pop.neuron {
            Neuron::SoftLif(s) => Some(quantize_float_population(
                net,
                target,
                opts,
                pi,
                s,
                &incoming_of(pi),
                &expanded,
                &index,
            )),
            // An imported per-tick LIF maps through the soft-LIF with its rate curve.
            Neuron::Lif(l) => Some(match l.rate_equivalent(pop.size()) {
                Ok(s) => quantize_float_population(
                    net,
                    target,
                    opts,
                    pi,
                    &s,
                    &incoming_of(pi),
                    &expanded,
                    &index,
                ),
                Err(why) => Err(vec![Violation {
                    kind: ViolationKind::NeuronModel,
                    place: format!("population {}", pop.name),
                    value: 0,
                    limit: 0,
                    hint: format!("this lif population cannot be mapped to chip rates: {why}"),
                }]),
            }),
            _ => None,
        })
        .collect();
    for (pi, pop) in net.populations.iter().enumerate() {
        let incoming: Vec<usize> = (0..net.projections.len())
            .filter(|&k| net.projections[k].to == pop.name)
            .collect();
        match &pop.neuron {
            Neuron::Input => {}
            Neuron::Relu(_) => violations.push(Violation {
                kind: ViolationKind::NeuronModel,
                place: format!("population {}", pop.name),
                value: 0,
                limit: 0,
                hint:
                    "relu populations run in rate mode only; train with soft_lif or lif to deploy"
                        .into(),
            }),
            Neuron::ChipLif(c) => {
                check_chip_units(net, target, pi, c, &incoming, &expanded, &mut violations);
                let bias = c.bias.broadcast(pop.size()).unwrap_or_default();
                populations[pi].neuron = Some(QuantNeuron {
                    current_decay: c.current_decay.clone(),
                    current_decay_2: c.current_decay_2.clone(),
                    voltage_decay: c.voltage_decay.clone(),
                    // Out-of-range thresholds are violations (check_chip_units).
                    threshold: c
                        .threshold
                        .map(|t| u32::try_from(t.max(0)).unwrap_or(u32::MAX)),
                    bias: bias.iter().map(|&b| b as i32).collect(),
                    bias_exp: c
                        .bias_exp
                        .broadcast(pop.size())
                        .unwrap_or_default()
                        .iter()
                        .map(|&e| e.max(0.0) as u32)
                        .collect(),
                    refractory: c.refractory.clone(),
                    initial_u: integers(&c.initial_u, pop.size()),
                    initial_v: integers(&c.initial_v, pop.size()),
                });
                for &k in &incoming {
                    let pr = &net.projections[k];
                    let synapses = expanded[k].map(|w| (w != 0.0).then_some(w as i32));
                    projections[k] = Some(QuantProjection {
                        name: pr.name.clone(),
                        from: index[pr.from.as_str()],
                        to: pi,
                        weight_exp: pr.weight_exp,
                        current: pr.current,
                        synapses,
                    });
                    layers.insert(
                        k,
                        LayerQuantization {
                            layer: pr.name.clone(),
                            population: pop.name.clone(),
                            weight_bits: target.precision.weight_bits,
                            weight_exp: pr.weight_exp,
                            rms_relative_error: 0.0,
                            weights_clipped: 0,
                            weights_zeroed: 0,
                            silent_neurons: 0,
                            identical_neurons: 0,
                        },
                    );
                }
            }
            Neuron::SoftLif(_) | Neuron::Lif(_) => match float_results[pi].take() {
                None => {}
                Some(Ok((neuron, projs, reports))) => {
                    populations[pi].neuron = Some(neuron);
                    for ((k, q), r) in incoming.iter().zip(projs).zip(reports) {
                        projections[*k] = Some(q);
                        layers.insert(*k, r);
                    }
                }
                Some(Err(v)) => violations.extend(v),
            },
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let readout = net
        .output()
        .and_then(|p| index.get(p.name.as_str()).copied())
        .unwrap_or(net.populations.len().saturating_sub(1));
    let projections: Vec<QuantProjection> = projections.into_iter().flatten().collect();
    let mut layers: Vec<LayerQuantization> = layers.into_values().collect();
    mark_silent_and_identical(&populations, &projections, &mut layers, target);
    Ok(QuantNet {
        name: net.name.clone(),
        hash: net.fingerprint(),
        populations,
        projections,
        readout,
        input_rate: opts.input_rate,
        layers,
        packet_weights: None,
    })
}

type PopulationQuant = (QuantNeuron, Vec<QuantProjection>, Vec<LayerQuantization>);

#[allow(clippy::too_many_arguments)]
fn quantize_float_population(
    net: &Net,
    target: &Target,
    opts: &QuantizeOptions,
    pi: usize,
    s: &SoftLif,
    incoming: &[usize],
    expanded: &[Fanin<f32>],
    index: &HashMap<&str, usize>,
) -> Result<PopulationQuant, Vec<Violation>> {
    let pop = &net.populations[pi];
    let precision = &target.precision;
    let d = decays(target, opts, f64::from(s.tau_rc));
    // The readout is left as trained: its rates feed nothing, and the arg-max of its spike
    // counts gains from the higher rates.
    let is_readout = net.output().is_some_and(|o| o.name == pop.name);
    let match_gain = if opts.rate_match && !is_readout {
        rate_match_gain(target, opts, s, d.voltage_keep)
    } else {
        1.0
    };
    let gain = f64::from(s.gain) * match_gain;
    let leak = 1.0 - d.voltage_keep;
    let tshift = f64::from(1u32 << precision.threshold_shift.min(30));
    let (emin, emax) = exponent_range(target);

    // Voltage per unit float weight per presynaptic spike, per unit of threshold mantissa T:
    // a spike of a neuron with amplitude A adds A/dt to x for one tick; an input spike adds
    // 1/input_rate. The chip delivers W * 2^e * filter_gain for it, and x must move v by
    // gain * x * leak * (T << threshold_shift) per tick.
    let mut per_projection = Vec::new();
    for &k in incoming {
        let pr = &net.projections[k];
        let from = &net.populations[index[pr.from.as_str()]];
        let per_spike = match &from.neuron {
            Neuron::SoftLif(pre) => f64::from(pre.amplitude) / opts.dt,
            Neuron::Lif(pre) => f64::from(pre.dt) / opts.dt,
            Neuron::Input => 1.0 / opts.input_rate,
            _ => 1.0 / opts.dt,
        };
        let c = gain * per_spike * leak * tshift / d.filter_gain;
        let w = &expanded[k].weight;
        let wmax = w.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let sign = SignClass::of(w);
        let grid = target.weight_grid(sign);
        let WeightGrid { lo, hi, step } = grid;
        let wlim = grid.max_magnitude() as f64;
        per_projection.push((k, c, wmax, sign, lo, hi, step, wlim));
    }

    let bias = s.bias.broadcast(pop.size()).unwrap_or_default();
    let bias_drive: Vec<f64> = bias
        .iter()
        .map(|&b| (gain * f64::from(b) + 1.0) * leak * tshift)
        .collect();
    let bias_max = bias_drive.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if precision.bias_bits == 0 && bias_max > 0.0 {
        return Err(vec![Violation {
            kind: ViolationKind::Bias,
            place: format!("population {}", pop.name),
            value: 0,
            limit: 0,
            hint: "a soft-LIF neuron needs a constant drive on the chip (the 1 of J = gain * (x + bias) + 1, plus its bias), and the target's neurons have no bias (precision.bias_bits: 0, as Xylo v1); use a target with a bias (e.g. xylo-v2-like) or a chip-unit net".into(),
        }]);
    }
    let bias_mant_max = ((1i64 << (precision.bias_bits.clamp(2, 32) - 1)) - 1) as f64;
    let bias_lim = bias_mant_max * f64::from(1u32 << precision.bias_exp_max.min(30));

    let tmax_bits = ((1u64 << precision.threshold_bits.min(40)) - 1) as f64;
    let vhalf = ((1u64 << (precision.voltage_bits.clamp(2, 62) - 2)) as f64) / tshift;
    let mut t_limit = tmax_bits.min(vhalf.floor());
    let mut why = "threshold_bits";
    for &(_, c, wmax, _, _, _, _, wlim) in &per_projection {
        if wmax > 0.0 {
            let lim = wlim * f64::from(emax).exp2() / (c * wmax);
            if lim < t_limit {
                t_limit = lim;
                why = "weight range";
            }
        }
    }
    if bias_max > 0.0 && bias_lim / bias_max < t_limit {
        t_limit = bias_lim / bias_max;
        why = "bias range";
    }
    let mut threshold = t_limit.floor();
    // Use the whole weight range: lower the threshold (from at most `t_limit` to no less than
    // half of it) until the projection with the largest drive per weight maps its largest
    // weight to the top of the range at some exponent. Otherwise the power-of-two exponent
    // leaves up to half of the range unused, and a net fine-tuned on the max-abs grid (QAT)
    // would be re-rounded onto a coarser one.
    let dominant = per_projection
        .iter()
        .filter(|p| p.2 > 0.0)
        .max_by(|a, b| (a.1 * a.2 / a.7).total_cmp(&(b.1 * b.2 / b.7)));
    if let Some(&(_, c, wmax, _, _, _, _, wlim)) = dominant {
        for e in (emin..=emax).rev() {
            let t = (wlim * f64::from(e).exp2() / (c * wmax)).floor();
            if t <= threshold {
                if t >= 1.0 {
                    threshold = t;
                }
                break;
            }
        }
    }
    if threshold < 1.0 {
        return Err(vec![Violation {
            kind: ViolationKind::DynamicRange,
            place: format!("population {}", pop.name),
            value: 0,
            limit: 1,
            hint: format!(
                "no threshold mantissa >= 1 fits the {why}; raise weight_exponent.max, weight_bits or bias_exp_max"
            ),
        }]);
    }
    let v_scale = threshold;

    let mut projections = Vec::new();
    let mut reports = Vec::new();
    for &(k, c, wmax, _sign, lo, hi, step, wlim) in &per_projection {
        let pr = &net.projections[k];
        // The smallest exponent whose range still holds the largest weight: finest resolution.
        let mut e = emin;
        while e < emax && c * wmax * v_scale / f64::from(e).exp2() > wlim {
            e += 1;
        }
        let scale = c * v_scale / f64::from(e).exp2();
        let (mut clipped, mut zeroed) = (0u64, 0u64);
        let (mut err2, mut ref2) = (0.0f64, 0.0f64);
        let synapses = expanded[k].map(|w| {
            let w = f64::from(w);
            let raw = (w * scale / step as f64).round() as i64 * step;
            let q = raw.clamp(lo, hi);
            if q != raw {
                clipped += 1;
            }
            if q == 0 && w != 0.0 {
                zeroed += 1;
            }
            let back = q as f64 / scale;
            err2 += (back - w).powi(2);
            ref2 += w * w;
            (q != 0).then_some(q as i32)
        });
        reports.push(LayerQuantization {
            layer: pr.name.clone(),
            population: pop.name.clone(),
            weight_bits: target.precision.weight_bits,
            weight_exp: e,
            rms_relative_error: if ref2 > 0.0 {
                (err2 / ref2).sqrt()
            } else {
                0.0
            },
            weights_clipped: clipped,
            weights_zeroed: zeroed,
            silent_neurons: 0,
            identical_neurons: 0,
        });
        projections.push(QuantProjection {
            name: pr.name.clone(),
            from: index[pr.from.as_str()],
            to: pi,
            weight_exp: e,
            current: 1,
            synapses,
        });
    }

    // One bias exponent per population: the smallest that holds the largest bias.
    let drive: Vec<f64> = bias_drive.iter().map(|b| b * v_scale).collect();
    let dmax = drive.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut bias_exp = 0u32;
    while bias_exp < precision.bias_exp_max && dmax / f64::from(bias_exp).exp2() > bias_mant_max {
        bias_exp += 1;
    }
    let bias_mant: Vec<i32> = drive
        .iter()
        .map(|b| {
            (b / f64::from(bias_exp).exp2())
                .round()
                .clamp(-bias_mant_max, bias_mant_max) as i32
        })
        .collect();
    let refractory = if target.neuron.refractory_max > 0 {
        ((f64::from(s.tau_ref) / opts.dt).round() as u32).min(target.neuron.refractory_max)
    } else {
        0
    };
    let neuron = QuantNeuron {
        current_decay: PerNeuron::All(d.current_decay),
        current_decay_2: PerNeuron::All(0),
        voltage_decay: PerNeuron::All(d.voltage_decay),
        threshold: PerNeuron::All(threshold as u32),
        bias_exp: vec![bias_exp; bias_mant.len()],
        initial_u: vec![0; bias_mant.len()],
        initial_v: vec![0; bias_mant.len()],
        bias: bias_mant,
        refractory: PerNeuron::All(refractory),
    };
    Ok((neuron, projections, reports))
}

/// Rates (Hz) of the trained curve the chip's curve is fitted over: `RATE_MATCH_MAX_HZ`
/// times `k / RATE_MATCH_POINTS` for `k = 1..=RATE_MATCH_POINTS`.
const RATE_MATCH_MAX_HZ: f64 = 100.0;
const RATE_MATCH_POINTS: u32 = 64;

/// The factor `k` on a population's drive above threshold (`J - 1`) that best matches the
/// chip's rate curve to the trained soft-LIF's (`docs/quantization.md`, "Rate matching").
///
/// The trained neuron fires at `1 / (tau_ref + tau_rc·ln(1 + 1/(J - 1)))`. The chip's, with the
/// realised voltage decay (`tau_v = -dt / ln keep_v`), `R` refractory ticks (what the target
/// holds of `tau_ref`) and on average half a tick lost to crossing the threshold between
/// ticks, fires at `1 / (tau_v·ln(1 + 1/(k·(J - 1))) + (R + 1/2)·dt)`. `k` minimises the squared
/// rate difference at evenly spaced trained rates up to [`RATE_MATCH_MAX_HZ`] (most of a
/// layer's spikes), searched on a grid of 0.001 in `[0.25, 2]`: deterministic and exact to the
/// grid. Returns 1 when the curves cannot be compared (no decay, rates beyond the limits).
fn rate_match_gain(target: &Target, opts: &QuantizeOptions, s: &SoftLif, keep_v: f64) -> f64 {
    let (tau, tref, dt) = (f64::from(s.tau_rc), f64::from(s.tau_ref).max(0.0), opts.dt);
    if !(tau > 0.0 && dt > 0.0 && keep_v > 0.0 && keep_v < 1.0) {
        return 1.0;
    }
    let tau_v = -dt / keep_v.ln();
    let refr = if target.neuron.refractory_max > 0 {
        ((tref / dt).round()).min(f64::from(target.neuron.refractory_max))
    } else {
        0.0
    };
    let dead = (refr + 0.5) * dt;
    // The trained curve's J at rate r: 1/r = tau_ref + tau·ln(1 + 1/(J - 1)).
    let excess: Vec<(f64, f64)> = (1..=RATE_MATCH_POINTS)
        .filter_map(|k| {
            let r = RATE_MATCH_MAX_HZ * f64::from(k) / f64::from(RATE_MATCH_POINTS);
            let t = 1.0 / r - tref;
            (t > 0.0).then(|| (r, 1.0 / (t / tau).exp_m1()))
        })
        .collect();
    if excess.is_empty() {
        return 1.0;
    }
    let cost = |k: f64| -> f64 {
        excess
            .iter()
            .map(|&(r, x)| {
                let chip = 1.0 / (tau_v * (1.0 / (k * x)).ln_1p() + dead);
                (chip - r).powi(2)
            })
            .sum()
    };
    let mut best = (cost(1.0), 1000u32);
    for m in 250u32..=2000 {
        let c = cost(f64::from(m) / 1000.0);
        if c < best.0 {
            best = (c, m);
        }
    }
    f64::from(best.1) / 1000.0
}

/// Fraction of the voltage lost per tick for voltage decay constant `d` (never 0, so a
/// leak-free neuron counts as integrating forever).
fn voltage_leak(d: u32, target: &Target) -> f64 {
    let dynamics = &target.neuron;
    let leak = match dynamics.decay {
        DecayKind::Multiplicative => {
            f64::from(d + dynamics.voltage_decay_offset)
                / f64::from(1u32 << dynamics.decay_bits.min(30))
        }
        DecayKind::Shift => (-f64::from(d.min(60))).exp2(),
    };
    leak.clamp(1e-12, 1.0)
}

/// Fills in the silent and identical neuron counts of each layer's report, per target
/// population over all of its incoming projections.
fn mark_silent_and_identical(
    populations: &[QuantPopulation],
    projections: &[QuantProjection],
    layers: &mut [LayerQuantization],
    target: &Target,
) {
    for (pi, pop) in populations.iter().enumerate() {
        let Some(neuron) = &pop.neuron else {
            continue;
        };
        let incoming: Vec<(usize, &QuantProjection)> = projections
            .iter()
            .enumerate()
            .filter(|(_, p)| p.to == pi)
            .collect();
        // Neurons are bucketed by a cheap hash of their whole input row and bias; rows are
        // compared in full only within a bucket.
        let mut buckets: rustc_hash::FxHashMap<u64, Vec<usize>> = Default::default();
        let row_of = |post: usize| -> Vec<(usize, u32, i32)> {
            incoming
                .iter()
                .flat_map(|(k, p)| p.synapses.inputs(post).map(move |(pre, w)| (*k, pre, w)))
                .collect()
        };
        let (mut silent, mut identical) = (0, 0);
        let tshift = target.precision.threshold_shift.min(40);
        // The registers that make two neurons with the same input row behave differently.
        let registers = |n: usize| {
            (
                neuron.threshold.at(n, 0),
                neuron.voltage_decay.at(n, 0),
                neuron.current_decay.at(n, 0),
                neuron.current_decay_2.at(n, 0),
                neuron.refractory.at(n, 0),
            )
        };
        for post in 0..pop.size() {
            let threshold = i64::from(neuron.threshold.at(post, 0)) << tshift;
            let leak = voltage_leak(neuron.voltage_decay.at(post, 0), target);
            let bias = neuron.bias.get(post).copied().unwrap_or(0);
            let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ (bias as u64);
            let mut has_excitation = false;
            for (k, p) in &incoming {
                for (pre, w) in p.synapses.inputs(post) {
                    has_excitation |= w > 0;
                    let item = ((*k as u64) << 48) ^ (u64::from(pre) << 16) ^ (w as u32 as u64);
                    hash = (hash ^ item)
                        .wrapping_mul(0x0000_0100_0000_01b3)
                        .rotate_left(5);
                }
            }
            // Without excitatory input, the bias alone sets the steady voltage, drive / leak.
            let bias_exp = neuron.bias_exp.get(post).copied().unwrap_or(0);
            let bias_drive = (i64::from(bias) << bias_exp.min(40)) as f64;
            if !has_excitation && (bias_drive <= 0.0 || bias_drive / leak <= threshold as f64) {
                silent += 1;
            }
            let bucket = buckets.entry(hash).or_default();
            let same = bucket.iter().any(|&other| {
                neuron.bias.get(other).copied().unwrap_or(0) == bias
                    && neuron.bias_exp.get(other).copied().unwrap_or(0) == bias_exp
                    && neuron.initial_u.get(other) == neuron.initial_u.get(post)
                    && neuron.initial_v.get(other) == neuron.initial_v.get(post)
                    && registers(other) == registers(post)
                    && row_of(other) == row_of(post)
            });
            if same {
                identical += 1;
            } else {
                bucket.push(post);
            }
        }
        for report in layers.iter_mut().filter(|l| l.population == pop.name) {
            report.silent_neurons = silent;
            report.identical_neurons = identical;
        }
    }
}

/// A per-neuron (or scalar) integer tensor as `n` values (0 where it does not broadcast;
/// the net's validation reports that).
fn integers(t: &lifchip_net::Tensor, n: usize) -> Vec<i64> {
    t.broadcast(n)
        .unwrap_or_else(|| vec![0.0; n])
        .iter()
        .map(|&x| x as i64)
        .collect()
}

/// Checks that a hand-written chip-unit population and its inputs fit the target's formats.
fn check_chip_units(
    net: &Net,
    target: &Target,
    pi: usize,
    c: &lifchip_net::ChipLif,
    incoming: &[usize],
    expanded: &[Fanin<f32>],
    violations: &mut Vec<Violation>,
) {
    let pop = &net.populations[pi];
    let p = &target.precision;
    let n = &target.neuron;
    let mut range = |kind: ViolationKind,
                     values: &mut dyn Iterator<Item = (Option<usize>, i64)>,
                     (lo, hi): (i64, i64),
                     hint: &dyn Fn() -> String| {
        check_range(&pop.name, kind, values, (lo, hi), hint, violations);
    };
    let tmax = (1i64 << p.threshold_bits.min(62)) - 1;
    range(
        ViolationKind::Threshold,
        &mut c.threshold.entries(),
        (0, tmax),
        &|| {
            format!(
                "threshold must be in 0..={tmax} ({} bits)",
                p.threshold_bits
            )
        },
    );
    let decay_max = match n.decay {
        DecayKind::Multiplicative => (1i64 << n.decay_bits.min(30)) - 1,
        DecayKind::Shift => 15,
    };
    let decay_hint = |field: &'static str| {
        move || format!("{field} must be in 0..={decay_max} for {:?} decay", n.decay)
    };
    range(
        ViolationKind::CurrentDecay,
        &mut c.current_decay.entries().map(|(i, v)| (i, i64::from(v))),
        (0, decay_max),
        &decay_hint("current_decay"),
    );
    range(
        ViolationKind::VoltageDecay,
        &mut c.voltage_decay.entries().map(|(i, v)| (i, i64::from(v))),
        (0, decay_max),
        &decay_hint("voltage_decay"),
    );
    if n.synaptic_currents > 1 {
        range(
            ViolationKind::CurrentDecay2,
            &mut c.current_decay_2.entries().map(|(i, v)| (i, i64::from(v))),
            (0, decay_max),
            &decay_hint("current_decay_2"),
        );
    } else {
        range(
            ViolationKind::CurrentDecay2,
            &mut c.current_decay_2.entries().map(|(i, v)| (i, i64::from(v))),
            (0, 0),
            &|| {
                "current_decay_2 must be 0: the target's neurons have one synaptic current (neuron.synaptic_currents: 1)".into()
            },
        );
    }
    // The full signed range of `bias_bits` (Lava's bias_mant: -4096..=4095); none at all
    // when the neuron has no bias (`bias_bits: 0`, Xylo v1).
    if p.bias_bits == 0 {
        range(
            ViolationKind::Bias,
            &mut tensor_entries(&c.bias),
            (0, 0),
            &|| {
                "bias must be 0: the target's neurons have no bias (precision.bias_bits: 0; Xylo v1 has none, xylo-v2-like has)".into()
            },
        );
    } else {
        let bmax = (1i64 << (p.bias_bits.min(62) - 1)) - 1;
        range(
            ViolationKind::Bias,
            &mut tensor_entries(&c.bias),
            (-bmax - 1, bmax),
            &|| {
                format!(
                    "bias mantissas must be in {}..={bmax} ({} bits)",
                    -bmax - 1,
                    p.bias_bits
                )
            },
        );
    }
    range(
        ViolationKind::BiasExp,
        &mut tensor_entries(&c.bias_exp),
        (0, i64::from(p.bias_exp_max)),
        &|| format!("bias_exp must be in 0..={}", p.bias_exp_max),
    );
    for (kind, t, bits) in [
        (ViolationKind::InitialU, &c.initial_u, p.current_bits),
        (ViolationKind::InitialV, &c.initial_v, p.voltage_bits),
    ] {
        let field = kind.as_str();
        let half = 1i64 << (bits.clamp(1, 32) - 1);
        range(kind, &mut tensor_entries(t), (-half, half - 1), &|| {
            format!("{field} must be in {}..={} ({bits} bits)", -half, half - 1)
        });
    }
    range(
        ViolationKind::Refractory,
        &mut c.refractory.entries().map(|(i, v)| (i, i64::from(v))),
        (0, i64::from(n.refractory_max)),
        &|| {
            format!(
                "refractory must be in 0..={} (the target's neuron.refractory_max)",
                n.refractory_max
            )
        },
    );
    // Xylo's readout neurons (counted apart: `core.readout_neurons > 0`) have one synaptic
    // current.
    let is_readout = net.output().is_some_and(|o| o.name == pop.name);
    for &k in incoming {
        let pr = &net.projections[k];
        if u32::from(pr.current) > n.synaptic_currents {
            violations.push(Violation {
                kind: ViolationKind::SynapticCurrent,
                place: format!("projection {}", pr.name),
                value: i64::from(pr.current),
                limit: i64::from(n.synaptic_currents),
                hint: format!(
                    "the target's neurons have {} synaptic current(s) (neuron.synaptic_currents)",
                    n.synaptic_currents
                ),
            });
        } else if pr.current > 1 && is_readout && target.core.readout_neurons > 0 {
            violations.push(Violation {
                kind: ViolationKind::SynapticCurrent,
                place: format!("projection {}", pr.name),
                value: i64::from(pr.current),
                limit: 1,
                hint: format!(
                    "it feeds the readout population {}, and the target's readout neurons (core.readout_neurons) have one synaptic current (Xylo's readout neurons have I_syn only); give it current: 1",
                    pop.name
                ),
            });
        }
    }
    let (emin, emax) = exponent_range(target);
    for &k in incoming {
        let pr = &net.projections[k];
        let w = &expanded[k].weight;
        let sign = pr
            .sign_mode
            .map_or_else(|| SignClass::of(w), sign_class_of_mode);
        let grid = target.weight_grid(sign);
        let WeightGrid { lo, hi, step } = grid;
        // `w` holds the weights the ops compose to: an avg_pool folded into a dense or conv2d
        // op divides its weights, and a fraction must be refused, not truncated.
        if let Some(&bad) = w
            .iter()
            .find(|&&v| v.fract() != 0.0 || !grid.contains(v as i64))
        {
            // Inside the range but off the grid (a fraction, or not a multiple of the step) no
            // bound is broken: value and limit stay 0, so the message is the hint alone.
            let (value, limit) = if f64::from(bad) >= lo as f64 && f64::from(bad) <= hi as f64 {
                (0, 0)
            } else {
                (bad as i64, if f64::from(bad) < lo as f64 { lo } else { hi })
            };
            violations.push(Violation {
                kind: ViolationKind::Weight,
                place: format!("projection {}", pr.name),
                value,
                limit,
                hint: format!(
                    "weights of this projection, as its ops compose them (an avg_pool divides by its window), must be {} in {lo}..={hi} on this target{}; found {bad}",
                    if step == 1 {
                        "integers".to_string()
                    } else {
                        format!("integer multiples of {step}")
                    },
                    pr.sign_mode.map_or(String::new(), |m| format!(" (sign_mode {m:?})"))
                ),
            });
        }
        if pr.weight_exp < emin || pr.weight_exp > emax {
            violations.push(Violation {
                kind: ViolationKind::WeightExp,
                place: format!("projection {}", pr.name),
                value: pr.weight_exp.into(),
                limit: if pr.weight_exp < emin { emin } else { emax }.into(),
                hint: format!("weight_exp must be in {emin}..={emax} on this target"),
            });
        }
    }
}

/// At most this many out-of-range neurons are listed per population and field; the rest are
/// counted in one more violation.
const LISTED_PER_FIELD: usize = 8;

/// Pushes a violation for each value outside `lo..=hi` (at most [`LISTED_PER_FIELD`], then a
/// count of the rest). A value with an index is one neuron's (`population P neuron i`), one
/// without is the population's scalar.
fn check_range(
    population: &str,
    kind: ViolationKind,
    values: &mut dyn Iterator<Item = (Option<usize>, i64)>,
    (lo, hi): (i64, i64),
    hint: &dyn Fn() -> String,
    violations: &mut Vec<Violation>,
) {
    let mut bad = 0usize;
    let mut last = None;
    for (index, value) in values {
        if (lo..=hi).contains(&value) {
            continue;
        }
        bad += 1;
        last = Some((index, value));
        if bad <= LISTED_PER_FIELD {
            violations.push(Violation {
                kind,
                place: match index {
                    Some(i) => format!("population {population} neuron {i}"),
                    None => format!("population {population}"),
                },
                value,
                limit: if value < lo { lo } else { hi },
                hint: hint(),
            });
        }
    }
    if let (true, Some((index, value))) = (bad > LISTED_PER_FIELD, last) {
        violations.push(Violation {
            kind,
            place: format!("population {population}"),
            value,
            limit: if value < lo { lo } else { hi },
            hint: format!(
                "{bad} neurons in all are out of range, {} more than listed (the last: neuron {}, this value); {}",
                bad - LISTED_PER_FIELD,
                index.unwrap_or(0),
                hint()
            ),
        });
    }
}

/// A chip-unit tensor's values as integers with their neuron index (`None` for a scalar).
fn tensor_entries(t: &lifchip_net::Tensor) -> impl Iterator<Item = (Option<usize>, i64)> + '_ {
    let scalar = t.shape.is_empty() && t.data.len() == 1;
    t.data
        .iter()
        .enumerate()
        .map(move |(i, &x)| ((!scalar).then_some(i), x as i64))
}

/// The weight grid a projection declaring `sign_mode` is stored on.
fn sign_class_of_mode(mode: SignMode) -> SignClass {
    match mode {
        SignMode::Excitatory => SignClass::Excitatory,
        SignMode::Inhibitory => SignClass::Inhibitory,
        SignMode::Mixed => SignClass::Mixed,
    }
}
