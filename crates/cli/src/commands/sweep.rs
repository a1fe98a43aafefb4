//! `lifchip sweep`: vary target fields (and the target itself, the synaptic time constant, the
//! input rate or the ticks per sample) over a grid or a list of points; validate, compile and
//! emulate every point, in parallel; collect `results.csv`, `results.json`, plots (PNG and
//! SVG) and `report.md`.
//!
//! A sweep never stops at a bad point: a point whose target fails its check or whose net does
//! not fit records its problems and the sweep goes on. Each finished point is written to
//! `DIR/points/NNNN.json` (atomically) with a fingerprint of everything it depends on, so an
//! interrupted sweep resumes where it stopped and a changed spec recomputes only what changed.
//! With `train:` the net is trained once into `DIR/net.net` and reused by later runs.

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
}

/// A 64-bit FNV-1a hash, for fingerprints that do not depend on the Rust version.
fn fnv(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
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
}

/// Everything the points share.
struct Context<'a> {
    net: &'a Net,
    data: &'a Dataset,
    out: &'a Path,
    reference: &'a Reference,
}

fn plan_points(
    file: &SpecFile,
    bases: &BTreeMap<String, Base>,
    fingerprint: &str,
    data_desc: &str,
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
            let key = fnv(&[
                "lifchip-sweep-point-1",
                fingerprint,
                data_desc,
                &synapse_tau.to_string(),
                &input_rate.to_string(),
                &ticks.to_string(),
                &target_part,
            ]);
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
    for sub in ["", "points", "plots", "chips", "data"] {
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
                || (sub.is_empty()
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
    if stamp.is_some_and(|s| s.fingerprint == fingerprint) {
        if let Ok(net) = lifchip_net::load(&net_dir) {
            eprintln!(
                "reusing {} (trained from {})",
                net_dir.display(),
                config_path.display()
            );
            return Ok((net, fingerprint, source, None));
        }
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

/// The data to emulate (pooled when asked), and a description of it.
fn obtain_data(file: &SpecFile, out: &Path) -> CliResult<(Dataset, String)> {
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
    let data = lifchip_data::load(&source, split, Some(spec.samples))
        .map_err(|e| CliError(format!("{}: data: {e}", file.at(&["data"]))))?;
    if data.n == 0 {
        crate::fail!(
            "{}: data: the {split} split holds no images",
            file.at(&["data"])
        );
    }
    Ok((data, name))
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

    let (data, data_name) = obtain_data(&file, out)?;
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
    let plans = plan_points(&file, &bases, &fingerprint, &data_desc);

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
        csv(&results, &spec.axes.0).as_bytes(),
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
    let (plots, plot_error) = match plot::write_all(
        &out.join("plots"),
        &results,
        &spec.axes.0,
        &refs,
        &title,
        spec.mode == spec::SweepMode::Grid,
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
        match r.accuracy {
            Some(a) if r.ok => println!(
                "point {:>3} {:<40} accuracy {:>6.2}%  cores {:>4}  energy/sample {:.3e} J",
                r.point,
                values.join(", "),
                a * 100.0,
                r.cores_used.unwrap_or(0),
                r.energy_joules_per_sample.unwrap_or(0.0)
            ),
            _ => println!(
                "point {:>3} {:<40} failed: {}",
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

fn csv(results: &[PointResult], axes: &[Axis]) -> String {
    let mut out = String::from("point,");
    for a in axes {
        out.push_str(&csv_field(&a.name));
        out.push(',');
    }
    out.push_str(
        "target,ok,accuracy,agreement_with_float_spiking,cores_used,cores_lower_bound,\
         cycles_per_tick_mean,latency_seconds_per_sample,energy_joules_per_sample,\
         spikes_per_sample,synaptic_events_per_sample,overflow_events,weight_rms_error_max,\
         compile_seconds,emulate_seconds,problems\n",
    );
    let f = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
    let u = |v: Option<u64>| v.map_or_else(String::new, |x| x.to_string());
    for r in results {
        out.push_str(&format!("{},", r.point));
        for a in axes {
            let v = r
                .values
                .iter()
                .find(|(k, _)| *k == a.name)
                .map_or("", |(_, v)| v.as_str());
            out.push_str(&csv_field(v));
            out.push(',');
        }
        let cells = [
            csv_field(&r.target),
            r.ok.to_string(),
            f(r.accuracy),
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
        ];
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
    md.push_str(
        " accuracy | agrees with float | cores (bound) | cycles/tick | latency/image (s) | \
         energy/image (J) | overflows | compile (s) | emulate (s) |\n|---|",
    );
    for _ in axes {
        md.push_str("---|");
    }
    md.push_str("---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        md.push_str(&format!("| {} |", r.point));
        for a in axes {
            let v = r
                .values
                .iter()
                .find(|(k, _)| *k == a.name)
                .map_or("", |(_, v)| v.as_str());
            md.push_str(&format!(" {} |", md_cell(v)));
        }
        if r.ok {
            let front = if summary.pareto_front.contains(&r.point) {
                " ◆"
            } else {
                ""
            };
            md.push_str(&format!(
                " {} | {} | {} ({}) | {:.0} | {:.3e}{front} | {:.3e}{front} | {} | {:.2} | {:.2} |\n",
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
                " does not map ({n} problem{}) | | {} | | | | | {} | |\n",
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
