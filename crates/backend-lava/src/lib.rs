//! Loihi through Lava: a chip configuration (CHIPDIR) becomes a self-contained Lava program
//! that rebuilds the mapped network from Lava's own processes and runs it with Lava's
//! bit-accurate fixed-point models.
//!
//! What is emitted (`docs/backends.md`, *Loihi through Lava*):
//!
//! * `network.py` — the program: `build()`/`run()` and a `__main__` that runs the stored input
//!   and writes the probes as `.npy`;
//! * `program.json` — the process graph: one `LIF` process per distinct `(du, dv, vth)`, one
//!   `Dense` per accumulator group set (source, target, `weight_exp`, `num_weight_bits`,
//!   `sign_mode`, `num_message_bits`);
//! * `.npy` arrays: per LIF its compartments, `bias_mant`, `bias_exp`, initial `u`, `v`; per
//!   Dense its weight matrix; the input spike counts; the compartment table.
//!
//! A configuration Lava cannot express is refused with every reason at once
//! ([`ExportError::Unsupported`]).

mod program;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use lifchip_chip::ChipConfig;
use lifchip_target::{
    Accumulate, DecayKind, Overflow, Reset, SpikeTest, Target, UpdateOrder, WeightEncoding,
};

pub use program::{LavaProgram, ProgramSpec};

/// Largest number of ticks an export may store (the input array is channels x ticks).
pub const MAX_TICKS: u32 = 1 << 20;
/// Largest number of entries of one stored array (input counts or a Dense weight matrix).
pub const MAX_ARRAY_ENTRIES: u64 = 1 << 28;

/// One thing Lava cannot express: where, which field, what was found and what Lava allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `target`, `core 3`, `core 3 compartment 7`, `core 3 group 1`, `input`...
    pub location: String,
    pub field: String,
    pub found: String,
    pub allowed: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} (Lava allows {})",
            self.location, self.field, self.found, self.allowed
        )
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the chip configuration cannot be expressed in Lava ({} problem{}):\n  {}",
        .0.len(), if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Unsupported(Vec<Problem>),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding {file}: {message}")]
    Encode { file: String, message: String },
}

/// Lava's sign mode of a Dense process (`lava.utils.weightutils.SignMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignMode {
    Mixed,
    Excitatory,
    Inhibitory,
}

impl SignMode {
    /// Lava's enum value (`SignMode(n)`).
    pub fn lava_value(self) -> u8 {
        match self {
            SignMode::Mixed => 1,
            SignMode::Excitatory => 2,
            SignMode::Inhibitory => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignMode::Mixed => "mixed",
            SignMode::Excitatory => "excitatory",
            SignMode::Inhibitory => "inhibitory",
        }
    }

    /// True when Lava's `clip_weights(.., num_bits=8)` then `truncate_weights(.., bits)` keeps
    /// `w` unchanged in this mode.
    pub fn keeps(self, w: i64, bits: u32) -> bool {
        let ntb = 8 - bits.min(8);
        match self {
            SignMode::Excitatory => (0..=255).contains(&w) && w % (1 << ntb) == 0,
            SignMode::Inhibitory => (-255..=0).contains(&w) && (-w) % (1 << ntb) == 0,
            SignMode::Mixed => (-256..=255).contains(&w) && w.rem_euclid(1 << (ntb + 1)) == 0,
        }
    }

    /// The first sign mode (excitatory, inhibitory, mixed) in which Lava stores every weight
    /// of `weights` unchanged, if any.
    pub fn fitting(weights: impl Iterator<Item = i64> + Clone, bits: u32) -> Option<SignMode> {
        [SignMode::Excitatory, SignMode::Inhibitory, SignMode::Mixed]
            .into_iter()
            .find(|m| weights.clone().all(|w| m.keeps(w, bits)))
    }
}

