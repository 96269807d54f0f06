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

use super::branches::{self, GiveBack};
use super::coordinator::{self, Branch, Coordinator, Status, Step, TwoPhase};
use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Protocol, Resource, Setup, Unsettled};
use crate::retry;
use crate::shop::barrier;
use crate::shop::declared::DeclaredReq;
use crate::shop::{inventory, labels, request_api, run_service, Body, Reply, Service, ServiceBody, Shop};
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, Op, ReplicaSet, StoreClient, TxnError, Value, World};
use serde::Serialize;
use std::sync::Arc;

/// A Try is given this many attempts before the transaction is cancelled.
const TRY_ATTEMPTS: u32 = 3;

// ---- the participants' API ----

/// What the coordinator asks a branch's service.
#[derive(Clone, Debug, Serialize)]
pub enum TccReq {
    StockTry {
        order: u32,
        line: u32,
        sku: u32,
        qty: i64,
    },
    StockConfirm {
        order: u32,
        line: u32,
        sku: u32,
    },
    /// `qty` is the Try's, as TCC frameworks pass a branch's business
    /// parameters to all three phases; a correct Cancel reads its Try row instead.
    StockCancel {
        order: u32,
        line: u32,
        sku: u32,
        qty: i64,
    },
    PayTry {
        order: u32,
        customer: u32,
        amount: i64,
    },
    PayConfirm {
        order: u32,
    },
    PayCancel {
        order: u32,
    },
    PointsTry {
        order: u32,
        customer: u32,
        points: i64,
    },
    PointsConfirm {
        order: u32,
        customer: u32,
    },
    PointsCancel {
        order: u32,
        customer: u32,
    },
    /// After the commit, for an order that did not ship or shipped short.
    GiveBack(GiveBack),
}

labels!(TccReq {
    TccReq::StockTry { .. } => "stock-try",
    TccReq::StockConfirm { .. } => "stock-confirm",
    TccReq::StockCancel { .. } => "stock-cancel",
    TccReq::PayTry { .. } => "pay-try",
    TccReq::PayConfirm { .. } => "pay-confirm",
    TccReq::PayCancel { .. } => "pay-cancel",
    TccReq::PointsTry { .. } => "points-try",
    TccReq::PointsConfirm { .. } => "points-confirm",
    TccReq::PointsCancel { .. } => "points-cancel",
    TccReq::GiveBack(_) => "give-back",
});

/// The service nodes under TCC: the branches serve [`TccReq`], the order and
/// notification services their own API.
pub fn participants(ctx: NodeCtx, service: Service, db: Arc<ReplicaSet>, gateway: NodeId) -> Body {
    match service {
        Service::Inventory | Service::Payment | Service::Points => {
            Box::pin(run_service(ctx, db, move |store, ep, req| handle(store, ep, gateway, req)))
        }
        Service::Order | Service::Notification | Service::Shipping => request_api(ctx, service, db, gateway),
    }
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, gw: NodeId, req: TccReq) -> Reply {
    match req {
        TccReq::StockTry { order, line, sku, qty } => {
            branches::reserve(&store, (order, line), sku, qty, None).await
        }
        TccReq::StockConfirm { order, line, sku } => branches::sell(&store, (order, line), sku, None).await,
        TccReq::StockCancel { order, line, sku, qty } => {
            if mutant::acts(&ep, &mutant::TCC_NO_EMPTY_ROLLBACK) {
                if let Some(reply) = empty_rollback_bug(&store, (order, line), sku, qty).await {
                    return reply;
                }
            }
            branches::release(&store, (order, line), sku, None).await
        }
        TccReq::PayTry { order, customer, amount } => {
            branches::authorize(&store, &ep, gw, order, customer, amount, None).await
        }
        TccReq::PayConfirm { order } => branches::capture(&store, &ep, gw, order, None).await,
        TccReq::PayCancel { order } => branches::void(&store, &ep, gw, order, None).await,
        TccReq::PointsTry { order, customer, points } => {
            branches::promise(&store, order, customer, points, None).await
        }
        TccReq::PointsConfirm { order, customer } => branches::grant(&store, order, customer, None).await,
        TccReq::PointsCancel { order, customer } => branches::withdraw(&store, order, customer, None).await,
        TccReq::GiveBack(g) => branches::give_back(&store, &ep, gw, g).await,
    }
}

/// The bug: a Cancel whose Try never arrived "releases" the quantity it was
/// given, into stock that never left. `None`: the Try did run; cancel normally.
async fn empty_rollback_bug(
    store: &StoreClient,
    (order, line): (u32, u32),
    sku: u32,
    qty: i64,
) -> Option<Reply> {
    let branch = branches::inventory(store.endpoint(), line);
    let tried = store.txn(vec![Op::Get(barrier::key(order, &branch, barrier::Phase::Try))]).await;
    match tried {
        Ok(r) if r[0].value().is_none() => {
            let ops = vec![
                Op::InsertIfAbsent(barrier::key(order, &branch, barrier::Phase::Cancel), 1.into()),
                Op::Incr { key: inventory::available(sku), by: qty, floor: 0 },
            ];
            Some(match store.txn(ops).await {
                Ok(_) | Err(TxnError::Condition { .. }) => Reply::Done,
                Err(TxnError::Unknown) => Reply::Unknown,
            })
        }
        Ok(_) => None,
        Err(_) => Some(Reply::Unknown),
    }
}

