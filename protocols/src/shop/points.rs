//! The points service: awards loyalty points once per order, and takes them
//! back once if the order is returned after its points were granted.

use super::{labels, run_service, unknown_or, Reply};
use faultline_sim::{NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

pub fn balance(customer: u32) -> String {
    crate::id::padded("points/", customer, 4, "")
}
/// Present once the order's points were awarded; holds the points.
pub fn awarded(order: u32) -> String {
    crate::id::key("award/", order)
}

/// Present once the order's points were taken back (holds how many); an
/// order's points count while `award` is present and `revoke` is not.
pub fn revoked(order: u32) -> String {
    crate::id::key("revoke/", order)
}

/// Points promised (by a TCC Try, a 2PC prepare) and not yet granted: 0 once settled.
pub fn pending(customer: u32) -> String {
    crate::id::padded("points-pending/", customer, 4, "")
}

// ---- the points effects, defined once for every protocol ----

/// Credits the customer's balance.
pub fn credit(customer: u32, points: i64) -> Op {
    Op::Incr { key: balance(customer), by: points, floor: 0 }
}

/// Promises points not yet granted (never below zero).
pub fn promise(customer: u32, points: i64) -> Op {
    Op::Incr { key: pending(customer), by: points, floor: 0 }
}

// ---- the service's API ----

#[derive(Clone, Debug, Serialize)]
pub enum PointsReq {
    /// Grant now, once per order.
    Award { order: u32, customer: u32, points: i64 },
    /// Take back what the order was awarded, if anything; once.
    Revoke { order: u32, customer: u32 },
}

labels!(PointsReq {
    PointsReq::Award { .. } => "points-award",
    PointsReq::Revoke { .. } => "points-revoke",
});

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

async fn handle(store: StoreClient, req: PointsReq) -> Reply {
    match req {
        PointsReq::Award { order, customer, points } => {
            let ops = vec![Op::InsertIfAbsent(awarded(order), points.into()), credit(customer, points)];
            match store.txn(ops).await {
                Ok(_) => Reply::Done,
                Err(e) => unknown_or(e, |_| Reply::Done),
            }
        }
        PointsReq::Revoke { order, customer } => revoke(&store, order, customer).await,
    }
}

/// Takes back the points `order` was awarded, once; an order never awarded
/// is recorded as revoked with 0. Read, then write guarded by what was read.
pub async fn revoke(store: &StoreClient, order: u32, customer: u32) -> Reply {
    for _ in 0..5 {
        let seen = match store.txn(vec![Op::Get(awarded(order)), Op::Get(revoked(order))]).await {
            Ok(r) => r,
            Err(_) => return Reply::Unknown,
        };
        if seen[1].value().is_some() {
            return Reply::Done;
        }
        let n = seen[0].value().and_then(Value::as_int);
        let ops = vec![
            Op::InsertIfAbsent(revoked(order), n.unwrap_or(0).into()),
            Op::Expect(awarded(order), n.map(Value::from)),
            Op::Incr { key: balance(customer), by: -n.unwrap_or(0), floor: 0 },
        ];
        match store.txn(ops).await {
            Ok(_) => return Reply::Done,
            Err(TxnError::Unknown) => return Reply::Unknown,
            Err(TxnError::Condition { .. }) => continue,
        }
    }
    Reply::Unknown
}
