//! Orchestrated Saga (Garcia-Molina & Salem, "Sagas", SIGMOD 1987; the
//! orchestration style of Seata's Saga mode and Temporal workflows).
//!
//! An orchestrator node runs each order as a sequence of local transactions —
//! create order → deduct stock → charge → ship → award points → notify →
//! complete — and on a definitive failure runs the compensations of every step
//! up to and including the failed one, in reverse (refund, restock, cancel
//! order). Shipping fails after payment — the warehouse cannot fulfil the
//! order, or the customer cancelled first — so a paid order is refunded; an
//! order shipped without some lines has those refunded and restocked.
//!
//! Before each step the orchestrator persists the step it is about to run in its
//! saga log (its own store), so that after a crash recovery resumes every
//! unfinished saga exactly there. Every step and compensation is idempotent
//! and is retried until it answers definitively: a timeout means "maybe done",
//! never "failed".

use crate::builtin::txlog::{Drivers, LogState, TxLog};
use crate::mutant::{self, Mutant};
use crate::protocol::{Deployed, Protocol, Resource, Setup, Unsettled};
use crate::retry::until_known;
use crate::shop::inventory::InventoryReq;
use crate::shop::notification::NotifyReq;
use crate::shop::order::OrderReq;
use crate::shop::payment::PaymentReq;
use crate::shop::points::PointsReq;
use crate::shop::shipping::ShipReq;
use crate::shop::{PlaceOrder, Reply, Service, Shop, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, Request, Value, World};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

// ---- state ----

/// The forward steps, in order. The index is the step number in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    CreateOrder,
    DeductStock,
    Charge,
    Ship,
    /// The lines the order shipped without: refunded and restocked.
    SettleShort,
    AwardPoints,
    Notify,
    CompleteOrder,
}

const STEPS: [Step; 8] = [
    Step::CreateOrder,
    Step::DeductStock,
    Step::Charge,
    Step::Ship,
    Step::SettleShort,
    Step::AwardPoints,
    Step::Notify,
    Step::CompleteOrder,
];

/// Where a saga is: the step it will run next, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// About to run forward step `n`.
    Forward(usize),
    /// About to compensate step `n` (then `n - 1`, down to 0).
    Compensate(usize),
    Completed,
    Cancelled,
}

impl LogState for Phase {
    fn finished(self) -> bool {
        matches!(self, Phase::Completed | Phase::Cancelled)
    }

    /// The log's compact text form: `F3`, `C1`, `completed`, `cancelled`. Written
    /// at every step, so it is kept small; the order itself is logged once.
    fn encode(self) -> Value {
        Value::Text(match self {
            Phase::Forward(n) => format!("F{n}"),
            Phase::Compensate(n) => format!("C{n}"),
            Phase::Completed => "completed".into(),
            Phase::Cancelled => "cancelled".into(),
        })
    }

    fn decode(v: &Value) -> Phase {
        let s = v.as_text().expect("a saga phase is text");
        let step = || s[1..].parse().unwrap_or_else(|_| panic!("bad saga phase {s:?}"));
        match s {
            "completed" => Phase::Completed,
            "cancelled" => Phase::Cancelled,
            _ if s.starts_with('F') => Phase::Forward(step()),
            _ if s.starts_with('C') => Phase::Compensate(step()),
            _ => panic!("bad saga phase {s:?}"),
        }
    }
}

// ---- the orchestrator ----

#[derive(Clone)]
struct Orchestrator {
    ep: Arc<Endpoint>,
    log: TxLog,
    shop: Shop,
    stats: Arc<Stats>,
    drivers: Drivers,
}

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>) {
    let ep = ctx.endpoint().await;
    let log = TxLog::new(ep.clone(), db, stats.clone(), "saga");
    let orch = Orchestrator { ep: ep.clone(), log, shop, stats, drivers: Drivers::default() };
    // Recovery: resume every unfinished saga before taking new orders, so that
    // no saga ever has two drivers.
    for (order, phase) in orch.log.recover::<Phase>(&ctx).await {
        orch.start(order, phase);
    }
    let o = orch.clone();
    ep.serve(move |PlaceOrder(order), _from| o.clone().place(order));
    std::future::pending::<()>().await
}

impl Orchestrator {
    async fn place(self, order: Order) -> Reply {
        self.log.admit(&order, Phase::Forward(0), |phase| self.start(order.clone(), phase)).await
    }

    /// Starts a driver for the saga unless one already runs in this incarnation.
    fn start(&self, order: Order, phase: Phase) {
        self.drivers.start(order.id, self.clone().drive(order, phase));
    }

    /// Runs a saga from its logged phase to its end.
    async fn drive(self, o: Order, mut phase: Phase) {
        loop {
            let next = match phase {
                Phase::Completed | Phase::Cancelled => return,
                Phase::Forward(n)
                    if STEPS[n] == Step::Charge
                        && mutant::acts(&self.ep, &mutant::SAGA_TIMEOUT_IS_FAILURE) =>
                {
                    // One try; no answer in time counts as declined, and a declined
                    // charge has nothing to refund — so compensation starts below it.
                    match self.forward(Step::Charge, &o).await {
                        Reply::Done => Phase::Forward(n + 1),
                        _ => Phase::Compensate(n - 1),
                    }
                }
                Phase::Forward(n) => {
                    match until_known(&self.ep, &self.stats, || self.forward(STEPS[n], &o)).await {
                        Reply::Done if n + 1 == STEPS.len() => Phase::Completed,
                        Reply::Done => Phase::Forward(n + 1),
                        _ => Phase::Compensate(n),
                    }
                }
                Phase::Compensate(n) => {
                    self.stats.compensation();
                    until_known(&self.ep, &self.stats, || self.compensate(STEPS[n], &o)).await;
                    if n == 0 {
                        Phase::Cancelled
                    } else {
                        Phase::Compensate(n - 1)
                    }
                }
            };
            phase = self.log.persist(&o, phase, next).await;
        }
    }

