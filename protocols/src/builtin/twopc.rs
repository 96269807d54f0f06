//! Two-phase commit (Gray, "Notes on Data Base Operating Systems", 1978; XA),
//! the baseline the other protocols are measured against.
//!
//! It shares the two-phase [coordinator] with TCC — the
//! log, the decision, phase two, recovery — and brings its own phase one: it
//! asks every participant to **prepare** at once — hold the stock, authorize
//! the money, promise the points, each under a row lock (the SKU's row, the
//! customer's account) — and decides commit if all voted yes, abort otherwise
//! (no answer is a no). Then it commits or aborts every participant until
//! each has answered; the locks go with the decision. The participants run
//! the same [branch code](super::branches) as TCC's, with the lock.
//!
//! The honest cost: a prepared participant may not decide alone. If the
//! coordinator dies between prepare and decision, the locks and reservations
//! stay until it recovers (presumed abort: an undecided transaction is rolled
//! back), and every other order for that SKU or customer waits on the lock and
//! gives up after the lock-wait timeout. That shows in lock-seconds, reserved
//! stock, held money and cancelled orders, not in a broken invariant.

use super::branches::{self, GiveBack};
use super::coordinator::{self, Branch, Coordinator, Status, Step, TwoPhase};
use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Protocol, Resource, Setup, Unsettled};
use crate::shop::barrier::lock_wait;
use crate::shop::declared::DeclaredReq;
use crate::shop::{labels, request_api, run_service, Body, Reply, Service, ServiceBody, Shop};
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, StoreClient, Value, World};
use serde::Serialize;
use std::sync::Arc;

// ---- the row locks ----

/// The lock on a SKU's stock row.
pub fn sku_lock(sku: u32) -> String {
    crate::id::padded("lock/sku/", sku, 3, "")
}

/// The lock on a customer's account row.
pub fn customer_lock(customer: u32) -> String {
    crate::id::padded("lock/customer/", customer, 4, "")
}

// ---- the participants' API ----

/// What the coordinator asks a participant.
#[derive(Clone, Debug, Serialize)]
pub enum TwoPcReq {
    StockPrepare {
        order: u32,
        line: u32,
        sku: u32,
        qty: i64,
    },
    StockCommit {
        order: u32,
        line: u32,
        sku: u32,
    },
    StockAbort {
        order: u32,
        line: u32,
        sku: u32,
    },
    PayPrepare {
        order: u32,
        customer: u32,
        amount: i64,
    },
    PayCommit {
        order: u32,
        customer: u32,
    },
    PayAbort {
        order: u32,
        customer: u32,
    },
    PointsPrepare {
        order: u32,
        customer: u32,
        points: i64,
    },
    PointsCommit {
        order: u32,
        customer: u32,
    },
    PointsAbort {
        order: u32,
        customer: u32,
    },
    /// After the commit, for an order that did not ship or shipped short.
    GiveBack(GiveBack),
}

labels!(TwoPcReq {
    TwoPcReq::StockPrepare { .. } => "stock-prepare",
    TwoPcReq::StockCommit { .. } => "stock-commit",
    TwoPcReq::StockAbort { .. } => "stock-abort",
    TwoPcReq::PayPrepare { .. } => "pay-prepare",
    TwoPcReq::PayCommit { .. } => "pay-commit",
    TwoPcReq::PayAbort { .. } => "pay-abort",
    TwoPcReq::PointsPrepare { .. } => "points-prepare",
    TwoPcReq::PointsCommit { .. } => "points-commit",
    TwoPcReq::PointsAbort { .. } => "points-abort",
    TwoPcReq::GiveBack(_) => "give-back",
});

/// The service nodes under 2PC: the participants serve [`TwoPcReq`], the order
/// and notification services their own API.
pub fn participants(ctx: NodeCtx, service: Service, db: Arc<ReplicaSet>, gateway: NodeId) -> Body {
    match service {
        Service::Inventory | Service::Payment | Service::Points => {
            Box::pin(run_service(ctx, db, move |store, ep, req| handle(store, ep, gateway, req)))
        }
        Service::Order | Service::Notification | Service::Shipping => request_api(ctx, service, db, gateway),
    }
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, gw: NodeId, req: TwoPcReq) -> Reply {
    let s = &store;
    match req {
        TwoPcReq::StockPrepare { order, line, sku, qty } => {
            let lock = sku_lock(sku);
            lock_wait(&ep, Some(&lock), || branches::reserve(s, (order, line), sku, qty, Some(&lock))).await
        }
        TwoPcReq::StockCommit { order, line, sku } => {
            branches::sell(s, (order, line), sku, Some(&sku_lock(sku))).await
        }
        TwoPcReq::StockAbort { order, line, sku } => {
            branches::release(s, (order, line), sku, Some(&sku_lock(sku))).await
        }
        TwoPcReq::PayPrepare { order, customer, amount } => {
            let lock = customer_lock(customer);
            lock_wait(&ep, Some(&lock), || {
                branches::authorize(s, &ep, gw, order, customer, amount, Some(&lock))
            })
            .await
        }
        TwoPcReq::PayCommit { order, customer } => {
            branches::capture(s, &ep, gw, order, Some(&customer_lock(customer))).await
        }
        TwoPcReq::PayAbort { order, customer } => {
            branches::void(s, &ep, gw, order, Some(&customer_lock(customer))).await
        }
        TwoPcReq::PointsPrepare { order, customer, points } => {
            let lock = customer_lock(customer);
            lock_wait(&ep, Some(&lock), || branches::promise(s, order, customer, points, Some(&lock))).await
        }
        TwoPcReq::PointsCommit { order, customer } => {
            branches::grant(s, order, customer, Some(&customer_lock(customer))).await
        }
        TwoPcReq::PointsAbort { order, customer } => {
            branches::withdraw(s, order, customer, Some(&customer_lock(customer))).await
        }
        // The transaction is over and its locks are gone: these are the
        // shop's own compensations, which need none.
        TwoPcReq::GiveBack(g) => branches::give_back(s, &ep, gw, g).await,
    }
}

