//! The two-phase coordinator TCC and 2PC share: a CAS-logged global status
//! per order, phase one (each protocol's own: [`TwoPhase`]), the decision,
//! phase two — confirm or cancel every branch until each answers — and
//! recovery: a transaction found still trying after a restart is cancelled
//! (presumed abort), one confirming or cancelling is finished.
//!
//! Which branches there are, and what runs after the commit, comes from the
//! workflow ([`Plan::of`]): every step that can be held is a branch, in the
//! declared order (the shop: each line's stock, the payment, the points); the
//! others run after the commit (the shop: ship, then notify). After a commit
//! the order ships; the lines it ships without are restocked and refunded one
//! by one. A shipment that fails (the warehouse
//! cannot fulfil it, or the customer cancelled first) is a business fact after
//! the transaction, not a vote in it: the coordinator logs `returning` and
//! takes every committed branch back with its own compensation — refund the
//! capture, restock the sold lines, revoke the granted points — then cancels
//! the order.

use crate::builtin::branches::GiveBack;
use crate::builtin::txlog::{Drivers, LogState, TxLog};
use crate::mutant;
use crate::protocol::{CrashPoint, Unsettled};
use crate::retry::until_known;
use crate::shop::declared::{DeclaredReq, Target};
use crate::shop::notification::NotifyReq;
use crate::shop::order::OrderReq;
use crate::shop::shipping::ShipReq;
use crate::shop::{Binding, PlaceOrder, Reply, Service, Shop, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::truth::GroundTruth;
use crate::workflow::{Per, Workflow};
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, Request, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A global transaction's status, as the coordinator logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Trying,
    Confirming,
    Cancelling,
    /// Committed, but the order could not ship: every branch is being taken back.
    Returning,
    Completed,
    Cancelled,
}

impl LogState for Status {
    fn finished(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }

    fn encode(self) -> Value {
        Value::from(match self {
            Status::Trying => "trying",
            Status::Confirming => "confirming",
            Status::Cancelling => "cancelling",
            Status::Returning => "returning",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        })
    }

    fn decode(v: &Value) -> Status {
        match v.as_text() {
            Some("trying") => Status::Trying,
            Some("confirming") => Status::Confirming,
            Some("cancelling") => Status::Cancelling,
            Some("returning") => Status::Returning,
            Some("completed") => Status::Completed,
            Some("cancelled") => Status::Cancelled,
            other => panic!("bad TCC status {other:?}"),
        }
    }
}

/// A branch of an order's transaction: the payment, one per order line at the
/// inventory, the points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    Payment,
    /// The stock of line `n` of the order.
    Inventory(u32),
    Points,
    /// A declared participant's step, by its index in the workflow.
    Declared(usize),
}

/// What the coordinator runs for a workflow, derived from its steps: the
/// branches phase one holds and the decision commits together — every step
/// whose operation can be held (a take, a reversible give, a charge) — and the
/// steps after the commit (a record, which may refuse and so return the
/// order; an irreversible give), each in the declared order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    held: Vec<Binding>,
    after: Vec<Binding>,
    workflow: Arc<Workflow>,
}

impl Plan {
    /// The plan of `workflow`; the error names a step no one implements.
    pub fn of(workflow: &Workflow) -> Result<Plan, String> {
        let pivot = workflow.pivot().unwrap_or(workflow.steps.len());
        let holdable = |b: &Binding| match b {
            Binding::Shop(s) => matches!(s, Service::Inventory | Service::Payment | Service::Points),
            // Reversible, and once per order or before the pivot: held with
            // the others. A per-line step after the pivot (for the lines
            // shipped) or an irreversible one runs after the commit.
            Binding::Declared(i) => {
                let op = workflow.operation(&workflow.steps[*i].operation).expect("bound");
                op.reversible && (op.per == Per::Order || *i < pivot)
            }
        };
        let (held, after) = crate::shop::bind(workflow)?.into_iter().partition(holdable);
        Ok(Plan { held, after, workflow: Arc::new(workflow.clone()) })
    }

