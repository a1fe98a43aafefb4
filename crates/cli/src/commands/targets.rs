//! `lifchip targets list | show | check`.

use std::path::PathBuf;

use crate::util::{CliError, CliResult};

pub fn list() -> CliResult<()> {
    for name in lifchip_target::builtin_names() {
        match lifchip_target::builtin(name) {
            Some(t) => println!(
                "{name:<16} {}x{} cores, {} neurons/core, {}-bit weights  {}",
                t.mesh.width,
                t.mesh.height,
                t.core.neurons,
                t.precision.weight_bits,
                t.description.lines().next().unwrap_or("")
            ),
            None => {
                println!("{name:<16} (fails its own check: run `lifchip targets check {name}`)")
            }
        }
    }
    Ok(())
}

/// Prints built-in target `name`'s YAML as shipped, so a variant can start from it.
pub fn show(name: &str) -> CliResult<()> {
    match lifchip_target::builtin_source(name) {
        Some(text) => {
            print!("{text}");
            Ok(())
        }
        None => Err(CliError(format!(
            "no built-in target named {name:?}; built-in targets: {}",
            lifchip_target::builtin_names().join(", ")
        ))),
    }
}

pub fn check(files: &[PathBuf]) -> CliResult<()> {
    let mut failed = 0;
    for file in files {
        match lifchip_target::resolve(&file.to_string_lossy()) {
            Ok(t) => println!("{}: ok (target {})", file.display(), t.name),
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError(format!(
            "{failed} of {} target file(s) have problems",
            files.len()
        )));
    }
    Ok(())
}
