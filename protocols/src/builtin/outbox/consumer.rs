//! The consumer side: a service's consumer group polls each topic it listens
//! to, applies every message at most once — its **inbox** row is written in the
//! same local transaction as the effect — and acks only what it applied. A
//! message whose effect is unknown is not acked, so the broker delivers it again.

use super::react::{self, Svc};
use super::{emit, inbox_key, wire, Event};
use crate::mutant;
use faultline_sim::broker::BrokerClient;
use faultline_sim::{Op, TxnError};
use std::sync::Arc;
use std::time::Duration;

/// After a poll the broker did not answer, wait this long, doubling to
/// `POLL_IDLE_MAX`; an answered poll goes again at once (the broker holds an
/// empty one until something is published: a long poll).
const POLL_BUSY: Duration = Duration::from_millis(10);
const POLL_IDLE_MAX: Duration = Duration::from_millis(160);
const BATCH: usize = 16;

/// Consumes `topic` for `svc`'s group until the node dies.
pub async fn run(svc: Arc<Svc>, broker: BrokerClient, topic: String) {
    // Shared with every delivery's task: cloned per message, so counted, not copied.
    let (topic, group): (Arc<str>, Arc<str>) = (topic.into(), svc.member.name().into());
    let mut idle = POLL_BUSY;
    loop {
        let Some(batch) = broker.poll(&topic, &group, BATCH).await else {
            svc.ctx.sleep(idle).await;
            idle = (idle * 2).min(POLL_IDLE_MAX);
            continue;
        };
        idle = POLL_BUSY;
        for d in batch {
            let (svc, broker, topic, group) = (svc.clone(), broker.clone(), topic.clone(), group.clone());
            let (kind, order) = wire::head(&d.payload).expect("a published event decodes");
            // The reaction, its store transaction and the ack work for the event's order.
            tokio::spawn(faultline_sim::order::scope(Some(order), async move {
                if d.attempt > 1 {
                    svc.stats.retry(); // a redelivery
                }
                // Other services' events on a shared topic are acked untouched, unread.
                let applied = match svc.choreography.role(svc.member, kind) {
                    Some(role) => {
                        let event = Event::decode(&d.payload).expect("a published event decodes");
                        react::react(&svc, &event, role).await
                    }
                    None => true,
                };
                if applied {
                    broker.ack(&topic, &group, d.seq).await;
                }
            }));
        }
    }
}

/// What applying a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Now,
    /// The inbox already had it: a duplicate, changed nothing.
    Before,
    /// Op `n` of the effect failed its condition; nothing was written.
    Refused(usize),
    Unknown,
}

/// Applies `effect` for `event`, with its inbox row and the outbox rows of
/// `emits`, in one local transaction.
pub async fn apply(svc: &Svc, event: &Event, effect: Vec<Op>, emits: &[Event]) -> Applied {
    let inbox = inbox_key(event.order.id, event.kind);
    let mut ops = match mutant::acts(&svc.ep, &mutant::CONSUMER_NO_INBOX) {
        true => vec![Op::Get(inbox)], // looks, but guards nothing
        false => vec![Op::InsertIfAbsent(inbox, 1.into())],
    };
    ops.extend(effect);
    let dual_write = !emits.is_empty() && mutant::acts(&svc.ep, &mutant::OUTBOX_DUAL_WRITE);
    match dual_write {
        // The record that the event was committed, but no outbox row: it is
        // published below, after the commit, once.
        true => ops.extend(emits.iter().map(|e| emit(e)[0].clone())),
        false => ops.extend(emits.iter().flat_map(emit)),
    }
    match svc.store.txn(ops).await {
        Ok(_) => {
            if dual_write {
                for e in emits {
                    svc.broker.publish(&e.kind.topic(), &e.id(), &e.order.id.to_string(), &e.encode()).await;
                }
            } else if !emits.is_empty() {
                svc.kick.notify_one();
            }
            Applied::Now
        }
        Err(TxnError::Condition { index: 0, .. }) => Applied::Before,
        Err(TxnError::Condition { index, .. }) => Applied::Refused(index - 1),
        Err(TxnError::Unknown) => Applied::Unknown,
    }
}
