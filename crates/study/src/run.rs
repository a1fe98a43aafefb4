//! Running one sweep point: the sweep's net (and, with `qat:`, its fine-tuned copy) through the
//! deployment pipeline on the point's target. A point never stops the sweep: whatever goes
//! wrong (a target that fails its check, a net that does not fit, a CHIPDIR that cannot be
//! written, an emulation error) is recorded in its [`PointResult`] as a failed point.

use std::path::Path;

use lifchip_data::Dataset;
use lifchip_net::Net;
use serde::{Deserialize, Serialize};

use lifchip_compiler::CompileReport;

use crate::{
    cache::Reference,
    emulate::{EmulateReport, EmulateSettings},
    pipeline::{Deployment, Emulation, deploy, quantize_options},
    plan::{Plan, target_problems},
    prepare::QatNets,
};

/// One point's outcome (`DIR/points/NNNN.json`, and one entry of `results.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PointResult {
    pub point: usize,
    /// Axis name → value, as written in the spec.
    pub values: Vec<(String, String)>,
    /// Fingerprint of the net, data, settings and the point's whole target: a finished point
    /// is reused only while it matches.
    pub key: String,
    /// Name of the point's target.
    pub target: String,
    pub ok: bool,
    /// The point's axis values do not make a valid target (e.g. `core.neurons: 1e308`): the
    /// sweep itself is wrong, not the design (the run then exits non-zero).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invalid_value: bool,
    pub accuracy: Option<f64>,
    /// Images the accuracy was measured on (absent in results written before it was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Per image, in the data's order: `1` when the chip classified it right, `0` when not
    /// (empty in results written before it was kept). Two points with it compare pairwise
    /// (`stats::paired`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub correct: String,
    /// Fraction of images on which the chip and the float spiking net predict the same class.
    pub agreement_with_float_spiking: Option<f64>,
    pub cores_used: Option<u64>,
    pub cores_lower_bound: Option<u64>,
    pub cycles_per_tick_mean: Option<f64>,
    pub latency_seconds_per_sample: Option<f64>,
    pub energy_joules_per_sample: Option<f64>,
    pub spikes_per_sample: Option<f64>,
    pub synaptic_events_per_sample: Option<f64>,
    /// Current, voltage and accumulator overflow events over all images.
    pub overflow_events: Option<u64>,
    /// The largest per-layer RMS relative weight quantization error.
    pub weight_rms_error_max: Option<f64>,
    pub compile_seconds: Option<f64>,
    /// Wall time of the emulation (other points may run at the same time).
    pub emulate_seconds: Option<f64>,
    /// Target problems, mapping violations or the emulation error, when the point failed.
    pub problems: Vec<String>,
    /// With `qat:`: chip accuracy of the net fine-tuned for this point's weight format.
    pub accuracy_qat: Option<f64>,
    /// With `qat:`: per image, as `correct`, for the fine-tuned net (same images), so that QAT
    /// and post-training quantization compare pairwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correct_qat: String,
    /// With `qat:`: float rate accuracy of the fine-tuned net (its weights on the QAT grid) on
    /// the same images.
    pub qat_rate_accuracy: Option<f64>,
    pub agreement_qat_with_float_spiking: Option<f64>,
    pub cores_used_qat: Option<u64>,
    pub energy_joules_per_sample_qat: Option<f64>,
    pub weight_rms_error_max_qat: Option<f64>,
    /// The fine-tuned net, relative to the output directory.
    pub qat_net: Option<String>,
    /// Why the fine-tuned net could not be trained, compiled or emulated.
    pub qat_problems: Vec<String>,
}

impl PointResult {
    /// The 95 % Wilson interval of `accuracy` (`None` without an accuracy or the image count).
    pub fn accuracy_interval(&self) -> Option<(f64, f64)> {
        let accuracy = self.accuracy?;
        let n = self.samples?;
        if self.correct.len() as u64 == n {
            let right = self.correct.bytes().filter(|&b| b == b'1').count() as u64;
            Some(crate::stats::wilson(right, n, crate::stats::Z95))
        } else {
            Some(crate::stats::wilson_accuracy(accuracy, n))
        }
    }

    /// The 95 % Wilson interval of `accuracy_qat` (the fine-tuned net ran on the same images).
    pub fn accuracy_qat_interval(&self) -> Option<(f64, f64)> {
        Some(crate::stats::wilson_accuracy(
            self.accuracy_qat?,
            self.samples?,
        ))
    }

