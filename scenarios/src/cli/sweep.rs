//! `faultline sweep`: every chosen protocol on every chosen scenario, at every
//! chosen fault intensity, on the same seeds; runs.jsonl as it goes, then the
//! report (with `--shrink`, each violation class's shrunk counterexample).

use super::replay::sequence_of;
use super::run::parse_protocols;
use super::{BadInput, Ctx};
use crate::outcome::Verdict;
use crate::output::{self, Output};
use crate::runner::{self, Variant};
use crate::scenario::{Scenario, CATALOG};
use crate::shrink;
use anyhow::{anyhow, Context};
use faultline_protocols::check::Invariant;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Catalogue names or scenario files (default: the whole catalogue).
    pub scenarios: Vec<String>,
    #[arg(long, short, default_value = "all")]
    pub protocol: String,
    #[arg(long, default_value_t = 50)]
    pub seeds: u64,
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Fault intensities: each scenario's fault rates scaled by these factors.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub intensity: Vec<f64>,
    /// Where runs.jsonl, report.html, report.md and the charts go.
    #[arg(long)]
    pub out: PathBuf,
    /// Shrink the first seed of every violation class and put its sequence
    /// diagram in the report.
    #[arg(long)]
    pub shrink: bool,
}

pub(super) fn sweep(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let Args { scenarios: names, protocol: protocols, seeds, jobs, intensity: intensities, out, shrink } = a;
    let (names, protocols, out, intensities) =
        (names.as_slice(), protocols.as_str(), out.as_path(), &intensities);
    let names: Vec<String> =
        if names.is_empty() { CATALOG.iter().map(|(n, _)| n.to_string()).collect() } else { names.to_vec() };
    let scenarios: Vec<Scenario> = names
        .iter()
        .map(|n| Scenario::load(n, &ctx.registry).map_err(|e| anyhow!(e)))
        .collect::<Result<_, _>>()?;
    let protocols = parse_protocols(ctx, protocols)?;
    if let Some(bad) = intensities.iter().find(|i| !(i.is_finite() && **i >= 0.0)) {
        return Err(anyhow!("--intensity {bad}: a factor is a non-negative number").into());
    }
    let jobs = super::jobs(jobs).max(1);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let runs = out.join("runs.jsonl");
    let mut file = Output::create(&runs)?;
    let total = scenarios.len() as u64 * protocols.len() as u64 * intensities.len() as u64 * seeds;
    println!(
        "sweep: {} scenarios × {} protocols × {} intensities × {seeds} seeds = {total} runs, {jobs} jobs",
        scenarios.len(),
        protocols.len(),
        intensities.len()
    );
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta} {msg}")
            .expect("template"),
    );
    let wall = std::time::Instant::now();
    let (mut failing, mut write_err) = (0, None);
    let mut records = Vec::new();
    for s in &scenarios {
        for &factor in intensities {
            let scaled = s.scaled(factor);
            for &p in &protocols {
                bar.set_message(format!("{} / {} ×{factor}", s.name, p.name()));
                runner::run_seeds(&scaled, p, 0..seeds, jobs, |o| {
                    let mut o = o.clone();
                    o.intensity = Some(factor);
                    let line = serde_json::to_string(&o).expect("outcome serializes");
                    if let Err(e) = writeln!(file, "{line}") {
                        write_err.get_or_insert(e);
                    }
                    failing += usize::from(o.verdict == Verdict::Fail);
                    records.push(line);
                    bar.inc(1);
                });
            }
        }
    }
    bar.finish_and_clear();
    if let Some(e) = write_err {
        return Err(file.failed(e).into());
    }
    file.finish()?;
    let records =
        faultline_reports::record::parse(&records.join("\n"), "the sweep").map_err(|e| anyhow!(e))?;
    // The files the user named on this command line, read again for the record.
    let mut made = provenance(names.iter().filter_map(|n| Some((n.clone(), Scenario::text(n)?))).collect());
    if shrink {
        println!("shrinking the first seed of every violation class…");
        made.counterexamples = counterexamples(ctx, &scenarios, &records);
    }
    let report = faultline_reports::build(&records, &made);
    output::write_report(&report, out)?;
    println!(
        "{total} runs in {:.1} s, {failing} failing; wrote {}, {} ({} KB), {}",
        wall.elapsed().as_secs_f64(),
        runs.display(),
        out.join("report.html").display(),
        report.html.len() / 1024,
        out.join("report.md").display()
    );
    Ok(failing == 0)
}

/// What made a report: the command line, the version, the scenario files.
/// What made a report: the command line, the version, and the text of each
/// scenario in `texts` (name, text).
pub(crate) fn provenance(texts: Vec<(String, String)>) -> faultline_reports::Provenance {
    faultline_reports::Provenance {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenarios: texts,
        counterexamples: Default::default(),
    }
}

/// For every violation class of the sweep at intensity 1: its first seed
/// shrunk, and the minimal run's sequence diagram.
pub(super) fn counterexamples(
    ctx: &Ctx,
    scenarios: &[Scenario],
    records: &[faultline_reports::Record],
) -> std::collections::BTreeMap<(String, String, Option<String>, String), String> {
    let mut out = std::collections::BTreeMap::new();
    for r in records.iter().filter(|r| r.intensity() == 1.0 && r.verdict != "pass") {
        for v in &r.violations {
            let key = (r.scenario.clone(), r.protocol.clone(), r.mutant.clone(), v.invariant.clone());
            if out.contains_key(&key) {
                continue;
            }
            let (Some(s), Ok(p), Ok(invariant)) = (
                scenarios.iter().find(|s| s.name == r.scenario),
                ctx.registry.get(&r.protocol),
                Invariant::parse(&v.invariant),
            ) else {
                continue;
            };
            let variant = Variant::from(p);
            let Ok(shrunk) = shrink::shrink_for(s, variant, r.seed, Some(invariant), |_, _| {}) else {
                continue;
            };
            let (outcome, result) = runner::run_seed(&shrunk.scenario, variant, r.seed, true);
            if let Ok(result) = result {
                if let Ok(diagram) = sequence_of(&result, &outcome, &[]) {
                    let (b, a) = (shrunk.before, shrunk.after);
                    let head = format!(
                        "{} orders / {} faults shrunk to {} / {}, seed {}\n",
                        b.orders, b.faults, a.orders, a.faults, r.seed
                    );
                    out.insert(key, head + &excerpt(&diagram, 300));
                }
            }
        }
    }
    out
}

/// At most `max` rows of a sequence diagram: the header and the marked rows
/// (the violated order's life) when there are any, else the first rows.
pub(super) fn excerpt(diagram: &str, max: usize) -> String {
    let lines: Vec<&str> = diagram.lines().collect();
    let body: Vec<&str> = match lines.iter().position(|l| l.starts_with('»')) {
        Some(first) => lines[..first]
            .iter()
            .chain(lines[first..].iter().filter(|l| l.starts_with('»')))
            .copied()
            .collect(),
        None => lines,
    };
    let mut out = body.iter().take(max).copied().collect::<Vec<_>>().join("\n");
    if body.len() > max {
        out.push_str(&format!("\n… {} more rows: replay it with --view sequence", body.len() - max));
    }
    out
}
