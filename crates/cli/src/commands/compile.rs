//! `lifchip compile`: net + target → CHIPDIR (chip configuration and report.json).

use std::path::{Path, PathBuf};

use clap::Args;
use lifchip_compiler::{CompileReport, QuantizeOptions, RateProfile};
use lifchip_target::Target;

use crate::util::{CliError, CliResult, write_json};

#[derive(Args)]
pub struct CompileArgs {
    /// Net to compile: a net directory or a YAML net file.
    #[arg(long)]
    pub net: PathBuf,
    /// Target: a built-in name (see `lifchip targets list`) or a target YAML file.
    #[arg(long)]
    pub target: String,
    /// Output CHIPDIR.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the report to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Synaptic time constant the chip's current models, in seconds (0: no filtering).
    #[arg(long, default_value_t = 0.005)]
    pub synapse_tau: f64,
    /// Input spikes per tick for a pixel of value 1.
    #[arg(long, default_value_t = 1.0)]
    pub input_rate: f64,
    /// A rate profile of this net (`lifchip profile`): weight the traffic objective by the
    /// measured firing rates and report expected packets per tick.
    #[arg(long)]
    pub profile: Option<PathBuf>,
}

pub fn load_target(name_or_path: &str) -> CliResult<Target> {
    lifchip_target::resolve(name_or_path).map_err(|e| CliError(e.to_string()))
}

pub fn quantize_options(synapse_tau: f64, input_rate: f64) -> CliResult<QuantizeOptions> {
    if !(synapse_tau.is_finite() && synapse_tau >= 0.0) {
        crate::fail!("--synapse-tau {synapse_tau}: expected a number of seconds >= 0");
    }
    if !(input_rate.is_finite() && input_rate > 0.0 && input_rate <= 1.0) {
        crate::fail!("--input-rate {input_rate}: expected spikes per tick in (0, 1]");
    }
    Ok(QuantizeOptions {
        synapse_tau,
        input_rate,
        ..QuantizeOptions::default()
    })
}

/// Prints the human table of a compile report.
pub fn print_report(report: &CompileReport) {
    println!(
        "target {}: {} neurons, {} synapses -> {} cores (lower bound {}), {} inter-core packets per all-spike, max link load {}, {:.3} s",
        report.target,
        report.neurons,
        report.synapses,
        report.cores_used,
        report.cores_lower_bound,
        report.inter_core_spike_packets_estimate,
        report.max_link_load,
        report.compile_seconds
    );
    if report.split_neurons > 0 {
        println!(
            "fan-in split: {} neurons over {} partial-sum compartments (core.fanin_split)",
            report.split_neurons, report.partial_compartments
        );
    }
    if let (Some(packets), Some(hops)) = (
        report.expected_packets_per_tick,
        report.expected_packet_hops_per_tick,
    ) {
        println!(
            "expected traffic {packets:.2} inter-core packets/tick, {hops:.2} packet-hops/tick (rate profile: {})",
            report.rate_profile.as_deref().unwrap_or("?")
        );
    }
    if !report.quantization.is_empty() {
        println!(
            "{:<16} {:>5} {:>4} {:>10} {:>8} {:>8} {:>7} {:>9}",
            "layer", "bits", "exp", "rms_err", "clipped", "zeroed", "silent", "identical"
        );
        for q in &report.quantization {
            println!(
                "{:<16} {:>5} {:>4} {:>10.4} {:>8} {:>8} {:>7} {:>9}",
                q.layer,
                q.weight_bits,
                q.weight_exp,
                q.rms_relative_error,
                q.weights_clipped,
                q.weights_zeroed,
                q.silent_neurons,
                q.identical_neurons
            );
        }
    }
}

/// Compiles (with a rate profile when given) and writes CHIPDIR; returns the report. On
/// violations, writes the JSON report (when asked), prints every violation and fails.
pub fn compile_to_dir(
    net: &lifchip_net::Net,
    target: &Target,
    opts: &QuantizeOptions,
    profile: Option<&RateProfile>,
    out: &Path,
    json: Option<&Path>,
) -> CliResult<CompileReport> {
    match lifchip_compiler::compile_with_profile(net, target, opts, profile) {
        Ok((mapped, report)) => {
            let mut config = lifchip_backend_core::emit(&mapped, target);
            config.input_rate = opts.input_rate;
            lifchip_chip::write_chipdir(&config, out)?;
            write_json(&out.join("report.json"), &report)?;
            if let Some(j) = json {
                write_json(j, &report)?;
            }
            Ok(report)
        }
        Err(report) => {
            if let Some(j) = json {
                write_json(j, &report)?;
            }
            let list: Vec<String> = report
                .violations
                .iter()
                .map(|v| format!("  - {v}"))
                .collect();
            if !report.internal_errors.is_empty() {
                let errors: Vec<String> = report
                    .internal_errors
                    .iter()
                    .map(|e| format!("  - {e}"))
                    .collect();
                return Err(CliError(format!(
                    "compiler bug (please report): the partition of net {:?} failed verification:\n{}",
                    net.name,
                    errors.join("\n")
                )));
            }
            if report
                .violations
                .iter()
                .all(|v| v.kind == lifchip_compiler::ViolationKind::RateProfile)
            {
                return Err(CliError(format!(
                    "the rate profile does not describe net {:?}:\n{}",
                    net.name,
                    list.join("\n")
                )));
            }
            Err(CliError(format!(
                "net {:?} does not fit target {:?}; {} violation(s):\n{}",
                net.name,
                target.name,
                list.len(),
                list.join("\n")
            )))
        }
    }
}

pub fn run(args: CompileArgs) -> CliResult<()> {
    let target = load_target(&args.target)?;
    let opts = quantize_options(args.synapse_tau, args.input_rate)?;
    let net = lifchip_net::load(&args.net)?;
    let profile = match &args.profile {
        Some(path) => Some(super::profile::load_profile(path)?),
        None => None,
    };
    let report = compile_to_dir(
        &net,
        &target,
        &opts,
        profile.as_ref(),
        &args.out,
        args.json.as_deref(),
    )?;
    print_report(&report);
    println!("wrote {}", args.out.display());
    Ok(())
}
