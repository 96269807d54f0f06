//! The `faultline` command line as a library: a team builds its own binary
//! with its protocols added to the registry, and the shipped binary's `main`
//! is the same call with the built-ins. One module per subcommand.
//! Exit codes: 0 no unexpected violation, 1 some invariant violated (or a
//! required coverage fact missing), 2 bad input, 3 an output could not be
//! written, 130 interrupted (SIGINT or SIGTERM) after a clean stop.

/// `println!` for the human-readable text: on standard error instead when
/// standard output carries JSON lines (`--json -`), so the two never mix.
macro_rules! say {
    ($($arg:tt)*) => {
        match $crate::cli::text_to_stderr() {
            true => anstream::eprintln!($($arg)*),
            false => anstream::println!($($arg)*),
        }
    };
}

/// `text` in red (bad news) or green (good), for `say!`: styled on a
/// terminal, plain in a pipe or a file or under `NO_COLOR` (anstream decides).
pub(crate) fn paint(text: impl std::fmt::Display, good: bool) -> String {
    let colour = if good { anstyle::AnsiColor::Green } else { anstyle::AnsiColor::Red };
    let style = anstyle::Style::new().fg_color(Some(colour.into())).bold();
    format!("{style}{text}{style:#}")
}

mod bench;
mod interrupt;
mod list;
mod perf;
mod replay;
mod report;
mod run;
mod shrink;
mod sweep;

use crate::output::OutputError;
use crate::runner::Variant;
use crate::scenario::Scenario;
use anyhow::anyhow;
use clap::{Parser, Subcommand, ValueEnum};
use faultline_protocols::{ProtocolRef, Registry};
use std::process::ExitCode;

/// Runs the command line over `registry`'s protocols: parses the arguments,
/// runs the subcommand, and maps its result to the exit code.
pub fn main(registry: Registry) -> ExitCode {
    // Like every Unix filter: a reader that goes away (`| head`) ends us
    // quietly, by SIGPIPE, instead of a panic on the next print.
    // SAFETY: restoring the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    interrupt::install();
    // A print to a standard output that cannot take it (a full disk) is an
    // output error with its exit code, not a crash with a backtrace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        if message.starts_with("failed printing to stdout") {
            eprintln!("error: cannot write standard output: {message}");
            std::process::exit(3);
        }
        default_hook(info)
    }));
    let cli = Cli::parse();
    let ctx = Ctx { registry, program: program_name() };
    let result = match cli.cmd {
        Cmd::List(args) => list::list(&ctx, args).map(|()| true),
        Cmd::Run(args) => run::run(&ctx, args),
        Cmd::Shrink(args) => shrink::shrink(&ctx, args),
        Cmd::Sweep(args) => sweep::sweep(&ctx, args),
        Cmd::Report(args) => report::report(&ctx, args).map(|()| true),
        Cmd::Bench(args) => bench::bench(&ctx, args).map(|()| true),
        Cmd::Replay(args) => replay::replay(&ctx, args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(BadInput(e)) if e.is::<interrupt::Interrupted>() => {
            eprintln!("\n{}", printable(&e.to_string()));
            ExitCode::from(interrupt::EXIT)
        }
        Err(BadInput(e)) => {
            eprintln!("error: {}", printable(&format!("{e:#}")));
            // A write that failed is not the user's input at fault, nor is our own bug.
            match e.downcast_ref::<OutputError>() {
                Some(OutputError::Write { .. }) => ExitCode::from(3),
                _ if e.is::<Internal>() => ExitCode::from(INTERNAL_EXIT),
                _ => ExitCode::from(2),
            }
        }
    }
}

