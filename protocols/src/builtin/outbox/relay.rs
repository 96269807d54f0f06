//! The relay: publishes a service's outbox rows to the broker and marks each
//! sent — deletes the row — only after the broker acknowledged it.
//!
//! A crash anywhere in between leaves the row, and the next incarnation
//! publishes it again; the broker drops a repeated message id, and the
//! consumers' inboxes drop any repeat that gets through. So an event is
//! published at least once and applied once. The relay is kicked after each
//! local commit that emits, and also sweeps on a timer, which is what finds the
//! rows a crash left behind.

use super::{Event, Service};
use crate::mutant;
use faultline_sim::broker::BrokerClient;
use faultline_sim::{NodeCtx, Op, StoreClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often the relay looks for rows nobody kicked it for.
const SWEEP: Duration = Duration::from_millis(200);
/// After a crash point fires here, the node is down this long.
const CRASH_RESTART: Duration = Duration::from_millis(300);

/// The crash point between the broker's acknowledgement and mark-sent.
pub const AFTER_PUBLISH: &str = "relay-after-publish";

pub async fn run(
    ctx: NodeCtx,
    service: Service,
    store: StoreClient,
    broker: BrokerClient,
    kick: Arc<Notify>,
) {
    loop {
        tokio::select! {
            biased;
            _ = kick.notified() => {}
            _ = ctx.sleep(SWEEP) => {}
        }
        let Ok(rows) = store.txn(vec![Op::Scan("outbox/".into())]).await else { continue };
        for (key, payload) in rows[0].rows() {
            let text = payload.as_text().expect("an outbox row is text");
            let event = Event::decode(text).expect("an outbox row decodes");
            let order = event.order.id.to_string();
            // Publishing an event is work for its order.
            let relayed = faultline_sim::order::scope(Some(event.order.id), async {
                if mutant::acts(store.endpoint(), &mutant::OUTBOX_MARK_BEFORE_ACK) {
                    // Sent, as far as the outbox knows — whatever the broker says next.
                    if store.txn(vec![Op::Delete(key.clone())]).await.is_ok() {
                        broker.publish(service.topic(), &event.id(), &order, text).await;
                    }
                    return true;
                }
                if !broker.publish(service.topic(), &event.id(), &order, text).await {
                    return false;
                }
                ctx.crash_point(AFTER_PUBLISH, CRASH_RESTART).await;
                // An unknown outcome leaves the row: it is published again, harmlessly.
                let _ = store.txn(vec![Op::Delete(key.clone())]).await;
                true
            });
            if !relayed.await {
                break; // the broker is away: keep the rows, try on the next round
            }
        }
    }
}
