//! `faultline run`: a scenario over many seeds, every invariant checked; the
//! summary, the failing seeds with the commands that replay and shrink them,
//! and with several protocols a side-by-side table.

use super::{compact, describe, flags_on, interrupt, print_expectation, variant, BadInput, Ctx, How};
use crate::outcome::{RunOutcome, Summary, SummaryBuilder, Verdict};
use crate::output::Journal;
use crate::runner::{self, Variant};
use crate::scenario::Scenario;
use anyhow::anyhow;
use faultline_protocols::check::Coverage;
use faultline_protocols::ProtocolRef;
use faultline_reports::render::shell_word;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A catalogue name (see `faultline list`) or a path to a scenario file.
    pub scenario: String,
    /// A protocol, a comma-separated list, or `all` (then a side-by-side table).
    #[arg(long, short)]
    pub protocol: String,
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed (default: the scenario's `seed`, else 0).
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write one JSON object per seed to this file (`-`: standard output),
    /// line by line as seeds finish, after one with the scenario's text.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Carry on an interrupted `--json` file: its complete lines stand, a line
    /// cut off mid-write is redone, and only the missing seeds run.
    #[arg(long, requires = "json")]
    pub resume: bool,
    /// Run only the K-th of N disjoint slices of the (protocol, seed) runs,
    /// e.g. `--shard 2/3` on the second of three machines; `report` merges the slices.
    #[arg(long, value_name = "K/N", default_value_t = super::Shard::WHOLE)]
    pub shard: super::Shard,
    #[command(flatten)]
    pub how: How,
    /// Run every seed twice more, recording the traces, and report the first
    /// event where two runs of one seed part (exit 1 if any does).
    #[arg(long)]
    pub check_determinism: bool,
}

