//! Runs seeds: one seed → one [`RunOutcome`], and many seeds in parallel over
//! worker threads. Each seed runs on a fresh thread (madsim keeps per-thread
//! state), and results come back in seed order, so output never depends on `--jobs`.

use crate::outcome::RunOutcome;
use crate::scenario::Scenario;
use faultline_protocols::mutant::Mutant;
use faultline_protocols::protocol::LookupError;
use faultline_protocols::run::{self, RunResult, RunSpec};
use faultline_protocols::{ProtocolRef, Registry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

/// What runs: a protocol, maybe with one known bug switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub protocol: ProtocolRef,
    pub mutant: Option<Mutant>,
    /// Swarm testing: each seed draws its own fault model from the scenario's.
    pub swarm: bool,
    /// Run the reconciler beside the protocol (a scenario with `[reconcile]` always does).
    pub reconcile: bool,
    /// PCT-style change points on top of the drawn plan (see [`crate::pct`];
    /// a scenario with `pct = true` always has them).
    pub pct: bool,
}

impl From<ProtocolRef> for Variant {
    fn from(protocol: ProtocolRef) -> Variant {
        Variant { protocol, mutant: None, swarm: false, reconcile: false, pct: false }
    }
}

impl Variant {
    /// A protocol with `mutant`; an error if the bug is not in that protocol's
    /// code. A bug of the harness's reconciler brings the reconciler along:
    /// without it the bug would sit in code that never runs.
    pub fn new(
        registry: &Registry,
        protocol: ProtocolRef,
        mutant: Option<Mutant>,
    ) -> Result<Variant, LookupError> {
        if let Some(m) = mutant {
            registry.check_mutant(protocol, m)?;
        }
        let reconcile = mutant.is_some_and(|m| faultline_protocols::mutant::HARNESS.contains(&m));
        Ok(Variant { protocol, mutant, swarm: false, reconcile, pct: false })
    }
}

/// Everything that determines one run of `scenario` with `seed`.
pub fn spec(scenario: &Scenario, variant: impl Into<Variant>, seed: u64, record: bool) -> RunSpec {
    let Variant { protocol, mutant, swarm, reconcile, pct } = variant.into();
    let model = scenario.swarm_model(seed).filter(|_| swarm).unwrap_or_else(|| scenario.faults.clone());
    let mut plan = scenario.plan_with(seed, protocol, &model);
    let workload = scenario.workload_for(seed);
    if scenario.pct_on(pct) {
        plan.events.extend(crate::pct::change_points(seed, workload.orders.iter().map(|o| o.id)));
        plan.events.sort_by_key(|e| e.at_ms);
    }
    let reconcile = scenario.reconciles(reconcile);
    if reconcile.is_some() {
        plan.events.extend(scenario.reconciler_faults(seed, &model));
        plan.events.sort_by_key(|e| e.at_ms); // stable: the protocol's faults keep their order
    }
    RunSpec {
        seed,
        protocol,
        workflow: scenario.workflow(),
        workload,
        plan,
        fault_window_ms: scenario.fault_window_ms,
        settle_ms: scenario.settle_ms,
        world: scenario.world_config(record),
        gateway: scenario.gateway.clone(),
        crash_points: scenario.crash_points.clone(),
        mutant,
        reconcile,
    }
}

/// Runs one seed on a fresh thread; `record` keeps the full trace. A panic in
/// the run — a protocol's or the simulator's assertion — fails that seed with
/// the message instead of ending the sweep: `Err` carries it.
pub fn run_seed(
    scenario: &Scenario,
    variant: impl Into<Variant>,
    seed: u64,
    record: bool,
) -> (RunOutcome, Result<RunResult, String>) {
    let variant = variant.into();
    let (protocol, mutant) = (variant.protocol, variant.mutant.map(|m| m.name));
    let spec = spec(scenario, variant, seed, record);
    let joined = std::thread::scope(|s| s.spawn(|| run::run(&spec)).join());
    let (mut outcome, result) = match joined {
        Ok(result) => {
            // A mutant must earn its catch as any bug does: what the run's own
            // evidence explains (a failover's lost writes) is excused for it
            // too, as the zoo's hunts and the shrinker judge — so every failing
            // verdict has a shrink that agrees with it.
            let expected = scenario.expectation(protocol);
            (RunOutcome::new(&scenario.name, protocol.name(), seed, expected, &result), Ok(result))
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            (RunOutcome::panicked(&scenario.name, protocol.name(), seed, &message), Err(message))
        }
    };
    outcome.mutant = mutant.map(str::to_string);
    let workflow = scenario.workflow();
    outcome.workflow = workflow.name.clone();
    outcome.workflow_flag = scenario.workflow_flag.then(|| scenario.workflow.clone());
    if let Some(origin) = &scenario.origin {
        outcome.source = (origin.arg != scenario.name).then(|| origin.arg.clone());
        outcome.scenario_hash = Some(origin.hash.clone());
    }
    outcome.swarm = scenario.swarm_model(seed).filter(|_| variant.swarm);
    outcome.reconcile = scenario.reconciles(variant.reconcile).is_some();
    outcome.pct = scenario.pct_on(variant.pct);
    (outcome, result)
}

