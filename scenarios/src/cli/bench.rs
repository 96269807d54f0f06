//! `faultline bench detect`: for every mutant on its hunting ground, the
//! median number of seeds until the first catch, plain and in swarm mode, and
//! the ratio between them (swarm / plain: below 1, swarm finds it sooner).
//! `faultline bench signatures`: how many distinct failures each mode finds.

use super::{BadInput, Ctx};
use crate::runner::Variant;
use crate::scenario::Scenario;
use crate::{shrink, zoo};
use anyhow::anyhow;
use faultline_protocols::mutant::Mutant;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: Bench,
}

#[derive(clap::Subcommand)]
pub enum Bench {
    /// For every mutant, seeds until it is first caught, with and without --swarm.
    Detect {
        /// Starting seeds per mutant and mode; the table shows medians over them.
        #[arg(long, default_value_t = 5)]
        starts: u64,
        /// The most seeds one hunt may run.
        #[arg(long, default_value_t = 1000)]
        budget: u64,
        #[arg(long)]
        jobs: Option<usize>,
        /// Hunt every mutant on this scenario instead of its own hunting ground.
        #[arg(long)]
        on: Option<String>,
        /// Write the table as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Only these mutants (default: every one).
        #[arg(long, value_delimiter = ',')]
        mutant: Vec<String>,
    },
    /// Distinct failure signatures per scenario, plain and in swarm mode, with
    /// the zoo's mutants switched on one at a time.
    Signatures {
        /// Seeds per scenario, mutant and mode.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        #[arg(long)]
        jobs: Option<usize>,
        /// Only these scenarios (default: the whole catalogue).
        #[arg(long, value_delimiter = ',')]
        on: Vec<String>,
        /// Only these mutants (default: every one).
        #[arg(long, value_delimiter = ',')]
        mutant: Vec<String>,
        /// Write every signature found, with its counts, as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// The detection benchmark: for each mutant on its hunting ground, the median
/// number of seeds until the first catch, plain and in swarm mode, and the
/// ratio between them (swarm / plain: below 1, swarm finds it sooner).
pub(super) fn bench(ctx: &Ctx, Args { what }: Args) -> Result<(), BadInput> {
    match what {
        Bench::Detect { starts, budget, jobs, on, json, mutant } => {
            known_mutants(ctx, &mutant)?;
            detect(ctx, starts, budget, super::jobs(jobs)?, on.as_deref(), json, &mutant)
        }
        Bench::Signatures { seeds, jobs, on, mutant, json } => {
            known_mutants(ctx, &mutant)?;
            signatures(ctx, seeds, super::jobs(jobs)?, &on, &mutant, json)
        }
    }
}

fn known_mutants(ctx: &Ctx, names: &[String]) -> Result<(), BadInput> {
    match names.iter().find(|n| !zoo::hunts(&ctx.registry).iter().any(|h| h.0.name == n.as_str())) {
        Some(n) => Err(anyhow!("unknown mutant {n:?} (see `faultline list mutants`)").into()),
        None => Ok(()),
    }
}

fn detect(
    ctx: &Ctx,
    starts: u64,
    budget: u64,
    jobs: usize,
    on: Option<&str>,
    json: Option<PathBuf>,
    mutant: &[String],
) -> Result<(), BadInput> {
    println!("detection: {starts} starting seeds per mutant and mode, at most {budget} seeds each\n");
    let head =
        ["mutant", "protocol", "scenario", "plain", "swarm", "swarm/plain", "plain ms", "swarm ms", "shrunk"];
    println!(
        "{:<34} {:<8} {:<15} {:>7} {:>7} {:>11} {:>9} {:>9} {:>14}",
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8]
    );
    let show = |d: &zoo::Detection| match d.median_seeds() {
        Some(s) if d.caught() as u64 == starts => s.to_string(),
        Some(s) => format!("{s}*"),
        None => format!(">{budget}"),
    };
    let mut rows = Vec::new();
    let chosen = |m: &Mutant| mutant.is_empty() || mutant.iter().any(|n| n == m.name);
    for (m, p, ground, _) in zoo::hunts(&ctx.registry).into_iter().filter(|h| chosen(&h.0)) {
        let name = on.unwrap_or(ground);
        let scenario = Scenario::load(name, &ctx.registry).map_err(|e| anyhow!(e))?;
        let plain = Variant::new(&ctx.registry, p, Some(m))?;
        let swarm = Variant { swarm: true, ..plain };
        let (a, b) = (
            zoo::detect(&scenario, plain, starts, budget, jobs),
            zoo::detect(&scenario, swarm, starts, budget, jobs),
        );
        let ratio = match (a.median_seeds(), b.median_seeds()) {
            (Some(x), Some(y)) => format!("{:.2}", y as f64 / x as f64),
            _ => "-".into(),
        };
        // The first plain catch, shrunk: how small the counterexample gets.
        let shrunk = a
            .caught_at
            .iter()
            .flatten()
            .next()
            .and_then(|seed| shrink::shrink(&scenario, plain, *seed, |_, _| {}).ok().map(|s| s.after));
        let small = shrunk.map_or("-".to_string(), |s| format!("{}o {}f", s.orders, s.faults));
        println!(
            "{:<34} {:<8} {:<15} {:>7} {:>7} {:>11} {:>9} {:>9} {:>14}",
            m.name,
            p.name(),
            name,
            show(&a),
            show(&b),
            ratio,
            a.median_wall_ms(),
            b.median_wall_ms(),
            small
        );
        rows.push(serde_json::json!({
            "mutant": m.name, "protocol": p.name(), "scenario": name,
            "plain": { "median_seeds": a.median_seeds(), "median_wall_ms": a.median_wall_ms(), "per_start": a },
            "swarm": { "median_seeds": b.median_seeds(), "median_wall_ms": b.median_wall_ms(), "per_start": b },
            "shrunk_size": shrunk,
        }));
    }
    println!("\nseeds: median over starts of seeds run until the first run that breaks one of the");
    println!("mutant's expected invariants; * some starts missed within the budget; ms: wall time;");
    println!("shrunk: the first plain catch cut down by `faultline shrink` (orders, fault events).");
    write_json(json, &rows)
}

/// The distinct-signature table: per scenario and mode, how many different
/// failures (mutant, protocol, signature) its seeds showed, and in how many runs.
fn signatures(
    ctx: &Ctx,
    seeds: u64,
    jobs: usize,
    on: &[String],
    mutant: &[String],
    json: Option<PathBuf>,
) -> Result<(), BadInput> {
    let names: Vec<String> = match on.is_empty() {
        true => crate::scenario::CATALOG.iter().map(|(n, _)| n.to_string()).collect(),
        false => on.to_vec(),
    };
    let chosen = |m: &Mutant| mutant.is_empty() || mutant.iter().any(|n| n == m.name);
    println!("distinct failure signatures: {seeds} seeds per scenario, mutant and mode\n");
    println!(
        "{:<22} {:>13} {:>9} {:>13} {:>9}",
        "scenario", "plain failing", "distinct", "swarm failing", "distinct"
    );
    let mut rows = Vec::new();
    let mut totals = [std::collections::BTreeSet::new(), std::collections::BTreeSet::new()];
    for name in &names {
        let scenario = Scenario::load(name, &ctx.registry).map_err(|e| anyhow!(e))?;
        let mut cells = Vec::new();
        for (mode, swarm) in [(0, false), (1, true)] {
            let (mut failing, mut distinct) = (0, Vec::new());
            for (m, p, _, _) in zoo::hunts(&ctx.registry).into_iter().filter(|h| chosen(&h.0)) {
                let v = Variant { swarm, ..Variant::new(&ctx.registry, p, Some(m))? };
                for (sig, n) in zoo::signatures(&scenario, v, 0..seeds, jobs) {
                    failing += n;
                    let key = (m.name, p.name(), sig.to_string());
                    totals[mode].insert((name.clone(), key.clone()));
                    distinct.push(key);
                }
            }
            cells.push((failing, distinct));
        }
        println!(
            "{:<22} {:>13} {:>9} {:>13} {:>9}",
            name,
            cells[0].0,
            cells[0].1.len(),
            cells[1].0,
            cells[1].1.len()
        );
        rows.push(serde_json::json!({
            "scenario": name,
            "plain": { "failing": cells[0].0, "signatures": cells[0].1 },
            "swarm": { "failing": cells[1].0, "signatures": cells[1].1 },
        }));
    }
    println!("{:<22} {:>13} {:>9} {:>13} {:>9}", "all", "", totals[0].len(), "", totals[1].len());
    println!("\nfailing: runs that broke an invariant (a mutant's own); distinct: different");
    println!("(mutant, protocol, invariant, step, first fault) among them — see `faultline replay`.");
    write_json(json, &rows)
}

/// Writes a table's rows as JSON to `path`, if one was given.
fn write_json(path: Option<PathBuf>, rows: &[serde_json::Value]) -> Result<(), BadInput> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(rows).expect("rows serialize");
        crate::output::write_whole(&path, text.as_bytes())?;
    }
    Ok(())
}
