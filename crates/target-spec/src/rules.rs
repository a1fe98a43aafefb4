//! Cross-field rules: constraints between fields that each passed their own check.
//!
//! Each rule has a one-line statement (rendered into `docs/target-yaml.md`) and a check that
//! reports violations at the offending field. A rule whose inputs are missing or invalid is
//! skipped: those fields already have their own problem.

use crate::check::Values;
use crate::error::Problem;

/// One cross-field rule.
pub(crate) struct Rule {
    /// The rule in words, as documented.
    pub doc: &'static str,
    pub check: fn(&Values, &mut Vec<Problem>),
}

/// Every cross-field rule, in the order they are documented and applied.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        doc: "`precision.weight_exponent.min <= precision.weight_exponent.max`.",
        check: exponent_order,
    },
    Rule {
        doc: "With `precision.weight_exponent.scope: none`, `min` and `max` are both 0.",
        check: exponent_none,
    },
    Rule {
        doc: "`precision.weight_bits` is at most 8 with `loihi_sign_mode` (Lava stores 8-bit magnitudes) and at least 2 with `signed`.",
        check: weight_bits_for_encoding,
    },
    Rule {
        doc: "With `core.synapse_cost.kind: crossbar`, `core.synapse_memory_bits == input_axons * neurons * weight_bits` (`(input_axons + neurons) * neurons * weight_bits` with `core.neuron_rows`: the neurons' own rows).",
        check: crossbar_size,
    },
    Rule {
        doc: "`core.neuron_rows: true` needs a one-core mesh (`mesh.width * mesh.height == 1`): every neuron is then on the core its rows reach.",
        check: neuron_rows_one_core,
    },
    Rule {
        doc: "With `core.synapse_cost.kind: sparse`, `2^index_bits >= core.neurons`, and `core.synapse_memory_bits` holds at least one synapse with its axon entry (`weight_bits + index_bits + axon_entry_bits`).",
        check: sparse_fits,
    },
    Rule {
        doc: "`neuron.decay_bits`, `current_decay_offset` and `voltage_decay_offset` apply only to `decay: multiplicative` (with `shift` they keep their defaults); `shift_min_step: true` only to `decay: shift`.",
        check: decay_fields,
    },
    Rule {
        doc: "`neuron.max_spikes_per_tick` or `readout_max_spikes_per_tick` above 1 needs `neuron.reset: subtract`.",
        check: multi_spike_reset,
    },
    Rule {
        doc: "`neuron.accumulate: per_event_saturating` needs `precision.current_overflow: saturate` or `saturate_symmetric`.",
        check: saturating_accumulate,
    },
    Rule {
        doc: "`neuron.synaptic_currents: 2` needs `neuron.accumulate: per_event_saturating` (each event goes to the current its projection feeds).",
        check: two_currents,
    },
    Rule {
        doc: "`core.fanin_split: true` needs `neuron.accumulate: sum_then_add` (partial sums are added before the current update; per-event saturation would depend on their order).",
        check: fanin_split_accumulate,
    },
    Rule {
        doc: "The largest threshold fits the voltage: `threshold_bits + threshold_shift <= voltage_bits`.",
        check: threshold_fits,
    },
    Rule {
        doc: "One weight at the largest exponent fits the current: `input_shift + w + max(0, weight_exponent.max) <= current_bits`, where `w` is `weight_bits` for `signed` and `max(8, weight_bits) + 1` for `loihi_sign_mode`.",
        check: weight_fits_current,
    },
    Rule {
        doc: "The largest bias fits the voltage: `bias_bits + bias_exp_max <= voltage_bits`; a neuron without bias (`bias_bits: 0`) has `bias_exp_max: 0`.",
        check: bias_fits,
    },
    Rule {
        doc: "A nonzero `precision.accumulator_bits` holds one weight: `accumulator_bits >= w` (`w` as above).",
        check: accumulator_fits,
    },
    Rule {
        doc: "`mesh.width` is a multiple of `mesh.cores_per_tile` (every tile is whole).",
        check: whole_tiles,
    },
];

/// Apply every rule.
pub(crate) fn apply(values: &Values, problems: &mut Vec<Problem>) {
    for rule in RULES {
        (rule.check)(values, problems);
    }
}

