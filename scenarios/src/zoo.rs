//! The bug zoo's hunting grounds and the detection benchmark: for each mutant,
//! the catalogue scenario where it is hunted, and how many seeds it takes to
//! catch it — with one hand-tuned fault model, and with swarm testing.

use crate::runner::{run_seed, run_seeds, Variant};
use crate::scenario::Scenario;
use faultline_protocols::check::Violation;
use faultline_protocols::mutant::Mutant;
use faultline_protocols::{ProtocolRef, Registry};
use serde::Serialize;
use std::time::Instant;

/// Every hunt of `registry`'s mutants: each mutant on its hunting ground, in
/// every protocol it is in, with the most seeds `cargo test` allows it.
pub fn hunts(registry: &Registry) -> Vec<(Mutant, ProtocolRef, &'static str, u64)> {
    let each = registry.mutants().into_iter().flat_map(|(m, protocols)| {
        protocols.into_iter().map(move |p| (m, p, m.hunt.scenario, m.hunt.within))
    });
    // A protocol is hunted only on a hunting ground whose workflow it runs.
    let runs = |(_, p, scenario, _): &(Mutant, ProtocolRef, &str, u64)| {
        crate::scenario::Scenario::load(scenario, registry).is_ok_and(|s| p.supports(&s.workflow()).is_ok())
    };
    each.filter(runs).collect()
}

/// Whether `x`, in a run of `v` on `scenario`, catches `v`'s mutant: one of
/// the invariants it breaks, broken where nothing the scenario declares (a
/// failover's lost writes, say) explains it — a mutant must earn its catch.
pub fn catches(scenario: &Scenario, v: Variant, x: &Violation) -> bool {
    let explained = scenario.expectation(v.protocol).is_some_and(|e| e.excuses(x));
    v.mutant.is_some_and(|m| m.breaks.contains(&x.invariant)) && !explained
}

/// The first seed of `seeds` whose run catches the mutant (see [`catches`]).
/// Seeds run `jobs` at a time, in order, so the answer does not depend on `jobs`.
pub fn first_catch(scenario: &Scenario, v: Variant, seeds: std::ops::Range<u64>, jobs: usize) -> Option<u64> {
    v.mutant.expect("a mutant to catch");
    let chunk = (jobs.max(1) * 4) as u64;
    let mut start = seeds.start;
    while start < seeds.end {
        let end = (start + chunk).min(seeds.end);
        let outcomes = run_seeds(scenario, v, start..end, jobs, |_| {});
        let caught = |o: &&crate::outcome::RunOutcome| o.violations.iter().any(|x| catches(scenario, v, x));
        if let Some(o) = outcomes.iter().find(caught) {
            return Some(o.seed);
        }
        start = end;
    }
    None
}

/// One mutant's detection, plain or swarm, over several starting seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Detection {
    /// Seeds run until the first catch, per start; `None`: not within the budget.
    pub seeds_to_catch: Vec<Option<u64>>,
    /// The catching seed itself, per start.
    pub caught_at: Vec<Option<u64>>,
    /// Wall time until the first catch (or the budget), per start, in ms.
    pub wall_ms: Vec<u64>,
}

impl Detection {
    /// The median seeds to a catch, a miss counting as more than the budget.
    pub fn median_seeds(&self) -> Option<u64> {
        let mut v: Vec<u64> = self.seeds_to_catch.iter().map(|s| s.unwrap_or(u64::MAX)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().filter(|s| *s != u64::MAX)
    }

    pub fn median_wall_ms(&self) -> u64 {
        let mut v = self.wall_ms.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }

    pub fn caught(&self) -> usize {
        self.seeds_to_catch.iter().filter(|s| s.is_some()).count()
    }
}

/// Hunts `m` in `protocol` on `scenario` from `starts` starting seeds (spread
/// far apart), each for at most `budget` seeds.
pub fn detect(scenario: &Scenario, v: Variant, starts: u64, budget: u64, jobs: usize) -> Detection {
    let mut d = Detection { seeds_to_catch: vec![], caught_at: vec![], wall_ms: vec![] };
    for k in 0..starts {
        let first = 1_000_000 * (k + 1);
        let t = Instant::now();
        let caught = first_catch(scenario, v, first..first + budget, jobs);
        d.wall_ms.push(t.elapsed().as_millis() as u64);
        d.seeds_to_catch.push(caught.map(|s| s - first + 1));
        d.caught_at.push(caught);
    }
    d
}

/// The distinct failure signatures of `seeds` (see [`crate::signature`]), each
/// with how many runs showed it. Failing seeds run again with their trace
/// recorded, `jobs` at a time; the answer does not depend on `jobs`.
pub fn signatures(
    scenario: &Scenario,
    v: Variant,
    seeds: std::ops::Range<u64>,
    jobs: usize,
) -> std::collections::BTreeMap<crate::signature::Signature, u32> {
    let failing: Vec<u64> = run_seeds(scenario, v, seeds, jobs, |_| {})
        .into_iter()
        .filter(|o| o.verdict == crate::outcome::Verdict::Fail)
        .map(|o| o.seed)
        .collect();
    let mut found = std::collections::BTreeMap::new();
    for chunk in failing.chunks(jobs.max(1)) {
        let traced: Vec<_> = std::thread::scope(|s| {
            let runs: Vec<_> =
                chunk.iter().map(|&seed| s.spawn(move || run_seed(scenario, v, seed, true))).collect();
            runs.into_iter().map(|r| r.join().expect("run_seed catches panics")).collect()
        });
        for (outcome, result) in traced {
            let events = result.as_ref().ok().and_then(|r| r.events.as_deref()).unwrap_or_default();
            // What names the failure: the first violation that catches the
            // mutant, or without one, the first no evidence excuses.
            let named = |x: &&Violation| match v.mutant {
                Some(_) => catches(scenario, v, x),
                None => x.evidence.is_none(),
            };
            if let Some(v) = outcome.violations.iter().find(named) {
                *found.entry(crate::signature::of(v, events)).or_insert(0) += 1;
            }
        }
    }
    found
}
