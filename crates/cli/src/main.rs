//! `lifchip`: train soft-LIF networks, compile them onto a neuromorphic core model, emulate the
//! deployment, and study how the target's limits change accuracy, cores, latency and energy.

mod commands;
mod html_report;
mod netfile;
mod outputs;
mod progress;
mod util;
mod vendor;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lifchip",
    version,
    about = "Spiking deep networks from training to a neuromorphic chip"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train → compile → emulate on bundled MNIST and the default target, and print a summary.
    Demo(commands::demo::DemoArgs),
    /// Train a soft-LIF network from a YAML config.
    Train(commands::train::TrainArgs),
    /// Evaluate a net in float rate mode or float spiking mode.
    Eval(commands::eval::EvalArgs),
    /// Measure every neuron's firing rate on training data: a rate profile for `compile --profile`.
    Profile(commands::profile::ProfileArgs),
    /// Compile a net onto a target: quantize, partition, place, route, emit CHIPDIR.
    Compile(commands::compile::CompileArgs),
    /// Run a CHIPDIR in the cycle-accurate emulator.
    Emulate(commands::emulate::EmulateArgs),
    /// Write one self-contained HTML report of a CHIPDIR and optionally an emulation run.
    Report(commands::report::ReportArgs),
    /// Export a CHIPDIR in a vendor's format (Xylo via Rockpool).
    ExportChip(commands::export_chip::ExportChipArgs),
    /// Sweep target parameters: compile and emulate every point, collect results and plots.
    Sweep(commands::sweep::SweepArgs),
    /// Import a NIR file (snnTorch, Norse, Sinabs...) as a lifchip net.
    Import(commands::import::ImportArgs),
    /// Export a float net as a NIR file.
    Export(commands::export::ExportArgs),
    /// List the built-in targets or check target files.
    #[command(subcommand)]
    Targets(TargetsCommand),
}

#[derive(Subcommand)]
enum TargetsCommand {
    /// List the built-in targets.
    List,
    /// Print a built-in target's YAML (start a variant from it).
    Show {
        /// Built-in target name (see `lifchip targets list`).
        name: String,
    },
    /// Check target files, reporting every problem with its line and column.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Target YAML files (or built-in target names).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => commands::demo::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Profile(a) => commands::profile::run(a),
        Command::Compile(a) => commands::compile::run(a),
        Command::Emulate(a) => commands::emulate::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::ExportChip(a) => commands::export_chip::run(a),
        Command::Sweep(a) => commands::sweep::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::Targets(TargetsCommand::List) => commands::targets::list(),
        Command::Targets(TargetsCommand::Show { name }) => commands::targets::show(&name),
        Command::Targets(TargetsCommand::Check(a)) => commands::targets::check(&a.files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(util::CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
