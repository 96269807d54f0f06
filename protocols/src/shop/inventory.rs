//! The inventory service: per SKU, `available + reserved + sold` is the initial
//! stock. The stock effects every protocol applies are defined here once; the
//! service's own API is the direct pair — deduct and restock — each recorded
//! per order line, so both are idempotent and a deduction that arrives after
//! its compensation is refused. Lines are numbered from 0 in the order.

use super::{labels, run_service, unknown_or, Failure, Reply};
use crate::mutant;
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

pub fn available(sku: u32) -> String {
    crate::id::padded("stock/", sku, 3, "/available")
}
pub fn reserved(sku: u32) -> String {
    crate::id::padded("stock/", sku, 3, "/reserved")
}
pub fn sold(sku: u32) -> String {
    crate::id::padded("stock/", sku, 3, "/sold")
}
/// Present once line `line` of the order was deducted; holds the quantity.
pub fn deducted(order: u32, line: u32) -> String {
    crate::id::line_key(&["deduct/"], order, line)
}
/// Present once that line's deduction was compensated; holds what was put back.
pub fn restocked(order: u32, line: u32) -> String {
    crate::id::line_key(&["restock/"], order, line)
}

// ---- the stock effects, defined once for every protocol ----

/// Takes `qty` of `sku` out of stock, sold at once; `floor` is [`floor`]'s.
pub fn take(sku: u32, qty: i64, floor: i64) -> [Op; 2] {
    [Op::Incr { key: available(sku), by: -qty, floor }, Op::Incr { key: sold(sku), by: qty, floor: 0 }]
}

/// Puts back what [`take`] took.
pub fn put_back(sku: u32, qty: i64) -> [Op; 2] {
    [Op::Incr { key: available(sku), by: qty, floor: 0 }, Op::Incr { key: sold(sku), by: -qty, floor: 0 }]
}

/// Sets `qty` of `sku` aside for an order: available → reserved.
pub fn hold(sku: u32, qty: i64, floor: i64) -> [Op; 2] {
    [Op::Incr { key: available(sku), by: -qty, floor }, Op::Incr { key: reserved(sku), by: qty, floor: 0 }]
}

/// Sells what [`hold`] set aside, with the order line's sale record.
pub fn sell_held(order: u32, line: u32, sku: u32, qty: i64) -> [Op; 3] {
    [
        Op::Incr { key: reserved(sku), by: -qty, floor: 0 },
        Op::Incr { key: sold(sku), by: qty, floor: 0 },
        Op::Put(deducted(order, line), qty.into()),
    ]
}

/// Releases what [`hold`] set aside.
pub fn release_held(sku: u32, qty: i64) -> [Op; 2] {
    [Op::Incr { key: reserved(sku), by: -qty, floor: 0 }, Op::Incr { key: available(sku), by: qty, floor: 0 }]
}

/// The lowest `available` may go: 0, or -1 with the off-by-one mutant.
pub fn floor(ep: &Endpoint) -> i64 {
    match mutant::acts(ep, &mutant::STOCK_CHECK_OFF_BY_ONE) {
        true => -1, // `available > qty - 1`: the `=` of `available >= qty` went missing
        false => 0,
    }
}

// ---- the service's API ----

#[derive(Clone, Debug, Serialize)]
pub enum InventoryReq {
    /// Take the stock of one line now.
    Deduct { order: u32, line: u32, sku: u32, qty: i64 },
    /// Put back what the line took, if anything; bars a later deduction.
    Restock { order: u32, line: u32, sku: u32 },
}

labels!(InventoryReq {
    InventoryReq::Deduct { .. } => "stock-deduct",
    InventoryReq::Restock { .. } => "stock-restock",
});

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, handle).await
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, req: InventoryReq) -> Reply {
    match req {
        InventoryReq::Deduct { order, line, sku, qty } => {
            let mut ops = vec![
                Op::Expect(restocked(order, line), None),
                Op::InsertIfAbsent(deducted(order, line), qty.into()),
            ];
            ops.extend(take(sku, qty, floor(&ep)));
            match store.txn(ops).await {
                Ok(_) => Reply::Done,
                Err(e) => unknown_or(e, |index| match index {
                    0 => Reply::Failed(Failure::Compensated),
                    1 => Reply::Done,
                    _ => Reply::Failed(Failure::OutOfStock),
                }),
            }
        }
        InventoryReq::Restock { order, line, sku } => restock(&store, order, line, sku).await,
    }
}

/// Puts back what line `line` of `order` took, once; a line never deducted is
/// recorded as compensated, so a late deduction is refused.
pub async fn restock(store: &StoreClient, order: u32, line: u32, sku: u32) -> Reply {
    if mutant::acts(store.endpoint(), &mutant::SAGA_COMPENSATION_NOT_IDEMPOTENT) {
        // Puts back what the order took, without asking whether it already did.
        let Ok(seen) = store.txn(vec![Op::Get(deducted(order, line))]).await else { return Reply::Unknown };
        let Some(qty) = seen[0].value().and_then(Value::as_int) else {
            let ops =
                vec![Op::Put(restocked(order, line), 0.into()), Op::Expect(deducted(order, line), None)];
            return if store.txn(ops).await.is_ok() { Reply::Done } else { Reply::Unknown };
        };
        let ops = vec![
            Op::Put(restocked(order, line), qty.into()),
            Op::Incr { key: available(sku), by: qty, floor: 0 },
            Op::Incr { key: sold(sku), by: -qty, floor: i64::MIN },
        ];
        return if store.txn(ops).await.is_ok() { Reply::Done } else { Reply::Unknown };
    }
    // Read, then write guarded by what was read; retry if a deduction raced us.
    for _ in 0..5 {
        let seen =
            match store.txn(vec![Op::Get(deducted(order, line)), Op::Get(restocked(order, line))]).await {
                Ok(r) => r,
                Err(_) => return Reply::Unknown,
            };
        if seen[1].value().is_some() {
            return Reply::Done;
        }
        let ops = match seen[0].value().cloned() {
            Some(Value::Int(qty)) => {
                let mut ops = vec![
                    Op::InsertIfAbsent(restocked(order, line), qty.into()),
                    Op::Expect(deducted(order, line), Some(qty.into())),
                ];
                ops.extend(put_back(sku, qty));
                ops
            }
            // Never deducted: record the compensation so a late deduction is refused.
            _ => vec![
                Op::InsertIfAbsent(restocked(order, line), 0.into()),
                Op::Expect(deducted(order, line), None),
            ],
        };
        match store.txn(ops).await {
            Ok(_) => return Reply::Done,
            Err(TxnError::Unknown) => return Reply::Unknown,
            Err(TxnError::Condition { .. }) => continue,
        }
    }
    Reply::Unknown
}