static TEXT_TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`say!`] writes to standard error (set once standard output is taken by data).
pub(crate) fn text_to_stderr() -> bool {
    TEXT_TO_STDERR.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sends the human-readable text to standard error from now on.
pub(crate) fn stdout_is_data() {
    TEXT_TO_STDERR.store(true, std::sync::atomic::Ordering::Relaxed)
}

/// `text` with every control character shown as an escape: an error may
/// quote a path or a name from the user, and a terminal must show it, not obey it.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
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

/// faultline contradicted itself (a shrunk counterexample that does not
/// reproduce): exits 70, sysexits' `EX_SOFTWARE`, never mistaken for bad input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Internal(pub String);

const INTERNAL_EXIT: u8 = 70;

/// Bad input: exits 2, unlike a violated invariant.
pub(crate) struct BadInput(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for BadInput {
    fn from(e: E) -> Self {
        BadInput(e.into())
    }
}

/// The most `--intensity` may scale a scenario's fault rates by.
pub(crate) const MAX_INTENSITY: f64 = 100.0;

/// `s` with its fault rates scaled by `intensity`, which must be in [0, 100].
pub(crate) fn at_intensity(s: Scenario, intensity: f64) -> Result<Scenario, BadInput> {
    if !(0.0..=MAX_INTENSITY).contains(&intensity) {
        return Err(anyhow!("--intensity {intensity}: a factor from 0 to {MAX_INTENSITY}").into());
    }
    Ok(if intensity == 1.0 { s } else { s.scaled(intensity) })
}

/// The most worker threads `--jobs` may ask for.
pub(crate) const MAX_JOBS: usize = 1024;

/// Worker threads: the flag (1 to [`MAX_JOBS`]), or every core.
pub(crate) fn jobs(flag: Option<usize>) -> Result<usize, BadInput> {
    match flag {
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        Some(n @ 1..=MAX_JOBS) => Ok(n),
        Some(n) => Err(anyhow!("--jobs {n}: from 1 to {MAX_JOBS}").into()),
    }
}

/// The most seeds one command runs (`--seeds`).
pub(crate) const MAX_SEEDS: u64 = 100_000_000;

/// `count` seeds from `first`: at most [`MAX_SEEDS`], and not past the last seed.
pub(crate) fn seed_range(first: u64, count: u64) -> Result<std::ops::Range<u64>, BadInput> {
    if count > MAX_SEEDS {
        return Err(anyhow!("--seeds {count}: at most {MAX_SEEDS}").into());
    }
    match first.checked_add(count) {
        Some(end) => Ok(first..end),
        None => {
            Err(anyhow!("--first-seed {first} with --seeds {count} goes past the last seed ({})", u64::MAX)
                .into())
        }
    }
}

/// `--shard K/N`: the K-th of N disjoint slices of the runs a command would
/// make, so N machines cover them with no overlap and no gap. The runs are
/// numbered in the command's own order (scenario, intensity, protocol, seed)
/// and dealt round-robin: every slice gets a like share of every cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    k: u64,
    n: u64,
}

/// The most slices a run list is cut into.
pub const MAX_SHARDS: u64 = 1_000_000;

impl Shard {
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    /// Whether the run numbered `index` is this slice's.
    pub fn takes(self, index: u64) -> bool {
        index % self.n == self.k - 1
    }

    /// How many of the runs numbered `start..start + len` are this slice's.
    pub fn share(self, start: u64, len: u64) -> u64 {
        let below = |x: u64| x / self.n + u64::from(x % self.n > self.k - 1);
        below(start + len) - below(start)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?}: a shard is K/N, 1 ≤ K ≤ N ≤ {MAX_SHARDS} (e.g. 2/3)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n) =
            (k.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
        if k == 0 || k > n || n > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
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
    List(list::Args),
    /// Run a scenario over many seeds and check every invariant.
    Run(run::Args),
    /// Cut a failing seed down to the smallest run that breaks the same
    /// invariant, and write it as a scenario file that reproduces it.
    Shrink(shrink::Args),
    /// Run every chosen protocol on every chosen scenario (default: the whole
    /// catalogue, every protocol) on the same seeds, and write a report.
    Sweep(sweep::Args),
    /// Build the report from existing JSON lines (files, or sweep directories).
    Report(report::Args),
    /// Benchmarks of what faultline finds.
    Bench(bench::Args),
    /// Re-run one seed and print its timeline and violations.
    Replay(replay::Args),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum What {
    Scenarios,
    Workflows,
    Protocols,
    Invariants,
    Mutants,
    FaultPoints,
    Coverage,
    Causes,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum View {
    Timeline,
    Nodes,
    Sequence,
}

/// One seed of one variant, as a failing run printed it: what `replay` and
/// `shrink` take.
#[derive(clap::Args)]
pub struct OneSeed {
    /// A catalogue name (see `list scenarios`) or a path to a scenario file.
    pub scenario: String,
    /// The protocol (see `list protocols`).
    #[arg(long, short)]
    pub protocol: String,
    /// The seed.
    #[arg(long)]
    pub seed: u64,
    #[command(flatten)]
    pub how: How,
}

/// How a run ran, besides scenario, protocol and seeds: what `run` takes and
/// every printed command carries back.
#[derive(clap::Args)]
pub struct How {
    /// Switch on one known bug (see `list mutants`).
    #[arg(long)]
    pub mutant: Option<String>,
    /// Swarm testing: each seed draws its own fault model from the scenario's.
    #[arg(long)]
    pub swarm: bool,
    /// PCT-style exploration: every order gets one message held back (or its
    /// receiver stalled) 0.5–4 s, at a random point of its life.
    #[arg(long)]
    pub pct: bool,
    /// Scale the scenario's fault rates by this factor (0: calm, 2: twice as rough; at most 100).
    #[arg(long, default_value_t = 1.0)]
    pub intensity: f64,
    /// Run the reconciler beside the protocol (the scenario's `[reconcile]`, else its defaults).
    #[arg(long)]
    pub reconcile: bool,
    /// The orders go through this workflow instead of the scenario's: a
    /// built-in's name (`list workflows`) or a workflow file.
    #[arg(long, value_name = "FILE")]
    pub workflow: Option<String>,
}

/// `s` on the workflow `--workflow` names, if it names one.
pub(crate) fn on_workflow(s: Scenario, workflow: Option<&str>) -> Result<Scenario, BadInput> {
    match workflow {
        Some(w) => Ok(s.with_workflow(w).map_err(|e| anyhow!(e))?),
        None => Ok(s),
    }
}

impl OneSeed {
    /// The scenario (at the run's intensity) and the variant, validated against the registry.
    pub(crate) fn load(&self, ctx: &Ctx) -> Result<(Scenario, Variant), BadInput> {
        let s = Scenario::load(&self.scenario, &ctx.registry).map_err(|e| anyhow!(e))?;
        let s = on_workflow(s, self.how.workflow.as_deref())?;
        let s = at_intensity(s, self.how.intensity)?;
        let p = ctx.registry.get(&self.protocol)?;
        p.supports(&s.workflow())
            .map_err(|e| anyhow!("{} cannot run workflow {}: {e}", p.name(), s.workflow().name))?;
        let v = variant(ctx, p, self.how.mutant.as_deref())?;
        let (swarm, pct, reconcile) = (self.how.swarm, self.how.pct, self.how.reconcile || v.reconcile);
        Ok((s, Variant { swarm, pct, reconcile, ..v }))
    }
}

/// The variants whose protocol can drive `s`'s workflow. With `all` the
/// others are left out, each with a line saying why; a protocol named on the
/// command line that cannot is bad input.
pub(crate) fn runnable(s: &Scenario, variants: Vec<Variant>, all: bool) -> Result<Vec<Variant>, BadInput> {
    let w = s.workflow();
    let mut out = Vec::new();
    for v in variants {
        match v.protocol.supports(&w) {
            Ok(()) => out.push(v),
            Err(e) if all => say!("  {} left out: it cannot run workflow {}: {e}", v.protocol.name(), w.name),
            Err(e) => return Err(anyhow!("{} cannot run workflow {}: {e}", v.protocol.name(), w.name).into()),
        }
    }
    Ok(out)
}

pub(crate) fn variant(ctx: &Ctx, protocol: ProtocolRef, mutant: Option<&str>) -> Result<Variant, BadInput> {
    let mutant = mutant.map(|m| ctx.registry.mutant(m)).transpose()?;
    Ok(Variant::new(&ctx.registry, protocol, mutant)?)
}

/// The flags that name a run's variant on a command line.
pub(crate) fn flags(v: Variant, intensity: f64) -> String {
    let mut f = format!("--protocol {}", v.protocol.name());
    if intensity != 1.0 {
        f.push_str(&format!(" --intensity {intensity}"));
    }
    if let Some(m) = v.mutant {
        f.push_str(&format!(" --mutant {}", m.name));
    }
    if v.swarm {
        f.push_str(" --swarm");
    }
    if v.pct {
        f.push_str(" --pct");
    }
    if v.reconcile {
        f.push_str(" --reconcile");
    }
    f
}

/// [`flags`], and the workflow if `--workflow` chose it: what a printed
/// command needs after the scenario's name to run the same again.
pub(crate) fn flags_on(s: &Scenario, v: Variant, intensity: f64) -> String {
    let mut f = flags(v, intensity);
    if s.workflow_flag {
        f.push_str(&format!(" --workflow {}", faultline_reports::render::shell_word(&s.workflow)));
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
    let workflow = match (s.reconcile.is_some(), faultline_protocols::reconcile::supports(&s.workflow())) {
        (true, Err(e)) => format!("{}\n  reconciler left out: {e}", describe_workflow(&s.workflow())),
        _ => describe_workflow(&s.workflow()),
    };
    format!(
        "scenario {}: {}\n  workflow: {workflow}\n  workload: {workload}\n  \
         latency {}..{} ms; {replication}; fault window {} ms, settle deadline {} ms\n  faults: {plan}",
        s.name, s.description, s.latency_ms.0, s.latency_ms.1, s.fault_window_ms, s.settle_ms,
    )
}

/// A workflow in one line: its name and its steps.
pub(crate) fn describe_workflow(w: &faultline_protocols::workflow::Workflow) -> String {
    format!("{} — {}", w.name, steps(w))
}

/// A workflow's steps in order, the pivot marked.
pub(crate) fn steps(w: &faultline_protocols::workflow::Workflow) -> String {
    let steps: Vec<_> = w
        .steps
        .iter()
        .map(|s| if s.pivot { format!("{} (pivot)", s.name) } else { s.name.clone() })
        .collect();
    steps.join(" → ")
}

pub(crate) fn print_expectation(scenario: &Scenario, protocol: ProtocolRef) {
    if let Some(e) = scenario.expect.get(protocol.name()) {
        let causes: Vec<_> = e.causes.iter().map(|c| c.name()).collect();
        let only = match e.violations.is_empty() {
            true => String::new(),
            false => {
                let names: Vec<_> = e.violations.iter().map(|i| i.name()).collect();
                format!(", only {}", names.join(", "))
            }
        };
        say!(
            "  expected for {}: violations caused by {}{only}, with evidence from the run — {}",
            protocol.name(),
            causes.join(", "),
            e.why.trim()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any value of a numeric flag: accepted within its range, refused
        /// outside it, never a panic or an overflow.
        #[test]
        fn numeric_flags_are_bounded(first in any::<u64>(), count in any::<u64>(), jobs_flag in any::<usize>(), factor in any::<f64>()) {
            match seed_range(first, count) {
                Ok(r) => prop_assert!(count <= MAX_SEEDS && r.end - r.start == count),
                Err(_) => prop_assert!(count > MAX_SEEDS || first.checked_add(count).is_none()),
            }
            prop_assert_eq!(jobs(Some(jobs_flag)).is_ok(), (1..=MAX_JOBS).contains(&jobs_flag));
            let s = Scenario::parse("name = \"x\"\nsettle_ms = 9000\n", "x", &Registry::builtin()).unwrap();
            prop_assert_eq!(at_intensity(s, factor).is_ok(), (0.0..=MAX_INTENSITY).contains(&factor));
        }

        /// Any text as a flag's value: clap parses or refuses it, never panics.
        #[test]
        fn any_flag_text_parses_or_is_refused(flag in prop::sample::select(vec!["--seeds", "--first-seed", "--jobs", "--intensity", "--mutant", "-p"]), value in ".{0,40}") {
            let _ = Cli::try_parse_from(["faultline", "run", "calm", "-p", "saga", flag, &value]);
            let _ = Cli::try_parse_from(["faultline", "sweep", "--out", "x", flag, &value]);
        }
    }

    /// Shards cover every run once, and `share` counts what `takes` takes.
    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        for n in 1..=5u64 {
            let shards: Vec<Shard> = (1..=n).map(|k| format!("{k}/{n}").parse().unwrap()).collect();
            for i in 0..40 {
                assert_eq!(shards.iter().filter(|s| s.takes(i)).count(), 1, "run {i} of {n} slices");
            }
            for s in &shards {
                for (start, len) in [(0, 0), (0, 7), (3, 11), (10, 1)] {
                    assert_eq!(
                        s.share(start, len),
                        (start..start + len).filter(|i| s.takes(*i)).count() as u64
                    );
                }
            }
        }
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/1000001", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    /// `faultline <every subcommand> --help` has text for every argument.
    #[test]
    fn every_argument_is_explained() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let cli = Cli::command();
        walk(&cli, "faultline", &mut missing);
        assert!(missing.is_empty(), "arguments without help text: {missing:?}");
        assert!(cli.get_subcommands().count() >= 7, "the walk saw the subcommands");
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
    }
}
