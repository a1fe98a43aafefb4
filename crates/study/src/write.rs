//! A sweep's outputs: `results.csv` (through the `csv` crate, one serde row per point, so the
//! header and the cells come from the same struct), `summary.json`, `report.md`, and the atomic
//! JSON writer every output uses.

use std::{fmt, path::Path};

use serde::{Serialize, Serializer};

use crate::{
    cache::Reference,
    error::{StudyError, StudyResult},
    plot::Written,
    run::PointResult,
    spec::{Axis, QatSpec, SpecFile},
    stats,
};

/// Writes `bytes` to `path` atomically (a temp file beside it, fsync, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> StudyResult<()> {
    lifchip_files::write_atomic(path, bytes).map_err(|source| StudyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a report as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> StudyResult<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| StudyError::Encode {
        what: "report",
        message: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// `DIR/summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub spec: String,
    pub title: String,
    pub net: String,
    pub net_source: String,
    pub data: String,
    pub split: String,
    pub samples: usize,
    pub image_size: [usize; 2],
    pub points: usize,
    pub mapped: usize,
    pub failed: usize,
    /// Failed points whose axis values make no valid target (a mistake in the spec).
    pub invalid: usize,
    pub computed: usize,
    pub reused: usize,
    pub threads: usize,
    pub train_seconds: Option<f64>,
    pub points_seconds: f64,
    pub wall_seconds: f64,
    pub float_rate_accuracy: Option<f64>,
    pub float_spiking_accuracy: Option<f64>,
    pub pareto_front: Vec<usize>,
    pub plots: Vec<String>,
    pub qat: Option<QatSpec>,
    /// Wall time of preparing the fine-tuned nets (training or reusing them).
    pub qat_seconds: Option<f64>,
    /// Fine-tuned nets: (file under `qat/`, weight format, seconds when trained in this run).
    pub qat_nets: Vec<QatNetSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QatNetSummary {
    pub net: String,
    pub weight_format: String,
    pub seconds: Option<f64>,
    pub error: Option<String>,
}

/// A number as Rust displays it (shortest round trip, no exponent), as the CSV has always
/// written it.
struct Num<T>(T);

impl<T: fmt::Display> Serialize for Num<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

fn num<T>(v: Option<T>) -> Option<Num<T>> {
    v.map(Num)
}

/// A cell on one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A column only a sweep with `qat:` has: `None` leaves the column out.
type QatCell<T> = Option<Option<T>>;

/// The columns of `results.csv` after the point's number and its axis values: the header is
/// made from the field names, the cells from the values, so the two cannot drift apart.
#[derive(Serialize)]
struct Row {
    target: String,
    ok: bool,
    accuracy: Option<Num<f64>>,
    /// The 95 % Wilson score interval of `accuracy`.
    accuracy_lo: Option<Num<f64>>,
    accuracy_hi: Option<Num<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy_qat: QatCell<Num<f64>>,
    agreement_with_float_spiking: Option<Num<f64>>,
    cores_used: Option<Num<u64>>,
    cores_lower_bound: Option<Num<u64>>,
    cycles_per_tick_mean: Option<Num<f64>>,
    latency_seconds_per_sample: Option<Num<f64>>,
    energy_joules_per_sample: Option<Num<f64>>,
    spikes_per_sample: Option<Num<f64>>,
    synaptic_events_per_sample: Option<Num<f64>>,
    overflow_events: Option<Num<u64>>,
    weight_rms_error_max: Option<Num<f64>>,
    compile_seconds: Option<Num<f64>>,
    emulate_seconds: Option<Num<f64>>,
    problems: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qat_rate_accuracy: QatCell<Num<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agreement_qat_with_float_spiking: QatCell<Num<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cores_used_qat: QatCell<Num<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    energy_joules_per_sample_qat: QatCell<Num<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_rms_error_max_qat: QatCell<Num<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qat_net: QatCell<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qat_problems: QatCell<String>,
}

impl Row {
    fn new(r: &PointResult, qat: bool) -> Row {
        Row {
            target: one_line(&r.target),
            ok: r.ok,
            accuracy: num(r.accuracy),
            accuracy_lo: num(r.accuracy_interval().map(|i| i.0)),
            accuracy_hi: num(r.accuracy_interval().map(|i| i.1)),
            accuracy_qat: qat.then_some(num(r.accuracy_qat)),
            agreement_with_float_spiking: num(r.agreement_with_float_spiking),
            cores_used: num(r.cores_used),
            cores_lower_bound: num(r.cores_lower_bound),
            cycles_per_tick_mean: num(r.cycles_per_tick_mean),
            latency_seconds_per_sample: num(r.latency_seconds_per_sample),
            energy_joules_per_sample: num(r.energy_joules_per_sample),
            spikes_per_sample: num(r.spikes_per_sample),
            synaptic_events_per_sample: num(r.synaptic_events_per_sample),
            overflow_events: num(r.overflow_events),
            weight_rms_error_max: num(r.weight_rms_error_max),
            compile_seconds: num(r.compile_seconds),
            emulate_seconds: num(r.emulate_seconds),
            problems: one_line(&r.problems.join("; ")),
            qat_rate_accuracy: qat.then_some(num(r.qat_rate_accuracy)),
            agreement_qat_with_float_spiking: qat
                .then_some(num(r.agreement_qat_with_float_spiking)),
            cores_used_qat: qat.then_some(num(r.cores_used_qat)),
            energy_joules_per_sample_qat: qat.then_some(num(r.energy_joules_per_sample_qat)),
            weight_rms_error_max_qat: qat.then_some(num(r.weight_rms_error_max_qat)),
            qat_net: qat.then(|| r.qat_net.as_deref().map(one_line)),
            qat_problems: qat.then(|| Some(one_line(&r.qat_problems.join("; ")))),
        }
    }
}

fn csv_error(e: impl fmt::Display) -> StudyError {
    StudyError::Encode {
        what: "results.csv",
        message: e.to_string(),
    }
}

/// The column names of [`Row`] (with or without the QAT columns), as the `csv` crate writes
/// them for a record of it.
fn row_header(qat: bool) -> StudyResult<csv::StringRecord> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(Row::new(&PointResult::default(), qat))
        .map_err(csv_error)?;
    let bytes = w.into_inner().map_err(csv_error)?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    r.headers().cloned().map_err(csv_error)
}

/// `results.csv`: the point, its value on every axis, then a [`Row`].
pub fn results_csv(results: &[PointResult], axes: &[Axis], qat: bool) -> StudyResult<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let mut header = vec!["point".to_string()];
    header.extend(axes.iter().map(|a| one_line(&a.name)));
    header.extend(row_header(qat)?.iter().map(str::to_string));
    w.write_record(&header).map_err(csv_error)?;
    for r in results {
        let values: Vec<String> = axes.iter().map(|a| one_line(r.value_of(&a.name))).collect();
        w.serialize((r.point, values, Row::new(r, qat)))
            .map_err(csv_error)?;
    }
    w.into_inner().map_err(csv_error)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |a| format!("{:.2}%", a * 100.0))
}

