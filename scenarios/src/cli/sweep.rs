//! `faultline sweep`: every chosen protocol on every chosen scenario, at every
//! chosen fault intensity, on the same seeds; runs.jsonl as it goes, then the
//! report (with `--shrink`, each violation class's shrunk counterexample).

use super::replay::sequence_of;
use super::run::parse_protocols;
use super::{interrupt, variant, BadInput, Ctx, MAX_INTENSITY};
use crate::output::{self, Journal, OutputError};
use crate::runner::{self, Variant};
use crate::scenario::{Scenario, CATALOG};
use crate::shrink;
use anyhow::anyhow;
use faultline_protocols::check::Invariant;
use faultline_reports::record::{self, parse_line, Line, Record, ScenarioText, SweepPlan};
use faultline_reports::summary::SummaryBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Catalogue names or scenario files (default: the whole catalogue).
    pub scenarios: Vec<String>,
    /// A protocol, a comma-separated list, or `all`.
    #[arg(long, short, default_value = "all")]
    pub protocol: String,
    /// Seeds per scenario, protocol and intensity.
    #[arg(long, default_value_t = 50)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Fault intensities: each scenario's fault rates scaled by these factors (0 to 100).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub intensity: Vec<f64>,
    /// Switch on one known bug (see `list mutants`), in the protocols whose code has it.
    #[arg(long)]
    pub mutant: Option<String>,
    /// Swarm testing: each seed draws its own fault model from the scenario's.
    #[arg(long)]
    pub swarm: bool,
    /// PCT-style exploration: every order gets one message held back (or its
    /// receiver stalled) 0.5–4 s, at a random point of its life.
    #[arg(long)]
    pub pct: bool,
    /// Run every protocol twice: without the reconciler and with it (rows
    /// `saga` and `saga +reconcile`); a scenario with `[reconcile]` always has it.
    #[arg(long)]
    pub reconcile: bool,
    /// Every scenario's orders go through this workflow instead of its own:
    /// a built-in's name (`list workflows`) or a workflow file.
    #[arg(long, value_name = "FILE")]
    pub workflow: Option<String>,
    /// Where runs.jsonl, report.html, report.md and the charts go.
    #[arg(long)]
    pub out: PathBuf,
    /// Carry on an interrupted sweep into the same --out: the runs in its
    /// runs.jsonl stand (a line cut off mid-write is redone), the rest run.
    #[arg(long)]
    pub resume: bool,
    /// Run only the K-th of N disjoint slices of the sweep's runs (scenario ×
    /// intensity × protocol × seed), e.g. `--shard $((JOB_COMPLETION_INDEX+1))/N`;
    /// `report` merges the slices' runs.jsonl into the whole sweep's report.
    #[arg(long, value_name = "K/N", default_value_t = super::Shard::WHOLE)]
    pub shard: super::Shard,
    /// Shrink the first seed of every violation class and put its sequence
    /// diagram in the report.
    #[arg(long)]
    pub shrink: bool,
}

/// The key of each violation class's first run at intensity 1, for shrinking.
type ClassKey = (String, String, Option<String>, String);