    /// Whether a step after the commit cannot be undone (a notification, a text).
    fn irreversible(&self, b: &Binding) -> bool {
        let w = &self.workflow;
        match b {
            Binding::Shop(Service::Notification) => true,
            Binding::Declared(i) => w.operation(&w.steps[*i].operation).is_some_and(|o| !o.reversible),
            Binding::Shop(_) => false,
        }
    }

    /// An order's branches, in the order phase one tries them.
    pub fn branches(&self, o: &Order) -> Vec<Branch> {
        self.held.iter().flat_map(|s| Plan::branches_of(*s, o)).collect()
    }

    /// What a short line gives back: its stock and its money, in declared order.
    fn short_line(&self, line: u32) -> Vec<Branch> {
        let part = |b: &Binding| match b {
            Binding::Shop(Service::Inventory) => Some(Branch::Inventory(line)),
            Binding::Shop(Service::Payment) => Some(Branch::Payment),
            _ => None,
        };
        self.held.iter().filter_map(part).collect()
    }

    fn branches_of(binding: Binding, o: &Order) -> Vec<Branch> {
        match binding {
            Binding::Shop(Service::Inventory) => (0..o.lines.len() as u32).map(Branch::Inventory).collect(),
            Binding::Shop(Service::Payment) => vec![Branch::Payment],
            Binding::Shop(Service::Points) => vec![Branch::Points],
            Binding::Declared(i) => vec![Branch::Declared(i)],
            other => unreachable!("Plan::of holds no {other:?} step"),
        }
    }
}

/// The crash point after phase one, before the decision is logged.
pub const BEFORE_DECISION: &str = "coordinator-before-decision";

/// The coordinator's crash points.
pub const CRASH_POINTS: [CrashPoint; 1] = [CrashPoint {
    name: BEFORE_DECISION,
    place: "TCC / 2PC coordinator: every vote is in, the decision is not yet logged",
}];