pub(super) fn run(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let Args {
        scenario: arg,
        protocol: protocols,
        seeds,
        first_seed,
        jobs,
        json,
        resume,
        shard,
        how: How { mutant, swarm, pct, intensity, reconcile, workflow },
        check_determinism,
    } = a;
    let (arg, protocols, mutant) = (arg.as_str(), protocols.as_str(), mutant.as_deref());
    if json.as_deref() == Some(std::path::Path::new("-")) {
        super::stdout_is_data();
    }
    let scenario = Scenario::load(arg, &ctx.registry).map_err(|e| anyhow!(e))?;
    let scenario = super::on_workflow(scenario, workflow.as_deref())?;
    let scenario = super::at_intensity(scenario, intensity)?;
    let first = first_seed.or(scenario.seed).unwrap_or(0);
    let seeds = super::seed_range(first, seeds)?;
    let count = seeds.end - seeds.start;
    let variants: Vec<Variant> = match mutant {
        // A mutant runs in the protocols whose code it is in.
        Some(m) if protocols == "all" => {
            let m = ctx.registry.mutant(m)?;
            let ps = ctx.registry.protocols_with(m);
            ps.into_iter().map(|p| variant(ctx, p, mutant)).collect::<Result<_, _>>()?
        }
        _ => {
            let ps = parse_protocols(ctx, protocols)?;
            ps.into_iter().map(|p| variant(ctx, p, mutant)).collect::<Result<_, _>>()?
        }
    };
    let jobs = super::jobs(jobs)?;
    say!("{}", describe(&scenario));
    let mut variants = super::runnable(&scenario, variants, protocols == "all" || mutant.is_some())?;
    for v in &mut variants {
        v.swarm = swarm;
        v.pct = pct;
        // A reconciler's bug brings its reconciler (see `Variant::new`).
        v.reconcile |= reconcile;
    }
    // A resumed file's runs count as if run now: they are this run's first part.
    let mut tallies: Vec<Tally> = variants.iter().map(|_| Tally::default()).collect();
    let mut file = match json.as_deref() {
        Some(path) if resume => Some(Journal::resume(path, |line| {
            if line.starts_with("{\"scenario_text\"") {
                return Ok(());
            }
            let o: RunOutcome = serde_json::from_str(line).map_err(|e| e.to_string())?;
            if o.scenario != scenario.name
                || o.scenario_hash != scenario.origin.as_ref().map(|o| o.hash.clone())
            {
                return Err(format!("a run of another scenario text ({})", o.scenario));
            }
            if o.intensity.unwrap_or(1.0) != intensity {
                return Err(format!("a run at another --intensity ({})", o.intensity.unwrap_or(1.0)));
            }
            let of = |v: &Variant| {
                o.protocol == v.protocol.name()
                    && o.mutant.as_deref() == v.mutant.map(|m| m.name)
                    && o.swarm.is_some() == (v.swarm && scenario.plan.is_none())
                    && o.reconcile == scenario.reconciles(v.reconcile).is_some()
                    && o.pct == scenario.pct_on(v.pct)
                    && seeds.contains(&o.seed)
            };
            let i = variants.iter().position(of).ok_or("a run this command would not make")?;
            if !shard.takes(i as u64 * count + (o.seed - seeds.start)) {
                return Err(format!("seed {} is not in shard {shard}", o.seed));
            }
            if !tallies[i].done.insert(o.seed) {
                return Err(format!("seed {} twice", o.seed));
            }
            tallies[i].add(o);
            Ok(())
        })?),
        Some(path) => {
            let mut journal = Journal::create(path)?;
            if let Some(line) = super::sweep::text_line(&scenario) {
                journal.line(&line)?;
            }
            Some(journal)
        }
        None => None,
    };
    let mut table = Vec::new();
    let mut failing = 0;
    let mut uncovered = 0;
    if swarm && scenario.plan.is_some() {
        say!("  (--swarm: the scenario's explicit plan has no model to draw from; it runs as written)");
    }
    for (i, (&v, mut tally)) in variants.iter().zip(tallies).enumerate() {
        let protocol = v.protocol;
        // Runs are numbered protocol by protocol, seed by seed: `--shard` takes its slice.
        let base = i as u64 * count;
        let of_shard = match shard == super::Shard::WHOLE {
            true => String::new(),
            false => format!(", shard {shard}: {} of them", shard.share(base, count)),
        };
        say!(
            "\n== protocol {}, seeds {}..{}{of_shard}, {jobs} jobs",
            protocol.name(),
            seeds.start,
            seeds.end
        );
        match v.mutant {
            Some(m) => say!(
                "  mutant {}: {}\n  expected to break: {}",
                m.name,
                m.mechanism,
                m.breaks.iter().map(|i| i.name()).collect::<Vec<_>>().join(" / ")
            ),
            None => print_expectation(&scenario, protocol),
        }
        let bar = indicatif::ProgressBar::new(shard.share(base, count));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}")
                .expect("template"),
        );
        let wall = std::time::Instant::now();
        // Streamed: the summary's numbers and the few outcomes shown are all
        // that stays in memory, however many seeds run.
        bar.inc(tally.done.len() as u64);
        let mut write_err = None;
        let done = std::mem::take(&mut tally.done);
        runner::for_each_new_seed(
            &scenario,
            v,
            seeds.clone(),
            jobs,
            |s| done.contains(&s) || !shard.takes(base + (s - seeds.start)),
            |mut o| {
                o.intensity = (intensity != 1.0).then_some(intensity);
                if let Some(f) = file.as_mut() {
                    let line = serde_json::to_string(&o).expect("outcome serializes");
                    if let Err(e) = f.line(&line) {
                        write_err.get_or_insert(e);
                    }
                }
                tally.add(o);
                bar.set_message(format!("{} failing", tally.failures));
                bar.inc(1);
            },
        );
        if let Some(e) = write_err {
            return Err(e.into());
        }
        let wall = wall.elapsed();
        bar.finish_and_clear();
        let Tally { summary, expected: shown_expected, failing: shown_failing, .. } = tally;
        let summary = summary.finish();
        failing += summary.failing_seeds.len();
        print_summary(&summary, wall);
        uncovered += print_coverage(&summary, &scenario.required(protocol));
        print_expected(&shown_expected, summary.expected_seeds as usize);
        print_failures(ctx, (arg, intensity, &scenario), v, &shown_failing, summary.failing_seeds.len());
        if check_determinism && !runner::stopped() {
            failing += check_each_seed(ctx, (arg, intensity), &scenario, v, seeds.clone());
        }
        table.push((protocol, summary));
        if runner::stopped() {
            break;
        }
    }
    if let Some(f) = file {
        f.finish()?;
    }
    interrupt::check(|| match &json {
        Some(path) if path.as_os_str() != "-" => format!(
            "the seeds that finished are in {}; carry on with the same command and --resume",
            path.display()
        ),
        _ => "the summary above covers the seeds that finished".into(),
    })?;
    if table.len() > 1 {
        print_comparison(&table);
    }
    Ok(failing == 0 && uncovered == 0)
}

