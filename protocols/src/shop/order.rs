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
    crate::id::key("order/", order)
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
    let pending = Value::from(PENDING);
    // A few rounds: a create still in flight can land between a move that
    // found no order and the look that follows it.
    for _ in 0..3 {
        let moved = store.txn(vec![Op::Expect(key(id), Some(pending.clone())), Op::Put(key(id), to.into())]);
        match moved.await {
            Ok(_) => return Reply::Done,
            Err(e) => match unknown_or(e, |_| Reply::Failed(Failure::NotPending)) {
                Reply::Failed(_) => {}
                other => return other,
            },
        }
        match store.txn(vec![Op::Get(key(id))]).await {
            Ok(r) if r[0].value() == Some(&Value::from(to)) => return Reply::Done,
            // Created since the move looked: move it now.
            Ok(r) if r[0].value() == Some(&pending) => continue,
            // Cancelling an order never created (a coordinator rolled back
            // before its create landed) records it cancelled, so the order
            // still ends, and a late create finds it and changes nothing.
            Ok(r) if r[0].value().is_none() && to == CANCELLED => {
                match store.txn(vec![Op::InsertIfAbsent(key(id), CANCELLED.into())]).await {
                    Ok(_) => return Reply::Done,
                    Err(e) => match unknown_or(e, |_| Reply::Failed(Failure::NotPending)) {
                        Reply::Failed(_) => continue, // raced a create: move it now
                        other => return other,
                    },
                }
            }
            Ok(_) => return Reply::Failed(Failure::NotPending),
            Err(_) => return Reply::Unknown,
        }
    }
    Reply::Unknown
}
