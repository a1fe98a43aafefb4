//! A line-oriented text dump of a chip configuration, stable enough to diff and to use in
//! golden tests.

use std::fmt::Write;

use crate::ChipConfig;

/// Renders `config` as text: header, populations, input fan-out, then per core its groups,
/// compartments (with fan-out) and axon rows (`compartment:weight` pairs). Same configuration,
/// same text.
pub fn dump_text(config: &ChipConfig) -> String {
    let mut s = String::new();
    let t = &config.target;
    let _ = writeln!(
        s,
        "chip config: net {:?} (hash {:016x}), target {:?}",
        config.net_name, config.net_hash, t.name
    );
    let _ = writeln!(
        s,
        "mesh {}x{}, {} cores used, weight bits {} ({:?})",
        t.mesh.width,
        t.mesh.height,
        config.cores.len(),
        t.precision.weight_bits,
        t.precision.weight_encoding
    );
    let _ = writeln!(
        s,
        "input rate {} spikes per tick at value 1",
        config.input_rate
    );
    let _ = writeln!(s, "populations:");
    let mut channel = 0usize;
    for (p, pop) in config.populations.iter().enumerate() {
        let size: usize = pop.shape.iter().product();
        let role = if pop.is_input {
            let r = format!("input channels {channel}..{}", channel + size);
            channel += size;
            r
        } else if p == config.readout as usize {
            "readout".to_string()
        } else {
            "neurons".to_string()
        };
        let _ = writeln!(s, "  {p} {:?} shape {:?} ({role})", pop.name, pop.shape);
    }
    let _ = writeln!(s, "inputs:");
    for (c, dests) in config.inputs.iter().enumerate() {
        let list: Vec<String> = dests
            .iter()
            .map(|d| format!("{}.{}", d.core, d.axon))
            .collect();
        let _ = writeln!(s, "  channel {c} -> [{}]", list.join(" "));
    }
    for core in &config.cores {
        let synapses: usize = core.axons.iter().map(|a| a.synapses.len()).sum();
        let _ = writeln!(
            s,
            "core {} at ({}, {}): {} compartments, {} axons, {} synapses, group exponents {:?}",
            core.id,
            core.x,
            core.y,
            core.compartments.len(),
            core.axons.len(),
            synapses,
            core.group_exponents
        );
        for (k, c) in core.compartments.iter().enumerate() {
            let mut dests: Vec<String> = c
                .destinations
                .iter()
                .map(|d| format!("{}.{}", d.core, d.axon))
                .collect();
            if let Some(root) = c.partial_of {
                dests.push(format!(
                    "partial sum to {}.c{}",
                    root.core, root.compartment
                ));
            }
            let _ = writeln!(
                s,
                "  compartment {k}: pop {} neuron {} du {} dv {} vth {} bias {}<<{} refr {} max_spikes {} u0 {} v0 {} -> [{}]",
                c.population,
                c.neuron,
                c.current_decay,
                c.voltage_decay,
                c.threshold,
                c.bias,
                c.bias_exp,
                c.refractory,
                c.max_spikes,
                c.initial_u,
                c.initial_v,
                dests.join(" ")
            );
        }
        for (a, axon) in core.axons.iter().enumerate() {
            let row: Vec<String> = axon
                .synapses
                .iter()
                .map(|x| format!("{}:{}", x.compartment, x.weight))
                .collect();
            let _ = writeln!(s, "  axon {a} group {}: {}", axon.group, row.join(" "));
        }
    }
    s
}
