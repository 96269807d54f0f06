//! TCC — Try / Confirm / Cancel (Pat Helland, "Life beyond Distributed
//! Transactions", CIDR 2007; the TCC modes of Seata and DTM).
//!
//! A coordinator node logs a global transaction per order, creates the order,
//! then runs the Try of every branch: payment authorizes at the gateway,
//! inventory reserves stock, points promises points. If every Try succeeds it
//! logs "confirming" and Confirms every branch (capture, sell the reservation,
//! grant the points), notifies the customer and completes the order; otherwise
//! it logs "cancelling" and Cancels every branch, tried or not, and cancels the
//! order. Confirm and Cancel are retried until they succeed; a Try that does not
//! answer in time counts as failed. Each branch guards its phases with
//! [barriers](crate::shop::barrier), so repeats, empty rollbacks and late Tries
//! are harmless. After a coordinator crash, recovery finishes every confirming
//! or cancelling transaction and cancels every one still trying.

use crate::builtin::txlog::{LogState, Placed, TxLog};
use crate::check::GroundTruth;
use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Protocol, Resource, Setup, Unsettled};
use crate::retry::{self, until_known};
use crate::shop::inventory::InventoryReq;
use crate::shop::notification::NotifyReq;
use crate::shop::order::OrderReq;
use crate::shop::payment::PaymentReq;
use crate::shop::points::PointsReq;
use crate::shop::{PlaceOrder, Reply, Service, Shop, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, Request, Value, World};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- state ----

/// A global transaction's status, as the coordinator logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Trying,
    Confirming,
    Cancelling,
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
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        })
    }

    fn decode(v: &Value) -> Status {
        match v.as_text() {
            Some("trying") => Status::Trying,
            Some("confirming") => Status::Confirming,
            Some("cancelling") => Status::Cancelling,
            Some("completed") => Status::Completed,
            Some("cancelled") => Status::Cancelled,
            other => panic!("bad TCC status {other:?}"),
        }
    }
}

/// The branches, in the order their Tries run.
#[derive(Clone, Copy, Debug)]
enum Branch {
    Payment,
    Inventory,
    Points,
}

const BRANCHES: [Branch; 3] = [Branch::Payment, Branch::Inventory, Branch::Points];

/// The crash point after phase one, before the decision is logged.
pub const BEFORE_DECISION: &str = "coordinator-before-decision";

/// A Try is given this many attempts before the transaction is cancelled.
const TRY_ATTEMPTS: u32 = 3;

/// The two protocols this coordinator runs. They share the log, the decision
/// and the recovery; they differ in what phase one asks of the participants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Try one branch after the other, a few attempts each; business-level
    /// reservations, no locks.
    Tcc,
    /// Prepare every branch at once, one vote each (no answer is a no); a
    /// prepare takes a row lock that only the decision releases.
    TwoPc,
}

impl Flavor {
    /// The log's row prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Flavor::Tcc => "tcc",
            Flavor::TwoPc => "2pc",
        }
    }
}

// ---- the coordinator ----

#[derive(Clone)]
struct Coordinator {
    ctx: NodeCtx,
    ep: Arc<Endpoint>,
    log: TxLog,
    shop: Shop,
    stats: Arc<Stats>,
    flavor: Flavor,
    /// Transactions with a driver in this incarnation.
    running: Arc<Mutex<BTreeSet<u32>>>,
}

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>) {
    coordinate(ctx, db, shop, stats, Flavor::Tcc).await
}

/// The coordinator node of `flavor`: recovery first, then new transactions.
pub async fn coordinate(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>, flavor: Flavor) {
    let ep = ctx.endpoint().await;
    let log = TxLog::new(ep.clone(), db, stats.clone(), flavor.prefix());
    let c =
        Coordinator { ctx: ctx.clone(), ep: ep.clone(), log, shop, stats, flavor, running: Arc::default() };
    for (order, status) in c.log.recover::<Status>(&ctx).await {
        c.start(order, status, true);
    }
    let co = c.clone();
    ep.serve(move |PlaceOrder(order), _from| co.clone().place(order));
    std::future::pending::<()>().await
}

