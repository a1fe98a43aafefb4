//! Drawing: the embedded font, PNG and SVG output, tick labels, scales, legends, and the two
//! figure kinds of the sweep (lines against an axis, energy against latency).

use std::{path::Path, sync::OnceLock};

use image::ImageEncoder;
use plotters::{coord::Shift, prelude::*, style::FontStyle};

use crate::{
    error::{StudyError, StudyResult},
    write::write_atomic,
};

static FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
pub(super) const FAMILY: &str = "sans-serif";
pub(super) const SIZE: (u32, u32) = (1000, 560);

/// Registers the embedded font with plotters (once).
pub(super) fn register_font() -> StudyResult<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the embedded font DejaVuSans.ttf could not be read".to_string())
    })
    .clone()
    .map_err(StudyError::Plot)
}

pub(super) fn err(e: impl std::fmt::Display) -> StudyError {
    StudyError::Plot(e.to_string())
}

/// A figure that can draw itself on any plotters backend.
pub(super) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> StudyResult<()>;
}

/// Writes `dir/stem.svg` and `dir/stem.png`, each atomically.
pub(super) fn save(figure: &impl Figure, dir: &Path, stem: &str) -> StudyResult<()> {
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
pub(super) fn fmt_span(v: f64, span: f64) -> String {
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

pub(super) fn fmt_sci(v: f64) -> String {
    let s = format!("{v:.1e}");
    s.replace(".0e", "e")
}

pub(super) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub(super) fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// How an axis maps values to positions.
#[derive(Clone, Debug)]
pub(super) enum Scale {
    Linear,
    /// Positions are log10 of the values.
    Log10,
    /// Position k is the k-th label.
    Categories(Vec<String>),
}

impl Scale {
    pub(super) fn label(&self, x: f64, span: f64) -> String {
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
    pub(super) fn for_values(values: &[f64], ratio: f64) -> Scale {
        let (lo, hi) = bounds(values.iter().copied());
        if lo > 0.0 && hi / lo > ratio {
            Scale::Log10
        } else {
            Scale::Linear
        }
    }

    pub(super) fn map(&self, v: f64) -> f64 {
        match self {
            Scale::Log10 => v.log10(),
            _ => v,
        }
    }
}

pub(super) fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// A padded plotting range around the values (never empty).
pub(super) fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
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
pub(super) struct Line {
    pub(super) label: String,
    pub(super) points: Vec<(f64, f64)>,
    /// Error bars: (x, low, high), drawn as vertical bars with caps.
    pub(super) bars: Vec<(f64, f64, f64)>,
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    /// A solid line with a dot.
    LineDot(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A hollow circle.
    Ring(RGBColor),
    /// A cross.
    Cross(RGBColor),
    /// A vertical error bar with caps.
    Bar(RGBColor),
}

pub(super) const LEGEND_WIDTH: u32 = 300;

/// Draws the legend entries top-down in their own panel (beside the chart, never over data).
pub(super) fn draw_legend<DB: DrawingBackend>(
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
            Mark::Bar(c) => {
                let xm = (x0 + x1) / 2;
                for path in [
                    vec![(xm, y - 8), (xm, y + 8)],
                    vec![(xm - 4, y - 8), (xm + 4, y - 8)],
                    vec![(xm - 4, y + 8), (xm + 4, y + 8)],
                ] {
                    area.draw(&PathElement::new(path, c.stroke_width(1)))
                        .map_err(err)?;
                }
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
pub(super) const LEGEND_CHARS: usize = 38;

/// Lines over a shared x axis (one per combination of the other axes).
pub(super) struct LinePlot {
    pub(super) title: String,
    pub(super) x_desc: String,
    pub(super) y_desc: String,
    pub(super) x: Scale,
    pub(super) lines: Vec<Line>,
    /// Dashed companions of `lines` (same colour, by index), labelled once with this text.
    pub(super) dashed: Vec<Line>,
    pub(super) dashed_label: String,
    /// Horizontal reference lines: (y, label).
    pub(super) references: Vec<(f64, String)>,
    pub(super) y_min_zero: bool,
    /// Join the points of a line (not for unordered categories such as target names).
    pub(super) join: bool,
    /// Points that do not map: x, and y where known (else drawn at the bottom).
    pub(super) failed: Vec<(f64, Option<f64>)>,
    pub(super) failed_label: String,
    /// The legend text of the lines' error bars (when any line has some).
    pub(super) bars_label: String,
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
            .chain(self.failed.iter().filter_map(|f| f.1))
            .chain(
                self.lines
                    .iter()
                    .flat_map(|l| l.bars.iter().flat_map(|b| [b.1, b.2])),
            );
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
        // Lines with bars at the same x are nudged apart by a few pixels, so that their bars
        // do not hide each other.
        let barred = self.lines.iter().filter(|l| !l.bars.is_empty()).count();
        let nudge = if barred > 1 { 0.008 * (x1 - x0) } else { 0.0 };
        let cap = 0.006 * (x1 - x0);
        for (k, line) in self.lines.iter().enumerate() {
            let c = color(k);
            let dx = nudge * (k as f64 - (self.lines.len() as f64 - 1.0) / 2.0);
            let points: Vec<(f64, f64)> = line.points.iter().map(|&(x, y)| (x + dx, y)).collect();
            let line = &Line {
                label: line.label.clone(),
                points,
                bars: line.bars.clone(),
            };
            for &(x, lo, hi) in &line.bars {
                let x = x + dx;
                for path in [
                    vec![(x, lo), (x, hi)],
                    vec![(x - cap, lo), (x + cap, lo)],
                    vec![(x - cap, hi), (x + cap, hi)],
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(path, c.stroke_width(1))))
                        .map_err(err)?;
                }
            }
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
        if barred > 0 && !self.bars_label.is_empty() {
            legend.push((Mark::Bar(RGBColor(60, 60, 60)), self.bars_label.clone()));
        }
        draw_legend(&legend_area, &legend)
    }
}

/// Points in the plane; the Pareto front (both coordinates minimised) marked and joined.
pub(super) struct ParetoPlot {
    pub(super) title: String,
    pub(super) x_desc: String,
    pub(super) y_desc: String,
    /// (x, y, point number, on the front)
    pub(super) points: Vec<(f64, f64, usize, bool)>,
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

/// One entry per position (points closer than 0.5% of the data's range count as one),
/// labelled with the point numbers there (`#7`, `#7, #8`, `#7, #8, #10 +3`).
pub(super) fn merge_labels(points: Vec<(f64, f64, usize, bool)>) -> Vec<(f64, f64, String, bool)> {
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
