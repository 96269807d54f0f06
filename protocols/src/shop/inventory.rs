//! The inventory service: per SKU, `available + reserved + sold` is the initial
//! stock. A deduction and its compensation are each recorded per order, so both
//! are idempotent and a deduction that arrives after its compensation is refused.

use super::{barrier, labels, run_service, unknown_or, Failure, Reply};
use crate::mutant;
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

pub fn available(sku: u32) -> String {
    format!("stock/{sku:03}/available")
}
pub fn reserved(sku: u32) -> String {
    format!("stock/{sku:03}/reserved")
}
pub fn sold(sku: u32) -> String {
    format!("stock/{sku:03}/sold")
}
/// Present once the order's stock was deducted; holds the quantity.
pub fn deducted(order: u32) -> String {
    format!("deduct/{order:06}")
}
/// Present once the order's deduction was compensated; holds what was put back.
pub fn restocked(order: u32) -> String {
    format!("restock/{order:06}")
}

#[derive(Clone, Debug, Serialize)]
pub enum InventoryReq {
    /// Saga: take the stock now, or put it back.
    Deduct {
        order: u32,
        sku: u32,
        qty: i64,
    },
    Restock {
        order: u32,
        sku: u32,
    },
    /// TCC: hold the stock, then sell it or release it.
    TryReserve {
        order: u32,
        sku: u32,
        qty: i64,
    },
    ConfirmReserve {
        order: u32,
        sku: u32,
    },
    /// `qty` is the Try's, as TCC frameworks pass a branch's business
    /// parameters to all three phases; a correct Cancel reads its Try row instead.
    CancelReserve {
        order: u32,
        sku: u32,
        qty: i64,
    },
    /// 2PC: reserve under the SKU's row lock, then sell or release, unlocking.
    Prepare {
        order: u32,
        sku: u32,
        qty: i64,
    },
    Commit {
        order: u32,
        sku: u32,
    },
    Abort {
        order: u32,
        sku: u32,
    },
}

labels!(InventoryReq {
    InventoryReq::Deduct { .. } => "stock-deduct",
    InventoryReq::Restock { .. } => "stock-restock",
    InventoryReq::TryReserve { .. } => "stock-try",
    InventoryReq::ConfirmReserve { .. } => "stock-confirm",
    InventoryReq::CancelReserve { .. } => "stock-cancel",
    InventoryReq::Prepare { .. } => "stock-prepare",
    InventoryReq::Commit { .. } => "stock-commit",
    InventoryReq::Abort { .. } => "stock-abort",
});

const BRANCH: &str = "inventory";

/// The lowest `available` may go: 0, or -1 with the off-by-one mutant.
pub(crate) fn floor(ep: &Endpoint) -> i64 {
    match mutant::acts(ep, &mutant::STOCK_CHECK_OFF_BY_ONE) {
        true => -1, // `available > qty - 1`: the `=` of `available >= qty` went missing
        false => 0,
    }
}

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>) {
    run_service(ctx, db, handle).await
}

async fn handle(store: StoreClient, ep: Arc<Endpoint>, req: InventoryReq) -> Reply {
    match req {
        InventoryReq::Deduct { order, sku, qty } => {
            let ops = vec![
                Op::Expect(restocked(order), None),
                Op::InsertIfAbsent(deducted(order), qty.into()),
                Op::Incr { key: available(sku), by: -qty, floor: floor(&ep) },
                Op::Incr { key: sold(sku), by: qty, floor: 0 },
            ];
            match store.txn(ops).await {
                Ok(_) => Reply::Done,
                Err(e) => unknown_or(e, |index| match index {
                    0 => Reply::Failed(Failure::Compensated),
                    1 => Reply::Done,
                    _ => Reply::Failed(Failure::OutOfStock),
                }),
            }
        }
        InventoryReq::Restock { order, sku } => restock(&store, order, sku).await,
        InventoryReq::TryReserve { order, sku, qty } => reserve(&store, order, sku, qty, None).await,
        InventoryReq::Prepare { order, sku, qty } => {
            let lock = barrier::sku_lock(sku);
            barrier::lock_wait(&ep, || reserve(&store, order, sku, qty, Some(&lock))).await
        }
        InventoryReq::ConfirmReserve { order, sku } => sell(&store, order, sku, None).await,
        InventoryReq::Commit { order, sku } => sell(&store, order, sku, Some(&barrier::sku_lock(sku))).await,
        InventoryReq::CancelReserve { order, sku, qty } => {
            if mutant::acts(&ep, &mutant::TCC_NO_EMPTY_ROLLBACK) {
                if let Some(reply) = empty_rollback_bug(&store, order, sku, qty).await {
                    return reply;
                }
            }
            release(&store, order, sku, None).await
        }
        InventoryReq::Abort { order, sku } => {
            release(&store, order, sku, Some(&barrier::sku_lock(sku))).await
        }
    }
}

