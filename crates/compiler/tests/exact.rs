//! The heuristic partition against the exact ILP on random small nets.

mod common;

use common::*;
use lifchip_compiler::*;

/// Deterministic small random instances: (layer sizes, neurons/core, axons/core, memory bits).
fn instances(count: usize, seed: u64) -> Vec<(Vec<usize>, u32, u32, u64)> {
    let mut s = seed;
    let mut next = move |lo: u64, hi: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (s >> 33) % (hi - lo + 1)
    };
    (0..count)
        .map(|_| {
            let layers = next(2, 4) as usize;
            let sizes = (0..layers).map(|_| next(2, 10) as usize).collect();
            (
                sizes,
                next(2, 12) as u32,
                next(8, 40) as u32,
                next(300, 3000),
            )
        })
        .collect()
}

fn compare(count: usize, seed: u64) -> (usize, usize, usize, Vec<String>) {
    let (mut matched, mut proven, mut feasible) = (0, 0, 0);
    let mut misses = Vec::new();
    for (k, (sizes, neurons, axons, mem)) in instances(count, seed).into_iter().enumerate() {
        let net = mlp(&sizes, k as u64);
        // The ILP models sparse rows, unshared: the shipped target's dense and shared rows off.
        let mut target = loihi(neurons, axons, mem);
        if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } =
            &mut target.core.synapse_cost
        {
            *dense_rows = false;
        }
        target.core.shared_kernels = false;
        let Ok((mapped, report)) = compile(&net, &target, &QuantizeOptions::default()) else {
            continue;
        };
        feasible += 1;
        let heuristic = report.cores_used;
        match exact_min_cores(&mapped.net, &target, &mapped.partition, 5.0) {
            ExactCores::Optimal(best) => {
                proven += 1;
                assert!(
                    best <= heuristic,
                    "ILP {best} worse than heuristic {heuristic}"
                );
                assert!(best >= report.cores_lower_bound);
                if best == heuristic {
                    matched += 1;
                } else {
                    misses.push(format!("{sizes:?} n={neurons} a={axons} m={mem}: heuristic {heuristic}, optimum {best}"));
                }
            }
            other => misses.push(format!("{sizes:?}: not proven ({other:?})")),
        }
    }
    (matched, proven, feasible, misses)
}

#[test]
fn heuristic_matches_ilp_on_small_nets() {
    let (matched, proven, feasible, misses) = compare(12, 42);
    assert!(feasible >= 6, "too few feasible instances: {feasible}");
    assert!(proven * 2 >= feasible, "only {proven} of {feasible} proven");
    assert!(
        matched * 10 >= proven * 8,
        "{matched}/{proven} matched:\n{}",
        misses.join("\n")
    );
}

/// The figure of issue #4: `cargo test --release -p lifchip-compiler --test exact -- --ignored --nocapture`.
#[test]
#[ignore]
fn heuristic_vs_ilp_statistics() {
    let (matched, proven, feasible, misses) = compare(200, 7);
    println!(
        "{feasible} feasible, {proven} proven optimal, heuristic matched the optimum in {matched}"
    );
    for m in misses {
        println!("  {m}");
    }
}

#[test]
fn check_partition_proves_or_reports_the_gap() {
    let (mut checked, mut solved) = (0, 0);
    for (k, (sizes, neurons, axons, mem)) in instances(12, 42).into_iter().enumerate() {
        let net = mlp(&sizes, k as u64);
        // The shipped target keeps its dense and shared rows: the check solves a relaxation.
        let target = loihi(neurons, axons, mem);
        let Ok((mapped, report)) = compile(&net, &target, &QuantizeOptions::default()) else {
            continue;
        };
        let limit = std::time::Duration::from_secs(2);
        let exact = check_partition(&mapped, &target, limit);
        checked += 1;
        // The limit holds (the model takes a moment to build on top of it).
        assert!(exact.seconds < limit.as_secs_f64() + 1.0, "{exact:?}");
        assert_eq!(exact.heuristic_cores, report.cores_used);
        let proven = lower_bounds(&mapped.net, &target).proven();
        assert!(proven <= report.cores_lower_bound);
        assert!(exact.best_bound >= proven.min(report.cores_used));
        assert!(exact.best_bound <= exact.heuristic_cores);
        assert_eq!(exact.gap, exact.heuristic_cores - exact.best_bound);
        match exact.status {
            ExactStatus::Optimal => assert_eq!(exact.gap, 0),
            ExactStatus::Gap => assert!(exact.gap > 0 && exact.ilp_cores.is_some()),
            ExactStatus::TimedOut => assert!(exact.ilp_cores.is_none()),
            other => panic!("{sizes:?}: unexpected {other:?}"),
        }
        solved += usize::from(matches!(
            exact.status,
            ExactStatus::Optimal | ExactStatus::Gap
        ));
    }
    assert!(checked >= 6, "too few feasible instances: {checked}");
    assert!(solved * 2 >= checked, "only {solved} of {checked} decided");
}

#[test]
fn check_partition_keeps_its_time_limit_and_refuses_big_models() {
    // Many small cores for a solver: the bound is below the heuristic, so it must run.
    let net = mlp(&[24, 24, 24, 24], 7);
    let mut target = loihi(5, 40, 3000);
    if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } = &mut target.core.synapse_cost {
        *dense_rows = false;
    }
    target.core.shared_kernels = false;
    let (mapped, _) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    let started = std::time::Instant::now();
    let exact = check_partition(&mapped, &target, std::time::Duration::from_millis(20));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(exact.best_bound <= exact.heuristic_cores);
    if exact.status == ExactStatus::TimedOut {
        assert!(exact.ilp_cores.is_none());
    }
    // A net far beyond the model size is not attempted.
    let net = mlp(&[400, 400, 100], 1);
    let target = loihi(16, 512, 1 << 20);
    let (mapped, report) = compile(&net, &target, &QuantizeOptions::default()).unwrap();
    let exact = check_partition(&mapped, &target, std::time::Duration::from_secs(1));
    if report.cores_lower_bound < report.cores_used {
        assert_eq!(exact.status, ExactStatus::TooBig);
    }
}
