//! The one deployment pipeline every command and every sweep point runs: compile (quantize,
//! partition, place, route) → emit the chip configuration → write the CHIPDIR and its
//! `report.json` → emulate a dataset on it → agreement with the float spiking net.
//!
//! A failure names the stage it stopped at and keeps the compile report when there is one, so
//! that a sweep records it as a failed point and a command shows it to the user.

use std::{path::Path, time::Instant};

use lifchip_chip::FlatChip;
use lifchip_compiler::{CompileReport, QuantizeOptions, RateProfile};
use lifchip_data::Dataset;
use lifchip_net::Net;
use lifchip_target::Target;

use crate::{
    emulate::{EmulateReport, EmulateSettings, emulate_dataset},
    error::{StudyError, StudyResult},
    write::write_json,
};

/// The compiler's options for a synaptic time constant (seconds) and an input rate (spikes per
/// tick for a pixel of value 1), both checked.
pub fn quantize_options(synapse_tau: f64, input_rate: f64) -> StudyResult<QuantizeOptions> {
    if !(synapse_tau.is_finite() && synapse_tau >= 0.0) {
        return Err(StudyError::Setting {
            name: "--synapse-tau",
            value: synapse_tau.to_string(),
            expected: "a number of seconds >= 0",
        });
    }
    if !(input_rate.is_finite() && input_rate > 0.0 && input_rate <= 1.0) {
        return Err(StudyError::Setting {
            name: "--input-rate",
            value: input_rate.to_string(),
            expected: "spikes per tick in (0, 1]",
        });
    }
    Ok(QuantizeOptions {
        synapse_tau,
        input_rate,
        ..QuantizeOptions::default()
    })
}

/// The fraction of samples on which the chip predicts the float net's class; `None` when the
/// float predictions are missing or cover other samples.
pub fn agreement(chip: &[Option<usize>], float: &[usize]) -> Option<f64> {
    (!float.is_empty() && float.len() == chip.len()).then(|| {
        let same = chip
            .iter()
            .zip(float)
            .filter(|(c, f)| **c == Some(**f))
            .count();
        same as f64 / float.len() as f64
    })
}

/// The emulation step of a deployment.
pub struct Emulation<'a> {
    pub data: &'a Dataset,
    pub settings: EmulateSettings,
    /// The float spiking net's predictions on the same samples (empty: no agreement).
    pub float_predictions: &'a [usize],
    /// Called with (samples done, samples in all).
    pub on_progress: &'a dyn Fn(usize, usize),
}

/// What to deploy, and where.
pub struct Deployment<'a> {
    pub net: &'a Net,
    pub target: &'a Target,
    pub options: &'a QuantizeOptions,
    /// Measured firing rates weighting the traffic objective (`lifchip profile`).
    pub profile: Option<&'a RateProfile>,
    /// The CHIPDIR to write (with `report.json` in it).
    pub chip_dir: &'a Path,
    /// Emulate after writing (none: compile and write only).
    pub emulation: Option<Emulation<'a>>,
    /// Prove the partition optimal or report its gap with the exact ILP, within this solving
    /// time (`report.exact`; `lifchip compile --exact`).
    pub exact: Option<std::time::Duration>,
}

/// A deployed net: its compile report, its chip configuration and, when emulated, the
/// emulation report and the agreement with the float net.
#[derive(Debug)]
pub struct Deployed {
    pub report: CompileReport,
    pub config: FlatChip,
    pub emulation: Option<EmulateReport>,
    /// Wall time of the emulation.
    pub emulate_seconds: Option<f64>,
    pub agreement: Option<f64>,
}

/// Where a deployment stopped.
#[derive(Debug)]
pub enum DeployFailure {
    /// The net does not fit (or the rate profile does not describe it): the report lists
    /// every violation.
    Compile(Box<CompileReport>),
    /// Compiled, but the CHIPDIR (or its report) could not be written.
    Write {
        report: Box<CompileReport>,
        error: StudyError,
    },
    /// Written, but the emulation failed.
    Emulate {
        report: Box<CompileReport>,
        error: StudyError,
    },
}

impl DeployFailure {
    /// The compile report (also of a net that does not fit).
    pub fn report(&self) -> &CompileReport {
        match self {
            DeployFailure::Compile(report)
            | DeployFailure::Write { report, .. }
            | DeployFailure::Emulate { report, .. } => report,
        }
    }

    /// The compile report, owned.
    pub fn into_report(self) -> CompileReport {
        match self {
            DeployFailure::Compile(report)
            | DeployFailure::Write { report, .. }
            | DeployFailure::Emulate { report, .. } => *report,
        }
    }

    /// Whether the net was compiled (it failed later, writing or emulating).
    pub fn compiled(&self) -> bool {
        !matches!(self, DeployFailure::Compile(_))
    }