async fn reserve(store: &StoreClient, order: u32, sku: u32, qty: i64, lock: Option<&str>) -> Reply {
    let hold = vec![
        Op::Incr { key: available(sku), by: -qty, floor: floor(store.endpoint()) },
        Op::Incr { key: reserved(sku), by: qty, floor: 0 },
    ];
    barrier::try_branch(store, order, BRANCH, qty, lock, hold, |_| Failure::OutOfStock).await
}

async fn sell(store: &StoreClient, order: u32, sku: u32, lock: Option<&str>) -> Reply {
    let sell = |qty: i64| {
        vec![
            Op::Incr { key: reserved(sku), by: -qty, floor: 0 },
            Op::Incr { key: sold(sku), by: qty, floor: 0 },
            // The order's sold record, as the Saga keeps it.
            Op::Put(deducted(order), qty.into()),
        ]
    };
    barrier::confirm_branch(store, order, BRANCH, lock, sell).await
}

async fn release(store: &StoreClient, order: u32, sku: u32, lock: Option<&str>) -> Reply {
    let release = |qty: i64| {
        vec![
            Op::Incr { key: reserved(sku), by: -qty, floor: 0 },
            Op::Incr { key: available(sku), by: qty, floor: 0 },
        ]
    };
    barrier::cancel_branch(store, order, BRANCH, lock, release).await
}

async fn restock(store: &StoreClient, order: u32, sku: u32) -> Reply {
    if mutant::acts(store.endpoint(), &mutant::SAGA_COMPENSATION_NOT_IDEMPOTENT) {
        // Puts back what the order took, without asking whether it already did.
        let Ok(seen) = store.txn(vec![Op::Get(deducted(order))]).await else { return Reply::Unknown };
        let Some(qty) = seen[0].value().and_then(Value::as_int) else {
            let ops = vec![Op::Put(restocked(order), 0.into()), Op::Expect(deducted(order), None)];
            return if store.txn(ops).await.is_ok() { Reply::Done } else { Reply::Unknown };
        };
        let ops = vec![
            Op::Put(restocked(order), qty.into()),
            Op::Incr { key: available(sku), by: qty, floor: 0 },
            Op::Incr { key: sold(sku), by: -qty, floor: i64::MIN },
        ];
        return if store.txn(ops).await.is_ok() { Reply::Done } else { Reply::Unknown };
    }
    // Read, then write guarded by what was read; retry if a deduction raced us.
    for _ in 0..5 {
        let seen = match store.txn(vec![Op::Get(deducted(order)), Op::Get(restocked(order))]).await {
            Ok(r) => r,
            Err(_) => return Reply::Unknown,
        };
        if seen[1].value().is_some() {
            return Reply::Done;
        }
        let ops = match seen[0].value().cloned() {
            Some(Value::Int(qty)) => vec![
                Op::InsertIfAbsent(restocked(order), qty.into()),
                Op::Expect(deducted(order), Some(qty.into())),
                Op::Incr { key: available(sku), by: qty, floor: 0 },
                Op::Incr { key: sold(sku), by: -qty, floor: 0 },
            ],
            // Never deducted: record the compensation so a late deduction is refused.
            _ => vec![Op::InsertIfAbsent(restocked(order), 0.into()), Op::Expect(deducted(order), None)],
        };
        match store.txn(ops).await {
            Ok(_) => return Reply::Done,
            Err(TxnError::Unknown) => return Reply::Unknown,
            Err(TxnError::Condition { .. }) => continue,
        }
    }
    Reply::Unknown
}

/// The bug: a Cancel whose Try never arrived "releases" the quantity it was
/// given, into stock that never left. `None`: the Try did run; cancel normally.
async fn empty_rollback_bug(store: &StoreClient, order: u32, sku: u32, qty: i64) -> Option<Reply> {
    let tried = store.txn(vec![Op::Get(barrier::key(order, BRANCH, barrier::Phase::Try))]).await;
    match tried {
        Ok(r) if r[0].value().is_none() => {
            let ops = vec![
                Op::InsertIfAbsent(barrier::key(order, BRANCH, barrier::Phase::Cancel), 1.into()),
                Op::Incr { key: available(sku), by: qty, floor: 0 },
            ];
            Some(match store.txn(ops).await {
                Ok(_) | Err(TxnError::Condition { .. }) => Reply::Done,
                Err(TxnError::Unknown) => Reply::Unknown,
            })
        }
        Ok(_) => None,
        Err(_) => Some(Reply::Unknown),
    }
}
