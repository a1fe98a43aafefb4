//! The report's SVG figures, as text. Colours come from CSS classes (the page's stylesheet),
//! so a figure carries one class per scale instead of repeated colours, and every element
//! that stands for a value says it in a `<title>` (readable without colour).

use std::collections::BTreeMap;
use std::fmt::Write;

use lifchip_chip::{ChipConfig, Link};

use crate::loads::CoreFill;

/// More mesh cells than this are drawn as tiles of several routers each.
pub const MAX_CELLS: u64 = 20_000;
/// More loaded links than this are drawn as one path per load step, without a title each
/// (the busiest keep theirs): tens of thousands of elements would slow a browser down.
pub const MAX_LINK_ELEMENTS: usize = 4_000;
/// Links marked and listed as the busiest.
pub const HOT_LINKS: usize = 10;
/// A population with more spikes than this gets a density raster instead of one mark each.
pub const MAX_RASTER_SPIKES: usize = 10_000;
/// Colour steps of the fill scale (plus one for "over the limit").
pub const FILL_STEPS: usize = 10;
/// Colour steps of the link-load scale.
pub const LOAD_STEPS: u64 = 8;
/// Distinct population outline colours (they repeat after that; titles name the population).
pub const POPULATION_COLOURS: usize = 12;

/// Escapes text for HTML/SVG content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// The colour step of `used` out of `limit`: 0..FILL_STEPS-1 for up to 100 %, FILL_STEPS over.
fn fill_step(used: u64, limit: u64) -> usize {
    if limit == 0 {
        return if used == 0 { 0 } else { FILL_STEPS };
    }
    if used > limit {
        return FILL_STEPS;
    }
    ((used as f64 / limit as f64 * FILL_STEPS as f64) as usize).min(FILL_STEPS - 1)
}

fn percent(used: u64, limit: u64) -> f64 {
    if limit == 0 {
        0.0
    } else {
        used as f64 * 100.0 / limit as f64
    }
}

/// How many routers a side of one drawn tile spans: 1 unless the mesh has more than
/// [`MAX_CELLS`] routers.
pub fn tile_side(width: u32, height: u32) -> u32 {
    let drawn = |side: u32| u64::from(width.div_ceil(side)) * u64::from(height.div_ceil(side));
    let mut side = 1u32;
    while drawn(side) > MAX_CELLS {
        side += 1;
    }
    side
}

/// A drawn cell's column and row (a router's coordinates when tiles are single routers).
type Tile = (u32, u32);

/// Geometry shared by the core map and the link map.
struct Grid {
    side: u32,
    cols: u32,
    rows: u32,
    cell: f64,
    left: f64,
    top: f64,
}

impl Grid {
    fn new(config: &ChipConfig) -> Self {
        let (w, h) = (
            config.target.mesh.width.max(1),
            config.target.mesh.height.max(1),
        );
        let side = tile_side(w, h);
        let (cols, rows) = (w.div_ceil(side), h.div_ceil(side));
        let cell = (720.0 / f64::from(cols.max(rows))).floor().clamp(3.0, 80.0);
        Grid {
            side,
            cols,
            rows,
            cell,
            left: 48.0,
            top: 12.0,
        }
    }
    fn width(&self) -> f64 {
        self.left + self.cell * f64::from(self.cols) + 12.0
    }
    fn height(&self) -> f64 {
        self.top + self.cell * f64::from(self.rows) + 44.0
    }
    fn tile(&self, x: u32, y: u32) -> (u32, u32) {
        (x / self.side, y / self.side)
    }
    fn corner(&self, tile: (u32, u32)) -> (f64, f64) {
        (
            self.left + f64::from(tile.0) * self.cell,
            self.top + f64::from(tile.1) * self.cell,
        )
    }
    fn centre(&self, tile: (u32, u32)) -> (f64, f64) {
        let (x, y) = self.corner(tile);
        (x + self.cell / 2.0, y + self.cell / 2.0)
    }

