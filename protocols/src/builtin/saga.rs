//! Orchestrated Saga (Garcia-Molina & Salem, "Sagas", SIGMOD 1987; the
//! orchestration style of Seata's Saga mode and Temporal workflows).
//!
//! An orchestrator node runs each order as a sequence of local transactions —
//! create the order, then the workflow's steps in their declared order, then
//! complete it (the shop: deduct stock → charge → ship → award points → notify)
//! — and on a definitive failure runs the compensations of every step up to
//! and including the failed one, in reverse (the shop: refund, restock,
//! cancel the order). The plan comes from the workflow ([`Plan::of`]): each
//! step's action and its compensation are its operation's, and the steps after
//! the pivot only go forward. The shop's pivot fails after payment — the
//! warehouse cannot fulfil the order, or the customer cancelled first — so a
//! paid order is refunded; an order shipped without some lines has those
//! lines undone in every step before (refunded and restocked).
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
use crate::shop::declared::DeclaredReq;
use crate::shop::inventory::InventoryReq;
use crate::shop::notification::NotifyReq;
use crate::shop::order::OrderReq;
use crate::shop::payment::PaymentReq;
use crate::shop::points::PointsReq;
use crate::shop::shipping::ShipReq;
use crate::shop::{Binding, PlaceOrder, Reply, Service, Shop, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::truth::GroundTruth;
use crate::workflow::Workflow;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, Request, Value, World};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

// ---- state ----

/// One step of the plan. Its index is the step number in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    CreateOrder,
    /// A workflow step, run by whoever implements its operation (see
    /// [`crate::shop::bind`]): its action forward, its inverse to compensate
    /// (none for a record or an irreversible operation).
    Run(Binding),
    /// After the shipment refused some lines: undo those lines in every
    /// step before it that runs per line or charges, latest first.
    SettleShort,
    CompleteOrder,
}

/// The saga's steps for a workflow: create, the workflow's steps (with the
/// short lines settled right after the shipment, which refuses per line),
/// complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan(Vec<Step>);

impl Plan {
    /// Derives the plan from `workflow`'s steps; the error names a step no
    /// shop service implements.
    pub fn of(workflow: &Workflow) -> Result<Plan, String> {
        let mut steps = vec![Step::CreateOrder];
        for binding in crate::shop::bind(workflow).map_err(|e| format!("saga: {e}"))? {
            steps.push(Step::Run(binding));
            if binding == Binding::Shop(Service::Shipping) {
                steps.push(Step::SettleShort);
            }
        }
        steps.push(Step::CompleteOrder);
        Ok(Plan(steps))
    }

    /// The plan [`mutant::TEXT_BEFORE_DECISION`] runs: every irreversible
    /// step after the pivot moved to right after the workflow's first step;
    /// with the plan indices it moved them to.
    fn texts_early(&self, w: &Workflow) -> (Plan, Vec<usize>) {
        let irreversible = |s: &Step| match s {
            Step::Run(Binding::Shop(Service::Notification)) => true,
            Step::Run(Binding::Declared(i)) => {
                w.operation(&w.steps[*i].operation).is_some_and(|o| !o.reversible)
            }
            _ => false,
        };
        let (early, rest): (Vec<Step>, Vec<Step>) = self.0.iter().partition(|s| irreversible(s));
        let mut steps = rest;
        let at = 2.min(steps.len());
        let moved = (at..at + early.len()).collect();
        steps.splice(at..at, early);
        (Plan(steps), moved)
    }

    /// The steps before step `n` a short line is undone in, latest first.
    fn before(&self, n: usize) -> impl Iterator<Item = Service> + '_ {
        self.0[..n].iter().rev().filter_map(|s| match s {
            Step::Run(Binding::Shop(a @ (Service::Inventory | Service::Payment))) => Some(*a),
            _ => None,
        })
    }
}

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
            Phase::Forward(n) => ["F", itoa::Buffer::new().format(n)].concat(),
            Phase::Compensate(n) => ["C", itoa::Buffer::new().format(n)].concat(),
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
    plan: Arc<Plan>,
    /// The plan indices [`mutant::TEXT_BEFORE_DECISION`] moved early (none without it).
    early: Arc<Vec<usize>>,
    workflow: Arc<Workflow>,
    ep: Arc<Endpoint>,
    log: TxLog,
    shop: Shop,
    stats: Arc<Stats>,
    drivers: Drivers,
}