// ---- the coordinator's phases ----

impl TwoPhase for TwoPc {
    fn prefix(&self) -> &'static str {
        "2pc"
    }

    /// Every participant votes at once; a vote that does not arrive is a no.
    fn phase_one(&self, c: Coordinator, o: Order) -> Step<Status> {
        Box::pin(async move {
            let votes: Vec<_> = c
                .branches(&o)
                .into_iter()
                .map(|b| {
                    let (c, o) = (c.clone(), o.clone());
                    faultline_sim::order::spawn(async move { prepare(&c, b, &o).await })
                })
                .collect();
            let mut all_yes = true;
            for vote in votes {
                all_yes &= vote.await.expect("a vote task is never cancelled") == Reply::Done;
            }
            if all_yes {
                Status::Confirming
            } else {
                Status::Cancelling
            }
        })
    }

    fn confirm(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply> {
        Box::pin(async move {
            let (s, order, customer) = (&c.shop, o.id, o.customer);
            match b {
                Branch::Payment => c.call(s.payment, TwoPcReq::PayCommit { order, customer }).await,
                Branch::Inventory(line) => {
                    let sku = o.lines[line as usize].sku;
                    c.call(s.inventory, TwoPcReq::StockCommit { order, line, sku }).await
                }
                Branch::Points => c.call(s.points, TwoPcReq::PointsCommit { order, customer }).await,
                Branch::Declared(i) => {
                    c.declared(i, &o, |target| DeclaredReq::Confirm { target, locked: true }).await
                }
            }
        })
    }

    fn cancel(&self, c: Coordinator, b: Branch, o: Order) -> Step<Reply> {
        Box::pin(async move {
            let (s, order, customer) = (&c.shop, o.id, o.customer);
            match b {
                Branch::Payment => c.call(s.payment, TwoPcReq::PayAbort { order, customer }).await,
                Branch::Inventory(line) => {
                    let sku = o.lines[line as usize].sku;
                    c.call(s.inventory, TwoPcReq::StockAbort { order, line, sku }).await
                }
                Branch::Points => c.call(s.points, TwoPcReq::PointsAbort { order, customer }).await,
                Branch::Declared(i) => {
                    c.declared(i, &o, |target| DeclaredReq::Release { target, locked: true }).await
                }
            }
        })
    }

    fn give_back(&self, c: Coordinator, to: NodeId, req: GiveBack) -> Step<Reply> {
        Box::pin(async move { c.call(to, TwoPcReq::GiveBack(req)).await })
    }
}

async fn prepare(c: &Coordinator, b: Branch, o: &Order) -> Reply {
    let (s, order, customer) = (&c.shop, o.id, o.customer);
    match b {
        Branch::Payment => {
            c.call(s.payment, TwoPcReq::PayPrepare { order, customer, amount: o.amount }).await
        }
        Branch::Inventory(line) => {
            let l = o.lines[line as usize];
            c.call(s.inventory, TwoPcReq::StockPrepare { order, line, sku: l.sku, qty: l.qty }).await
        }
        Branch::Points => {
            c.call(s.points, TwoPcReq::PointsPrepare { order, customer, points: o.points }).await
        }
        Branch::Declared(i) => c.declared(i, o, |target| DeclaredReq::Hold { target, locked: true }).await,
    }
}

// ---- the protocol ----

/// 2PC, as the harness sees it.
pub struct TwoPc;

impl Protocol for TwoPc {
    fn name(&self) -> &'static str {
        "2pc"
    }

    fn describe(&self) -> &'static str {
        "two-phase commit: prepare every participant under row locks, then commit or abort all (baseline)"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        // Only built-in workflows reach here, and each binds (a test holds them to it).
        let plan = Arc::new(coordinator::Plan::of(setup.workflow).unwrap_or_else(|e| panic!("2pc: {e}")));
        let shop = Shop::deploy_with(world, setup, Arc::new(participants) as ServiceBody);
        super::with_coordinator(world, setup, shop, move |ctx, db, shop, stats| {
            coordinator::serve(ctx, db, shop, stats, &TwoPc, plan.clone())
        })
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        coordinator::unsettled(truth, "2pc/")
    }

    /// Reserved stock, and the row locks (`lock/…`) a prepare takes in each
    /// participant's store until the decision.
    fn held(&self, service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
        let lock = key.starts_with("lock/").then_some((Resource::RowLock, value.is_some() as i64));
        lock.or_else(|| super::tcc::reserved(service, key, value))
    }

    fn crash_points(&self) -> &'static [CrashPoint] {
        &coordinator::CRASH_POINTS
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[
            mutant::STOCK_CHECK_OFF_BY_ONE,
            mutant::BARRIER_WITHOUT_LINE,
            mutant::SHIP_IGNORES_CANCEL,
            mutant::PARTIAL_REFUND_ROUNDING,
            mutant::RETURN_KEEPS_POINTS,
            mutant::DECLARED_TAKE_UNCHECKED,
            // Not cache-rebuilt-from-store-alone: 2PC's row lock on the hot
            // key serializes the sale, which then never sells out within the
            // cached flash sale's window (0 of 200 seeds caught it) — there is
            // nothing left to oversell.
            mutant::CACHE_SYNC_NOT_IDEMPOTENT,
            mutant::DECLARED_UNDO_NOT_IDEMPOTENT,
            mutant::TEXT_BEFORE_DECISION,
        ]
    }
}