    async fn call<R: Request<Response = Reply>>(&self, to: NodeId, req: R) -> Reply {
        self.ep.call(to, req, STEP_TIMEOUT).await.unwrap_or(Reply::Unknown)
    }

    async fn forward(&self, step: Step, o: &Order) -> Reply {
        let s = &self.shop;
        match step {
            Step::CreateOrder => self.call(s.order, OrderReq::Create(o.clone())).await,
            // One request per line, in order: a line out of stock fails the
            // step, and its compensation puts back every line (a line never
            // deducted is recorded as compensated, so a late deduction is refused).
            Step::DeductStock => {
                for (line, l) in (0u32..).zip(&o.lines) {
                    let req = InventoryReq::Deduct { order: o.id, line, sku: l.sku, qty: l.qty };
                    match self.call(s.inventory, req).await {
                        Reply::Done => {}
                        other => return other,
                    }
                }
                Reply::Done
            }
            Step::Charge => {
                let req = PaymentReq::Charge { order: o.id, customer: o.customer, amount: o.amount };
                self.call(s.payment, req).await
            }
            Step::Ship => self.call(s.shipping, ShipReq::Ship(o.clone())).await,
            Step::SettleShort => {
                for (line, l) in o.short_lines() {
                    let refund = PaymentReq::RefundLine { order: o.id, line, amount: l.amount };
                    let restock = InventoryReq::Restock { order: o.id, line, sku: l.sku };
                    for reply in [self.call(s.payment, refund).await, self.call(s.inventory, restock).await] {
                        if reply != Reply::Done {
                            return reply;
                        }
                    }
                }
                Reply::Done
            }
            Step::AwardPoints => {
                let req = PointsReq::Award { order: o.id, customer: o.customer, points: o.points };
                self.call(s.points, req).await
            }
            Step::Notify => {
                self.call(s.notification, NotifyReq::Notify { order: o.id, customer: o.customer }).await
            }
            Step::CompleteOrder => self.call(s.order, OrderReq::Complete(o.id)).await,
        }
    }

    /// Undoes a step that may have been applied. A failed shipment shipped
    /// nothing, and the steps after it (points, notify, complete) cannot fail,
    /// so they are never compensated: a saga only compensates from a step
    /// that failed, and everything after it never ran.
    async fn compensate(&self, step: Step, o: &Order) -> Reply {
        let s = &self.shop;
        match step {
            Step::CreateOrder => self.call(s.order, OrderReq::Cancel(o.id)).await,
            Step::DeductStock => {
                for (line, l) in (0u32..).zip(&o.lines) {
                    let req = InventoryReq::Restock { order: o.id, line, sku: l.sku };
                    match self.call(s.inventory, req).await {
                        Reply::Done => {}
                        other => return other,
                    }
                }
                Reply::Done
            }
            Step::Charge => self.call(s.payment, PaymentReq::Refund { order: o.id }).await,
            Step::Ship | Step::SettleShort | Step::AwardPoints | Step::Notify | Step::CompleteOrder => {
                Reply::Done
            }
        }
    }
}

// ---- the protocol ----

/// The orchestrated Saga, as the harness sees it.
pub struct Saga;

impl Protocol for Saga {
    fn name(&self) -> &'static str {
        "saga"
    }

    fn describe(&self) -> &'static str {
        "orchestrated Saga: logged steps, compensations in reverse on failure"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        let shop = Shop::deploy(world, setup);
        super::with_coordinator(world, setup, shop, serve)
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        let rows = truth.own_rows("coordinator-db", "saga/");
        let stuck = rows.map(|(k, v)| (k, Phase::decode(v))).filter(|(_, phase)| !phase.finished());
        stuck
            .map(|(k, phase)| Unsettled::new(k.replace("saga/", "saga "), format!("saga stuck at {phase:?}")))
            .collect()
    }

    fn held(&self, _: Service, _: &str, _: Option<&Value>) -> Option<(Resource, i64)> {
        None // every step takes its effect at once: nothing is held between steps
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[
            mutant::SAGA_TIMEOUT_IS_FAILURE,
            mutant::SAGA_COMPENSATION_NOT_IDEMPOTENT,
            mutant::SAGA_LOG_UNSYNCED,
            mutant::PAYMENT_NO_IDEMPOTENCY_KEY,
            mutant::CALLBACK_NOT_DEDUPED,
            mutant::STOCK_CHECK_OFF_BY_ONE,
            mutant::SHIP_IGNORES_CANCEL,
            mutant::CANCEL_REFUNDS_EACH_REQUEST,
            mutant::PARTIAL_REFUND_ROUNDING,
        ]
    }
}
