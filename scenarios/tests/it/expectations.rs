//! Evidence-based expectations: on `failover-async`, a violation is expected
//! only when a failover lost writes of that very subject in that run. A real
//! bug whose violation no failover explains fails, even if its invariant is
//! one the scenario lists.

use faultline_protocols::builtin::saga::Saga;
use faultline_protocols::check::Invariant;
use faultline_protocols::mutant;
use faultline_protocols::run::run;
use faultline_protocols::Registry;
use faultline_scenarios::outcome::{RunOutcome, Verdict};
use faultline_scenarios::runner::{spec, Variant};
use faultline_scenarios::scenario::Scenario;

#[test]
fn expectations_a_bug_no_failover_explains_fails_on_failover_async() {
    let registry = Registry::builtin();
    let mut s = Scenario::load("failover-async", &registry).unwrap();
    // Stock enough that most orders reach the charge, where the second bug acts.
    s.workload.stock = (30, 60);
    let expectation = s.expectation(&Saga).expect("failover-async explains the Saga's losses");
    // Real bugs: the saga log written fire-and-forget, so a crash of its store
    // loses steps (unsynced, not failed over); a timed-out charge taken for a
    // decline, so the customer pays for a cancelled order; a charge retried
    // without its idempotency key, so the customer pays twice. Judge their runs as
    // if they were the protocol as shipped, by the scenario's expectation.
    let (mut untouched, mut excused, mut double_charges) = (0, 0, 0);
    let bugs =
        [mutant::SAGA_LOG_UNSYNCED, mutant::SAGA_TIMEOUT_IS_FAILURE, mutant::PAYMENT_NO_IDEMPOTENCY_KEY];
    for (bug, seed) in bugs.into_iter().flat_map(|b| (0..60).map(move |s| (b, s))) {
        let buggy = Variant::new(&registry, &Saga, Some(bug)).unwrap();
        let r = run(&spec(&s, buggy, seed, false));
        let o = RunOutcome::new(&s.name, "saga", seed, Some(expectation), &r);
        for v in &r.violations {
            match &v.evidence {
                None => {
                    assert_eq!(o.verdict, Verdict::Fail, "seed {seed}: {v:?} has no evidence, yet passes");
                    untouched += expectation.violations.contains(&v.invariant) as u32;
                    double_charges += (v.invariant == Invariant::NoDoubleCharge) as u32;
                }
                Some(e) => {
                    assert!(e.detail.contains("failover"), "{e:?}");
                    excused += 1;
                }
            }
        }
    }
    assert!(untouched > 0, "the bugs broke listed invariants where no failover explains it");
    assert!(double_charges > 0, "a double charge on an order no failover touched fails");
    assert!(excused > 0, "and the failovers' own losses are still explained");
}
