//! Prints a CHIPDIR's chip configuration as JSON on stdout, for tools outside Rust (the
//! SANA-FE comparison of `bench/sanafe` builds the same network, core by core, from it):
//! `cargo run --release -p lifchip-emulator --example chip_json -- CHIPDIR`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: chip_json CHIPDIR");
        return ExitCode::from(2);
    };
    let config = match lifchip_chip::read_chipdir(Path::new(&dir)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::to_string(&config) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{dir}: cannot serialize the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}
