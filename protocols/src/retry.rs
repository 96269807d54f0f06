//! Retrying a step whose outcome is unknown, with capped exponential backoff
//! and jitter drawn from the node's stream for the order it works for.

use crate::shop::Reply;
use crate::stats::Stats;
use faultline_sim::{Endpoint, Purpose};
use std::future::Future;
use std::time::Duration;

const FIRST_BACKOFF_MS: u64 = 20;
const MAX_BACKOFF_MS: u64 = 1_000;

/// Repeats `attempt` until it gives a definitive answer (`Done` or `Failed`).
/// Only for idempotent steps: an unknown outcome may have been applied.
pub async fn until_known<F, Fut>(ep: &Endpoint, stats: &Stats, mut attempt: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let mut backoff = FIRST_BACKOFF_MS;
    loop {
        match attempt().await {
            Reply::Unknown => {}
            known => return known,
        }
        stats.retry();
        pause(ep, backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF_MS);
    }
}

/// Sleeps between half and all of `ms` on the node's clock, so retries of many
/// callers spread out.
pub async fn pause(ep: &Endpoint, ms: u64) {
    let jittered = ep.sim().draw(ep.node(), Purpose::Backoff).within(ms / 2, ms);
    ep.sleep(Duration::from_millis(jittered)).await;
}
