//! The bug zoo: every mutant is caught — a run breaks one of the invariants it
//! is expected to break — within a bounded number of seeds on a catalogue
//! scenario, while the correct protocol passes those same seeds (the catalogue
//! tests run the correct protocols on the same scenarios and seeds).

use faultline_protocols::mutant::Mutant;
use faultline_protocols::Protocol;
use faultline_scenarios::outcome::Verdict;
use faultline_scenarios::runner::{run_seeds, Variant};
use faultline_scenarios::scenario::Scenario;

/// Where each mutant is hunted, and how many seeds it may take at most.
const HUNTS: [(Mutant, Protocol, &str, u64); 12] = [
    (Mutant::SagaTimeoutIsFailure, Protocol::Saga, "flaky-network", 20),
    (Mutant::SagaCompensationNotIdempotent, Protocol::Saga, "flaky-network", 60),
    (Mutant::SagaLogUnsynced, Protocol::Saga, "flaky-network", 20),
    (Mutant::TccNoEmptyRollback, Protocol::Tcc, "calm", 10),
    (Mutant::TccConfirmNotIdempotent, Protocol::Tcc, "flaky-network", 40),
    (Mutant::TccBarrierOutsideTxn, Protocol::Tcc, "flaky-network", 20),
    (Mutant::OutboxDualWrite, Protocol::Outbox, "flaky-network", 20),
    (Mutant::OutboxMarkBeforeAck, Protocol::Outbox, "flaky-network", 20),
    (Mutant::ConsumerNoInbox, Protocol::Outbox, "flaky-network", 20),
    (Mutant::PaymentNoIdempotencyKey, Protocol::Saga, "callback-chaos", 40),
    (Mutant::PaymentNoIdempotencyKey, Protocol::Outbox, "callback-chaos", 60),
    (Mutant::StockCheckOffByOne, Protocol::TwoPc, "flash-sale", 10),
];

/// The first seed whose run breaks one of `m`'s invariants, if any in `0..bound`.
fn hunt(m: Mutant, p: Protocol, scenario: &str, bound: u64) -> Option<u64> {
    let s = Scenario::load(scenario).unwrap();
    let v = Variant::new(p, Some(m)).unwrap();
    let outcomes = run_seeds(&s, v, 0..bound, 2, |_| {});
    outcomes.iter().find(|o| o.violations.iter().any(|x| m.breaks().contains(&x.invariant.as_str()))).map(
        |o| {
            assert_eq!(o.verdict, Verdict::Fail, "a mutant's violations are never 'expected'");
            assert_eq!(o.mutant.as_deref(), Some(m.name()));
            o.seed
        },
    )
}

#[test]
fn mutants_every_hunted_mutant_is_caught() {
    let mut missed = Vec::new();
    for (m, p, scenario, bound) in HUNTS {
        match hunt(m, p, scenario, bound) {
            Some(seed) => eprintln!("{} on {} / {scenario}: caught at seed {seed}", m.name(), p.name()),
            None => missed.push(format!("{} on {} / {scenario} within {bound} seeds", m.name(), p.name())),
        }
    }
    assert!(missed.is_empty(), "not caught: {missed:#?}");
}

#[test]
fn mutants_stock_check_off_by_one_is_caught_in_every_protocol() {
    for p in Mutant::StockCheckOffByOne.protocols() {
        assert!(hunt(Mutant::StockCheckOffByOne, *p, "flash-sale", 10).is_some(), "{}", p.name());
    }
}

#[test]
fn mutants_a_mutant_of_another_protocol_is_refused() {
    let err = Variant::new(Protocol::Tcc, Some(Mutant::ConsumerNoInbox)).unwrap_err();
    assert!(err.contains("consumer-no-inbox is a bug in outbox, not in tcc"), "{err}");
}
