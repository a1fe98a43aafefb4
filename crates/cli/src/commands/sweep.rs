//! `lifchip sweep`: vary target fields over a grid or a list of points; validate, compile and
//! emulate every point; collect `results.csv`, `results.json` and `report.md`.
//!
//! A sweep never stops at a bad point: a point whose target fails its check or whose net does
//! not fit records its problems and the sweep goes on. Each finished point is written to
//! `DIR/points/NNNN.json` (atomically), so an interrupted sweep resumes where it stopped.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::{
    commands::{
        compile::quantize_options,
        emulate::{EmulateSettings, Encoding, emulate_dataset},
    },
    util::{CliError, CliResult, progress, write_atomic, write_json},
};

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep spec (YAML).
    #[arg(long)]
    pub spec: PathBuf,
    /// Output directory (created; finished points are kept and not recomputed).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SweepMode {
    /// Every combination of the axes' values.
    #[default]
    Grid,
    /// The k-th value of every axis together (all axes the same length).
    List,
}

fn default_data() -> String {
    "mnist".into()
}
fn default_split() -> String {
    "test".into()
}
fn default_samples() -> usize {
    100
}
fn default_ticks() -> u32 {
    100
}
fn default_synapse_tau() -> f64 {
    0.005
}
fn default_input_rate() -> f64 {
    1.0
}

/// The sweep spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    /// Net to compile (relative paths are relative to the spec file).
    net: PathBuf,
    /// Base target: a built-in name or a YAML file.
    target: String,
    #[serde(default)]
    mode: SweepMode,
    /// Target field path (dotted, e.g. `precision.weight_bits`) → values.
    axes: serde_yaml::Mapping,
    #[serde(default = "default_data")]
    data: String,
    #[serde(default = "default_split")]
    split: String,
    #[serde(default = "default_samples")]
    samples: usize,
    #[serde(default = "default_ticks")]
    ticks: u32,
    #[serde(default = "default_synapse_tau")]
    synapse_tau: f64,
    #[serde(default = "default_input_rate")]
    input_rate: f64,
}

/// One point's outcome.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct PointResult {
    point: usize,
    /// Axis path → value, as written in the spec.
    values: Vec<(String, String)>,
    ok: bool,
    accuracy: Option<f64>,
    cores_used: Option<u64>,
    cores_lower_bound: Option<u64>,
    cycles_per_tick_mean: Option<f64>,
    latency_seconds_per_sample: Option<f64>,
    energy_joules_per_sample: Option<f64>,
    compile_seconds: Option<f64>,
    emulate_seconds: Option<f64>,
    /// Target problems or mapping violations, when the point failed.
    problems: Vec<String>,
}

fn set_path(
    root: &mut serde_yaml::Value,
    path: &str,
    value: serde_yaml::Value,
) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (k, part) in parts.iter().enumerate() {
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| format!("`{}` is not a section", parts[..k].join(".")))?;
        let key = serde_yaml::Value::String((*part).to_string());
        if k + 1 == parts.len() {
            map.insert(key, value);
            return Ok(());
        }
        if !map.contains_key(&key) {
            map.insert(key.clone(), serde_yaml::Value::Mapping(Default::default()));
        }
        node = map
            .get_mut(&key)
            .ok_or_else(|| format!("no section `{part}`"))?;
    }
    Ok(())
}

fn points(spec: &SweepSpec) -> CliResult<Vec<Vec<(String, serde_yaml::Value)>>> {
    let mut axes: Vec<(String, Vec<serde_yaml::Value>)> = Vec::new();
    for (k, v) in &spec.axes {
        let name = k.as_str().ok_or_else(|| {
            CliError("axes: every key must be a field path such as precision.weight_bits".into())
        })?;
        let values = v
            .as_sequence()
            .ok_or_else(|| CliError(format!("axes.{name}: expected a list of values")))?;
        if values.is_empty() {
            crate::fail!("axes.{name}: the list of values is empty");
        }
        axes.push((name.to_string(), values.clone()));
    }
    if axes.is_empty() {
        crate::fail!("axes: give at least one axis, e.g. `precision.weight_bits: [2, 4, 8]`");
    }
    Ok(match spec.mode {
        SweepMode::List => {
            let n = axes[0].1.len();
            if let Some((name, v)) = axes.iter().find(|(_, v)| v.len() != n) {
                crate::fail!(
                    "axes.{name}: {} values, but mode list needs every axis to have {n}",
                    v.len()
                );
            }
            (0..n)
                .map(|i| {
                    axes.iter()
                        .map(|(name, v)| (name.clone(), v[i].clone()))
                        .collect()
                })
                .collect()
        }
        SweepMode::Grid => {
            let mut out: Vec<Vec<(String, serde_yaml::Value)>> = vec![Vec::new()];
            for (name, values) in &axes {
                out = out
                    .into_iter()
                    .flat_map(|p| {
                        values.iter().map(move |v| {
                            let mut q = p.clone();
                            q.push((name.clone(), v.clone()));
                            q
                        })
                    })
                    .collect();
            }
            out
        }
    })
}

