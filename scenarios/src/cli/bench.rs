//! `faultline bench detect`: for every mutant on its hunting ground, the
//! median number of seeds until the first catch, plain and in swarm mode, and
//! the ratio between them (swarm / plain: below 1, swarm finds it sooner).

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
}

/// The detection benchmark: for each mutant on its hunting ground, the median
/// number of seeds until the first catch, plain and in swarm mode, and the
/// ratio between them (swarm / plain: below 1, swarm finds it sooner).
pub(super) fn bench(ctx: &Ctx, Args { what }: Args) -> Result<(), BadInput> {
    let Bench::Detect { starts, budget, jobs, on, json, mutant } = what;
    for name in &mutant {
        if !zoo::hunts(&ctx.registry).iter().any(|h| h.0.name == name) {
            return Err(anyhow!("unknown mutant {name:?} (see `faultline list mutants`)").into());
        }
    }
    let on = on.as_deref();
    let jobs = super::jobs(jobs)?;
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
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
        crate::output::write_whole(&path, text.as_bytes())?;
    }
    Ok(())
}
