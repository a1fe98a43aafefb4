//! `lifchip sweep` as a library call: vary target fields (and the target itself, the synaptic
//! time constant, the input rate or the ticks per sample) over a grid or a list of points;
//! validate, compile and emulate every point, in parallel; write `results.csv`,
//! `results.json`, plots (PNG and SVG), `summary.json` and `report.md`.
//!
//! A sweep never stops at a bad point: a point whose target fails its check, whose net does not
//! fit, whose CHIPDIR cannot be written or whose emulation fails records its problems and the
//! sweep goes on. Each finished point is written to `DIR/points/NNNN.json` (atomically) with a
//! fingerprint of everything it depends on, so an interrupted sweep resumes where it stopped
//! and a changed spec recomputes only what changed. With `train:` the net is trained once into
//! `DIR/net.net` and reused by later runs. With a `qat:` section every distinct weight format
//! among the points gets a quantization-aware fine-tuned copy of the net (`DIR/qat/KEY.net`,
//! reused while its key matches), compiled and emulated beside the plain net (`accuracy_qat`
//! next to `accuracy`).

use std::{path::Path, time::Instant};

use rayon::prelude::*;

use crate::{
    cache,
    error::{StudyError, StudyResult},
    observe::Observer,
    plan::{plan_points, resolve_targets},
    plot,
    prepare::{float_reference, obtain_data, obtain_net, prepare_qat},
    run::{Context, PointResult, run_point},
    spec::{SpecFile, SweepMode},
    write::{Summary, report_md, results_csv, write_atomic, write_json},
};

/// What a finished sweep hands back: every point's result and the summary it wrote.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    pub results: Vec<PointResult>,
    pub summary: Summary,
}

/// Runs the sweep of the spec file `spec_path` into the directory `out` on `threads` worker
/// threads (default: one per core, or `RAYON_NUM_THREADS`).
pub fn run_sweep(
    spec_path: &Path,
    out: &Path,
    threads: Option<usize>,
    observer: &dyn Observer,
) -> StudyResult<SweepOutcome> {
    let started = Instant::now();
    let file = SpecFile::load(spec_path)?;
    let spec = &file.spec;
    let bases = resolve_targets(&file)?;
    let io = |source| StudyError::Io {
        path: out.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(out.join("points")).map_err(io)?;
    cache::remove_leftovers(out);

    if let Some(q) = &spec.qat {
        // Check the `qat:` values before any work.
        q.validate()
            .map_err(|e| file.error(&["qat"], format!("qat.{e}")))?;
    }
    let (data, data_name, train_data) = obtain_data(&file, out)?;
    let (net, net_fingerprint, net_source, train_seconds) = obtain_net(&file, out, observer)?;
    let inputs: usize = net.inputs().map(lifchip_net::Population::size).sum();
    if inputs != data.pixels_per_image() {
        let pixels = data.pixels_per_image() * spec.downsample * spec.downsample;
        let hint = (1..=data.rows * spec.downsample)
            .find(|k| pixels == inputs * k * k)
            .map_or_else(String::new, |k| {
                format!("; a net for images pooled {k}x{k} takes that many: set `downsample: {k}`")
            });
        return Err(StudyError::Spec {
            at: file.file(),
            message: format!(
                "net `{}` takes {inputs} inputs, but the images are {}x{} = {} pixels{}{hint}",
                net.name,
                data.rows,
                data.cols,
                data.pixels_per_image(),
                if spec.downsample > 1 {
                    " after `downsample`"
                } else {
                    ""
                }
            ),
        });
    }
    let data_desc = format!(
        "{}|{}|{}|{}",
        spec.data, spec.split, data.n, spec.downsample
    );
    let reference = float_reference(
        &file,
        &net,
        &data,
        &cache::key(&["lifchip-sweep-reference-1", &net_fingerprint, &data_desc]),
        out,
        observer,
    )?;
    let reference_part = if reference.spiking_predictions.is_empty() {
        "no-reference"
    } else {
        "reference"
    };
    let fingerprint = format!("{net_fingerprint}|{reference_part}");
    let qat_base = cache::key(&["lifchip-sweep-qat-base-1", &net_fingerprint, &train_data]);
    let plans = plan_points(
        &file,
        &bases,
        &fingerprint,
        &data_desc,
        &qat_base,
        &train_data,
    );

    let cached: Vec<Option<PointResult>> = plans
        .iter()
        .map(|plan| {
            cache::read::<PointResult>(&cache::point_file(out, plan.index))
                .filter(|r| r.key == plan.key && r.point == plan.index)
        })
        .collect();
    let reused = cached.iter().filter(|c| c.is_some()).count();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| StudyError::Threads {
            threads: threads.unwrap_or(0),
            message: e.to_string(),
        })?;
    let threads = pool.current_num_threads();
    let qat_started = Instant::now();
    let (qat_nets, qat_summaries) = prepare_qat(&plans, &net, out, &pool, observer)?;
    let qat_seconds = qat_started.elapsed().as_secs_f64();
    if reused > 0 {
        observer.note(&format!(
            "{reused} of {} points already done in {}",
            plans.len(),
            out.display()
        ));
    }
    observer.points_started(plans.len(), reused);
    let ctx = Context {
        net: &net,
        data: &data,
        out,
        reference: &reference,
        qat_nets: &qat_nets,
    };
    std::fs::create_dir_all(out.join("chips")).map_err(io)?;
    let points_started = Instant::now();
    let results: StudyResult<Vec<PointResult>> = pool.install(|| {
        plans
            .par_iter()
            .zip(cached.into_par_iter())
            .with_max_len(1)
            .map(|(plan, cached)| {
                if let Some(r) = cached {
                    return Ok(r);
                }
                let r = run_point(plan, &ctx);
                write_json(&cache::point_file(out, plan.index), &r)?;
                observer.point_finished(plan.index);
                Ok(r)
            })
            .collect()
    });
    observer.points_finished();
    let results = results?;
    let points_seconds = points_started.elapsed().as_secs_f64();

    write_json(&out.join("results.json"), &results)?;
    write_atomic(
        &out.join("results.csv"),
        &results_csv(&results, &spec.axes.0, spec.qat.is_some())?,
    )?;
    let title = spec.title.clone().unwrap_or_else(|| {
        spec_path
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
        spec.mode == SweepMode::Grid,
        qat_label.as_deref(),
    ) {
        Ok(p) => (p, None),
        Err(e) => {
            observer.note(&format!("warning: plots not written: {e}"));
            (Vec::new(), Some(e.to_string()))
        }
    };
    let front = plot::pareto_points(&results);
    let mapped = results.iter().filter(|r| r.ok).count();
    let summary = Summary {
        spec: spec_path.display().to_string(),
        title: title.clone(),
        net: net.name.clone(),
        net_source,
        data: data_name,
        split: spec.split.clone(),
        samples: data.n,
        image_size: [data.rows, data.cols],
        points: results.len(),
        mapped,
        failed: results.len() - mapped,
        invalid: results.iter().filter(|r| r.invalid_value).count(),
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
        qat: spec.qat.clone(),
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
    Ok(SweepOutcome { results, summary })
}
