//! Writes a NIR file with 18.3 M weights (dense 3000x3000 input and recurrent layers), to time
//! an import the way a user runs it (`docs/nir.md`, "Speed"):
//!
//! ```text
//! cargo run --release -p lifchip-nir --example big_nir -- /tmp/big.nir
//! time lifchip import /tmp/big.nir --out /tmp/big.net
//! ```

#[path = "../tests/common/big_graph.rs"]
mod big_graph;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: big_nir OUT.nir")?;
    let (n_in, n_hidden, n_out) = (3000, 3000, 100);
    let graph = big_graph::big_graph(n_in, n_hidden, n_out);
    std::fs::write(&path, lifchip_nir::to_bytes(&graph)?)?;
    let weights = n_in * n_hidden + n_hidden * n_hidden + n_hidden * n_out;
    println!("wrote {path}: {weights} weights");
    Ok(())
}
