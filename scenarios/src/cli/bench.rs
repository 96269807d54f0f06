//! `faultline bench detect`: for every mutant on its hunting ground, the
//! median number of seeds until the first catch — plain, in swarm mode and
//! with PCT-style change points — and how small the first catch shrinks.
//! `faultline bench signatures`: how many distinct failures each mode finds.
//! `faultline bench perf`: faultline's own speed (see `cli/perf.rs`).

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
    /// For every mutant, seeds until it is first caught: plain, --swarm and --pct.
    Detect {
        /// Starting seeds per mutant and mode; the table shows medians over them.
        #[arg(long, default_value_t = 5)]
        starts: u64,
        /// The most seeds one hunt may run.
        #[arg(long, default_value_t = 1000)]
        budget: u64,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Hunt every mutant on this scenario instead of its own hunting ground.
        #[arg(long)]
        on: Option<String>,
        /// Write the table as JSON to FILE (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Only these mutants (default: every one).
        #[arg(long, value_delimiter = ',')]
        mutant: Vec<String>,
    },
    /// Distinct failure signatures per scenario — plain, --swarm and --pct —
    /// with the zoo's mutants switched on one at a time.
    Signatures {
        /// Seeds per scenario, mutant and mode.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Only these scenarios (default: the whole catalogue).
        #[arg(long, value_delimiter = ',')]
        on: Vec<String>,
        /// Only these mutants (default: every one).
        #[arg(long, value_delimiter = ',')]
        mutant: Vec<String>,
        /// Write every signature found, with its counts, as JSON to FILE (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// faultline's own speed, in one run: madsim's RPC floor, each protocol's
    /// message rate against it, seeds and simulated seconds per wall second,
    /// cost as the workload grows ×1 to ×64, --jobs 2 against --jobs 1.
    Perf {
        /// Seeds per protocol on crash-restart (a quarter as many on everything;
        /// a scaling cell ×k runs 1/k as many, at least 12).
        #[arg(long, default_value_t = 200)]
        seeds: u64,
        /// Write the numbers as JSON to FILE (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

/// The benchmarks: detection (seeds to a first catch) and distinct failures.
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
        Bench::Perf { seeds, json } => super::perf::perf(ctx, seeds, json),
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
    let head = [
        "mutant", "protocol", "scenario", "plain", "swarm", "pct", "plain ms", "swarm ms", "pct ms", "shrunk",
    ];
    println!(
        "{:<34} {:<8} {:<15} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>10}",
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8], head[9]
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
        // A bug hunted on another workflow's ground lives in participants
        // (or steps) `--on`'s workflow may not have: it is hunted on its own.
        let home = Scenario::load(ground, &ctx.registry).map_err(|e| anyhow!(e))?.workflow();
        if home.name != scenario.workflow().name {
            println!("{:<34} {:<8} left out: hunted on {ground}, a {} workflow", m.name, p.name(), home.name);
            continue;
        }
        let plain = Variant::new(&ctx.registry, p, Some(m))?;
        let modes = [plain, Variant { swarm: true, ..plain }, Variant { pct: true, ..plain }];
        let [a, b, c] = modes.map(|v| zoo::detect(&scenario, v, starts, budget, jobs));
        // The first plain catch, shrunk — how small the counterexample gets —
        // and run again from the shrunk file: it must still catch the mutant.
        let shrunk = a.caught_at.iter().flatten().next().and_then(|seed| {
            let s = shrink::shrink(&scenario, plain, *seed, |_, _| {}).ok()?;
            let (o, _) = crate::runner::run_seed(&s.scenario, plain, *seed, false);
            let reproduces = o.violations.iter().any(|x| zoo::catches(&s.scenario, plain, x));
            Some((s.after, reproduces))
        });
        let small = match shrunk {
            Some((s, true)) => format!("{}o {}f", s.orders, s.faults),
            Some((s, false)) => format!("{}o {}f NOT", s.orders, s.faults),
            None => "-".to_string(),
        };
        println!(
            "{:<34} {:<8} {:<15} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>10}",
            m.name,
            p.name(),
            name,
            show(&a),
            show(&b),
            show(&c),
            a.median_wall_ms(),
            b.median_wall_ms(),
            c.median_wall_ms(),
            small
        );
        let mode = |d: &zoo::Detection| serde_json::json!({ "median_seeds": d.median_seeds(), "median_wall_ms": d.median_wall_ms(), "per_start": d });
        rows.push(serde_json::json!({
            "mutant": m.name, "protocol": p.name(), "scenario": name,
            "plain": mode(&a), "swarm": mode(&b), "pct": mode(&c),
            "shrunk_size": shrunk.map(|s| s.0), "reproduces": shrunk.map(|s| s.1),
        }));
    }
    println!("\nseeds: median over starts of seeds run until the first run that breaks one of the");
    println!("mutant's expected invariants; * some starts missed within the budget; ms: wall time;");
    println!("shrunk: the first plain catch cut down by `faultline shrink` (orders, fault events),");
    println!("then run again: NOT if the shrunk file no longer catches the mutant.");
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
    const MODES: [&str; 3] = ["plain", "swarm", "pct"];
    let line = |name: &str, cells: [String; 6]| {
        let [a, b, c, d, e, f] = cells;
        println!("{name:<22} {a:>13} {b:>9} {c:>13} {d:>9} {e:>13} {f:>9}");
    };
    let head = |m: &str| [format!("{m} failing"), "distinct".to_string()];
    let [a, b] = head("plain");
    let [c, d] = head("swarm");
    let [e, f] = head("pct");
    line("scenario", [a, b, c, d, e, f]);
    let mut rows = Vec::new();
    let mut totals: [std::collections::BTreeSet<_>; 3] = Default::default();
    for name in &names {
        let scenario = Scenario::load(name, &ctx.registry).map_err(|e| anyhow!(e))?;
        let mut cells = Vec::new();
        for (mode, total) in totals.iter_mut().enumerate() {
            let (mut failing, mut distinct) = (0, Vec::new());
            for (m, p, _, _) in zoo::hunts(&ctx.registry).into_iter().filter(|h| chosen(&h.0)) {
                let (swarm, pct) = (mode == 1, mode == 2);
                let v = Variant { swarm, pct, ..Variant::new(&ctx.registry, p, Some(m))? };
                for (sig, n) in zoo::signatures(&scenario, v, 0..seeds, jobs) {
                    failing += n;
                    let key = (m.name, p.name(), sig.to_string());
                    total.insert((name.clone(), key.clone()));
                    distinct.push(key);
                }
            }
            cells.push((failing, distinct));
        }
        let n = |i: usize| [cells[i].0.to_string(), cells[i].1.len().to_string()];
        let ([a, b], [c, d], [e, f]) = (n(0), n(1), n(2));
        line(name, [a, b, c, d, e, f]);
        let mut row = serde_json::json!({ "scenario": name });
        for (i, mode) in MODES.iter().enumerate() {
            row[*mode] = serde_json::json!({ "failing": cells[i].0, "signatures": cells[i].1 });
        }
        rows.push(row);
    }
    let t = |i: usize| totals[i].len().to_string();
    line("all", [String::new(), t(0), String::new(), t(1), String::new(), t(2)]);
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