/// One variant's seeds as they come in (resumed or run): the summary's
/// numbers and the few outcomes shown — all that stays in memory.
#[derive(Default)]
struct Tally {
    summary: SummaryBuilder,
    expected: Vec<RunOutcome>,
    failing: Vec<RunOutcome>,
    failures: usize,
    /// Seeds a resumed file already holds.
    done: BTreeSet<u64>,
}

impl Tally {
    fn add(&mut self, o: RunOutcome) {
        self.summary.add(&o);
        self.failures += usize::from(o.verdict == Verdict::Fail);
        match o.verdict {
            Verdict::Expected if self.expected.len() < SHOWN_EXPECTED => self.expected.push(o),
            Verdict::Fail if self.failing.len() < SHOWN_FAILING => self.failing.push(o),
            _ => {}
        }
    }
}

/// The coverage facts the seeds showed, and those the scenario requires that
/// none did — how many, for the exit code: a scenario that no longer exercises
/// what it is for fails like a broken invariant.
fn print_coverage(s: &Summary, required: &[Coverage]) -> usize {
    let seen: Vec<_> = s.coverage.iter().map(|(f, n)| format!("{f} {n}")).collect();
    say!("  coverage (seeds): {}", if seen.is_empty() { "nothing".into() } else { seen.join(", ") });
    let missing = s.missing(required);
    if !missing.is_empty() {
        let names: Vec<_> = missing.iter().map(|f| f.name()).collect();
        say!("  UNCOVERED: the scenario requires {}, which no seed showed", names.join(", "));
    }
    missing.len()
}

/// `all`, one protocol, or a comma-separated list; unknown names list the valid ones.
pub(super) fn parse_protocols(ctx: &Ctx, arg: &str) -> Result<Vec<ProtocolRef>, BadInput> {
    if arg == "all" {
        return Ok(ctx.registry.all().to_vec());
    }
    arg.split(',').map(|p| ctx.registry.get(p.trim()).map_err(|e| anyhow!("{e}, or all").into())).collect()
}