    /// Opening tag, mesh background and axes (router coordinates; y grows downward).
    fn open(&self, out: &mut String, class: &str, label: &str) {
        let (w, h) = (self.width(), self.height());
        let _ = write!(
            out,
            r#"<svg class="{class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
            esc(label)
        );
        let (mw, mh) = (
            self.cell * f64::from(self.cols),
            self.cell * f64::from(self.rows),
        );
        let _ = write!(
            out,
            r#"<rect class="mesh" x="{}" y="{}" width="{mw}" height="{mh}"/>"#,
            self.left, self.top
        );
        let every = |n: u32| (n / 12).max(1);
        let mut axis = String::new();
        let step = every(self.cols);
        for c in (0..self.cols).step_by(step as usize) {
            let (x, _) = self.centre((c, 0));
            let _ = write!(
                axis,
                r#"<text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
                self.top + mh + 14.0,
                c * self.side
            );
        }
        let step = every(self.rows);
        for r in (0..self.rows).step_by(step as usize) {
            let (_, y) = self.centre((0, r));
            let _ = write!(
                axis,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                self.left - 4.0,
                y + 4.0,
                r * self.side
            );
        }
        let _ = write!(
            out,
            r#"<g class="axis">{axis}<text x="{}" y="{}" text-anchor="middle">x (router column)</text><text transform="translate(12 {}) rotate(-90)" text-anchor="middle">y (router row)</text></g>"#,
            self.left + mw / 2.0,
            self.top + mh + 32.0,
            self.top + mh / 2.0
        );
    }
}

/// The core map: one rectangle per used core (per tile of routers on very large meshes) with
/// a class per limit giving its fill step (`n`: neurons, `a`: input axons, `s`: synapse
/// memory), a class for the population holding most of its compartments (`p`), and a title
/// with its figures. Unused routers show the mesh background.
pub fn core_map_svg(config: &ChipConfig, fills: &[CoreFill]) -> String {
    let grid = Grid::new(config);
    let core = &config.target.core;
    let limits = (
        u64::from(core.neurons),
        u64::from(core.input_axons),
        core.synapse_memory_bits,
    );
    let name = |p: u32| {
        config
            .populations
            .get(p as usize)
            .map_or("?", |p| p.name.as_str())
    };
    let mut tiles: BTreeMap<(u32, u32), Vec<&CoreFill>> = BTreeMap::new();
    for f in fills {
        tiles.entry(grid.tile(f.x, f.y)).or_default().push(f);
    }
    let mut out = String::new();
    grid.open(
        &mut out,
        "coremap",
        &format!("core map: {} cores on a mesh", fills.len()),
    );
    for ((tx, ty), cores) in &tiles {
        let n = cores.iter().map(|f| f.neurons).max().unwrap_or(0);
        let a = cores.iter().map(|f| f.input_axons).max().unwrap_or(0);
        let s = cores.iter().map(|f| f.synapse_bits).max().unwrap_or(0);
        // The tile's population: the one with most compartments in it.
        let mut per: BTreeMap<u32, u64> = BTreeMap::new();
        for f in cores {
            for &(p, k) in &f.populations {
                *per.entry(p).or_default() += k;
            }
        }
        let top = per
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(&p, _)| p);
        let (x, y) = grid.corner((*tx, *ty));
        let title = if let [f] = cores.as_slice() {
            let pops: Vec<String> = f
                .populations
                .iter()
                .map(|&(p, k)| format!("{} ×{k}", name(p)))
                .collect();
            format!(
                "core {} ({}, {}): neurons {}/{} ({:.0}%), axons {}/{} ({:.0}%), synapse bits {}/{} ({:.0}%); {}",
                f.core,
                f.x,
                f.y,
                f.neurons,
                limits.0,
                percent(f.neurons, limits.0),
                f.input_axons,
                limits.1,
                percent(f.input_axons, limits.1),
                f.synapse_bits,
                limits.2,
                percent(f.synapse_bits, limits.2),
                pops.join(", ")
            )
        } else {
            format!(
                "routers ({}, {}) to ({}, {}): {} cores; fullest: neurons {}/{} ({:.0}%), axons {}/{} ({:.0}%), synapse bits {}/{} ({:.0}%); mostly {}",
                tx * grid.side,
                ty * grid.side,
                (tx + 1) * grid.side - 1,
                (ty + 1) * grid.side - 1,
                cores.len(),
                n,
                limits.0,
                percent(n, limits.0),
                a,
                limits.1,
                percent(a, limits.1),
                s,
                limits.2,
                percent(s, limits.2),
                top.map_or("?", name)
            )
        };
        let _ = write!(
            out,
            r#"<rect class="c n{} a{} s{} p{}" x="{x:.1}" y="{y:.1}" width="{c}" height="{c}"><title>{}</title></rect>"#,
            fill_step(n, limits.0),
            fill_step(a, limits.1),
            fill_step(s, limits.2),
            top.map_or(0, |p| p as usize % POPULATION_COLOURS),
            esc(&title),
            c = grid.cell,
        );
    }
    out.push_str("</svg>");
    out
}

