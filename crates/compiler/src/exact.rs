//! Exact partitioning for small instances: an integer program solved with `good_lp` (microlp),
//! used to prove the heuristic optimal or report its gap (`lifchip compile --exact`).
//!
//! Assumes: a small [`QuantNet`] (a few hundred neurons at most; the model has one binary per
//! neuron and core and one per input axon and core). Guarantees: `Optimal` only when the solver
//! proved optimality; on a time-out, the best solution found is reported as an upper bound;
//! [`check_partition`] returns within its time limit (plus the time to build the model),
//! whatever the solver does. Does not: replace the heuristic — it is a checker.
//!
//! The model charges every synapse its sparse cost. Where the target has dense or shared rows
//! (whose cost depends on compartment order and row contents), [`check_partition`] solves a
//! relaxation instead — each synapse charged the cheapest cell, shared rows free of memory — whose
//! optimum is still a lower bound on the cores.

use std::collections::BTreeMap;

use good_lp::{
    Expression, ProblemVariables, Solution, SolutionStatus, SolverModel, WithInitialSolution,
    WithTimeLimit, constraint, microlp, variable,
};
use lifchip_target::{SynapseCost, Target};

use crate::{AxonKey, Mapped, Partition, QuantNet, lower_bounds};

/// What the exact solver established about the minimum number of cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExactCores {
    /// The minimum, proven.
    Optimal(u64),
    /// The time limit ran out; the best partition found uses this many cores.
    AtMost(u64),
    /// No solution within `max_cores` cores, the solver failed, or the target allows dense or
    /// shared rows (their cost depends on compartment order and row contents, which the model
    /// does not express).
    Unknown,
}

/// Minimum cores for `net` on `target`, searching partitions of at most as many cores as
/// `start` (a heuristic partition, also given to the solver as its first incumbent).
pub fn exact_min_cores(
    net: &QuantNet,
    target: &Target,
    start: &Partition,
    time_limit_seconds: f64,
) -> ExactCores {
    let dense = matches!(
        target.core.synapse_cost,
        SynapseCost::Sparse {
            dense_rows: true,
            ..
        }
    );
    if dense || target.core.shared_kernels {
        return ExactCores::Unknown;
    }
    solve(net, target, start, time_limit_seconds, Memory::Sparse)
}

/// How the model charges synapse memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// Every synapse its sparse cost, every axon its entry: exact for sparse, unshared rows.
    Sparse,
    /// A relaxation for dense or shared rows: every synapse the cheapest cell, or nothing at
    /// all where rows may be shared.
    Relaxed,
}

