//! The sweep's plots, each as PNG and SVG (plotters): accuracy against the first axis, cores
//! against `core.neurons` (or the first axis), and energy against latency with the Pareto front
//! marked.
//!
//! Text is drawn with `ab_glyph` from DejaVu Sans embedded in the binary (`fonts/`), so no
//! system font library is linked or searched.

mod figure;

use std::path::Path;

use self::figure::*;
use crate::{
    error::{StudyError, StudyResult},
    run::PointResult,
    spec::{Axis, show_value},
};

/// The points that mapped with a finite latency and energy per sample: their numbers, and
/// (latency, energy) of each.
fn latency_energy(results: &[PointResult]) -> (Vec<usize>, Vec<(f64, f64)>) {
    results
        .iter()
        .filter(|r| r.ok)
        .filter_map(
            |r| match (r.latency_seconds_per_sample, r.energy_joules_per_sample) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Some((r.point, (x, y))),
                _ => None,
            },
        )
        .unzip()
}

/// The numbers of the points on the Pareto front of energy and latency per sample.
pub fn pareto_points(results: &[PointResult]) -> Vec<usize> {
    let (points, xy) = latency_energy(results);
    pareto_front(&xy).into_iter().map(|k| points[k]).collect()
}

/// Indices (into `points`) of the points no other point beats on both coordinates (lower is
/// better; equal points are all kept).
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            let (xi, yi) = points[i];
            !points
                .iter()
                .any(|&(x, y)| x <= xi && y <= yi && (x < xi || y < yi))
        })
        .collect()
}

/// How to place an axis's values on a plot axis: numbers spanning less than a factor of 10 on a
/// linear scale, anything else as equally spaced categories in spec order.
fn axis_scale(axis: &Axis) -> (Scale, Vec<String>) {
    let labels: Vec<String> = axis.values.iter().map(show_value).collect();
    let numbers: Option<Vec<f64>> = axis.values.iter().map(serde_yaml::Value::as_f64).collect();
    let scale = match numbers {
        Some(n) => {
            let (lo, hi) = bounds(n.iter().copied());
            if lo > 0.0 && hi / lo >= 10.0 {
                Scale::Categories(labels.clone())
            } else {
                Scale::Linear
            }
        }
        None => Scale::Categories(labels.clone()),
    };
    (scale, labels)
}