/// The colour step of a link load relative to the busiest: 1..=LOAD_STEPS.
fn load_step(load: u64, max: u64) -> u64 {
    if max == 0 {
        return 1;
    }
    (load * LOAD_STEPS).div_ceil(max).clamp(1, LOAD_STEPS)
}

/// The busiest links, most loaded first (ties in link order).
pub fn busiest(loads: &BTreeMap<Link, u64>) -> Vec<(Link, u64)> {
    let mut all: Vec<(Link, u64)> = loads.iter().map(|(l, &n)| (*l, n)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(HOT_LINKS);
    all
}

/// The link map: one line per loaded directed link (per pair of tiles on very large meshes;
/// one path per load step above [`MAX_LINK_ELEMENTS`] links), coloured and widened by its load
/// relative to the busiest (`l1`..`l8`); the two directions
/// of a link run side by side (eastbound above westbound, southbound right of northbound).
/// The [`HOT_LINKS`] busiest are marked with a ring and a rank number.
pub fn link_map_svg(config: &ChipConfig, loads: &BTreeMap<Link, u64>) -> String {
    let grid = Grid::new(config);
    // Loads between tiles (between routers when a tile is one router), keyed (from, to).
    let mut tiled: BTreeMap<(Tile, Tile), u64> = BTreeMap::new();
    for (link, &n) in loads {
        let (a, b) = (
            grid.tile(link.from.0, link.from.1),
            grid.tile(link.to.0, link.to.1),
        );
        if a != b {
            *tiled.entry((a, b)).or_default() += n;
        }
    }
    let max = tiled.values().copied().max().unwrap_or(0);
    let hot: Vec<(Link, u64)> = if grid.side == 1 {
        busiest(loads)
    } else {
        let mut all: Vec<(Link, u64)> = tiled
            .iter()
            .map(|(&(a, b), &n)| (Link { from: a, to: b }, n))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(HOT_LINKS);
        all
    };
    let mut out = String::new();
    grid.open(
        &mut out,
        "linkmap",
        &format!("link map: {} loaded links", tiled.len()),
    );
    // The routers holding cores, so the links have their context: one path for all.
    let mut used: Vec<(u32, u32)> = config.cores.iter().map(|c| grid.tile(c.x, c.y)).collect();
    used.sort_unstable();
    used.dedup();
    let square = grid.cell * 0.8;
    out.push_str(r#"<path class="u" d=""#);
    for t in used {
        let (x, y) = grid.corner(t);
        let _ = write!(
            out,
            "M{:.1} {:.1}h{square:.1}v{square:.1}h-{square:.1}z",
            x + grid.cell * 0.1,
            y + grid.cell * 0.1
        );
    }
    out.push_str(r#""/>"#);
    let offset = grid.cell * 0.15;
    let ends = |a: (u32, u32), b: (u32, u32)| {
        let (mut x1, mut y1) = grid.centre(a);
        let (mut x2, mut y2) = grid.centre(b);
        if a.1 == b.1 {
            let d = if b.0 > a.0 { -offset } else { offset };
            y1 += d;
            y2 += d;
        } else {
            let d = if b.1 > a.1 { offset } else { -offset };
            x1 += d;
            x2 += d;
        }
        (x1, y1, x2, y2)
    };
    let label = |a: (u32, u32), b: (u32, u32), n: u64| {
        if grid.side == 1 {
            format!(
                "link ({}, {}) → ({}, {}): {n} packets per all-spike tick",
                a.0, a.1, b.0, b.1
            )
        } else {
            format!(
                "links from tile ({}, {}) to tile ({}, {}) ({}×{} routers each): {n} packets per all-spike tick",
                a.0, a.1, b.0, b.1, grid.side, grid.side
            )
        }
    };
    if tiled.len() <= MAX_LINK_ELEMENTS {
        for (&(a, b), &n) in &tiled {
            let (x1, y1, x2, y2) = ends(a, b);
            let _ = write!(
                out,
                r#"<line class="k l{}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"><title>{}</title></line>"#,
                load_step(n, max),
                esc(&label(a, b, n))
            );
        }
    } else {
        let mut paths: BTreeMap<u64, String> = BTreeMap::new();
        for (&(a, b), &n) in &tiled {
            let (x1, y1, x2, y2) = ends(a, b);
            let _ = write!(
                paths.entry(load_step(n, max)).or_default(),
                "M{x1:.1} {y1:.1}L{x2:.1} {y2:.1}"
            );
        }
        for (step, d) in paths {
            let _ = write!(out, r#"<path class="k l{step}" d="{d}"/>"#);
        }
    }
    for (rank, (link, n)) in hot.iter().enumerate() {
        let (a, b) = (link.from, link.to);
        let (x1, y1, x2, y2) = ends(a, b);
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let r = (grid.cell * 0.14).clamp(3.0, 8.0);
        let _ = write!(
            out,
            r#"<g class="hot"><circle cx="{mx}" cy="{my}" r="{r}"/><text x="{}" y="{}">{}</text><title>busiest #{}: {}</title></g>"#,
            mx + r + 1.0,
            my - r,
            rank + 1,
            rank + 1,
            esc(&label(a, b, *n))
        );
    }
    out.push_str("</svg>");
    out
}

/// Linear axis tick labels: `0`, the middle and the end of `0..=max`.
fn axis_labels(max: f64) -> [f64; 3] {
    [0.0, max / 2.0, max]
}

fn number(v: f64) -> String {
    if v == v.round() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A spike raster of one population: x = tick, y = neuron (rank among the probed neurons).
/// One mark (`spk`) per spike up to [`MAX_RASTER_SPIKES`]; above, a density grid (`d1`..`d8`)
/// whose cells count spikes. Returns the SVG and whether it was aggregated.
pub fn raster_svg(population: &str, neurons: &[(u32, &[u32])], ticks: u32) -> (String, bool) {
    let ticks = ticks.max(1);
    let rows = neurons.len().max(1);
    let total: usize = neurons.iter().map(|(_, s)| s.len()).sum();
    let (left, top, pw) = (56.0, 10.0, 640.0);
    let ph = (rows as f64 * 4.0).clamp(90.0, 320.0);
    let (w, h) = (left + pw + 16.0, top + ph + 44.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="raster" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="spike raster of {p}"><title>{p}: {rows} probed neurons, {total} spikes in {ticks} ticks</title><rect class="plot" x="{left}" y="{top}" width="{pw}" height="{ph}"/>"#,
        p = esc(population)
    );
    let aggregated = total > MAX_RASTER_SPIKES;
    if !aggregated {
        let (mw, mh) = (
            (0.6 * pw / f64::from(ticks)).max(1.0),
            (ph / rows as f64).max(1.0),
        );
        for (row, (_, spikes)) in neurons.iter().enumerate() {
            let y = top + row as f64 * ph / rows as f64;
            for &t in *spikes {
                let x = left + f64::from(t) * pw / f64::from(ticks);
                let _ = write!(
                    out,
                    r#"<rect class="spk" x="{x:.2}" y="{y:.2}" width="{mw:.2}" height="{mh:.2}"/>"#
                );
            }
        }
    } else {
        let (tb, nb) = ((ticks as usize).min(160), rows.min(80));
        let mut counts = vec![0u64; tb * nb];
        for (row, (_, spikes)) in neurons.iter().enumerate() {
            let r = row * nb / rows;
            for &t in *spikes {
                let c = (t as usize).min(ticks as usize - 1) * tb / ticks as usize;
                counts[r * tb + c] += 1;
            }
        }
        let max = counts.iter().copied().max().unwrap_or(0);
        let (cw, ch) = (pw / tb as f64, ph / nb as f64);
        for r in 0..nb {
            for c in 0..tb {
                let n = counts[r * tb + c];
                if n == 0 {
                    continue;
                }
                let _ = write!(
                    out,
                    r#"<rect class="den d{}" x="{:.2}" y="{:.2}" width="{cw:.2}" height="{ch:.2}"><title>{n} spikes</title></rect>"#,
                    load_step(n, max),
                    left + c as f64 * cw,
                    top + r as f64 * ch
                );
            }
        }
    }
    let mut axis = String::new();
    for v in axis_labels(f64::from(ticks)) {
        let _ = write!(
            axis,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            left + v * pw / f64::from(ticks),
            top + ph + 14.0,
            number(v.round())
        );
    }
    let _ = write!(
        axis,
        r#"<text x="{}" y="{}" text-anchor="end">first</text><text x="{}" y="{}" text-anchor="end">last</text>"#,
        left - 4.0,
        top + 8.0,
        left - 4.0,
        top + ph
    );
    let _ = write!(
        out,
        r#"<g class="axis">{axis}<text x="{}" y="{}" text-anchor="middle">tick</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">neuron (by index)</text></g></svg>"#,
        left + pw / 2.0,
        top + ph + 32.0,
        top + ph / 2.0
    );
    (out, aggregated)
}

/// A histogram of firing rates (spikes per tick) over a population's probed neurons, ten bins
/// from 0 to the highest rate.
pub fn rate_histogram_svg(population: &str, rates: &[f64]) -> String {
    const BINS: usize = 10;
    let top_rate = rates.iter().copied().fold(0.0f64, f64::max);
    // Whole spikes per tick, so populations compare on one scale.
    let span = top_rate.max(1.0).ceil();
    let mut counts = [0u64; BINS];
    for &r in rates {
        counts[((r / span * BINS as f64) as usize).min(BINS - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (left, top, pw, ph) = (48.0, 10.0, 300.0, 120.0);
    let (w, h) = (left + pw + 16.0, top + ph + 44.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="hist" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="firing-rate histogram of {p}"><rect class="plot" x="{left}" y="{top}" width="{pw}" height="{ph}"/>"#,
        p = esc(population)
    );
    let bw = pw / BINS as f64;
    for (i, &n) in counts.iter().enumerate() {
        let bh = ph * n as f64 / max as f64;
        let (lo, hi) = (
            span * i as f64 / BINS as f64,
            span * (i + 1) as f64 / BINS as f64,
        );
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.2}" y="{:.2}" width="{:.2}" height="{bh:.2}"><title>{lo:.3}–{hi:.3} spikes/tick: {n} neurons</title></rect>"#,
            left + i as f64 * bw + 1.0,
            top + ph - bh,
            bw - 2.0
        );
    }
    let _ = write!(
        out,
        r#"<g class="axis"><text x="{left}" y="{y}" text-anchor="middle">0</text><text x="{}" y="{y}" text-anchor="middle">{span:.3}</text><text x="{}" y="{}" text-anchor="end">{max}</text><text x="{}" y="{}" text-anchor="end">0</text><text x="{}" y="{}" text-anchor="middle">firing rate (spikes/tick)</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">neurons</text></g></svg>"#,
        left + pw,
        left - 4.0,
        top + 8.0,
        left - 4.0,
        top + ph,
        left + pw / 2.0,
        top + ph + 32.0,
        top + ph / 2.0,
        y = top + ph + 14.0
    );
    out
}

/// Most points drawn on the cycles-per-tick line; longer runs are drawn as bins of ticks
/// (each bin's mean as the line, its highest tick as a shaded band above).
pub const MAX_LINE_POINTS: usize = 1_000;

/// Cycles of each tick over a run: x = tick, y = cycles. Returns the SVG and whether ticks were
/// binned (more than [`MAX_LINE_POINTS`]).
pub fn cycles_line_svg(cycles: &[f64]) -> (String, bool) {
    let ticks = cycles.len().max(1);
    let binned = cycles.len() > MAX_LINE_POINTS;
    let bins = cycles.len().clamp(1, MAX_LINE_POINTS);
    // (first tick, mean, max) of each bin.
    let points: Vec<(usize, f64, f64)> = (0..bins)
        .filter_map(|b| {
            let (lo, hi) = (b * cycles.len() / bins, (b + 1) * cycles.len() / bins);
            let bin = cycles.get(lo..hi).filter(|x| !x.is_empty())?;
            let mean = bin.iter().sum::<f64>() / bin.len() as f64;
            Some((lo, mean, bin.iter().copied().fold(0.0, f64::max)))
        })
        .collect();
    let top = points.iter().map(|p| p.2).fold(0.0f64, f64::max).max(1.0);
    let (left, ptop, pw, ph) = (64.0, 10.0, 640.0, 160.0);
    let (w, h) = (left + pw + 16.0, ptop + ph + 44.0);
    let x = |t: usize| left + t as f64 * pw / ticks as f64;
    let y = |c: f64| ptop + ph - c * ph / top;
    let mut out = String::new();
    let mean_all = cycles.iter().sum::<f64>() / ticks as f64;
    let _ = write!(
        out,
        r#"<svg class="cycles" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="cycles per tick over the run"><title>{ticks} ticks, mean {m} cycles, highest {t} cycles</title><rect class="plot" x="{left}" y="{ptop}" width="{pw}" height="{ph}"/>"#,
        m = number(mean_all.round()),
        t = number(top.round()),
    );
    if binned {
        let mut band = String::new();
        for &(t, mean, _) in &points {
            let _ = write!(band, "{:.2},{:.2} ", x(t), y(mean));
        }
        for &(t, _, max) in points.iter().rev() {
            let _ = write!(band, "{:.2},{:.2} ", x(t), y(max));
        }
        let _ = write!(
            out,
            r#"<polygon class="band" points="{}"/>"#,
            band.trim_end()
        );
    }
    let mut line = String::new();
    for &(t, mean, _) in &points {
        let _ = write!(line, "{:.2},{:.2} ", x(t), y(mean));
    }
    let _ = write!(
        out,
        r#"<polyline class="cyc" points="{}"/>"#,
        line.trim_end()
    );
    let mut axis = String::new();
    for v in axis_labels(ticks as f64) {
        let _ = write!(
            axis,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            left + v * pw / ticks as f64,
            ptop + ph + 14.0,
            number(v.round())
        );
    }
    for v in axis_labels(top) {
        let _ = write!(
            axis,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 4.0,
            y(v) + 4.0,
            number(v.round())
        );
    }
    let _ = write!(
        out,
        r#"<g class="axis">{axis}<text x="{}" y="{}" text-anchor="middle">tick</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">cycles</text></g></svg>"#,
        left + pw / 2.0,
        ptop + ph + 32.0,
        ptop + ph / 2.0
    );
    (out, binned)
}

/// Horizontal bars of cores' compute cycles per tick: the mean as a bar, the most in one tick
/// as a tick mark, values in titles and beside the bars. `rows` are `(core, mean, max)`.
pub fn core_cycles_svg(rows: &[(u32, f64, u64)]) -> String {
    let top = rows
        .iter()
        .map(|r| r.2 as f64)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let (left, pw, row) = (80.0, 420.0, 18.0);
    let (w, h) = (left + pw + 130.0, row * rows.len() as f64 + 34.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="corecycles" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="compute cycles per tick of the busiest cores">"#
    );
    for (i, &(core, mean, max)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let (bw, mx) = (pw * mean / top, left + pw * max as f64 / top);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">core {core}</text><rect class="bar" x="{left}" y="{y}" width="{bw:.2}" height="{}"><title>core {core}: mean {m} cycles per tick, most {max}</title></rect><line class="peak" x1="{mx:.2}" x2="{mx:.2}" y1="{y}" y2="{}"/><text x="{}" y="{}">{m} / {max}</text>"#,
            left - 6.0,
            y + 12.0,
            row - 4.0,
            y + row - 4.0,
            left + pw + 6.0,
            y + 12.0,
            m = format!("{mean:.1}"),
        );
    }
    let _ = write!(
        out,
        r#"<g class="axis"><text x="{}" y="{}" text-anchor="middle">compute cycles per tick (bar: mean; mark: most in one tick)</text></g></svg>"#,
        left + pw / 2.0,
        h - 6.0
    );
    out
}

/// A value in an SI unit with a metric prefix, e.g. `1.23 µJ`.
pub fn si(value: f64, unit: &str) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value} {unit}");
    }
    let prefixes = [
        (1e-15, "f"),
        (1e-12, "p"),
        (1e-9, "n"),
        (1e-6, "µ"),
        (1e-3, "m"),
        (1.0, ""),
        (1e3, "k"),
        (1e6, "M"),
        (1e9, "G"),
    ];
    let (scale, prefix) = prefixes
        .iter()
        .rev()
        .find(|(s, _)| value.abs() >= *s)
        .copied()
        .unwrap_or(prefixes[0]);
    format!("{:.3} {prefix}{unit}", value / scale)
}

/// Horizontal bars, one per `(label, value)`, scaled to the largest; values printed beside.
pub fn bars_svg(aria: &str, rows: &[(String, f64)], unit: &str) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0f64, f64::max);
    let (left, pw, row) = (130.0, 360.0, 22.0);
    let (w, h) = (left + pw + 110.0, row * rows.len() as f64 + 30.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(aria)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let bw = if max > 0.0 { pw * v / max } else { 0.0 };
        let value = si(*v, unit);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{l}</text><rect class="bar" x="{left}" y="{y}" width="{bw:.2}" height="{}"><title>{l}: {value}</title></rect><text x="{}" y="{}">{value}</text>"#,
            left - 6.0,
            y + 14.0,
            row - 6.0,
            left + bw + 4.0,
            y + 14.0,
            l = esc(label)
        );
    }
    let _ = write!(
        out,
        r#"<g class="axis"><text x="{}" y="{}" text-anchor="middle">{} per sample</text></g></svg>"#,
        left + pw / 2.0,
        h - 4.0,
        esc(unit)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_steps_cover_tenths_and_over_the_limit() {
        assert_eq!(fill_step(0, 16), 0);
        assert_eq!(fill_step(3, 16), 1); // 19 %
        assert_eq!(fill_step(16, 16), FILL_STEPS - 1); // full is the last in-limit step
        assert_eq!(fill_step(17, 16), FILL_STEPS);
        assert_eq!(fill_step(0, 0), 0);
        assert_eq!(fill_step(1, 0), FILL_STEPS);
    }

    #[test]
    fn load_steps_run_from_one_to_the_busiest() {
        assert_eq!(load_step(1, 12), 1);
        assert_eq!(load_step(2, 12), 2);
        assert_eq!(load_step(12, 12), LOAD_STEPS);
        assert_eq!(load_step(5, 0), 1);
    }

    #[test]
    fn tiles_keep_the_drawn_cells_bounded() {
        assert_eq!(tile_side(16, 8), 1);
        assert_eq!(tile_side(141, 141), 1); // 19,881 routers
        assert_eq!(tile_side(200, 200), 2);
        for side in [1u32, 150, 1000, 4096] {
            let t = u64::from(tile_side(side, side));
            assert!(u64::from(side).div_ceil(t).pow(2) <= MAX_CELLS, "{side}");
        }
    }

    #[test]
    fn long_runs_are_binned_with_their_peaks() {
        let short: Vec<f64> = (0..10).map(f64::from).collect();
        let (svg, binned) = cycles_line_svg(&short);
        assert!(!binned && !svg.contains("class=\"band\""));
        let points = |svg: &str| {
            let line = svg.split("class=\"cyc\" points=\"").nth(1).unwrap();
            line.split('"').next().unwrap().split(' ').count()
        };
        assert_eq!(points(&svg), 10);
        // 10,000 ticks: one point per bin of 10, and a spike in one tick raises the band.
        let mut long = vec![5.0; 10_000];
        long[4321] = 500.0;
        let (svg, binned) = cycles_line_svg(&long);
        assert!(binned && svg.contains("class=\"band\""));
        assert_eq!(points(&svg), MAX_LINE_POINTS);
        assert!(svg.contains("highest 500 cycles"));
        assert!(cycles_line_svg(&[]).0.contains("<polyline"));
    }

    #[test]
    fn text_is_escaped_and_values_get_si_prefixes() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(si(2.9089e-9, "J"), "2.909 nJ");
        assert_eq!(si(0.97e-3, "s"), "970.000 µs");
        assert_eq!(si(0.0, "J"), "0 J");
    }
}