// ---- the coordinator's phases ----

impl TwoPhase for Tcc {
    fn prefix(&self) -> &'static str {
        "tcc"
    }

    /// One branch after the other, a few attempts each: a Try that does not
    /// answer in time counts as failed.
    fn phase_one(&self, c: Coordinator, o: Order) -> Step<Status> {
        Box::pin(async move {
            for b in c.branches(&o) {
                let mut attempts = 0;
                let ok = loop {
                    attempts += 1;
                    match try_branch(&c, b, &o).await {
                        Reply::Done => break true,
                        Reply::Failed(_) => break false,
                        Reply::Unknown if attempts < TRY_ATTEMPTS => {
                            c.stats.retry();
                            retry::pause(&c.ep, 50).await;
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
        })
    }

    fn confirm(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply> {
        Box::pin(async move {
            let s = &c.shop;
            match b {
                Branch::Payment => c.call(s.payment, TccReq::PayConfirm { order: o.id }).await,
                Branch::Inventory(line) => {
                    let sku = o.lines[line as usize].sku;
                    c.call(s.inventory, TccReq::StockConfirm { order: o.id, line, sku }).await
                }
                Branch::Points => {
                    c.call(s.points, TccReq::PointsConfirm { order: o.id, customer: o.customer }).await
                }
                Branch::Declared(i) => {
                    c.declared(i, &o, |target| DeclaredReq::Confirm { target, locked: false }).await
                }
            }
        })
    }

    fn cancel(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply> {
        Box::pin(async move {
            let s = &c.shop;
            match b {
                Branch::Payment => c.call(s.payment, TccReq::PayCancel { order: o.id }).await,
                Branch::Inventory(line) => {
                    let l = o.lines[line as usize];
                    c.call(s.inventory, TccReq::StockCancel { order: o.id, line, sku: l.sku, qty: l.qty })
                        .await
                }
                Branch::Points => {
                    c.call(s.points, TccReq::PointsCancel { order: o.id, customer: o.customer }).await
                }
                Branch::Declared(i) => {
                    c.declared(i, &o, |target| DeclaredReq::Release { target, locked: false }).await
                }
            }
        })
    }

    fn give_back(&self, c: Coordinator, to: NodeId, req: GiveBack) -> Step<Reply> {
        Box::pin(async move { c.call(to, TccReq::GiveBack(req)).await })
    }
}

async fn try_branch(c: &Coordinator, b: Branch, o: &Order) -> Reply {
    let s = &c.shop;
    match b {
        Branch::Payment => {
            c.call(s.payment, TccReq::PayTry { order: o.id, customer: o.customer, amount: o.amount }).await
        }
        Branch::Inventory(line) => {
            let l = o.lines[line as usize];
            c.call(s.inventory, TccReq::StockTry { order: o.id, line, sku: l.sku, qty: l.qty }).await
        }
        Branch::Points => {
            c.call(s.points, TccReq::PointsTry { order: o.id, customer: o.customer, points: o.points }).await
        }
        Branch::Declared(i) => c.declared(i, o, |target| DeclaredReq::Hold { target, locked: false }).await,
    }
}

// ---- the protocol ----

/// Stock held by a Try (or a prepare) until its Confirm or Cancel.
pub(super) fn reserved(service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
    let level = value.and_then(Value::as_int).unwrap_or(0);
    (service == Service::Inventory && key.ends_with("/reserved")).then_some((Resource::ReservedStock, level))
}

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
        // Only built-in workflows reach here, and each binds (a test holds them to it).
        let plan = Arc::new(coordinator::Plan::of(setup.workflow).unwrap_or_else(|e| panic!("tcc: {e}")));
        let shop = Shop::deploy_with(world, setup, Arc::new(participants) as ServiceBody);
        super::with_coordinator(world, setup, shop, move |ctx, db, shop, stats| {
            coordinator::serve(ctx, db, shop, stats, &Tcc, plan.clone())
        })
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        coordinator::unsettled(truth, "tcc/")
    }

    fn held(&self, service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
        reserved(service, key, value)
    }

    fn crash_points(&self) -> &'static [CrashPoint] {
        &coordinator::CRASH_POINTS
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[
            mutant::TCC_NO_EMPTY_ROLLBACK,
            mutant::TCC_NO_HANG_GUARD,
            mutant::TCC_TRY_CHECK_THEN_ACT,
            mutant::TCC_CONFIRM_NOT_IDEMPOTENT,
            mutant::TCC_BARRIER_OUTSIDE_TXN,
            mutant::STOCK_CHECK_OFF_BY_ONE,
            mutant::BARRIER_WITHOUT_LINE,
            mutant::SHIP_IGNORES_CANCEL,
            mutant::PARTIAL_REFUND_ROUNDING,
            mutant::RETURN_KEEPS_POINTS,
            mutant::DECLARED_TAKE_UNCHECKED,
            mutant::CACHE_REBUILT_FROM_STORE_ALONE,
            mutant::CACHE_SYNC_NOT_IDEMPOTENT,
            mutant::DECLARED_UNDO_NOT_IDEMPOTENT,
            mutant::TEXT_BEFORE_DECISION,
        ]
    }
}