/// Groups the points by the values of every axis but `axis` (or all in one group when `group`
/// is false, as in list mode), as lines of (x, y). A group none of whose points has a value is
/// kept, empty, so that the legend can say so. `bar` gives a point's error bar (low, high).
#[allow(clippy::too_many_arguments)]
fn lines_against(
    results: &[PointResult],
    axes: &[Axis],
    axis: &Axis,
    scale: &Scale,
    labels: &[String],
    group: bool,
    y: impl Fn(&PointResult) -> Option<f64>,
    bar: impl Fn(&PointResult) -> Option<(f64, f64)>,
) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let others: Vec<&str> = axes
        .iter()
        .filter(|a| a.name != axis.name && group)
        .map(|a| a.name.as_str())
        .collect();
    // Axis names in labels by their last component (`input_axons`), unless two axes share it.
    let short = |k: &str| -> String {
        let last = k.rsplit('.').next().unwrap_or(k);
        let clash = others
            .iter()
            .filter(|o| o.rsplit('.').next() == Some(last))
            .count()
            > 1;
        if clash {
            k.to_string()
        } else {
            last.to_string()
        }
    };
    for r in results {
        let label: Vec<String> = r
            .values
            .iter()
            .filter(|(k, _)| others.contains(&k.as_str()))
            .map(|(k, v)| format!("{}={v}", short(k)))
            .collect();
        let label = label.join(", ");
        let k = match lines.iter().position(|l| l.label == label) {
            Some(k) => k,
            None => {
                lines.push(Line {
                    label,
                    points: Vec::new(),
                    bars: Vec::new(),
                });
                lines.len() - 1
            }
        };
        let Some(yv) = y(r).filter(|v| v.is_finite()) else {
            continue;
        };
        let Some((_, xs)) = r.values.iter().find(|(k, _)| *k == axis.name) else {
            continue;
        };
        let xv = match scale {
            Scale::Categories(_) => labels.iter().position(|l| l == xs).map(|k| k as f64),
            _ => xs.parse::<f64>().ok(),
        };
        if let Some(xv) = xv {
            lines[k].points.push((xv, yv));
            if let Some((lo, hi)) = bar(r).filter(|b| b.0.is_finite() && b.1.is_finite()) {
                lines[k].bars.push((xv, lo, hi));
            }
        }
    }
    for l in &mut lines {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        l.bars.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

/// The points that did not map, at their x on `axis`, with `y` where it is known.
fn failed_against(
    results: &[PointResult],
    axis: &Axis,
    scale: &Scale,
    labels: &[String],
    y: impl Fn(&PointResult) -> Option<f64>,
) -> Vec<(f64, Option<f64>)> {
    results
        .iter()
        .filter(|r| !r.ok)
        .filter_map(|r| {
            let (_, xs) = r.values.iter().find(|(k, _)| *k == axis.name)?;
            let x = match scale {
                Scale::Categories(_) => labels.iter().position(|l| l == xs).map(|k| k as f64),
                _ => xs.parse::<f64>().ok(),
            }?;
            Some((x, y(r)))
        })
        .collect()
}

/// Whether an axis's values are names with no order (then points are not joined by lines).
fn unordered(axis: &Axis) -> bool {
    axis.values.iter().any(|v| v.as_f64().is_none())
}

/// A written plot: its title and file stem under `plots/`.
pub struct Written {
    pub title: String,
    pub stem: String,
}

/// Float reference accuracies drawn on the accuracy plot.
pub struct References {
    pub spiking: Option<f64>,
    pub rate: Option<f64>,
}

/// Draws every plot that has data into `dir` (created). Returns what was written.
pub fn write_all(
    dir: &Path,
    results: &[PointResult],
    axes: &[Axis],
    references: &References,
    title: &str,
    group: bool,
    qat: Option<&str>,
) -> StudyResult<Vec<Written>> {
    std::fs::create_dir_all(dir).map_err(|source| StudyError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let Some(first) = axes.first() else {
        return Ok(written);
    };

    let (scale, labels) = axis_scale(first);
    let percent = |i: (f64, f64)| (i.0 * 100.0, i.1 * 100.0);
    let mut lines = lines_against(
        results,
        axes,
        first,
        &scale,
        &labels,
        group,
        |r| r.accuracy.map(|a| a * 100.0),
        |r| r.accuracy_interval().map(percent),
    );
    if let Some(qat_label) = qat {
        // The fine-tuned nets as companions of the plain lines, labelled in the legend.
        let with = lines_against(
            results,
            axes,
            first,
            &scale,
            &labels,
            group,
            |r| r.accuracy_qat.map(|a| a * 100.0),
            |r| r.accuracy_qat_interval().map(percent),
        );
        let join = |label: &str, what: &str| {
            if label.is_empty() {
                what.to_string()
            } else {
                format!("{label}, {what}")
            }
        };
        for l in &mut lines {
            l.label = join(&l.label, "post-training quantization");
        }
        lines.extend(with.into_iter().map(|l| Line {
            label: join(&l.label, qat_label),
            points: l.points,
            bars: l.bars,
        }));
    }
    if lines.iter().any(|l| !l.points.is_empty()) {
        let mut refs = Vec::new();
        if let Some(a) = references.spiking {
            refs.push((a * 100.0, format!("float spiking: {:.2}%", a * 100.0)));
        }
        if let Some(a) = references.rate {
            refs.push((a * 100.0, format!("float rate: {:.2}%", a * 100.0)));
        }
        let plot = LinePlot {
            title: format!("{title}: accuracy vs {}", first.name),
            x_desc: first.name.clone(),
            y_desc: "accuracy on the chip (%)".into(),
            x: scale.clone(),
            lines,
            dashed: Vec::new(),
            dashed_label: String::new(),
            references: refs,
            y_min_zero: false,
            join: !unordered(first),
            failed: failed_against(results, first, &scale, &labels, |_| None),
            failed_label: "does not map".into(),
            bars_label: "95 % Wilson interval of the accuracy".into(),
        };
        save(&plot, dir, "accuracy")?;
        written.push(Written {
            title: plot.title,
            stem: "accuracy".into(),
        });
    }

    let cores_axis = axes
        .iter()
        .find(|a| a.name == "core.neurons")
        .unwrap_or(first);
    let (scale, labels) = axis_scale(cores_axis);
    let used = lines_against(
        results,
        axes,
        cores_axis,
        &scale,
        &labels,
        group,
        |r| r.cores_used.map(|c| c as f64),
        |_| None,
    );
    if used.iter().any(|l| !l.points.is_empty()) {
        let bound = lines_against(
            results,
            axes,
            cores_axis,
            &scale,
            &labels,
            group,
            |r| r.cores_used.and(r.cores_lower_bound).map(|c| c as f64),
            |_| None,
        );
        let plot = LinePlot {
            title: format!("{title}: cores vs {}", cores_axis.name),
            x_desc: cores_axis.name.clone(),
            y_desc: "cores used".into(),
            x: scale.clone(),
            lines: used,
            dashed: bound,
            dashed_label: "lower bound (dashed, x)".into(),
            references: Vec::new(),
            y_min_zero: true,
            join: !unordered(cores_axis),
            failed: failed_against(results, cores_axis, &scale, &labels, |r| {
                r.cores_lower_bound.map(|c| c as f64)
            }),
            failed_label: "does not map (at its lower bound)".into(),
            bars_label: String::new(),
        };
        save(&plot, dir, "cores")?;
        written.push(Written {
            title: plot.title,
            stem: "cores".into(),
        });
    }

    let (done, xy) = latency_energy(results);
    if !done.is_empty() {
        let front = pareto_front(&xy);
        let plot = ParetoPlot {
            title: format!("{title}: energy vs latency per sample"),
            x_desc: "latency per sample (s)".into(),
            y_desc: "energy per sample (J)".into(),
            points: done
                .iter()
                .zip(&xy)
                .enumerate()
                .map(|(k, (point, (x, y)))| (*x, *y, *point, front.contains(&k)))
                .collect(),
        };
        save(&plot, dir, "energy-latency")?;
        written.push(Written {
            title: plot.title,
            stem: "energy-latency".into(),
        });
    }
    Ok(written)
}

/// One epoch of a training log: epoch, loss, train accuracy, test accuracy (if measured).
pub type EpochPoint = (f64, f64, f64, Option<f64>);

/// The training curves of `lifchip train --plot DIR`: `DIR/accuracy.{png,svg}` (train and
/// test accuracy per epoch) and `DIR/loss.{png,svg}`.
pub fn training_curves(epochs: &[EpochPoint], dir: &Path) -> StudyResult<()> {
    let line = |label: &str, points: Vec<(f64, f64)>| Line {
        label: label.to_string(),
        points,
        bars: Vec::new(),
    };
    let mut accuracy = vec![line(
        "train (noise, dropout on)",
        epochs.iter().map(|e| (e.0, e.2 * 100.0)).collect(),
    )];
    let test: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| e.3.map(|t| (e.0, t * 100.0)))
        .collect();
    if !test.is_empty() {
        accuracy.push(line("test (rate mode)", test));
    }
    let plot = |title: &str, y_desc: &str, lines: Vec<Line>| LinePlot {
        title: title.to_string(),
        x_desc: "epoch".into(),
        y_desc: y_desc.to_string(),
        x: Scale::Linear,
        lines,
        dashed: Vec::new(),
        dashed_label: String::new(),
        references: Vec::new(),
        y_min_zero: false,
        join: true,
        failed: Vec::new(),
        failed_label: String::new(),
        bars_label: String::new(),
    };
    save(
        &plot("Accuracy per epoch", "accuracy (%)", accuracy),
        dir,
        "accuracy",
    )?;
    let loss = vec![line(
        "training loss",
        epochs.iter().map(|e| (e.0, e.1)).collect(),
    )];
    save(
        &plot("Loss per epoch", "softmax cross-entropy", loss),
        dir,
        "loss",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_points_share_a_label() {
        let m = merge_labels(vec![
            (1.0, 1.0, 3, false),
            (1.0001, 1.0, 4, true),
            (2.0, 2.0, 5, false),
            (1.0, 1.0, 6, false),
            (1.0, 1.0, 7, false),
        ]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].2, "#3, #4, #6 +1");
        assert!(m[0].3);
        assert_eq!(m[1].2, "#5");
    }

    #[test]
    fn accuracy_lines_carry_wilson_bars() {
        let axis = Axis {
            name: "precision.weight_bits".into(),
            values: vec![2.into(), 8.into()],
        };
        let results: Vec<PointResult> = [(2u64, 0.5), (8, 0.988)]
            .iter()
            .enumerate()
            .map(|(k, &(b, a))| PointResult {
                point: k,
                values: vec![(axis.name.clone(), b.to_string())],
                ok: true,
                accuracy: Some(a),
                samples: Some(1000),
                ..PointResult::default()
            })
            .collect();
        let (scale, labels) = axis_scale(&axis);
        let axes = [axis];
        let lines = lines_against(
            &results,
            &axes,
            &axes[0],
            &scale,
            &labels,
            true,
            |r| r.accuracy.map(|a| a * 100.0),
            |r| r.accuracy_interval().map(|i| (i.0 * 100.0, i.1 * 100.0)),
        );
        assert_eq!(lines.len(), 1);
        let bars = &lines[0].bars;
        assert_eq!(bars.len(), 2);
        // 988 of 1000: Wilson (97.9143, 99.3122) %.
        assert_eq!(bars[1].0, 8.0);
        assert!((bars[1].1 - 97.9143).abs() < 1e-3 && (bars[1].2 - 99.3122).abs() < 1e-3);
        // 500 of 1000: symmetric around 50 %.
        assert!((bars[0].1 + bars[0].2 - 100.0).abs() < 1e-9);
        // Without the image count there is no bar.
        let mut bare = results[0].clone();
        bare.samples = None;
        assert_eq!(bare.accuracy_interval(), None);
    }

    #[test]
    fn pareto_front_keeps_undominated_points() {
        let pts = [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (4.0, 1.0), (2.0, 2.0)];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3, 4]);
        assert!(pareto_front(&[]).is_empty());
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_span(8.0, 7.0), "8");
        assert_eq!(fmt_span(2.5, 7.0), "2.5");
        assert_eq!(fmt_span(90.0, 100.0), "90");
        assert_eq!(fmt_span(98.25, 1.0), "98.25");
        assert_eq!(fmt_span(1.5e-4, 1e-3), "1.5e-4");
        assert_eq!(fmt_span(1.183e-4, 6e-7), "1.183e-4");
        assert_eq!(fmt_span(1.18e-4, 6e-7), "1.18e-4");
        assert_eq!(fmt_sci(1e-3), "1e-3");
        assert_eq!(Scale::Log10.label(-3.0, 1.0), "1e-3");
        let c = Scale::Categories(vec!["a".into(), "b".into()]);
        assert_eq!(
            (c.label(1.0, 2.0), c.label(0.5, 2.0), c.label(5.0, 2.0)),
            ("b".into(), String::new(), String::new())
        );
    }

    #[test]
    fn plots_render_to_png_and_svg() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let axis = Axis {
            name: "precision.weight_bits".into(),
            values: vec![2.into(), 4.into(), 8.into()],
        };
        let results: Vec<PointResult> = [2u64, 4, 8]
            .iter()
            .enumerate()
            .map(|(k, b)| PointResult {
                point: k,
                values: vec![(axis.name.clone(), b.to_string())],
                ok: true,
                accuracy: Some(0.5 + 0.05 * *b as f64),
                accuracy_qat: Some(0.8 + 0.01 * *b as f64),
                samples: Some(100),
                cores_used: Some(3),
                cores_lower_bound: Some(2),
                latency_seconds_per_sample: Some(1e-4 * (k + 1) as f64),
                energy_joules_per_sample: Some(1e-5 / (k + 1) as f64),
                ..PointResult::default()
            })
            .collect();
        let refs = References {
            spiking: Some(0.9),
            rate: Some(0.92),
        };
        let written = write_all(
            dir.path(),
            &results,
            &[axis],
            &refs,
            "test",
            true,
            Some("with QAT"),
        )
        .map_err(|e| e.to_string());
        assert_eq!(written.as_ref().map(Vec::len), Ok(3));
        let svg = std::fs::read_to_string(dir.path().join("accuracy.svg")).unwrap_or_default();
        assert!(svg.contains("with QAT") && svg.contains("post-training quantization"));
        assert!(svg.contains("95 % Wilson interval"), "no error-bar legend");
        for stem in ["accuracy", "cores", "energy-latency"] {
            let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap_or_default();
            assert!(png.starts_with(b"\x89PNG"), "{stem}.png");
            let svg =
                std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap_or_default();
            assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
        }
    }
}
