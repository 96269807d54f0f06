//! The relay: publishes a service's outbox rows to the broker and marks each
//! sent — deletes the row — only after the broker acknowledged it.
//!
//! A crash anywhere in between leaves the row, and the next incarnation
//! publishes it again; the broker drops a repeated message id, and the
//! consumers' inboxes drop any repeat that gets through. So an event is
//! published at least once and applied once. The relay is kicked after each
//! local commit that emits, and also sweeps on a timer, which is what finds the
//! rows a crash left behind.

use super::Kind;
use crate::mutant;
use faultline_sim::broker::BrokerClient;
use faultline_sim::{NodeCtx, Op, StoreClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often the relay looks for rows nobody kicked it for: a new incarnation
/// looks at once (the rows a crash left behind), then every SWEEP; after a
/// round that left rows (the broker was away), after RETRY.
const SWEEP: Duration = Duration::from_millis(1000);
const RETRY: Duration = Duration::from_millis(200);
/// After a crash point fires here, the node is down this long.
const CRASH_RESTART: Duration = Duration::from_millis(300);

/// The crash point between the broker's acknowledgement and mark-sent.
pub const AFTER_PUBLISH: &str = "relay-after-publish";

pub async fn run(ctx: NodeCtx, store: StoreClient, broker: BrokerClient, kick: Arc<Notify>) {
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            _ = kick.notified() => {}
            _ = ctx.sleep(wait) => {}
        }
        wait = RETRY;
        let Ok(rows) = store.txn(vec![Op::Scan("outbox/".into())]).await else { continue };
        // One task per order, its rows in turn (an order's events keep their
        // order); the orders at once, so the broker commits their publishes
        // together instead of one store round trip each.
        let mut by_order: Vec<(u32, Vec<Row>)> = Vec::new();
        for (key, payload) in rows[0].rows() {
            let text = payload.as_text().expect("an outbox row is text").to_string();
            // The key names the event's order and kind: all a publish needs
            // besides the row itself, which goes out as it is.
            let (order, kind) = super::outbox_row(key).expect("outbox/{order}/{kind}");
            let row = Row { key: key.clone(), order, kind, text };
            match by_order.last_mut() {
                Some((o, rows)) if *o == order => rows.push(row),
                _ => by_order.push((order, vec![row])),
            }
        }
        let tasks: Vec<_> = by_order
            .into_iter()
            .map(|(order, rows)| {
                let (ctx, store, broker) = (ctx.clone(), store.clone(), broker.clone());
                // Publishing an event is work for its order.
                tokio::spawn(faultline_sim::order::scope(Some(order), async move {
                    for row in rows {
                        if !relay_one(&ctx, &store, &broker, row).await {
                            return false; // the broker is away: keep the rows, try on the next round
                        }
                    }
                    true
                }))
            })
            .collect();
        let mut all_sent = true;
        for task in tasks {
            all_sent &= task.await.unwrap_or(false);
        }
        if all_sent {
            wait = SWEEP;
        }
    }
}

/// An outbox row: its key, the order and kind of event the key names, the event.
struct Row {
    key: String,
    order: u32,
    kind: Kind,
    text: String,
}

/// Publishes one outbox row and marks it sent; false if the broker did not take it.
async fn relay_one(ctx: &NodeCtx, store: &StoreClient, broker: &BrokerClient, row: Row) -> bool {
    let Row { key, order: id, kind, text } = row;
    let (order, topic, message) = (id.to_string(), kind.topic(), super::message_id(id, kind));
    if mutant::acts(store.endpoint(), &mutant::OUTBOX_MARK_BEFORE_ACK) {
        // Sent, as far as the outbox knows — whatever the broker says next.
        if store.txn(vec![Op::Delete(key)]).await.is_ok() {
            broker.publish(&topic, &message, &order, &text).await;
        }
        return true;
    }
    if !broker.publish(&topic, &message, &order, &text).await {
        return false;
    }
    ctx.crash_point(AFTER_PUBLISH, CRASH_RESTART).await;
    // An unknown outcome leaves the row: it is published again, harmlessly.
    let _ = store.txn(vec![Op::Delete(key)]).await;
    true
}