const EXP_MIN: &str = "precision.weight_exponent.min";
const EXP_MAX: &str = "precision.weight_exponent.max";
const WEIGHT_BITS: &str = "precision.weight_bits";

fn push(problems: &mut Vec<Problem>, p: Option<Problem>) {
    problems.extend(p);
}

fn exponent_order(v: &Values, out: &mut Vec<Problem>) {
    let (Some(min), Some(max)) = (v.i(EXP_MIN), v.i(EXP_MAX)) else {
        return;
    };
    if min > max {
        push(
            out,
            v.problem(
                EXP_MAX,
                format!("max `{max}` is below min `{min}`"),
                format!("an integer >= {min} (weight_exponent.min)"),
                None,
            ),
        );
    }
}

fn exponent_none(v: &Values, out: &mut Vec<Problem>) {
    if v.e("precision.weight_exponent.scope") != Some("none") {
        return;
    }
    for path in [EXP_MIN, EXP_MAX] {
        if v.i(path).is_some_and(|e| e != 0) {
            push(
                out,
                v.problem(
                    path,
                    "scope `none` has no exponent, so the range must be 0".into(),
                    "0".into(),
                    Some("remove it, or choose scope `layer` or `core`".into()),
                ),
            );
        }
    }
}

fn weight_bits_for_encoding(v: &Values, out: &mut Vec<Problem>) {
    let Some(bits) = v.u(WEIGHT_BITS) else { return };
    match v.e("precision.weight_encoding") {
        Some("loihi_sign_mode") if bits > 8 => push(
            out,
            v.problem(
                WEIGHT_BITS,
                format!("`{bits}` bits with loihi_sign_mode, which stores 8-bit magnitudes"),
                "an integer in 1..=8".into(),
                Some("use weight_encoding `signed` for wider weights".into()),
            ),
        ),
        Some("signed") if bits < 2 => push(
            out,
            v.problem(
                WEIGHT_BITS,
                "a 1-bit two's complement weight can only be -1 or 0".into(),
                "an integer in 2..=16".into(),
                None,
            ),
        ),
        _ => {}
    }
}

fn crossbar_size(v: &Values, out: &mut Vec<Problem>) {
    if v.e("core.synapse_cost.kind") != Some("crossbar") {
        return;
    }
    let (Some(axons), Some(neurons), Some(bits), Some(memory)) = (
        v.u("core.input_axons"),
        v.u("core.neurons"),
        v.u(WEIGHT_BITS),
        v.u("core.synapse_memory_bits"),
    ) else {
        return;
    };
    let own = v.b("core.neuron_rows") == Some(true);
    let rows = if own {
        axons.saturating_add(neurons)
    } else {
        axons
    };
    let need = rows.saturating_mul(neurons).saturating_mul(bits);
    if memory != need {
        let (what, formula) = if own {
            (
                format!("{axons} axons + {neurons} neuron rows"),
                "(input_axons + neurons) * neurons * weight_bits",
            )
        } else {
            (
                format!("{axons} axons"),
                "input_axons * neurons * weight_bits",
            )
        };
        push(
            out,
            v.problem(
                "core.synapse_memory_bits",
                format!("a crossbar of {what} x {neurons} neurons x {bits} bits has {need} bits, not {memory}"),
                format!("{need} ({formula})"),
                Some(format!("write `synapse_memory_bits: {need}`, or use kind `sparse`")),
            ),
        );
    }
}

fn neuron_rows_one_core(v: &Values, out: &mut Vec<Problem>) {
    if v.b("core.neuron_rows") != Some(true) {
        return;
    }
    let (Some(w), Some(h)) = (v.u("mesh.width"), v.u("mesh.height")) else {
        return;
    };
    if w.saturating_mul(h) != 1 {
        push(
            out,
            v.problem(
                "core.neuron_rows",
                format!(
                    "a neuron's own rows reach only its core, and the mesh has {w} x {h} cores"
                ),
                "false on a mesh of more than one core".into(),
                Some(
                    "set `mesh.width: 1` and `mesh.height: 1`, or `core.neuron_rows: false`".into(),
                ),
            ),
        );
    }
}

