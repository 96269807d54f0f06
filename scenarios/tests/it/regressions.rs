//! Counterexamples of bugs found and fixed, shrunk, kept: each must pass now.

use faultline_protocols::Registry;
use faultline_scenarios::outcome::Verdict;
use faultline_scenarios::runner::run_seed;
use faultline_scenarios::scenario::Scenario;

/// `file` runs without a violation its scenario does not explain, and `fault` still fires.
fn passes(file: &str, protocol: &str, fault: &str) {
    let path = format!("{}/tests/regressions/{file}", env!("CARGO_MANIFEST_DIR"));
    let registry = Registry::builtin();
    let s = Scenario::load(&path, &registry).unwrap();
    let seed = s.seed.expect("a counterexample names its seed");
    let (o, _) = run_seed(&s, registry.get(protocol).unwrap(), seed, false);
    assert_ne!(o.verdict, Verdict::Fail, "{file}: {:?}", o.violations);
    assert!(o.metrics.faults.contains_key(fault), "{file}: no {fault} any more");
}

#[test]
fn regressions_a_stale_snapshot_does_not_roll_a_replica_back() {
    passes("stale-snapshot.toml", "tcc", "failover");
}

#[test]
fn regressions_a_cancel_after_the_confirm_takes_no_other_orders_stock() {
    passes("cancel-after-confirm.toml", "tcc", "failover");
}

#[test]
fn regressions_an_order_cancel_racing_its_create_still_ends_the_order() {
    passes("cancel-races-create.toml", "tcc", "targeted");
}
