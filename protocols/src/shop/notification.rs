//! The notification service: tells the customer once per completed order.

use super::{labels, run_service, unknown_or, Reply};
use faultline_sim::{NodeCtx, Op, ReplicaSet, StoreClient};
use serde::Serialize;
use std::sync::Arc;

/// How many notifications the customer received.
pub fn sent(customer: u32) -> String {
    crate::id::padded("sent/", customer, 4, "")
}
/// Present once the order's notification went out.
pub fn notified(order: u32) -> String {
    crate::id::key("notified/", order)
}

/// Counts one more notification sent to the customer: the effect every protocol applies.
pub fn count_sent(customer: u32) -> Op {
    Op::Incr { key: sent(customer), by: 1, floor: 0 }
}

#[derive(Clone, Debug, Serialize)]
pub enum NotifyReq {
    Notify { order: u32, customer: u32 },
}

labels!(NotifyReq { NotifyReq::Notify { .. } => "notify" });

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, |store, _ep, req| handle(store, req)).await
}

async fn handle(store: StoreClient, req: NotifyReq) -> Reply {
    let NotifyReq::Notify { order, customer } = req;
    let ops = vec![Op::InsertIfAbsent(notified(order), 1.into()), count_sent(customer)];
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(e) => unknown_or(e, |_| Reply::Done),
    }
}