pub(super) fn sweep(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let names: Vec<String> = match a.scenarios.is_empty() {
        true => CATALOG.iter().map(|(n, _)| n.to_string()).collect(),
        false => a.scenarios.clone(),
    };
    // With --workflow, a scenario that tests the reconciler is left out where
    // the workflow's books are not ones it judges (said here, once).
    let workflow = a.workflow.as_deref().map(crate::scenario::workflow_named).transpose();
    let workflow = workflow.map_err(|e| anyhow!("--workflow: {e}"))?;
    let fits = |s: &Scenario| match workflow.as_ref().map(|w| s.reconciler_fits(w)) {
        Some(Err(e)) => {
            say!("  {} left out: {e}", s.name);
            false
        }
        _ => true,
    };
    let scenarios: Vec<Scenario> = names
        .iter()
        .map(|n| Scenario::load(n, &ctx.registry).map_err(|e| anyhow!(e).into()))
        .filter(|s: &Result<Scenario, BadInput>| s.as_ref().map_or(true, fits))
        .map(|s| super::on_workflow(s?, a.workflow.as_deref()))
        .collect::<Result<_, _>>()?;
    let variants: Vec<Variant> = match a.mutant.as_deref() {
        Some(m) if a.protocol == "all" => {
            let m = ctx.registry.mutant(m)?;
            ctx.registry
                .protocols_with(m)
                .into_iter()
                .map(|p| variant(ctx, p, Some(m.name)))
                .collect::<Vec<_>>()
        }
        m => parse_protocols(ctx, &a.protocol)?.into_iter().map(|p| variant(ctx, p, m)).collect::<Vec<_>>(),
    }
    .into_iter()
    .map(|v| v.map(|v| Variant { swarm: a.swarm, pct: a.pct, ..v }))
    .collect::<Result<Vec<_>, _>>()?
    .into_iter()
    .flat_map(|v| {
        // A reconciler's bug runs with the reconciler already: not twice.
        let with = (a.reconcile && !v.reconcile).then_some(Variant { reconcile: true, ..v });
        std::iter::once(v).chain(with)
    })
    .collect();
    for s in &scenarios {
        let w = s.workflow();
        for v in variants.iter().filter(|v| !v.reconcile) {
            if let Err(e) = v.protocol.supports(&w) {
                say!(
                    "  {} left out of {}: it cannot run workflow {}: {e}",
                    v.protocol.name(),
                    s.name,
                    w.name
                );
            }
        }
    }
    if let Some(bad) = a.intensity.iter().find(|i| !(0.0..=MAX_INTENSITY).contains(*i)) {
        return Err(anyhow!("--intensity {bad}: each factor from 0 to {MAX_INTENSITY}").into());
    }
    let seeds = super::seed_range(a.first_seed, a.seeds)?;
    let jobs = super::jobs(a.jobs)?;
    let out = a.out.as_path();
    std::fs::create_dir_all(out)
        .map_err(|source| OutputError::Write { path: out.display().to_string(), source })?;
    let runs = out.join("runs.jsonl");

    let mut summary = SummaryBuilder::default();
    let mut firsts: BTreeMap<ClassKey, Record> = BTreeMap::new();
    let (mut failing, mut count) = (0usize, 0u64);
    let mut take = |r: Record, summary: &mut SummaryBuilder| {
        summary.add(&r);
        failing += usize::from(r.verdict == "fail");
        count += 1;
        if r.intensity() == 1.0 && r.verdict != "pass" {
            for v in &r.violations {
                let key = (r.scenario.clone(), r.label(), r.mutant.clone(), v.invariant.clone());
                firsts.entry(key).or_insert_with(|| r.clone());
            }
        }
    };
    let version = env!("CARGO_PKG_VERSION");
    // A run's number in the sweep's order (scenario, intensity, protocol),
    // for `--shard`: its cell's, times the seeds, plus the seed's.
    let cell_of = |r: &Record| -> Option<u64> {
        let mut cell = 0u64;
        for s in &scenarios {
            for &factor in &a.intensity {
                for v in variants_of(s, &variants) {
                    let same = s.name == r.scenario
                        && factor == r.intensity()
                        && v.protocol.name() == r.protocol
                        && v.mutant.map(|m| m.name) == r.mutant.as_deref()
                        && (v.swarm && s.plan.is_none()) == r.swarm.is_some()
                        && v.reconcile == r.reconcile
                        && s.pct_on(v.pct) == r.pct;
                    if same {
                        return Some(cell);
                    }
                    cell += 1;
                }
            }
        }
        None
    };
    let mut done = BTreeSet::new();
    let mut journal = match a.resume {
        true => Journal::resume(&runs, |line| {
            let r = match parse_line(line).map_err(|e| e.to_string())? {
                Line::Text(_) | Line::Plan(_) => return Ok(()),
                Line::Run(r) => *r,
            };
            if r.version.as_deref() != Some(version) {
                return Err(format!(
                    "a run by faultline {}, not {version}",
                    r.version.as_deref().unwrap_or("?")
                ));
            }
            let Some(s) = scenarios.iter().find(|s| s.name == r.scenario) else {
                return Err(format!("a run of {}, which this sweep does not run", r.scenario));
            };
            if r.scenario_hash != s.origin.as_ref().map(|o| o.hash.clone()) {
                return Err(format!("a run of another text of scenario {}", r.scenario));
            }
            let planned = variants_of(s, &variants).iter().any(|v| {
                v.protocol.name() == r.protocol
                    && v.mutant.map(|m| m.name) == r.mutant.as_deref()
                    && (v.swarm && s.plan.is_none()) == r.swarm.is_some()
                    && v.reconcile == r.reconcile
                    && s.pct_on(v.pct) == r.pct
            }) && a.intensity.contains(&r.intensity())
                && seeds.contains(&r.seed);
            let planned = planned
                && cell_of(&r).is_some_and(|cell| a.shard.takes(cell * a.seeds + (r.seed - seeds.start)));
            if !planned {
                return Err(format!(
                    "{} / {} seed {} at intensity {} is not a run of this sweep (same flags as the first time?)",
                    r.scenario,
                    r.protocol,
                    r.seed,
                    r.intensity()
                ));
            }
            if done.insert(r.key()) {
                take(r, &mut summary);
            }
            Ok(())
        })?,
        false => {
            // The report files beside the old runs describe them, not these.
            output::remove_report(out)?;
            Journal::create(&runs)?
        }
    };
    let cells = scenarios.iter().map(|s| variants_of(s, &variants).len() * a.intensity.len()).sum::<usize>();
    let total: u64 = (0..cells as u64).map(|cell| a.shard.share(cell * a.seeds, a.seeds)).sum();
    journal.line(&serde_json::json!({ "sweep_plan": SweepPlan { runs: total } }).to_string())?;
    // The texts travel with the runs, so a report anywhere can show them.
    for line in scenarios.iter().filter_map(text_line) {
        journal.line(&line)?;
    }

    println!(
        "sweep: {} scenarios × {} protocols × {} intensities × {} seeds{} = {total} runs, {jobs} jobs{}",
        scenarios.len(),
        variants.len(),
        a.intensity.len(),
        a.seeds,
        if a.shard == super::Shard::WHOLE { String::new() } else { format!(", shard {}", a.shard) },
        if done.is_empty() {
            String::new()
        } else {
            format!("; {} already in {}", done.len(), runs.display())
        }
    );
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta} {msg}")
            .expect("template"),
    );
    bar.inc(done.len() as u64);
    let wall = std::time::Instant::now();
    let mut write_err = None;
    let mut cell = 0u64;
    'all: for s in &scenarios {
        let scenario = (s.name.as_str(), s.origin.as_ref().map_or("", |o| o.hash.as_str()));
        for &factor in &a.intensity {
            let scaled = s.scaled(factor);
            for v in variants_of(s, &variants) {
                bar.set_message(format!(
                    "{} / {} ×{factor}",
                    s.name,
                    record::label(v.protocol.name(), v.mutant.map(|m| m.name), v.reconcile)
                ));
                let mutant = v.mutant.map(|m| m.name);
                let swarm = v.swarm && s.plan.is_none();
                let what = record::Variant {
                    protocol: v.protocol.name(),
                    mutant,
                    swarm,
                    reconcile: v.reconcile,
                    pct: s.pct_on(v.pct),
                };
                let key = |seed| record::key(version, scenario, what, factor, seed);
                // Runs are numbered cell by cell, seed by seed: `--shard` takes its slice.
                let base = cell * a.seeds;
                cell += 1;
                let skip = |seed| !a.shard.takes(base + (seed - seeds.start)) || done.contains(&key(seed));
                runner::for_each_new_seed(&scaled, v, seeds.clone(), jobs, skip, |mut o| {
                    o.intensity = Some(factor);
                    let line = serde_json::to_string(&o).expect("outcome serializes");
                    if let Err(e) = journal.line(&line) {
                        write_err.get_or_insert(e);
                    }
                    if let Ok(Line::Run(r)) = parse_line(&line) {
                        take(*r, &mut summary);
                    }
                    bar.inc(1);
                });
                if let Some(e) = write_err.take() {
                    return Err(e.into());
                }
                if runner::stopped() {
                    break 'all;
                }
            }
        }
    }
    bar.finish_and_clear();
    journal.finish()?;
    interrupt::check(|| {
        format!(
            "{count} of {total} runs ({failing} failing) are in {}; carry on with the same command and --resume",
            runs.display()
        )
    })?;
    let texts = scenarios.iter().filter_map(|s| Some((s.name.clone(), s.origin.as_ref()?.text.to_string())));
    let mut made = provenance(texts.collect());
    let summary = summary.finish();
    // Runs over time: each scenario's first seed per protocol, each failure's first seed.
    crate::over_time::choose(&mut made, &summary, &scenarios, &ctx.registry);
    if a.shrink {
        println!("shrinking the first seed of every violation class…");
        made.counterexamples = counterexamples(ctx, &scenarios, firsts);
    }
    let report = faultline_reports::build_from(&summary, &made);
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

