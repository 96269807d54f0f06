//! One reconciliation pass: read the books, judge every order that has had
//! its time, journal each finding before acting on it (so every repair
//! attempted is on record), and repair through the services' own idempotent
//! operations — the same guarded transactions the services run.

use super::finding::{found_key, repaired_key, Finding};
use super::view::View;
use super::ReconcileConfig;
use crate::id::Padded;
use crate::mutant;
use crate::shop::gateway::{GatewayReq, GatewayRsp, Status};
use crate::shop::order::{self, OrderReq};
use crate::shop::payment::{self, charge_key, hold_key, PaymentState};
use crate::shop::shipping::{self, Fate};
use crate::shop::{inventory, notification, points, Reply, Service, Shop, GATEWAY_TIMEOUT, STORE_TIMEOUT};
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeId, Op, StoreClient, TxnError, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

pub struct Reconciler {
    ep: Arc<Endpoint>,
    journal: StoreClient,
    /// The services' stores, in [`Service::ALL`] order.
    stores: [StoreClient; 6],
    gateway: NodeId,
    orders: Arc<Vec<Order>>,
    config: ReconcileConfig,
}

impl Reconciler {
    pub fn new(
        ep: Arc<Endpoint>,
        journal: StoreClient,
        shop: Shop,
        orders: Arc<Vec<Order>>,
        config: ReconcileConfig,
    ) -> Reconciler {
        let stores = Service::ALL.map(|s| StoreClient::new(ep.clone(), shop.db(s).clone(), STORE_TIMEOUT));
        Reconciler { ep, journal, stores, gateway: shop.gateway, orders, config }
    }

    fn store(&self, s: Service) -> &StoreClient {
        &self.stores[Service::ALL.iter().position(|x| *x == s).expect("every service has a store")]
    }

    pub async fn pass(&self, now_ms: u64) {
        let Some(v) = View::read(&self.stores, &self.ep, self.gateway).await else { return };
        let due = |o: &Order| now_ms >= o.submit_at_ms + self.config.after_ms;
        // Counters first: stock a lost sale left reserved is what a re-taken line takes.
        let mut clean = !self.counters(&v, now_ms, &due).await && self.orders.iter().all(due);
        for o in self.orders.iter() {
            let found = match due(o) {
                true => findings(&v, o, &self.ep),
                false => early_findings(&v, o, &self.ep),
            };
            clean &= !found.iter().any(|f| repairable(*f));
            // A repair is work for its order, traced as such.
            faultline_sim::order::scope(Some(o.id), async {
                for f in found {
                    let subject = Padded(o.id).to_string();
                    match repairable(f) {
                        true => self.act(&subject, f, now_ms, self.repair(&v, o, f)).await,
                        false => drop(self.note(&subject, f, now_ms).await),
                    }
                }
            })
            .await;
        }
        if clean {
            // Every order judged and nothing left to repair: the run may end.
            let _ = self.journal.txn(vec![Op::Put(super::CLEAN.into(), (now_ms as i64).into())]).await;
        }
    }

    /// Releases stock still reserved and points still promised once every
    /// order behind them has settled; true if there was any.
    async fn counters(&self, v: &View, now_ms: u64, due: &impl Fn(&Order) -> bool) -> bool {
        let settled = |o: &Order| due(o) && v.terminal(o.id);
        let mut found = false;
        let skus: BTreeSet<u32> = self.orders.iter().flat_map(|o| o.lines.iter().map(|l| l.sku)).collect();
        for sku in skus {
            let r = v.reserved(sku);
            if r > 0 && self.orders.iter().filter(|o| o.qty_of(sku) > 0).all(settled) {
                found = true;
                let ops = vec![
                    Op::Expect(inventory::reserved(sku), Some(r.into())),
                    Op::Incr { key: inventory::reserved(sku), by: -r, floor: 0 },
                    Op::Incr { key: inventory::available(sku), by: r, floor: 0 },
                ];
                let release = self.txn(Service::Inventory, ops);
                self.act(&format!("sku-{sku:03}"), Finding::StockStillReserved, now_ms, release).await;
            }
        }
        let customers: BTreeSet<u32> = self.orders.iter().map(|o| o.customer).collect();
        for c in customers {
            let p = v.points_pending(c);
            if p > 0 && self.orders.iter().filter(|o| o.customer == c).all(settled) {
                found = true;
                let ops = vec![
                    Op::Expect(points::pending(c), Some(p.into())),
                    Op::Incr { key: points::pending(c), by: -p, floor: 0 },
                ];
                let withdraw = self.txn(Service::Points, ops);
                self.act(&format!("customer-{c:04}"), Finding::PointsStillPending, now_ms, withdraw).await;
            }
        }
        found
    }

