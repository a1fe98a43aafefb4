//! Checks shared by the backend's integration tests: the emulator of an emitted configuration
//! against the compiler's integer reference, the chip's row accounting against the compiler's,
//! and a chip-unit net's synapse matrices against an exact expansion of its ops.

#![allow(dead_code)]

use std::collections::BTreeMap;

use lifchip_chip::ChipConfig;
use lifchip_compiler::{CompileReport, Mapped, run_reference};
use lifchip_emulator::{Emulator, Mode, ProbeSet, Probes, RunOptions};
use lifchip_net::{LinearOp, Net};
use lifchip_target::Target;

/// Runs `config` in the emulator and `mapped` in the integer reference on the same input and
/// compares every neuron's spikes and `u`/`v` every tick. `Ok(spikes)`: the total spike count.
pub fn emulator_matches_reference(
    mapped: &Mapped,
    target: &Target,
    config: &ChipConfig,
    input: &[Vec<u32>],
    mode: Mode,
) -> Result<usize, String> {
    let ticks = input.len();
    let reference = run_reference(&mapped.net, target, input, ticks, true);
    let mut emu = Emulator::new(config).map_err(|e| format!("emulator refused: {e}"))?;
    let options = RunOptions {
        ticks: ticks as u32,
        mode,
        probes: Probes {
            set: ProbeSet::All,
            state: true,
        },
        readout_from: 0,
    };
    let result = emu
        .run(input, &options)
        .map_err(|e| format!("emulator failed: {e}"))?;
    let neurons: usize = mapped
        .net
        .populations
        .iter()
        .filter(|p| p.neuron.is_some())
        .map(|p| p.size())
        .sum();
    if result.probes.len() != neurons {
        return Err(format!(
            "target {}: {} probes for {neurons} neurons",
            target.name,
            result.probes.len()
        ));
    }
    for probe in &result.probes {
        let (p, n) = (probe.population as usize, probe.neuron as usize);
        let mut expected = Vec::new();
        for (t, tick) in reference.spikes[p].iter().enumerate() {
            for &(m, count) in tick {
                if m as usize == n {
                    expected.extend(std::iter::repeat_n(t as u32, count as usize));
                }
            }
        }
        if probe.spike_ticks != expected {
            return Err(format!(
                "target {}, population {p} neuron {n}: emulator spikes {:?}, reference {:?}",
                target.name, probe.spike_ticks, expected
            ));
        }
        let ref_v: Vec<i64> = reference.v[p].iter().map(|row| row[n]).collect();
        let ref_u: Vec<i64> = reference.u[p].iter().map(|row| row[n]).collect();
        if probe.v != ref_v || probe.u != ref_u {
            return Err(format!(
                "target {}, population {p} neuron {n}: state differs\nemu u {:?}\nref u {:?}\nemu v {:?}\nref v {:?}",
                target.name, probe.u, ref_u, probe.v, ref_v
            ));
        }
    }
    Ok(result.probes.iter().map(|p| p.spike_ticks.len()).sum())
}

/// The chip's own row accounting agrees with the compiler's, core by core.
pub fn row_accounting_agrees(
    config: &ChipConfig,
    report: &CompileReport,
    target: &Target,
) -> Result<(), String> {
    for core in &config.cores {
        let compiled = report
            .per_core
            .iter()
            .find(|c| (c.x, c.y) == (core.x, core.y));
        let bits = core.synapse_bits(target);
        if compiled.map(|c| c.synapse_bits) != Some(bits) {
            return Err(format!(
                "core ({}, {}): chip rows take {bits} bits, the compiler counted {:?}",
                core.x,
                core.y,
                compiled.map(|c| c.synapse_bits)
            ));
        }
    }
    Ok(())
}

/// One projection's synapses as `post -> (pre -> weight)`, weights as exact fractions
/// `numerator / denominator` over one common denominator.
struct Exact {
    rows: Vec<BTreeMap<usize, i64>>,
    denominator: i64,
}

/// Expands `ops` applied to an input of `shape` with integer arithmetic: average pooling
/// contributes `1 / (size_h * size_w)` exactly, where the compiler works in `f32`. Written
/// apart from the compiler's `expand` (dense intermediate matrices, small nets only).
fn exact_expansion(ops: &[LinearOp], shape: &[usize]) -> Exact {
    let n_in: usize = shape.iter().product();
    // Start from the identity: row `i` of the running map is input `i`.
    let mut rows: Vec<BTreeMap<usize, i64>> = (0..n_in).map(|i| BTreeMap::from([(i, 1)])).collect();
    let mut denominator = 1i64;
    let mut shape = shape.to_vec();
    for op in ops {
        let out_shape = op.output_shape(&shape).expect("a validated net");
        let n_out: usize = out_shape.iter().product();
        let op_denominator = match op {
            LinearOp::AvgPool { size, .. } => (size[0] * size[1]) as i64,
            _ => 1,
        };
        let mut next: Vec<BTreeMap<usize, i64>> = vec![BTreeMap::new(); n_out];
        op.for_each_synapse(&shape, |mid, out, weight| {
            let numerator = match op {
                LinearOp::AvgPool { .. } => 1,
                _ => weight as i64,
            };
            for (&pre, &w) in &rows[mid] {
                *next[out].entry(pre).or_insert(0) += w * numerator;
            }
        });
        rows = next;
        denominator *= op_denominator;
        shape = out_shape;
    }
    for row in &mut rows {
        row.retain(|_, w| *w != 0);
    }
    Exact { rows, denominator }
}

/// Every projection of the chip-unit `net` reached the mapped program with exactly the integer
/// weights its ops compose to (zero sums dropped), and none composes to a fraction.
pub fn synapses_are_exact(net: &Net, mapped: &Mapped) -> Result<(), String> {
    for projection in &net.projections {
        let from = net.population(&projection.from).expect("a validated net");
        let exact = exact_expansion(&projection.ops, &from.shape);
        let quant = mapped
            .net
            .projections
            .iter()
            .find(|q| q.name == projection.name)
            .ok_or_else(|| format!("projection {} is not in the mapped net", projection.name))?;
        if quant.synapses.num_post() != exact.rows.len() {
            return Err(format!(
                "projection {}: {} postsynaptic neurons, its ops give {}",
                projection.name,
                quant.synapses.num_post(),
                exact.rows.len()
            ));
        }
        for (post, row) in exact.rows.iter().enumerate() {
            let mut want = BTreeMap::new();
            for (&pre, &w) in row {
                if w % exact.denominator != 0 {
                    return Err(format!(
                        "projection {}: neuron {post} input {pre} composes to {w}/{}, not an integer",
                        projection.name, exact.denominator
                    ));
                }
                want.insert(pre as u32, (w / exact.denominator) as i32);
            }
            let got: BTreeMap<u32, i32> = quant.synapses.inputs(post).collect();
            if got != want {
                return Err(format!(
                    "projection {} ({:?}), neuron {post}: mapped synapses {got:?}, exact {want:?}",
                    projection.name,
                    projection
                        .ops
                        .iter()
                        .map(LinearOp::name)
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(())
}