    /// The point's value on axis `axis`, as written in the spec ("" when it has none).
    pub fn value_of(&self, axis: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == axis)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Everything the points share.
pub struct Context<'a> {
    pub net: &'a Net,
    pub data: &'a Dataset,
    /// The sweep's output directory (CHIPDIRs go to `chips/`).
    pub out: &'a Path,
    pub reference: &'a Reference,
    pub qat_nets: &'a QatNets,
}

/// One net deployed at one point: as far as it got, and what went wrong.
#[derive(Debug, Default)]
struct Attempt {
    /// The point's target name (once its text passed the check).
    target: String,
    /// The compile report (also of a net that does not fit).
    report: Option<CompileReport>,
    /// Whether the net fit the target (the report then describes a mapping).
    compiled: bool,
    emulation: Option<EmulateReport>,
    emulate_seconds: Option<f64>,
    agreement: Option<f64>,
    /// Empty when the net was deployed and emulated.
    problems: Vec<String>,
    /// The point's target could not be made from its axis values.
    invalid: bool,
}

impl Attempt {
    fn invalid(problems: Vec<String>) -> Attempt {
        Attempt {
            problems,
            invalid: true,
            ..Attempt::default()
        }
    }

    /// The mapping's report: `None` when the net did not compile.
    fn mapped(&self) -> Option<&CompileReport> {
        self.report.as_ref().filter(|_| self.compiled)
    }

    fn weight_rms_error_max(&self) -> Option<f64> {
        self.mapped().and_then(|r| {
            r.quantization
                .iter()
                .map(|q| q.rms_relative_error)
                .reduce(f64::max)
        })
    }
}

/// Deploys `net` on the point's target into `chips/NAME.chip` and emulates the sweep's data on
/// it (the one pipeline, for the plain net and the fine-tuned one alike).
fn attempt(plan: &Plan, ctx: &Context, net: &Net, name: &str) -> Attempt {
    let text = match &plan.target_text {
        Ok(t) => t,
        Err(e) => return Attempt::invalid(vec![e.clone()]),
    };
    let target = match lifchip_target::parse(text, &format!("point {}", plan.index)) {
        Ok(t) => t,
        Err(e) => return Attempt::invalid(target_problems(&e)),
    };
    let mut attempt = Attempt {
        target: target.name.clone(),
        ..Attempt::default()
    };
    let options = match quantize_options(plan.synapse_tau, plan.input_rate) {
        Ok(o) => o,
        Err(e) => {
            attempt.problems.push(e.to_string());
            return attempt;
        }
    };
    let chip_dir = ctx.out.join("chips").join(format!("{name}.chip"));
    let deployed = deploy(Deployment {
        net,
        target: &target,
        options: &options,
        profile: None,
        chip_dir: &chip_dir,
        emulation: Some(Emulation {
            data: ctx.data,
            settings: EmulateSettings::regular(plan.ticks, 0),
            float_predictions: &ctx.reference.spiking_predictions,
            on_progress: &|_, _| {},
        }),
        exact: None,
    });
    match deployed {
        Ok(d) => {
            attempt.compiled = true;
            attempt.report = Some(d.report);
            attempt.emulation = d.emulation;
            attempt.emulate_seconds = d.emulate_seconds;
            attempt.agreement = d.agreement;
        }
        Err(failure) => {
            attempt.problems = failure.problems();
            attempt.compiled = failure.compiled();
            attempt.report = Some(failure.into_report());
        }
    }
    attempt
}

/// Runs the sweep's net at one point and, with `qat:`, the point's fine-tuned net beside it.
pub fn run_point(plan: &Plan, ctx: &Context) -> PointResult {
    let mut result = PointResult {
        point: plan.index,
        values: plan.shown.clone(),
        key: plan.key.clone(),
        ..PointResult::default()
    };
    let plain = attempt(plan, ctx, ctx.net, &format!("{:04}", plan.index));
    record_plain(&mut result, plain, &ctx.data.labels);
    if let (Some((key, _)), Ok(_)) = (&plan.qat, &plan.target_text) {
        record_qat(&mut result, plan, ctx, key, &ctx.data.labels);
    }
    result
}

