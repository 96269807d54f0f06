//! The order service: owns each order's state, `pending` → `completed` | `cancelled`.

use super::{labels, run_service, unknown_or, Failure, Reply};
use crate::workload::Order;
use faultline_sim::{NodeCtx, Op, ReplicaSet, StoreClient, Value};
use serde::Serialize;
use std::sync::Arc;

pub const PENDING: &str = "pending";
pub const COMPLETED: &str = "completed";
pub const CANCELLED: &str = "cancelled";

pub fn key(order: u32) -> String {
    format!("order/{order:06}")
}

#[derive(Clone, Debug, Serialize)]
pub enum OrderReq {
    Create(Order),
    Complete(u32),
    Cancel(u32),
}

labels!(OrderReq {
    OrderReq::Create(_) => "order-create",
    OrderReq::Complete(_) => "order-complete",
    OrderReq::Cancel(_) => "order-cancel",
});

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

pub(crate) async fn handle(store: StoreClient, req: OrderReq) -> Reply {
    match req {
        OrderReq::Create(o) => match store.txn(vec![Op::InsertIfAbsent(key(o.id), PENDING.into())]).await {
            Ok(_) => Reply::Done,
            // Already there: created by an earlier attempt.
            Err(e) => unknown_or(e, |_| Reply::Done),
        },
        OrderReq::Complete(id) => finish(&store, id, COMPLETED).await,
        OrderReq::Cancel(id) => finish(&store, id, CANCELLED).await,
    }
}

/// Moves a pending order to `to`; repeating a done move is a no-op.
async fn finish(store: &StoreClient, id: u32, to: &str) -> Reply {
    let pending = Some(Value::from(PENDING));
    match store.txn(vec![Op::Expect(key(id), pending), Op::Put(key(id), to.into())]).await {
        Ok(_) => Reply::Done,
        Err(e) => match unknown_or(e, |_| Reply::Failed(Failure::NotPending)) {
            Reply::Failed(_) => match store.txn(vec![Op::Get(key(id))]).await {
                Ok(r) if r[0].value() == Some(&Value::from(to)) => Reply::Done,
                // Cancelling an order never created (a coordinator rolled back
                // before its create landed) records it cancelled, so the order
                // still ends, and a late create finds it and changes nothing.
                Ok(r) if r[0].value().is_none() && to == CANCELLED => {
                    match store.txn(vec![Op::InsertIfAbsent(key(id), CANCELLED.into())]).await {
                        Ok(_) => Reply::Done,
                        Err(_) => Reply::Unknown, // raced a create: the retry sees it
                    }
                }
                Ok(_) => Reply::Failed(Failure::NotPending),
                Err(_) => Reply::Unknown,
            },
            other => other,
        },
    }
}
