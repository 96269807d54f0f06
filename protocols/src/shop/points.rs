//! The points service: awards loyalty points once per order.

use super::{barrier, labels, run_service, unknown_or, Failure, Reply};
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient};
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
    /// 2PC: promise under the customer's row lock, then grant or drop, unlocking.
    Prepare {
        order: u32,
        customer: u32,
        points: i64,
    },
    Commit {
        order: u32,
        customer: u32,
    },
    Abort {
        order: u32,
        customer: u32,
    },
}

labels!(PointsReq {
    PointsReq::Award { .. } => "points-award",
    PointsReq::TryPoints { .. } => "points-try",
    PointsReq::ConfirmPoints { .. } => "points-confirm",
    PointsReq::CancelPoints { .. } => "points-cancel",
    PointsReq::Prepare { .. } => "points-prepare",
    PointsReq::Commit { .. } => "points-commit",
    PointsReq::Abort { .. } => "points-abort",
});

const BRANCH: &str = "points";

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, handle).await
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, req: PointsReq) -> Reply {
    let lock = |customer| Some(barrier::customer_lock(customer));
    let (order, customer, points) = match req {
        PointsReq::Award { order, customer, points } => (order, customer, points),
        PointsReq::TryPoints { order, customer, points } => {
            return promise(&store, order, customer, points, None).await
        }
        PointsReq::Prepare { order, customer, points } => {
            let lock = lock(customer);
            return barrier::lock_wait(&ep, || promise(&store, order, customer, points, lock.as_deref()))
                .await;
        }
        PointsReq::ConfirmPoints { order, customer } => return grant(&store, order, customer, None).await,
        PointsReq::Commit { order, customer } => {
            return grant(&store, order, customer, lock(customer).as_deref()).await
        }
        PointsReq::CancelPoints { order, customer } => return drop(&store, order, customer, None).await,
        PointsReq::Abort { order, customer } => {
            return drop(&store, order, customer, lock(customer).as_deref()).await
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

async fn promise(store: &StoreClient, order: u32, customer: u32, points: i64, lock: Option<&str>) -> Reply {
    let promise = vec![Op::Incr { key: pending(customer), by: points, floor: 0 }];
    barrier::try_branch(store, order, BRANCH, points, lock, promise, |_| Failure::NotPending).await
}

async fn grant(store: &StoreClient, order: u32, customer: u32, lock: Option<&str>) -> Reply {
    let grant = |points: i64| {
        vec![
            Op::Incr { key: pending(customer), by: -points, floor: 0 },
            Op::Incr { key: balance(customer), by: points, floor: 0 },
            Op::Put(awarded(order), points.into()),
        ]
    };
    barrier::confirm_branch(store, order, BRANCH, lock, grant).await
}

async fn drop(store: &StoreClient, order: u32, customer: u32, lock: Option<&str>) -> Reply {
    let drop = |points: i64| vec![Op::Incr { key: pending(customer), by: -points, floor: 0 }];
    barrier::cancel_branch(store, order, BRANCH, lock, drop).await
}