/// An accuracy with its 95 % interval: `98.80% (98.0–99.3)`.
fn pct_interval(r: &PointResult) -> String {
    match r.accuracy_interval() {
        Some((lo, hi)) => format!("{} ({:.1}–{:.1})", pct(r.accuracy), lo * 100.0, hi * 100.0),
        None => pct(r.accuracy),
    }
}

/// The markdown section comparing every mapped point with the most accurate one on the same
/// images (McNemar's exact test on the images where exactly one of the two is right).
fn paired_section(results: &[PointResult]) -> String {
    let best = results
        .iter()
        .filter(|r| r.ok && !r.correct.is_empty())
        .max_by(|a, b| {
            a.accuracy
                .unwrap_or(0.0)
                .total_cmp(&b.accuracy.unwrap_or(0.0))
                .then(b.point.cmp(&a.point))
        });
    let Some(best) = best else {
        return String::new();
    };
    let rows: String = results
        .iter()
        .filter(|r| r.ok && r.point != best.point)
        .filter_map(|r| paired_row(r.point, &best.correct, &r.correct))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n## Paired comparisons\n\n\
         Every mapped point against the most accurate one, point {} ({}), on the same {} images. \
         Accuracies above carry their 95 % Wilson score interval. Here *difference* is the \
         point's accuracy minus point {}'s in percentage points, *only best* and *only this* \
         count the images exactly one of the two classified right, and *p* is McNemar's exact \
         two-sided test on those (a difference with p ≥ 0.05 is within noise).\n\n\
         | point | difference (pp) | only best | only this | p | |\n|---|---|---|---|---|---|\n{rows}",
        best.point,
        pct_interval(best),
        best.correct.len(),
        best.point
    )
}

