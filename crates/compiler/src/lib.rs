//! The lifchip compiler: a network onto a target's cores.
//!
//! Passes, each in its own module with its contract in the module doc:
//! [`quantize`] (float soft-LIF → the target's integer formats) → [`partition`] (neurons → cores
//! under every per-core limit) → [`place`] (cores → mesh positions) → [`route`] (fan-out,
//! link loads). [`compile`] runs them in order, verifies the partition, and returns a
//! [`Mapped`] program plus a [`CompileReport`] (the JSON of `lifchip compile --json`). When the
//! net cannot be mapped, the report lists **every** violated limit; a partition the verifier
//! rejects (a compiler bug) is reported apart, in [`CompileReport::internal_errors`].
//! [`check_partition`] runs the exact ILP on a compiled net (`lifchip compile --exact`).
//!
//! This crate does not write chip configurations (that is `lifchip-backend-core`) and does not
//! run anything.

mod exact;
mod expand;
mod graph;
mod partition;
mod place;
mod profile;
mod quantize;
mod reference;
mod report;
mod route;

pub use exact::{ExactCores, ExactReport, ExactStatus, check_partition, exact_min_cores};
pub use expand::{Fanin, expand};
pub use graph::{population_graph, population_order};
pub use partition::{
    AxonKey, BoundLimit, CoreAssignment, CoreBounds, Partition, SplitNeuron, VerifyError,
    fanin_estimate, incoming_projections, lower_bounds, partition, share_inputs, splittable,
    verify,
};
pub use place::{expected_traffic, place, refine_placement, traffic_hops};
pub use profile::{PopulationRates, RateProfile};
pub use quantize::{
    LayerQuantization, QuantNet, QuantNeuron, QuantPopulation, QuantProjection, QuantizeOptions,
    quantize,
};
pub use reference::{ReferenceRun, overflow, run_reference};
pub use report::{CompileReport, CoreReport, Violation, ViolationKind};
pub use route::{Traffic, route};

use lifchip_net::Net;
use lifchip_target::Target;

/// A net mapped onto a target: everything a backend needs to emit a chip configuration.
#[derive(Clone, Debug)]
pub struct Mapped {
    pub net: QuantNet,
    pub partition: Partition,
    pub positions: Vec<(u32, u32)>,
    pub traffic: Traffic,
}

/// Runs every pass. On success returns the mapped program and its report; when the net does not
/// fit, returns the report whose `violations` list every problem; when the verifier rejects the
/// compiler's own partition (a bug), the report's `internal_errors` say why and `violations` is
/// empty.
pub fn compile(
    net: &Net,
    target: &Target,
    opts: &QuantizeOptions,
) -> Result<(Mapped, CompileReport), Box<CompileReport>> {
    compile_with_profile(net, target, opts, None)
}

