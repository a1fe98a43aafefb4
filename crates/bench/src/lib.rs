//! Workload benchmarks of lifchip.
//!
//! [`cuba`] generates the CUBA balanced network (Vogels & Abbott 2005, as in Brian2's `CUBA`
//! example: 80 % excitatory, 20 % inhibitory neurons, random connections with probability `p`)
//! directly in a target's chip units, and the Poisson drive that runs it; [`memory`] reads the
//! process's resident and peak memory. The `cuba` binary compiles, writes, loads and emulates it
//! and prints the figures (`bench/cuba/README.md`).

pub mod cuba;
pub mod memory;
