//! Saga: end-to-end runs under faults.

use faultline_protocols::builtin::saga::Saga;
use faultline_protocols::run::{run, RunSpec};
use faultline_protocols::workload::WorkloadSpec;
use faultline_protocols::ProtocolRef;
use faultline_sim::{FaultModel, FaultPlan, WorldConfig};

fn spec(seed: u64, plan: FaultPlan) -> RunSpec {
    RunSpec {
        seed,
        protocol: &Saga as ProtocolRef,
        workflow: faultline_protocols::workflow::builtin::shop(),
        workload: WorkloadSpec::default().generate(seed),
        plan,
        fault_window_ms: 10_000,
        settle_ms: 60_000,
        world: WorldConfig::default(),
        gateway: Default::default(),
        crash_points: Default::default(),
        mutant: None,
        reconcile: None,
    }
}

#[test]
fn saga_calm_settles_every_order_and_keeps_every_invariant() {
    for seed in 0..20 {
        let r = run(&spec(seed, FaultPlan::default()));
        assert!(r.violations.is_empty(), "seed {seed}: {:#?}", r.violations);
        assert_eq!(r.latencies_ms.len(), 20);
    }
}

#[test]
fn saga_crashes_and_partitions_keep_every_invariant() {
    let model = FaultModel {
        loss_rate: 0.02,
        duplicate_rate: 0.02,
        crash_rate_per_min: 30.0,
        restart_after_ms: (200, 3_000),
        partition_rate_per_min: 20.0,
        partition_ms: (200, 3_000),
        pause_rate_per_min: 10.0,
        pause_ms: (100, 1_000),
        targets: [
            "order",
            "order-db",
            "inventory",
            "inventory-db",
            "payment",
            "payment-db",
            "points-db",
            "coordinator",
            "coordinator-db",
        ]
        .map(String::from)
        .to_vec(),
        ..FaultModel::default()
    };
    let (mut crashes, mut cancelled) = (0, 0);
    for seed in 0..30 {
        let r = run(&spec(seed, model.generate(seed, 10_000)));
        assert!(r.violations.is_empty(), "seed {seed}: {:#?}", r.violations);
        // Every saga finished, and the write that finished it took its order
        // row: a recovering orchestrator reads only unfinished ones' orders.
        let log = &r.truth.own["coordinator-db"];
        assert!(log.rows("saga/").count() > 0, "seed {seed}: the log holds the sagas");
        assert_eq!(log.rows("saga-order/").count(), 0, "seed {seed}: order rows of finished sagas");
        crashes += r.counts.get("crash").copied().unwrap_or(0);
        cancelled += r.truth.orders.values().filter(|v| v.as_text() == Some("cancelled")).count();
    }
    assert!(crashes > 30, "faults fired: {crashes} crashes");
    assert!(cancelled > 0, "some orders were compensated");
}
