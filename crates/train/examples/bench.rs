//! Throughput of the example networks:
//! `cargo run --release -p lifchip-train --example bench -- [N] [CONFIG.yaml ...]`
//! (default: 2000 images, examples/mnist-mlp.yaml and examples/mnist-conv.yaml).

use std::path::{Path, PathBuf};

use lifchip_train::{TrainConfig, bench_images_per_second};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n = 2000;
    let mut configs: Vec<PathBuf> = Vec::new();
    for a in std::env::args().skip(1) {
        match a.parse() {
            Ok(v) => n = v,
            Err(_) => configs.push(a.into()),
        }
    }
    if configs.is_empty() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        configs = vec![repo.join("mnist-mlp.yaml"), repo.join("mnist-conv.yaml")];
    }
    for path in configs {
        let config = TrainConfig::load(&path)?;
        let r = bench_images_per_second(&config, n)?;
        println!(
            "{:<12} {:>9} params  train {:>8.0} img/s  rate {:>8.0} img/s  spiking {:>7.1} img/s ({} images, {} threads)",
            r.name,
            r.parameters,
            r.train_images_per_second,
            r.rate_images_per_second,
            r.spiking_images_per_second,
            r.images,
            r.threads
        );
    }
    Ok(())
}