fn show(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn run_point(
    index: usize,
    point: &[(String, serde_yaml::Value)],
    base: &serde_yaml::Value,
    net: &lifchip_net::Net,
    data: &lifchip_data::Dataset,
    spec: &SweepSpec,
    dir: &Path,
) -> CliResult<PointResult> {
    let mut result = PointResult {
        point: index,
        values: point.iter().map(|(k, v)| (k.clone(), show(v))).collect(),
        ..PointResult::default()
    };
    let mut value = base.clone();
    for (path, v) in point {
        if let Err(e) = set_path(&mut value, path, v.clone()) {
            result.problems.push(format!("{path}: {e}"));
            return Ok(result);
        }
    }
    let text =
        serde_yaml::to_string(&value).map_err(|e| CliError(format!("point {index}: {e}")))?;
    let target = match lifchip_target::parse(&text, &format!("point {index}")) {
        Ok(t) => t,
        Err(e) => {
            result.problems = e.to_string().lines().map(str::to_string).collect();
            return Ok(result);
        }
    };
    let opts = quantize_options(spec.synapse_tau, spec.input_rate)?;
    let chip_dir = dir.join(format!("chips/{index:04}.chip"));
    std::fs::create_dir_all(dir.join("chips"))
        .map_err(|e| CliError(format!("{}: {e}", dir.display())))?;
    let (mapped, report) = match lifchip_compiler::compile(net, &target, &opts) {
        Ok(x) => x,
        Err(report) => {
            result.compile_seconds = Some(report.compile_seconds);
            result.cores_lower_bound = Some(report.cores_lower_bound);
            result.problems = report.violations.iter().map(ToString::to_string).collect();
            return Ok(result);
        }
    };
    result.compile_seconds = Some(report.compile_seconds);
    result.cores_used = Some(report.cores_used);
    result.cores_lower_bound = Some(report.cores_lower_bound);
    let mut config = lifchip_backend_core::emit(&mapped, &target);
    config.input_rate = opts.input_rate;
    lifchip_chip::write_chipdir(&config, &chip_dir)?;
    let settings = EmulateSettings {
        ticks: spec.ticks,
        encoding: Encoding::Regular,
        seed: 0,
        mode: lifchip_emulator::Mode::CycleAccurate,
        show_progress: false,
    };
    let started = Instant::now();
    let emu = emulate_dataset(&config, data, &settings)?;
    result.emulate_seconds = Some(started.elapsed().as_secs_f64());
    result.accuracy = emu.accuracy;
    result.cycles_per_tick_mean = Some(emu.cycles_per_tick_mean);
    result.latency_seconds_per_sample = Some(emu.latency_seconds_per_sample);
    result.energy_joules_per_sample = Some(emu.energy_joules_per_sample);
    result.ok = true;
    Ok(result)
}

fn csv(results: &[PointResult]) -> String {
    let axes: Vec<String> = results
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut out = String::from("point,");
    for a in &axes {
        out.push_str(a);
        out.push(',');
    }
    out.push_str("ok,accuracy,cores_used,cores_lower_bound,cycles_per_tick_mean,latency_seconds_per_sample,energy_joules_per_sample,compile_seconds,emulate_seconds,problems\n");
    let opt = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
    let opt_u = |v: Option<u64>| v.map_or_else(String::new, |x| x.to_string());
    for r in results {
        out.push_str(&format!("{},", r.point));
        for (_, v) in &r.values {
            out.push_str(&format!("\"{}\",", v.replace('"', "\"\"")));
        }
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},\"{}\"\n",
            r.ok,
            opt(r.accuracy),
            opt_u(r.cores_used),
            opt_u(r.cores_lower_bound),
            opt(r.cycles_per_tick_mean),
            opt(r.latency_seconds_per_sample),
            opt(r.energy_joules_per_sample),
            opt(r.compile_seconds),
            opt(r.emulate_seconds),
            r.problems.join("; ").replace('"', "\"\"")
        ));
    }
    out
}

