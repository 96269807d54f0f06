//! The workload driver: a client node that places each order at its time and
//! retries until the protocol's entry point acknowledges it, and sends the
//! customers' cancellations to the shipping service when they change their minds.

use crate::retry;
use crate::shop::shipping::ShipReq;
use crate::shop::{Reply, STEP_TIMEOUT};
use crate::stats::Stats;
use crate::workload::Order;
use faultline_sim::{order, Endpoint, NodeCtx, NodeId, Request, Sim};
use std::sync::Arc;
use std::time::Duration;

/// `place` makes the entry point's request for an order.
pub async fn run<R: Request<Response = Reply>>(
    ctx: NodeCtx,
    (entry, shipping): (NodeId, NodeId),
    orders: Vec<Order>,
    stats: Arc<Stats>,
    place: fn(Order) -> R,
) {
    let ep = ctx.endpoint().await;
    let start = tokio::time::Instant::now() - Duration::from_micros(Sim::now_us());
    for order in orders {
        tokio::time::sleep_until(start + Duration::from_millis(order.submit_at_ms)).await;
        if let Some(after) = order.cancel_after_ms {
            let (ep, stats, id) = (ep.clone(), stats.clone(), order.id);
            tokio::spawn(order::scope(Some(id), async move {
                tokio::time::sleep_until(start + Duration::from_millis(order.submit_at_ms + after)).await;
                cancel(&ep, shipping, id, &stats).await;
            }));
        }
        let (ep, stats) = (ep.clone(), stats.clone());
        // Everything done for the order, here and downstream, is traced as its.
        tokio::spawn(order::scope(Some(order.id), async move {
            stats.submitted(order.id, Sim::now_us());
            let mut backoff = 50;
            while ep.call(entry, place(order.clone()), STEP_TIMEOUT).await != Ok(Reply::Done) {
                stats.retry();
                retry::pause(&ep, backoff).await;
                backoff = (backoff * 2).min(1_000);
            }
        }));
    }
    std::future::pending::<()>().await
}

/// Asks shipping to stop the order until it answers yes or no.
async fn cancel(ep: &Endpoint, shipping: NodeId, order: u32, stats: &Stats) {
    let mut backoff = 50;
    loop {
        match ep.call(shipping, ShipReq::Cancel { order }, STEP_TIMEOUT).await {
            Ok(Reply::Done) => return stats.cancellation(true),
            Ok(Reply::Failed(_)) => return stats.cancellation(false),
            _ => {
                stats.retry();
                retry::pause(ep, backoff).await;
                backoff = (backoff * 2).min(1_000);
            }
        }
    }
}
