//! Every invariant fires on a crafted bad state, and only that one.

use super::*;
use crate::builtin::{outbox::Outbox, saga::Saga};
use crate::shop::gateway::Entry;
use crate::workload::{Order, Workload};
use faultline_sim::broker::Contents;
use std::collections::{BTreeMap, BTreeSet};
use Invariant::*;

fn table(rows: &[(&str, Value)]) -> Table {
    rows.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Two orders: 0 completed (1 unit, 1000), 1 cancelled for lack of stock.
fn consistent() -> GroundTruth {
    let order = |id, qty, amount| Order {
        id,
        customer: 0,
        lines: vec![crate::workload::Line { sku: 0, qty, amount, undeliverable: false }],
        amount,
        points: amount / 100,
        submit_at_ms: 0,
        cancel_after_ms: None,
    };
    let t = |s: &str| Value::from(s);
    GroundTruth {
        declared: Default::default(),
        workflow: crate::workflow::builtin::shop(),
        workload: Workload {
            balances: vec![10_000],
            stock: vec![5],
            prices: vec![1_000],
            orders: vec![order(0, 1, 1_000), order(1, 9, 9_000)],
        },
        orders: table(&[("order/000000", t("completed")), ("order/000001", t("cancelled"))]),
        inventory: table(&[
            ("stock/000/available", 4.into()),
            ("stock/000/sold", 1.into()),
            ("deduct/000000/0", 1.into()),
            ("restock/000001/0", 0.into()),
        ]),
        payments: table(&[("pay/000000", t("charged"))]),
        points: table(&[("points/0000", 10.into()), ("award/000000", 10.into())]),
        notifications: table(&[("sent/0000", 1.into()), ("notified/000000", 1.into())]),
        shipments: table(&[("ship/000000", t("shipped"))]),
        own: BTreeMap::new(),
        broker: None,
        balances: vec![9_000],
        merchant: 1_000,
        held: 0,
        ledger: vec![Entry { order: 0, customer: 0, amount: 1_000, at_us: 0 }],
        lost: vec![],
        order_history: vec![
            (1, 0, Some("pending".into())),
            (2, 1, Some("pending".into())),
            (3, 0, Some("completed".into())),
            (4, 1, Some("cancelled".into())),
        ],
        payment_history: vec![(2, 0, Some("charging".into())), (3, 0, Some("charged".into()))],
        ship_history: vec![(3, 0, Some("shipped".into()))],
        journal: None,
        refusals: BTreeMap::new(),
        declined: BTreeSet::new(),
        by_id: Default::default(),
    }
}

fn check(g: &GroundTruth) -> Vec<Violation> {
    super::check(g, &Saga)
}

fn broken(g: &GroundTruth) -> BTreeSet<Invariant> {
    broken_as(g, &Saga)
}

fn check_as(g: &GroundTruth, protocol: &dyn Protocol) -> Vec<Violation> {
    super::check(g, protocol)
}

fn broken_as(g: &GroundTruth, protocol: &dyn Protocol) -> BTreeSet<Invariant> {
    check_as(g, protocol).into_iter().map(|v| v.invariant).collect()
}

fn only(invariants: &[Invariant]) -> BTreeSet<Invariant> {
    invariants.iter().copied().collect()
}

/// The checks find orders by id in a workload held in submission order, and
/// an order the index does not know (the workload changed after the first
/// lookup) is still found.
#[test]
fn orders_are_found_by_id_in_any_order() {
    let mut g = consistent();
    let base = g.workload.orders[0].clone();
    let at = |id: u32, submit_at_ms| Order { id, submit_at_ms, ..base.clone() };
    g.workload.orders = vec![at(7, 1), at(2, 2), at(5, 3)];
    for id in [7, 2, 5] {
        assert_eq!(g.order(id).map(|o| o.id), Some(id), "order {id}");
    }
    assert!(g.order(3).is_none() && g.order(0).is_none() && g.order(8).is_none());
    g.workload.orders.push(at(3, 4));
    g.workload.orders.swap(0, 3);
    assert_eq!(g.order(3).map(|o| o.id), Some(3), "an order added after the index was built");
    assert_eq!(g.order(7).map(|o| o.id), Some(7), "an order the index has in another place");
}

#[test]
fn a_consistent_state_passes() {
    assert_eq!(check(&consistent()), vec![]);
}

#[test]
fn every_invariant_fires_on_a_crafted_bad_state() {
    let mut g = consistent();
    g.ledger.push(Entry { order: 0, customer: 0, amount: 1_000, at_us: 0 });
    g.balances[0] -= 1_000;
    g.merchant += 1_000;
    assert_eq!(broken(&g), only(&[NoDoubleCharge]), "charged twice");

    let mut g = consistent();
    g.inventory.insert("stock/000/available", 5.into());
    assert_eq!(broken(&g), only(&[StockConservation]), "a unit from nowhere");

    let mut g = consistent();
    g.inventory.insert("stock/000/available", (-1).into());
    g.inventory.insert("stock/000/sold", 6.into());
    let v = check(&g);
    assert!(v.iter().any(|v| v.detail.contains("negative")), "oversell: {v:?}");

    let mut g = consistent();
    g.merchant += 1;
    assert_eq!(broken(&g), only(&[MoneyConservation]), "a cent from nowhere");

    let mut g = consistent();
    g.points.insert("points/0000", 20.into());
    assert_eq!(broken(&g), only(&[ExactlyOnceEffects]), "points twice");

    let mut g = consistent();
    g.notifications.remove("notified/000000");
    assert_eq!(broken(&g), only(&[Agreement]), "completed but never notified");

    let mut g = consistent();
    g.shipments.remove("ship/000000");
    assert_eq!(broken(&g), only(&[Agreement]), "completed but never shipped");

    let mut g = consistent();
    g.points.insert("revoke/000000", 10.into());
    assert_eq!(broken(&g), only(&[Agreement]), "completed but its points taken back");

    let mut g = consistent();
    g.ship_history.insert(0, (2, 0, Some("stopped".into())));
    let v = check(&g);
    assert_eq!(broken(&g), only(&[CancellationHonoured]), "an accepted cancellation overwritten: {v:?}");
    assert_eq!(v.len(), 1, "reported once: {v:?}");

    let mut g = consistent();
    g.shipments.insert("ship/000001", Value::from("stopped"));
    g.ship_history.push((4, 1, Some("stopped".into())));
    assert_eq!(check(&g), vec![], "a cancellation that won, honoured");
    g.orders.insert("order/000001", Value::from("completed"));
    g.order_history.push((5, 1, Some("completed".into())));
    assert!(broken(&g).contains(&CancellationHonoured), "a cancelled order completed after all");

    let mut g = consistent();
    g.inventory.insert("stock/000/available", 3.into());
    g.inventory.insert("stock/000/reserved", 1.into());
    assert_eq!(broken(&g), only(&[EventualSettlement]), "a reservation left behind");

    // The reconciler's repairs must agree with how each order ended.
    use crate::reconcile::{Finding, Journal};
    let journal = |rows: &[(&str, Finding)]| Journal {
        entries: rows.iter().map(|(s, f)| ((s.to_string(), *f), (20_000, Some(20_000)))).collect(),
        clean_ms: Some(21_000),
    };
    let mut g = consistent();
    g.journal = Some(journal(&[("000001", Finding::ChargedButCancelled), ("000000", Finding::NotNotified)]));
    assert_eq!(check(&g), vec![], "a refund of a cancelled order, a notification of a completed one");
    g.journal = Some(journal(&[("000000", Finding::ChargedButCancelled)]));
    assert_eq!(broken(&g), only(&[RepairsJustified]), "a refund of an order that completed");
    g.journal =
        Some(journal(&[("000001", Finding::PointsMissing), ("sku-000", Finding::StockStillReserved)]));
    assert_eq!(broken(&g), only(&[RepairsJustified]), "points awarded to a cancelled order");

    // A completion must be paid for (self-healing seed 777168: the reconciler
    // completed a shipped order whose charge the protocol had refunded).
    let mut g = consistent();
    g.journal = Some(journal(&[("000000", Finding::StuckShipped)]));
    g.ledger[0].at_us = 19_000_000;
    assert_eq!(check(&g), vec![], "completed with its money at the gateway");
    g.ledger.push(Entry { order: 0, customer: 0, amount: -1_000, at_us: 19_500_000 });
    let v = check(&g).into_iter().find(|v| v.invariant == RepairsJustified).expect("an unpaid completion");
    assert!(v.detail.contains("held 0 of the 1000"), "{}", v.detail);
    g.ledger.push(Entry { order: 0, customer: 0, amount: 1_000, at_us: 25_000_000 });
    assert_eq!(check(&g), vec![], "re-charged after the completion: paid in the end");
    let mut g = consistent();
    g.journal = Some(journal(&[("000000", Finding::StuckShipped)]));
    g.ledger[0].at_us = 19_000_000;
    g.ledger.push(Entry { order: 0, customer: 0, amount: -1_000, at_us: 30_000_000 });
    assert!(
        !broken(&g).contains(&RepairsJustified),
        "refunded by someone else after a paid completion: not the repair's doing"
    );

    let mut g = consistent();
    g.order_history.push((5, 0, Some("pending".into())));
    assert_eq!(broken(&g), only(&[LegalTransitions]), "completed → pending");

    let mut g = consistent();
    g.order_history.push((5, 1, Some("completed".into())));
    assert_eq!(broken(&g), only(&[LegalTransitions]), "cancelled → completed, and that was lost");

    // The outbox: the broker and the services' event records must match.
    let mut g = consistent();
    let mut contents = Contents::default();
    contents.messages.entry("orders".into()).or_default().insert(1, "000000-order-placed".into());
    g.orders.insert("event/000000/order-placed", Value::from("{}"));
    g.broker = Some(contents.clone().into());
    let unconsumed = check_as(&g, &Outbox);
    assert!(unconsumed.iter().all(|v| v.invariant == EventualSettlement), "{unconsumed:?}");
    assert_eq!(unconsumed.len(), 2, "inventory and notification listen to orders: {unconsumed:?}");
    for group in ["inventory", "notification"] {
        contents.acked.entry("orders".into()).or_default().entry(group.into()).or_default().insert(1);
    }
    g.orders.insert("event/000000/order-placed", Value::from("{}"));
    g.broker = Some(contents.clone().into());
    assert_eq!(check_as(&g, &Outbox), vec![], "published what was committed");
    g.orders.insert("event/000001/order-placed", Value::from("{}"));
    assert_eq!(
        broken_as(&g, &Outbox),
        only(&[NoPhantomEvents]),
        "committed, left the outbox, never published"
    );
    g.orders.insert("outbox/000001/order-placed", Value::from("{}"));
    assert_eq!(
        broken_as(&g, &Outbox),
        only(&[EventualSettlement]),
        "still in the outbox: unsettled, not lost"
    );
    let mut g = consistent();
    g.broker = Some(contents.into());
    assert_eq!(broken_as(&g, &Outbox), only(&[NoPhantomEvents]), "published, never committed");

    let mut g = consistent();
    g.payment_history.push((6, 0, Some("charging".into())));
    assert_eq!(broken(&g), only(&[LegalTransitions]), "a payment back to charging");
    let mut g = consistent();
    g.payment_history.push((6, 0, Some("refunding".into())));
    g.payment_history.push((7, 0, Some("refunded".into())));
    g.payment_history.push((8, 0, Some("declined".into())));
    let v = check(&g);
    assert!(v.iter().any(|v| v.detail.contains("refunded → declined")), "a refund undone: {v:?}");

    // Reachable is legal: a pending write whose acknowledgement was lost.
    let mut g = consistent();
    g.order_history.retain(|(_, id, s)| !(*id == 1 && s.as_deref() == Some("pending")));
    assert_eq!(check(&g), vec![], "absent → cancelled is pending → cancelled unobserved");
}

#[test]
fn agreement_counts_every_line_of_an_order() {
    use crate::workload::Line;
    let mut g = consistent();
    // Order 0, completed, gets a second line whose stock was never taken.
    g.workload.orders[0].lines.push(Line { sku: 0, qty: 1, amount: 0, undeliverable: false });
    let v = check(&g);
    assert!(
        v.iter().any(|v| v.invariant == Agreement && v.detail.contains("kept the stock of 1 of its 2 lines")),
        "{v:?}"
    );
    // Shipped without that line: its stock is not to be kept, its amount refunded.
    let mut g = consistent();
    g.workload.orders[0].lines.push(Line { sku: 0, qty: 1, amount: 400, undeliverable: true });
    g.workload.orders[0].amount = 1_400;
    assert_eq!(check(&g), vec![], "a line shipped short, never taken, charged only for the rest");
    g.inventory.insert("deduct/000000/1", 1.into());
    assert!(broken(&g).contains(&Agreement), "a short line's stock kept");
    let mut g = consistent();
    g.workload.orders[0].lines.push(Line { sku: 0, qty: 1, amount: 400, undeliverable: true });
    g.workload.orders[0].amount = 1_400;
    g.ledger[0].amount = 1_400;
    g.balances[0] -= 400;
    g.merchant += 400;
    let v = check(&g);
    assert_eq!(broken(&g), only(&[NoDoubleCharge]), "the short line never refunded: {v:?}");
    assert!(v[0].detail.contains("comes to 1000 of 1400"), "{v:?}");
    // Order 1, cancelled, with a line's stock still taken.
    let mut g = consistent();
    g.inventory.insert("deduct/000001/0", 1.into());
    g.inventory.insert("restock/000001/0", 0.into());
    assert!(broken(&g).contains(&Agreement), "a cancelled order keeping a line's stock");
}

#[test]
fn a_refund_never_exceeds_the_charge_even_for_a_moment() {
    let mut g = consistent();
    // Order 1 (cancelled) is refunded before it is charged: net 0 at the end.
    g.ledger.push(Entry { order: 1, customer: 0, amount: -9_000, at_us: 0 });
    g.ledger.push(Entry { order: 1, customer: 0, amount: 9_000, at_us: 0 });
    let v = check(&g);
    assert!(v.iter().any(|v| v.invariant == NoDoubleCharge && v.subject == "order 1"), "{v:?}");
    // Charged, then refunded in full: fine.
    let mut g = consistent();
    g.ledger.push(Entry { order: 1, customer: 0, amount: 9_000, at_us: 0 });
    g.ledger.push(Entry { order: 1, customer: 0, amount: -9_000, at_us: 0 });
    assert_eq!(check(&g), vec![]);
}

#[test]
fn violations_carry_the_numbers() {
    let mut g = consistent();
    g.points.insert("points/0000", 20.into());
    let v = check(&g);
    assert_eq!(v[0].subject, "customer 0");
    assert_eq!(v[0].detail, "points 20, completed orders earn 10");
}

#[test]
fn a_protocol_reports_what_is_unsettled_in_its_own_state() {
    use crate::builtin::{tcc::Tcc, twopc::TwoPc};
    let mut g = consistent();
    g.own.insert("coordinator-db".into(), table(&[("saga/000000", Value::from("F2"))]));
    assert_eq!(broken(&g), only(&[EventualSettlement]), "a saga stuck before its third step");
    assert_eq!(check_as(&g, &Tcc), vec![], "TCC reads only its own log");
    g.own.insert("coordinator-db".into(), table(&[("tcc/000001", Value::from("cancelling"))]));
    assert_eq!(broken_as(&g, &Tcc), only(&[EventualSettlement]), "a TCC transaction still cancelling");
    assert_eq!(check_as(&g, &TwoPc), vec![], "2PC's log has its own prefix");
    g.own.insert("coordinator-db".into(), table(&[("saga/000000", Value::from("completed"))]));
    assert_eq!(check(&g), vec![], "a finished saga is settled");
}

#[test]
fn every_coverage_fact_shows_when_it_happened_and_only_then() {
    use Coverage::*;
    let g = consistent();
    let none = BTreeMap::new();
    assert_eq!(observed(&g, &none), [OrderCompleted, OrderCancelled].into(), "a calm run's facts");
    let mut g = consistent();
    g.inventory.insert("restock/000001/0", 9.into());
    assert!(observed(&g, &none).contains(&OrderCompensated), "stock put back for a cancelled order");
    let mut g = consistent();
    g.payment_history.push((5, 1, Some("authorized".into())));
    assert!(observed(&g, &none).contains(&OrderCompensated), "money held for a cancelled order");
    let mut g = consistent();
    g.ledger.push(Entry { order: 0, customer: 0, amount: -1_000, at_us: 0 });
    assert!(observed(&g, &none).contains(&ChargeRefunded));
    let shipment = |order: &str, fate: &str| {
        let mut g = consistent();
        g.shipments.insert(format!("ship/{order}"), Value::from(fate));
        g.workload.orders[0].cancel_after_ms = Some(10);
        observed(&g, &none)
    };
    assert!(shipment("000001", "failed").contains(&ShipmentFailed));
    assert!(shipment("000001", "stopped").contains(&CancellationAccepted));
    assert!(shipment("000000", "shipped").contains(&CancellationTooLate), "cancelled after it shipped");
    assert!(!observed(&consistent(), &none).contains(&CancellationTooLate), "nobody cancelled");
    let mut g = consistent();
    let entries = [(("000001".to_string(), crate::reconcile::Finding::Stuck), (1, Some(2)))].into();
    g.journal = Some(crate::reconcile::Journal { entries, clean_ms: None });
    assert!(observed(&g, &none).contains(&Repaired));
    for fact in Coverage::ALL {
        for event in fact.events() {
            let counts: BTreeMap<&'static str, u64> = [(*event, 1)].into();
            let seen = observed(&consistent(), &counts);
            assert!(seen.contains(&fact), "{event} shows {fact}");
            assert_eq!(seen.len(), 3, "{event} shows only {fact}: {seen:?}");
        }
        assert!(!fact.statement().is_empty());
    }
}

#[test]
fn a_violation_carries_the_evidence_of_a_lost_write_that_touched_it_and_no_other() {
    use faultline_sim::LostWrites;
    let lost = |keys: &[&str]| LostWrites {
        at_us: 1_500_000,
        store: "order-db".into(),
        writes: keys.iter().map(|k| ((*k).into(), None)).collect(),
    };
    // Order 0's completion vanished: agreement breaks for order 0.
    let mut g = consistent();
    g.orders.insert("order/000000", Value::from("cancelled"));
    let v = check(&g);
    assert!(v.iter().all(|v| v.evidence.is_none()), "nothing was lost: no excuse: {v:?}");
    g.lost = vec![lost(&["order/000000"])];
    let v = check(&g);
    assert!(!v.is_empty());
    for v in &v {
        let e = v.evidence.as_ref().unwrap_or_else(|| panic!("{v:?} has no evidence"));
        assert_eq!(e.cause, Cause::FailoverLostWrites);
        assert!(e.detail.contains("order-db failover at 1.500s lost order/000000"), "{}", e.detail);
    }
    // A loss that touched another order excuses nothing here.
    g.lost = vec![lost(&["order/000001"])];
    assert!(check(&g).iter().filter(|v| v.subject == "order 0").all(|v| v.evidence.is_none()));
    // Through an order, its SKU and customer; the gateway through any order.
    let mut g = consistent();
    g.points.insert("points/0000", 20.into());
    g.lost = vec![lost(&["award/000000"])];
    assert!(check(&g).iter().all(|v| v.evidence.is_some()), "customer 0 through order 0");
    g.lost = vec![lost(&["points/0000"])];
    assert!(check(&g).iter().all(|v| v.evidence.is_some()), "customer 0 directly");
    g.lost = vec![lost(&["points/0001"])];
    assert!(check(&g).iter().all(|v| v.evidence.is_none()), "another customer");
    // A broker row keyed by sequence: through the message id at that sequence.
    let mut g = consistent();
    let mut contents = Contents::default();
    contents.messages.entry("orders".into()).or_default().insert(7, "000001-order-placed".into());
    g.broker = Some(contents.into());
    g.orders.insert("event/000001/order-placed", Value::from("{}"));
    let mut ack = lost(&[]);
    ack.writes = vec![("ack/orders/0000000007/inventory".into(), Some(1.into()))];
    g.lost = vec![ack];
    let v = check_as(&g, &Outbox);
    assert!(!v.is_empty() && v.iter().all(|v| v.evidence.is_some()), "{v:?}");
    // A lost deletion by the broker's retention (of a message every group
    // acknowledged) changes nothing anyone sees: it excuses nothing.
    g.lost = vec![lost(&["msg/orders/0000000007"])];
    let v = check_as(&g, &Outbox);
    assert!(!v.is_empty() && v.iter().all(|v| v.evidence.is_none()), "{v:?}");
}

#[test]
fn a_run_is_settled_exactly_when_nothing_is_pending() {
    use crate::shop::{inventory, payment, points};
    type Unsettle = fn(&mut GroundTruth);
    let unsettle: [(&str, Unsettle); 7] = [
        ("an order in flight", |g| {
            g.orders.insert(crate::shop::order::key(0), Value::from("pending"));
        }),
        ("money held", |g| g.held = 500),
        ("stock reserved", |g| {
            g.inventory.insert(inventory::reserved(0), 2.into());
        }),
        ("a payment in flight", |g| {
            g.payments.insert(payment::key(0), Value::from("charging"));
        }),
        ("points pending", |g| {
            g.points.insert(points::pending(0), 10.into());
        }),
        ("a cache's take unsynced", |g| {
            g.declared.insert("warehouse".into(), table(&[("pending/stock/0/7", 1.into())]));
        }),
        ("the protocol's own state", |g| {
            g.own.insert("coordinator-db".into(), table(&[("saga/000000", Value::from("F2"))]));
        }),
    ];
    let g = consistent();
    assert!(settled(&g, &Saga) && pending(&g, &Saga).is_empty(), "a consistent state is settled");
    for (what, unsettle) in unsettle {
        let mut g = consistent();
        unsettle(&mut g);
        assert!(!pending(&g, &Saga).is_empty(), "{what} is pending");
        assert!(!settled(&g, &Saga), "so the run is not settled: {what}");
    }
}