pub fn run(args: SweepArgs) -> CliResult<()> {
    let text = std::fs::read_to_string(&args.spec)
        .map_err(|e| CliError(format!("{}: {e}", args.spec.display())))?;
    let spec: SweepSpec = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map_or_else(String::new, |l| format!(":{}:{}", l.line(), l.column()));
        CliError(format!("{}{at}: {e}", args.spec.display()))
    })?;
    if spec.ticks == 0 {
        crate::fail!("{}: ticks: expected at least 1", args.spec.display());
    }
    let base_dir = args.spec.parent().unwrap_or(Path::new("."));
    let net_path = if spec.net.is_absolute() {
        spec.net.clone()
    } else {
        base_dir.join(&spec.net)
    };
    let net = lifchip_net::load(&net_path)?;
    let target_ref =
        if Path::new(&spec.target).exists() || lifchip_target::builtin(&spec.target).is_some() {
            spec.target.clone()
        } else {
            base_dir.join(&spec.target).to_string_lossy().into_owned()
        };
    let base_target = lifchip_target::resolve(&target_ref)?;
    let base = serde_yaml::to_value(&base_target).map_err(|e| CliError(e.to_string()))?;
    let source = lifchip_data::DataSource::parse(&spec.data)?;
    let data = lifchip_data::load(&source, spec.split.parse()?, Some(spec.samples))?;
    let all = points(&spec)?;
    let points_dir = args.out.join("points");
    std::fs::create_dir_all(&points_dir)
        .map_err(|e| CliError(format!("{}: {e}", points_dir.display())))?;
    let bar = progress(all.len() as u64, "sweep");
    let mut results = Vec::with_capacity(all.len());
    for (index, point) in all.iter().enumerate() {
        let file = points_dir.join(format!("{index:04}.json"));
        let cached = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<PointResult>(&t).ok());
        let result = match cached {
            Some(r) => r,
            None => {
                let r = run_point(index, point, &base, &net, &data, &spec, &args.out)?;
                write_json(&file, &r)?;
                r
            }
        };
        bar.inc(1);
        results.push(result);
    }
    bar.finish_and_clear();
    write_json(&args.out.join("results.json"), &results)?;
    write_atomic(&args.out.join("results.csv"), csv(&results).as_bytes())?;
    let mut md = format!(
        "# Sweep of {}\n\nNet `{}` on base target `{}`, {} samples of {} ({}), {} ticks each.\n\n",
        args.spec.display(),
        net.name,
        base_target.name,
        data.n,
        spec.data,
        spec.split,
        spec.ticks
    );
    md.push_str("Results: `results.csv`, `results.json`.\n\n| point | values | accuracy | cores (bound) | cycles/tick | energy/sample (J) |\n|---|---|---|---|---|---|\n");
    for r in &results {
        let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if r.ok {
            md.push_str(&format!(
                "| {} | {} | {:.2}% | {} ({}) | {:.0} | {:.3e} |\n",
                r.point,
                values.join(", "),
                r.accuracy.unwrap_or(0.0) * 100.0,
                r.cores_used.unwrap_or(0),
                r.cores_lower_bound.unwrap_or(0),
                r.cycles_per_tick_mean.unwrap_or(0.0),
                r.energy_joules_per_sample.unwrap_or(0.0)
            ));
        } else {
            md.push_str(&format!(
                "| {} | {} | failed: {} | | | |\n",
                r.point,
                values.join(", "),
                r.problems.join("; ")
            ));
        }
    }
    write_atomic(&args.out.join("report.md"), md.as_bytes())?;
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
    println!("wrote {}", args.out.display());
    Ok(())
}
