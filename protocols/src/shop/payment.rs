//! The payment service: charges and refunds through the external gateway, always
//! with the order's idempotency key, and records each payment's state
//! (`charging` → `charged` | `declined`, then `refunding` → `refunded`).

use super::gateway::{GatewayReq, GatewayRsp};
use super::{labels, run_service, Failure, Reply, GATEWAY_TIMEOUT};
use faultline_sim::{Endpoint, NodeCtx, NodeId, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

pub fn key(order: u32) -> String {
    format!("pay/{order:06}")
}

/// The idempotency key of an order's charge at the gateway.
pub fn charge_key(order: u32) -> String {
    format!("charge-{order}")
}

#[derive(Clone, Debug, Serialize)]
pub enum PaymentReq {
    Charge { order: u32, customer: u32, amount: i64 },
    Refund { order: u32 },
}

labels!(PaymentReq {
    PaymentReq::Charge { .. } => "pay-charge",
    PaymentReq::Refund { .. } => "pay-refund",
});

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, gateway: NodeId) {
    run_service(ctx, db, move |store, ep, req| handle(store, ep, gateway, req)).await
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, gateway: NodeId, req: PaymentReq) -> Reply {
    let order = match req {
        PaymentReq::Charge { order, .. } | PaymentReq::Refund { order } => order,
    };
    // A few rounds of read-decide-write; each write is guarded by what was read.
    for _ in 0..5 {
        let state = match store.txn(vec![Op::Get(key(order))]).await {
            Ok(r) => r[0].value().and_then(Value::as_text).map(str::to_string),
            Err(_) => return Reply::Unknown,
        };
        let step = match &req {
            PaymentReq::Charge { customer, amount, .. } => {
                charge(&store, &ep, gateway, order, *customer, *amount, state.as_deref()).await
            }
            PaymentReq::Refund { .. } => refund(&store, &ep, gateway, order, state.as_deref()).await,
        };
        if let Some(reply) = step {
            return reply;
        }
    }
    Reply::Unknown
}

/// Moves the payment from `from` (None: absent) to `to`. On failure: `None` if the
/// state moved under us (read again), `Some(Unknown)` if the store did not answer.
async fn set(store: &StoreClient, order: u32, from: Option<&str>, to: &str) -> Result<(), Option<Reply>> {
    let guard = match from {
        Some(s) => Op::Expect(key(order), Some(s.into())),
        None => Op::InsertIfAbsent(key(order), to.into()),
    };
    match store.txn(vec![guard, Op::Put(key(order), to.into())]).await {
        Ok(_) => Ok(()),
        Err(TxnError::Condition { .. }) => Err(None),
        Err(TxnError::Unknown) => Err(Some(Reply::Unknown)),
    }
}

async fn charge(
    store: &StoreClient,
    ep: &Endpoint,
    gateway: NodeId,
    order: u32,
    customer: u32,
    amount: i64,
    state: Option<&str>,
) -> Option<Reply> {
    match state {
        Some("charged") => return Some(Reply::Done),
        Some("declined") => return Some(Reply::Failed(Failure::Declined)),
        Some("refunding" | "refunded") => return Some(Reply::Failed(Failure::Compensated)),
        Some("charging") => {}
        None => {
            if let Err(retry_or_reply) = set(store, order, None, "charging").await {
                return retry_or_reply;
            }
        }
        Some(other) => panic!("payment {order} in unknown state {other:?}"),
    }
    let req = GatewayReq::Charge { key: charge_key(order), order, customer, amount };
    let (to, reply) = match ep.call(gateway, req, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Charged) => ("charged", Reply::Done),
        Ok(GatewayRsp::Declined) => ("declined", Reply::Failed(Failure::Declined)),
        Ok(other) => panic!("gateway answered a charge with {other:?}"),
        Err(_) => return Some(Reply::Unknown),
    };
    set(store, order, Some("charging"), to).await.err().unwrap_or(Some(reply))
}

async fn refund(
    store: &StoreClient,
    ep: &Endpoint,
    gateway: NodeId,
    order: u32,
    state: Option<&str>,
) -> Option<Reply> {
    match state {
        Some("refunded") => return Some(Reply::Done),
        Some("refunding") => {}
        // Blocks any charge from here on, including one still in flight.
        other => {
            if let Err(retry_or_reply) = set(store, order, other, "refunding").await {
                return retry_or_reply;
            }
        }
    }
    match ep.call(gateway, GatewayReq::Refund { key: charge_key(order) }, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Refunded | GatewayRsp::NothingToRefund) => {}
        Ok(other) => panic!("gateway answered a refund with {other:?}"),
        Err(_) => return Some(Reply::Unknown),
    }
    set(store, order, Some("refunding"), "refunded").await.err().unwrap_or(Some(Reply::Done))
}
