//! `lifchip sweep`: vary target fields (and the target itself, the synaptic time constant, the
//! input rate or the ticks per sample) over a grid or a list of points; validate, compile and
//! emulate every point, in parallel; collect `results.csv`, `results.json`, plots (PNG and
//! SVG) and `report.md`.
//!
//! A sweep never stops at a bad point: a point whose target fails its check or whose net does
//! not fit records its problems and the sweep goes on. Each finished point is written to
//! `DIR/points/NNNN.json` (atomically) with a fingerprint of everything it depends on, so an
//! interrupted sweep resumes where it stopped and a changed spec recomputes only what changed.
//! With `train:` the net is trained once into `DIR/net.net` and reused by later runs. With a
//! `qat:` section every distinct weight format among the points gets a quantization-aware
//! fine-tuned copy of the net (`DIR/qat/KEY.net`, reused while its key matches), compiled and
//! emulated beside the plain net (`accuracy_qat` next to `accuracy`).

mod data;
pub(crate) mod plot;
mod spec;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use clap::Args;
use lifchip_data::{DataSource, Dataset, Split};
use lifchip_net::Net;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use self::spec::{
    Axis, INPUT_RATE_AXIS, SYNAPSE_TAU_AXIS, SpecFile, TARGET_AXIS, TICKS_AXIS, show_value,
};
use crate::{
    commands::{
        compile::quantize_options,
        emulate::{EmulateSettings, Encoding, emulate_dataset},
        train::train_with_progress,
    },
    util::{CliError, CliResult, progress, write_atomic, write_json},
};

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep spec (YAML; see examples/sweeps/ and docs/studies.md).
    #[arg(long)]
    pub spec: PathBuf,
    /// Output directory (created; finished points are kept and not recomputed).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads, shared by the points run at once and by the emulator inside each point
    /// (default: one per core, or RAYON_NUM_THREADS).
    #[arg(long)]
    pub threads: Option<usize>,
}

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
    pub accuracy: Option<f64>,
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
    /// The point's value on axis `axis`, as written in the spec ("" when it has none).
    pub fn value_of(&self, axis: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == axis)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The float net on the same images (`DIR/reference.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Reference {
    key: String,
    rate_accuracy: Option<f64>,
    spiking_accuracy: Option<f64>,
    spiking_predictions: Vec<usize>,
    note: Option<String>,
}

/// What `DIR/net.json` records about the trained net.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct TrainedNet {
    fingerprint: String,
    config: String,
    seconds: f64,
    rate_test_accuracy: Option<f64>,
}

/// `DIR/summary.json`.
#[derive(Serialize)]
struct Summary<'a> {
    spec: String,
    title: &'a str,
    net: &'a str,
    net_source: &'a str,
    data: &'a str,
    split: &'a str,
    samples: usize,
    image_size: [usize; 2],
    points: usize,
    mapped: usize,
    failed: usize,
    computed: usize,
    reused: usize,
    threads: usize,
    train_seconds: Option<f64>,
    points_seconds: f64,
    wall_seconds: f64,
    float_rate_accuracy: Option<f64>,
    float_spiking_accuracy: Option<f64>,
    pareto_front: Vec<usize>,
    plots: Vec<String>,
    qat: Option<&'a spec::QatSpec>,
    /// Wall time of preparing the fine-tuned nets (training or reusing them).
    qat_seconds: Option<f64>,
    /// Fine-tuned nets: (file under `qat/`, weight format, seconds when trained in this run).
    qat_nets: Vec<QatNetSummary>,
}

#[derive(Clone, Debug, Serialize)]
struct QatNetSummary {
    net: String,
    weight_format: String,
    seconds: Option<f64>,
    error: Option<String>,
}

/// What `DIR/qat/KEY.json` records about a fine-tuned net.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct QatStamp {
    key: String,
    weight_format: String,
    seconds: f64,
    epochs: usize,
    train_images: usize,
}

/// The fingerprint of a composite key (see [`lifchip_files::Fingerprint`]).
fn fnv(parts: &[&str]) -> String {
    let mut h = lifchip_files::Fingerprint::new();
    for part in parts {
        h.part(part);
    }
    h.hex()
}

/// Sets the field at dotted `path` in a target's YAML tree.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (k, part) in parts.iter().enumerate() {
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| format!("`{}` is not a section", parts[..k].join(".")))?;
        let key = Value::String((*part).to_string());
        if k + 1 == parts.len() {
            map.insert(key, value);
            return Ok(());
        }
        if !map.contains_key(&key) {
            map.insert(key.clone(), Value::Mapping(Default::default()));
        }
        node = map
            .get_mut(&key)
            .ok_or_else(|| format!("no section `{part}`"))?;
    }
    Ok(())
}

/// Where `path` stops existing in a target tree: `None` if every part is there, else the
/// section walked so far and the keys it has.
fn missing_part(root: &Value, path: &str) -> Option<(String, Vec<String>)> {
    let mut node = root;
    let mut walked = Vec::new();
    for part in path.split('.') {
        let map = node.as_mapping()?;
        match map.get(part) {
            Some(next) => {
                walked.push(part);
                node = next;
            }
            None => {
                let keys = map
                    .keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let section = if walked.is_empty() {
                    "the top level".to_string()
                } else {
                    format!("section `{}`", walked.join("."))
                };
                return Some((format!("{section} has no `{part}`"), keys));
            }
        }
    }
    None
}

/// A resolved base target: its name and YAML tree.
struct Base {
    name: String,
    tree: Value,
}

/// Resolves every target the sweep names (base and `target` axis) and checks that every
/// target-field axis exists in at least one of them.
fn resolve_targets(file: &SpecFile) -> CliResult<BTreeMap<String, Base>> {
    let mut bases = BTreeMap::new();
    for reference in file.target_refs() {
        let at = if file.spec.target.as_deref() == Some(reference.as_str()) {
            file.at(&["target"])
        } else {
            file.at(&["axes", TARGET_AXIS])
        };
        let target = if let Some(t) = lifchip_target::builtin(&reference) {
            t
        } else {
            let near = file.relative(Path::new(&reference));
            let path = if near.exists() {
                near
            } else if Path::new(&reference).exists() {
                PathBuf::from(&reference)
            } else {
                crate::fail!(
                    "{at}: target `{reference}` is neither a built-in target ({}) nor a file \
                     (relative paths are relative to the spec file)",
                    lifchip_target::builtin_names().join(", ")
                )
            };
            lifchip_target::load(&path)
                .map_err(|e| CliError(format!("{at}: target `{reference}`: {e}")))?
        };
        let tree = serde_yaml::to_value(&target)
            .map_err(|e| CliError(format!("target `{reference}`: {e}")))?;
        bases.insert(
            reference,
            Base {
                name: target.name.clone(),
                tree,
            },
        );
    }
    for axis in file.spec.axes.0.iter().filter(|a| a.is_target_field()) {
        let misses: Vec<(String, (String, Vec<String>))> = bases
            .values()
            .filter_map(|b| missing_part(&b.tree, &axis.name).map(|m| (b.name.clone(), m)))
            .collect();
        if misses.len() < bases.len() {
            continue;
        }
        if let Some((name, (what, keys))) = misses.into_iter().next() {
            crate::fail!(
                "{}: axes.{}: no such target field: in target `{name}`, {what}; expected one of {}",
                file.at(&["axes", &axis.name]),
                axis.name,
                keys.join(", ")
            );
        }
    }
    Ok(bases)
}

/// One point, ready to run.
struct Plan {
    index: usize,
    shown: Vec<(String, String)>,
    synapse_tau: f64,
    input_rate: f64,
    ticks: u32,
    /// The point's target as YAML, or why it could not be built.
    target_text: Result<String, String>,
    key: String,
    /// With `qat:` and a valid target: the fine-tuning settings for its weight format, and
    /// their key (points with the same key share one fine-tuned net).
    qat: Option<(String, lifchip_train::QatConfig)>,
}

/// Everything the points share.
struct Context<'a> {
    net: &'a Net,
    data: &'a Dataset,
    out: &'a Path,
    reference: &'a Reference,
    qat_nets: &'a QatNets,
}

/// The QAT settings of a point's target and their key (everything the fine-tuned net depends
/// on: the net, the training data, the `qat:` settings and the weight format, not the rest of
/// the target).
fn qat_plan(
    spec: &spec::QatSpec,
    target_text: &str,
    qat_base: &str,
    train_data: &str,
) -> Option<(String, lifchip_train::QatConfig)> {
    let target = lifchip_target::parse(target_text, "point").ok()?;
    let mut q = lifchip_train::QatConfig::from_target(&target);
    q.target = weight_format(&q);
    q.data = train_data.to_string();
    q.train_limit = spec.train_limit;
    q.test_limit = Some(0);
    q.epochs = spec.epochs;
    q.lr = spec.lr;
    q.batch_size = spec.batch_size;
    q.noise = spec.noise;
    q.seed = spec.seed;
    let text = serde_json::to_string(&q).unwrap_or_default();
    Some((fnv(&["lifchip-sweep-qat-1", qat_base, &text]), q))
}

/// `4-bit loihi_sign_mode`.
fn weight_format(q: &lifchip_train::QatConfig) -> String {
    let enc = match q.encoding {
        lifchip_target::WeightEncoding::Signed => "signed",
        lifchip_target::WeightEncoding::LoihiSignMode => "loihi_sign_mode",
    };
    format!("{}-bit {enc}", q.weight_bits)
}

fn plan_points(
    file: &SpecFile,
    bases: &BTreeMap<String, Base>,
    fingerprint: &str,
    data_desc: &str,
    qat_base: &str,
    train_data: &str,
) -> Vec<Plan> {
    let spec = &file.spec;
    file.points()
        .into_iter()
        .enumerate()
        .map(|(index, values)| {
            let mut target_ref = spec.target.clone().unwrap_or_default();
            let (mut synapse_tau, mut input_rate, mut ticks) =
                (spec.synapse_tau, spec.input_rate, spec.ticks);
            for (name, v) in &values {
                match name.as_str() {
                    TARGET_AXIS => target_ref = v.as_str().unwrap_or_default().to_string(),
                    SYNAPSE_TAU_AXIS => synapse_tau = v.as_f64().unwrap_or(synapse_tau),
                    INPUT_RATE_AXIS => input_rate = v.as_f64().unwrap_or(input_rate),
                    TICKS_AXIS => {
                        ticks = v
                            .as_u64()
                            .and_then(|t| u32::try_from(t).ok())
                            .unwrap_or(ticks);
                    }
                    _ => {}
                }
            }
            let target_text = match bases.get(&target_ref) {
                None => Err(format!("target `{target_ref}` was not resolved")),
                Some(base) => {
                    let mut tree = base.tree.clone();
                    values
                        .iter()
                        .filter(|(name, _)| name.contains('.'))
                        .try_for_each(|(path, v)| {
                            set_path(&mut tree, path, v.clone()).map_err(|e| format!("{path}: {e}"))
                        })
                        .and_then(|()| serde_yaml::to_string(&tree).map_err(|e| e.to_string()))
                }
            };
            let target_part = match &target_text {
                Ok(t) => t.clone(),
                Err(e) => format!("error: {e}"),
            };
            let qat = match (&spec.qat, &target_text) {
                (Some(q), Ok(t)) => qat_plan(q, t, qat_base, train_data),
                _ => None,
            };
            let mut parts = vec![
                "lifchip-sweep-point-1",
                fingerprint,
                data_desc,
                &target_part,
            ];
            let settings = [
                synapse_tau.to_string(),
                input_rate.to_string(),
                ticks.to_string(),
            ];
            parts.splice(3..3, settings.iter().map(String::as_str));
            if spec.qat.is_some() {
                parts.push(qat.as_ref().map_or("qat: none", |(k, _)| k.as_str()));
            }
            let key = fnv(&parts);
            Plan {
                index,
                shown: values
                    .iter()
                    .map(|(k, v)| (k.clone(), show_value(v)))
                    .collect(),
                synapse_tau,
                input_rate,
                ticks,
                target_text,
                key,
                qat,
            }
        })
        .collect()
}

/// A target problem as a line without the generated file's positions.
fn target_problems(e: &lifchip_target::TargetError) -> Vec<String> {
    let problems = e.problems();
    if problems.is_empty() {
        return vec![e.to_string()];
    }
    problems
        .iter()
        .map(|p| {
            let mut s = format!("{}: {}", p.field, p.message);
            if !p.value.is_empty() {
                s.push_str(&format!(" (value {})", p.value));
            }
            if !p.expected.is_empty() {
                s.push_str(&format!("; expected {}", p.expected));
            }
            if let Some(h) = &p.hint {
                s.push_str(&format!(" ({h})"));
            }
            s
        })
        .collect()
}

fn run_point(plan: &Plan, ctx: &Context) -> CliResult<PointResult> {
    let mut result = run_plain(plan, ctx)?;
    if let (Some((key, _)), Ok(text)) = (&plan.qat, &plan.target_text) {
        match run_qat(plan, ctx, key, text) {
            Ok(q) => {
                result.accuracy_qat = q.accuracy;
                result.agreement_qat_with_float_spiking = q.agreement;
                result.cores_used_qat = q.cores_used;
                result.energy_joules_per_sample_qat = q.energy;
                result.weight_rms_error_max_qat = q.weight_rms_error_max;
                result.qat_rate_accuracy = q.rate_accuracy;
                result.qat_net = Some(format!("qat/{key}.net"));
            }
            Err(problems) => {
                result.qat_net = ctx
                    .qat_nets
                    .get(key)
                    .and_then(|n| n.as_ref().ok())
                    .map(|_| format!("qat/{key}.net"));
                result.qat_problems = problems;
            }
        }
    }
    Ok(result)
}

/// What the fine-tuned net did at a point.
struct QatOutcome {
    accuracy: Option<f64>,
    agreement: Option<f64>,
    cores_used: Option<u64>,
    energy: Option<f64>,
    weight_rms_error_max: Option<f64>,
    rate_accuracy: Option<f64>,
}

/// Compiles and emulates the point's fine-tuned net (`chips/NNNN-qat.chip`); a problem is
/// returned, not raised, so the sweep goes on.
fn run_qat(plan: &Plan, ctx: &Context, key: &str, text: &str) -> Result<QatOutcome, Vec<String>> {
    let net = match ctx.qat_nets.get(key) {
        Some(Ok(n)) => n,
        Some(Err(e)) => return Err(vec![format!("fine-tuning: {e}")]),
        None => {
            return Err(vec![
                "fine-tuning: no net was trained for this point".into(),
            ]);
        }
    };
    let target = lifchip_target::parse(text, &format!("point {}", plan.index))
        .map_err(|e| target_problems(&e))?;
    let rate_accuracy = lifchip_train::eval_rate(net, ctx.data)
        .ok()
        .map(|e| e.accuracy);
    let opts = quantize_options(plan.synapse_tau, plan.input_rate).map_err(|e| vec![e.0])?;
    let (mapped, report) = lifchip_compiler::compile(net, &target, &opts).map_err(|r| {
        r.violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    })?;
    let mut config = lifchip_backend_core::emit(&mapped, &target);
    config.input_rate = opts.input_rate;
    let chip_dir = ctx.out.join(format!("chips/{:04}-qat.chip", plan.index));
    lifchip_chip::write_chipdir(&config, &chip_dir).map_err(|e| vec![e.to_string()])?;
    write_json(&chip_dir.join("report.json"), &report).map_err(|e| vec![e.0])?;
    let settings = EmulateSettings {
        ticks: plan.ticks,
        encoding: Encoding::Regular,
        seed: 0,
        mode: lifchip_emulator::Mode::CycleAccurate,
        show_progress: false,
    };
    let emu = emulate_dataset(&config, ctx.data, &settings)
        .map_err(|e| vec![format!("emulation: {}", e.0)])?;
    let float = &ctx.reference.spiking_predictions;
    let agreement = (!float.is_empty() && float.len() == emu.predictions.len()).then(|| {
        let same = emu
            .predictions
            .iter()
            .zip(float)
            .filter(|(c, f)| **c == Some(**f))
            .count();
        same as f64 / float.len() as f64
    });
    Ok(QatOutcome {
        accuracy: emu.accuracy,
        agreement,
        cores_used: Some(report.cores_used),
        energy: Some(emu.energy_joules_per_sample),
        weight_rms_error_max: report
            .quantization
            .iter()
            .map(|q| q.rms_relative_error)
            .reduce(f64::max),
        rate_accuracy,
    })
}

/// Compiles and emulates the sweep's net at one point.
fn run_plain(plan: &Plan, ctx: &Context) -> CliResult<PointResult> {
    let index = plan.index;
    let mut result = PointResult {
        point: index,
        values: plan.shown.clone(),
        key: plan.key.clone(),
        ..PointResult::default()
    };
    let text = match &plan.target_text {
        Ok(t) => t,
        Err(e) => {
            result.problems.push(e.clone());
            return Ok(result);
        }
    };
    let target = match lifchip_target::parse(text, &format!("point {index}")) {
        Ok(t) => t,
        Err(e) => {
            result.problems = target_problems(&e);
            return Ok(result);
        }
    };
    result.target = target.name.clone();
    let opts = quantize_options(plan.synapse_tau, plan.input_rate)?;
    let (mapped, report) = match lifchip_compiler::compile(ctx.net, &target, &opts) {
        Ok(x) => x,
        Err(report) => {
            result.compile_seconds = Some(report.compile_seconds);
            result.cores_lower_bound = Some(report.cores_lower_bound);
            result.problems = report.violations.iter().map(ToString::to_string).collect();
            if result.problems.is_empty() {
                result
                    .problems
                    .push("the compiler refused the net without naming a limit".into());
            }
            return Ok(result);
        }
    };
    result.compile_seconds = Some(report.compile_seconds);
    result.cores_used = Some(report.cores_used);
    result.cores_lower_bound = Some(report.cores_lower_bound);
    result.weight_rms_error_max = report
        .quantization
        .iter()
        .map(|q| q.rms_relative_error)
        .reduce(f64::max);
    let mut config = lifchip_backend_core::emit(&mapped, &target);
    config.input_rate = opts.input_rate;
    let chip_dir = ctx.out.join(format!("chips/{index:04}.chip"));
    lifchip_chip::write_chipdir(&config, &chip_dir)?;
    write_json(&chip_dir.join("report.json"), &report)?;
    let settings = EmulateSettings {
        ticks: plan.ticks,
        encoding: Encoding::Regular,
        seed: 0,
        mode: lifchip_emulator::Mode::CycleAccurate,
        show_progress: false,
    };
    let started = Instant::now();
    let emu = match emulate_dataset(&config, ctx.data, &settings) {
        Ok(e) => e,
        Err(e) => {
            result.problems.push(format!("emulation: {}", e.0));
            return Ok(result);
        }
    };
    result.emulate_seconds = Some(started.elapsed().as_secs_f64());
    let n = emu.samples.max(1) as f64;
    result.accuracy = emu.accuracy;
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
    let float = &ctx.reference.spiking_predictions;
    if !float.is_empty() && float.len() == emu.predictions.len() {
        let same = emu
            .predictions
            .iter()
            .zip(float)
            .filter(|(c, f)| **c == Some(**f))
            .count();
        result.agreement_with_float_spiking = Some(same as f64 / float.len() as f64);
    }
    result.ok = true;
    Ok(result)
}

/// Removes temporary files an interrupted run may have left (names only this command and its
/// atomic writers use).
fn remove_leftovers(out: &Path) {
    for sub in ["", "points", "plots", "chips", "data", "qat"] {
        let dir = out.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with(".tmp")
                || name.starts_with(".pooled-")
                || (sub == "plots" && name.starts_with('.') && name.ends_with(".png"))
                || (sub == "chips" && name.starts_with('.') && name.contains(".chip.tmp-"))
                || ((sub.is_empty() || sub == "qat")
                    && (name.starts_with(".lifchip-net-") || name.starts_with(".lifchip-old-")));
            if ours {
                let p = entry.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
}

/// The net of the sweep: loaded, or trained once into `DIR/net.net` (and reused while its
/// config and `downsample` are unchanged). Returns the net, its fingerprint, a description of
/// where it came from, and the training time when it was trained now.
fn obtain_net(file: &SpecFile, out: &Path) -> CliResult<(Net, String, String, Option<f64>)> {
    let spec = &file.spec;
    if let Some(net_path) = &spec.net {
        let path = file.relative(net_path);
        let net = lifchip_net::load(&path)
            .map_err(|e| CliError(format!("{}: net: {e}", file.at(&["net"]))))?;
        let fingerprint = format!("{:016x}", net.fingerprint());
        return Ok((net, fingerprint, format!("`{}`", path.display()), None));
    }
    let Some(config_path) = &spec.train else {
        crate::fail!("{}: missing `net:` or `train:`", file.path.display());
    };
    let config_path = file.relative(config_path);
    let mut config = lifchip_train::TrainConfig::load(&config_path)
        .map_err(|e| CliError(format!("{}: train: {e}", file.at(&["train"]))))?;
    let fingerprint = fnv(&[
        "lifchip-sweep-train-1",
        &config.to_yaml_string(),
        &spec.downsample.to_string(),
    ]);
    let net_dir = out.join("net.net");
    let stamp_path = out.join("net.json");
    let source = format!("trained from `{}` into `net.net`", config_path.display());
    let stamp: Option<TrainedNet> = std::fs::read_to_string(&stamp_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if stamp.is_some_and(|s| s.fingerprint == fingerprint)
        && let Ok(net) = lifchip_net::load(&net_dir)
    {
        eprintln!(
            "reusing {} (trained from {})",
            net_dir.display(),
            config_path.display()
        );
        return Ok((net, fingerprint, source, None));
    }
    if spec.downsample > 1 {
        let data_source = DataSource::parse(&config.data)?;
        let folder = data::pooled_folder(
            &data_source,
            &config.data,
            spec.downsample,
            &out.join("data"),
        )?;
        let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
        config.data = folder.to_string_lossy().into_owned();
    }
    eprintln!("training {} from {}", config.name, config_path.display());
    let options = lifchip_train::TrainOptions {
        log_csv: Some(out.join("train-log.csv")),
        ..lifchip_train::TrainOptions::default()
    };
    let (net, report) = train_with_progress(&config, &options)?;
    lifchip_net::save(&net, &net_dir)?;
    write_json(&out.join("train-report.json"), &report)?;
    write_json(
        &stamp_path,
        &TrainedNet {
            fingerprint: fingerprint.clone(),
            config: config_path.display().to_string(),
            seconds: report.seconds,
            rate_test_accuracy: report.test_accuracy,
        },
    )?;
    Ok((net, fingerprint, source, Some(report.seconds)))
}

/// The data to emulate (pooled when asked), a description of it, and the data source (as
/// `lifchip train --data` takes it) whose training split QAT fine-tunes on.
fn obtain_data(file: &SpecFile, out: &Path) -> CliResult<(Dataset, String, String)> {
    let spec = &file.spec;
    let split: Split = spec
        .split
        .parse()
        .map_err(|e| CliError(format!("{}: split: {e}", file.at(&["split"]))))?;
    let mut name = spec.data.clone();
    let mut source = DataSource::parse(&spec.data)
        .map_err(|e| CliError(format!("{}: data: {e}", file.at(&["data"]))))?;
    if let DataSource::Dir(d) = &source {
        let near = file.relative(d);
        if near.is_dir() {
            source = DataSource::Dir(near);
        }
    }
    if spec.downsample > 1 {
        let folder = data::pooled_folder(&source, &spec.data, spec.downsample, &out.join("data"))
            .map_err(|e| CliError(format!("{}: {}", file.at(&["downsample"]), e.0)))?;
        name = folder.display().to_string();
        source = DataSource::Dir(folder);
    }
    let train_data = match &source {
        DataSource::Dir(d) => std::fs::canonicalize(d)
            .unwrap_or_else(|_| d.clone())
            .to_string_lossy()
            .into_owned(),
        _ => spec.data.clone(),
    };
    let data = lifchip_data::load(&source, split, Some(spec.samples))
        .map_err(|e| CliError(format!("{}: data: {e}", file.at(&["data"]))))?;
    if data.n == 0 {
        crate::fail!(
            "{}: data: the {split} split holds no images",
            file.at(&["data"])
        );
    }
    Ok((data, name, train_data))
}

/// QAT key → the fine-tuned net, or why there is none.
type QatNets = BTreeMap<String, Result<Net, String>>;

/// Fine-tunes (or reuses from `OUT/qat/`) one net per distinct QAT key of the plans, in plan
/// order, each on the shared pool. A net that cannot be trained records why; the sweep goes on.
fn prepare_qat(
    plans: &[Plan],
    net: &Net,
    out: &Path,
    pool: &rayon::ThreadPool,
) -> CliResult<(QatNets, Vec<QatNetSummary>)> {
    let mut nets = BTreeMap::new();
    let mut summaries = Vec::new();
    let mut todo: Vec<&(String, lifchip_train::QatConfig)> = Vec::new();
    for plan in plans {
        if let Some(q) = &plan.qat
            && !todo.iter().any(|t| t.0 == q.0)
        {
            todo.push(q);
        }
    }
    if todo.is_empty() {
        return Ok((nets, summaries));
    }
    let dir = out.join("qat");
    std::fs::create_dir_all(&dir).map_err(|e| CliError(format!("{}: {e}", dir.display())))?;
    let mut train_set: Option<Result<Dataset, String>> = None;
    for (k, (key, qat)) in todo.iter().enumerate() {
        let net_path = dir.join(format!("{key}.net"));
        let stamp_path = dir.join(format!("{key}.json"));
        let format = weight_format(qat);
        let stamp: Option<QatStamp> = std::fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|s: &QatStamp| s.key == *key);
        if let (Some(_), Ok(n)) = (&stamp, lifchip_net::load(&net_path)) {
            eprintln!("reusing qat/{key}.net ({format})");
            nets.insert(key.clone(), Ok(n));
            summaries.push(QatNetSummary {
                net: format!("qat/{key}.net"),
                weight_format: format,
                seconds: None,
                error: None,
            });
            continue;
        }
        let data = train_set.get_or_insert_with(|| {
            let source = DataSource::parse(&qat.data).map_err(|e| e.to_string())?;
            lifchip_data::load(&source, Split::Train, qat.train_limit)
                .map_err(|e| format!("training data {}: {e}", qat.data))
        });
        eprintln!(
            "QAT {}/{}: fine-tuning {} for {format}, {} epochs",
            k + 1,
            todo.len(),
            net.name,
            qat.epochs
        );
        let trained = match data {
            Ok(d) => pool
                .install(|| crate::commands::train::fine_tune_on_with_progress(net, qat, d))
                .map_err(|e| e.0),
            Err(e) => Err(e.clone()),
        };
        let summary = match trained {
            Ok((tuned, report)) => {
                lifchip_net::save(&tuned, &net_path)?;
                write_json(
                    &stamp_path,
                    &QatStamp {
                        key: key.clone(),
                        weight_format: format.clone(),
                        seconds: report.seconds,
                        epochs: report.epochs.len(),
                        train_images: report.train_images,
                    },
                )?;
                nets.insert(key.clone(), Ok(tuned));
                QatNetSummary {
                    net: format!("qat/{key}.net"),
                    weight_format: format,
                    seconds: Some(report.seconds),
                    error: None,
                }
            }
            Err(e) => {
                eprintln!("QAT for {format} failed: {e}");
                nets.insert(key.clone(), Err(e.clone()));
                QatNetSummary {
                    net: String::new(),
                    weight_format: format,
                    seconds: None,
                    error: Some(e),
                }
            }
        };
        summaries.push(summary);
    }
    Ok((nets, summaries))
}

fn float_reference(
    file: &SpecFile,
    net: &Net,
    data: &Dataset,
    key: &str,
    out: &Path,
) -> CliResult<Reference> {
    if !file.spec.float_reference {
        return Ok(Reference::default());
    }
    let path = out.join("reference.json");
    if let Some(r) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Reference>(&t).ok())
        .filter(|r| r.key == key)
    {
        return Ok(r);
    }
    eprintln!("float reference: evaluating the net as rates and as spiking LIF neurons");
    let mut reference = Reference {
        key: key.to_string(),
        ..Reference::default()
    };
    match lifchip_train::eval_rate(net, data) {
        Ok(e) => reference.rate_accuracy = Some(e.accuracy),
        Err(e) => reference.note = Some(format!("float rate evaluation: {e}")),
    }
    match lifchip_train::eval_spiking(net, data, &lifchip_train::SpikingConfig::default()) {
        Ok(e) => {
            reference.spiking_accuracy = Some(e.accuracy);
            reference.spiking_predictions = e.predictions;
        }
        Err(e) => reference.note = Some(format!("float spiking evaluation: {e}")),
    }
    write_json(&path, &reference)?;
    Ok(reference)
}

pub fn run(args: SweepArgs) -> CliResult<()> {
    let started = Instant::now();
    let file = SpecFile::load(&args.spec)?;
    let spec = &file.spec;
    let bases = resolve_targets(&file)?;
    let out = &args.out;
    std::fs::create_dir_all(out.join("points"))
        .map_err(|e| CliError(format!("{}: {e}", out.display())))?;
    remove_leftovers(out);

    if let Some(q) = &spec.qat {
        // Check the `qat:` values before any work.
        q.validate()
            .map_err(|e| CliError(format!("{}: qat.{e}", file.at(&["qat"]))))?;
    }
    let (data, data_name, train_data) = obtain_data(&file, out)?;
    let (net, net_fingerprint, net_source, train_seconds) = obtain_net(&file, out)?;
    let inputs: usize = net.inputs().map(lifchip_net::Population::size).sum();
    if inputs != data.pixels_per_image() {
        let pixels = data.pixels_per_image() * spec.downsample * spec.downsample;
        let hint = (1..=data.rows * spec.downsample)
            .find(|k| pixels == inputs * k * k)
            .map_or_else(String::new, |k| {
                format!("; a net for images pooled {k}x{k} takes that many: set `downsample: {k}`")
            });
        crate::fail!(
            "{}: net `{}` takes {inputs} inputs, but the images are {}x{} = {} pixels{}{hint}",
            args.spec.display(),
            net.name,
            data.rows,
            data.cols,
            data.pixels_per_image(),
            if spec.downsample > 1 {
                " after `downsample`"
            } else {
                ""
            }
        );
    }
    let data_desc = format!(
        "{}|{}|{}|{}",
        spec.data, spec.split, data.n, spec.downsample
    );
    let reference = float_reference(
        &file,
        &net,
        &data,
        &fnv(&["lifchip-sweep-reference-1", &net_fingerprint, &data_desc]),
        out,
    )?;
    let reference_part = if reference.spiking_predictions.is_empty() {
        "no-reference"
    } else {
        "reference"
    };
    let fingerprint = format!("{net_fingerprint}|{reference_part}");
    let qat_base = fnv(&["lifchip-sweep-qat-base-1", &net_fingerprint, &train_data]);
    let plans = plan_points(
        &file,
        &bases,
        &fingerprint,
        &data_desc,
        &qat_base,
        &train_data,
    );

    let points_dir = out.join("points");
    let point_file = |i: usize| points_dir.join(format!("{i:04}.json"));
    let cached: Vec<Option<PointResult>> = plans
        .iter()
        .map(|plan| {
            std::fs::read_to_string(point_file(plan.index))
                .ok()
                .and_then(|t| serde_json::from_str::<PointResult>(&t).ok())
                .filter(|r| r.key == plan.key && r.point == plan.index)
        })
        .collect();
    let reused = cached.iter().filter(|c| c.is_some()).count();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| CliError(format!("--threads: {e}")))?;
    let threads = pool.current_num_threads();
    let qat_started = Instant::now();
    let (qat_nets, qat_summaries) = prepare_qat(&plans, &net, out, &pool)?;
    let qat_seconds = qat_started.elapsed().as_secs_f64();
    if reused > 0 {
        eprintln!(
            "{reused} of {} points already done in {}",
            plans.len(),
            out.display()
        );
    }
    let bar = progress(plans.len() as u64, "sweep");
    bar.set_position(reused as u64);
    let ctx = Context {
        net: &net,
        data: &data,
        out,
        reference: &reference,
        qat_nets: &qat_nets,
    };
    std::fs::create_dir_all(out.join("chips"))
        .map_err(|e| CliError(format!("{}: {e}", out.display())))?;
    let points_started = Instant::now();
    let results: CliResult<Vec<PointResult>> = pool.install(|| {
        plans
            .par_iter()
            .zip(cached.into_par_iter())
            .with_max_len(1)
            .map(|(plan, cached)| {
                if let Some(r) = cached {
                    return Ok(r);
                }
                let r = run_point(plan, &ctx)?;
                write_json(&point_file(plan.index), &r)?;
                bar.inc(1);
                bar.set_prefix(format!("last: point {}", plan.index));
                Ok(r)
            })
            .collect()
    });
    bar.finish_and_clear();
    let results = results?;
    let points_seconds = points_started.elapsed().as_secs_f64();

    write_json(&out.join("results.json"), &results)?;
    write_atomic(
        &out.join("results.csv"),
        csv(&results, &spec.axes.0, spec.qat.is_some()).as_bytes(),
    )?;
    let title = spec.title.clone().unwrap_or_else(|| {
        args.spec
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned())
    });
    let refs = plot::References {
        spiking: reference.spiking_accuracy,
        rate: reference.rate_accuracy,
    };
    let qat_label = spec.qat.as_ref().map(|q| {
        format!(
            "with QAT ({} epoch{})",
            q.epochs,
            if q.epochs == 1 { "" } else { "s" }
        )
    });
    let (plots, plot_error) = match plot::write_all(
        &out.join("plots"),
        &results,
        &spec.axes.0,
        &refs,
        &title,
        spec.mode == spec::SweepMode::Grid,
        qat_label.as_deref(),
    ) {
        Ok(p) => (p, None),
        Err(e) => {
            eprintln!("warning: plots not written: {}", e.0);
            (Vec::new(), Some(e.0))
        }
    };
    let done: Vec<&PointResult> = results
        .iter()
        .filter(|r| {
            r.ok && r.latency_seconds_per_sample.is_some() && r.energy_joules_per_sample.is_some()
        })
        .collect();
    let xy: Vec<(f64, f64)> = done
        .iter()
        .map(|r| {
            (
                r.latency_seconds_per_sample.unwrap_or(0.0),
                r.energy_joules_per_sample.unwrap_or(0.0),
            )
        })
        .collect();
    let front: Vec<usize> = plot::pareto_front(&xy)
        .into_iter()
        .map(|k| done[k].point)
        .collect();
    let mapped = results.iter().filter(|r| r.ok).count();
    let summary = Summary {
        spec: args.spec.display().to_string(),
        title: &title,
        net: &net.name,
        net_source: &net_source,
        data: &data_name,
        split: &spec.split,
        samples: data.n,
        image_size: [data.rows, data.cols],
        points: results.len(),
        mapped,
        failed: results.len() - mapped,
        computed: results.len() - reused,
        reused,
        threads,
        train_seconds,
        points_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        float_rate_accuracy: reference.rate_accuracy,
        float_spiking_accuracy: reference.spiking_accuracy,
        pareto_front: front,
        plots: plots.iter().map(|p| p.stem.clone()).collect(),
        qat: spec.qat.as_ref(),
        qat_seconds: spec.qat.as_ref().map(|_| qat_seconds),
        qat_nets: qat_summaries,
    };
    let md = report_md(
        &summary,
        &file,
        &results,
        &plots,
        plot_error.as_deref(),
        &reference,
    );
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    write_json(&out.join("summary.json"), &summary)?;

    for r in &results {
        let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let qat = if spec.qat.is_none() {
            String::new()
        } else if let Some(a) = r.accuracy_qat {
            format!("  with QAT {:>6.2}%", a * 100.0)
        } else {
            format!("  with QAT failed: {}", r.qat_problems.join("; "))
        };
        match r.accuracy {
            Some(a) if r.ok => println!(
                "point {:>3} {:<40} accuracy {:>6.2}%{qat}  cores {:>4}  energy/sample {:.3e} J",
                r.point,
                values.join(", "),
                a * 100.0,
                r.cores_used.unwrap_or(0),
                r.energy_joules_per_sample.unwrap_or(0.0)
            ),
            _ => println!(
                "point {:>3} {:<40} failed: {}{qat}",
                r.point,
                values.join(", "),
                r.problems.join("; ")
            ),
        }
    }
    println!(
        "{} points ({mapped} mapped; {} computed, {reused} reused) in {:.1} s on {threads} threads",
        results.len(),
        results.len() - reused,
        summary.wall_seconds
    );
    println!("wrote {}", out.display());
    Ok(())
}

fn csv_field(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.contains([',', '"']) || s != s.trim() {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(results: &[PointResult], axes: &[Axis], qat: bool) -> String {
    let mut out = String::from("point,");
    for a in axes {
        out.push_str(&csv_field(&a.name));
        out.push(',');
    }
    out.push_str(if qat {
        "target,ok,accuracy,accuracy_qat,"
    } else {
        "target,ok,accuracy,"
    });
    out.push_str(
        "agreement_with_float_spiking,cores_used,cores_lower_bound,\
         cycles_per_tick_mean,latency_seconds_per_sample,energy_joules_per_sample,\
         spikes_per_sample,synaptic_events_per_sample,overflow_events,weight_rms_error_max,\
         compile_seconds,emulate_seconds,problems",
    );
    out.push_str(if qat {
        ",qat_rate_accuracy,agreement_qat_with_float_spiking,cores_used_qat,\
         energy_joules_per_sample_qat,weight_rms_error_max_qat,qat_net,qat_problems\n"
    } else {
        "\n"
    });
    let f = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
    let u = |v: Option<u64>| v.map_or_else(String::new, |x| x.to_string());
    for r in results {
        out.push_str(&format!("{},", r.point));
        for a in axes {
            out.push_str(&csv_field(r.value_of(&a.name)));
            out.push(',');
        }
        let mut cells = vec![csv_field(&r.target), r.ok.to_string(), f(r.accuracy)];
        if qat {
            cells.push(f(r.accuracy_qat));
        }
        cells.extend([
            f(r.agreement_with_float_spiking),
            u(r.cores_used),
            u(r.cores_lower_bound),
            f(r.cycles_per_tick_mean),
            f(r.latency_seconds_per_sample),
            f(r.energy_joules_per_sample),
            f(r.spikes_per_sample),
            f(r.synaptic_events_per_sample),
            u(r.overflow_events),
            f(r.weight_rms_error_max),
            f(r.compile_seconds),
            f(r.emulate_seconds),
            csv_field(&r.problems.join("; ")),
        ]);
        if qat {
            cells.extend([
                f(r.qat_rate_accuracy),
                f(r.agreement_qat_with_float_spiking),
                u(r.cores_used_qat),
                f(r.energy_joules_per_sample_qat),
                f(r.weight_rms_error_max_qat),
                csv_field(r.qat_net.as_deref().unwrap_or("")),
                csv_field(&r.qat_problems.join("; ")),
            ]);
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |a| format!("{:.2}%", a * 100.0))
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn report_md(
    summary: &Summary,
    file: &SpecFile,
    results: &[PointResult],
    plots: &[plot::Written],
    plot_error: Option<&str>,
    reference: &Reference,
) -> String {
    let spec = &file.spec;
    let axes = &spec.axes.0;
    let mut md = format!("# {}\n\n", summary.title);
    let target = spec.target.as_deref().unwrap_or("(per point)");
    md.push_str(&format!(
        "Spec `{}`: net `{}` ({}), base target `{target}`; {} images of the {} split of `{}`{} \
         ({}x{} pixels); {} ticks per image, synapse_tau {} s, input_rate {} unless an axis says \
         otherwise.\n\n",
        summary.spec,
        summary.net,
        summary.net_source,
        summary.samples,
        summary.split,
        spec.data,
        if spec.downsample > 1 {
            format!(
                ", average-pooled {0}x{0} (`{1}`)",
                spec.downsample, summary.data
            )
        } else {
            String::new()
        },
        summary.image_size[0],
        summary.image_size[1],
        spec.ticks,
        spec.synapse_tau,
        spec.input_rate
    ));
    if spec.float_reference {
        md.push_str(&format!(
            "Float net on the same images: rate {}, spiking {} (`lifchip eval --spiking` \
             settings: 0.2 s per image, alpha synapse 5 ms){}.\n\n",
            pct(reference.rate_accuracy),
            pct(reference.spiking_accuracy),
            reference
                .note
                .as_ref()
                .map_or_else(String::new, |n| format!("; {n}"))
        ));
    }
    md.push_str(&format!(
        "{} points: {} mapped, {} did not; {} computed and {} reused; {:.1} s for the points, \
         {:.1} s in all{}, on {} threads.\n\n",
        summary.points,
        summary.mapped,
        summary.failed,
        summary.computed,
        summary.reused,
        summary.points_seconds,
        summary.wall_seconds,
        summary
            .train_seconds
            .map_or_else(String::new, |t| format!(" (training {t:.1} s)")),
        summary.threads
    ));
    md.push_str(
        "Files: `results.csv`, `results.json` (one entry per point), `summary.json`, \
         `points/NNNN.json`, `chips/NNNN.chip` (the CHIPDIR of each mapped point).\n\n",
    );
    let qat = spec.qat.as_ref();
    if let Some(q) = qat {
        md.push_str(&format!(
            "**QAT.** Every weight format among the points has its own quantization-aware \
             fine-tuned copy of the net (`lifchip train --qat`: {} epoch{} of Adam at lr {:e} \
             with cosine decay, batch {}, noise {} Hz, seed {}, on {} training images of the \
             same data; weights quantized in the forward pass to the target's grid, \
             straight-through gradients), compiled and emulated beside the net itself: \
             *with QAT* below, `accuracy_qat` in `results.csv`, chips in `chips/NNNN-qat.chip`. \
             Fine-tuned nets ({:.1} s in this run):\n\n",
            q.epochs,
            if q.epochs == 1 { "" } else { "s" },
            q.lr,
            q.batch_size,
            q.noise,
            q.seed,
            q.train_limit
                .map_or_else(|| "all".to_string(), |n| format!("the first {n}")),
            summary.qat_seconds.unwrap_or(0.0)
        ));
        for n in &summary.qat_nets {
            let how = match (&n.error, n.seconds) {
                (Some(e), _) => format!("failed: {}", md_cell(e)),
                (None, Some(t)) => format!("`{}`, trained in {t:.1} s", n.net),
                (None, None) => format!("`{}`, reused", n.net),
            };
            md.push_str(&format!("- {}: {how}\n", n.weight_format));
        }
        md.push('\n');
    }
    if !plots.is_empty() || plot_error.is_some() {
        md.push_str("## Plots\n\n");
        for p in plots {
            md.push_str(&format!(
                "![{}](plots/{}.png)\n\n[{}](plots/{}.svg) (SVG)\n\n",
                md_cell(&p.title),
                p.stem,
                md_cell(&p.title),
                p.stem
            ));
        }
        if let Some(e) = plot_error {
            md.push_str(&format!("Plots could not be drawn: {}\n\n", md_cell(e)));
        }
    }
    md.push_str("## Results\n\n| point |");
    for a in axes {
        md.push_str(&format!(" {} |", md_cell(&a.name)));
    }
    md.push_str(if qat.is_some() {
        " accuracy | with QAT |"
    } else {
        " accuracy |"
    });
    md.push_str(
        " agrees with float | cores (bound) | cycles/tick | latency/image (s) | \
         energy/image (J) | overflows | compile (s) | emulate (s) |\n|---|",
    );
    for _ in axes {
        md.push_str("---|");
    }
    md.push_str(if qat.is_some() { "---|---|" } else { "---|" });
    md.push_str("---|---|---|---|---|---|---|---|\n");
    for r in results {
        md.push_str(&format!("| {} |", r.point));
        for a in axes {
            md.push_str(&format!(" {} |", md_cell(r.value_of(&a.name))));
        }
        let qat_cell = match qat {
            None => String::new(),
            Some(_) if r.accuracy_qat.is_some() => format!(" {} |", pct(r.accuracy_qat)),
            Some(_) if !r.qat_problems.is_empty() => " failed |".to_string(),
            Some(_) => " |".to_string(),
        };
        if r.ok {
            let front = if summary.pareto_front.contains(&r.point) {
                " ◆"
            } else {
                ""
            };
            md.push_str(&format!(
                " {} |{qat_cell} {} | {} ({}) | {:.0} | {:.3e}{front} | {:.3e}{front} | {} | {:.2} | {:.2} |\n",
                pct(r.accuracy),
                pct(r.agreement_with_float_spiking),
                r.cores_used.unwrap_or(0),
                r.cores_lower_bound.unwrap_or(0),
                r.cycles_per_tick_mean.unwrap_or(0.0),
                r.latency_seconds_per_sample.unwrap_or(0.0),
                r.energy_joules_per_sample.unwrap_or(0.0),
                r.overflow_events.unwrap_or(0),
                r.compile_seconds.unwrap_or(0.0),
                r.emulate_seconds.unwrap_or(0.0),
            ));
        } else {
            let n = r.problems.len();
            md.push_str(&format!(
                " does not map ({n} problem{}) |{qat_cell} | {} | | | | | {} | |\n",
                if n == 1 { "" } else { "s" },
                r.cores_lower_bound
                    .map_or_else(String::new, |b| format!("– ({b})")),
                r.compile_seconds
                    .map_or_else(String::new, |s| format!("{s:.2}")),
            ));
        }
    }
    if !summary.pareto_front.is_empty() {
        let list: Vec<String> = summary
            .pareto_front
            .iter()
            .map(|p| format!("#{p}"))
            .collect();
        md.push_str(&format!(
            "\n◆ Pareto front of energy and latency per image (no other point is lower in both): \
             points {}.\n",
            list.join(", ")
        ));
    }
    let failed: Vec<&PointResult> = results.iter().filter(|r| !r.ok).collect();
    if !failed.is_empty() {
        md.push_str("\n## Points that did not map\n\n");
        for r in failed {
            let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            md.push_str(&format!("- point {} ({}):\n", r.point, values.join(", ")));
            for p in r.problems.iter().take(6) {
                md.push_str(&format!("  - {p}\n"));
            }
            if r.problems.len() > 6 {
                md.push_str(&format!("  - … and {} more\n", r.problems.len() - 6));
            }
        }
    }
    let qat_failed: Vec<&PointResult> = results
        .iter()
        .filter(|r| !r.qat_problems.is_empty())
        .collect();
    if !qat_failed.is_empty() {
        md.push_str("\n## Points whose fine-tuned net did not run\n\n");
        for r in qat_failed {
            md.push_str(&format!(
                "- point {}: {}\n",
                r.point,
                md_cell(&r.qat_problems.join("; "))
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_and_missing_part() {
        let mut tree: Value =
            serde_yaml::from_str("core: {neurons: 4}\nname: x\n").unwrap_or(Value::Null);
        assert!(set_path(&mut tree, "core.neurons", Value::from(8)).is_ok());
        assert_eq!(tree["core"]["neurons"].as_u64(), Some(8));
        assert!(set_path(&mut tree, "name.x", Value::from(1)).is_err());
        assert!(missing_part(&tree, "core.neurons").is_none());
        let m = missing_part(&tree, "core.neuron").map(|m| m.0);
        assert_eq!(m.as_deref(), Some("section `core` has no `neuron`"));
        let m = missing_part(&tree, "cores.neurons").map(|m| m.1);
        assert_eq!(m, Some(vec!["core".to_string(), "name".to_string()]));
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("8"), "8");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("a\nb"), "a b");
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fnv(&[]), "cbf29ce484222325");
        assert_ne!(fnv(&["ab", "c"]), fnv(&["a", "bc"]));
    }
}
