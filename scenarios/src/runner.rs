//! Runs seeds: one seed → one [`RunOutcome`], and many seeds in parallel over
//! worker threads. Each seed runs on a fresh thread (madsim keeps per-thread
//! state), and results come back in seed order, so output never depends on `--jobs`.

use crate::outcome::RunOutcome;
use crate::scenario::Scenario;
use faultline_protocols::run::{self, RunResult, RunSpec};
use faultline_protocols::Protocol;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Everything that determines one run of `scenario` with `seed`.
pub fn spec(scenario: &Scenario, protocol: Protocol, seed: u64, record: bool) -> RunSpec {
    RunSpec {
        seed,
        protocol,
        workload: scenario.workload.generate(seed),
        plan: scenario.plan_for(seed, protocol),
        fault_window_ms: scenario.fault_window_ms,
        settle_ms: scenario.settle_ms,
        world: scenario.world_config(record),
        gateway: scenario.gateway.clone(),
        crash_points: Default::default(),
    }
}

/// Runs one seed on a fresh thread; `record` keeps the full trace. A panic in
/// the run — a protocol's or the simulator's assertion — fails that seed with
/// the message instead of ending the sweep: `Err` carries it.
pub fn run_seed(
    scenario: &Scenario,
    protocol: Protocol,
    seed: u64,
    record: bool,
) -> (RunOutcome, Result<RunResult, String>) {
    let spec = spec(scenario, protocol, seed, record);
    let joined = std::thread::scope(|s| s.spawn(|| run::run(&spec)).join());
    match joined {
        Ok(result) => {
            let expected = scenario.expected(protocol);
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
    }
}

/// Runs `seeds` over `jobs` threads. `each` sees every outcome in seed order, as
/// soon as it and all before it are done.
pub fn run_seeds(
    scenario: &Scenario,
    protocol: Protocol,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    mut each: impl FnMut(&RunOutcome),
) -> Vec<RunOutcome> {
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel();
    let mut out = Vec::with_capacity((seeds.end - seeds.start) as usize);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                let (outcome, _) = run_seed(scenario, protocol, seed, false);
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
            while let Some(o) = waiting.remove(&want) {
                each(&o);
                out.push(o);
                want += 1;
            }
        }
    });
    out
}