/// The variants `s` runs, each as its records will say: with `[reconcile]`
/// every one reconciles, so a with-and-without pair is one variant there.
/// A protocol that cannot drive `s`'s workflow is left out (said at load).
fn variants_of(s: &Scenario, variants: &[Variant]) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::new();
    let w = s.workflow();
    for v in variants.iter().filter(|v| v.protocol.supports(&w).is_ok()) {
        let v = Variant { reconcile: s.reconciles(v.reconcile).is_some(), ..*v };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The line that carries `s`'s text in a file of runs, if it came from one.
pub(super) fn text_line(s: &Scenario) -> Option<String> {
    let o = s.origin.as_ref()?;
    let text = ScenarioText { name: s.name.clone(), hash: o.hash.clone(), text: o.text.to_string() };
    Some(serde_json::json!({ "scenario_text": text }).to_string())
}

/// What made a report: the command line, the version, and the text of each
/// scenario in `texts` (name, text).
pub(crate) fn provenance(texts: Vec<(String, String)>) -> faultline_reports::Provenance {
    faultline_reports::Provenance {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenarios: texts,
        counterexamples: Default::default(),
        timelines: Default::default(),
        failures: Default::default(),
    }
}

/// For every violation class of the sweep at intensity 1: its first seed
/// shrunk, and the minimal run's sequence diagram.
pub(super) fn counterexamples(
    ctx: &Ctx,
    scenarios: &[Scenario],
    firsts: BTreeMap<ClassKey, Record>,
) -> BTreeMap<ClassKey, String> {
    let mut out = BTreeMap::new();
    for (key, r) in firsts {
        let (Some(s), Ok(p), Ok(invariant)) = (
            scenarios.iter().find(|s| s.name == r.scenario),
            ctx.registry.get(&r.protocol),
            Invariant::parse(&key.3),
        ) else {
            continue;
        };
        let Ok(variant) = variant(ctx, p, r.mutant.as_deref()) else { continue };
        let variant = Variant { swarm: r.swarm.is_some(), reconcile: r.reconcile, ..variant };
        let Ok(shrunk) = shrink::shrink_for(s, variant, r.seed, Some(invariant), |_, _| {}) else {
            continue;
        };
        let (outcome, result) = runner::run_seed(&shrunk.scenario, variant, r.seed, true);
        if let Ok(result) = result {
            if let Ok(diagram) =
                sequence_of(&result, result.events.as_deref().unwrap_or_default(), &outcome, &[], None)
            {
                let (b, a) = (shrunk.before, shrunk.after);
                let head = format!(
                    "{} orders / {} faults shrunk to {} / {}, seed {}\n",
                    b.orders, b.faults, a.orders, a.faults, r.seed
                );
                out.insert(key, head + &excerpt(&diagram, 300));
            }
        }
    }
    out
}

/// At most `max` lines of a sequence diagram: the legend, the lifelines'
/// header and the marked rows (the violated order's life) when there are
/// any, else the first rows.
pub(super) fn excerpt(diagram: &str, max: usize) -> String {
    let lines: Vec<&str> = diagram.lines().collect();
    // Rows draw lifelines (│); the legend and the lifelines' header do not,
    // and always stay. A marked row starts with `»`.
    let row = |l: &str| l.contains('│');
    let body: Vec<&str> = match lines.iter().any(|l| row(l) && l.starts_with('»')) {
        true => lines.iter().filter(|l| !row(l) || l.starts_with('»')).copied().collect(),
        false => lines,
    };
    let mut out = body.iter().take(max).copied().collect::<Vec<_>>().join("\n");
    if body.len() > max {
        out.push_str(&format!("\n… {} more rows: replay it with --view sequence", body.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_keeps_the_legend_and_the_lifelines_header() {
        let diagram = "» marks the messages of order 3\n\n               order    order-db\n    0.001000s  │───────▶│  txn #1\n»   0.002000s  │───────▶│  txn #2\n";
        let e = excerpt(diagram, 300);
        assert!(e.contains("» marks the messages of order 3"), "{e}");
        assert!(e.contains("order    order-db"), "the header stays: {e}");
        assert!(e.contains("txn #2") && !e.contains("txn #1"), "only the marked rows: {e}");
    }
}
