//! Counterexamples of bugs found and fixed, shrunk, kept: each must pass now.

use faultline_protocols::Registry;
use faultline_scenarios::outcome::Verdict;
use faultline_scenarios::runner::run_seed;
use faultline_scenarios::scenario::Scenario;

fn passes(file: &str, protocol: &str) {
    let path = format!("{}/tests/regressions/{file}", env!("CARGO_MANIFEST_DIR"));
    let registry = Registry::builtin();
    let s = Scenario::load(&path, &registry).unwrap();
    let seed = s.seed.expect("a counterexample names its seed");
    let (o, _) = run_seed(&s, registry.get(protocol).unwrap(), seed, false);
    assert_eq!(o.verdict, Verdict::Pass, "{file}: {:?}", o.violations);
    assert!(o.metrics.faults.contains_key("failover"), "it still fails over");
}

#[test]
fn regressions_a_stale_snapshot_does_not_roll_a_replica_back() {
    passes("stale-snapshot.toml", "tcc");
}
