//! The sweep's plots, each as PNG and SVG (plotters): accuracy against the first axis, cores
//! against `core.neurons` (or the first axis), and energy against latency with the Pareto front
//! marked.
//!
//! Text is drawn with `ab_glyph` from DejaVu Sans embedded in the binary (`fonts/`), so no
//! system font library is linked or searched.

use std::{path::Path, sync::OnceLock};

use image::ImageEncoder;
use plotters::{coord::Shift, prelude::*, style::FontStyle};

use crate::{
    error::{StudyError, StudyResult},
    run::PointResult,
    spec::{Axis, show_value},
    write::write_atomic,
};

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1000, 560);

/// Registers the embedded font with plotters (once).
fn register_font() -> StudyResult<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the embedded font DejaVuSans.ttf could not be read".to_string())
    })
    .clone()
    .map_err(StudyError::Plot)
}

fn err(e: impl std::fmt::Display) -> StudyError {
    StudyError::Plot(e.to_string())
}

/// A figure that can draw itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> StudyResult<()>;
}

/// Writes `dir/stem.svg` and `dir/stem.png`, each atomically.
fn save(figure: &impl Figure, dir: &Path, stem: &str) -> StudyResult<()> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(err)?;
    }
    write_atomic(&dir.join(format!("{stem}.svg")), svg.as_bytes())?;
    // Drawn into memory and encoded here (as plotters would), so that the file can be
    // written atomically under any temporary name.
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(err)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, SIZE.0, SIZE.1, image::ColorType::Rgb8)
        .map_err(err)?;
    write_atomic(&dir.join(format!("{stem}.png")), &png)?;
    Ok(())
}