pub async fn serve(
    ctx: NodeCtx,
    db: Arc<ReplicaSet>,
    shop: Shop,
    stats: Arc<Stats>,
    (plan, early, workflow): (Arc<Plan>, Arc<Vec<usize>>, Arc<Workflow>),
) {
    let ep = ctx.endpoint().await;
    let log = TxLog::new(ep.clone(), db, stats.clone(), "saga");
    let drivers = Drivers::default();
    let orch = Orchestrator { plan, early, workflow, ep: ep.clone(), log, shop, stats, drivers };
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
        let steps = &self.plan.0;
        loop {
            let next = match phase {
                Phase::Completed | Phase::Cancelled => return,
                Phase::Forward(n)
                    if steps[n] == Step::Run(Binding::Shop(Service::Payment))
                        && mutant::acts(&self.ep, &mutant::SAGA_TIMEOUT_IS_FAILURE) =>
                {
                    // One try; no answer in time counts as declined, and a declined
                    // charge has nothing to refund — so compensation starts below it.
                    match self.forward(n, &o).await {
                        Reply::Done => Phase::Forward(n + 1),
                        _ => Phase::Compensate(n - 1),
                    }
                }
                Phase::Forward(n) => match until_known(&self.ep, &self.stats, || self.forward(n, &o)).await {
                    Reply::Done if n + 1 == steps.len() => Phase::Completed,
                    Reply::Done => Phase::Forward(n + 1),
                    _ => Phase::Compensate(n),
                },
                Phase::Compensate(n) => {
                    self.stats.compensation();
                    until_known(&self.ep, &self.stats, || self.compensate(steps[n], &o)).await;
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

    /// Runs step `n` of the plan.
    async fn forward(&self, n: usize, o: &Order) -> Reply {
        let s = &self.shop;
        if self.early.contains(&n) {
            mutant::acts(&self.ep, &mutant::TEXT_BEFORE_DECISION); // the text goes out now
        }
        match self.plan.0[n] {
            Step::CreateOrder => self.call(s.order, OrderReq::Create(o.clone())).await,
            // One request per line, in order: a line out of stock fails the
            // step, and its compensation puts back every line (a line never
            // deducted is recorded as compensated, so a late deduction is refused).
            Step::Run(Binding::Shop(Service::Inventory)) => {
                for (line, l) in (0u32..).zip(&o.lines) {
                    let req = InventoryReq::Deduct { order: o.id, line, sku: l.sku, qty: l.qty };
                    match self.call(s.inventory, req).await {
                        Reply::Done => {}
                        other => return other,
                    }
                }
                Reply::Done
            }
            Step::Run(Binding::Shop(Service::Payment)) => {
                let req = PaymentReq::Charge { order: o.id, customer: o.customer, amount: o.amount };
                self.call(s.payment, req).await
            }
            Step::Run(Binding::Shop(Service::Shipping)) => {
                self.call(s.shipping, ShipReq::Ship(o.clone())).await
            }
            Step::SettleShort => {
                for (line, l) in o.short_lines() {
                    // Every undo of the line is asked for, then the first
                    // that did not answer Done decides: all are idempotent.
                    let mut replies = Vec::new();
                    for undo in self.plan.before(n) {
                        replies.push(match undo {
                            Service::Payment => {
                                let refund = PaymentReq::RefundLine { order: o.id, line, amount: l.amount };
                                self.call(s.payment, refund).await
                            }
                            _ => {
                                let restock = InventoryReq::Restock { order: o.id, line, sku: l.sku };
                                self.call(s.inventory, restock).await
                            }
                        });
                    }
                    if let Some(reply) = replies.into_iter().find(|r| *r != Reply::Done) {
                        return reply;
                    }
                }
                Reply::Done
            }
            Step::Run(Binding::Shop(Service::Points)) => {
                let req = PointsReq::Award { order: o.id, customer: o.customer, points: o.points };
                self.call(s.points, req).await
            }
            Step::Run(Binding::Shop(Service::Notification)) => {
                self.call(s.notification, NotifyReq::Notify { order: o.id, customer: o.customer }).await
            }
            Step::CompleteOrder => self.call(s.order, OrderReq::Complete(o.id)).await,
            Step::Run(Binding::Shop(Service::Order)) => {
                unreachable!("shop::bind binds no step to the order service")
            }
            // One refused target fails the step, and its compensation undoes
            // every target (one never applied is recorded as undone, so a late
            // application is refused).
            Step::Run(Binding::Declared(i)) => {
                s.declared_step(&self.ep, (&self.workflow, i), o, DeclaredReq::Apply).await
            }
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
            Step::Run(Binding::Shop(Service::Inventory)) => {
                for (line, l) in (0u32..).zip(&o.lines) {
                    let req = InventoryReq::Restock { order: o.id, line, sku: l.sku };
                    match self.call(s.inventory, req).await {
                        Reply::Done => {}
                        other => return other,
                    }
                }
                Reply::Done
            }
            // The bug: nothing to refund, it assumes — the charge came first.
            Step::Run(Binding::Shop(Service::Payment))
                if mutant::acts(&self.ep, &mutant::REFUND_SKIPPED_AFTER_CAPTURE) =>
            {
                Reply::Done
            }
            Step::Run(Binding::Shop(Service::Payment)) => {
                self.call(s.payment, PaymentReq::Refund { order: o.id }).await
            }
            // A text sent stays sent: there is nothing to compensate.
            Step::Run(Binding::Declared(i))
                if self
                    .workflow
                    .operation(&self.workflow.steps[i].operation)
                    .is_some_and(|o| !o.reversible) =>
            {
                Reply::Done
            }
            Step::Run(Binding::Declared(i)) => {
                s.declared_step(&self.ep, (&self.workflow, i), o, DeclaredReq::Undo).await
            }
            Step::Run(Binding::Shop(
                Service::Shipping | Service::Points | Service::Notification | Service::Order,
            ))
            | Step::SettleShort
            | Step::CompleteOrder => Reply::Done,
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
        // Only built-in workflows reach here, and each binds (a test holds them to it).
        let plan = Plan::of(setup.workflow).unwrap_or_else(|e| panic!("{e}"));
        let (plan, early) = match world.sim().mutant() == Some(mutant::TEXT_BEFORE_DECISION.name) {
            true => plan.texts_early(setup.workflow),
            false => (plan, Vec::new()),
        };
        let (plan, early) = (Arc::new(plan), Arc::new(early));
        let (shop, workflow) = (Shop::deploy(world, setup), setup.workflow.clone());
        super::with_coordinator(world, setup, shop, move |ctx, db, shop, stats| {
            serve(ctx, db, shop, stats, (plan.clone(), early.clone(), workflow.clone()))
        })
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
            mutant::DECLARED_TAKE_UNCHECKED,
            mutant::CACHE_REBUILT_FROM_STORE_ALONE,
            mutant::CACHE_SYNC_NOT_IDEMPOTENT,
            mutant::CACHE_SALE_WRITTEN_BEHIND,
            mutant::DECLARED_UNDO_NOT_IDEMPOTENT,
            mutant::REFUND_SKIPPED_AFTER_CAPTURE,
            mutant::TEXT_BEFORE_DECISION,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{builtin, file};

    #[test]
    fn the_shops_plan_is_the_shop_in_order() {
        let plan = Plan::of(&builtin::shop()).unwrap();
        use Service::*;
        let want = [
            Step::CreateOrder,
            Step::Run(Binding::Shop(Inventory)),
            Step::Run(Binding::Shop(Payment)),
            Step::Run(Binding::Shop(Shipping)),
            Step::SettleShort,
            Step::Run(Binding::Shop(Points)),
            Step::Run(Binding::Shop(Notification)),
            Step::CompleteOrder,
        ];
        assert_eq!(plan, Plan(want.to_vec()));
        // A short line is refunded, then restocked: the steps before, latest first.
        assert_eq!(plan.before(4).collect::<Vec<_>>(), [Payment, Inventory]);
    }

    #[test]
    fn the_plan_follows_the_declared_order() {
        // Charge first, then stock: the steps swap in the file, and in the plan.
        let (stock, payment) =
            ("name = \"stock\"\noperation = \"deduct-stock\"", "name = \"payment\"\noperation = \"charge\"");
        let text = include_str!("../../workflows/shop.toml")
            .replacen(stock, "SWAP", 1)
            .replacen(payment, stock, 1)
            .replacen("SWAP", payment, 1);
        let w = file::parse("payment-first.toml", &text).unwrap();
        assert_eq!(w.steps[0].name, "payment");
        let plan = Plan::of(&w).unwrap();
        assert_eq!(
            plan.0[1..3],
            [Step::Run(Binding::Shop(Service::Payment)), Step::Run(Binding::Shop(Service::Inventory))]
        );
        assert_eq!(plan.before(4).collect::<Vec<_>>(), [Service::Inventory, Service::Payment]);
    }

    #[test]
    fn the_text_before_decision_bug_moves_irreversible_steps_after_the_first() {
        let w = builtin::named("payment-first").unwrap();
        let plan = Plan::of(&w).unwrap();
        use Service::*;
        let sms = Step::Run(Binding::Declared(3));
        let want =
            [Step::CreateOrder, Step::Run(Binding::Shop(Payment)), Step::Run(Binding::Shop(Inventory))];
        assert_eq!(plan.0[..3], want);
        assert_eq!(plan.0[4..], [sms, Step::CompleteOrder]);
        // With the bug the text goes out right after the payment, before the stock.
        let (early, moved) = plan.texts_early(&w);
        assert_eq!(early.0[..4], [Step::CreateOrder, Step::Run(Binding::Shop(Payment)), sms, want[2]]);
        assert_eq!(moved, [2]);
    }

    #[test]
    fn an_operation_no_shop_service_implements_is_named() {
        let text = include_str!("../../workflows/shop.toml").replacen(
            "give = { quantity = \"points\", amount = \"order.points\" }",
            "give = { quantity = \"points\", amount = \"order.points\" }\nreversible = false",
            1,
        );
        let w = file::parse("w.toml", &text).unwrap();
        let e = Plan::of(&w).unwrap_err();
        assert_eq!(e, "saga: step points: no shop service implements award-points (give at points)");
    }
}
