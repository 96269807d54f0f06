//! The outbox choreography and the 2PC baseline end to end: the relay survives
//! a crash between publish and mark-sent, the inbox absorbs redeliveries, and a
//! 2PC coordinator that dies before its decision blocks its participants.

use faultline_protocols::builtin::coordinator::BEFORE_DECISION;
use faultline_protocols::builtin::outbox::relay;
use faultline_protocols::builtin::{outbox::Outbox, tcc::Tcc, twopc::TwoPc};
use faultline_protocols::run::{run, RunResult, RunSpec};
use faultline_protocols::shop::gateway::GatewayConfig;
use faultline_protocols::shop::inventory;
use faultline_protocols::workload::WorkloadSpec;
use faultline_protocols::ProtocolRef;
use faultline_sim::broker::BrokerConfig;
use faultline_sim::{EventKind, FaultPlan, Value, WorldConfig};

fn spec(protocol: ProtocolRef, world: WorldConfig, crash_points: &[(&str, u32)]) -> RunSpec {
    RunSpec {
        seed: 5,
        protocol,
        workflow: faultline_protocols::workflow::builtin::shop(),
        workload: WorkloadSpec::default().generate(5),
        plan: FaultPlan::default(),
        // Crash points are faults: armed for the whole window, which covers the run.
        fault_window_ms: 30_000,
        settle_ms: 60_000,
        world: WorldConfig { record: true, ..world },
        gateway: GatewayConfig::default(),
        crash_points: crash_points.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
        mutant: None,
        reconcile: None,
    }
}

fn fired(r: &RunResult, point: &str) -> usize {
    let events = r.events.as_ref().expect("recorded");
    events
        .iter()
        .filter(
            |e| matches!(&e.kind, EventKind::Injected { fault: "crash-point", detail } if detail == point),
        )
        .count()
}

fn sold(r: &RunResult) -> i64 {
    (0..r.truth.workload.stock.len() as u32)
        .map(|sku| r.truth.inventory.get(&inventory::sold(sku)).and_then(Value::as_int).unwrap_or(0))
        .sum()
}

#[test]
fn outbox_relay_survives_crashes_between_publish_and_mark_sent() {
    let r = run(&spec(&Outbox as ProtocolRef, WorldConfig::default(), &[(relay::AFTER_PUBLISH, 4)]));
    assert_eq!(fired(&r, relay::AFTER_PUBLISH), 4, "the relay crashed four times right after a publish");
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    let broker = r.truth.broker.as_ref().expect("the outbox has a broker");
    let published: Vec<&String> = broker.messages.values().flat_map(|m| m.values()).collect();
    let mut unique = published.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(published.len(), unique.len(), "each event is in the broker once, republished or not");
    let events = r.events.as_ref().expect("recorded");
    let publishes =
        events.iter().filter(|e| matches!(e.kind, EventKind::Send { msg: "publish", .. })).count();
    assert!(publishes >= published.len() + 4, "the rows left by the crashes were published again");
    // And the run is not vacuous: orders went both ways.
    let done = r.latencies_ms.len();
    assert_eq!(done, r.truth.workload.orders.len(), "every order settled");
    assert!(sold(&r) > 0);
}

#[test]
fn outbox_inbox_absorbs_redeliveries() {
    // A visibility timeout shorter than any reaction: nearly every message is
    // delivered again while its first delivery is still being applied.
    let world = WorldConfig {
        broker: BrokerConfig { visibility_ms: 1, reorder: true, ..Default::default() },
        ..Default::default()
    };
    let r = run(&spec(&Outbox as ProtocolRef, world, &[]));
    assert!(r.retries > 20, "redeliveries happened: {}", r.retries);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    let completed: i64 = r
        .truth
        .workload
        .orders
        .iter()
        .filter(|o| r.truth.orders.get(&format!("order/{:06}", o.id)) == Some(&Value::from("completed")))
        .map(|o| o.units())
        .sum();
    assert!(completed > 0);
    assert_eq!(sold(&r), completed, "stock taken once per completed order, however often delivered");
}

#[test]
fn twopc_coordinator_crash_before_decision_blocks_participants_until_recovery() {
    let calm = run(&spec(&TwoPc as ProtocolRef, WorldConfig::default(), &[]));
    let crashed = run(&spec(&TwoPc as ProtocolRef, WorldConfig::default(), &[(BEFORE_DECISION, 1)]));
    assert_eq!(fired(&crashed, BEFORE_DECISION), 1);
    assert!(calm.violations.is_empty() && crashed.violations.is_empty(), "{:?}", crashed.violations);
    // Three participants prepared and locked, then waited two seconds for a
    // coordinator that was down: at least ~6 lock-seconds more than without.
    assert!(
        crashed.locked_s > calm.locked_s + 5.0,
        "locks held {:.1} s with the crash vs {:.1} s without",
        crashed.locked_s,
        calm.locked_s
    );
    assert!(crashed.reserved_unit_s > calm.reserved_unit_s, "and stock stayed reserved meanwhile");
    // TCC has no locks: the same crash costs it no lock time at all.
    let tcc = run(&spec(&Tcc as ProtocolRef, WorldConfig::default(), &[(BEFORE_DECISION, 1)]));
    assert_eq!(fired(&tcc, BEFORE_DECISION), 1);
    assert_eq!(tcc.locked_s, 0.0);
}