/// Lava's fixed LIF/Dense semantics (PyLifModelBitAcc, PyDenseModelBitAcc), as target fields:
/// a target that differs in any of them describes a different chip.
fn check_target(t: &Target, problems: &mut Vec<Problem>) {
    let mut need = |field: &str, found: String, allowed: &str, ok: bool| {
        if !ok {
            problems.push(Problem {
                location: format!("target {}", t.name),
                field: field.into(),
                found,
                allowed: allowed.into(),
            });
        }
    };
    let p = &t.precision;
    let n = &t.neuron;
    need(
        "precision.weight_encoding",
        format!("{:?}", p.weight_encoding),
        "loihi_sign_mode",
        p.weight_encoding == WeightEncoding::LoihiSignMode,
    );
    need(
        "precision.weight_bits",
        p.weight_bits.to_string(),
        "1..=8 (Dense num_weight_bits)",
        (1..=8).contains(&p.weight_bits),
    );
    need(
        "precision.current_bits",
        p.current_bits.to_string(),
        "24",
        p.current_bits == 24,
    );
    need(
        "precision.current_overflow",
        format!("{:?}", p.current_overflow),
        "wrap_lava",
        p.current_overflow == Overflow::WrapLava,
    );
    need(
        "precision.voltage_bits",
        p.voltage_bits.to_string(),
        "24",
        p.voltage_bits == 24,
    );
    need(
        "precision.voltage_overflow",
        format!("{:?}", p.voltage_overflow),
        "saturate_symmetric",
        p.voltage_overflow == Overflow::SaturateSymmetric,
    );
    need(
        "precision.input_shift",
        p.input_shift.to_string(),
        "6",
        p.input_shift == 6,
    );
    need(
        "precision.threshold_shift",
        p.threshold_shift.to_string(),
        "6",
        p.threshold_shift == 6,
    );
    need(
        "precision.threshold_bits",
        p.threshold_bits.to_string(),
        "<= 17 (vth)",
        p.threshold_bits <= 17,
    );
    need(
        "precision.bias_bits",
        p.bias_bits.to_string(),
        "<= 13 (bias_mant)",
        p.bias_bits <= 13,
    );
    need(
        "precision.bias_exp_max",
        p.bias_exp_max.to_string(),
        "<= 7 (bias_exp)",
        p.bias_exp_max <= 7,
    );
    need(
        "precision.accumulator_bits",
        p.accumulator_bits.to_string(),
        "0 (Dense sums exactly)",
        p.accumulator_bits == 0,
    );
    need(
        "neuron.decay",
        format!("{:?}", n.decay),
        "multiplicative",
        n.decay == DecayKind::Multiplicative,
    );
    need(
        "neuron.decay_bits",
        n.decay_bits.to_string(),
        "12",
        n.decay_bits == 12,
    );
    need(
        "neuron.current_decay_offset",
        n.current_decay_offset.to_string(),
        "1",
        n.current_decay_offset == 1,
    );
    need(
        "neuron.voltage_decay_offset",
        n.voltage_decay_offset.to_string(),
        "0",
        n.voltage_decay_offset == 0,
    );
    need(
        "neuron.order",
        format!("{:?}", n.order),
        "decay_then_input",
        n.order == UpdateOrder::DecayThenInput,
    );
    need(
        "neuron.accumulate",
        format!("{:?}", n.accumulate),
        "sum_then_add",
        n.accumulate == Accumulate::SumThenAdd,
    );
    need(
        "neuron.reset",
        format!("{:?}", n.reset),
        "zero",
        n.reset == Reset::Zero,
    );
    need(
        "neuron.spike_test",
        format!("{:?}", n.spike_test),
        "greater",
        n.spike_test == SpikeTest::Greater,
    );
    need(
        "neuron.synaptic_delay",
        n.synaptic_delay.to_string(),
        "1 (a Dense connection delays by one tick)",
        n.synaptic_delay == 1,
    );
    need(
        "neuron.input_delay",
        n.input_delay.to_string(),
        "1 (the input Dense delays by one tick)",
        n.input_delay == 1,
    );
}

/// Where a Dense process takes its spikes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The input spike generator (a `RingBuffer` of the input counts).
    Input,
    /// LIF process `i`.
    Lif(usize),
}

/// One LIF process: compartments with equal `(du, dv, vth)` (scalars in Lava's LIF).
#[derive(Clone, Debug, PartialEq)]
pub struct LifBlock {
    pub du: u32,
    pub dv: u32,
    pub vth: u32,
    /// Global compartment indices (see [`compartment_table`]).
    pub compartments: Vec<usize>,
    pub bias_mant: Vec<i32>,
    pub bias_exp: Vec<i32>,
    pub u0: Vec<i32>,
    pub v0: Vec<i32>,
}

/// One Dense process: one weight matrix `[target size, source size]`, one exponent, one sign
/// mode. Each target row receives from exactly one accumulator group of the chip, so Lava's
/// shift of the summed row equals the chip's shift of the group's accumulator.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseBlock {
    pub source: Source,
    pub target: usize,
    pub weight_exp: i32,
    pub num_weight_bits: u32,
    pub sign_mode: SignMode,
    /// Row-major `[target size][source size]`.
    pub weights: Vec<i32>,
    pub rows: usize,
    pub cols: usize,
    /// Which chip group feeds each row (`None`: no synapse).
    row_group: Vec<Option<(u32, u16)>>,
}