    /// One line per problem, as a sweep records them for a failed point.
    pub fn problems(&self) -> Vec<String> {
        match self {
            DeployFailure::Compile(report) if !report.internal_errors.is_empty() => report
                .internal_errors
                .iter()
                .map(|e| format!("compiler bug: {e}"))
                .collect(),
            DeployFailure::Compile(report) if report.violations.is_empty() => {
                vec!["the compiler refused the net without naming a limit".into()]
            }
            DeployFailure::Compile(report) => {
                report.violations.iter().map(ToString::to_string).collect()
            }
            DeployFailure::Write { error, .. } => vec![format!("writing the CHIPDIR: {error}")],
            DeployFailure::Emulate { error, .. } => vec![format!("emulation: {error}")],
        }
    }

    /// The error to show a person who deployed `net` on `target`.
    pub fn into_error(self, net: &Net, target: &Target) -> StudyError {
        match self {
            DeployFailure::Compile(report) if !report.internal_errors.is_empty() => {
                StudyError::CompilerBug {
                    net: net.name.clone(),
                    report,
                }
            }
            DeployFailure::Compile(report)
                if !report.violations.is_empty()
                    && report
                        .violations
                        .iter()
                        .all(|v| v.kind == lifchip_compiler::ViolationKind::RateProfile) =>
            {
                StudyError::ProfileMismatch {
                    net: net.name.clone(),
                    report,
                }
            }
            DeployFailure::Compile(report) => StudyError::DoesNotFit {
                net: net.name.clone(),
                target: target.name.clone(),
                report,
            },
            DeployFailure::Write { error, .. } | DeployFailure::Emulate { error, .. } => error,
        }
    }
}

/// The compile report as `CHIPDIR/report.json` holds it: without the wall-clock figures
/// `compile_seconds` and `pass_seconds` (they are in `compile --json`), so two compiles of a
/// net give CHIPDIRs that `diff -r` finds identical.
fn timeless(report: &CompileReport) -> StudyResult<serde_json::Value> {
    let mut value = serde_json::to_value(report).map_err(|e| StudyError::Encode {
        what: "report",
        message: e.to_string(),
    })?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("compile_seconds");
        fields.remove("pass_seconds");
    }
    Ok(value)
}

/// Compiles `d.net` onto `d.target`, emits the chip configuration, writes it as a CHIPDIR with
/// its `report.json`, and (when asked) emulates the data on it and measures the agreement with
/// the float net.
pub fn deploy(d: Deployment) -> Result<Deployed, DeployFailure> {
    let (mapped, mut report) =
        lifchip_compiler::compile_with_profile(d.net, d.target, d.options, d.profile)
            .map_err(DeployFailure::Compile)?;
    if let Some(limit) = d.exact {
        report.exact = Some(lifchip_compiler::check_partition(&mapped, d.target, limit));
    }
    // Flat tables, streamed to disk: a big net's chip in ~16 bytes per synapse. (Its input
    // rate is the options', which the compiler copied into the program.)
    let emitted = lifchip_backend_core::emit_flat(&mapped, d.target);
    drop(mapped);
    let written = emitted.map_err(StudyError::from).and_then(|config| {
        lifchip_chip::write_chipdir_flat(&config, d.chip_dir)?;
        write_json(&d.chip_dir.join("report.json"), &timeless(&report)?)?;
        Ok(config)
    });
    let config = match written {
        Ok(config) => config,
        Err(error) => {
            return Err(DeployFailure::Write {
                report: Box::new(report),
                error,
            });
        }
    };
    let mut deployed = Deployed {
        report,
        config,
        emulation: None,
        emulate_seconds: None,
        agreement: None,
    };
    if let Some(e) = d.emulation {
        let started = Instant::now();
        match emulate_dataset(&deployed.config, e.data, &e.settings, e.on_progress) {
            Ok(emulation) => {
                deployed.emulate_seconds = Some(started.elapsed().as_secs_f64());
                deployed.agreement = agreement(&emulation.predictions, e.float_predictions);
                deployed.emulation = Some(emulation);
            }
            Err(error) => {
                return Err(DeployFailure::Emulate {
                    report: Box::new(deployed.report),
                    error,
                });
            }
        }
    }
    Ok(deployed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_needs_predictions_for_the_same_samples() {
        assert_eq!(
            agreement(&[Some(1), None, Some(3), Some(0)], &[1, 2, 3, 4]),
            Some(0.5)
        );
        assert_eq!(agreement(&[Some(1)], &[]), None);
        assert_eq!(agreement(&[Some(1)], &[1, 2]), None);
    }

    #[test]
    fn settings_are_checked() {
        assert!(quantize_options(0.005, 1.0).is_ok());
        let e = quantize_options(-1.0, 1.0).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("--synapse-tau -1: expected a number of seconds >= 0")
        );
        let e = quantize_options(0.0, 2.0).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("--input-rate 2: expected spikes per tick in (0, 1]")
        );
    }
}
