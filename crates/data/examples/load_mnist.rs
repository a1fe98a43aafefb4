//! Loads both bundled MNIST splits, prints their shape and how long each load took.
//!
//! `cargo run --release -p lifchip-data --example load_mnist [SOURCE]` (SOURCE: "mnist" or a folder).

use std::process::ExitCode;
use std::time::Instant;

use lifchip_data::{DataError, DataSource, Split, load};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), DataError> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mnist".to_string());
    let source = DataSource::parse(&arg)?;
    println!("source: {source} ({})", source.resolve_dir()?.display());
    for split in [Split::Train, Split::Test] {
        let start = Instant::now();
        let ds = load(&source, split, None)?;
        let elapsed = start.elapsed();
        println!(
            "{split}: {} images {}×{}, {} classes, {} MB of pixels, loaded in {:.1} ms",
            ds.n,
            ds.rows,
            ds.cols,
            ds.num_classes(),
            ds.images.len() / 1_000_000,
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
