//! The HTML report that `compile --report`, `emulate --report` and `demo --out` write beside
//! their other outputs, through the same renderer as `lifchip report`.

use std::path::Path;

use lifchip_compiler::CompileReport;
use lifchip_report::{ChipInput, CompileSummary, RunSummary};
use lifchip_study::EmulateReport;

use crate::util::CliResult;

/// Renders the report of the CHIPDIR `chip` (and of `run`, an emulation of it) to `out`.
pub fn write_for_chip(chip: &Path, run: Option<&EmulateReport>, out: &Path) -> CliResult<()> {
    let input = ChipInput::from_chipdir(chip)?;
    let origin = Path::new("emulation report");
    let run = match run {
        Some(report) => Some(RunSummary::from_json_str(
            &serde_json::to_string(report)?,
            origin,
        )?),
        None => None,
    };
    let html = lifchip_report::render(&input, run.as_ref().map(|r| (r, origin)))?;
    lifchip_report::write_report(out, &html)?;
    Ok(())
}

/// Renders the report of a compile that failed (quantization table and every violation).
pub fn write_for_failed_compile(report: &CompileReport, net: &Path, out: &Path) -> CliResult<()> {
    let summary = CompileSummary::from_json_str(
        &serde_json::to_string(report)?,
        Path::new("compile report"),
    )?;
    let html = lifchip_report::render_failed_compile(&summary, &net.display().to_string());
    lifchip_report::write_report(out, &html)?;
    Ok(())
}
