//! The bug zoo: every mutant is caught — a run breaks one of the invariants it
//! is expected to break — within a bounded number of seeds on its catalogue
//! scenario, while the correct protocols pass those same seeds (the catalogue
//! tests run them on the same scenarios and seeds).

use faultline_protocols::builtin::tcc::Tcc;
use faultline_protocols::check::Invariant::EventualSettlement;
use faultline_protocols::mutant::{self, Mutant};
use faultline_protocols::{ProtocolRef, Registry};
use faultline_scenarios::outcome::Verdict;
use faultline_scenarios::runner::{run_seed, run_seeds, Variant};
use faultline_scenarios::scenario::Scenario;
use faultline_scenarios::zoo::{first_catch, hunts};

fn hunt(m: Mutant, p: ProtocolRef, scenario: &str, bound: u64) -> Option<u64> {
    let s = Scenario::load(scenario, &Registry::builtin()).unwrap();
    let v = Variant::new(&Registry::builtin(), p, Some(m)).unwrap();
    let seed = first_catch(&s, v, 0..bound, 2)?;
    let (o, _) = run_seed(&s, v, seed, false);
    assert_eq!(o.verdict, Verdict::Fail, "a mutant's violations are never 'expected'");
    assert_eq!(o.mutant.as_deref(), Some(m.name));
    Some(seed)
}

#[test]
fn mutants_every_mutant_is_hunted_in_every_protocol_it_is_in() {
    let registry = Registry::builtin();
    let hunts = hunts(&registry);
    for (m, protocols) in registry.mutants() {
        let ground = Scenario::load(m.hunt.scenario, &registry).unwrap();
        for p in protocols {
            // A protocol that cannot run the hunting ground's workflow is not
            // hunted there (the outbox on the marketplace, for now).
            let hunted = hunts.iter().any(|h| h.0 == m && h.1 == p);
            assert_eq!(hunted, p.supports(&ground.workflow()).is_ok(), "{} in {}", m.name, p.name());
        }
        assert!(
            Scenario::load(m.hunt.scenario, &registry).is_ok(),
            "{}: no scenario {}",
            m.name,
            m.hunt.scenario
        );
    }
    assert_eq!(hunts.len(), 60);
}

#[test]
fn mutants_every_hunted_mutant_is_caught() {
    let mut missed = Vec::new();
    for (m, p, scenario, bound) in hunts(&Registry::builtin()) {
        match hunt(m, p, scenario, bound) {
            Some(seed) => eprintln!("{} on {} / {scenario}: caught at seed {seed}", m.name, p.name()),
            None => missed.push(format!("{} on {} / {scenario} within {bound} seeds", m.name, p.name())),
        }
    }
    assert!(missed.is_empty(), "not caught: {missed:#?}");
}

#[test]
fn mutants_stock_check_off_by_one_is_caught_in_every_protocol() {
    let registry = Registry::builtin();
    let m = mutant::STOCK_CHECK_OFF_BY_ONE;
    assert_eq!(registry.protocols_with(m).len(), 4, "the shared inventory check is in every built-in");
    for p in registry.protocols_with(m) {
        assert!(hunt(m, p, "flash-sale", 10).is_some(), "{}", p.name());
    }
}

#[test]
fn mutants_act_where_they_are_and_the_trace_says_so() {
    let s = Scenario::load("scarce-stock", &Registry::builtin()).unwrap();
    let v = Variant::new(&Registry::builtin(), &Tcc, Some(mutant::TCC_NO_EMPTY_ROLLBACK)).unwrap();
    let (_, r) = run_seed(&s, v, 0, true);
    let events = r.unwrap().events.unwrap();
    let acts = events.iter().filter(|e| {
        matches!(&e.kind, faultline_sim::EventKind::Injected { fault: "mutant", detail } if detail == "tcc-no-empty-rollback")
    });
    assert!(acts.count() > 0);
    let (plain, _) = run_seed(&s, &Tcc as ProtocolRef, 0, false);
    assert!(plain.violations.is_empty(), "the same seed passes without the bug");
}

#[test]
fn mutants_a_mutant_of_another_protocol_is_refused() {
    let err =
        Variant::new(&Registry::builtin(), &Tcc, Some(mutant::CONSUMER_NO_INBOX)).unwrap_err().to_string();
    assert!(err.contains("consumer-no-inbox is a bug in outbox, not in tcc"), "{err}");
}

/// A race between two messages is found on purpose, not by luck: on
/// `check-then-act`, targeted faults hold the Try's second store round trip
/// and lose its retries, and the check-then-act Try hangs at every seed —
/// while random faults on `slow-network` catch it in a few seeds per thousand.
#[test]
fn mutants_a_placed_race_catches_check_then_act_at_every_seed() {
    let registry = Registry::builtin();
    let s = Scenario::load("check-then-act", &registry).unwrap();
    let buggy = Variant::new(&registry, &Tcc, Some(mutant::TCC_TRY_CHECK_THEN_ACT)).unwrap();
    for seed in 0..5 {
        let (o, _) = run_seed(&s, buggy, seed, false);
        assert!(
            o.violations.iter().any(|v| v.invariant == EventualSettlement && v.detail.contains("reserved")),
            "seed {seed}: {:?}",
            o.violations
        );
        assert_eq!(o.metrics.faults.get("targeted"), Some(&3), "all three messages were found");
        let (o, _) = run_seed(&s, &Tcc as ProtocolRef, seed, false);
        assert_eq!(o.verdict, Verdict::Pass, "the barrier in one transaction refuses the late write");
    }
}

/// PCT-style change points find the races random faults leave to luck: on
/// `slow-network`, a Try that lands after its Cancel (tcc-no-hang-guard) is
/// caught by its latency spikes alone in at most a seed or two of the first
/// 100; with change points, in at least five times as many, the first within
/// 30. The catch is a change point that fired on one order's message, and the
/// correct TCC passes the same seeds.
#[test]
fn mutants_pct_catches_what_random_faults_miss() {
    let registry = Registry::builtin();
    let s = Scenario::load("slow-network", &registry).unwrap();
    let buggy = Variant::new(&registry, &Tcc, Some(mutant::TCC_NO_HANG_GUARD)).unwrap();
    let pct = Variant { pct: true, ..buggy };
    let caught = |v: Variant| {
        run_seeds(&s, v, 0..100, 2, |_| {}).iter().filter(|o| o.verdict == Verdict::Fail).count()
    };
    let (by_chance, by_pct) = (caught(buggy), caught(pct));
    assert!(by_chance <= 2, "random faults: {by_chance} of 100 seeds");
    assert!(by_pct >= 5 * by_chance.max(1), "PCT: {by_pct} of 100 seeds, random faults {by_chance}");
    let seed = first_catch(&s, pct, 0..30, 2).expect("PCT catches it within 30 seeds");
    let (o, r) = run_seed(&s, pct, seed, true);
    assert!(o.pct && o.verdict == Verdict::Fail);
    let events = r.unwrap().events.unwrap();
    let fired = |e: &&faultline_sim::Event| matches!(&e.kind, faultline_sim::EventKind::Injected { fault: "targeted", detail } if detail.starts_with("order "));
    assert!(events.iter().any(|e| fired(&e)), "a change point found its message");
    for seed in 0..30 {
        let (o, _) = run_seed(&s, Variant { pct: true, ..Variant::from(&Tcc as ProtocolRef) }, seed, false);
        assert_ne!(o.verdict, Verdict::Fail, "seed {seed}: {:?}", o.violations);
    }
}