/// Runs `seeds` over `jobs` threads and collects the outcomes, in seed order;
/// `each` sees every outcome as soon as it and all before it are done.
pub fn run_seeds(
    scenario: &Scenario,
    variant: impl Into<Variant>,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    mut each: impl FnMut(&RunOutcome),
) -> Vec<RunOutcome> {
    let mut out = Vec::new();
    for_each_seed(scenario, variant, seeds, jobs, |o| {
        each(&o);
        out.push(o);
    });
    out
}

/// Runs `seeds` over `jobs` threads and hands each outcome to `each`, in seed
/// order, keeping none: memory stays flat however many seeds run.
pub fn for_each_seed(
    scenario: &Scenario,
    variant: impl Into<Variant>,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    each: impl FnMut(RunOutcome),
) {
    for_each_new_seed(scenario, variant, seeds, jobs, |_| false, each)
}

/// As [`for_each_seed`], leaving out the seeds `done` says are done (a resumed
/// run's). After [`stop`], no new seed starts; the ones running finish and are
/// handed over.
pub fn for_each_new_seed(
    scenario: &Scenario,
    variant: impl Into<Variant>,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    done: impl Fn(u64) -> bool + Sync,
    mut each: impl FnMut(RunOutcome),
) {
    let variant = variant.into();
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel();
    let done = &done;
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || loop {
                if stopped() {
                    break;
                }
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                if done(seed) {
                    continue;
                }
                let (outcome, _) = run_seed(scenario, variant, seed, false);
                if tx.send(outcome).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut want = seeds.start;
        for outcome in rx {
            waiting.insert(outcome.seed, outcome);
            loop {
                while want < seeds.end && done(want) {
                    want += 1;
                }
                let Some(o) = waiting.remove(&want) else { break };
                each(o);
                want += 1;
            }
        }
        // Only a stop leaves gaps: what finished after one is still handed over.
        for (_, o) in waiting {
            each(o);
        }
    });
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every run in progress to start no new seed (an interrupt). Safe to
/// call from a signal handler: it only stores to an atomic.
pub fn stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether [`stop`] was called.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Where two runs of the same seed parted: the index of the first event that
/// differs, and that event in each run (`None`: that run had ended).
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    pub index: usize,
    pub first: Option<faultline_sim::Event>,
    pub second: Option<faultline_sim::Event>,
}

/// Runs `seed` twice, recording both traces; `Some` where they part. A run is
/// meant to be a pure function of its inputs, so any divergence is a bug in
/// the simulator or a protocol (a wall clock, an unseeded random number, a
/// `HashMap` iterated, a shared global).
pub fn diverges(scenario: &Scenario, variant: impl Into<Variant>, seed: u64) -> Option<Divergence> {
    let variant = variant.into();
    let events = || run_seed(scenario, variant, seed, true).1.ok().and_then(|r| r.events).unwrap_or_default();
    let (a, b) = (events(), events());
    first_difference(&a, &b)
}

/// The first index where `a` and `b` differ, if they do.
pub fn first_difference(a: &[faultline_sim::Event], b: &[faultline_sim::Event]) -> Option<Divergence> {
    let index = (0..a.len().max(b.len())).find(|i| a.get(*i) != b.get(*i))?;
    Some(Divergence { index, first: a.get(index).cloned(), second: b.get(index).cloned() })
}
