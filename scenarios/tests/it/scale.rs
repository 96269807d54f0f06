//! A flash sale at scale (`scenarios/scale/flash-sale-10k.toml`): 10,000
//! orders in 10 s with crashes pass for every protocol — all settled, the
//! crashes fired, orders completed and cancelled. (How long it takes is
//! measured by `faultline bench perf`, not here.)

use faultline_protocols::Registry;
use faultline_scenarios::outcome::Verdict;
use faultline_scenarios::runner::run_seed;
use faultline_scenarios::scenario::Scenario;

#[test]
fn ten_thousand_orders_with_crashes_pass_for_every_protocol() {
    let registry = Registry::builtin();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scale/flash-sale-10k.toml");
    let s = Scenario::load(path, &registry).unwrap();
    std::thread::scope(|threads| {
        for p in registry.all().iter().copied() {
            let s = &s;
            threads.spawn(move || {
                let (o, _) = run_seed(s, p, 0, false);
                let m = &o.metrics;
                assert_eq!(o.verdict, Verdict::Pass, "{}: {:?}", p.name(), o.violations);
                assert_eq!((m.orders_submitted, m.orders_unsettled), (10_000, 0), "{}", p.name());
                assert!(m.orders_completed > 0 && m.orders_cancelled > 0, "{}: {m:?}", p.name());
                assert!(m.faults.get("crash").is_some_and(|n| *n > 0), "{}: crashes fired", p.name());
            });
        }
    });
}