    /// Journals the finding, then repairs it; a finding the journal could not
    /// record is not acted on this pass (every repair attempted is on record).
    async fn act(
        &self,
        subject: &str,
        f: Finding,
        now_ms: u64,
        repair: impl std::future::Future<Output = bool>,
    ) {
        if !self.note(subject, f, now_ms).await {
            return;
        }
        if repair.await {
            let ops = vec![Op::InsertIfAbsent(repaired_key(subject, f), (now_ms as i64).into())];
            let _ = self.journal.txn(ops).await; // a lost record costs a metric, not a repair
        }
    }

    /// Records a finding once; false if the journal did not answer.
    async fn note(&self, subject: &str, f: Finding, now_ms: u64) -> bool {
        let ops = vec![Op::InsertIfAbsent(found_key(subject, f), (now_ms as i64).into())];
        !matches!(self.journal.txn(ops).await, Err(TxnError::Unknown))
    }

    async fn txn(&self, s: Service, ops: Vec<Op>) -> bool {
        self.store(s).txn(ops).await.is_ok()
    }

    async fn gateway(&self, req: GatewayReq) -> Option<Status> {
        match self.ep.call(self.gateway, req, GATEWAY_TIMEOUT).await {
            Ok(GatewayRsp::Done(s)) => Some(s),
            _ => None,
        }
    }

