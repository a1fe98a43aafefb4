//! What a rate profile buys: compile a net with and without its measured firing rates and
//! compare the expected inter-core spike packets (and packets × hops) per tick, both counted
//! with the same measured rates.
//!
//! ```text
//! lifchip profile --net /tmp/runs/mlp.net --out /tmp/mlp-rates.json
//! cargo run --release -p lifchip-cli --example profile_gain -- \
//!     --net /tmp/runs/mlp.net --profile /tmp/mlp-rates.json \
//!     --target loihi-like --target /tmp/loihi-128.yaml
//! ```
//!
//! The baseline is the mapping made without the profile (every neuron counted as spiking
//! once), its expected traffic then measured with the profile's rates.

use std::{error::Error, path::PathBuf};

use clap::Parser;
use lifchip_compiler::{QuantizeOptions, RateProfile, compile, compile_with_profile};

#[derive(Parser)]
struct Args {
    /// The float net the profile was measured on.
    #[arg(long)]
    net: PathBuf,
    /// A rate profile written by `lifchip profile`.
    #[arg(long)]
    profile: PathBuf,
    /// Targets (built-in names or YAML files); repeat the flag for several.
    #[arg(long, required = true)]
    target: Vec<String>,
    /// Input spikes per tick for a pixel of value 1 (as given to `lifchip profile`).
    #[arg(long, default_value_t = 1.0)]
    input_rate: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let net = lifchip_net::load(&args.net)?;
    let text = std::fs::read_to_string(&args.profile)
        .map_err(|e| format!("{}: {e}", args.profile.display()))?;
    let profile: RateProfile =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.profile.display()))?;
    let opts = QuantizeOptions {
        input_rate: args.input_rate,
        ..QuantizeOptions::default()
    };
    println!("net {:?}, profile: {}", net.name, profile.source);
    println!(
        "{:<20} {:>11} {:>13} {:>13} {:>7} {:>13} {:>13} {:>7}",
        "target",
        "cores w/o|w",
        "packets w/o",
        "packets with",
        "gain",
        "pk-hops w/o",
        "pk-hops with",
        "gain"
    );
    for name in &args.target {
        let target = lifchip_target::resolve(name)?;
        let fail = |r: Box<lifchip_compiler::CompileReport>| {
            let list: Vec<String> = r.violations.iter().map(|v| v.to_string()).collect();
            format!("{name}: does not map: {}", list.join("; "))
        };
        let (mut plain, plain_report) = compile(&net, &target, &opts).map_err(fail)?;
        let (_, with) = compile_with_profile(&net, &target, &opts, Some(&profile)).map_err(fail)?;
        plain.net.packet_weights = Some(profile.weights());
        let (packets0, hops0) =
            lifchip_compiler::expected_traffic(&plain.net, &plain.partition, &plain.positions)
                .ok_or("no expected traffic without packet weights")?;
        let (packets1, hops1) = with
            .expected_packets_per_tick
            .zip(with.expected_packet_hops_per_tick)
            .ok_or("the report of a profiled compile lacks expected traffic")?;
        let gain = |before: f64, after: f64| {
            if before > 0.0 {
                format!("{:+.1}%", 100.0 * (after - before) / before)
            } else {
                "-".into()
            }
        };
        println!(
            "{:<20} {:>11} {:>13.2} {:>13.2} {:>7} {:>13.2} {:>13.2} {:>7}",
            target.name,
            format!("{}|{}", plain_report.cores_used, with.cores_used),
            packets0,
            packets1,
            gain(packets0, packets1),
            hops0,
            hops1,
            gain(hops0, hops1)
        );
    }
    Ok(())
}