/// Per image, `1` when `predictions` has the label's class, else `0`.
fn correctness(predictions: &[Option<usize>], labels: &[u8]) -> String {
    predictions
        .iter()
        .zip(labels)
        .map(|(p, l)| {
            if *p == Some(usize::from(*l)) {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

fn record_plain(result: &mut PointResult, a: Attempt, labels: &[u8]) {
    result.target.clone_from(&a.target);
    result.weight_rms_error_max = a.weight_rms_error_max();
    if let Some(r) = &a.report {
        result.compile_seconds = Some(r.compile_seconds);
        result.cores_lower_bound = Some(r.cores_lower_bound);
    }
    result.cores_used = a.mapped().map(|r| r.cores_used);
    if let Some(emu) = &a.emulation {
        let n = emu.samples.max(1) as f64;
        result.emulate_seconds = a.emulate_seconds;
        result.accuracy = emu.accuracy;
        result.samples = Some(emu.samples);
        result.correct = correctness(&emu.predictions, labels);
        result.cycles_per_tick_mean = Some(emu.cycles_per_tick_mean);
        result.latency_seconds_per_sample = Some(emu.latency_seconds_per_sample);
        result.energy_joules_per_sample = Some(emu.energy_joules_per_sample);
        result.spikes_per_sample = Some(emu.spikes as f64 / n);
        result.synaptic_events_per_sample = Some(emu.synaptic_events as f64 / n);
        result.overflow_events = Some(
            emu.overflows
                .iter()
                .map(|o| o.current + o.voltage + o.accumulator)
                .sum(),
        );
        result.agreement_with_float_spiking = a.agreement;
    }
    result.ok = a.problems.is_empty() && a.emulation.is_some();
    result.invalid_value = a.invalid;
    result.problems = a.problems;
}

/// Deploys the point's fine-tuned net (`chips/NNNN-qat.chip`) and records it beside the plain
/// one; its problems go to `qat_problems`, the point's own outcome stands.
fn record_qat(result: &mut PointResult, plan: &Plan, ctx: &Context, key: &str, labels: &[u8]) {
    let net = match ctx.qat_nets.get(key) {
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            result.qat_problems = vec![format!("fine-tuning: {e}")];
            return;
        }
        None => {
            result.qat_problems = vec!["fine-tuning: no net was trained for this point".into()];
            return;
        }
    };
    result.qat_net = Some(format!("qat/{key}.net"));
    let a = attempt(plan, ctx, net, &format!("{:04}-qat", plan.index));
    if !a.problems.is_empty() {
        result.qat_problems = a.problems;
        return;
    }
    result.qat_rate_accuracy = lifchip_train::eval_rate(net, ctx.data)
        .ok()
        .map(|e| e.accuracy);
    result.weight_rms_error_max_qat = a.weight_rms_error_max();
    result.cores_used_qat = a.mapped().map(|r| r.cores_used);
    if let Some(emu) = &a.emulation {
        result.accuracy_qat = emu.accuracy;
        result.correct_qat = correctness(&emu.predictions, labels);
        result.energy_joules_per_sample_qat = Some(emu.energy_joules_per_sample);
    }
    result.agreement_qat_with_float_spiking = a.agreement;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A 2x2-pixel, 2-class net: 4 inputs, 3 hidden soft-LIF neurons, 2 outputs.
    fn small_net() -> Net {
        let lif = |n: usize| {
            format!(
                "{{kind: soft_lif, tau_rc: 0.02, tau_ref: 0.002, amplitude: 0.063, bias: {:?}}}",
                vec![0.1f32; n]
            )
        };
        let text = format!(
            "name: small\npopulations:\n  - {{name: in, shape: [4], neuron: {{kind: input}}}}\n  \
             - {{name: hidden, shape: [3], neuron: {}}}\n  - {{name: out, shape: [2], neuron: {}}}\n\
             projections:\n  - {{name: a, from: in, to: hidden, ops: [{{kind: dense, weights: \
             [[0.5, -0.2, 0.3, 0.1], [0.2, 0.4, -0.1, 0.3], [-0.3, 0.2, 0.5, 0.2]]}}]}}\n  \
             - {{name: b, from: hidden, to: out, ops: [{{kind: dense, weights: [[0.6, -0.4, 0.2], \
             [-0.2, 0.5, 0.4]]}}]}}\n",
            lif(3),
            lif(2)
        );
        lifchip_net::from_yaml_str(&text).unwrap()
    }

    fn small_data() -> Dataset {
        Dataset {
            images: vec![255, 0, 128, 30, 0, 255, 60, 200, 90, 90, 90, 90],
            labels: vec![0, 1, 0],
            n: 3,
            rows: 2,
            cols: 2,
        }
    }

    fn plan_with_qat(target: &lifchip_target::Target) -> Plan {
        let qat = lifchip_train::QatConfig::from_target(target);
        Plan {
            index: 0,
            shown: vec![("ticks".into(), "20".into())],
            synapse_tau: 0.005,
            input_rate: 1.0,
            ticks: 20,
            target_text: Ok(serde_yaml::to_string(target).unwrap()),
            key: "k".into(),
            qat: Some(("q".into(), qat)),
        }
    }

    fn run_in(out: &Path) -> PointResult {
        run_on(out, &small_data())
    }

    fn run_on(out: &Path, data: &Dataset) -> PointResult {
        let net = small_net();
        let target = lifchip_target::builtin("tiny").unwrap();
        let reference = Reference {
            spiking_predictions: vec![0, 1, 0],
            ..Reference::default()
        };
        let qat_nets: QatNets = BTreeMap::from([("q".to_string(), Ok(net.clone()))]);
        let ctx = Context {
            net: &net,
            data,
            out,
            reference: &reference,
            qat_nets: &qat_nets,
        };
        run_point(&plan_with_qat(&target), &ctx)
    }

    #[test]
    fn correctness_marks_the_images_classified_right() {
        assert_eq!(
            correctness(&[Some(1), None, Some(0), Some(2)], &[1, 0, 1, 2]),
            "1001"
        );
    }

    #[test]
    fn a_point_runs_the_net_and_its_fine_tuned_copy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("chips")).unwrap();
        let r = run_in(dir.path());
        assert!(r.ok, "{:?}", r.problems);
        assert!(r.problems.is_empty() && r.qat_problems.is_empty(), "{r:?}");
        assert!(r.accuracy.is_some() && r.accuracy_qat.is_some(), "{r:?}");
        // The per-image correctness is kept and adds up to the accuracy.
        assert_eq!(r.samples, Some(r.correct.len() as u64), "{r:?}");
        assert!(!r.correct.is_empty());
        assert_eq!(r.correct_qat.len(), r.correct.len(), "{r:?}");
        let right = r.correct.bytes().filter(|&b| b == b'1').count();
        assert_eq!(r.accuracy, Some(right as f64 / r.correct.len() as f64));
        assert!(r.agreement_with_float_spiking.is_some(), "{r:?}");
        assert_eq!(r.cores_used, r.cores_used_qat);
        assert!(dir.path().join("chips/0000.chip/report.json").is_file());
        assert!(dir.path().join("chips/0000-qat.chip/report.json").is_file());
    }

    #[test]
    fn a_chipdir_that_cannot_be_written_fails_the_point_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        // `chips` is a file: no CHIPDIR can be written below it.
        std::fs::write(dir.path().join("chips"), b"not a directory").unwrap();
        let r = run_in(dir.path());
        assert!(!r.ok);
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("writing the CHIPDIR")),
            "{:?}",
            r.problems
        );
        // The mapping itself succeeded and is recorded.
        assert!(
            r.cores_used.is_some() && r.compile_seconds.is_some(),
            "{r:?}"
        );
        assert!(r.accuracy.is_none());
        assert!(
            r.qat_problems
                .iter()
                .any(|p| p.starts_with("writing the CHIPDIR")),
            "{:?}",
            r.qat_problems
        );
        assert!(r.accuracy_qat.is_none());
    }

    #[test]
    fn an_emulation_error_fails_the_point_and_keeps_its_mapping() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("chips")).unwrap();
        let wide = Dataset {
            images: vec![0; 9],
            labels: vec![0],
            n: 1,
            rows: 3,
            cols: 3,
        };
        let r = run_on(dir.path(), &wide);
        assert!(!r.ok);
        assert_eq!(
            r.problems,
            vec![
                "emulation: the chip takes 4 input channels but the data has 3x3 = 9 pixels per \
                 image"
                    .to_string()
            ]
        );
        assert!(r.cores_used.is_some(), "{r:?}");
        assert!(r.qat_problems[0].starts_with("emulation: "), "{r:?}");
    }
}