fn sparse_fits(v: &Values, out: &mut Vec<Problem>) {
    if v.e("core.synapse_cost.kind") != Some("sparse") {
        return;
    }
    let index = v.u("core.synapse_cost.index_bits");
    if let (Some(index), Some(neurons)) = (index, v.u("core.neurons")) {
        let need = u64::from(64 - neurons.saturating_sub(1).leading_zeros());
        if index < need {
            push(
                out,
                v.problem(
                    "core.synapse_cost.index_bits",
                    format!("{index} bits cannot name each of {neurons} neurons"),
                    format!("at least {need} (2^index_bits >= core.neurons)"),
                    None,
                ),
            );
        }
    }
    let (Some(index), Some(entry), Some(bits), Some(memory)) = (
        index,
        v.u("core.synapse_cost.axon_entry_bits"),
        v.u(WEIGHT_BITS),
        v.u("core.synapse_memory_bits"),
    ) else {
        return;
    };
    let one = index + entry + bits;
    if memory < one {
        push(
            out,
            v.problem(
                "core.synapse_memory_bits",
                format!(
                    "{memory} bits cannot hold even one synapse ({one} bits with its axon entry)"
                ),
                format!("at least {one} (weight_bits + index_bits + axon_entry_bits)"),
                None,
            ),
        );
    }
}

fn decay_fields(v: &Values, out: &mut Vec<Problem>) {
    let Some(decay) = v.e("neuron.decay") else {
        return;
    };
    if decay == "shift" {
        // Written at their defaults they are harmless (a serialized target writes every field).
        for path in [
            "neuron.decay_bits",
            "neuron.current_decay_offset",
            "neuron.voltage_decay_offset",
        ] {
            let default = crate::table::field(path)
                .and_then(|f| f.default)
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or_default();
            if v.u(path).is_some_and(|x| x != default) {
                push(
                    out,
                    v.problem(
                        path,
                        "only applies to `decay: multiplicative`; a shift decay has no fixed-point fraction".into(),
                        format!("the default ({default}) or no value with `decay: shift`"),
                        Some("remove it".into()),
                    ),
                );
            }
        }
    }
    if decay == "multiplicative" && v.b("neuron.shift_min_step") == Some(true) {
        push(
            out,
            v.problem(
                "neuron.shift_min_step",
                "only applies to `decay: shift`".into(),
                "false (or no value) with `decay: multiplicative`".into(),
                Some("remove it".into()),
            ),
        );
    }
}

fn multi_spike_reset(v: &Values, out: &mut Vec<Problem>) {
    if v.e("neuron.reset") != Some("zero") {
        return;
    }
    for path in [
        "neuron.max_spikes_per_tick",
        "neuron.readout_max_spikes_per_tick",
    ] {
        if let Some(n) = v.u(path).filter(|&n| n > 1) {
            push(
                out,
                v.problem(
                    path,
                    format!("{n} spikes per tick need a subtractive reset, but reset is `zero`"),
                    "1 with `reset: zero`".into(),
                    Some("set `neuron.reset: subtract`, or 1 spike per tick".into()),
                ),
            );
        }
    }
}

fn two_currents(v: &Values, out: &mut Vec<Problem>) {
    if v.u("neuron.synaptic_currents").is_some_and(|n| n > 1)
        && v.e("neuron.accumulate") != Some("per_event_saturating")
    {
        push(
            out,
            v.problem(
                "neuron.synaptic_currents",
                "a second synaptic current needs `accumulate: per_event_saturating`".into(),
                "1 with `accumulate: sum_then_add`".into(),
                Some("set `neuron.synaptic_currents: 1`".into()),
            ),
        );
    }
}

fn saturating_accumulate(v: &Values, out: &mut Vec<Problem>) {
    if v.e("neuron.accumulate") != Some("per_event_saturating") {
        return;
    }
    if let Some(overflow) = v
        .e("precision.current_overflow")
        .filter(|o| !o.starts_with("saturate"))
    {
        push(
            out,
            v.problem(
                "precision.current_overflow",
                format!("`{overflow}` contradicts `accumulate: per_event_saturating`"),
                "saturate or saturate_symmetric".into(),
                None,
            ),
        );
    }
}