fn solve(
    net: &QuantNet,
    target: &Target,
    start: &Partition,
    time_limit_seconds: f64,
    memory: Memory,
) -> ExactCores {
    let max_cores = start.cores.len();
    let mut neurons = Vec::new();
    for (p, pop) in net.populations.iter().enumerate() {
        if pop.neuron.is_some() {
            neurons.extend((0..pop.size()).map(|n| (p, n)));
        }
    }
    if neurons.is_empty() || max_cores == 0 {
        return ExactCores::Optimal(0);
    }
    // Axon keys each neuron needs.
    let mut axon_ids: BTreeMap<AxonKey, usize> = BTreeMap::new();
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(neurons.len());
    for &(p, n) in &neurons {
        let mut list = Vec::new();
        for (k, proj) in net
            .projections
            .iter()
            .enumerate()
            .filter(|(_, pr)| pr.to == p)
        {
            for (pre, _) in proj.synapses.inputs(n) {
                let key = AxonKey {
                    projection: k as u32,
                    pre,
                };
                let next = axon_ids.len();
                list.push(*axon_ids.entry(key).or_insert(next));
            }
        }
        needs.push(list);
    }
    let (per_synapse, per_axon) = match (&target.core.synapse_cost, memory) {
        (_, Memory::Relaxed) if target.core.shared_kernels => {
            (0.0, target.axon_entries_bits(1) as f64)
        }
        (_, Memory::Relaxed) => (
            target.min_bits_per_synapse() as f64,
            target.axon_entries_bits(1) as f64,
        ),
        (
            SynapseCost::Sparse {
                index_bits,
                axon_entry_bits,
                ..
            },
            Memory::Sparse,
        ) => (
            f64::from(target.precision.weight_bits + *index_bits),
            f64::from(*axon_entry_bits),
        ),
        (SynapseCost::Crossbar, Memory::Sparse) => (0.0, 0.0),
    };
    let cores = max_cores;
    let mut vars = ProblemVariables::new();
    let used: Vec<_> = (0..cores).map(|_| vars.add(variable().binary())).collect();
    let x: Vec<Vec<_>> = neurons
        .iter()
        .map(|_| (0..cores).map(|_| vars.add(variable().binary())).collect())
        .collect();
    let a: Vec<Vec<_>> = (0..axon_ids.len())
        .map(|_| (0..cores).map(|_| vars.add(variable().binary())).collect())
        .collect();
    let objective: Expression = used.iter().sum();
    // The heuristic partition as the starting incumbent.
    let mut initial = Vec::new();
    initial.extend(used.iter().map(|u| (*u, 1.0)));
    for (i, &(p, n)) in neurons.iter().enumerate() {
        let home = start
            .location
            .get(p)
            .and_then(|l| l.get(n))
            .map_or(usize::MAX, |&(c, _)| c as usize);
        for (k, var) in x[i].iter().enumerate() {
            initial.push((*var, f64::from(u8::from(k == home))));
        }
    }
    for (key, &s) in &axon_ids {
        for (k, var) in a[s].iter().enumerate() {
            let present = start.cores.get(k).is_some_and(|c| c.axons.contains(key));
            initial.push((*var, f64::from(u8::from(present))));
        }
    }
    let mut model = vars
        .minimise(objective)
        .using(microlp)
        .with_time_limit(time_limit_seconds)
        .with_initial_solution(initial);
    for row in &x {
        model = model.with(constraint!(row.iter().sum::<Expression>() == 1));
    }
    // Symmetry breaking: cores are used in order.
    for k in 1..cores {
        model = model.with(constraint!(used[k] <= used[k - 1]));
    }
    for (i, list) in needs.iter().enumerate() {
        for &s in list {
            for k in 0..cores {
                model = model.with(constraint!(a[s][k] >= x[i][k]));
            }
        }
    }
    let max_neurons = f64::from(target.core.neurons);
    let max_axons = f64::from(target.core.input_axons);
    let max_bits = target.core.synapse_memory_bits as f64;
    for k in 0..cores {
        let count: Expression = x.iter().map(|row| row[k]).sum();
        model = model.with(constraint!(count <= max_neurons * used[k]));
        let axons: Expression = a.iter().map(|row| row[k]).sum();
        model = model.with(constraint!(axons <= max_axons * used[k]));
        if per_synapse > 0.0 || per_axon > 0.0 {
            let bits: Expression = x
                .iter()
                .zip(&needs)
                .map(|(row, list)| per_synapse * list.len() as f64 * row[k])
                .sum::<Expression>()
                + a.iter().map(|row| per_axon * row[k]).sum::<Expression>();
            model = model.with(constraint!(bits <= max_bits * used[k]));
        }
    }
    match model.solve() {
        Ok(solution) => {
            let n = used.iter().filter(|&&u| solution.value(u) > 0.5).count() as u64;
            match solution.status() {
                SolutionStatus::Optimal => ExactCores::Optimal(n),
                _ => ExactCores::AtMost(n),
            }
        }
        Err(_) => ExactCores::Unknown,
    }
}

/// The outcome of [`check_partition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExactStatus {
    /// The heuristic's core count is proven minimal.
    Optimal,
    /// The best lower bound is below the heuristic's core count (by the ILP optimum, or by a
    /// relaxation of it where rows are dense or shared).
    Gap,
    /// The model would be too big to build (see [`EXACT_MAX_BINARIES`]); the bound is the
    /// resource bound.
    TooBig,
    /// The solver did not finish within the time limit; the bound is the resource bound.
    TimedOut,
    /// The partition splits neurons over compartments, which the model does not express.
    Unsupported,
}