    async fn repair(&self, v: &View, o: &Order, f: Finding) -> bool {
        let id = o.id;
        match f {
            Finding::Stuck => {
                // Win the shipment first, so the protocol cannot ship what is cancelled.
                match shipping::decide(self.store(Service::Shipping), id, Fate::Stopped).await {
                    // Shipped after all: the next pass judges it as shipped,
                    // with the money in view (a completion must be paid for).
                    Some(Fate::Shipped) => false,
                    Some(_) => {
                        let cancel = order::handle(self.store(Service::Order).clone(), OrderReq::Cancel(id));
                        cancel.await == Reply::Done
                    }
                    None => false,
                }
            }
            Finding::StuckShipped => self.complete(id).await,
            Finding::ChargedButCancelled => {
                if mutant::acts(&self.ep, &mutant::RECONCILE_TRUSTS_PAYMENT_ROW) {
                    // No look at what the gateway already refunded, no key of its own.
                    let mut all = true;
                    for key in v.keys(id, &[Status::Charged, Status::Captured, Status::Refunded]) {
                        all &= self.gateway(GatewayReq::RefundUnkeyed { key }).await.is_some();
                    }
                    return all;
                }
                let mut all = true;
                for key in v.keys(id, &[Status::Charged, Status::Captured]) {
                    let ps = self.store(Service::Payment);
                    all &= payment::refund_charge(ps, &self.ep, self.gateway, id, &key).await == Reply::Done;
                }
                all
            }
            Finding::HeldAfterSettle => {
                let completed = v.order_state(id) == Some(order::COMPLETED);
                let mut all = true;
                for key in v.keys(id, &[Status::Authorized]) {
                    let req = match completed {
                        true => GatewayReq::Capture { key },
                        false => GatewayReq::Void { key },
                    };
                    all &= self.gateway(req).await.is_some();
                }
                all
            }
            Finding::ChargedTwice => {
                let charged = v.keys(id, &[Status::Charged, Status::Captured]);
                let keep = (charged.iter().find(|k| **k == charge_key(id) || **k == hold_key(id)))
                    .unwrap_or(&charged[0])
                    .clone();
                let mut all = true;
                for key in charged.into_iter().filter(|k| *k != keep) {
                    all &= self.gateway(GatewayReq::Refund { key }).await.is_some();
                }
                all
            }
            Finding::PaymentRowWrong => {
                let (now, to) = (v.payment(id), payment_target(v, id));
                let Some(to) = to else { return false };
                let ops = vec![
                    Op::Expect(payment::key(id), now.map(Value::from)),
                    Op::Put(payment::key(id), to.into()),
                ];
                self.txn(Service::Payment, ops).await
            }
            Finding::StockNotTaken => {
                let mut all = true;
                let untouched =
                    |(n, l): &(u32, &crate::workload::Line)| !l.undeliverable && v.line_untouched(o, *n);
                for (line, l) in (0u32..).zip(&o.lines).filter(untouched) {
                    let mut ops = vec![
                        Op::InsertIfAbsent(inventory::deducted(id, line), l.qty.into()),
                        Op::Expect(inventory::restocked(id, line), None),
                    ];
                    ops.extend(inventory::take(l.sku, l.qty, 0));
                    all &= self.txn(Service::Inventory, ops).await;
                }
                all
            }
            Finding::ShortNotSettled => {
                let mut all = true;
                for key in v.keys(id, &[Status::Charged, Status::Captured]) {
                    for (line, l) in o.short_lines() {
                        all &= payment::refund_line(&self.ep, self.gateway, &key, line, l.amount).await
                            == Reply::Done;
                    }
                }
                for (line, l) in o.short_lines().filter(|(n, _)| v.line_kept(o, *n)) {
                    let is = self.store(Service::Inventory);
                    all &= inventory::restock(is, id, line, l.sku).await == Reply::Done;
                }
                all
            }
            Finding::StockNotReturned => {
                let mut all = true;
                for (line, l) in (0u32..).zip(&o.lines).filter(|(n, _)| v.line_kept(o, *n)) {
                    let is = self.store(Service::Inventory);
                    all &= inventory::restock(is, id, line, l.sku).await == Reply::Done;
                }
                all
            }
            Finding::PointsMissing => {
                let ops = vec![
                    Op::InsertIfAbsent(points::awarded(id), o.points.into()),
                    Op::Expect(points::revoked(id), None),
                    points::credit(o.customer, o.points),
                ];
                self.txn(Service::Points, ops).await
            }
            Finding::PointsKept => {
                points::revoke(self.store(Service::Points), id, o.customer).await == Reply::Done
            }
            Finding::NotNotified => {
                let ops = vec![
                    Op::InsertIfAbsent(notification::notified(id), 1.into()),
                    notification::count_sent(o.customer),
                ];
                self.txn(Service::Notification, ops).await
            }
            Finding::ShipmentUnrecorded => {
                shipping::decide(self.store(Service::Shipping), id, Fate::Shipped).await
                    == Some(Fate::Shipped)
            }
            _ => false,
        }
    }

    /// Completes a pending or lost order whose goods shipped.
    async fn complete(&self, id: u32) -> bool {
        let os = self.store(Service::Order);
        let Ok(now) = os.txn(vec![Op::Get(order::key(id))]).await else { return false };
        let now = now[0].value().cloned();
        match now.as_ref().and_then(Value::as_text) {
            Some(order::COMPLETED) => true,
            None | Some(order::PENDING) => {
                let ops =
                    vec![Op::Expect(order::key(id), now), Op::Put(order::key(id), order::COMPLETED.into())];
                os.txn(ops).await.is_ok()
            }
            Some(_) => false,
        }
    }
}

fn repairable(f: Finding) -> bool {
    !f.for_a_person()
}

