//! The participant side of TCC's and 2PC's branches: what the inventory,
//! payment and points services do on a Try (2PC: prepare), a Confirm
//! (commit) and a Cancel (abort). Each runs behind a [barrier];
//! `lock` is 2PC's row lock, `None` for TCC. The business changes are the
//! shop's effects ([`inventory::hold`], [`points::promise`], …).

use super::coordinator::Branch;
use crate::mutant;
use crate::shop::barrier;
use crate::shop::gateway::{GatewayReq, GatewayRsp, Status};
use crate::shop::payment::{self, hold_key, PaymentState::*};
use crate::shop::Shop;
use crate::shop::{inventory, points, Failure, Reply, GATEWAY_TIMEOUT};
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeId, Op, StoreClient, TxnError};
use serde::Serialize;

/// The branches' names in their barrier rows; an order's stock branches are
/// one per line, `inventory/{line}` (see [`inventory`](fn@inventory)).
pub const INVENTORY: &str = "inventory";
pub const PAYMENT: &str = "payment";
pub const POINTS: &str = "points";

// ---- inventory: hold the stock, then sell it or release it ----

/// The barrier name of an order line's stock branch: several branches of one
/// transaction meet at the inventory, and their rows must not be confused.
pub fn inventory(ep: &Endpoint, line: u32) -> String {
    match mutant::acts(ep, &mutant::BARRIER_WITHOUT_LINE) {
        true => INVENTORY.to_string(), // one row for every line of the order
        false => format!("{INVENTORY}/{line}"),
    }
}

pub async fn reserve(
    store: &StoreClient,
    (order, line): (u32, u32),
    sku: u32,
    qty: i64,
    lock: Option<&str>,
) -> Reply {
    let hold = inventory::hold(sku, qty, inventory::floor(store.endpoint())).to_vec();
    let branch = inventory(store.endpoint(), line);
    barrier::try_branch(store, order, &branch, qty, lock, hold, |_| Failure::OutOfStock).await
}

pub async fn sell(store: &StoreClient, (order, line): (u32, u32), sku: u32, lock: Option<&str>) -> Reply {
    let sell = |qty: i64| inventory::sell_held(order, line, sku, qty).to_vec();
    barrier::confirm_branch(store, order, &inventory(store.endpoint(), line), lock, sell).await
}

pub async fn release(store: &StoreClient, (order, line): (u32, u32), sku: u32, lock: Option<&str>) -> Reply {
    let release = |qty: i64| inventory::release_held(sku, qty).to_vec();
    barrier::cancel_branch(store, order, &inventory(store.endpoint(), line), lock, release).await
}

// ---- payment: authorize at the gateway, then capture or void ----

/// TCC Try: the barrier first — so a Cancel that came first refuses us before
/// the gateway hears anything — then the authorization, idempotent by key.
pub async fn authorize(
    store: &StoreClient,
    ep: &Endpoint,
    gw: NodeId,
    order: u32,
    customer: u32,
    amount: i64,
    lock: Option<&str>,
) -> Reply {
    let mark = vec![Op::Put(payment::key(order), Authorizing.into())];
    match barrier::try_branch(store, order, PAYMENT, amount, lock, mark, |_| Failure::Declined).await {
        Reply::Done => {}
        other => return other,
    }
    let req = GatewayReq::Authorize { key: hold_key(order), order, customer, amount };
    let (to, reply) = match ep.call(gw, req, GATEWAY_TIMEOUT).await {
        // Captured, or captured and refunded since (the order did not ship): a
        // repeated Try finds the whole story already told.
        Ok(GatewayRsp::Done(Status::Authorized | Status::Captured | Status::Refunded)) => {
            (Authorized, Reply::Done)
        }
        // Voided: our own Cancel reached the gateway first.
        Ok(GatewayRsp::Done(Status::Declined | Status::Void | Status::Voided)) => {
            (Declined, Reply::Failed(Failure::Declined))
        }
        Ok(other) => panic!("gateway answered an authorization with {other:?}"),
        Err(_) => return Reply::Unknown,
    };
    match store
        .txn(vec![
            Op::Expect(payment::key(order), Some(Authorizing.into())),
            Op::Put(payment::key(order), to.into()),
        ])
        .await
    {
        Ok(_) | Err(TxnError::Condition { .. }) => reply,
        Err(TxnError::Unknown) => Reply::Unknown,
    }
}

/// TCC Confirm: capture at the gateway first (idempotent), then the barrier: a
/// crash between the two captures again, harmlessly, on the retry.
pub async fn capture(
    store: &StoreClient,
    ep: &Endpoint,
    gw: NodeId,
    order: u32,
    lock: Option<&str>,
) -> Reply {
    match ep.call(gw, GatewayReq::Capture { key: hold_key(order) }, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Done(Status::Captured)) => {}
        // Confirm without a hold: the shop's records and the gateway disagree.
        Ok(GatewayRsp::Done(_)) => return Reply::Failed(Failure::Inconsistent),
        Ok(other) => panic!("capture of order {order} answered {other:?}"),
        Err(_) => return Reply::Unknown,
    }
    barrier::confirm_branch(store, order, PAYMENT, lock, |_| {
        vec![Op::Put(payment::key(order), Charged.into())]
    })
    .await
}

