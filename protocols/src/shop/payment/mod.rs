//! The payment service: charges and refunds through the external gateway, always
//! with the order's idempotency key, and records each payment's state
//! (`charging` → `charged` | `declined`, then `refunding` → `refunded`; the
//! whole machine, authorizations included, is [`PaymentState`]).
//!
//! Charges are asynchronous, as with real providers: the gateway accepts, and
//! the outcome arrives by callback. Callbacks get lost, so a charge that has
//! waited long enough asks the gateway (`Query`) — the truth — instead.

use super::gateway::{GatewayReq, GatewayRsp, Status};
use super::{labels, run_service, Failure, Reply, GATEWAY_TIMEOUT};
use crate::mutant;
use faultline_sim::{Endpoint, NodeCtx, NodeId, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

mod state;
pub use state::PaymentState;
use PaymentState::*;

pub fn key(order: u32) -> String {
    crate::id::key("pay/", order)
}

/// The idempotency key of an order's charge at the gateway.
pub fn charge_key(order: u32) -> String {
    format!("charge-{order}")
}

/// The idempotency key of an order's authorization at the gateway (TCC's
/// try, 2PC's prepare): the payment participant's convention, so the
/// reconciler can tell an order's own payment from a stray one.
pub fn hold_key(order: u32) -> String {
    format!("hold-{order}")
}

#[derive(Clone, Debug, Serialize)]
pub enum PaymentReq {
    Charge {
        order: u32,
        customer: u32,
        amount: i64,
    },
    Refund {
        order: u32,
    },
    /// Refund one line the order shipped without: `amount` of its charge, once.
    RefundLine {
        order: u32,
        line: u32,
        amount: i64,
    },
    /// From the gateway: the outcome of an asynchronous charge.
    Callback {
        key: String,
        status: Status,
    },
}

labels!(PaymentReq {
    PaymentReq::Charge { .. } => "pay-charge",
    PaymentReq::Refund { .. } => "pay-refund",
    PaymentReq::RefundLine { .. } => "pay-refund-line",
    PaymentReq::Callback { .. } => "pay-callback",
});

/// How long a charge waits for its callback before asking the gateway.
const CALLBACK_WAIT: Duration = Duration::from_millis(300);
const CALLBACK_POLL: Duration = Duration::from_millis(50);

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, gateway: NodeId) {
    run_service(ctx, db, move |store, ep, req| handle(store, ep, gateway, req)).await
}

pub(crate) async fn handle(store: StoreClient, ep: Arc<Endpoint>, gateway: NodeId, req: PaymentReq) -> Reply {
    match req {
        PaymentReq::Charge { order, customer, amount } => {
            settle(&store, order, |state| charge(&store, &ep, gateway, order, customer, amount, state)).await
        }
        PaymentReq::Refund { order } => refund_charge(&store, &ep, gateway, order, &charge_key(order)).await,
        PaymentReq::RefundLine { order, line, amount } => {
            refund_line(&ep, gateway, &charge_key(order), line, amount).await
        }
        PaymentReq::Callback { key, status } => callback(&store, &key, status).await,
    }
}

/// Refunds the payment of `order`, which the gateway knows by `key` (the
/// charge's, or a captured authorization's), in full and once.
pub async fn refund_charge(
    store: &StoreClient,
    ep: &Endpoint,
    gateway: NodeId,
    order: u32,
    key: &str,
) -> Reply {
    settle(store, order, |state| refund(store, ep, gateway, order, key, state)).await
}

/// Refunds line `line` of a charge the gateway knows by `key`: `amount`, once
/// (the gateway keys the refund by charge and line). The payment stays
/// charged: the order completed, without that line.
pub async fn refund_line(ep: &Endpoint, gateway: NodeId, key: &str, line: u32, amount: i64) -> Reply {
    let amount = match mutant::acts(ep, &mutant::PARTIAL_REFUND_ROUNDING) {
        true => amount / 100 * 100, // worked out in whole dollars: the cents are lost
        false => amount,
    };
    let req = GatewayReq::RefundPart { key: key.to_string(), part: line, amount };
    match ep.call(gateway, req, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Done(_)) => Reply::Done,
        Ok(other) => panic!("gateway answered a partial refund with {other:?}"),
        Err(_) => Reply::Unknown,
    }
}

/// A few rounds of read-decide-write; each write is guarded by what was read,
/// and `step` answers `None` when the state moved under it.
async fn settle<F, Fut>(store: &StoreClient, order: u32, step: F) -> Reply
where
    F: Fn(Option<PaymentState>) -> Fut,
    Fut: std::future::Future<Output = Option<Reply>>,
{
    for _ in 0..5 {
        let state = match store.txn(vec![Op::Get(key(order))]).await {
            Ok(r) => r[0].value().and_then(Value::as_text).map(parse_state),
            Err(_) => return Reply::Unknown,
        };
        if let Some(reply) = step(state).await {
            return reply;
        }
    }
    Reply::Unknown
}

