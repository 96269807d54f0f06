//! The workload driver: a client node that places each order at its time and
//! retries until the protocol's entry point acknowledges it.

use crate::retry;
use crate::shop::{Reply, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::workload::Order;
use faultline_sim::{NodeCtx, NodeId, Request, Sim};
use std::sync::Arc;
use std::time::Duration;

/// `place` makes the entry point's request for an order.
pub async fn run<R: Request<Response = Reply>>(
    ctx: NodeCtx,
    entry: NodeId,
    orders: Vec<Order>,
    stats: Arc<Stats>,
    place: fn(Order) -> R,
) {
    let ep = ctx.endpoint().await;
    let start = tokio::time::Instant::now() - Duration::from_micros(Sim::now_us());
    for order in orders {
        tokio::time::sleep_until(start + Duration::from_millis(order.submit_at_ms)).await;
        let (ep, stats) = (ep.clone(), stats.clone());
        tokio::spawn(async move {
            stats.submitted(order.id, Sim::now_us());
            let mut backoff = 50;
            while ep.call(entry, place(order.clone()), STEP_TIMEOUT).await != Ok(Reply::Done) {
                stats.retry();
                retry::pause(&ep, backoff).await;
                backoff = (backoff * 2).min(1_000);
            }
        });
    }
    std::future::pending::<()>().await
}
