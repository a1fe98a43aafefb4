//! `lifchip report`: one self-contained HTML page of a CHIPDIR (core map, link loads,
//! quantization, violations) and optionally of an emulation run (rasters, rates, energy).

use std::path::{Path, PathBuf};

use clap::Args;
use lifchip_report::{ChipInput, CompileSummary, RunSummary};

use crate::util::CliResult;

#[derive(Args)]
pub struct ReportArgs {
    /// The CHIPDIR to report on (its report.json is read when present).
    #[arg(required_unless_present = "compile_json")]
    pub chip: Option<PathBuf>,
    /// An emulation report of this chip (`lifchip emulate --json`).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Without a CHIPDIR: the JSON report of a compile that failed (`lifchip compile --json`),
    /// to show its quantization table and violations.
    #[arg(long, conflicts_with = "chip")]
    pub compile_json: Option<PathBuf>,
    /// The HTML file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Refuses to write the report over one of its inputs.
fn check_not_input(out: &Path, inputs: &[&Path]) -> CliResult<()> {
    let Ok(out_full) = out.canonicalize() else {
        return Ok(()); // does not exist yet
    };
    for input in inputs {
        if let Ok(full) = input.canonicalize()
            && (full == out_full || out_full.starts_with(&full))
        {
            crate::fail!(
                "--out {}: that is an input of the report; expected a new file name",
                out.display()
            );
        }
    }
    Ok(())
}

pub fn run(args: ReportArgs) -> CliResult<()> {
    {
        use crate::outputs::{Kind, Output, check};
        let mut ins: Vec<(&str, &std::path::Path)> = Vec::new();
        if let Some(p) = &args.chip {
            ins.push(("CHIPDIR", p.as_path()));
        }
        if let Some(p) = &args.run {
            ins.push(("--run", p.as_path()));
        }
        if let Some(p) = &args.compile_json {
            ins.push(("--compile-json", p.as_path()));
        }
        check(&[Output::new("--out", &args.out, Kind::File)], &ins)?;
    }
    let html = match (&args.chip, &args.compile_json) {
        (Some(dir), _) => {
            let mut inputs = vec![dir.as_path()];
            inputs.extend(args.run.as_deref());
            check_not_input(&args.out, &inputs)?;
            let chip = ChipInput::from_chipdir(dir)?;
            let run = match &args.run {
                Some(path) => Some((RunSummary::from_file(path)?, path.as_path())),
                None => None,
            };
            lifchip_report::render(&chip, run.as_ref().map(|(r, p)| (r, *p)))?
        }
        (None, Some(file)) => {
            if args.run.is_some() {
                crate::fail!("--run needs the CHIPDIR the run used; a failed compile has none");
            }
            check_not_input(&args.out, &[file.as_path()])?;
            let compile = CompileSummary::from_file(file)?;
            lifchip_report::render_failed_compile(&compile, &file.display().to_string())
        }
        (None, None) => crate::fail!("give a CHIPDIR or --compile-json FILE"),
    };
    lifchip_report::write_report(&args.out, &html)?;
    println!("wrote {} ({} bytes)", args.out.display(), html.len());
    Ok(())
}