/// A paired comparison's table row for `point`: the accuracy of `b` minus that of `a` on the
/// same images (percentage points), the images only `a` and only `b` classified right,
/// McNemar's exact p and its verdict; `None` when the two correctness strings do not pair.
fn paired_row(point: usize, a: &str, b: &str) -> Option<String> {
    let p = stats::paired(a, b)?;
    let diff = (p.only_b as f64 - p.only_a as f64) / p.n as f64;
    let pv = stats::mcnemar_exact(p.only_a, p.only_b);
    let verdict = if pv >= 0.05 {
        "within noise"
    } else {
        "significant"
    };
    Some(format!(
        "| {point} | {:+.2} | {} | {} | {} | {verdict} |\n",
        diff * 100.0,
        p.only_a,
        p.only_b,
        p_cell(pv)
    ))
}

/// The p-value as the reports print it.
fn p_cell(pv: f64) -> String {
    if pv < 1e-4 {
        "< 0.0001".to_string()
    } else {
        format!("{pv:.4}")
    }
}

/// The markdown section comparing, point by point, the fine-tuned net with the net as trained
/// on the same images (McNemar's exact test), when the points kept both correctness strings.
fn qat_paired_section(results: &[PointResult]) -> String {
    let rows: String = results
        .iter()
        .filter(|r| r.ok)
        .filter_map(|r| paired_row(r.point, &r.correct, &r.correct_qat))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    "\n## QAT against post-training quantization\n\n\
     Each point's fine-tuned net against the net as trained, on the same images: *difference* \
     is the accuracy with QAT minus without, in percentage points, *only PTQ* and *only QAT* \
     count the images exactly one of the two chips classified right, and *p* is McNemar's \
     exact two-sided test on those (p ≥ 0.05: within noise).\n\n\
     | point | difference (pp) | only PTQ | only QAT | p | |\n|---|---|---|---|---|---|\n"
        .to_string()
        + &rows
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn report_md(
    summary: &Summary,
    file: &SpecFile,
    results: &[PointResult],
    plots: &[Written],
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
            Some(_) if r.accuracy_qat.is_some() => format!(
                " {} |",
                match r.accuracy_qat_interval() {
                    Some((lo, hi)) => format!(
                        "{} ({:.1}–{:.1})",
                        pct(r.accuracy_qat),
                        lo * 100.0,
                        hi * 100.0
                    ),
                    None => pct(r.accuracy_qat),
                }
            ),
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
                pct_interval(r),
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
    md.push_str(&paired_section(results));
    md.push_str(&qat_paired_section(results));
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

    fn axis(name: &str) -> Axis {
        Axis {
            name: name.into(),
            values: Vec::new(),
        }
    }

    fn results() -> Vec<PointResult> {
        vec![
            PointResult {
                point: 0,
                values: vec![("core.neurons".into(), "64".into())],
                target: "tiny, edited".into(),
                ok: true,
                accuracy: Some(0.5),
                samples: Some(4),
                correct: "1010".into(),
                cores_used: Some(3),
                energy_joules_per_sample: Some(1.5e-7),
                ..PointResult::default()
            },
            PointResult {
                point: 1,
                values: vec![("core.neurons".into(), "8".into())],
                problems: vec!["core 0: neurons 9 > 8".into(), "say \"x\"\nagain".into()],
                ..PointResult::default()
            },
        ]
    }

    fn read(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::Reader::from_reader(bytes);
        let header = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows = r
            .records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect();
        (header, rows)
    }

    #[test]
    fn the_csv_has_one_column_per_header_name() {
        let bytes = results_csv(&results(), &[axis("core.neurons")], false).unwrap();
        let (header, rows) = read(&bytes);
        let expected = "point,core.neurons,target,ok,accuracy,accuracy_lo,accuracy_hi,\
                        agreement_with_float_spiking,\
                        cores_used,cores_lower_bound,cycles_per_tick_mean,\
                        latency_seconds_per_sample,energy_joules_per_sample,spikes_per_sample,\
                        synaptic_events_per_sample,overflow_events,weight_rms_error_max,\
                        compile_seconds,emulate_seconds,problems";
        assert_eq!(header.join(","), expected);
        assert!(rows.iter().all(|r| r.len() == header.len()));
        let cell = |row: usize, name: &str| {
            let k = header.iter().position(|h| h == name).unwrap();
            rows[row][k].clone()
        };
        assert_eq!(cell(0, "target"), "tiny, edited");
        assert_eq!(cell(0, "core.neurons"), "64");
        assert_eq!(cell(0, "cores_used"), "3");
        // Numbers as Rust displays them, as the CSV always had them.
        assert_eq!(cell(0, "energy_joules_per_sample"), "0.00000015");
        assert_eq!(cell(0, "cycles_per_tick_mean"), "");
        // 2 of 4 right: the Wilson interval is symmetric around one half.
        let lo: f64 = cell(0, "accuracy_lo").parse().unwrap();
        let hi: f64 = cell(0, "accuracy_hi").parse().unwrap();
        assert!(
            (lo + hi - 1.0).abs() < 1e-12 && lo > 0.1 && lo < 0.2,
            "{lo} {hi}"
        );
        assert_eq!(cell(1, "accuracy_lo"), "");
        assert_eq!(cell(1, "ok"), "false");
        assert_eq!(
            cell(1, "problems"),
            "core 0: neurons 9 > 8; say \"x\" again"
        );
    }

    fn scored(point: usize, correct: &str) -> PointResult {
        let right = correct.bytes().filter(|&b| b == b'1').count();
        PointResult {
            point,
            ok: true,
            accuracy: Some(right as f64 / correct.len() as f64),
            samples: Some(correct.len() as u64),
            correct: correct.into(),
            ..PointResult::default()
        }
    }

    #[test]
    fn paired_comparisons_against_the_best_point() {
        let good = "1".repeat(40);
        // 10 images fewer right than the best: exact p = 2 · 0.5^10, significant.
        let worse = format!("{}{}", "0".repeat(10), "1".repeat(30));
        // One image fewer: p = 1, within noise.
        let close = format!("0{}", "1".repeat(39));
        let mut old = scored(3, &close);
        old.correct.clear(); // a result from before the correctness was kept
        let results = vec![scored(0, &worse), scored(1, &good), scored(2, &close), old];
        let md = paired_section(&results);
        assert!(md.contains("point 1 (100.00% (91.2–100.0))"), "{md}");
        assert!(
            md.contains("| 0 | -25.00 | 10 | 0 | 0.0020 | significant |"),
            "{md}"
        );
        assert!(
            md.contains("| 2 | -2.50 | 1 | 0 | 1.0000 | within noise |"),
            "{md}"
        );
        assert!(!md.contains("| 3 |"), "{md}");
        // Nothing to pair: no section.
        assert_eq!(paired_section(&results[..1]), "");
        assert_eq!(paired_section(&[]), "");
    }

    #[test]
    fn qat_is_compared_with_ptq_on_the_same_images() {
        let ptq = format!("{}{}", "0".repeat(12), "1".repeat(28));
        let mut a = scored(0, &ptq);
        // QAT gets 10 of PTQ's 12 wrong images right and loses one it had: b = 1, c = 10.
        a.correct_qat = format!("{}{}0{}", "1".repeat(10), "00", "1".repeat(27));
        let mut b = scored(1, &ptq);
        b.correct_qat = ptq.clone();
        let mut c = scored(2, &ptq);
        c.correct_qat.clear(); // no fine-tuned net
        let md = qat_paired_section(&[a, b, c]);
        // 2 · (1 + 11) / 2^11 = 0.01171875.
        assert!(
            md.contains("| 0 | +22.50 | 1 | 10 | 0.0117 | significant |"),
            "{md}"
        );
        assert!(
            md.contains("| 1 | +0.00 | 0 | 0 | 1.0000 | within noise |"),
            "{md}"
        );
        assert!(!md.contains("| 2 |"), "{md}");
        assert_eq!(qat_paired_section(&[scored(0, &ptq)]), "");
    }

    #[test]
    fn the_table_shows_the_interval() {
        assert_eq!(pct_interval(&scored(0, "1010")), "50.00% (15.0–85.0)");
        assert_eq!(pct_interval(&PointResult::default()), "–");
    }

    #[test]
    fn qat_columns_appear_only_with_qat() {
        let bytes = results_csv(&results(), &[axis("core.neurons")], true).unwrap();
        let (header, rows) = read(&bytes);
        assert_eq!(header[7], "accuracy_qat");
        assert_eq!(
            header[header.len() - 7..].join(","),
            "qat_rate_accuracy,agreement_qat_with_float_spiking,cores_used_qat,\
             energy_joules_per_sample_qat,weight_rms_error_max_qat,qat_net,qat_problems"
        );
        assert!(rows.iter().all(|r| r.len() == header.len()));
        let plain = results_csv(&results(), &[axis("core.neurons")], false).unwrap();
        assert_eq!(read(&plain).0.len() + 8, header.len());
    }
}
