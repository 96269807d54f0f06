//! Runs over time for the report's Jepsen-style charts: chosen seeds run
//! again — each scenario's first seed per protocol, and the first seed of
//! each failure class — keeping each order's submission, latency and write
//! span, and the fault windows of its plan.

use crate::runner::{self, Variant};
use crate::scenario::Scenario;
use faultline_protocols::Registry;
use faultline_reports::summary::{RunRef, Summary};
use faultline_reports::{Provenance, Timeline};
use std::collections::BTreeMap;

/// At most this many failure classes get a run over time of their own: a
/// report over a broken protocol stays readable.
pub const MAX_FAILURES: usize = 12;

/// At most this many orders are run again in all: a report over lines from
/// elsewhere — a million-order scenario, say — stays a matter of seconds. A
/// run that would go past it is left out of the charts.
pub const ORDER_BUDGET: usize = 200_000;

/// Puts into `report` the runs over time it shows for `summary`: per
/// scenario, its first seed under each protocol; then the first seed of each
/// failing class (runs shared by several classes drawn once, named for all).
/// Scenarios not in `scenarios` (their text unknown) are left out.
pub fn choose(report: &mut Provenance, summary: &Summary, scenarios: &[Scenario], registry: &Registry) {
    choose_within(report, summary, scenarios, registry, ORDER_BUDGET)
}

fn choose_within(
    report: &mut Provenance,
    summary: &Summary,
    scenarios: &[Scenario],
    registry: &Registry,
    mut budget: usize,
) {
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    let mut typical: BTreeMap<String, Vec<Timeline>> = BTreeMap::new();
    for sc in &summary.scenarios {
        for label in &summary.protocols {
            let group = summary.groups.get(&(sc.clone(), label.clone()));
            let (Some(s), Some(run)) = (find(sc), group.and_then(|g| g.first.as_ref())) else { continue };
            if let Some(t) = timeline(s, registry, run, "first seed".to_string(), &mut budget) {
                typical.entry(sc.clone()).or_default().push(t);
            }
        }
    }
    let mut firsts: Vec<(String, RunRef, Vec<String>)> = Vec::new();
    for (class, seeds) in summary.violations.iter().filter(|(c, _)| c.verdict == "fail") {
        let Some((seed, _)) = seeds.first.first() else { continue };
        let run = class.run(*seed);
        let what = class.invariant.clone();
        match firsts.iter().position(|(s, r, _)| *s == class.scenario && *r == run) {
            Some(i) => firsts[i].2.push(what),
            None if firsts.len() < MAX_FAILURES => firsts.push((class.scenario.clone(), run, vec![what])),
            None => {}
        }
    }
    report.timelines = typical;
    report.failures = firsts
        .into_iter()
        .filter_map(|(sc, run, names)| {
            let label = format!("first {}", names.join(", "));
            Some((sc.clone(), timeline(find(&sc)?, registry, &run, label, &mut budget)?))
        })
        .collect();
}

/// `run` of `scenario` again, over time, its orders taken from `budget`;
/// `None` if its protocol or mutant is not in `registry`, its orders are
/// more than the budget left, or the run panicked.
fn timeline(
    scenario: &Scenario,
    registry: &Registry,
    run: &RunRef,
    label: String,
    budget: &mut usize,
) -> Option<Timeline> {
    let protocol = registry.get(&run.protocol).ok()?;
    let mutant = run.mutant.as_deref().map(|m| registry.mutant(m)).transpose().ok()?;
    let plain = Variant::new(registry, protocol, mutant).ok()?;
    let variant =
        Variant { swarm: run.swarm, reconcile: run.reconcile || plain.reconcile, pct: run.pct, ..plain };
    let scenario = scenario.scaled(run.intensity);
    let spec = runner::spec(&scenario, variant, run.seed, false);
    *budget = budget.checked_sub(spec.workload.orders.len())?;
    let faults = spec
        .plan
        .events
        .iter()
        .map(|e| {
            let from = e.at_ms as f64 / 1e3;
            // A crash lasts until its restart; a failover is an instant.
            let ms = e.fault.duration_ms().unwrap_or(0);
            (e.fault.name().to_string(), from, from + ms as f64 / 1e3)
        })
        .collect();
    let (_, result) = runner::run_seed(&scenario, variant, run.seed, false);
    let r = result.ok()?;
    let orders = (r.order_times.iter())
        .map(|(_, at, done)| (*at as f64 / 1e6, done.map(|d| (d - at) as f64 / 1e3)))
        .collect();
    let inconsistent =
        r.write_spans.iter().map(|(_, from, to)| (*from as f64 / 1e6, *to as f64 / 1e6)).collect();
    let window_s = scenario.fault_window_ms as f64 / 1e3;
    let mutant = variant.mutant.map(|m| m.name);
    let protocol = faultline_reports::record::label(variant.protocol.name(), mutant, variant.reconcile);
    Some(Timeline { protocol, seed: run.seed, label, orders, inconsistent, faults, window_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose orders do not fit what is left of the budget is left out.
    #[test]
    fn runs_over_time_stay_within_their_order_budget() {
        let registry = Registry::builtin();
        let calm = Scenario::load("calm", &registry).unwrap();
        let (o, _) = runner::run_seed(&calm, registry.get("saga").unwrap(), 0, false);
        let line = serde_json::to_string(&o).unwrap();
        let summary = Summary::of(&faultline_reports::record::parse(&line, "test").unwrap());
        let orders = calm.workload_for(0).orders.len();
        let mut report = Provenance::default();
        choose_within(&mut report, &summary, std::slice::from_ref(&calm), &registry, orders);
        assert_eq!(report.timelines["calm"].len(), 1, "{orders} orders fit a budget of {orders}");
        let mut report = Provenance::default();
        choose_within(&mut report, &summary, &[calm], &registry, orders - 1);
        assert!(report.timelines.is_empty(), "one order too many");
    }
}
