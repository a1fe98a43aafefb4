//! Rate profiles, where train meets compile: measured firing rates (`lifchip_train::firing_rates`,
//! Hz and pixel values) become the compiler's [`RateProfile`] (spikes per tick, with the net's
//! fingerprint), so neither library depends on the other.

use std::path::Path;

use lifchip_compiler::{PopulationRates, QuantizeOptions, RateProfile};
use lifchip_net::Net;
use lifchip_train::FiringRates;

use crate::error::{StudyError, StudyResult};

/// Turns measured rates into spikes per tick: inputs `pixel × input_rate`, neurons `Hz × dt`.
pub fn to_profile(
    net: &Net,
    rates: Vec<FiringRates>,
    opts: &QuantizeOptions,
    source: String,
) -> RateProfile {
    RateProfile {
        source,
        net_hash: net.fingerprint(),
        dt: Some(opts.dt),
        input_rate: Some(opts.input_rate),
        populations: rates
            .into_iter()
            .map(|p| {
                let scale = if p.input { opts.input_rate } else { opts.dt };
                PopulationRates {
                    name: p.name,
                    rates: p
                        .rates
                        .iter()
                        // A chip neuron spikes at most once a tick.
                        .map(|&r| (f64::from(r) * scale).min(1.0) as f32)
                        .collect(),
                }
            })
            .collect(),
    }
}

/// Reads a rate profile written by `lifchip profile`.
pub fn load_profile(path: &Path) -> StudyResult<RateProfile> {
    let text = std::fs::read_to_string(path).map_err(|source| StudyError::ProfileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let profile: RateProfile = serde_json::from_str(&text).map_err(|e| {
        // serde_json appends " at line L column C"; the position goes in front instead.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_string();
        StudyError::ProfileJson {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    for (p, pop) in profile.populations.iter().enumerate() {
        if let Some((index, &rate)) = pop
            .rates
            .iter()
            .enumerate()
            .find(|(_, r)| !(0.0..=1.0).contains(*r))
        {
            return Err(StudyError::ProfileRate {
                path: path.to_path_buf(),
                population: format!("populations[{p}] ({})", pop.name),
                index,
                rate,
            });
        }
    }
    Ok(profile)
}
