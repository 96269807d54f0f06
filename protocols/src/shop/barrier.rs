//! TCC branch barriers (DTM's "sub-transaction barrier", Seata's TCC fence): one
//! row per order, branch and phase, written in the same local transaction as the
//! business change. They make every branch call safe to repeat and to reorder:
//! - a repeated Try, Confirm or Cancel finds its row and changes nothing;
//! - a Cancel with no Try before it (an *empty rollback*) records itself and
//!   undoes nothing;
//! - a Try that arrives after its Cancel (*hanging*, or suspension) finds the
//!   Cancel row and is refused, so nothing stays reserved forever.

use super::{Failure, Reply};
use faultline_sim::{Op, StoreClient, TxnError, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Try,
    Confirm,
    Cancel,
}

pub fn key(order: u32, branch: &str, phase: Phase) -> String {
    let p = match phase {
        Phase::Try => "try",
        Phase::Confirm => "confirm",
        Phase::Cancel => "cancel",
    };
    format!("barrier/{order:06}/{branch}/{p}")
}

/// Runs a Try: `business` ops applied once, with the barrier. `value` is kept
/// in the Try row for Confirm and Cancel to read (the quantity, the points).
/// A business condition failing is `on_business` of its index in `business`.
pub async fn try_branch(
    store: &StoreClient,
    order: u32,
    branch: &str,
    value: i64,
    business: Vec<Op>,
    on_business: impl FnOnce(usize) -> Failure,
) -> Reply {
    let mut ops = vec![
        Op::InsertIfAbsent(key(order, branch, Phase::Try), Value::Int(value)),
        Op::Expect(key(order, branch, Phase::Cancel), None),
    ];
    ops.extend(business);
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(TxnError::Condition { index: 0, .. }) => Reply::Done, // tried before
        Err(TxnError::Condition { index: 1, .. }) => Reply::Failed(Failure::Compensated), // hang guard
        Err(TxnError::Condition { index, .. }) => Reply::Failed(on_business(index - 2)),
        Err(TxnError::Unknown) => Reply::Unknown,
    }
}

/// Runs a Confirm once: `business(tried value)` with the barrier.
pub async fn confirm_branch(
    store: &StoreClient,
    order: u32,
    branch: &str,
    business: impl FnOnce(i64) -> Vec<Op>,
) -> Reply {
    let Some(tried) = read_try(store, order, branch).await else { return Reply::Unknown };
    // The coordinator confirms only branches whose Try succeeded: no Try row
    // means this store lost it.
    let Some(value) = tried else { return Reply::Failed(Failure::Inconsistent) };
    let mut ops = vec![Op::InsertIfAbsent(key(order, branch, Phase::Confirm), Value::Int(1))];
    ops.extend(business(value));
    match store.txn(ops).await {
        Ok(_) | Err(TxnError::Condition { index: 0, .. }) => Reply::Done,
        Err(TxnError::Condition { .. }) => Reply::Failed(Failure::Inconsistent),
        Err(TxnError::Unknown) => Reply::Unknown,
    }
}

/// Runs a Cancel once: `undo(tried value)` if the Try ran, nothing if it did not
/// (empty rollback) — and either way the Cancel row bars a late Try.
pub async fn cancel_branch(
    store: &StoreClient,
    order: u32,
    branch: &str,
    undo: impl Fn(i64) -> Vec<Op>,
) -> Reply {
    for _ in 0..5 {
        let Some(tried) = read_try(store, order, branch).await else { return Reply::Unknown };
        let mut ops = vec![Op::InsertIfAbsent(key(order, branch, Phase::Cancel), Value::Int(1))];
        match tried {
            Some(value) => {
                ops.push(Op::Expect(key(order, branch, Phase::Try), Some(Value::Int(value))));
                ops.extend(undo(value));
            }
            None => ops.push(Op::Expect(key(order, branch, Phase::Try), None)),
        }
        match store.txn(ops).await {
            Ok(_) | Err(TxnError::Condition { index: 0, .. }) => return Reply::Done,
            // A Try landed between our read and our write: read again.
            Err(TxnError::Condition { index: 1, .. }) => continue,
            Err(TxnError::Condition { .. }) => return Reply::Failed(Failure::Inconsistent),
            Err(TxnError::Unknown) => return Reply::Unknown,
        }
    }
    Reply::Unknown
}

/// The Try row's value: `Some(None)` if no Try ran, `None` if the store did not answer.
async fn read_try(store: &StoreClient, order: u32, branch: &str) -> Option<Option<i64>> {
    let r = store.txn(vec![Op::Get(key(order, branch, Phase::Try))]).await.ok()?;
    Some(r[0].value().and_then(Value::as_int))
}