/// A tick label for `v` on an axis spanning `span`: as many digits as tell ticks apart, no more.
fn fmt_span(v: f64, span: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    // Generous: trailing zeros are trimmed, and plotters may put ticks at quarter steps.
    let step = (span / 100.0).abs().max(f64::MIN_POSITIVE);
    let a = v.abs();
    if (0.01..10_000.0).contains(&a) {
        let decimals = (-step.log10()).ceil().clamp(0.0, 6.0) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s == "-0" { "0".into() } else { s }
    } else {
        let digits = ((a / step).log10().ceil() - 1.0).clamp(1.0, 6.0) as usize;
        let s = format!("{v:.digits$e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let m = if m.contains('.') {
                    m.trim_end_matches('0').trim_end_matches('.')
                } else {
                    m
                };
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

fn fmt_sci(v: f64) -> String {
    let s = format!("{v:.1e}");
    s.replace(".0e", "e")
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// How an axis maps values to positions.
#[derive(Clone, Debug)]
enum Scale {
    Linear,
    /// Positions are log10 of the values.
    Log10,
    /// Position k is the k-th label.
    Categories(Vec<String>),
}

impl Scale {
    fn label(&self, x: f64, span: f64) -> String {
        match self {
            Scale::Linear => fmt_span(x, span),
            Scale::Log10 => fmt_sci(10f64.powf(x)),
            Scale::Categories(labels) => {
                let r = x.round();
                if (x - r).abs() < 1e-6 && r >= 0.0 {
                    labels.get(r as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }

    /// Log10 when every value is positive and they span more than `ratio`.
    fn for_values(values: &[f64], ratio: f64) -> Scale {
        let (lo, hi) = bounds(values.iter().copied());
        if lo > 0.0 && hi / lo > ratio {
            Scale::Log10
        } else {
            Scale::Linear
        }
    }

    fn map(&self, v: f64) -> f64 {
        match self {
            Scale::Log10 => v.log10(),
            _ => v,
        }
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// A padded plotting range around the values (never empty).
fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * frac;
    (lo - d, hi + d)
}

/// One line of a line plot.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Mark {
    /// A solid line with a dot.
    LineDot(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A hollow circle.
    Ring(RGBColor),
    /// A cross.
    Cross(RGBColor),
}

const LEGEND_WIDTH: u32 = 300;

/// Draws the legend entries top-down in their own panel (beside the chart, never over data).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(Mark, String)],
) -> StudyResult<()> {
    let style = (FAMILY, 13).into_font().color(&BLACK);
    let mut y = 70;
    for (mark, label) in entries {
        let (x0, x1) = (8, 34);
        match *mark {
            Mark::LineDot(c) => {
                area.draw(&PathElement::new(vec![(x0, y), (x1, y)], c.stroke_width(2)))
                    .map_err(err)?;
                area.draw(&Circle::new(((x0 + x1) / 2, y), 4, c.filled()))
                    .map_err(err)?;
            }
            Mark::Dashed(c) => {
                for (a, b) in [(x0, x0 + 7), (x0 + 10, x0 + 17), (x0 + 20, x1)] {
                    area.draw(&PathElement::new(vec![(a, y), (b, y)], c.stroke_width(1)))
                        .map_err(err)?;
                }
            }
            Mark::Ring(c) => {
                area.draw(&Circle::new(((x0 + x1) / 2, y), 5, c.stroke_width(2)))
                    .map_err(err)?;
            }
            Mark::Cross(c) => {
                area.draw(&Cross::new(((x0 + x1) / 2, y), 6, c.stroke_width(2)))
                    .map_err(err)?;
            }
        }
        // Long labels wrap at ", " (up to three lines); only a single over-long part is cut.
        let mut lines: Vec<String> = Vec::new();
        for part in label.split(", ") {
            match lines.last_mut() {
                Some(line) if line.chars().count() + 2 + part.chars().count() <= LEGEND_CHARS => {
                    line.push_str(", ");
                    line.push_str(part);
                }
                _ => lines.push(part.to_string()),
            }
        }
        lines.truncate(3);
        for (j, line) in lines.iter().enumerate() {
            let mut text = line.clone();
            if text.chars().count() > LEGEND_CHARS {
                text = text.chars().take(LEGEND_CHARS - 1).collect::<String>() + "…";
            }
            area.draw(&Text::new(
                text,
                (x1 + 8, y - 7 + 16 * j as i32),
                style.clone(),
            ))
            .map_err(err)?;
        }
        y += 24 + 16 * (lines.len().max(1) as i32 - 1);
    }
    Ok(())
}

/// Characters of a legend line that fit beside the chart.
const LEGEND_CHARS: usize = 38;

/// Lines over a shared x axis (one per combination of the other axes).
struct LinePlot {
    title: String,
    x_desc: String,
    y_desc: String,
    x: Scale,
    lines: Vec<Line>,
    /// Dashed companions of `lines` (same colour, by index), labelled once with this text.
    dashed: Vec<Line>,
    dashed_label: String,
    /// Horizontal reference lines: (y, label).
    references: Vec<(f64, String)>,
    y_min_zero: bool,
    /// Join the points of a line (not for unordered categories such as target names).
    join: bool,
    /// Points that do not map: x, and y where known (else drawn at the bottom).
    failed: Vec<(f64, Option<f64>)>,
    failed_label: String,
}

impl Figure for LinePlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> StudyResult<()> {
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(&self.title, (FAMILY, 22)).map_err(err)?;
        let (width, _) = root.dim_in_pixel();
        let (plot_area, legend_area) = root.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let xs = self.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let (x0, x1) = match &self.x {
            Scale::Categories(labels) => (-0.5, labels.len() as f64 - 0.5),
            _ => {
                let (lo, hi) = bounds(xs);
                padded(lo, hi, 0.05)
            }
        };
        let ys = self
            .lines
            .iter()
            .chain(&self.dashed)
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(self.references.iter().map(|r| r.0))
            .chain(self.failed.iter().filter_map(|f| f.1));
        let (lo, hi) = bounds(ys);
        let (mut y0, y1) = padded(lo, hi, 0.08);
        if self.y_min_zero && lo >= 0.0 {
            y0 = 0.0;
        }
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(78)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let x_fmt = |x: &f64| self.x.label(*x, x1 - x0);
        let y_fmt = |y: &f64| fmt_span(*y, y1 - y0);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(244, 244, 244));
        if let Scale::Categories(labels) = &self.x {
            mesh.x_labels(2 * labels.len() + 2).disable_x_mesh();
        }
        mesh.draw().map_err(err)?;
        let mut legend: Vec<(Mark, String)> = Vec::new();
        for (k, line) in self.lines.iter().enumerate() {
            let c = color(k);
            if self.join {
                chart
                    .draw_series(LineSeries::new(line.points.clone(), c.stroke_width(2)))
                    .map_err(err)?;
            }
            chart
                .draw_series(line.points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(err)?;
            if line.points.is_empty() {
                let label = if line.label.is_empty() {
                    "no point"
                } else {
                    &line.label
                };
                legend.push((
                    Mark::Ring(RGBColor(255, 255, 255)),
                    format!("{label} (none maps)"),
                ));
            } else if !line.label.is_empty() {
                legend.push((Mark::LineDot(c), line.label.clone()));
            }
        }
        for (k, line) in self.dashed.iter().enumerate() {
            let c = color(k);
            if self.join {
                chart
                    .draw_series(DashedLineSeries::new(
                        line.points.clone(),
                        6,
                        4,
                        c.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Cross::new(p, 3, c.stroke_width(1))),
                )
                .map_err(err)?;
            if k == 0
                && !self.dashed_label.is_empty()
                && self.dashed.iter().any(|l| !l.points.is_empty())
            {
                legend.push((
                    Mark::Dashed(RGBColor(60, 60, 60)),
                    self.dashed_label.clone(),
                ));
            }
        }
        for (k, (y, label)) in self.references.iter().enumerate() {
            let c = if k == 0 {
                RGBColor(0, 0, 0)
            } else {
                RGBColor(150, 150, 150)
            };
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, *y), (x1, *y)],
                    8,
                    5,
                    c.stroke_width(1),
                ))
                .map_err(err)?;
            legend.push((Mark::Dashed(c), label.clone()));
        }
        if !self.failed.is_empty() {
            let red = RGBColor(214, 39, 40);
            let bottom = y0 + (y1 - y0) * 0.03;
            chart
                .draw_series(
                    self.failed.iter().map(|&(x, y)| {
                        Cross::new((x, y.unwrap_or(bottom)), 6, red.stroke_width(2))
                    }),
                )
                .map_err(err)?;
            legend.push((Mark::Cross(red), self.failed_label.clone()));
        }
        draw_legend(&legend_area, &legend)
    }
}

/// Points in the plane; the Pareto front (both coordinates minimised) marked and joined.
struct ParetoPlot {
    title: String,
    x_desc: String,
    y_desc: String,
    /// (x, y, point number, on the front)
    points: Vec<(f64, f64, usize, bool)>,
}

impl Figure for ParetoPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> StudyResult<()> {
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(&self.title, (FAMILY, 22)).map_err(err)?;
        let (width, _) = root.dim_in_pixel();
        let (plot_area, legend_area) = root.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let xs: Vec<f64> = self.points.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = self.points.iter().map(|p| p.1).collect();
        let (sx, sy) = (Scale::for_values(&xs, 20.0), Scale::for_values(&ys, 20.0));
        // Labels merge where points coincide on the drawn (possibly log) scales.
        let pts = merge_labels(
            self.points
                .iter()
                .map(|&(x, y, n, f)| (sx.map(x), sy.map(y), n, f))
                .collect(),
        );
        let (lo, hi) = bounds(pts.iter().map(|p| p.0));
        let (x0, x1) = padded(lo, hi, 0.1);
        let (lo, hi) = bounds(pts.iter().map(|p| p.1));
        let (y0, y1) = padded(lo, hi, 0.1);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(86)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let x_fmt = |x: &f64| sx.label(*x, x1 - x0);
        let y_fmt = |y: &f64| sy.label(*y, y1 - y0);
        let x_desc = match sx {
            Scale::Log10 => format!("{} (log scale)", self.x_desc),
            _ => self.x_desc.clone(),
        };
        let y_desc = match sy {
            Scale::Log10 => format!("{} (log scale)", self.y_desc),
            _ => self.y_desc.clone(),
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(244, 244, 244))
            .draw()
            .map_err(err)?;
        let red = RGBColor(214, 39, 40);
        let grey = RGBColor(120, 120, 120);
        let mut front: Vec<(f64, f64)> = pts.iter().filter(|p| p.3).map(|p| (p.0, p.1)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut steps = Vec::new();
        for (k, p) in front.iter().enumerate() {
            if k > 0 {
                steps.push((p.0, front[k - 1].1));
            }
            steps.push(*p);
        }
        chart
            .draw_series(LineSeries::new(steps, red.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| !p.3)
                    .map(|p| Circle::new((p.0, p.1), 5, grey.stroke_width(2))),
            )
            .map_err(err)?;
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.3)
                    .map(|p| Circle::new((p.0, p.1), 6, red.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| {
                EmptyElement::at((p.0, p.1))
                    + Text::new(p.2.to_string(), (8, -16), (FAMILY, 12).into_font())
            }))
            .map_err(err)?;
        draw_legend(
            &legend_area,
            &[
                (Mark::LineDot(red), "Pareto front".to_string()),
                (Mark::Ring(grey), "dominated point".to_string()),
                (
                    Mark::Ring(RGBColor(255, 255, 255)),
                    "#N: point number".to_string(),
                ),
            ],
        )
    }
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
/// kept, empty, so that the legend can say so.
fn lines_against(
    results: &[PointResult],
    axes: &[Axis],
    axis: &Axis,
    scale: &Scale,
    labels: &[String],
    group: bool,
    y: impl Fn(&PointResult) -> Option<f64>,
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
        }
    }
    for l in &mut lines {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
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

/// One entry per position (points closer than 0.5% of the data's range count as one),
/// labelled with the point numbers there (`#7`, `#7, #8`, `#7, #8, #10 +3`).
fn merge_labels(points: Vec<(f64, f64, usize, bool)>) -> Vec<(f64, f64, String, bool)> {
    let (x0, x1) = bounds(points.iter().map(|p| p.0));
    let (y0, y1) = bounds(points.iter().map(|p| p.1));
    let (tx, ty) = (0.005 * (x1 - x0), 0.005 * (y1 - y0));
    let mut merged: Vec<(f64, f64, Vec<usize>, bool)> = Vec::new();
    for (x, y, n, f) in points {
        match merged
            .iter_mut()
            .find(|m| (m.0 - x).abs() <= tx && (m.1 - y).abs() <= ty)
        {
            Some(m) => {
                m.2.push(n);
                m.3 |= f;
            }
            None => merged.push((x, y, vec![n], f)),
        }
    }
    merged
        .into_iter()
        .map(|(x, y, ns, f)| {
            let mut label = ns
                .iter()
                .take(3)
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            if ns.len() > 3 {
                label.push_str(&format!(" +{}", ns.len() - 3));
            }
            (x, y, label, f)
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
    let mut lines = lines_against(results, axes, first, &scale, &labels, group, |r| {
        r.accuracy.map(|a| a * 100.0)
    });
    if let Some(qat_label) = qat {
        // The fine-tuned nets as companions of the plain lines, labelled in the legend.
        let with = lines_against(results, axes, first, &scale, &labels, group, |r| {
            r.accuracy_qat.map(|a| a * 100.0)
        });
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
    let used = lines_against(results, axes, cores_axis, &scale, &labels, group, |r| {
        r.cores_used.map(|c| c as f64)
    });
    if used.iter().any(|l| !l.points.is_empty()) {
        let bound = lines_against(results, axes, cores_axis, &scale, &labels, group, |r| {
            r.cores_used.and(r.cores_lower_bound).map(|c| c as f64)
        });
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
        };
        save(&plot, dir, "cores")?;
        written.push(Written {
            title: plot.title,
            stem: "cores".into(),
        });
    }

    let done: Vec<&PointResult> = results
        .iter()
        .filter(|r| {
            r.ok && r.latency_seconds_per_sample.is_some_and(f64::is_finite)
                && r.energy_joules_per_sample.is_some_and(f64::is_finite)
        })
        .collect();
    if !done.is_empty() {
        let xy: Vec<(f64, f64)> = done
            .iter()
            .map(|r| {
                (
                    r.latency_seconds_per_sample.unwrap_or(0.0),
                    r.energy_joules_per_sample.unwrap_or(0.0),
                )
            })
            .collect();
        let front = pareto_front(&xy);
        let plot = ParetoPlot {
            title: format!("{title}: energy vs latency per sample"),
            x_desc: "latency per sample (s)".into(),
            y_desc: "energy per sample (J)".into(),
            points: done
                .iter()
                .zip(&xy)
                .enumerate()
                .map(|(k, (r, (x, y)))| (*x, *y, r.point, front.contains(&k)))
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
        for stem in ["accuracy", "cores", "energy-latency"] {
            let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap_or_default();
            assert!(png.starts_with(b"\x89PNG"), "{stem}.png");
            let svg =
                std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap_or_default();
            assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
        }
    }
}
