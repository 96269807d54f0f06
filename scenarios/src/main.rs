//! The `faultline` command line: list, run, replay.
//! Exit codes: 0 no invariant violated, 1 some invariant violated, 2 bad input.

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use faultline_protocols::check::INVARIANTS;
use faultline_protocols::mutant::Mutant;
use faultline_protocols::Protocol;
use faultline_scenarios::outcome::{RunOutcome, Summary, Verdict};
use faultline_scenarios::runner::{self, Variant};
use faultline_scenarios::scenario::{Scenario, CATALOG};
use faultline_scenarios::{shrink, timeline, zoo};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Deterministic simulation testing of distributed-transaction protocols"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the catalogue's scenarios, the protocols and the invariants.
    List {
        #[arg(value_enum)]
        what: Option<What>,
    },
    /// Run a scenario over many seeds and check every invariant.
    Run {
        /// A catalogue name (see `faultline list`) or a path to a scenario file.
        scenario: String,
        /// A protocol, a comma-separated list, or `all` (then a side-by-side table).
        #[arg(long, short)]
        protocol: String,
        /// How many seeds to run.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed (default: the scenario's `seed`, else 0).
        #[arg(long)]
        first_seed: Option<u64>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Write one JSON object per seed to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Switch on one known bug (see `faultline list mutants`).
        #[arg(long)]
        mutant: Option<String>,
        /// Swarm testing: each seed draws its own fault model from the scenario's.
        #[arg(long)]
        swarm: bool,
    },
    /// Cut a failing seed down to the smallest run that breaks the same
    /// invariant, and write it as a scenario file that reproduces it.
    Shrink {
        scenario: String,
        #[arg(long, short)]
        protocol: String,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        mutant: Option<String>,
        #[arg(long)]
        swarm: bool,
        /// Where to write the counterexample (default: built from the inputs).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print one JSON object instead of progress.
        #[arg(long)]
        json: bool,
    },
    /// Run every chosen protocol on every chosen scenario (default: the whole
    /// catalogue, every protocol) on the same seeds, and write a report.
    Sweep {
        /// Catalogue names or scenario files (default: the whole catalogue).
        scenarios: Vec<String>,
        #[arg(long, short, default_value = "all")]
        protocol: String,
        #[arg(long, default_value_t = 50)]
        seeds: u64,
        #[arg(long)]
        jobs: Option<usize>,
        /// Fault intensities: each scenario's fault rates scaled by these factors.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        intensity: Vec<f64>,
        /// Where runs.jsonl, report.html, report.md and the charts go.
        #[arg(long)]
        out: PathBuf,
        /// Shrink the first seed of every violation class and put its sequence
        /// diagram in the report.
        #[arg(long)]
        shrink: bool,
    },
    /// Build the report from existing JSON lines (files, or sweep directories).
    Report {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmarks of what faultline finds.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Re-run one seed and print its timeline and violations.
    Replay {
        scenario: String,
        #[arg(long, short)]
        protocol: String,
        #[arg(long)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long)]
        mutant: Option<String>,
        #[arg(long)]
        swarm: bool,
        /// How to show the trace: one timeline, per node, or a sequence diagram.
        #[arg(long, value_enum, default_value_t = View::Timeline)]
        view: View,
        /// The lifelines of the sequence diagram (default: every node but the stores).
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum Bench {
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
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum What {
    Scenarios,
    Protocols,
    Invariants,
    Mutants,
    FaultPoints,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum View {
    Timeline,
    Nodes,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Bad input: exits 2, unlike a violated invariant.
struct BadInput(anyhow::Error);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::List { what } => list(what).map(|()| true),
        Cmd::Run { scenario, protocol, seeds, first_seed, jobs, json, mutant, swarm } => {
            run(&scenario, &protocol, mutant.as_deref(), swarm, (first_seed, seeds), jobs, json)
        }
        Cmd::Shrink { scenario, protocol, seed, mutant, swarm, out, json } => {
            shrink(&scenario, &protocol, mutant.as_deref(), swarm, seed, out, json)
        }
        Cmd::Sweep { scenarios, protocol, seeds, jobs, intensity, out, shrink } => {
            sweep(&scenarios, &protocol, seeds, jobs, &intensity, (&out, shrink))
        }
        Cmd::Report { inputs, out } => report(&inputs, &out).map(|()| true),
        Cmd::Bench { what: Bench::Detect { starts, budget, jobs, on, json } } => {
            bench_detect(starts, budget, jobs, on.as_deref(), json).map(|()| true)
        }
        Cmd::Replay { scenario, protocol, seed, format, mutant, swarm, view, nodes } => {
            replay(&scenario, &protocol, mutant.as_deref(), swarm, seed, format, (view, nodes))
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(BadInput(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for BadInput {
    fn from(e: E) -> Self {
        BadInput(e.into())
    }
}

fn inputs(
    scenario: &str,
    protocol: &str,
    mutant: Option<&str>,
    swarm: bool,
) -> Result<(Scenario, Variant), BadInput> {
    let s = Scenario::load(scenario).map_err(|e| anyhow!(e))?;
    let p = Protocol::parse(protocol).map_err(|e| anyhow!(e))?;
    Ok((s, Variant { swarm, ..variant(p, mutant)? }))
}

fn variant(protocol: Protocol, mutant: Option<&str>) -> Result<Variant, BadInput> {
    let mutant = mutant.map(Mutant::parse).transpose().map_err(|e| anyhow!(e))?;
    Ok(Variant::new(protocol, mutant).map_err(|e| anyhow!(e))?)
}

/// The flags that name a run's variant on a command line.
fn flags(v: Variant) -> String {
    let mut f = format!("--protocol {}", v.protocol.name());
    if let Some(m) = v.mutant {
        f.push_str(&format!(" --mutant {}", m.name()));
    }
    if v.swarm {
        f.push_str(" --swarm");
    }
    f
}

/// A swarm seed's fault model, with only the kinds it switched on.
fn compact(model: &faultline_sim::FaultModel) -> String {
    let text = toml::to_string(model).unwrap_or_default();
    let on: Vec<_> = text
        .lines()
        .filter(|l| !l.ends_with("= 0.0") && !l.ends_with("= [0, 0]") && !l.ends_with("= []"))
        .collect();
    on.join(", ")
}

fn list(what: Option<What>) -> Result<(), BadInput> {
    let show = |w: What| what.is_none() || what.map(|x| x as u8) == Some(w as u8);
    if show(What::Scenarios) {
        println!("scenarios:");
        for (name, text) in CATALOG {
            let s = Scenario::parse(text, name).map_err(|e| anyhow!(e))?;
            println!("  {name:<20} {}", s.description);
        }
    }
    if show(What::Protocols) {
        println!("protocols:");
        for p in Protocol::ALL {
            println!("  {:<20} {}", p.name(), p.describe());
        }
    }
    if show(What::Invariants) {
        println!("invariants:");
        for (name, statement) in INVARIANTS {
            println!("  {name:<20} {statement}");
        }
    }
    if show(What::Mutants) {
        println!("mutants (--mutant NAME):");
        for m in Mutant::ALL {
            let ps: Vec<_> = m.protocols().iter().map(|p| p.name()).collect();
            println!("  {:<34} [{}] {}", m.name(), ps.join(", "), m.mechanism());
            println!("  {:<34} breaks: {}", "", m.breaks().join(" / "));
        }
    }
    if show(What::FaultPoints) {
        println!("fault points ([crash_points] in a scenario):");
        for (name, place) in faultline_protocols::CRASH_POINTS {
            println!("  {name:<28} {place}");
        }
    }
    Ok(())
}

fn describe(s: &Scenario) -> String {
    let w = &s.workload;
    // Only the settings that do something: zero rates and empty ranges are noise.
    let faults = toml::to_string(&s.faults).unwrap_or_default();
    let faults: Vec<_> =
        faults.lines().filter(|l| !l.ends_with("= 0.0") && !l.ends_with("= [0, 0]")).collect();
    let faults = if faults.is_empty() { "none".to_string() } else { faults.join(", ") };
    let plan = match &s.plan {
        Some(p) => format!("explicit plan of {} events", p.len()),
        None => format!("drawn per seed from: {faults}"),
    };
    let r = &s.replication;
    let mut replication = match r.mode {
        faultline_sim::Replication::None => "no replicas".to_string(),
        mode => format!("{mode:?} replicas, failover after {} ms", r.detection_ms),
    };
    for (store, mode) in &r.stores {
        replication.push_str(&format!(", {store}: {mode:?}"));
    }
    let workload = match &s.explicit_workload {
        Some(e) => format!(
            "explicit: {} orders, {} customers, {} skus, stock {:?}",
            e.orders.len(),
            e.balances.len(),
            e.stock.len(),
            e.stock
        ),
        None => format!(
            "{} orders over {} ms, {} customers, {} skus, stock {}..{}",
            w.orders, w.arrival_ms, w.customers, w.skus, w.stock.0, w.stock.1
        ),
    };
    format!(
        "scenario {}: {}\n  workload: {workload}\n  \
         latency {}..{} ms; {replication}; fault window {} ms, settle deadline {} ms\n  faults: {plan}",
        s.name, s.description, s.latency_ms.0, s.latency_ms.1, s.fault_window_ms, s.settle_ms,
    )
}

fn run(
    arg: &str,
    protocols: &str,
    mutant: Option<&str>,
    swarm: bool,
    (first_seed, seeds): (Option<u64>, u64),
    jobs: Option<usize>,
    json: Option<PathBuf>,
) -> Result<bool, BadInput> {
    let scenario = Scenario::load(arg).map_err(|e| anyhow!(e))?;
    let first = first_seed.or(scenario.seed).unwrap_or(0);
    let seeds = first..first.saturating_add(seeds);
    let mut variants: Vec<Variant> = match mutant {
        // A mutant runs in the protocols whose code it is in.
        Some(_) if protocols == "all" => {
            let m = Mutant::parse(mutant.unwrap_or_default()).map_err(|e| anyhow!(e))?;
            m.protocols().iter().map(|p| variant(*p, mutant)).collect::<Result<_, _>>()?
        }
        _ => parse_protocols(protocols)?.into_iter().map(|p| variant(p, mutant)).collect::<Result<_, _>>()?,
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        return Err(anyhow!("--jobs must be at least 1").into());
    }
    println!("{}", describe(&scenario));
    let partial = json.as_ref().map(|p| p.with_extension("partial"));
    let mut file = match &partial {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => None,
    };
    let mut write_err = None;
    let mut table = Vec::new();
    let mut failing = 0;
    for v in &mut variants {
        v.swarm = swarm;
    }
    if swarm && scenario.plan.is_some() {
        println!("  (--swarm: the scenario's explicit plan has no model to draw from; it runs as written)");
    }
    for &v in &variants {
        let protocol = v.protocol;
        println!("\n== protocol {}, seeds {}..{}, {jobs} jobs", protocol.name(), seeds.start, seeds.end);
        match v.mutant {
            Some(m) => println!(
                "  mutant {}: {}\n  expected to break: {}",
                m.name(),
                m.mechanism(),
                m.breaks().join(" / ")
            ),
            None => print_expectation(&scenario, protocol),
        }
        let bar = indicatif::ProgressBar::new(seeds.end - seeds.start);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}")
                .expect("template"),
        );
        let wall = std::time::Instant::now();
        let outcomes = runner::run_seeds(&scenario, v, seeds.clone(), jobs, |o| {
            if let Some(f) = file.as_mut() {
                let line = serde_json::to_string(o).expect("outcome serializes");
                if let Err(e) = writeln!(f, "{line}") {
                    write_err.get_or_insert(e);
                }
            }
            failing += usize::from(o.verdict == Verdict::Fail);
            bar.set_message(format!("{failing} failing"));
            bar.inc(1);
        });
        let wall = wall.elapsed();
        bar.finish_and_clear();
        let summary = Summary::of(&outcomes);
        print_summary(&summary, wall);
        print_failures(arg, v, &outcomes);
        table.push((protocol, summary));
    }
    if let (Some(f), Some(partial), Some(path)) = (file, partial, json.as_ref()) {
        if let Some(e) = write_err {
            return Err(anyhow!("cannot write {}: {e}", partial.display()).into());
        }
        f.into_inner().map_err(|e| anyhow!("cannot write {}: {e}", partial.display()))?.sync_all()?;
        std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if table.len() > 1 {
        print_comparison(&table);
    }
    Ok(failing == 0)
}

/// `all`, one protocol, or a comma-separated list; unknown names list the valid ones.
fn parse_protocols(arg: &str) -> Result<Vec<Protocol>, BadInput> {
    if arg == "all" {
        return Ok(Protocol::ALL.to_vec());
    }
    arg.split(',').map(|p| Protocol::parse(p.trim()).map_err(|e| anyhow!("{e}, or all").into())).collect()
}

/// One row per protocol, on the same seeds: what each costs under these faults.
fn print_comparison(table: &[(Protocol, Summary)]) {
    println!("\nside by side (same scenario, same seeds):");
    let head = [
        "protocol",
        "failing",
        "expected",
        "completed",
        "cancelled",
        "p50 ms",
        "p99 ms",
        "ttc p99",
        "window max",
        "msgs/order",
        "retries",
        "compens.",
        "reserved",
        "held $",
        "locks s",
    ];
    let widths = [8, 8, 9, 10, 10, 9, 9, 9, 11, 11, 9, 9, 10, 10, 9];
    let row = |cells: Vec<String>| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        println!("  {}", line.join(" "));
    };
    row(head.iter().map(|h| h.to_string()).collect());
    for (p, s) in table {
        let per_order = s.messages_sent as f64 / s.orders_submitted.max(1) as f64;
        row(vec![
            p.name().to_string(),
            s.failing_seeds.len().to_string(),
            s.expected_seeds.to_string(),
            s.orders_completed.to_string(),
            s.orders_cancelled.to_string(),
            format!("{:.1}", s.latency_p50_ms.p50),
            format!("{:.1}", s.latency_p99_ms.p50),
            format!("{:.1}", s.consistency_p99_ms.p50),
            format!("{:.1}", s.longest_inconsistency_ms),
            format!("{per_order:.1}"),
            s.retries.to_string(),
            s.compensations.to_string(),
            format!("{:.1}", s.reserved_unit_s),
            format!("{:.0}", s.authorized_cent_s / 100.0),
            format!("{:.1}", s.locked_s),
        ]);
    }
    println!("  latencies in ms: median over seeds of each seed's per-order p50 and p99; ttc p99: time to");
    println!("  consistency (submission to the order's last write in any service), median of seeds' p99;");
    println!("  window max: the longest time two services could disagree on one order; reserved: stock");
    println!("  held in reservations, unit-seconds; held $: customers' money on hold, dollar-seconds;");
    println!("  locks s: row locks held (2PC), lock-seconds; all three summed over seeds.");
}

fn print_summary(s: &Summary, wall: std::time::Duration) {
    println!(
        "\n{} seeds, {} failing, {} with expected violations",
        s.seeds,
        s.failing_seeds.len(),
        s.expected_seeds
    );
    println!("  {:<22} {:>10} {:>8}", "invariant", "violations", "seeds");
    for (name, violations, seeds) in &s.by_invariant {
        println!("  {name:<22} {violations:>10} {seeds:>8}");
    }
    println!(
        "  orders: {} submitted, {} completed, {} cancelled, {} unsettled",
        s.orders_submitted, s.orders_completed, s.orders_cancelled, s.orders_unsettled
    );
    let faults: Vec<_> = s.faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("  faults fired: {}", if faults.is_empty() { "none".to_string() } else { faults.join(", ") });
    println!(
        "  messages: {} ({:.1} per order); retries {}; compensations {}",
        s.messages_sent,
        s.messages_sent as f64 / s.orders_submitted.max(1) as f64,
        s.retries,
        s.compensations
    );
    let l = &s.latency_p99_ms;
    println!("  per-seed p99 latency ms: median {:.1}, p90 {:.1}, max {:.1}", l.p50, l.p90, l.max);
    println!(
        "  time: simulated {:.1} s ({:.1} s per seed), wall {:.2} s ({:.0} seeds/s)",
        s.sim_ms as f64 / 1e3,
        s.sim_ms as f64 / 1e3 / s.seeds.max(1) as f64,
        wall.as_secs_f64(),
        s.seeds as f64 / wall.as_secs_f64().max(1e-9)
    );
}

fn print_failures(arg: &str, variant: Variant, outcomes: &[RunOutcome]) {
    let failing: Vec<_> = outcomes.iter().filter(|o| o.verdict == Verdict::Fail).collect();
    if failing.is_empty() {
        return;
    }
    println!("\nfailing seeds:");
    for o in failing.iter().take(20) {
        let v = &o.violations[0];
        println!("  seed {}: {} — {}: {}", o.seed, o.broken().join(", "), v.subject, v.detail);
        if let Some(model) = &o.swarm {
            println!("    swarm model: {}", compact(model));
        }
        println!("    replay: faultline replay {arg} {} --seed {}", flags(variant), o.seed);
        println!("    shrink: faultline shrink {arg} {} --seed {}", flags(variant), o.seed);
    }
    if failing.len() > 20 {
        println!("  … and {} more", failing.len() - 20);
    }
}

fn replay(
    arg: &str,
    protocol: &str,
    mutant: Option<&str>,
    swarm: bool,
    seed: u64,
    format: Format,
    (view, lifelines): (View, Vec<String>),
) -> Result<bool, BadInput> {
    let (scenario, variant) = inputs(arg, protocol, mutant, swarm)?;
    let protocol = variant.protocol;
    let (outcome, result) = runner::run_seed(&scenario, variant, seed, true);
    let result = match result {
        Ok(r) => r,
        Err(panic) => {
            println!("seed {seed} panicked: {panic}");
            return Ok(false);
        }
    };
    let events = result.events.as_deref().unwrap_or_default();
    if format == Format::Json {
        let doc = serde_json::json!({ "outcome": outcome, "nodes": result.nodes, "events": events });
        println!("{doc}");
        return Ok(outcome.verdict != Verdict::Fail);
    }
    println!("{}", describe(&scenario));
    println!("  {}, seed {seed}, trace hash {}", flags(variant), outcome.trace_hash);
    if let Some(model) = &outcome.swarm {
        println!("  swarm model: {}", compact(model));
    }
    match view {
        View::Timeline => print!("\n{}", timeline::render(events, &result.nodes)),
        View::Nodes => print!("\n{}", timeline::by_node(events, &result.nodes)),
        View::Sequence => print!("\n{}", sequence_of(&result, &outcome, &lifelines)?),
    }
    let m = &outcome.metrics;
    println!(
        "\n{} orders: {} completed, {} cancelled, {} unsettled; simulated {} ms",
        m.orders_submitted, m.orders_completed, m.orders_cancelled, m.orders_unsettled, m.sim_ms
    );
    if outcome.violations.is_empty() {
        println!("no invariant violated");
    } else {
        println!("{} violations:", outcome.violations.len());
        for v in &outcome.violations {
            println!("  {} — {}: {}", v.invariant, v.subject, v.detail);
        }
    }
    print_expectation(&scenario, protocol);
    if outcome.verdict == Verdict::Expected {
        println!("verdict: expected — every violation is one this scenario explains");
    }
    Ok(outcome.verdict != Verdict::Fail)
}

fn print_expectation(scenario: &Scenario, protocol: Protocol) {
    if let Some(e) = scenario.expect.get(protocol.name()) {
        println!("  expected for {}: {} — {}", protocol.name(), e.violations.join(", "), e.why.trim());
    }
}

/// The detection benchmark: for each mutant on its hunting ground, the median
/// number of seeds until the first catch, plain and in swarm mode, and the
/// ratio between them (swarm / plain: below 1, swarm finds it sooner).
fn bench_detect(
    starts: u64,
    budget: u64,
    jobs: Option<usize>,
    on: Option<&str>,
    json: Option<PathBuf>,
) -> Result<(), BadInput> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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
    for (m, p, ground, _) in zoo::HUNTS {
        let name = on.unwrap_or(ground);
        let scenario = Scenario::load(name).map_err(|e| anyhow!(e))?;
        let plain = Variant::new(p, Some(m)).map_err(|e| anyhow!(e))?;
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
            m.name(),
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
            "mutant": m.name(), "protocol": p.name(), "scenario": name,
            "plain": { "median_seeds": a.median_seeds(), "median_wall_ms": a.median_wall_ms(), "per_start": a },
            "swarm": { "median_seeds": b.median_seeds(), "median_wall_ms": b.median_wall_ms(), "per_start": b },
            "shrunk_size": shrunk,
        }));
    }
    println!("\nseeds: median over starts of seeds run until the first run that breaks one of the");
    println!("mutant's expected invariants; * some starts missed within the budget; ms: wall time;");
    println!("shrunk: the first plain catch cut down by `faultline shrink` (orders, fault events).");
    if let Some(path) = json {
        let partial = path.with_extension("partial");
        let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
        std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn shrink(
    arg: &str,
    protocol: &str,
    mutant: Option<&str>,
    swarm: bool,
    seed: u64,
    out: Option<PathBuf>,
    json: bool,
) -> Result<bool, BadInput> {
    let (scenario, variant) = inputs(arg, protocol, mutant, swarm)?;
    let out = out.unwrap_or_else(|| {
        let m = variant.mutant.map(|m| format!("-{}", m.name())).unwrap_or_default();
        PathBuf::from(format!("{}-{}{m}-seed{seed}.toml", scenario.name, variant.protocol.name()))
    });
    let wall = std::time::Instant::now();
    let show = |step: &str, s: shrink::Size| {
        if !json {
            println!("  {step:<28} {} orders, {} faults", s.orders, s.faults);
        }
    };
    if !json {
        println!("shrinking {arg} {} --seed {seed}", flags(variant));
    }
    let shrunk = shrink::shrink(&scenario, variant, seed, show).map_err(|e| anyhow!(e))?;
    let text = format!(
        "# Written by `faultline shrink {arg} {} --seed {seed}`.\n# Reproduce: faultline run {} {} --seeds 1\n{}",
        flags(variant),
        out.display(),
        flags(variant),
        shrink::to_toml(&shrunk.scenario).map_err(|e| anyhow!("cannot encode the counterexample: {e}"))?
    );
    let partial = out.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &out).with_context(|| format!("cannot write {}", out.display()))?;
    // The file must stand on its own: load it back and run it.
    let reloaded = Scenario::load(&out.display().to_string()).map_err(|e| anyhow!(e))?;
    let (o, _) = runner::run_seed(&reloaded, variant, seed, false);
    let reproduces = o.violations.iter().any(|v| v.invariant == shrunk.invariant);
    let (b, a) = (shrunk.before, shrunk.after);
    let wall_ms = wall.elapsed().as_millis() as u64;
    if json {
        let doc = serde_json::json!({
            "invariant": shrunk.invariant,
            "orders_before": b.orders, "orders_after": a.orders,
            "faults_before": b.faults, "faults_after": a.faults,
            "sim_ms_before": b.sim_ms, "sim_ms_after": a.sim_ms,
            "out": out.display().to_string(),
            "reproduces": reproduces, "runs": shrunk.runs, "wall_ms": wall_ms,
        });
        println!("{doc}");
    } else {
        println!(
            "\n{}: {} → {} orders, {} → {} faults, {} → {} simulated ms ({} runs, {:.1} s)",
            shrunk.invariant,
            b.orders,
            a.orders,
            b.faults,
            a.faults,
            b.sim_ms,
            a.sim_ms,
            shrunk.runs,
            wall_ms as f64 / 1e3
        );
        println!(
            "wrote {} — {}",
            out.display(),
            if reproduces { "reproduces" } else { "DOES NOT reproduce" }
        );
        println!("  faultline run {} {} --seeds 1", out.display(), flags(variant));
    }
    Ok(reproduces)
}

/// What made a report: the command line, the version, the scenario files.
fn provenance(names: &[String]) -> faultline_reports::Provenance {
    faultline_reports::Provenance {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenarios: names.iter().filter_map(|n| Some((n.clone(), Scenario::text(n)?))).collect(),
        counterexamples: Default::default(),
    }
}

fn sweep(
    names: &[String],
    protocols: &str,
    seeds: u64,
    jobs: Option<usize>,
    intensities: &[f64],
    (out, shrink): (&std::path::Path, bool),
) -> Result<bool, BadInput> {
    let names: Vec<String> =
        if names.is_empty() { CATALOG.iter().map(|(n, _)| n.to_string()).collect() } else { names.to_vec() };
    let scenarios: Vec<Scenario> =
        names.iter().map(|n| Scenario::load(n).map_err(|e| anyhow!(e))).collect::<Result<_, _>>()?;
    let protocols = parse_protocols(protocols)?;
    if let Some(bad) = intensities.iter().find(|i| !(i.is_finite() && **i >= 0.0)) {
        return Err(anyhow!("--intensity {bad}: a factor is a non-negative number").into());
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let runs = out.join("runs.jsonl");
    let partial = runs.with_extension("partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?,
    );
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
        return Err(anyhow!("cannot write {}: {e}", partial.display()).into());
    }
    file.into_inner().map_err(|e| anyhow!("cannot write {}: {e}", partial.display()))?.sync_all()?;
    std::fs::rename(&partial, &runs).with_context(|| format!("cannot write {}", runs.display()))?;
    let records =
        faultline_reports::record::parse(&records.join("\n"), "the sweep").map_err(|e| anyhow!(e))?;
    let mut made = provenance(&names);
    if shrink {
        println!("shrinking the first seed of every violation class…");
        made.counterexamples = counterexamples(&scenarios, &records);
    }
    let report = faultline_reports::build(&records, &made);
    faultline_reports::write(&report, out).with_context(|| format!("cannot write into {}", out.display()))?;
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

fn report(inputs: &[PathBuf], out: &std::path::Path) -> Result<(), BadInput> {
    let mut records = Vec::new();
    for input in inputs {
        let file = if input.is_dir() { input.join("runs.jsonl") } else { input.clone() };
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        records.extend(
            faultline_reports::record::parse(&text, &file.display().to_string()).map_err(|e| anyhow!(e))?,
        );
    }
    let mut names: Vec<String> = Vec::new();
    for r in &records {
        if !names.contains(&r.scenario) {
            names.push(r.scenario.clone());
        }
    }
    let report = faultline_reports::build(&records, &provenance(&names));
    faultline_reports::write(&report, out).with_context(|| format!("cannot write into {}", out.display()))?;
    println!(
        "{} runs; wrote {} ({} KB) and {}",
        records.len(),
        out.join("report.html").display(),
        report.html.len() / 1024,
        out.join("report.md").display()
    );
    Ok(())
}

/// A run's sequence diagram: `lifelines` (default: every node but the stores),
/// with the first violated order's life marked.
fn sequence_of(
    result: &faultline_protocols::run::RunResult,
    outcome: &RunOutcome,
    lifelines: &[String],
) -> Result<String, BadInput> {
    let events = result.events.as_deref().unwrap_or_default();
    let id = |n: &str| result.nodes.iter().position(|x| x == n).map(|i| faultline_sim::NodeId(i as u16));
    let show: Vec<_> = if lifelines.is_empty() {
        let service = |n: &&String| !n.contains("-db");
        result.nodes.iter().filter(service).filter_map(|n| id(n)).collect()
    } else {
        let mut show = Vec::new();
        for n in lifelines {
            let valid = result.nodes.join(", ");
            show.push(id(n).ok_or_else(|| anyhow!("unknown node {n:?}; nodes are: {valid}"))?);
        }
        show
    };
    // The first violated order's life: from submission to its last state write.
    let focus = outcome.violations.iter().find_map(|v| {
        let id: u32 = v.subject.strip_prefix("order ")?.parse().ok()?;
        let o = result.truth.workload.orders.iter().find(|o| o.id == id)?;
        let last = result.truth.order_history.iter().filter(|h| h.1 == id).map(|h| h.0).max();
        Some((o.submit_at_ms * 1000, last.unwrap_or(u64::MAX)))
    });
    let mut out = String::new();
    if let Some((lo, hi)) = focus {
        let hi = if hi == u64::MAX { "the end".to_string() } else { format!("{:.3}s", hi as f64 / 1e6) };
        out.push_str(&format!(
            "» marks the life of the first violated order: {:.3}s to {hi}\n\n",
            lo as f64 / 1e6
        ));
    }
    out.push_str(&timeline::sequence(events, &result.nodes, &show, focus));
    Ok(out)
}

/// For every violation class of the sweep at intensity 1: its first seed
/// shrunk, and the minimal run's sequence diagram.
fn counterexamples(
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
            let (Some(s), Ok(p)) =
                (scenarios.iter().find(|s| s.name == r.scenario), Protocol::parse(&r.protocol))
            else {
                continue;
            };
            let variant = Variant::from(p);
            let Ok(shrunk) = shrink::shrink_for(s, variant, r.seed, Some(&v.invariant), |_, _| {}) else {
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
fn excerpt(diagram: &str, max: usize) -> String {
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