/// The Lava process graph of a chip configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub lifs: Vec<LifBlock>,
    pub denses: Vec<DenseBlock>,
    /// `(core, compartment, population, neuron)` of each global compartment index.
    pub compartments: Vec<[u32; 4]>,
    pub input_channels: usize,
}

/// Global compartment indices: cores in order, compartments in order.
pub fn compartment_table(config: &ChipConfig) -> Vec<[u32; 4]> {
    let mut table = Vec::new();
    for core in &config.cores {
        for (k, c) in core.compartments.iter().enumerate() {
            table.push([core.id, k as u32, c.population, c.neuron]);
        }
    }
    table
}

/// Builds the Lava process graph, or every reason Lava cannot express `config`.
pub fn build_graph(config: &ChipConfig) -> Result<Graph, Vec<Problem>> {
    let mut problems = Vec::new();
    let t = &config.target;
    check_target(t, &mut problems);
    let table = compartment_table(config);
    let mut core_base = Vec::with_capacity(config.cores.len());
    let mut base = 0usize;
    for core in &config.cores {
        core_base.push(base);
        base += core.compartments.len();
    }

    // LIF blocks by (du, dv, vth), in order of first appearance.
    let mut lif_of: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
    let mut lifs: Vec<LifBlock> = Vec::new();
    // Global compartment -> (block, index in block).
    let mut slot = vec![(0usize, 0usize); table.len()];
    for (ci, core) in config.cores.iter().enumerate() {
        for (k, c) in core.compartments.iter().enumerate() {
            let at = format!("core {} compartment {k}", core.id);
            let mut bad = |field: &str, found: String, allowed: &str| {
                problems.push(Problem {
                    location: at.clone(),
                    field: field.into(),
                    found,
                    allowed: allowed.into(),
                })
            };
            if c.partial_of.is_some() {
                bad(
                    "partial_of",
                    "a partial-sum compartment".into(),
                    "no fan-in splitting (Lava's LIF has no dendritic join)",
                );
            }
            if c.refractory != 0 {
                bad(
                    "refractory",
                    c.refractory.to_string(),
                    "0 (the LIF model has no refractory period)",
                );
            }
            if c.current_decay > 4095 {
                bad("current_decay", c.current_decay.to_string(), "du 0..=4095");
            }
            if c.voltage_decay > 4095 {
                bad("voltage_decay", c.voltage_decay.to_string(), "dv 0..=4095");
            }
            if c.threshold > 131_071 {
                bad("threshold", c.threshold.to_string(), "vth 0..=131071");
            }
            if !(-4096..=4095).contains(&c.bias) {
                bad("bias", c.bias.to_string(), "bias_mant -4096..=4095");
            }
            if c.bias_exp > 7 {
                bad("bias_exp", c.bias_exp.to_string(), "bias_exp 0..=7");
            }
            let key = (c.current_decay, c.voltage_decay, c.threshold);
            let b = *lif_of.entry(key).or_insert_with(|| {
                lifs.push(LifBlock {
                    du: key.0,
                    dv: key.1,
                    vth: key.2,
                    compartments: Vec::new(),
                    bias_mant: Vec::new(),
                    bias_exp: Vec::new(),
                    u0: Vec::new(),
                    v0: Vec::new(),
                });
                lifs.len() - 1
            });
            let block = &mut lifs[b];
            slot[core_base[ci] + k] = (b, block.compartments.len());
            block.compartments.push(core_base[ci] + k);
            block.bias_mant.push(c.bias);
            block.bias_exp.push(c.bias_exp as i32);
            block.u0.push(c.initial_u);
            block.v0.push(c.initial_v);
        }
    }

    // Who feeds each axon: (source, index within the source) per delivery, with multiplicity.
    let core_index: BTreeMap<u32, usize> = config
        .cores
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let mut feeders: Vec<Vec<Vec<(Source, usize)>>> = config
        .cores
        .iter()
        .map(|c| vec![Vec::new(); c.axons.len()])
        .collect();
    let mut push_feed = |d: &lifchip_chip::Destination, src: (Source, usize)| {
        if let Some(&ci) = core_index.get(&d.core)
            && let Some(list) = feeders[ci].get_mut(d.axon as usize)
        {
            list.push(src);
        }
    };
    for (ch, dests) in config.inputs.iter().enumerate() {
        for d in dests {
            push_feed(d, (Source::Input, ch));
        }
    }
    for (ci, core) in config.cores.iter().enumerate() {
        for (k, c) in core.compartments.iter().enumerate() {
            let (b, i) = slot[core_base[ci] + k];
            for d in &c.destinations {
                push_feed(d, (Source::Lif(b), i));
            }
        }
    }

    // Contributions per chip group: (source, target block) -> entries (row, col) -> weight.
    type Entries = BTreeMap<(usize, usize), i64>;
    let mut denses: Vec<DenseBlock> = Vec::new();
    let bits = t.precision.weight_bits.clamp(1, 8);
    for (ci, core) in config.cores.iter().enumerate() {
        let mut by_group: BTreeMap<u16, BTreeMap<(Source, usize), Entries>> = BTreeMap::new();
        let mut group_sources: BTreeMap<u16, std::collections::BTreeSet<Source>> = BTreeMap::new();
        for (a, axon) in core.axons.iter().enumerate() {
            for &(src, col) in &feeders[ci][a] {
                group_sources.entry(axon.group).or_default().insert(src);
                for s in &axon.synapses {
                    let (b, row) = slot[core_base[ci] + s.compartment as usize];
                    let entries = by_group
                        .entry(axon.group)
                        .or_default()
                        .entry((src, b))
                        .or_default();
                    *entries.entry((row, col)).or_insert(0) += i64::from(s.weight);
                }
            }
        }
        for (g, parts) in by_group {
            let exp = core.group_exponents.get(g as usize).copied().unwrap_or(0);
            let at = format!("core {} group {g}", core.id);
            if !(-8..=7).contains(&exp) {
                problems.push(Problem {
                    location: at.clone(),
                    field: "weight_exp".into(),
                    found: exp.to_string(),
                    allowed: "-8..=7".into(),
                });
            }
            let sources = group_sources.get(&g).map(|s| s.len()).unwrap_or(0);
            if exp < 0 && sources > 1 {
                // A negative exponent shifts the whole group's sum: splitting the sum over
                // several Dense processes would round each part separately.
                problems.push(Problem {
                    location: at.clone(),
                    field: "axons".into(),
                    found: format!(
                        "a group with weight_exp {exp} fed by {sources} different sources"
                    ),
                    allowed: "one Dense (one source process) per group with a negative weight_exp"
                        .into(),
                });
                continue;
            }
            for ((src, target), entries) in parts {
                let Some(mode) = SignMode::fitting(entries.values().copied(), bits) else {
                    let (lo, hi) = entries
                        .values()
                        .fold((i64::MAX, i64::MIN), |(l, h), &w| (l.min(w), h.max(w)));
                    problems.push(Problem {
                        location: at.clone(),
                        field: "synapses".into(),
                        found: format!(
                            "weights from one source to one compartment sum to values in {lo}..={hi} that no sign mode stores with {bits} weight bits"
                        ),
                        allowed: format!(
                            "one storable weight per (source, compartment): excitatory 0..=255, inhibitory -255..=0, mixed -256..=254, steps 2^(8-{bits}) (mixed twice that)"
                        ),
                    });
                    continue;
                };
                let rows = lifs[target].compartments.len();
                let cols = match src {
                    Source::Input => config.inputs.len(),
                    Source::Lif(b) => lifs[b].compartments.len(),
                };
                if (rows as u64) * (cols as u64) > MAX_ARRAY_ENTRIES {
                    problems.push(Problem {
                        location: at.clone(),
                        field: "synapses".into(),
                        found: format!("a {rows} x {cols} Dense weight matrix"),
                        allowed: format!("at most {MAX_ARRAY_ENTRIES} entries per Dense"),
                    });
                    continue;
                }
                let group_id = (core.id, g);
                let touched: Vec<usize> = {
                    let mut r: Vec<usize> = entries.keys().map(|&(r, _)| r).collect();
                    r.dedup();
                    r
                };
                // Join a Dense with the same source, target, exponent and sign mode whose
                // rows are not fed by another group yet.
                let found = denses.iter().position(|d| {
                    d.source == src
                        && d.target == target
                        && d.weight_exp == exp
                        && d.sign_mode == mode
                        && touched
                            .iter()
                            .all(|&r| d.row_group[r].is_none_or(|x| x == group_id))
                });
                let di = match found {
                    Some(i) => i,
                    None => {
                        denses.push(DenseBlock {
                            source: src,
                            target,
                            weight_exp: exp,
                            num_weight_bits: bits,
                            sign_mode: mode,
                            weights: vec![0; rows * cols],
                            rows,
                            cols,
                            row_group: vec![None; rows],
                        });
                        denses.len() - 1
                    }
                };
                let d = &mut denses[di];
                for (&(r, c), &w) in &entries {
                    d.row_group[r] = Some(group_id);
                    // `fitting` bounded w to -256..=255.
                    d.weights[r * cols + c] = w as i32;
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Graph {
            lifs,
            denses,
            compartments: table,
            input_channels: config.inputs.len(),
        })
    } else {
        Err(problems)
    }
}

/// Exports `config` as a Lava program that runs `input` (per tick, the channels that spike;
/// a channel listed `n` times spikes `n` times, as for `lifchip emulate`) for `ticks` ticks.
pub fn export(
    config: &ChipConfig,
    input: &[Vec<u32>],
    ticks: u32,
) -> Result<LavaProgram, ExportError> {
    let mut problems = match build_graph(config) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    };
    if ticks > MAX_TICKS {
        problems.push(Problem {
            location: "run".into(),
            field: "ticks".into(),
            found: ticks.to_string(),
            allowed: format!("at most {MAX_TICKS}"),
        });
    }
    let channels = config.inputs.len();
    if (channels as u64) * u64::from(ticks) > MAX_ARRAY_ENTRIES {
        problems.push(Problem {
            location: "input".into(),
            field: "channels x ticks".into(),
            found: format!("{channels} x {ticks}"),
            allowed: format!("at most {MAX_ARRAY_ENTRIES} entries"),
        });
    }
    for (tick, list) in input.iter().enumerate().take(ticks as usize) {
        if let Some(&c) = list.iter().find(|&&c| c as usize >= channels) {
            problems.push(Problem {
                location: format!("input tick {tick}"),
                field: "channel".into(),
                found: c.to_string(),
                allowed: format!("0..{channels}"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(ExportError::Unsupported(problems));
    }
    let graph = build_graph(config).map_err(ExportError::Unsupported)?;
    let mut counts = vec![0i64; channels * ticks as usize];
    for (tick, list) in input.iter().enumerate().take(ticks as usize) {
        for &c in list {
            counts[c as usize * ticks as usize + tick] += 1;
        }
    }
    // A graded input Dense sums weights x counts in int32 before the exponent shift (numpy
    // dot of int32): refuse counts that could make that sum leave int32, where lifchip's
    // exact accumulator would differ.
    let mut problems = Vec::new();
    for (di, d) in graph.denses.iter().enumerate() {
        if d.source != Source::Input {
            continue;
        }
        for tick in 0..ticks as usize {
            for r in 0..d.rows {
                let bound: i64 = (0..d.cols)
                    .map(|c| {
                        i64::from(d.weights[r * d.cols + c]).abs()
                            * counts[c * ticks as usize + tick]
                    })
                    .sum();
                if bound >= 1 << 31 {
                    problems.push(Problem {
                        location: format!("input tick {tick}"),
                        field: format!("counts into Dense {di} row {r}"),
                        found: format!("a weighted sum up to {bound}"),
                        allowed: "|sum of weight x count| < 2^31 (int32 graded Dense)".into(),
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ExportError::Unsupported(problems));
    }
    program::render(config, &graph, &counts, ticks)
}

/// Writes an exported program into `dir` atomically (nothing is left on failure). An existing
/// `dir` is replaced only if it is empty or holds an earlier program (its `program.json` says
/// `lifchip-lava`); anything else — a CHIPDIR, a net, other files — is refused untouched.
pub fn write_program(program: &LavaProgram, dir: &Path) -> Result<(), ExportError> {
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        let replaceable = meta.is_dir()
            && (std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
                || std::fs::read(dir.join("program.json")).is_ok_and(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b).is_ok_and(|v| {
                        v.get("format").and_then(|f| f.as_str()) == Some(program::PROGRAM_FORMAT)
                    })
                }));
        if !replaceable {
            return Err(ExportError::Io {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not an exported Lava program (no lifchip-lava program.json); refusing to replace it",
                ),
            });
        }
    }
    let files: Vec<(&str, &[u8])> = program
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    lifchip_files::write_dir_atomic(dir, &files).map_err(|source| ExportError::Io {
        path: dir.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests;