impl Coordinator {
    async fn place(self, order: Order) -> Reply {
        match self.log.place(&order, Status::Trying).await {
            Placed::New => self.start(order, Status::Trying, false),
            Placed::Running(status) => self.start(order, status, false),
            Placed::Finished => {}
            Placed::Unknown => return Reply::Unknown,
        }
        Reply::Done
    }

    fn start(&self, order: Order, status: Status, recovered: bool) {
        if self.running.lock().unwrap().insert(order.id) {
            tokio::spawn(self.clone().drive(order, status, recovered));
        }
    }

    /// Runs a transaction to its end. `recovered`: found in the log after a
    /// restart, when a transaction still trying is rolled back — which Tries
    /// landed is unknown, and Cancel is safe for every branch.
    async fn drive(self, o: Order, mut status: Status, mut recovered: bool) {
        loop {
            let next = match status {
                Status::Completed | Status::Cancelled => return,
                Status::Trying if recovered => Status::Cancelling,
                Status::Trying => self.try_all(&o).await,
                Status::Confirming => {
                    for b in BRANCHES {
                        until_known(&self.ep, &self.stats, || self.confirm(b, &o)).await;
                    }
                    let notify = NotifyReq::Notify { order: o.id, customer: o.customer };
                    until_known(&self.ep, &self.stats, || self.call(self.shop.notification, notify.clone()))
                        .await;
                    until_known(&self.ep, &self.stats, || {
                        self.call(self.shop.order, OrderReq::Complete(o.id))
                    })
                    .await;
                    Status::Completed
                }
                Status::Cancelling => {
                    self.stats.compensation();
                    for b in BRANCHES {
                        until_known(&self.ep, &self.stats, || self.cancel(b, &o)).await;
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

    /// Creates the order and tries every branch; the answer is where to go next.
    async fn try_all(&self, o: &Order) -> Status {
        until_known(&self.ep, &self.stats, || self.call(self.shop.order, OrderReq::Create(o.clone()))).await;
        if self.flavor == Flavor::TwoPc {
            // Every participant votes at once; a vote that does not arrive is a no.
            let votes = BRANCHES.map(|b| {
                let (c, o) = (self.clone(), o.clone());
                tokio::spawn(async move { c.try_branch(b, &o).await })
            });
            let mut all_yes = true;
            for vote in votes {
                all_yes &= vote.await.expect("a vote task is never cancelled") == Reply::Done;
            }
            return if all_yes { Status::Confirming } else { Status::Cancelling };
        }
        for b in BRANCHES {
            let mut attempts = 0;
            let ok = loop {
                attempts += 1;
                match self.try_branch(b, o).await {
                    Reply::Done => break true,
                    Reply::Failed(_) => break false,
                    Reply::Unknown if attempts < TRY_ATTEMPTS => {
                        self.stats.retry();
                        retry::pause(&self.ep, 50).await;
                    }
                    // Out of patience: cancel, and let the barriers catch the Try
                    // should it still land (a hanging Try).
                    Reply::Unknown => break false,
                }
            };
            if !ok {
                return Status::Cancelling;
            }
        }
        Status::Confirming
    }

    async fn call<R: Request<Response = Reply>>(&self, to: NodeId, req: R) -> Reply {
        self.ep.call(to, req, STEP_TIMEOUT).await.unwrap_or(Reply::Unknown)
    }

    async fn try_branch(&self, b: Branch, o: &Order) -> Reply {
        let s = &self.shop;
        if self.flavor == Flavor::TwoPc {
            return match b {
                Branch::Payment => {
                    let req = PaymentReq::Prepare { order: o.id, customer: o.customer, amount: o.amount };
                    self.call(s.payment, req).await
                }
                Branch::Inventory => {
                    self.call(s.inventory, InventoryReq::Prepare { order: o.id, sku: o.sku, qty: o.qty })
                        .await
                }
                Branch::Points => {
                    let req = PointsReq::Prepare { order: o.id, customer: o.customer, points: o.points };
                    self.call(s.points, req).await
                }
            };
        }
        match b {
            Branch::Payment => {
                let req = PaymentReq::Authorize { order: o.id, customer: o.customer, amount: o.amount };
                self.call(s.payment, req).await
            }
            Branch::Inventory => {
                self.call(s.inventory, InventoryReq::TryReserve { order: o.id, sku: o.sku, qty: o.qty }).await
            }
            Branch::Points => {
                let req = PointsReq::TryPoints { order: o.id, customer: o.customer, points: o.points };
                self.call(s.points, req).await
            }
        }
    }

    async fn confirm(&self, b: Branch, o: &Order) -> Reply {
        let s = &self.shop;
        let (order, customer, sku) = (o.id, o.customer, o.sku);
        if self.flavor == Flavor::TwoPc {
            return match b {
                Branch::Payment => self.call(s.payment, PaymentReq::Commit { order, customer }).await,
                Branch::Inventory => self.call(s.inventory, InventoryReq::Commit { order, sku }).await,
                Branch::Points => self.call(s.points, PointsReq::Commit { order, customer }).await,
            };
        }
        match b {
            Branch::Payment => self.call(s.payment, PaymentReq::Capture { order: o.id }).await,
            Branch::Inventory => {
                self.call(s.inventory, InventoryReq::ConfirmReserve { order: o.id, sku: o.sku }).await
            }
            Branch::Points => {
                self.call(s.points, PointsReq::ConfirmPoints { order: o.id, customer: o.customer }).await
            }
        }
    }

    async fn cancel(&self, b: Branch, o: &Order) -> Reply {
        let s = &self.shop;
        let (order, customer, sku) = (o.id, o.customer, o.sku);
        if self.flavor == Flavor::TwoPc {
            return match b {
                Branch::Payment => self.call(s.payment, PaymentReq::Abort { order, customer }).await,
                Branch::Inventory => self.call(s.inventory, InventoryReq::Abort { order, sku }).await,
                Branch::Points => self.call(s.points, PointsReq::Abort { order, customer }).await,
            };
        }
        match b {
            Branch::Payment => self.call(s.payment, PaymentReq::Void { order: o.id }).await,
            Branch::Inventory => {
                self.call(s.inventory, InventoryReq::CancelReserve { order: o.id, sku: o.sku, qty: o.qty })
                    .await
            }
            Branch::Points => {
                self.call(s.points, PointsReq::CancelPoints { order: o.id, customer: o.customer }).await
            }
        }
    }
}

// ---- the protocol ----

/// What is left unfinished in the log of `flavor`'s coordinator.
pub(super) fn unsettled(truth: &GroundTruth, flavor: Flavor) -> Vec<Unsettled> {
    let prefix = format!("{}/", flavor.prefix());
    let rows = truth.own_rows("coordinator-db", &prefix);
    let stuck = rows.map(|(k, v)| (k, Status::decode(v))).filter(|(_, status)| !status.finished());
    stuck
        .map(|(k, status)| {
            Unsettled::new(k.replace('/', " "), format!("global transaction stuck {status:?}"))
        })
        .collect()
}

/// Stock held by a Try (or a prepare) until its Confirm or Cancel.
pub(super) fn reserved(service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
    let level = value.and_then(Value::as_int).unwrap_or(0);
    (service == Service::Inventory && key.ends_with("/reserved")).then_some((Resource::ReservedStock, level))
}

/// The coordinator's crash points.
pub(super) const CRASH_POINTS: [CrashPoint; 1] = [CrashPoint {
    name: BEFORE_DECISION,
    place: "TCC / 2PC coordinator: every vote is in, the decision is not yet logged",
}];

/// TCC, as the harness sees it.
pub struct Tcc;

impl Protocol for Tcc {
    fn name(&self) -> &'static str {
        "tcc"
    }

    fn describe(&self) -> &'static str {
        "TCC: try every branch, then confirm all or cancel all, guarded by barriers"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        super::with_coordinator(world, setup, serve)
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        unsettled(truth, Flavor::Tcc)
    }

    fn held(&self, service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
        reserved(service, key, value)
    }

    fn crash_points(&self) -> &'static [CrashPoint] {
        &CRASH_POINTS
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[
            mutant::TCC_NO_EMPTY_ROLLBACK,
            mutant::TCC_NO_HANG_GUARD,
            mutant::TCC_CONFIRM_NOT_IDEMPOTENT,
            mutant::TCC_BARRIER_OUTSIDE_TXN,
            mutant::STOCK_CHECK_OFF_BY_ONE,
        ]
    }
}