/// What the exact check established about a compiled net (`report.exact` of the JSON report).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExactReport {
    pub status: ExactStatus,
    /// Cores the heuristic used.
    pub heuristic_cores: u64,
    /// The best proven lower bound on the cores any mapping needs.
    pub best_bound: u64,
    /// `heuristic_cores - best_bound`.
    pub gap: u64,
    /// The fewest cores of the exact model when the solver finished (a relaxation's optimum
    /// where rows are dense or shared).
    pub ilp_cores: Option<u64>,
    pub time_limit_seconds: f64,
    pub seconds: f64,
}

/// The largest model [`check_partition`] builds: binaries (neurons + axons) × cores.
pub const EXACT_MAX_BINARIES: usize = 50_000;

/// Proves the heuristic partition of `mapped` optimal or reports its gap, within
/// `time_limit` seconds of solving: the resource bounds first (when they meet the heuristic,
/// it is optimal without a solver), then the ILP on nets small enough, in a worker thread
/// that is abandoned at the deadline (microlp cannot be interrupted; its own time limit is
/// also set). What `lifchip compile --exact [--time-limit S]` reports.
pub fn check_partition(
    mapped: &Mapped,
    target: &Target,
    time_limit: std::time::Duration,
) -> ExactReport {
    let started = std::time::Instant::now();
    let heuristic = mapped.partition.cores.len() as u64;
    // Only the bound that holds for every mapping proves anything.
    let bound = lower_bounds(&mapped.net, target).proven().min(heuristic);
    let report = |status, best_bound: u64, ilp_cores| ExactReport {
        status,
        heuristic_cores: heuristic,
        best_bound,
        gap: heuristic - best_bound,
        ilp_cores,
        time_limit_seconds: time_limit.as_secs_f64(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if bound == heuristic {
        return report(ExactStatus::Optimal, bound, None);
    }
    if !mapped.partition.split.is_empty()
        || target.core.readout_neurons > 0
        || target.core.neuron_rows
    {
        return report(ExactStatus::Unsupported, bound, None);
    }
    let axons: usize = mapped.partition.cores.iter().map(|c| c.axons.len()).sum();
    let binaries = (mapped.net.num_neurons() + axons + 1).saturating_mul(heuristic as usize);
    if binaries > EXACT_MAX_BINARIES {
        return report(ExactStatus::TooBig, bound, None);
    }
    let dense = matches!(
        target.core.synapse_cost,
        SynapseCost::Sparse {
            dense_rows: true,
            ..
        }
    );
    let memory = if dense || target.core.shared_kernels {
        Memory::Relaxed
    } else {
        Memory::Sparse
    };
    let (net, start, target_copy) = (mapped.net.clone(), mapped.partition.clone(), target.clone());
    let seconds = time_limit.as_secs_f64();
    let (send, receive) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("exact-partition".into())
        .spawn(move || {
            // The receiver may be gone after the deadline: nothing to report then.
            let _ = send.send(solve(&net, &target_copy, &start, seconds, memory));
        });
    if spawned.is_err() {
        return report(ExactStatus::TimedOut, bound, None);
    }
    let remaining = time_limit.saturating_sub(started.elapsed());
    match receive.recv_timeout(remaining) {
        Ok(ExactCores::Optimal(cores)) => {
            let best = cores.max(bound).min(heuristic);
            let status = if best == heuristic {
                ExactStatus::Optimal
            } else {
                ExactStatus::Gap
            };
            report(status, best, Some(cores))
        }
        Ok(ExactCores::AtMost(_)) | Err(_) => report(ExactStatus::TimedOut, bound, None),
        Ok(ExactCores::Unknown) => report(ExactStatus::Unsupported, bound, None),
    }
}