/// One row per protocol, on the same seeds: what each costs under these
/// faults — outcomes and latency in one table, costs in another, each within
/// 100 columns (comfy-table sizes them).
pub(super) fn print_comparison(table: &[(ProtocolRef, Summary)]) {
    say!("\nside by side (same scenario, same seeds):");
    let reconciled = table.iter().any(|(_, s)| s.reconciled);
    let label = |p: &ProtocolRef, s: &Summary| match s.reconciled {
        true => format!("{} +reconcile", p.name()),
        false => p.name().to_string(),
    };
    let outcomes = table.iter().map(|(p, s)| {
        vec![
            label(p, s),
            s.failing_seeds.len().to_string(),
            s.expected_seeds.to_string(),
            s.orders_completed.to_string(),
            {
                let business: u64 = s.cancelled_by.iter().filter(|(c, _)| c.business()).map(|(_, n)| n).sum();
                format!("{business} + {}", s.orders_cancelled - business)
            },
            format!("{:.1}", s.latency_p50_ms.p50),
            format!("{:.1}", s.latency_p99_ms.p50),
            format!("{:.1}", s.consistency_p99_ms.p50),
            format!("{:.1}", s.longest_inconsistency_ms),
        ]
    });
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
    ];
    say!("{}", text_table(&head, outcomes));
    let costs = table.iter().map(|(p, s)| {
        let mut row = vec![
            label(p, s),
            format!("{:.1}", s.messages_sent as f64 / s.orders_submitted.max(1) as f64),
            s.retries.to_string(),
            s.compensations.to_string(),
            s.refunds.to_string(),
            format!("{:.1}", s.reserved_unit_s),
            format!("{:.0}", s.authorized_cent_s / 100.0),
            format!("{:.1}", s.locked_s),
        ];
        if reconciled {
            row.extend([s.repairs.to_string(), format!("{:.0}", s.heal_p99_ms.max)]);
        }
        row
    });
    let head = ["protocol", "msgs", "retries", "compens", "refunds", "reserved", "held $", "locks s"];
    let head: Vec<&str> =
        head.into_iter().chain(reconciled.then_some(["repairs", "heal p99"]).into_iter().flatten()).collect();
    say!("{}", text_table(&head, costs));
    say!("  cancelled: by the business (customer, stock, funds, shipment) + by the protocol and faults;");
    say!("  latencies in ms: median over seeds of each seed's per-order p50 and p99; ttc p99: time to");
    say!("  consistency (submission to the order's last write in any service), median of seeds' p99;");
    say!("  msgs: messages per order; compens: compensations;");
    say!("  window max: the longest time two services could disagree on one order; reserved: stock");
    say!("  held in reservations, unit-seconds; held $: customers' money on hold, dollar-seconds;");
    say!("  locks s: row locks held (2PC), lock-seconds; all three summed over seeds.");
    if reconciled {
        say!("  repairs: the reconciler's, summed over seeds; heal p99: the worst seed's p99 time from");
        say!("  finding a discrepancy to repairing it, ms.");
    }
}

pub(super) fn print_summary(s: &Summary, wall: std::time::Duration) {
    let failing = s.failing_seeds.len();
    say!(
        "\n{} seeds, {}, {} with expected violations",
        s.seeds,
        super::paint(format!("{failing} failing"), failing == 0),
        s.expected_seeds
    );
    say!("  {:<22} {:>10} {:>8}", "invariant", "violations", "seeds");
    for (invariant, violations, seeds) in &s.by_invariant {
        say!("  {:<22} {violations:>10} {seeds:>8}", invariant.name());
    }
    say!(
        "  orders: {} submitted, {} completed, {} cancelled, {} unsettled",
        s.orders_submitted,
        s.orders_completed,
        s.orders_cancelled,
        s.orders_unsettled
    );
    if s.orders_cancelled > 0 {
        say!("  cancelled by: {}", crate::outcome::cancel_split(&s.cancelled_by));
    }
    let faults: Vec<_> = s.faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
    say!("  faults fired: {}", if faults.is_empty() { "none".to_string() } else { faults.join(", ") });
    say!(
        "  messages: {} ({:.1} per order); retries {}; compensations {}; refunds {}",
        s.messages_sent,
        s.messages_sent as f64 / s.orders_submitted.max(1) as f64,
        s.retries,
        s.compensations,
        s.refunds
    );
    if s.reconciled {
        let h = &s.heal_p99_ms;
        say!(
            "  reconciler: {} discrepancies found, {} repaired, {} left for a person; time to heal p99 ms: median {:.0}, max {:.0}; money at risk {:.1} dollar-seconds",
            s.discrepancies,
            s.repairs,
            s.left_for_a_person,
            h.p50,
            h.max,
            s.at_risk_dollar_s
        );
    }
    let l = &s.latency_p99_ms;
    say!("  per-seed p99 latency ms: median {:.1}, p90 {:.1}, max {:.1}", l.p50, l.p90, l.max);
    say!(
        "  time: simulated {:.1} s ({:.1} s per seed), wall {:.2} s ({:.0} seeds/s)",
        s.sim_ms as f64 / 1e3,
        s.sim_ms as f64 / 1e3 / s.seeds.max(1) as f64,
        wall.as_secs_f64(),
        s.seeds as f64 / wall.as_secs_f64().max(1e-9)
    );
}

