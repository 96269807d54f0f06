//! `faultline report`: the report rebuilt from existing JSON lines — files or
//! sweep directories, merged.

use super::sweep::provenance;
use super::{BadInput, Ctx};
use crate::scenario::catalogue_text;
use anyhow::{anyhow, Context};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
}

pub(super) fn report(_ctx: &Ctx, a: Args) -> Result<(), BadInput> {
    let (inputs, out) = (a.inputs.as_slice(), a.out.as_path());
    let mut records = Vec::new();
    for input in inputs {
        let file = if input.is_dir() { input.join("runs.jsonl") } else { input.clone() };
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        records.extend(
            faultline_reports::record::parse(&text, &file.display().to_string()).map_err(|e| anyhow!(e))?,
        );
    }
    // Records come from anywhere: a scenario named in one is data, never a
    // path to open. Only the compiled-in catalogue's texts are embedded.
    let mut texts: Vec<(String, String)> = Vec::new();
    for r in &records {
        if let Some(text) =
            catalogue_text(&r.scenario).filter(|_| !texts.iter().any(|(n, _)| *n == r.scenario))
        {
            texts.push((r.scenario.clone(), text.to_string()));
        }
    }
    let report = faultline_reports::build(&records, &provenance(texts));
    crate::output::write_report(&report, out)?;
    println!(
        "{} runs; wrote {} ({} KB) and {}",
        records.len(),
        out.join("report.html").display(),
        report.html.len() / 1024,
        out.join("report.md").display()
    );
    Ok(())
}
