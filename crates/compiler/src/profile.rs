//! Measured firing rates: what weights the traffic objective when a profile is available.
//!
//! A [`RateProfile`] holds the spikes per tick of every neuron (input populations: input spikes
//! per tick), measured by running the float net on training data (`lifchip profile`). With one,
//! the partitioner breaks ties between cores by the expected packets a new input axon brings,
//! and placement minimises expected packets × hops per tick; without one, every neuron counts
//! as spiking once.

use serde::{Deserialize, Serialize};

use crate::{QuantNet, Violation};

/// Spikes per tick of each neuron, per population in the net's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateProfile {
    /// Where the rates come from (e.g. "mnist train, first 1000 images, rate mode").
    pub source: String,
    /// The net's fingerprint the rates were measured on.
    pub net_hash: u64,
    /// Seconds per tick and input spikes per tick for a pixel of 1 that turned the measured
    /// rates into spikes per tick (checked against the compile options when present).
    #[serde(default)]
    pub dt: Option<f64>,
    #[serde(default)]
    pub input_rate: Option<f64>,
    pub populations: Vec<PopulationRates>,
}

/// One population's measured rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopulationRates {
    pub name: String,
    /// Spikes per tick, one per neuron.
    pub rates: Vec<f32>,
}

/// Packet weight units per expected spike per tick: weights are integers so that the passes
/// stay exact and deterministic.
pub(crate) const MICRO: f64 = 1_000_000.0;

impl RateProfile {
    /// Checks that the profile describes `net` as compiled with `opts`: same fingerprint,
    /// populations and sizes, the same `dt` and `input_rate` (where the profile records them),
    /// and rates that are finite spikes per tick in [0, 1].
    pub fn check(&self, net: &QuantNet, opts: &crate::QuantizeOptions) -> Result<(), Violation> {
        let bad = |place: String, value: i64, limit: i64, hint: String| Violation {
            kind: crate::ViolationKind::RateProfile,
            place,
            value,
            limit,
            hint,
        };
        if self.net_hash != net.hash {
            return Err(bad(
                "profile".into(),
                0,
                0,
                format!(
                    "the profile was measured on another net (fingerprint {:016x}, this net {:016x}); measure it again with `lifchip profile`",
                    self.net_hash, net.hash
                ),
            ));
        }
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
        for (what, recorded, used) in [
            ("dt", self.dt, opts.dt),
            ("input_rate", self.input_rate, opts.input_rate),
        ] {
            if let Some(recorded) = recorded
                && !same(recorded, used)
            {
                return Err(bad(
                    format!("profile {what}"),
                    0,
                    0,
                    format!(
                        "the rates were measured with {what} {recorded}, but this compile uses {used}; measure them again with the same setting"
                    ),
                ));
            }
        }
        if self.populations.len() != net.populations.len() {
            return Err(bad(
                "profile".into(),
                self.populations.len() as i64,
                net.populations.len() as i64,
                "the profile must list every population of the net, in order".into(),
            ));
        }
        for (pop, rates) in net.populations.iter().zip(&self.populations) {
            if rates.name != pop.name || rates.rates.len() != pop.size() {
                return Err(bad(
                    format!("profile population {}", rates.name),
                    rates.rates.len() as i64,
                    pop.size() as i64,
                    format!("expected population {} with {} rates", pop.name, pop.size()),
                ));
            }
            if let Some((i, r)) = rates
                .rates
                .iter()
                .enumerate()
                .find(|(_, r)| !(0.0..=1.0).contains(*r))
            {
                return Err(bad(
                    format!("profile population {} rates[{i}]", rates.name),
                    0,
                    0,
                    format!(
                        "rate {r} is not a finite number of spikes per tick in [0, 1] (a chip neuron spikes at most once a tick)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Packet weights: expected packets per tick of each neuron, in millionths.
    pub fn weights(&self) -> Vec<Vec<u64>> {
        self.populations
            .iter()
            .map(|p| {
                p.rates
                    .iter()
                    .map(|&r| (f64::from(r) * MICRO).round() as u64)
                    .collect()
            })
            .collect()
    }
}