/// Moves the payment from `from` (None: absent) to `to`. On failure: `None` if the
/// state moved under us (read again), `Some(Unknown)` if the store did not answer.
async fn set(
    store: &StoreClient,
    order: u32,
    from: Option<PaymentState>,
    to: PaymentState,
) -> Result<(), Option<Reply>> {
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
    state: Option<PaymentState>,
) -> Option<Reply> {
    match state {
        Some(Charged) => return Some(Reply::Done),
        Some(Declined) => return Some(Reply::Failed(Failure::Declined)),
        Some(Refunding | Refunded) => return Some(Reply::Failed(Failure::Compensated)),
        Some(Charging) => {}
        None => {
            if let Err(retry_or_reply) = set(store, order, None, Charging).await {
                return retry_or_reply;
            }
        }
        Some(other) => panic!("payment {order} in unknown state {other:?}"),
    }
    let notify = ep.node();
    let key = match mutant::acts(ep, &mutant::PAYMENT_NO_IDEMPOTENCY_KEY) {
        // No key of ours: to the gateway, every attempt is a new charge.
        true => format!("{}~{}", charge_key(order), madsim::rand::random::<u32>()),
        false => charge_key(order),
    };
    let req = GatewayReq::ChargeAsync { key: key.clone(), order, customer, amount, notify };
    let status = match ep.call(gateway, req, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Done(s)) => s, // a known key answers at once
        Ok(GatewayRsp::Accepted) => match await_callback(ep, store, order).await {
            Some(reply) => return Some(reply),
            None => match ep.call(gateway, GatewayReq::Query { key }, GATEWAY_TIMEOUT).await {
                Ok(GatewayRsp::Is(s)) => s,
                _ => return Some(Reply::Unknown),
            },
        },
        Ok(other) => panic!("gateway answered a charge with {other:?}"),
        Err(_) => return Some(Reply::Unknown),
    };
    let (to, reply) = match status {
        Status::Charged => (Charged, Reply::Done),
        Status::Declined | Status::Void => (Declined, Reply::Failed(Failure::Declined)),
        // Refunded under us: a compensation got there first.
        Status::Refunded => return Some(Reply::Failed(Failure::Compensated)),
        other => panic!("gateway says charge-{order} is {other:?}"),
    };
    set(store, order, Some(Charging), to).await.err().unwrap_or(Some(reply))
}

/// Waits a little for the callback to record the charge's outcome.
async fn await_callback(ep: &Endpoint, store: &StoreClient, order: u32) -> Option<Reply> {
    let mut waited = Duration::ZERO;
    while waited < CALLBACK_WAIT {
        ep.sleep(CALLBACK_POLL).await;
        waited += CALLBACK_POLL;
        let state = store.txn(vec![Op::Get(key(order))]).await.ok()?;
        match state[0].value().and_then(Value::as_text).map(parse_state) {
            Some(Charged) => return Some(Reply::Done),
            Some(Declined) => return Some(Reply::Failed(Failure::Declined)),
            Some(Charging) => {}
            _ => return Some(Reply::Failed(Failure::Compensated)),
        }
    }
    None
}

/// Records a callback's outcome once: only a payment still charging moves, so a
/// duplicated, late or reordered callback changes nothing.
async fn callback(store: &StoreClient, key_: &str, status: Status) -> Reply {
    let order = key_.strip_prefix("charge-").and_then(|o| o.split('~').next()?.parse().ok());
    let order: u32 = order.expect("a charge key");
    let to = match status {
        Status::Charged => Charged,
        Status::Declined | Status::Void => Declined,
        _ => return Reply::Done,
    };
    if mutant::acts(store.endpoint(), &mutant::CALLBACK_NOT_DEDUPED) {
        // Whatever the payment's state now: a late duplicate rewrites it.
        return match store.txn(vec![Op::Put(key(order), to.into())]).await {
            Ok(_) => Reply::Done,
            Err(_) => Reply::Unknown,
        };
    }
    match set(store, order, Some(Charging), to).await {
        Ok(()) | Err(None) => Reply::Done,
        Err(Some(r)) => r,
    }
}

async fn refund(
    store: &StoreClient,
    ep: &Endpoint,
    gateway: NodeId,
    order: u32,
    key_: &str,
    state: Option<PaymentState>,
) -> Option<Reply> {
    if mutant::acts(ep, &mutant::SAGA_COMPENSATION_NOT_IDEMPOTENT) {
        // No look at what was already refunded, and no key for this refund.
        let req = GatewayReq::RefundUnkeyed { key: key_.to_string() };
        return match ep.call(gateway, req, GATEWAY_TIMEOUT).await {
            Ok(_) => set(store, order, state, Refunded).await.err().unwrap_or(Some(Reply::Done)),
            Err(_) => Some(Reply::Unknown),
        };
    }
    match state {
        Some(Refunded) => return Some(Reply::Done),
        Some(Refunding) => {}
        // Blocks any charge from here on, including one still in flight.
        other => {
            if let Err(retry_or_reply) = set(store, order, other, Refunding).await {
                return retry_or_reply;
            }
        }
    }
    match ep.call(gateway, GatewayReq::Refund { key: key_.to_string() }, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Done(Status::Refunded | Status::Void | Status::Declined)) => {}
        Ok(other) => panic!("gateway answered a refund with {other:?}"),
        Err(_) => return Some(Reply::Unknown),
    }
    set(store, order, Some(Refunding), Refunded).await.err().unwrap_or(Some(Reply::Done))
}

/// A payment row's state; a text no code of ours writes is a broken store.
fn parse_state(text: &str) -> PaymentState {
    PaymentState::parse(text).unwrap_or_else(|| panic!("payment in unknown state {text:?}"))
}
