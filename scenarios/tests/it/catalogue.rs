//! The catalogue: every scenario's faults fire, and the Saga keeps every
//! invariant on every scenario. `FAULTLINE_SEEDS` raises the seed count
//! (default 200 per scenario in CI; the release CLI runs 500+ in seconds).

use faultline_protocols::Protocol;
use faultline_scenarios::outcome::Summary;
use faultline_scenarios::runner::run_seeds;
use faultline_scenarios::scenario::Scenario;

fn seeds() -> u64 {
    std::env::var("FAULTLINE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200)
}

fn saga_passes(name: &str) -> Summary {
    let s = Scenario::load(name).unwrap();
    let outcomes = run_seeds(&s, Protocol::Saga, 0..seeds(), 2, |_| {});
    let summary = Summary::of(&outcomes);
    let failing: Vec<_> = outcomes.iter().filter(|o| !o.violations.is_empty()).take(3).collect();
    assert!(failing.is_empty(), "{name}: {} failing seeds, e.g. {failing:#?}", summary.failing_seeds.len());
    assert_eq!(summary.orders_unsettled, 0);
    assert!(summary.orders_completed > 0 && summary.orders_cancelled > 0, "both outcomes occur");
    summary
}

#[test]
fn catalogue_calm_saga_passes_without_faults() {
    let s = saga_passes("calm");
    assert!(s.faults.is_empty(), "calm injects nothing: {:?}", s.faults);
    assert_eq!(s.retries, 0, "nothing is lost, so nothing is retried");
}

#[test]
fn catalogue_flaky_network_saga_passes_and_the_network_faults_fire() {
    let s = saga_passes("flaky-network");
    for kind in ["partition", "link-cut", "latency", "loss", "duplication"] {
        assert!(s.faults.get(kind).copied().unwrap_or(0) > 0, "{kind} never fired: {:?}", s.faults);
    }
    assert!(s.retries > 0);
}

#[test]
fn catalogue_crash_restart_saga_passes_and_crashes_fire() {
    let s = saga_passes("crash-restart");
    for kind in ["crash", "restart", "pause", "latency"] {
        assert!(s.faults.get(kind).copied().unwrap_or(0) > 0, "{kind} never fired: {:?}", s.faults);
    }
}
