//! Workflows: every engine runs the workflow's steps in the declared order.
//! The shop with its payment taken before its stock is a different order
//! flow — a stock-out now comes after the charge and must be refunded — and
//! all four protocols run it, under faults, with every invariant kept.

use faultline_protocols::run::{run, RunSpec};
use faultline_protocols::workflow::{file, Workflow};
use faultline_protocols::workload::WorkloadSpec;
use faultline_protocols::Registry;
use faultline_sim::{FaultModel, FaultPlan, WorldConfig};
use std::sync::Arc;

/// The shop's file with the stock and payment steps swapped.
fn shop_paid_first() -> Arc<Workflow> {
    let (stock, payment) =
        ("name = \"stock\"\noperation = \"deduct-stock\"", "name = \"payment\"\noperation = \"charge\"");
    let text = include_str!("../../workflows/shop.toml")
        .replacen(stock, "SWAP", 1)
        .replacen(payment, stock, 1)
        .replacen("SWAP", payment, 1)
        .replacen("name = \"shop\"", "name = \"shop-paid-first\"", 1);
    let w = file::parse("shop-paid-first.toml", &text).unwrap();
    assert_eq!(w.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()[..2], ["payment", "stock"]);
    Arc::new(w)
}

fn spec(protocol: faultline_protocols::ProtocolRef, seed: u64, plan: FaultPlan) -> RunSpec {
    RunSpec {
        seed,
        protocol,
        workflow: shop_paid_first(),
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
fn workflows_payment_first_runs_in_its_order_under_every_engine() {
    let registry = Registry::builtin();
    let model = FaultModel {
        loss_rate: 0.02,
        duplicate_rate: 0.02,
        crash_rate_per_min: 20.0,
        restart_after_ms: (200, 2_000),
        targets: ["order", "order-db", "inventory", "inventory-db", "payment", "payment-db"]
            .map(String::from)
            .to_vec(),
        ..FaultModel::default()
    };
    for protocol in registry.all() {
        // Without faults: orders cancelled for want of stock were paid
        // first — they never reached shipping, yet their payment was charged
        // (Saga, outbox) or authorized (TCC) — and refunded or voided, as the
        // declared order says (the shop never takes money for an order it
        // has no stock for).
        let mut charged_then_refused = 0;
        for seed in 0..10 {
            let r = run(&spec(*protocol, seed, FaultPlan::default()));
            assert!(r.violations.is_empty(), "{} seed {seed}: {:#?}", protocol.name(), r.violations);
            let g = &r.truth;
            charged_then_refused += (g.workload.orders.iter())
                .filter(|o| !g.completed(o.id) && g.shipment(o.id).is_none())
                .filter(|o| {
                    let paid = |(_, id, state): &&(u64, u32, Option<String>)| {
                        *id == o.id && matches!(state.as_deref(), Some("charged" | "authorized"))
                    };
                    g.payment_history.iter().any(|h| paid(&h))
                })
                .count();
        }
        // 2PC prepares every branch at once: its order is all at once.
        if protocol.name() != "2pc" {
            assert!(charged_then_refused > 0, "{}: no stock-out came after a charge", protocol.name());
        }
        // Under crashes, loss and duplication: every invariant still holds.
        for seed in 0..10 {
            let r = run(&spec(*protocol, seed, model.generate(seed, 10_000)));
            assert!(r.violations.is_empty(), "{} seed {seed} (faults): {:#?}", protocol.name(), r.violations);
        }
    }
}

/// A marketplace run: its coupons, wallets and sellers are declared only in
/// its file, and the engines and the checker take them from there.
fn marketplace(protocol: faultline_protocols::ProtocolRef, seed: u64) -> RunSpec {
    let workload =
        WorkloadSpec { orders: 24, customers: 4, skus: 4, lines: (1, 2), ..WorkloadSpec::default() };
    RunSpec {
        workflow: faultline_protocols::workflow::builtin::named("marketplace").unwrap(),
        workload: workload.generate(seed),
        ..spec(protocol, seed, FaultPlan::default())
    }
}

#[test]
fn workflows_marketplace_declared_participants_keep_their_books() {
    use faultline_protocols::check::Invariant::{Agreement, QuantityConservation};
    use faultline_protocols::shop::declared;
    let registry = Registry::builtin();
    let saga = registry.get("saga").unwrap();
    for protocol in registry.all() {
        let (mut refused, mut credited) = (0, 0);
        for seed in 0..5 {
            let r = run(&marketplace(*protocol, seed));
            assert!(r.violations.is_empty(), "{} seed {seed}: {:#?}", protocol.name(), r.violations);
            let coupons = &r.truth.declared["coupons"];
            // Each customer holds 2 coupons and places about 6 orders: some run out.
            let causes = faultline_protocols::check::cancel_causes(&r.truth, *protocol);
            refused += causes
                .values()
                .filter(|c| **c == faultline_protocols::cancel::CancelCause::NotEnough)
                .count();
            assert!(coupons.values().filter_map(|v| v.as_int()).all(|n| n >= 0));
            credited += r.truth.declared["sellers"].len();
        }
        assert!(refused > 0, "{}: no order ran out of coupons or wallet", protocol.name());
        assert!(credited > 0, "{}: no seller was credited", protocol.name());
    }
    // The checker fires on the declared books: a coupon given back twice, a
    // seller's credit lost.
    let r = run(&marketplace(saga, 1));
    let completed = r.truth.workload.orders.iter().find(|o| r.truth.completed(o.id)).unwrap();
    let mut g = r.truth.clone();
    let key = declared::did("sellers", completed.id, 0);
    g.declared.get_mut("sellers").unwrap().remove(&key);
    let broken: Vec<_> =
        faultline_protocols::check::check(&g, saga).into_iter().map(|v| v.invariant).collect();
    assert!(broken.contains(&Agreement) && broken.contains(&QuantityConservation), "{broken:?}");
    let mut g = r.truth.clone();
    let k = declared::on_hand("coupon", &format!("{:04}", completed.customer));
    *g.declared.get_mut("coupons").unwrap().get_mut(&k).unwrap() = faultline_sim::Value::Int(-1);
    let broken: Vec<_> =
        faultline_protocols::check::check(&g, saga).into_iter().map(|v| v.invariant).collect();
    assert_eq!(broken, [QuantityConservation, QuantityConservation], "out of books and negative");
    // A failover that lost that coupon row is the evidence that explains both.
    g.lost = vec![faultline_sim::LostWrites {
        at_us: 1_000_000,
        store: "coupons-db".into(),
        writes: vec![(k.as_str().into(), None)],
    }];
    let v = faultline_protocols::check::check(&g, saga);
    assert!(v.iter().all(|v| v.evidence.as_ref().is_some_and(|e| e.detail.contains(&k))), "{v:#?}");
}

#[test]
fn workflows_payment_first_without_a_shipment_refunds_stock_outs_and_texts_only_completed_orders() {
    use faultline_protocols::shop::declared;
    let registry = Registry::builtin();
    let w = faultline_protocols::workflow::builtin::named("payment-first").unwrap();
    for protocol in registry.all() {
        let mut refunded_after_capture = 0;
        for seed in 0..5 {
            // Scarce stock: many orders run out after they were paid for.
            let spec =
                WorkloadSpec { orders: 24, customers: 6, skus: 3, stock: (2, 6), ..WorkloadSpec::default() };
            let r = run(&RunSpec {
                workflow: w.clone(),
                workload: spec.generate(seed),
                ..spec_of(*protocol, seed)
            });
            assert!(r.violations.is_empty(), "{} seed {seed}: {:#?}", protocol.name(), r.violations);
            let g = &r.truth;
            // Nothing ships, no one cancels: the workload was fitted to the workflow.
            assert!(g
                .workload
                .orders
                .iter()
                .all(|o| o.cancel_after_ms.is_none() && o.short_lines().count() == 0));
            assert!(g.shipments.is_empty(), "{}: a shipment in a workflow without one", protocol.name());
            for o in &g.workload.orders {
                let texted = g.declared["sms"].contains_key(&declared::did("sms", o.id, 0));
                assert_eq!(texted, g.completed(o.id), "{}: order {} texted {texted}", protocol.name(), o.id);
            }
            let captured_then_refunded = |o: &&faultline_protocols::workload::Order| {
                let state = |s: &str| {
                    g.payment_history.iter().any(|(_, id, st)| *id == o.id && st.as_deref() == Some(s))
                };
                (state("charged") || state("authorized")) && (state("refunded") || state("voided"))
            };
            refunded_after_capture += g.workload.orders.iter().filter(captured_then_refunded).count();
        }
        assert!(refunded_after_capture > 0, "{}: no stock-out came after a payment", protocol.name());
    }
}

fn spec_of(protocol: faultline_protocols::ProtocolRef, seed: u64) -> RunSpec {
    spec(protocol, seed, FaultPlan::default())
}

/// The cached flash sale: more buyers than stock, the warehouse's cache
/// crashing (memory only, or with its log) while sales wait for their sync.
fn cached_flash_sale(protocol: faultline_protocols::ProtocolRef, seed: u64, aof: bool) -> RunSpec {
    let mut w = (*faultline_protocols::workflow::builtin::named("cached-flash-sale").unwrap()).clone();
    if aof {
        w.quantities[0].cache.as_mut().unwrap().aof_sync_ms = Some(1_000);
    }
    let workload = WorkloadSpec {
        orders: 60,
        customers: 30,
        skus: 2,
        stock: (20, 30),
        lines: (1, 2),
        arrival_ms: 3_000,
        ..WorkloadSpec::default()
    };
    let model = FaultModel {
        loss_rate: 0.02,
        crash_rate_per_min: 40.0,
        restart_after_ms: (100, 1_000),
        targets: ["warehouse-cache", "warehouse", "warehouse-db"].map(String::from).to_vec(),
        ..FaultModel::default()
    };
    RunSpec {
        workflow: Arc::new(w),
        workload: workload.generate(seed),
        ..spec(protocol, seed, model.generate(seed, 8_000))
    }
}

#[test]
fn workflows_the_cached_flash_sale_never_oversells_when_its_cache_crashes() {
    use faultline_protocols::check::Invariant::{EventualSettlement, QuantityConservation};
    let registry = Registry::builtin();
    let saga = registry.get("saga").unwrap();
    for protocol in registry.all() {
        for aof in [false, true] {
            let (mut rebuilt, mut sold_out) = (0, 0);
            for seed in 0..6 {
                let r = run(&cached_flash_sale(*protocol, seed, aof));
                let who = format!("{} aof {aof} seed {seed}", protocol.name());
                assert!(r.violations.is_empty(), "{who}: {:#?}", r.violations);
                // A cache life after the first was loaded: the cache crashed
                // and was rebuilt from the store.
                rebuilt +=
                    usize::from(r.coverage.contains(&faultline_protocols::check::Coverage::CacheRebuilt));
                let wh = &r.truth.declared["warehouse"];
                sold_out +=
                    usize::from(wh.iter().any(|(k, v)| k.starts_with("stock/") && v.as_int() == Some(0)));
                assert!(wh.rows("pending/").next().is_none(), "{who}: every take synced");
            }
            assert!(rebuilt > 0, "{}: the cache never came back", protocol.name());
            assert!(sold_out > 0, "{}: nothing sold out, nothing to oversell", protocol.name());
        }
    }
    // The checker fires on the warehouse's books: a take the cache made and
    // the store never synced, or synced twice.
    let r = run(&cached_flash_sale(saga, 1, false));
    let pending = faultline_protocols::shop::cached::pending;
    let o = r.truth.workload.orders.iter().find(|o| r.truth.completed(o.id)).unwrap();
    let t = &faultline_protocols::shop::declared::targets(&r.truth.workflow, 0, o)[0];
    let mut g = r.truth.clone();
    g.declared.get_mut("warehouse").unwrap().insert(pending("stock", t), faultline_sim::Value::Int(t.amount));
    let broken: Vec<_> =
        faultline_protocols::check::check(&g, saga).into_iter().map(|v| v.invariant).collect();
    assert!(broken.contains(&QuantityConservation) && broken.contains(&EventualSettlement), "{broken:?}");
}
