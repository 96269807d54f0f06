//! The points service: awards loyalty points once per order.

use super::{barrier, labels, run_service, unknown_or, Failure, Reply};
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

/// Points promised by a TCC Try, not yet granted.
pub fn pending(customer: u32) -> String {
    format!("points-pending/{customer:04}")
}

#[derive(Clone, Debug, Serialize)]
pub enum PointsReq {
    /// Saga: grant now.
    Award {
        order: u32,
        customer: u32,
        points: i64,
    },
    /// TCC: promise, then grant or drop.
    TryPoints {
        order: u32,
        customer: u32,
        points: i64,
    },
    ConfirmPoints {
        order: u32,
        customer: u32,
    },
    CancelPoints {
        order: u32,
        customer: u32,
    },
}

labels!(PointsReq {
    PointsReq::Award { .. } => "points-award",
    PointsReq::TryPoints { .. } => "points-try",
    PointsReq::ConfirmPoints { .. } => "points-confirm",
    PointsReq::CancelPoints { .. } => "points-cancel",
});

const BRANCH: &str = "points";

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

async fn handle(store: StoreClient, req: PointsReq) -> Reply {
    let (order, customer, points) = match req {
        PointsReq::Award { order, customer, points } => (order, customer, points),
        PointsReq::TryPoints { order, customer, points } => {
            let promise = vec![Op::Incr { key: pending(customer), by: points, floor: 0 }];
            return barrier::try_branch(&store, order, BRANCH, points, promise, |_| Failure::NotPending)
                .await;
        }
        PointsReq::ConfirmPoints { order, customer } => {
            let grant = |points: i64| {
                vec![
                    Op::Incr { key: pending(customer), by: -points, floor: 0 },
                    Op::Incr { key: balance(customer), by: points, floor: 0 },
                    Op::Put(awarded(order), points.into()),
                ]
            };
            return barrier::confirm_branch(&store, order, BRANCH, grant).await;
        }
        PointsReq::CancelPoints { order, customer } => {
            let drop = |points: i64| vec![Op::Incr { key: pending(customer), by: -points, floor: 0 }];
            return barrier::cancel_branch(&store, order, BRANCH, drop).await;
        }
    };
    let ops = vec![
        Op::InsertIfAbsent(awarded(order), points.into()),
        Op::Incr { key: balance(customer), by: points, floor: 0 },
    ];
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(e) => unknown_or(e, |_| Reply::Done),
    }
}