/// Runs each seed twice more and prints where any two runs part; returns how
/// many seeds did.
fn check_each_seed(
    ctx: &Ctx,
    (arg, intensity): (&str, f64),
    s: &Scenario,
    v: Variant,
    seeds: std::ops::Range<u64>,
) -> usize {
    let parted: Vec<_> = seeds.filter_map(|seed| Some((seed, runner::diverges(s, v, seed)?))).collect();
    match parted.is_empty() {
        true => say!("  determinism: every seed ran twice more with the same trace"),
        false => say!("\nNOT DETERMINISTIC: {} seeds part between two runs", parted.len()),
    }
    let show = |e: &Option<faultline_sim::Event>| {
        e.as_ref().map_or("(the run had ended)".into(), |e| format!("{e:?}"))
    };
    for (seed, d) in parted.iter().take(5) {
        say!("  seed {seed}: the runs part at event {}", d.index);
        say!("    first:  {}\n    second: {}", show(&d.first), show(&d.second));
        let arg = shell_word(arg);
        say!("    replay: {} replay {arg} {} --seed {seed}", ctx.program, flags_on(s, v, intensity));
    }
    parted.len()
}

/// The first seeds whose violations were all excused, each with its evidence:
/// an expected violation is shown with what in that run explains it.
/// How many expected and failing seeds `run` shows (the rest are counted).
const SHOWN_EXPECTED: usize = 5;
const SHOWN_FAILING: usize = 20;

fn print_expected(expected: &[RunOutcome], total: usize) {
    if expected.is_empty() {
        return;
    }
    say!("\nexpected, with the evidence from each run:");
    for o in expected {
        let v = &o.violations[0];
        let why = v.evidence.as_ref().map_or(String::new(), |e| format!("{}: {}", e.cause, e.detail));
        let more = if o.violations.len() > 1 {
            format!(" (+{} more)", o.violations.len() - 1)
        } else {
            String::new()
        };
        say!("  seed {}: {} — {}{more}\n    because {why}", o.seed, v.invariant, v.subject);
    }
    if total > expected.len() {
        say!("  … and {} more", total - expected.len());
    }
}

pub(super) fn print_failures(
    ctx: &Ctx,
    (arg, intensity, scenario): (&str, f64, &Scenario),
    variant: Variant,
    failing: &[RunOutcome],
    total: usize,
) {
    if failing.is_empty() {
        return;
    }
    say!("\n{}", super::paint("failing seeds:", false));
    for o in failing {
        let v = &o.violations[0];
        let broken: Vec<_> = o.broken().iter().map(|i| i.name()).collect();
        say!("  seed {}: {} — {}: {}", o.seed, broken.join(", "), v.subject, v.detail);
        if let Some(model) = &o.swarm {
            say!("    swarm model: {}", compact(model));
        }
        let (program, arg) = (&ctx.program, shell_word(arg));
        let flags = flags_on(scenario, variant, intensity);
        say!("    replay: {program} replay {arg} {flags} --seed {}", o.seed);
        say!("    shrink: {program} shrink {arg} {flags} --seed {}", o.seed);
    }
    if total > failing.len() {
        say!("  … and {} more", total - failing.len());
    }
}

/// A plain text table at most 100 columns wide: names left, numbers right.
fn text_table(head: &[&str], rows: impl Iterator<Item = Vec<String>>) -> comfy_table::Table {
    use comfy_table::{presets::NOTHING, CellAlignment, ColumnConstraint, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_width(100);
    t.set_header(head.iter().copied());
    for row in rows {
        t.add_row(row);
    }
    for i in 1..head.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    // A protocol's name stays on one line; a long header wraps instead.
    if let Some(c) = t.column_mut(0) {
        c.set_constraint(ColumnConstraint::ContentWidth);
    }
    t
}
