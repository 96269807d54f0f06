//! The points service: awards loyalty points once per order.

use super::{labels, run_service, unknown_or, Reply};
use faultline_sim::{NodeCtx, Op, ReplicaSet, StoreClient};
use serde::Serialize;
use std::sync::Arc;

pub fn balance(customer: u32) -> String {
    format!("points/{customer:04}")
}
/// Present once the order's points were awarded; holds the points.
pub fn awarded(order: u32) -> String {
    format!("award/{order:06}")
}

/// Points promised (by a TCC Try, a 2PC prepare) and not yet granted: 0 once settled.
pub fn pending(customer: u32) -> String {
    format!("points-pending/{customer:04}")
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
}

labels!(PointsReq { PointsReq::Award { .. } => "points-award" });

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

async fn handle(store: StoreClient, req: PointsReq) -> Reply {
    let PointsReq::Award { order, customer, points } = req;
    let ops = vec![Op::InsertIfAbsent(awarded(order), points.into()), credit(customer, points)];
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(e) => unknown_or(e, |_| Reply::Done),
    }
}
