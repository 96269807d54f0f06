//! `faultline report`: the report rebuilt from existing JSON lines — files or
//! sweep directories, merged. Lines are untrusted data: streamed, bounded,
//! never opened as paths; duplicates are dropped, and runs of different
//! faultline versions or scenario texts are not mixed unless asked for.

use super::sweep::provenance;
use super::{BadInput, Ctx};
use crate::scenario::{open_regular, Scenario};
use anyhow::anyhow;
use faultline_reports::record::{self, content_hash, Line, ScenarioText};
use faultline_reports::summary::SummaryBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Files of JSON lines (`run --json`), or sweep directories (their runs.jsonl).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The directory to write report.html, report.md and the charts into.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge runs of different faultline versions or scenario texts anyway.
    #[arg(long)]
    pub allow_mixed: bool,
}

/// What the inputs held, as it streams in.
#[derive(Default)]
struct Merged {
    summary: SummaryBuilder,
    /// Run key → trace hash, to drop duplicates and catch disagreeing ones.
    seen: BTreeMap<String, String>,
    duplicates: usize,
    versions: BTreeSet<String>,
    /// Scenario name → the hashes of the texts its runs ran.
    hashes: BTreeMap<String, BTreeSet<String>>,
    texts: BTreeSet<ScenarioText>,
    /// Runs a sweep planned, in the input being read.
    planned: Option<u64>,
}

impl Merged {
    fn take(&mut self, line: Line, allow_mixed: bool) -> Result<(), String> {
        let r = match line {
            Line::Text(t) => {
                if content_hash(t.text.as_bytes()) != t.hash {
                    return Err(format!("the text of scenario {:?} does not match its hash", t.name));
                }
                self.texts.insert(t);
                return Ok(());
            }
            Line::Plan(p) => {
                self.planned = Some(p.runs);
                return Ok(());
            }
            Line::Run(r) => r,
        };
        let version = r.version.clone().unwrap_or_else(|| "unknown".into());
        if self.versions.insert(version) && self.versions.len() > 1 && !allow_mixed {
            let v: Vec<_> = self.versions.iter().map(String::as_str).collect();
            return Err(format!("runs of faultline {} mixed (--allow-mixed merges them)", v.join(" and ")));
        }
        let hashes = self.hashes.entry(r.scenario.clone()).or_default();
        if hashes.insert(r.scenario_hash.clone().unwrap_or_default()) && hashes.len() > 1 && !allow_mixed {
            return Err(format!(
                "runs of different texts of scenario {:?} mixed (--allow-mixed merges them)",
                r.scenario
            ));
        }
        match self.seen.get(&r.key()) {
            Some(hash) if *hash == r.trace_hash => {
                self.duplicates += 1;
                return Ok(());
            }
            Some(hash) => {
                return Err(format!(
                    "{} / {} seed {} was run twice with different trace hashes ({hash}, {}): \
                     not one deterministic run",
                    r.scenario, r.protocol, r.seed, r.trace_hash
                ))
            }
            None => {}
        }
        self.seen.insert(r.key(), r.trace_hash.clone());
        self.summary.add(&r);
        Ok(())
    }
}

pub(super) fn report(ctx: &Ctx, a: Args) -> Result<(), BadInput> {
    let mut merged = Merged::default();
    for input in &a.inputs {
        let file = if input.is_dir() { input.join("runs.jsonl") } else { input.clone() };
        let reader = open(&file)?;
        let origin = file.display().to_string();
        let mut lines = 0;
        merged.planned = None;
        let read = record::read(reader, &origin, |line| {
            lines += usize::from(matches!(line, Line::Run(_)));
            merged.take(line, a.allow_mixed)
        })
        .map_err(|e| anyhow!(e))?;
        if read.torn {
            eprintln!("warning: {origin}: its last line was cut off mid-write (a killed run?); left out");
        }
        if let Some(planned) = merged.planned.filter(|p| (lines as u64) < *p) {
            eprintln!(
                "warning: {origin} holds {lines} of the {planned} runs its sweep planned: an interrupted \
                 sweep (the same sweep command with --resume carries it on)"
            );
        }
    }
    let runs = merged.seen.len();
    if runs == 0 {
        return Err(anyhow!("no runs in the {} inputs", a.inputs.len()).into());
    }
    // Only the texts of scenarios whose runs are in the report, as they ran.
    let texts = merged
        .texts
        .iter()
        .filter(|t| merged.hashes.get(&t.name).is_some_and(|h| h.contains(&t.hash)))
        .map(|t| (t.name.clone(), t.text.clone()))
        .collect();
    let summary = merged.summary.finish();
    let mut made = provenance(texts);
    // The scenarios as they ran, from their texts in the inputs: to run the
    // chosen seeds again, over time. A text that no longer parses (a newer
    // faultline's field, say) only goes without its runs over time.
    let scenarios: Vec<Scenario> = (made.scenarios.iter())
        .filter_map(|(name, text)| Scenario::parse(text, name, &ctx.registry).ok())
        .collect();
    crate::over_time::choose(&mut made, &summary, &scenarios, &ctx.registry);
    let report = faultline_reports::build_from(&summary, &made);
    crate::output::write_report(&report, &a.out)?;
    let dropped = match merged.duplicates {
        0 => String::new(),
        n => format!(" ({n} duplicate lines dropped)"),
    };
    println!(
        "{runs} runs{dropped}; wrote {} ({} KB) and {}",
        a.out.join("report.html").display(),
        report.html.len() / 1024,
        a.out.join("report.md").display()
    );
    Ok(())
}

/// A file of lines to read: a regular file (see [`open_regular`]).
fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, BadInput> {
    let (file, _) = open_regular(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(std::io::BufReader::new(file))
}
