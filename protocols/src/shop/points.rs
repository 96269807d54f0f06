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

#[derive(Clone, Debug, Serialize)]
pub enum PointsReq {
    Award { order: u32, customer: u32, points: i64 },
}

labels!(PointsReq { PointsReq::Award { .. } => "points-award" });

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

async fn handle(store: StoreClient, req: PointsReq) -> Reply {
    let PointsReq::Award { order, customer, points } = req;
    let ops = vec![
        Op::InsertIfAbsent(awarded(order), points.into()),
        Op::Incr { key: balance(customer), by: points, floor: 0 },
    ];
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(e) => unknown_or(e, |_| Reply::Done),
    }
}