/// What a payment row should say, from the statement and the order's fate,
/// if it can get there along legal edges.
fn payment_target(v: &View, id: u32) -> Option<PaymentState> {
    use PaymentState::*;
    let now = v.payment(id);
    match v.order_state(id) {
        Some(order::COMPLETED) => {
            matches!(now, None | Some(Charging | Authorizing | Authorized)).then_some(Charged)
        }
        Some(order::CANCELLED) => match now {
            Some(Charged | Charging | Refunding) => Some(Refunded),
            Some(Authorized | Authorizing) => Some(Voided),
            _ => None,
        },
        _ => None,
    }
}

/// Before an order's time: nothing — except with the bug that does not wait
/// for the protocol, and takes money for an order not completed as money to
/// give back, now.
fn early_findings(v: &View, o: &Order, ep: &Endpoint) -> Vec<Finding> {
    let paid = !v.keys(o.id, &[Status::Charged, Status::Captured]).is_empty();
    match v.order_state(o.id) {
        Some(order::PENDING) | None if paid && mutant::on(ep, &mutant::RECONCILE_REFUNDS_IN_FLIGHT) => {
            mutant::acts(ep, &mutant::RECONCILE_REFUNDS_IN_FLIGHT);
            vec![Finding::ChargedButCancelled]
        }
        _ => vec![],
    }
}

/// What is wrong with `o` in the books.
fn findings(v: &View, o: &Order, ep: &Endpoint) -> Vec<Finding> {
    let id = o.id;
    let mut out = Vec::new();
    let charged = v.keys(id, &[Status::Charged, Status::Captured]);
    let held = v.keys(id, &[Status::Authorized]);
    let net = v.net(id);
    let lines = 0..o.lines.len() as u32;
    match v.order_state(id) {
        Some(order::COMPLETED) => {
            if net < 0 {
                out.push(Finding::RefundedTwice);
            }
            if !held.is_empty() {
                out.push(Finding::HeldAfterSettle);
            } else if net == 0 {
                out.push(Finding::CompletedUnpaid);
            }
            if charged.len() > 1 {
                out.push(Finding::ChargedTwice);
            }
            if net == o.amount
                && v.payment(id) != Some(PaymentState::Charged)
                && payment_target(v, id).is_some()
            {
                out.push(Finding::PaymentRowWrong);
            }
            if lines.clone().any(|n| v.line_untouched(o, n)) {
                out.push(Finding::StockNotTaken);
            }
            if lines.clone().any(|n| !v.line_kept(o, n) && !v.line_untouched(o, n)) {
                out.push(Finding::StockUnrecoverable);
            }
            if !v.awarded(id) && !v.revoked(id) {
                out.push(Finding::PointsMissing);
            }
            if !v.notified(id) {
                out.push(Finding::NotNotified);
            }
            if v.shipment(id).is_none() {
                out.push(Finding::ShipmentUnrecorded);
            }
        }
        Some(order::CANCELLED) => {
            if !charged.is_empty() {
                out.push(Finding::ChargedButCancelled);
            } else if v.payment(id) == Some(PaymentState::Refunded)
                && mutant::on(ep, &mutant::RECONCILE_TRUSTS_PAYMENT_ROW)
            {
                // The bug reads "refunded" as "charged": its repair refunds again.
                out.push(Finding::ChargedButCancelled);
            }
            if net < 0 {
                out.push(Finding::RefundedTwice);
            }
            if !held.is_empty() {
                out.push(Finding::HeldAfterSettle);
            } else if charged.is_empty() && payment_target(v, id).is_some() {
                out.push(Finding::PaymentRowWrong);
            }
            if lines.clone().any(|n| v.line_kept(o, n)) {
                out.push(Finding::StockNotReturned);
            }
            if v.awarded(id) && !v.revoked(id) {
                out.push(Finding::PointsKept);
            }
            if v.shipment(id) == Some(Fate::Shipped) || v.notified(id) {
                out.push(Finding::CancelledButDelivered);
            }
        }
        // Completing books the sale: only with the money there, or held to capture.
        _ if v.shipment(id) == Some(Fate::Shipped) => match net >= o.due() || !held.is_empty() {
            true => out.push(Finding::StuckShipped),
            false => out.push(Finding::ShippedUnpaid),
        },
        _ => out.push(Finding::Stuck),
    }
    out
}
