//! Property tests: for any workload and any explicit fault plan within bounds,
//! every protocol keeps every invariant. proptest draws the inputs and, on a
//! failure, shrinks them — fewer orders and faults, shorter faults, smaller
//! amounts, earlier times — and persists the seed of the failure under
//! `proptest-regressions/`, so it is replayed first from then on.
//!
//! Cases per protocol: 24 in CI; `FAULTLINE_PROPTEST_CASES` raises it.

use faultline_protocols::builtin::{outbox::Outbox, saga::Saga, tcc::Tcc, twopc::TwoPc};
use faultline_protocols::mutant::{self, Mutant};
use faultline_protocols::run::{run, RunSpec};
use faultline_protocols::shop::gateway::GatewayConfig;
use faultline_protocols::topology;
use faultline_protocols::workload::{Line, Order, Workload};
use faultline_protocols::ProtocolRef;
use faultline_sim::{Fault, FaultPlan, Replication, ReplicationConfig, TimedFault, WorldConfig};
use proptest::prelude::*;

const WINDOW_MS: u64 = 4_000;

fn cases() -> u32 {
    std::env::var("FAULTLINE_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24)
}

/// Customers, SKUs and up to 8 orders. Shrinks towards fewer orders, fewer
/// customers and SKUs, one unit, low prices and early submissions.
fn workload() -> impl Strategy<Value = Workload> {
    (1usize..=4, 1usize..=3)
        .prop_flat_map(|(customers, skus)| {
            // A second line, of the next SKU, in some orders.
            // Some customers cancel, racing fulfilment; some lines cannot ship
            // (an order ships the others, or nothing if none can).
            let after =
                (prop::option::of(0u64..=2_000), prop::bool::weighted(0.2), prop::bool::weighted(0.2));
            let order = (
                0..customers as u32,
                0..skus as u32,
                1i64..=3,
                0u64..WINDOW_MS,
                prop::option::of(1i64..=3),
                after,
            );
            (
                prop::collection::vec(0i64..=20_000, customers),
                prop::collection::vec(0i64..=8, skus),
                prop::collection::vec(100i64..=3_000, skus),
                prop::collection::vec(order, 0..=8),
            )
        })
        .prop_map(|(balances, stock, prices, orders)| {
            let mut orders: Vec<Order> = orders
                .into_iter()
                .enumerate()
                .map(|(id, (customer, sku, qty, submit_at_ms, second, (cancel_after_ms, short0, short1)))| {
                    let line = |sku: u32, qty: i64, undeliverable| Line {
                        sku,
                        qty,
                        amount: prices[sku as usize] * qty,
                        undeliverable,
                    };
                    let mut lines = vec![line(sku, qty, short0)];
                    if let Some(qty) = second.filter(|_| prices.len() > 1) {
                        lines.push(line((sku + 1) % prices.len() as u32, qty, short1));
                    }
                    let amount = lines.iter().map(|l| l.amount).sum::<i64>();
                    let points = amount / 100;
                    Order { id: id as u32, customer, lines, amount, points, submit_at_ms, cancel_after_ms }
                })
                .collect();
            orders.sort_by_key(|o| (o.submit_at_ms, o.id));
            Workload { balances, stock, prices, orders }
        })
}

/// Every store is semi-sync replicated, so that failovers lose nothing
/// acknowledged and the property is "every invariant holds" with no exception.
fn replication() -> ReplicationConfig {
    ReplicationConfig { mode: Replication::SemiSync, detection_ms: 500, ..Default::default() }
}

/// Up to 4 timed faults of every kind the simulator has, on the nodes and
/// stores of `protocol`. Shrinks towards fewer, shorter, earlier faults.
fn plan(protocol: ProtocolRef) -> impl Strategy<Value = FaultPlan> {
    let t = topology(protocol, &faultline_protocols::workflow::builtin::shop(), &replication());
    let nodes: Vec<String> = t.nodes.into_iter().filter(|n| n != "client").collect();
    let stores = prop::sample::select(t.replicated);
    let node = prop::sample::select(nodes);
    let duration = 1u64..=2_000;
    let fault = prop_oneof![
        (node.clone(), duration.clone())
            .prop_map(|(node, restart_after_ms)| Fault::Crash { node, restart_after_ms }),
        (node.clone(), duration.clone()).prop_map(|(node, duration_ms)| Fault::Pause { node, duration_ms }),
        (node.clone(), duration.clone())
            .prop_map(|(n, duration_ms)| Fault::Partition { side: vec![n], duration_ms }),
        (node.clone(), node, duration.clone())
            .prop_filter("two ends", |(a, b, _)| a != b)
            .prop_map(|(a, b, duration_ms)| Fault::LinkCut { a, b, duration_ms }),
        (1u64..=500, duration.clone()).prop_map(|(max_ms, duration_ms)| Fault::Latency {
            min_ms: 1,
            max_ms,
            duration_ms
        }),
        (0.0f64..0.3, duration.clone()).prop_map(|(rate, duration_ms)| Fault::Loss { rate, duration_ms }),
        (0.0f64..0.3, duration.clone())
            .prop_map(|(rate, duration_ms)| Fault::Duplication { rate, duration_ms }),
        stores.prop_map(|store| Fault::Failover { store }),
        (0.0f64..0.02, 0.0f64..=1.0, 0u64..=5, duration.clone()).prop_map(|(f, t, l, duration_ms)| {
            Fault::Disk { fsync_fail_rate: f, torn_write_rate: t, extra_latency_ms: (0, l), duration_ms }
        }),
        (1u64..=300, duration).prop_map(|(max_ms, duration_ms)| Fault::DiskLatency {
            min_ms: 0,
            max_ms,
            duration_ms
        }),
    ];
    prop::collection::vec((0u64..WINDOW_MS, fault), 0..=4).prop_map(|events| {
        let mut events: Vec<TimedFault> =
            events.into_iter().map(|(at_ms, fault)| TimedFault { at_ms, fault }).collect();
        events.sort_by_key(|e| e.at_ms);
        FaultPlan { events }
    })
}

/// Runs one drawn case and returns its violations.
fn check(protocol: ProtocolRef, workload: Workload, plan: FaultPlan, seed: u16) -> Vec<String> {
    check_with(protocol, None, workload, plan, seed)
}

fn check_with(
    protocol: ProtocolRef,
    mutant: Option<Mutant>,
    workload: Workload,
    plan: FaultPlan,
    seed: u16,
) -> Vec<String> {
    let spec = RunSpec {
        seed: seed as u64,
        protocol,
        workflow: faultline_protocols::workflow::builtin::shop(),
        workload,
        plan,
        fault_window_ms: WINDOW_MS,
        settle_ms: 60_000,
        world: WorldConfig { replication: replication(), ..WorldConfig::default() },
        gateway: GatewayConfig::default(),
        crash_points: Default::default(),
        mutant,
        // Every other case with the reconciler, which must never harm a healthy run.
        reconcile: (seed % 2 == 1).then(faultline_protocols::reconcile::ReconcileConfig::default),
    };
    // A fresh thread per run, as the runner does.
    let r = std::thread::scope(|s| s.spawn(|| run(&spec)).join()).expect("the run panicked");
    r.violations.iter().map(|v| format!("{}: {} — {}", v.invariant, v.subject, v.detail)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn property_saga_keeps_every_invariant(
        w in workload(), p in plan(&Saga as ProtocolRef), seed in any::<u16>()
    ) {
        let broken = check(&Saga as ProtocolRef, w, p, seed);
        prop_assert!(broken.is_empty(), "{broken:#?}");
    }

    #[test]
    fn property_tcc_keeps_every_invariant(
        w in workload(), p in plan(&Tcc as ProtocolRef), seed in any::<u16>()
    ) {
        let broken = check(&Tcc as ProtocolRef, w, p, seed);
        prop_assert!(broken.is_empty(), "{broken:#?}");
    }

    #[test]
    fn property_outbox_keeps_every_invariant(
        w in workload(), p in plan(&Outbox as ProtocolRef), seed in any::<u16>()
    ) {
        let broken = check(&Outbox as ProtocolRef, w, p, seed);
        prop_assert!(broken.is_empty(), "{broken:#?}");
    }

    #[test]
    fn property_2pc_keeps_every_invariant(
        w in workload(), p in plan(&TwoPc as ProtocolRef), seed in any::<u16>()
    ) {
        let broken = check(&TwoPc as ProtocolRef, w, p, seed);
        prop_assert!(broken.is_empty(), "{broken:#?}");
    }
}

/// The property is not vacuous: with a known bug switched on, the same
/// strategies find a failing input, and proptest shrinks it to a small one.
#[test]
fn property_finds_and_shrinks_a_known_bug() {
    use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
    let config = Config { cases: 256, failure_persistence: None, ..Config::default() };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let inputs = (workload(), plan(&Tcc as ProtocolRef), any::<u16>());
    let result = runner.run(&inputs, |(w, p, seed)| {
        let broken = check_with(&Tcc as ProtocolRef, Some(mutant::TCC_NO_EMPTY_ROLLBACK), w, p, seed);
        prop_assert!(broken.is_empty(), "{broken:#?}");
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, (w, p, _))) => {
            assert!(w.orders.len() <= 3, "shrunk to {} orders", w.orders.len());
            assert!(p.events.len() <= 3, "shrunk to {} faults", p.events.len());
        }
        other => panic!("tcc-no-empty-rollback went unnoticed: {other:?}"),
    }
}
