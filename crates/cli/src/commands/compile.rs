//! `lifchip compile`: net + target → CHIPDIR (chip configuration and report.json).

use std::{path::PathBuf, time::Duration};

use clap::Args;
use lifchip_compiler::CompileReport;
use lifchip_study::{DeployFailure, Deployment};

use crate::{
    html_report,
    util::{CliResult, write_json},
};

#[derive(Args)]
pub struct CompileArgs {
    /// Net to compile: a net directory, a YAML net file, or a NIR file (`*.nir`).
    #[arg(long)]
    pub net: PathBuf,
    #[command(flatten)]
    pub nir: crate::netfile::NirFlags,
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
    /// Fit each hidden soft-LIF population's chip rate curve to the trained one where the
    /// target cannot hold the refractory period (docs/quantization.md, "Rate matching").
    #[arg(long)]
    pub rate_match: bool,
    /// A rate profile of this net (`lifchip profile`): weight the traffic objective by the
    /// measured firing rates and report expected packets per tick.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Also write a self-contained HTML report of the mapping (of the violations when the net
    /// does not fit).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Prove the partition optimal with the exact ILP, or report the gap to the best lower
    /// bound (`exact` in the report; nets too big for the model get the resource bound).
    #[arg(long)]
    pub exact: bool,
    /// Also export the CHIPDIR in a vendor's format (as `lifchip export-chip`), into
    /// `--backend-out`.
    #[arg(long, value_enum, requires = "backend_out")]
    pub backend: Option<crate::vendor::Backend>,
    /// The directory of the `--backend` export.
    #[arg(long, requires = "backend")]
    pub backend_out: Option<PathBuf>,
    /// Input spikes for the `--backend` export (Xylo: `input.npy`; Lava: the program's input).
    #[arg(long, requires = "backend")]
    pub backend_input_spikes: Option<PathBuf>,
    /// Lava: ticks the exported program runs (default: the input spikes' ticks).
    #[arg(long, requires = "backend")]
    pub backend_ticks: Option<u32>,
    /// Solving time the exact check may take, in seconds.
    #[arg(
        long,
        default_value_t = 30.0,
        requires = "exact",
        allow_negative_numbers = true
    )]
    pub time_limit: f64,
}

/// Prints the human table of a compile report.
fn print_report(report: &CompileReport) {
    println!(
        "target {}: {} neurons, {} synapses -> {} cores (lower bound {}, from {}), {} inter-core packets per all-spike, max link load {}, {:.3} s",
        report.target,
        report.neurons,
        report.synapses,
        report.cores_used,
        report.cores_lower_bound,
        report.cores_lower_bound_by,
        report.inter_core_spike_packets_estimate,
        report.max_link_load,
        report.compile_seconds
    );
    if let Some(exact) = &report.exact {
        println!(
            "exact check: {}, {} cores vs best bound {} (gap {}), {:.2} s of {:.0} s",
            format!("{:?}", exact.status).to_lowercase(),
            exact.heuristic_cores,
            exact.best_bound,
            exact.gap,
            exact.seconds,
            exact.time_limit_seconds
        );
    }
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

pub fn run(args: CompileArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        let mut outs = vec![Output::new("--out", &args.out, Kind::ChipDir)];
        if let Some(p) = &args.json {
            outs.push(Output::new("--json", p, Kind::File));
        }
        if let Some(p) = &args.report {
            outs.push(Output::new("--report", p, Kind::File));
        }
        if let Some(p) = &args.backend_out {
            outs.push(Output::new("--backend-out", p, Kind::Dir));
        }
        let mut ins: Vec<(&str, &std::path::Path)> = vec![("--net", args.net.as_path())];
        if let Some(p) = &args.profile {
            ins.push(("--profile", p.as_path()));
        }
        if let Some(p) = &args.backend_input_spikes {
            ins.push(("--backend-input-spikes", p.as_path()));
        }
        let target = std::path::Path::new(&args.target);
        if target.exists() {
            ins.push(("--target", target));
        }
        check(&outs, &ins)?;
    }
    let exact = if args.exact {
        match Duration::try_from_secs_f64(args.time_limit) {
            Ok(limit) if !limit.is_zero() => Some(limit),
            _ => crate::fail!(
                "--time-limit {}: expected a number of seconds > 0",
                args.time_limit
            ),
        }
    } else {
        None
    };
    let target = lifchip_target::resolve(&args.target)?;
    let options = lifchip_compiler::QuantizeOptions {
        rate_match: args.rate_match,
        ..lifchip_study::quantize_options(args.synapse_tau, args.input_rate)?
    };
    let net = crate::netfile::load_net(&args.net, &args.nir.options()?)?;
    let profile = match &args.profile {
        Some(path) => Some(lifchip_study::profile::load_profile(path)?),
        None => None,
    };
    let deployed = lifchip_study::deploy(Deployment {
        net: &net,
        target: &target,
        options: &options,
        profile: profile.as_ref(),
        chip_dir: &args.out,
        emulation: None,
        exact,
    });
    // The report goes to --json also when the net does not fit: it lists every violation.
    let report = match &deployed {
        Ok(d) => Some(&d.report),
        Err(DeployFailure::Compile(report)) => Some(report.as_ref()),
        Err(_) => None,
    };
    if let (Some(json), Some(report)) = (&args.json, report) {
        write_json(json, report)?;
    }
    if let (Some(html), Err(DeployFailure::Compile(report))) = (&args.report, &deployed) {
        html_report::write_for_failed_compile(report, &args.net, html)?;
        eprintln!("wrote {} (the violations)", html.display());
    }
    let deployed = deployed.map_err(|f| match (f.into_error(&net, &target), &args.profile) {
        // Name the profile file: the study's error knows only the net.
        (e @ lifchip_study::error::StudyError::ProfileMismatch { .. }, Some(path)) => {
            crate::util::CliError(format!("--profile {}: {e}", path.display()))
        }
        // Name the net file the violations come from: the study's error knows only its name.
        (
            e @ (lifchip_study::error::StudyError::DoesNotFit { .. }
            | lifchip_study::error::StudyError::CompilerBug { .. }),
            _,
        ) => crate::util::CliError(format!("--net {}: {e}", args.net.display())),
        (e, _) => e.into(),
    })?;
    print_report(&deployed.report);
    println!("wrote {}", args.out.display());
    if let Some(html) = &args.report {
        html_report::write_for_chip(&args.out, None, html)?;
        println!("wrote {}", html.display());
    }
    if let (Some(backend), Some(out)) = (args.backend, &args.backend_out) {
        let line = crate::vendor::export(&crate::vendor::VendorExport {
            chip: &args.out,
            backend,
            out,
            dt: 1e-3,
            input_spikes: args.backend_input_spikes.as_ref(),
            ticks: args.backend_ticks,
        })?;
        println!("{line}");
    }
    Ok(())
}