/// A boxed future a [`TwoPhase`] hands the coordinator.
pub type Step<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a two-phase protocol brings to the coordinator.
pub trait TwoPhase: Send + Sync + 'static {
    /// The log's row prefix: rows `{prefix}/{order}` and `{prefix}-order/{order}`.
    fn prefix(&self) -> &'static str;
    /// Phase one, once the order exists: `Confirming` if every branch is
    /// ready to commit, `Cancelling` otherwise.
    fn phase_one(&self, c: Coordinator, o: Order) -> Step<Status>;
    /// Commits branch `b` (Confirm, or 2PC's commit); idempotent.
    fn confirm(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply>;
    /// Rolls branch `b` back, whether or not phase one reached it; idempotent.
    fn cancel(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply>;
    /// Sends `req` — a part of a committed order given back because it did
    /// not ship — to the participant `to`, in the protocol's request type.
    fn give_back(&self, c: Coordinator, to: NodeId, req: GiveBack) -> Step<Reply>;
}

/// A coordinator node's state, cloned into every transaction's driver.
#[derive(Clone)]
pub struct Coordinator {
    plan: Arc<Plan>,
    ctx: NodeCtx,
    pub ep: Arc<Endpoint>,
    log: TxLog,
    pub shop: Shop,
    pub stats: Arc<Stats>,
    phases: &'static dyn TwoPhase,
    drivers: Drivers,
}

/// The coordinator node of `phases`: recovery first, then new transactions.
pub async fn serve(
    ctx: NodeCtx,
    db: Arc<ReplicaSet>,
    shop: Shop,
    stats: Arc<Stats>,
    phases: &'static dyn TwoPhase,
    plan: Arc<Plan>,
) {
    let ep = ctx.endpoint().await;
    let log = TxLog::new(ep.clone(), db, stats.clone(), phases.prefix());
    let c = Coordinator {
        plan,
        ctx: ctx.clone(),
        ep: ep.clone(),
        log,
        shop,
        stats,
        phases,
        drivers: Drivers::default(),
    };
    for (order, status) in c.log.recover::<Status>(&ctx).await {
        c.start(order, status, true);
    }
    let co = c.clone();
    ep.serve(move |PlaceOrder(order), _from| co.clone().place(order));
    std::future::pending::<()>().await
}

impl Coordinator {
    async fn place(self, order: Order) -> Reply {
        self.log.admit(&order, Status::Trying, |status| self.start(order.clone(), status, false)).await
    }

    fn start(&self, order: Order, status: Status, recovered: bool) {
        self.drivers.start(order.id, self.clone().drive(order, status, recovered));
    }

    /// Runs a transaction to its end. `recovered`: found in the log after a
    /// restart, when a transaction still trying is rolled back — which Tries
    /// landed is unknown, and Cancel is safe for every branch.
    async fn drive(self, o: Order, mut status: Status, mut recovered: bool) {
        let phases = self.phases;
        loop {
            let next = match status {
                Status::Completed | Status::Cancelled => return,
                Status::Trying if recovered => Status::Cancelling,
                Status::Trying => {
                    let create = || self.call(self.shop.order, OrderReq::Create(o.clone()));
                    until_known(&self.ep, &self.stats, create).await;
                    if mutant::on(&self.ep, &mutant::TEXT_BEFORE_DECISION) {
                        // The bug: the confirmation goes out with the order, before the decision.
                        for b in self.plan.after.iter().filter(|b| self.plan.irreversible(b)) {
                            mutant::acts(&self.ep, &mutant::TEXT_BEFORE_DECISION);
                            self.run_after(*b, &o).await;
                        }
                    }
                    phases.phase_one(self.clone(), o.clone()).await
                }
                Status::Confirming => {
                    for b in self.plan.branches(&o) {
                        let confirm = || phases.confirm(self.clone(), b, o.clone());
                        until_known(&self.ep, &self.stats, confirm).await;
                    }
                    self.after_commit(&o).await
                }
                Status::Returning => {
                    self.stats.compensation();
                    for b in self.plan.branches(&o) {
                        if b == Branch::Points && mutant::acts(&self.ep, &mutant::RETURN_KEEPS_POINTS) {
                            continue;
                        }
                        self.give_back(b, &o, None).await;
                    }
                    until_known(&self.ep, &self.stats, || self.call(self.shop.order, OrderReq::Cancel(o.id)))
                        .await;
                    Status::Cancelled
                }
                Status::Cancelling => {
                    self.stats.compensation();
                    for b in self.plan.branches(&o) {
                        until_known(&self.ep, &self.stats, || phases.cancel(self.clone(), b, o.clone()))
                            .await;
                    }
                    until_known(&self.ep, &self.stats, || self.call(self.shop.order, OrderReq::Cancel(o.id)))
                        .await;
                    Status::Cancelled
                }
            };
            if status == Status::Trying && !recovered {
                // Every vote is in, the decision is not yet durable: 2PC's window of doubt.
                self.ctx.crash_point(BEFORE_DECISION, Duration::from_secs(2)).await;
            }
            recovered = false;
            status = self.log.persist(&o, status, next).await;
        }
    }

    /// The steps after the commit, in order: `Returning` if the shipment is
    /// refused, else `Completed` once the order is.
    async fn after_commit(&self, o: &Order) -> Status {
        let early = mutant::on(&self.ep, &mutant::TEXT_BEFORE_DECISION);
        for binding in self.plan.after.iter().filter(|b| !(early && self.plan.irreversible(b))) {
            match binding {
                Binding::Shop(Service::Shipping) => {
                    let ship = || self.call(self.shop.shipping, ShipReq::Ship(o.clone()));
                    if until_known(&self.ep, &self.stats, ship).await != Reply::Done {
                        return Status::Returning;
                    }
                    // Shipped without some lines: those are restocked and refunded.
                    for (line, _) in o.short_lines() {
                        for b in self.plan.short_line(line) {
                            self.give_back(b, o, Some(line)).await;
                        }
                    }
                }
                other => self.run_after(*other, o).await,
            }
        }
        until_known(&self.ep, &self.stats, || self.call(self.shop.order, OrderReq::Complete(o.id))).await;
        Status::Completed
    }

    /// Runs a step after the commit that cannot be refused, until it is done.
    async fn run_after(&self, b: Binding, o: &Order) {
        match b {
            Binding::Declared(i) => {
                until_known(&self.ep, &self.stats, || self.declared(i, o, DeclaredReq::Apply)).await;
            }
            Binding::Shop(Service::Notification) => {
                let notify = NotifyReq::Notify { order: o.id, customer: o.customer };
                until_known(&self.ep, &self.stats, || self.call(self.shop.notification, notify.clone()))
                    .await;
            }
            other => unreachable!("Plan::of runs no {other:?} step after the commit"),
        }
    }

    /// An order's branches, in the order phase one tries them.
    pub fn branches(&self, o: &Order) -> Vec<Branch> {
        self.plan.branches(o)
    }

    /// Asks declared step `i`'s participant `req` for each of `o`'s targets.
    pub async fn declared(&self, i: usize, o: &Order, req: impl Fn(Target) -> DeclaredReq) -> Reply {
        self.shop.declared_step(&self.ep, (&self.plan.workflow, i), o, req).await
    }

    /// Gives back branch `b` of `o` (or `line`'s money), until it is done.
    async fn give_back(&self, b: Branch, o: &Order, line: Option<u32>) {
        if let Branch::Declared(i) = b {
            // The transaction is over: the declared participant's own undo.
            until_known(&self.ep, &self.stats, || self.declared(i, o, DeclaredReq::Undo)).await;
            return;
        }
        let (to, req) = GiveBack::of(&self.shop, b, o, line);
        until_known(&self.ep, &self.stats, || self.phases.give_back(self.clone(), to, req.clone())).await;
    }

    /// One request to a participant; no answer in time is `Unknown`.
    pub async fn call<R: Request<Response = Reply>>(&self, to: NodeId, req: R) -> Reply {
        self.ep.call(to, req, STEP_TIMEOUT).await.unwrap_or(Reply::Unknown)
    }
}

/// What is left unfinished in the log under `prefix`.
pub fn unsettled(truth: &GroundTruth, prefix: &str) -> Vec<Unsettled> {
    let rows = truth.own_rows("coordinator-db", prefix);
    let stuck = rows.map(|(k, v)| (k, Status::decode(v))).filter(|(_, status)| !status.finished());
    let unsettled = |(k, status): (&str, Status)| {
        Unsettled::new(k.replace('/', " "), format!("global transaction stuck {status:?}"))
    };
    stuck.map(unsettled).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::builtin;
    use crate::workload::WorkloadSpec;

    #[test]
    fn the_shops_branches_are_its_holdable_steps_in_order() {
        let plan = Plan::of(&builtin::shop()).unwrap();
        use Service::*;
        let shop = |s: &[Service]| s.iter().map(|s| Binding::Shop(*s)).collect::<Vec<_>>();
        assert_eq!(plan.held, shop(&[Inventory, Payment, Points]));
        assert_eq!(plan.after, shop(&[Shipping, Notification]));
        let spec = WorkloadSpec { orders: 50, lines: (2, 2), ..WorkloadSpec::default() };
        let o = spec.generate(1).orders.into_iter().find(|o| o.lines.len() == 2).unwrap();
        let b = plan.branches(&o);
        assert_eq!(b, [Branch::Inventory(0), Branch::Inventory(1), Branch::Payment, Branch::Points]);
        assert_eq!(plan.short_line(1), [Branch::Inventory(1), Branch::Payment]);
    }
}