fn fanin_split_accumulate(v: &Values, out: &mut Vec<Problem>) {
    if v.b("core.fanin_split") == Some(true)
        && v.e("neuron.accumulate") == Some("per_event_saturating")
    {
        push(
            out,
            v.problem(
                "core.fanin_split",
                "`true` contradicts `neuron.accumulate: per_event_saturating`".into(),
                "false, or `accumulate: sum_then_add`".into(),
                Some(
                    "partial sums are exact only when inputs are summed before they are added"
                        .into(),
                ),
            ),
        );
    }
}

fn threshold_fits(v: &Values, out: &mut Vec<Problem>) {
    let (Some(t), Some(s), Some(vb)) = (
        v.u("precision.threshold_bits"),
        v.u("precision.threshold_shift"),
        v.u("precision.voltage_bits"),
    ) else {
        return;
    };
    if t + s > vb {
        push(
            out,
            v.problem(
                "precision.threshold_bits",
                format!(
                    "{t} threshold bits shifted by {s} need {} bits, more than voltage_bits {vb}",
                    t + s
                ),
                format!(
                    "at most {} (voltage_bits - threshold_shift)",
                    vb.saturating_sub(s)
                ),
                None,
            ),
        );
    }
}

/// Bits of the largest weight magnitude plus sign, as the current sees it.
fn weight_width(v: &Values) -> Option<u64> {
    let bits = v.u(WEIGHT_BITS)?;
    match v.e("precision.weight_encoding")? {
        "loihi_sign_mode" => Some(bits.max(8) + 1),
        _ => Some(bits),
    }
}

fn weight_fits_current(v: &Values, out: &mut Vec<Problem>) {
    let (Some(w), Some(shift), Some(max), Some(cb)) = (
        weight_width(v),
        v.u("precision.input_shift"),
        v.i(EXP_MAX),
        v.u("precision.current_bits"),
    ) else {
        return;
    };
    let need = shift + w + u64::try_from(max.max(0)).unwrap_or(0);
    if need > cb {
        push(
            out,
            v.problem(
                "precision.current_bits",
                format!("a weight of {w} bits, shifted by input_shift {shift} and exponent {max}, needs {need} bits"),
                format!("at least {need}"),
                Some("widen current_bits, or lower input_shift, weight_bits or weight_exponent.max".into()),
            ),
        );
    }
}

fn bias_fits(v: &Values, out: &mut Vec<Problem>) {
    let (Some(b), Some(e), Some(vb)) = (
        v.u("precision.bias_bits"),
        v.u("precision.bias_exp_max"),
        v.u("precision.voltage_bits"),
    ) else {
        return;
    };
    if b == 0 && e != 0 {
        push(
            out,
            v.problem(
                "precision.bias_exp_max",
                format!("{e}, but bias_bits 0 says the neurons have no bias"),
                "0".into(),
                None,
            ),
        );
    }
    if b + e > vb {
        push(
            out,
            v.problem(
                "precision.bias_bits",
                format!("a {b}-bit bias shifted by up to {e} needs {} bits, more than voltage_bits {vb}", b + e),
                format!("at most {} (voltage_bits - bias_exp_max)", vb.saturating_sub(e)),
                None,
            ),
        );
    }
}

fn accumulator_fits(v: &Values, out: &mut Vec<Problem>) {
    let (Some(acc), Some(w)) = (v.u("precision.accumulator_bits"), weight_width(v)) else {
        return;
    };
    if acc != 0 && acc < w {
        push(
            out,
            v.problem(
                "precision.accumulator_bits",
                format!("{acc} bits cannot hold one {w}-bit weight"),
                format!("0 (unbounded) or at least {w}"),
                None,
            ),
        );
    }
}

fn whole_tiles(v: &Values, out: &mut Vec<Problem>) {
    let (Some(width), Some(per_tile)) = (v.u("mesh.width"), v.u("mesh.cores_per_tile")) else {
        return;
    };
    if per_tile > 0 && width % per_tile != 0 {
        push(
            out,
            v.problem(
                "mesh.cores_per_tile",
                format!("`{per_tile}` cores per tile do not divide the mesh width `{width}`"),
                "a divisor of mesh.width".into(),
                None,
            ),
        );
    }
}