/// [`compile`], with measured firing rates weighting the traffic objective: the partitioner
/// prefers cores where a neuron's busiest inputs already arrive, and placement minimises
/// expected packets × hops per tick. A profile that does not describe `net` is a violation.
pub fn compile_with_profile(
    net: &Net,
    target: &Target,
    opts: &QuantizeOptions,
    profile: Option<&RateProfile>,
) -> Result<(Mapped, CompileReport), Box<CompileReport>> {
    let started = std::time::Instant::now();
    let mut report = CompileReport::empty(&target.name);
    let quant = quantize(net, target, opts);
    let lap = report.lap("quantize", started);
    let mut quant = match quant {
        Ok(q) => q,
        Err(v) => {
            report.violations = v;
            report.compile_seconds = started.elapsed().as_secs_f64();
            return Err(Box::new(report));
        }
    };
    if let Some(profile) = profile {
        if let Err(v) = profile.check(&quant, opts) {
            report.violations = vec![v];
            report.compile_seconds = started.elapsed().as_secs_f64();
            return Err(Box::new(report));
        }
        quant.packet_weights = Some(profile.weights());
        report.rate_profile = Some(profile.source.clone());
    }
    report.neurons = quant.num_neurons() as u64;
    report.synapses = quant.num_synapses() as u64;
    report.quantization = quant.layers.clone();
    let bounds = lower_bounds(&quant, target);
    report.cores_lower_bound = bounds.best();
    report.cores_lower_bound_by = bounds.binding();
    report.cores_fanin_estimate = fanin_estimate(&quant, target);
    // A lower bound above the mesh size is a violation of its own, reported beside any others.
    let mesh_violation = (report.cores_lower_bound > target.num_cores()).then(|| Violation {
        kind: ViolationKind::Cores,
        place: "mesh".into(),
        value: report.cores_lower_bound as i64,
        limit: target.num_cores() as i64,
        hint: format!(
            "the net needs {bounds}; enlarge mesh.width x mesh.height ({} x {}) or the per-core limits",
            target.mesh.width,
            target.mesh.height
        ),
    });
    let partition = partition(&quant, target);
    let lap = report.lap("partition", lap);
    let partition = match partition {
        Ok(p) => p,
        Err(mut v) => {
            v.extend(mesh_violation);
            report.violations = v;
            report.compile_seconds = started.elapsed().as_secs_f64();
            return Err(Box::new(report));
        }
    };
    let problems = verify(&quant, &partition, target);
    let lap = report.lap("verify", lap);
    if !problems.is_empty() {
        report.internal_errors = problems;
        report.compile_seconds = started.elapsed().as_secs_f64();
        return Err(Box::new(report));
    }
    report.cores_used = partition.cores.len() as u64;
    report.split_neurons = partition.split.len() as u64;
    report.partial_compartments = partition
        .split
        .values()
        .map(|s| s.partials.len() as u64)
        .sum();
    let positions = match place(&partition, target, quant.readout as u32, &|k| {
        partition::counted_axons(&quant, target, &k.axons) as u64
    }) {
        Ok(p) => p,
        Err(v) => {
            // The cores the partition made, unplaced (x = y = 0): what needed more cores.
            report.per_core = partition
                .cores
                .iter()
                .enumerate()
                .map(|(k, core)| CoreReport {
                    core: k as u32,
                    x: 0,
                    y: 0,
                    neurons: core.neurons.len() as u64,
                    input_axons: partition::counted_axons(&quant, target, &core.axons) as u64,
                    synapse_bits: core.synapse_bits,
                })
                .collect();
            report.cores_used = partition.cores.len() as u64;
            report.violations = vec![v];
            report.compile_seconds = started.elapsed().as_secs_f64();
            return Err(Box::new(report));
        }
    };
    let positions = refine_placement(&quant, &partition, &positions, target);
    report.traffic_hops = traffic_hops(&quant, &partition, &positions);
    if let Some((packets, packet_hops)) = expected_traffic(&quant, &partition, &positions) {
        report.expected_packets_per_tick = Some(packets);
        report.expected_packet_hops_per_tick = Some(packet_hops);
    }
    let lap = report.lap("place", lap);
    let (traffic, violations) = route(&quant, &partition, &positions, target);
    report.lap("route", lap);
    report.per_core = partition
        .cores
        .iter()
        .zip(&positions)
        .enumerate()
        .map(|(k, (core, &(x, y)))| CoreReport {
            core: k as u32,
            x,
            y,
            neurons: core.neurons.len() as u64,
            input_axons: partition::counted_axons(&quant, target, &core.axons) as u64,
            synapse_bits: core.synapse_bits,
        })
        .collect();
    report.inter_core_spike_packets_estimate = traffic.inter_core_packets;
    report.max_link_load = traffic.max_link_load;
    report.compile_seconds = started.elapsed().as_secs_f64();
    if !violations.is_empty() {
        report.violations = violations;
        return Err(Box::new(report));
    }
    Ok((
        Mapped {
            net: quant,
            partition,
            positions,
            traffic,
        },
        report,
    ))
}
