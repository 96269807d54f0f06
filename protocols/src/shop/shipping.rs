//! The shipping service (the warehouse's fulfilment): ships a paid order, or
//! finds it cannot (an item damaged at pick, an undeliverable address), or
//! stops it because the customer cancelled first. One row per order,
//! `ship/{order}`, written once: whichever of the shipment and the customer's
//! cancellation writes it first wins the race, and the other is told so.

use super::gateway::GatewayReq;
use super::{labels, payment, run_service, unknown_or, Failure, Reply, GATEWAY_TIMEOUT};
use crate::mutant;
use crate::workload::Order;
use faultline_sim::{NodeCtx, NodeId, Op, ReplicaSet, StoreClient, Value};
use serde::Serialize;
use std::sync::Arc;

/// The order's fulfilment, once decided: `shipped`, `failed` or `stopped`.
pub fn key(order: u32) -> String {
    crate::id::key("ship/", order)
}

/// Where a shipment ended; the row never changes once written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    Shipped,
    /// The warehouse could not fulfil the order.
    Failed,
    /// The customer's cancellation arrived first.
    Stopped,
}

impl Fate {
    pub const ALL: [Fate; 3] = [Fate::Shipped, Fate::Failed, Fate::Stopped];

    pub fn name(self) -> &'static str {
        match self {
            Fate::Shipped => "shipped",
            Fate::Failed => "failed",
            Fate::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Fate> {
        Fate::ALL.into_iter().find(|f| f.name() == text)
    }

    /// The answer a shipment request gets once the row says `self`.
    fn ship_reply(self) -> Reply {
        match self {
            Fate::Shipped => Reply::Done,
            Fate::Failed => Reply::Failed(Failure::Undeliverable),
            Fate::Stopped => Reply::Failed(Failure::CancelledByCustomer),
        }
    }

    /// The answer the customer's cancellation gets: refused only if it shipped.
    fn cancel_reply(self) -> Reply {
        match self {
            Fate::Shipped => Reply::Failed(Failure::Shipped),
            Fate::Failed | Fate::Stopped => Reply::Done,
        }
    }
}

/// The fate a shipment of `o` meets if nothing stopped it first.
pub fn outcome(o: &Order) -> Fate {
    match o.undeliverable() {
        true => Fate::Failed,
        false => Fate::Shipped,
    }
}

#[derive(Clone, Debug, Serialize)]
pub enum ShipReq {
    /// Ship a paid order (the whole order: the warehouse reads its lines).
    Ship(Order),
    /// The customer cancels: stop the shipment unless it already left.
    Cancel { order: u32 },
}

labels!(ShipReq {
    ShipReq::Ship(_) => "ship",
    ShipReq::Cancel { .. } => "ship-cancel",
});

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, gateway: NodeId) {
    run_service(ctx, db, move |store, _ep, req| handle(store, gateway, req)).await
}

pub(crate) async fn handle(store: StoreClient, gateway: NodeId, req: ShipReq) -> Reply {
    match req {
        ShipReq::Ship(o) => {
            let fate = outcome(&o);
            if fate == Fate::Shipped && mutant::acts(store.endpoint(), &mutant::SHIP_IGNORES_CANCEL) {
                // Ships whatever the row says: a cancellation already accepted is overwritten.
                return match store.txn(vec![Op::Put(key(o.id), fate.name().into())]).await {
                    Ok(_) => Reply::Done,
                    Err(_) => Reply::Unknown,
                };
            }
            decide(&store, o.id, fate).await.map_or(Reply::Unknown, Fate::ship_reply)
        }
        ShipReq::Cancel { order } => {
            let reply = decide(&store, order, Fate::Stopped).await.map_or(Reply::Unknown, Fate::cancel_reply);
            if reply == Reply::Done && mutant::acts(store.endpoint(), &mutant::CANCEL_REFUNDS_EACH_REQUEST) {
                // "Refund at once on cancel", without a key of its own: every
                // copy of the request — a duplicate, a client's retry — refunds again.
                let req = GatewayReq::RefundUnkeyed { key: payment::charge_key(order) };
                let _ = store.endpoint().call(gateway, req, GATEWAY_TIMEOUT).await;
            }
            reply
        }
    }
}

/// Writes `fate` unless the row is already decided; returns what it says now
/// (`None`: the store did not answer).
pub async fn decide(store: &StoreClient, order: u32, fate: Fate) -> Option<Fate> {
    match store.txn(vec![Op::InsertIfAbsent(key(order), fate.name().into())]).await {
        Ok(_) => Some(fate),
        Err(e) => match unknown_or(e, |_| Reply::Done) {
            Reply::Unknown => None,
            _ => {
                let now = store.txn(vec![Op::Get(key(order))]).await.ok()?;
                now[0].value().and_then(Value::as_text).and_then(Fate::parse)
            }
        },
    }
}
