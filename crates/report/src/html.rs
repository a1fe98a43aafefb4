//! The report page: sections, tables, legends and the stylesheet around the SVG figures.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::svg::{
    FILL_STEPS, HOT_LINKS, LOAD_STEPS, MAX_LINE_POINTS, MAX_LINK_ELEMENTS, MAX_RASTER_SPIKES,
    POPULATION_COLOURS, bars_svg, busiest, core_cycles_svg, core_map_svg, cycles_line_svg, esc,
    link_map_svg, raster_svg, rate_histogram_svg, si, tile_side,
};
use crate::{ChipInput, CompileSummary, RunSummary, core_fill, link_loads};

/// Fill scale, 0–10 % … 90–100 %, then over the limit.
const FILL_COLOURS: [&str; FILL_STEPS + 1] = [
    "#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494",
    "#081d58", "#040c2c", "#d7191c",
];
/// Link-load scale, lightest to busiest.
const LOAD_COLOURS: [&str; LOAD_STEPS as usize] = [
    "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548", "#d7301f", "#b30000", "#7f0000", "#4d0000",
];
/// Population outlines (Okabe–Ito first).
const POPULATION_PALETTE: [&str; POPULATION_COLOURS] = [
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#000000",
    "#999999", "#8c564b", "#17becf", "#bcbd22",
];

const METRICS: [(&str, &str, &str); 3] = [
    ("n", "neurons", "compartments used of core.neurons"),
    ("a", "input axons", "axons used of core.input_axons"),
    (
        "s",
        "synapse memory",
        "bits used of core.synapse_memory_bits",
    ),
];

fn stylesheet() -> String {
    let mut css = String::from(
        "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#111;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.note{color:#444;font-style:italic}\
.legend{display:flex;flex-wrap:wrap;gap:2px 10px;margin:.4em 0;font-size:12px;align-items:center}\
.sw{display:inline-block;width:14px;height:14px;border:1px solid #888;vertical-align:middle;margin-right:3px}\
svg text{font-size:11px;fill:#222}.mesh{fill:#f4f4f4;stroke:#ddd}.plot{fill:#fafafa;stroke:#bbb}\
.c{stroke-width:2;fill:#ccc}.u{fill:#e2e2e2}.k{stroke-linecap:round;fill:none}\
.hot circle{fill:none;stroke:#000;stroke-width:2}.hot text{font-weight:bold}\
.spk{fill:#222}.bar{fill:#4477aa}.cyc{fill:none;stroke:#4477aa;stroke-width:1.5}.band{fill:#4477aa;opacity:.25}.peak{stroke:#d55e00;stroke-width:2}.fig{overflow-x:auto}\
.selector label{margin-right:1em}.metric{display:none}\
",
    );
    for (key, _, _) in METRICS {
        let _ = write!(css, "#m-{key}:checked~.metric-{key}{{display:flex}}");
        for (step, colour) in FILL_COLOURS.iter().enumerate() {
            let _ = write!(css, "#m-{key}:checked~.fig .{key}{step}{{fill:{colour}}}");
        }
    }
    for (p, colour) in POPULATION_PALETTE.iter().enumerate() {
        let _ = write!(css, ".p{p}{{stroke:{colour}}}");
    }
    for (step, colour) in LOAD_COLOURS.iter().enumerate() {
        let width = 1.0 + step as f64 * 0.5;
        let _ = write!(
            css,
            ".l{s}{{stroke:{colour};stroke-width:{width}}}.d{s}{{fill:{colour}}}",
            s = step + 1
        );
    }
    css.push_str(
        "@media print{body{max-width:none;margin:0;font-size:10pt}.selector{display:none}\
section{break-inside:avoid}h2{break-after:avoid}a{color:inherit}}",
    );
    css
}

fn open_page(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{}</style></head><body>\n",
        esc(title),
        stylesheet()
    )
}

fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>], left_columns: usize) {
    out.push_str("<table>");
    if headers.iter().any(|h| !h.is_empty()) {
        out.push_str("<tr>");
        for (i, h) in headers.iter().enumerate() {
            let class = if i < left_columns { " class=\"l\"" } else { "" };
            let _ = write!(out, "<th{class}>{}</th>", esc(h));
        }
        out.push_str("</tr>");
    }
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i < left_columns { " class=\"l\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

fn pct(used: u64, limit: u64) -> String {
    if limit == 0 {
        "–".into()
    } else {
        format!("{:.1} %", used as f64 * 100.0 / limit as f64)
    }
}

fn compile_sections(out: &mut String, compile: &CompileSummary) {
    out.push_str("<section id=\"quantization\"><h2>Quantization per layer</h2>");
    if compile.quantization.is_empty() {
        out.push_str("<p class=\"note\">The compile report lists no layers (a net already in chip units is not re-quantized).</p>");
    } else {
        let rows: Vec<Vec<String>> = compile
            .quantization
            .iter()
            .map(|q| {
                vec![
                    q.layer.clone(),
                    q.population.clone(),
                    q.weight_bits.to_string(),
                    q.weight_exp.to_string(),
                    format!("{:.4}", q.rms_relative_error),
                    q.weights_clipped.to_string(),
                    q.weights_zeroed.to_string(),
                    q.silent_neurons.to_string(),
                    q.identical_neurons.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "layer",
                "population",
                "weight bits",
                "weight exponent",
                "RMS relative error",
                "weights clipped",
                "weights zeroed",
                "silent neurons",
                "identical neurons",
            ],
            &rows,
            2,
        );
    }
    out.push_str("</section>\n<section id=\"violations\"><h2>Violations</h2>");
    if compile.violations.is_empty() {
        out.push_str("<p>None: the mapping meets every limit of the target.</p>");
    } else {
        let _ = write!(
            out,
            "<p><strong>The net does not fit: {} violation(s).</strong></p>",
            compile.violations.len()
        );
        let rows: Vec<Vec<String>> = compile
            .violations
            .iter()
            .map(|v| {
                vec![
                    v.kind.clone(),
                    v.place.clone(),
                    v.value.to_string(),
                    v.limit.to_string(),
                    v.hint.clone(),
                ]
            })
            .collect();
        table(
            out,
            &["limit", "where", "value", "limit value", "hint"],
            &rows,
            2,
        );
    }
    out.push_str("</section>\n");
}

/// The page of a chip configuration, with a run when given (already checked to belong to it).
pub(crate) fn page(chip: &ChipInput, run: Option<&RunSummary>) -> String {
    let config = &chip.config;
    let target = &config.target;
    let mut out = open_page(&format!(
        "lifchip report: {} on {}",
        config.net_name, target.name
    ));
    let _ = writeln!(
        out,
        "<h1>lifchip report: net {} on target {}</h1>",
        esc(&config.net_name),
        esc(&target.name)
    );
    let neurons: usize = config
        .populations
        .iter()
        .filter(|p| !p.is_input)
        .map(|p| p.placement.len())
        .sum();
    let mut summary = vec![
        vec!["chip".into(), chip.source.clone()],
        vec![
            "fingerprint".into(),
            chip.fingerprint.clone().unwrap_or_else(|| "–".into()),
        ],
        vec![
            "mesh".into(),
            format!("{} × {} routers", target.mesh.width, target.mesh.height),
        ],
        vec!["cores used".into(), config.cores.len().to_string()],
        vec!["neurons".into(), neurons.to_string()],
        vec!["input channels".into(), config.inputs.len().to_string()],
    ];
    if let Some(c) = &chip.compile {
        summary.push(vec!["synapses".into(), c.synapses.to_string()]);
        summary.push(vec![
            "cores (lower bound)".into(),
            c.cores_lower_bound.to_string(),
        ]);
        if let Some(seconds) = c.compile_seconds {
            summary.push(vec!["compile time".into(), format!("{seconds:.3} s")]);
        }
    }
    out.push_str("<section id=\"summary\">");
    table(&mut out, &["", ""], &summary, 1);
    out.push_str("</section>\n");

    // Core map.
    let fills = core_fill(config);
    let side = tile_side(target.mesh.width, target.mesh.height);
    out.push_str("<section id=\"cores\"><h2>Core map</h2>");
    out.push_str("<p>Each square is a core at its router; its colour is the fraction of the selected per-core limit it uses, its outline the population holding most of its compartments. Hover a core for its figures.</p>");
    if side > 1 {
        let _ = write!(
            out,
            "<p class=\"note\">Aggregated: the mesh has more routers than can be drawn one by one, so each square is a tile of {side} × {side} routers, coloured by its fullest core.</p>"
        );
    }
    out.push_str(&metric_block(config, &fills));
    out.push_str("</section>\n");

    // Population legend.
    out.push_str("<section id=\"populations\"><h2>Populations</h2>");
    let mut cores_of: BTreeMap<u32, u64> = BTreeMap::new();
    for f in &fills {
        for &(p, _) in &f.populations {
            *cores_of.entry(p).or_default() += 1;
        }
    }
    out.push_str("<table><tr><th class=\"l\">outline</th><th class=\"l\">population</th><th>neurons</th><th>cores</th></tr>");
    for (i, p) in config.populations.iter().enumerate() {
        if p.is_input {
            continue;
        }
        let _ = write!(
            out,
            "<tr><td class=\"l\"><span class=\"sw\" style=\"border:3px solid {}\"></span></td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            POPULATION_PALETTE[i % POPULATION_COLOURS],
            esc(&p.name),
            p.placement.len(),
            cores_of.get(&(i as u32)).copied().unwrap_or(0)
        );
    }
    out.push_str("</table></section>\n");

    // Link map.
    let loads = link_loads(config);
    let max = loads.values().copied().max().unwrap_or(0);
    let total: u64 = loads.values().sum();
    out.push_str("<section id=\"links\"><h2>Link loads</h2>");
    let _ = write!(
        out,
        "<p>Packets each directed mesh link carries when every neuron and input channel spikes once (one all-spike tick), with X-then-Y multicast routing; inputs enter at core 0's router. {} links carry traffic, {total} packet-hops in all, the busiest {max} packets. The busiest (up to {HOT_LINKS}) are ringed and numbered by rank. The two directions of a link are drawn side by side: eastbound above westbound, southbound right of northbound (y grows downward).</p>",
        loads.len()
    );
    if let Some(c) = &chip.compile
        && c.max_link_load != max
    {
        let _ = write!(
            out,
            "<p class=\"note\">The compile report gives a maximum link load of {} packets; this count from the chip configuration gives {max}.</p>",
            c.max_link_load
        );
    }
    if side > 1 {
        let _ = write!(
            out,
            "<p class=\"note\">Aggregated: links are summed between tiles of {side} × {side} routers; links inside a tile are not drawn.</p>"
        );
    } else if loads.len() > MAX_LINK_ELEMENTS {
        let _ = write!(
            out,
            "<p class=\"note\">Aggregated: {} links are drawn as one path per load step, so only the busiest carry hover text; the table lists them.</p>",
            loads.len()
        );
    }
    out.push_str("<div class=\"legend\">packets per all-spike tick: ");
    let ranges = load_legend(max);
    if ranges.is_empty() {
        out.push_str("<span>no link carries traffic</span>");
    }
    for (step, lo, hi) in ranges {
        let range = if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        };
        let _ = write!(
            out,
            "<span><span class=\"sw\" style=\"background:{}\"></span>{range}</span>",
            LOAD_COLOURS[step as usize - 1],
        );
    }
    out.push_str("</div><div class=\"fig\">");
    out.push_str(&link_map_svg(config, &loads));
    out.push_str("</div>");
    let rows: Vec<Vec<String>> = busiest(&loads)
        .iter()
        .enumerate()
        .map(|(i, (l, n))| {
            vec![
                (i + 1).to_string(),
                format!("({}, {}) → ({}, {})", l.from.0, l.from.1, l.to.0, l.to.1),
                n.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(&mut out, &["rank", "link", "packets"], &rows, 2);
    }
    out.push_str("</section>\n");

    match &chip.compile {
        Some(c) => compile_sections(&mut out, c),
        None => out.push_str(
            "<section id=\"quantization\"><h2>Quantization per layer</h2><p class=\"note\">No compile report: the CHIPDIR has no report.json.</p></section>\n",
        ),
    }

    if let Some(run) = run {
        run_sections(&mut out, chip, run);
    } else {
        out.push_str("<section id=\"run\"><h2>Run</h2><p class=\"note\">No emulation report given (<code>lifchip report CHIPDIR --run EMULATION.json</code>).</p></section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The metric selector, legends and core map. The radio inputs are siblings of the legends and
/// the figure, so the CSS `#m-x:checked ~ …` rules switch them without a script.
fn metric_block(config: &lifchip_chip::ChipConfig, fills: &[crate::CoreFill]) -> String {
    let core = &config.target.core;
    let limits = [
        u64::from(core.neurons),
        u64::from(core.input_axons),
        core.synapse_memory_bits,
    ];
    let mut out = String::from("<div class=\"maps\"><span class=\"selector\">Colour by: </span>");
    for (i, (key, name, _)) in METRICS.iter().enumerate() {
        let checked = if i == 0 { " checked" } else { "" };
        let _ = write!(
            out,
            "<input class=\"selector\" type=\"radio\" name=\"metric\" id=\"m-{key}\"{checked}><label class=\"selector\" for=\"m-{key}\">{name}</label>"
        );
    }
    for (k, (key, name, what)) in METRICS.iter().enumerate() {
        let _ = write!(
            out,
            "<div class=\"legend metric metric-{key}\"><strong>{name}</strong> ({what}, limit {}):",
            limits[k]
        );
        for (step, colour) in FILL_COLOURS.iter().enumerate() {
            let label = if step == FILL_STEPS {
                "over the limit".to_string()
            } else {
                format!("{}–{} %", step * 10, step * 10 + 10)
            };
            let _ = write!(
                out,
                "<span><span class=\"sw\" style=\"background:{colour}\"></span>{label}</span>"
            );
        }
        out.push_str("</div>");
    }
    out.push_str("<div class=\"fig\">");
    out.push_str(&core_map_svg(config, fills));
    out.push_str("</div>");
    let mut fullest: Vec<(&crate::CoreFill, f64)> = fills
        .iter()
        .map(|f| {
            let used = [f.neurons, f.input_axons, f.synapse_bits];
            let worst = used
                .iter()
                .zip(&limits)
                .map(|(&u, &l)| if l == 0 { 0.0 } else { u as f64 / l as f64 })
                .fold(0.0, f64::max);
            (f, worst)
        })
        .collect();
    fullest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.core.cmp(&b.0.core)));
    fullest.truncate(10);
    // The fullest cores, for reading without colour.
    out.push_str("<p>The fullest cores (by their fullest limit):</p>");
    let rows: Vec<Vec<String>> = fullest
        .iter()
        .map(|(f, _)| {
            vec![
                f.core.to_string(),
                format!("({}, {})", f.x, f.y),
                format!("{} ({})", f.neurons, pct(f.neurons, limits[0])),
                format!("{} ({})", f.input_axons, pct(f.input_axons, limits[1])),
                format!("{} ({})", f.synapse_bits, pct(f.synapse_bits, limits[2])),
            ]
        })
        .collect();
    table(
        &mut out,
        &["core", "router", "neurons", "input axons", "synapse bits"],
        &rows,
        2,
    );
    out.push_str("</div>");
    out
}

fn run_sections(out: &mut String, chip: &ChipInput, run: &RunSummary) {
    out.push_str("<section id=\"run\"><h2>Run</h2>");
    if run.chip_fingerprint.is_none() {
        out.push_str("<p class=\"note\">The emulation report carries no <code>chip_fingerprint</code>: it was matched to this chip by target, population names and neuron indices only.</p>");
    }
    let mut rows = vec![
        vec!["samples".into(), run.samples.to_string()],
        vec!["ticks per sample".into(), run.ticks_per_sample.to_string()],
        vec!["mode".into(), run.mode.clone()],
        vec!["spikes".into(), run.spikes.to_string()],
        vec!["synaptic events".into(), run.synaptic_events.to_string()],
        vec![
            "cycles per tick (mean over the run)".into(),
            format!("{:.1}", run.cycles_per_tick_mean),
        ],
        vec![
            "cycles per tick (max over the run)".into(),
            run.cycles_per_tick_max.to_string(),
        ],
        vec![
            "latency per sample".into(),
            si(run.latency_seconds_per_sample, "s"),
        ],
        vec![
            "energy per sample".into(),
            si(run.energy_joules_per_sample, "J"),
        ],
        vec!["emulator wall time".into(), si(run.wall_seconds, "s")],
    ];
    if let Some(a) = run.accuracy {
        rows.insert(1, vec!["accuracy".into(), accuracy_cell(a, run.samples)]);
    }
    table(out, &["", ""], &rows, 1);
    cycles_section(out, run);
    out.push_str("</section>\n<section id=\"energy\"><h2>Energy per sample by event kind</h2>");
    if run.energy_joules_per_sample_by_kind.is_empty() {
        out.push_str("<p class=\"note\">The emulation report has no energy breakdown.</p>");
    } else {
        let rows: Vec<(String, f64)> = run
            .energy_joules_per_sample_by_kind
            .iter()
            .map(|(k, &v)| (k.replace('_', " "), v))
            .collect();
        out.push_str("<div class=\"fig\">");
        out.push_str(&bars_svg("energy per sample by event kind", &rows, "J"));
        out.push_str("</div>");
    }
    out.push_str("</section>\n<section id=\"overflows\"><h2>Overflow events per population</h2>");
    if run.overflows.is_empty() {
        out.push_str("<p>None recorded.</p>");
    } else {
        let rows: Vec<Vec<String>> = run
            .overflows
            .iter()
            .map(|o| {
                vec![
                    o.population.clone(),
                    o.current.to_string(),
                    o.voltage.to_string(),
                    o.accumulator.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &["population", "current", "voltage", "accumulator"],
            &rows,
            1,
        );
    }
    out.push_str("</section>\n<section id=\"spikes\"><h2>Spikes of probed populations</h2>");
    if run.probes.is_empty() {
        out.push_str("<p class=\"note\">No probes in the emulation report (<code>lifchip emulate --input-spikes FILE --probe all --json RUN.json</code> records them).</p>");
    } else if let Some(k) = run.probed_sample {
        let _ = write!(
            out,
            "<p>The probes recorded sample {k} of the run (numbered from 0); the figures above are over all {} samples.</p>",
            run.samples
        );
    }
    // Probes grouped by population in the chip's population order, neurons by index.
    for pop in chip.config.populations.iter().filter(|p| !p.is_input) {
        let mut neurons: Vec<(u32, &[u32])> = run
            .probes
            .iter()
            .filter(|p| p.population == pop.name)
            .map(|p| (p.neuron, p.spike_ticks.as_slice()))
            .collect();
        if neurons.is_empty() {
            continue;
        }
        neurons.sort_by_key(|n| n.0);
        let spikes: usize = neurons.iter().map(|n| n.1.len()).sum();
        let _ = write!(
            out,
            "<h3>{}</h3><p>{} probed neurons, {spikes} spikes in {} ticks.</p>",
            esc(&pop.name),
            neurons.len(),
            run.ticks_per_sample
        );
        let (svg, aggregated) = raster_svg(&pop.name, &neurons, run.ticks_per_sample);
        if aggregated {
            let _ = write!(
                out,
                "<p class=\"note\">Aggregated: more than {MAX_RASTER_SPIKES} spikes, so the raster shows spike counts in bins of ticks × neurons (darker: more).</p>"
            );
        }
        out.push_str("<div class=\"fig\">");
        out.push_str(&svg);
        let ticks = f64::from(run.ticks_per_sample.max(1));
        let rates: Vec<f64> = neurons.iter().map(|n| n.1.len() as f64 / ticks).collect();
        out.push_str(&rate_histogram_svg(&pop.name, &rates));
        out.push_str("</div>");
    }
    out.push_str("</section>\n");
}

/// Most cores listed by their compute cycles.
const BUSIEST_CORES: usize = 20;

/// Cycles per tick over the run and the busiest cores' compute cycles per tick.
fn cycles_section(out: &mut String, run: &RunSummary) {
    out.push_str("<h3>Cycles per tick</h3>");
    if run.cycles_by_tick.is_empty() && run.cycles_by_core.is_empty() {
        out.push_str("<p class=\"note\">No cycle account in this run (a functional run, or an emulation report written before the emulator kept one; <code>lifchip emulate --mode cycle-accurate</code> records it).</p>");
        return;
    }
    if !run.cycles_by_tick.is_empty() {
        let (svg, binned) = cycles_line_svg(&run.cycles_by_tick);
        if run.samples > 1 {
            let _ = write!(
                out,
                "<p>Each tick's length in cycles (input drain, slowest core, spike drain and barrier), averaged over the {} samples.</p>",
                run.samples
            );
        }
        if binned {
            let _ = write!(
                out,
                "<p class=\"note\">Aggregated: more than {MAX_LINE_POINTS} ticks, so the line is the mean of each bin of ticks and the shaded band reaches the longest tick in it.</p>"
            );
        }
        out.push_str("<div class=\"fig\">");
        out.push_str(&svg);
        out.push_str("</div>");
    }
    if !run.cycles_by_core.is_empty() {
        let mut cores: Vec<&crate::CoreCycles> = run.cycles_by_core.iter().collect();
        cores.sort_by(|a, b| b.mean.total_cmp(&a.mean).then(a.core.cmp(&b.core)));
        let idle = cores.iter().filter(|c| c.max == 0).count();
        let shown: Vec<(u32, f64, u64)> = cores
            .iter()
            .take(BUSIEST_CORES)
            .map(|c| (c.core, c.mean, c.max))
            .collect();
        let _ = write!(
            out,
            "<p>Compute cycles per tick of the {} busiest of {} cores (synapse and neuron stages; {idle} cores never computed).</p>",
            shown.len(),
            cores.len()
        );
        out.push_str("<div class=\"fig\">");
        out.push_str(&core_cycles_svg(&shown));
        out.push_str("</div>");
    }
}

/// The link-load legend: each colour step that some integer load up to `max` falls in, with
/// the loads it covers, `(step, lowest, highest)` (the steps of `svg::load_step`); none when
/// no link carries a packet.
fn load_legend(max: u64) -> Vec<(u64, u64, u64)> {
    (1..=LOAD_STEPS)
        .filter_map(|step| {
            let lo = if step == 1 {
                1
            } else {
                (step - 1) * max / LOAD_STEPS + 1
            };
            let hi = step * max / LOAD_STEPS;
            (lo <= hi).then_some((step, lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod legend_tests {
    use super::load_legend;

    #[test]
    fn the_load_legend_has_no_empty_steps() {
        assert!(load_legend(0).is_empty());
        assert_eq!(load_legend(1), vec![(8, 1, 1)]);
        assert_eq!(load_legend(3), vec![(3, 1, 1), (6, 2, 2), (8, 3, 3)]);
        let l = load_legend(16);
        assert_eq!(l.len(), 8);
        assert_eq!((l[0], l[7]), ((1, 1, 2), (8, 15, 16)));
        // Consecutive, covering 1..=max once.
        for max in 1..50 {
            let l = load_legend(max);
            assert_eq!(l[0].1, 1);
            assert_eq!(l[l.len() - 1].2, max);
            assert!(l.windows(2).all(|w| w[1].1 == w[0].2 + 1), "{max}");
        }
    }
}

/// The page of a compile that produced no chip.
pub(crate) fn failed_page(compile: &CompileSummary, source: &str) -> String {
    let mut out = open_page(&format!(
        "lifchip report: failed compile for {}",
        compile.target
    ));
    let _ = writeln!(
        out,
        "<h1>lifchip report: compile for target {} failed</h1><p>From {}: {} neurons, {} synapses, at least {} cores.</p>",
        esc(&compile.target),
        esc(source),
        compile.neurons,
        compile.synapses,
        compile.cores_lower_bound
    );
    compile_sections(&mut out, compile);
    out.push_str("</body></html>\n");
    out
}

/// An accuracy with its 95 % Wilson score interval over `samples` images (as the sweep report
/// gives it, see docs/studies.md): `98.80 % (98.0–99.3, 95 % interval)`.
fn accuracy_cell(accuracy: f64, samples: u64) -> String {
    if samples == 0 {
        return format!("{:.2} %", accuracy * 100.0);
    }
    let (lo, hi) = lifchip_stats::wilson_accuracy(accuracy, samples);
    format!(
        "{:.2} % ({:.1}–{:.1}, 95 % interval over {samples} images)",
        accuracy * 100.0,
        lo * 100.0,
        hi * 100.0
    )
}

#[cfg(test)]
mod accuracy_tests {
    use super::accuracy_cell;

    #[test]
    fn the_accuracy_carries_its_wilson_interval() {
        // 988 of 1000: Wilson (0.979143, 0.993122).
        assert_eq!(
            accuracy_cell(0.988, 1000),
            "98.80 % (97.9–99.3, 95 % interval over 1000 images)"
        );
        assert_eq!(
            accuracy_cell(1.0, 10),
            "100.00 % (72.2–100.0, 95 % interval over 10 images)"
        );
        assert_eq!(accuracy_cell(0.5, 0), "50.00 %");
    }
}
