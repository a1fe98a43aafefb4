//! End-to-end tests: each drives the `lifchip` binary in a fresh temp dir and reads the files
//! it writes.

mod util;

mod cli_basics;
mod compile_emulate;
mod export_chip;
mod fanin_split;
mod fuzz_cli;
mod hardening;
mod nir;
mod outputs;
mod per_neuron;
mod profile;
mod qat;
mod report;
mod sanafe;
mod sweep;
mod targets;
mod workflow;
