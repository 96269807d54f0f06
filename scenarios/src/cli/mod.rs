//! The `faultline` command line as a library: a team builds its own binary
//! with its protocols added to the registry, and the shipped binary's `main`
//! is the same call with the built-ins. One module per subcommand.
//! Exit codes: 0 no unexpected violation, 1 some invariant violated, 2 bad input.

mod bench;
mod list;
mod replay;
mod report;
mod run;
mod shrink;
mod sweep;

use crate::runner::Variant;
use crate::scenario::Scenario;
use anyhow::anyhow;
use clap::{Parser, Subcommand, ValueEnum};
use faultline_protocols::{ProtocolRef, Registry};
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs the command line over `registry`'s protocols: parses the arguments,
/// runs the subcommand, and maps its result to the exit code.
pub fn main(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx { registry, program: program_name() };
    let result = match cli.cmd {
        Cmd::List { what } => list::list(&ctx, what).map(|()| true),
        Cmd::Run { scenario, protocol, seeds, first_seed, jobs, json, mutant, swarm } => {
            run::run(&ctx, &scenario, &protocol, mutant.as_deref(), swarm, (first_seed, seeds), jobs, json)
        }
        Cmd::Shrink { scenario, protocol, seed, mutant, swarm, out, json } => {
            shrink::shrink(&ctx, &scenario, &protocol, mutant.as_deref(), swarm, seed, out, json)
        }
        Cmd::Sweep { scenarios, protocol, seeds, jobs, intensity, out, shrink } => {
            sweep::sweep(&ctx, &scenarios, &protocol, seeds, jobs, &intensity, (&out, shrink))
        }
        Cmd::Report { inputs, out } => report::report(&ctx, &inputs, &out).map(|()| true),
        Cmd::Bench { what: Bench::Detect { starts, budget, jobs, on, json } } => {
            bench::bench_detect(&ctx, starts, budget, jobs, on.as_deref(), json).map(|()| true)
        }
        Cmd::Replay { scenario, protocol, seed, format, mutant, swarm, view, nodes } => {
            replay::replay(&ctx, &scenario, &protocol, mutant.as_deref(), swarm, seed, format, (view, nodes))
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

/// What every subcommand works with.
pub(crate) struct Ctx {
    pub registry: Registry,
    /// How this binary is called, for the commands it prints.
    pub program: String,
}

/// The binary's own name (`faultline`, or a team's), so that a printed replay
/// command runs the binary that knows the protocol.
fn program_name() -> String {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&arg0).file_stem().map(|s| s.to_string_lossy().into_owned());
    name.filter(|n| !n.is_empty()).unwrap_or_else(|| "faultline".into())
}

/// Bad input: exits 2, unlike a violated invariant.
pub(crate) struct BadInput(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for BadInput {
    fn from(e: E) -> Self {
        BadInput(e.into())
    }
}

/// Worker threads: the flag, or every core.
pub(crate) fn jobs(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Deterministic simulation testing of distributed-transaction protocols"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum What {
    Scenarios,
    Protocols,
    Invariants,
    Mutants,
    FaultPoints,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum View {
    Timeline,
    Nodes,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub(crate) fn inputs(
    ctx: &Ctx,
    scenario: &str,
    protocol: &str,
    mutant: Option<&str>,
    swarm: bool,
) -> Result<(Scenario, Variant), BadInput> {
    let s = Scenario::load(scenario, &ctx.registry).map_err(|e| anyhow!(e))?;
    let p = ctx.registry.get(protocol)?;
    Ok((s, Variant { swarm, ..variant(ctx, p, mutant)? }))
}

pub(crate) fn variant(ctx: &Ctx, protocol: ProtocolRef, mutant: Option<&str>) -> Result<Variant, BadInput> {
    let mutant = mutant.map(|m| ctx.registry.mutant(m)).transpose()?;
    Ok(Variant::new(&ctx.registry, protocol, mutant)?)
}

/// The flags that name a run's variant on a command line.
pub(crate) fn flags(v: Variant) -> String {
    let mut f = format!("--protocol {}", v.protocol.name());
    if let Some(m) = v.mutant {
        f.push_str(&format!(" --mutant {}", m.name));
    }
    if v.swarm {
        f.push_str(" --swarm");
    }
    f
}

/// A swarm seed's fault model, with only the kinds it switched on.
pub(crate) fn compact(model: &faultline_sim::FaultModel) -> String {
    let text = toml::to_string(model).unwrap_or_default();
    let on: Vec<_> = text
        .lines()
        .filter(|l| !l.ends_with("= 0.0") && !l.ends_with("= [0, 0]") && !l.ends_with("= []"))
        .collect();
    on.join(", ")
}

pub(crate) fn describe(s: &Scenario) -> String {
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

pub(crate) fn print_expectation(scenario: &Scenario, protocol: ProtocolRef) {
    if let Some(e) = scenario.expect.get(protocol.name()) {
        let names: Vec<_> = e.violations.iter().map(|i| i.name()).collect();
        println!("  expected for {}: {} — {}", protocol.name(), names.join(", "), e.why.trim());
    }
}