/// TCC Cancel: void at the gateway (which also kills a key never authorized, so
/// a late authorization is declined), then the barrier.
pub async fn void(store: &StoreClient, ep: &Endpoint, gw: NodeId, order: u32, lock: Option<&str>) -> Reply {
    match ep.call(gw, GatewayReq::Void { key: hold_key(order) }, GATEWAY_TIMEOUT).await {
        Ok(GatewayRsp::Done(Status::Voided | Status::Void | Status::Declined)) => {}
        // Cancel after a capture: the shop's records and the gateway disagree.
        Ok(GatewayRsp::Done(_)) => return Reply::Failed(Failure::Inconsistent),
        Ok(other) => panic!("void of order {order} answered {other:?}"),
        Err(_) => return Reply::Unknown,
    }
    barrier::cancel_branch(store, order, PAYMENT, lock, |_| vec![Op::Put(payment::key(order), Voided.into())])
        .await
}

// ---- after the commit: give a part back ----

/// What a coordinator asks a participant after the commit, for an order that
/// did not ship (every part) or shipped without some lines (those lines'
/// stock and money). The same in TCC and 2PC: the transaction is over, so
/// these are the shop's own compensations, with no barrier and no lock.
#[derive(Clone, Debug, Serialize)]
pub enum GiveBack {
    /// Put back the stock line `line` took.
    Stock { order: u32, line: u32, sku: u32 },
    /// Refund the capture in full (the gateway knows it by the authorization's key).
    Payment { order: u32 },
    /// Refund `amount`, line `line`'s, of the capture: once.
    PaymentLine { order: u32, line: u32, amount: i64 },
    /// Take back the points granted.
    Points { order: u32, customer: u32 },
}

impl GiveBack {
    /// The participant that takes it, and the request, for branch `b` of `o`
    /// (the whole branch), or `line`'s money with `Branch::Payment`.
    pub fn of(shop: &Shop, b: Branch, o: &Order, line: Option<u32>) -> (NodeId, GiveBack) {
        let order = o.id;
        match (b, line) {
            (Branch::Payment, None) => (shop.payment, GiveBack::Payment { order }),
            (Branch::Payment, Some(line)) => {
                let amount = o.lines[line as usize].amount;
                (shop.payment, GiveBack::PaymentLine { order, line, amount })
            }
            (Branch::Inventory(line), _) => {
                (shop.inventory, GiveBack::Stock { order, line, sku: o.lines[line as usize].sku })
            }
            (Branch::Points, _) => (shop.points, GiveBack::Points { order, customer: o.customer }),
            (Branch::Declared(_), _) => unreachable!("a declared branch is given back by its own undo"),
        }
    }
}

/// Serves a [`GiveBack`]; idempotent.
pub async fn give_back(store: &StoreClient, ep: &Endpoint, gw: NodeId, req: GiveBack) -> Reply {
    match req {
        GiveBack::Stock { order, line, sku } => inventory::restock(store, order, line, sku).await,
        GiveBack::Payment { order } => payment::refund_charge(store, ep, gw, order, &hold_key(order)).await,
        GiveBack::PaymentLine { order, line, amount } => {
            payment::refund_line(ep, gw, &hold_key(order), line, amount).await
        }
        GiveBack::Points { order, customer } => points::revoke(store, order, customer).await,
    }
}

// ---- points: promise, then grant or withdraw ----

pub async fn promise(
    store: &StoreClient,
    order: u32,
    customer: u32,
    points: i64,
    lock: Option<&str>,
) -> Reply {
    let promise = vec![points::promise(customer, points)];
    barrier::try_branch(store, order, POINTS, points, lock, promise, |_| Failure::NotPending).await
}

pub async fn grant(store: &StoreClient, order: u32, customer: u32, lock: Option<&str>) -> Reply {
    let grant = |n: i64| {
        vec![
            Op::Incr { key: points::pending(customer), by: -n, floor: 0 },
            points::credit(customer, n),
            Op::Put(points::awarded(order), n.into()),
        ]
    };
    barrier::confirm_branch(store, order, POINTS, lock, grant).await
}

pub async fn withdraw(store: &StoreClient, order: u32, customer: u32, lock: Option<&str>) -> Reply {
    let withdraw = |n: i64| vec![Op::Incr { key: points::pending(customer), by: -n, floor: 0 }];
    barrier::cancel_branch(store, order, POINTS, lock, withdraw).await
}
