//! Exact partitioning for small instances: an integer program solved with `good_lp` (microlp),
//! used to prove the heuristic optimal or report its gap.
//!
//! Assumes: a small [`QuantNet`] (a few hundred neurons at most; the model has one binary per
//! neuron and core and one per input axon and core). Guarantees: `Optimal` only when the solver
//! proved optimality; on a time-out, the best solution found is reported as an upper bound.
//! Does not: replace the heuristic — it is a checker.

use std::collections::BTreeMap;

use good_lp::{
    Expression, ProblemVariables, Solution, SolutionStatus, SolverModel, WithInitialSolution,
    WithTimeLimit, constraint, microlp, variable,
};
use lifchip_target::{SynapseCost, Target};

use crate::{AxonKey, Partition, QuantNet};

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
    let (per_synapse, per_axon) = match target.core.synapse_cost {
        SynapseCost::Sparse {
            index_bits,
            axon_entry_bits,
            ..
        } => (
            f64::from(target.precision.weight_bits + index_bits),
            f64::from(axon_entry_bits),
        ),
        SynapseCost::Crossbar => (0.0, 0.0),
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
