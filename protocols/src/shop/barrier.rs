//! TCC branch barriers (DTM's "sub-transaction barrier", Seata's TCC fence): one
//! row per order, branch and phase, written in the same local transaction as the
//! business change. They make every branch call safe to repeat and to reorder:
//! - a repeated Try, Confirm or Cancel finds its row and changes nothing;
//! - a Cancel with no Try before it (an *empty rollback*) records itself and
//!   undoes nothing;
//! - a Try that arrives after its Cancel (*hanging*, or suspension) finds the
//!   Cancel row and is refused, so nothing stays reserved forever.
//!
//! The 2PC baseline uses the same rows as its participants' record of a
//! prepared transaction, plus a **row lock** given as a parameter
//! ([`crate::builtin::twopc`] names them): taken by prepare in the same
//! transaction, held until commit or abort releases it — which is what makes
//! 2PC block.

use crate::mutant;
use crate::shop::{Failure, Reply};
use faultline_sim::{Endpoint, Op, StoreClient, TxnError, Value};
use std::future::Future;
use std::time::Duration;

/// Releases `lock` if this order holds it.
fn release(lock: Option<&str>, order: u32) -> Vec<Op> {
    lock.map(|l| vec![Op::Expect(l.to_string(), Some(Value::Int(order as i64))), Op::Delete(l.to_string())])
        .unwrap_or_default()
}

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

/// Runs a Try (or a 2PC prepare, which also takes `lock`): `business` ops
/// applied once, with the barrier. `value` is kept in the Try row for Confirm
/// and Cancel to read (the quantity, the points). A business condition failing
/// is `on_business` of its index in `business`; a lock held by another
/// transaction is [`Failure::Locked`].
pub async fn try_branch(
    store: &StoreClient,
    order: u32,
    branch: &str,
    value: i64,
    lock: Option<&str>,
    business: Vec<Op>,
    on_business: impl FnOnce(usize) -> Failure,
) -> Reply {
    let ep = store.endpoint();
    let cancelled = key(order, branch, Phase::Cancel);
    let hang_guard = if mutant::acts(ep, &mutant::TCC_NO_HANG_GUARD) {
        Op::Get(cancelled) // looks, refuses nothing
    } else if mutant::acts(ep, &mutant::TCC_TRY_CHECK_THEN_ACT) {
        // The hand-written barrier DTM warns about: check for the Cancel in one
        // round trip, reserve in another; a Cancel landing between is missed.
        match store.txn(vec![Op::Get(cancelled.clone())]).await {
            Ok(r) if r[0].value().is_some() => return Reply::Failed(Failure::Compensated),
            Ok(_) => Op::Get(cancelled),
            Err(_) => return Reply::Unknown,
        }
    } else {
        Op::Expect(cancelled, None)
    };
    let mut ops = vec![Op::InsertIfAbsent(key(order, branch, Phase::Try), Value::Int(value)), hang_guard];
    let locks = lock.map(|l| vec![Op::InsertIfAbsent(l.to_string(), Value::Int(order as i64))]);
    let n_locks = locks.as_ref().map_or(0, Vec::len);
    ops.extend(locks.unwrap_or_default());
    ops.extend(business);
    if mutant::acts(ep, &mutant::TCC_BARRIER_OUTSIDE_TXN) {
        // The barrier commits alone; the business change follows in a second
        // transaction, and a retry after losing it finds the barrier: "tried".
        let business = ops.split_off(2);
        match store.txn(ops).await {
            Ok(_) => {}
            Err(TxnError::Condition { index: 0, .. }) => return Reply::Done,
            Err(TxnError::Condition { .. }) => return Reply::Failed(Failure::Compensated),
            Err(TxnError::Unknown) => return Reply::Unknown,
        }
        return match store.txn(business).await {
            Ok(_) => Reply::Done,
            Err(TxnError::Condition { index, .. }) if index < n_locks => Reply::Failed(Failure::Locked),
            Err(TxnError::Condition { index, .. }) => Reply::Failed(on_business(index - n_locks)),
            Err(TxnError::Unknown) => Reply::Unknown,
        };
    }
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(TxnError::Condition { index: 0, .. }) => Reply::Done, // tried before
        Err(TxnError::Condition { index: 1, .. }) => Reply::Failed(Failure::Compensated), // hang guard
        Err(TxnError::Condition { index, .. }) if index < 2 + n_locks => Reply::Failed(Failure::Locked),
        Err(TxnError::Condition { index, .. }) => Reply::Failed(on_business(index - 2 - n_locks)),
        Err(TxnError::Unknown) => Reply::Unknown,
    }
}

/// Runs a Confirm once: `business(tried value)` with the barrier.
pub async fn confirm_branch(
    store: &StoreClient,
    order: u32,
    branch: &str,
    lock: Option<&str>,
    business: impl FnOnce(i64) -> Vec<Op>,
) -> Reply {
    let Some(tried) = read_try(store, order, branch).await else { return Reply::Unknown };
    // The coordinator confirms only branches whose Try succeeded: no Try row
    // means this store lost it.
    let Some(value) = tried else { return Reply::Failed(Failure::Inconsistent) };
    let mut ops = match mutant::acts(store.endpoint(), &mutant::TCC_CONFIRM_NOT_IDEMPOTENT) {
        true => vec![Op::Put(key(order, branch, Phase::Confirm), Value::Int(1))], // records, never refuses
        false => vec![Op::InsertIfAbsent(key(order, branch, Phase::Confirm), Value::Int(1))],
    };
    ops.extend(business(value));
    ops.extend(release(lock, order));
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
    lock: Option<&str>,
    undo: impl Fn(i64) -> Vec<Op>,
) -> Reply {
    for _ in 0..5 {
        let Some(tried) = read_try(store, order, branch).await else { return Reply::Unknown };
        let mut ops = vec![Op::InsertIfAbsent(key(order, branch, Phase::Cancel), Value::Int(1))];
        match tried {
            Some(value) => {
                ops.push(Op::Expect(key(order, branch, Phase::Try), Some(Value::Int(value))));
                // Never undo a confirmed branch: a Cancel after the Confirm comes
                // only from a coordinator that lost its decision, and putting the
                // reservation back twice would take another order's.
                ops.push(Op::Expect(key(order, branch, Phase::Confirm), None));
                ops.extend(undo(value));
                ops.extend(release(lock, order));
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

// ---- 2PC's lock wait ----

/// How long a 2PC prepare waits for a lock another transaction holds before
/// it votes no (InnoDB's `innodb_lock_wait_timeout`, scaled to this shop).
const LOCK_WAIT: Duration = Duration::from_millis(400);
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Retries a prepare refused because another transaction holds its lock, for
/// up to [`LOCK_WAIT`]; then the refusal stands and the participant votes no.
pub async fn lock_wait<F, Fut>(ep: &Endpoint, mut prepare: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let mut waited = Duration::ZERO;
    loop {
        match prepare().await {
            Reply::Failed(Failure::Locked) if waited < LOCK_WAIT => {
                ep.sleep(LOCK_POLL).await;
                waited += LOCK_POLL;
            }
            other => return other,
        }
    }
}
