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
use faultline_sim::{Endpoint, Op, Sim, StoreClient, TxnError, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

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
    let mut key = crate::id::key("barrier/", order);
    for part in ["/", branch, "/", p] {
        key.push_str(part);
    }
    key
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
    match commit_releasing(store, ops, lock).await {
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
        match commit_releasing(store, ops, lock).await {
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
/// A waiter looks again this often even unwoken: a release whose answer was
/// lost (the transaction committed, its caller heard nothing) wakes nobody.
const LOCK_RECHECK: Duration = Duration::from_millis(100);

/// One node's waiters, by lock row. As InnoDB queues a waiter on the lock
/// and wakes it when the lock is released, a prepare refused for a lock sleeps
/// until the commit or abort on this node that releases it — instead of
/// asking the store again every few milliseconds, which in a flash sale
/// (every order after the same few rows) was most of 2PC's traffic.
#[derive(Default)]
struct LockQueue(std::sync::Mutex<BTreeMap<String, Arc<Notify>>>);

impl LockQueue {
    fn of(ep: &Endpoint) -> Arc<LockQueue> {
        ep.local::<LockQueue>()
    }

    fn waiters(&self, lock: &str) -> Arc<Notify> {
        self.0.lock().unwrap().entry(lock.to_string()).or_default().clone()
    }

    /// `lock` was released: the longest waiter for it tries again (all of
    /// them at once would all try, and all but one would wait again).
    fn released(&self, lock: Option<&str>) {
        if let Some(waiters) = lock.and_then(|l| self.0.lock().unwrap().get(l).cloned()) {
            waiters.notify_one();
        }
    }
}

/// Commits `ops`, which release `lock` (if any) when they apply, and then
/// wakes the lock's next waiter on this node.
async fn commit_releasing(
    store: &StoreClient,
    ops: Vec<Op>,
    lock: Option<&str>,
) -> Result<Vec<faultline_sim::OpResult>, TxnError> {
    let done = store.txn(ops).await;
    if done.is_ok() && lock.is_some() {
        LockQueue::of(store.endpoint()).released(lock);
    }
    done
}

/// Retries a prepare refused because another transaction holds `lock`, each
/// time the lock is released on this node (or `LOCK_RECHECK` passed), until
/// `LOCK_WAIT` after the first refusal, by this node's clock; then the
/// refusal stands and the participant votes no.
pub async fn lock_wait<F, Fut>(ep: &Endpoint, lock: Option<&str>, mut prepare: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let queue = LockQueue::of(ep);
    let real = |local| ep.sim().real(ep.node(), local).as_micros() as u64;
    let mut give_up_us = None;
    let mut woken = false;
    loop {
        // Registered before the attempt: a release while it is on its way wakes it.
        let waiters = lock.map(|l| queue.waiters(l));
        let released = waiters.as_ref().map(|w| w.notified());
        let reply = prepare().await;
        let now = Sim::now_us();
        let give_up = *give_up_us.get_or_insert(now + real(LOCK_WAIT));
        let Some(released) = released.filter(|_| reply == Reply::Failed(Failure::Locked) && now < give_up)
        else {
            // Woken for a lock it did not take (refused, gave up, unknown): the
            // next waiter's turn.
            if woken && reply != Reply::Done {
                queue.released(lock);
            }
            return reply;
        };
        let nap = Duration::from_micros((give_up - now).min(real(LOCK_RECHECK)));
        woken = tokio::select! {
            biased;
            _ = released => true,
            _ = tokio::time::sleep(nap) => false,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::{World, WorldConfig};
    use std::sync::Mutex;

    /// A prepare refused for a lock is woken by the release on its node — it
    /// takes the lock right after, not at its next recheck — and one waiter
    /// is woken per release.
    #[test]
    fn a_lock_waiter_is_woken_by_the_release() {
        let mut world = World::new(1, WorldConfig::default());
        let db = world.store("db");
        let seen: Arc<Mutex<Vec<(u32, u64, Reply)>>> = Arc::default();
        let attempts: Arc<Mutex<BTreeMap<u32, u32>>> = Arc::default();
        let (log, tries) = (seen.clone(), attempts.clone());
        world.node("participant", move |ctx| {
            let (db, log, tries) = (db.clone(), log.clone(), tries.clone());
            async move {
                let store = StoreClient::new(ctx.endpoint().await, db, Duration::from_millis(150));
                let lock = Some("lock/sku-1");
                let prepare = move |store: StoreClient, order: u32| {
                    *tries.clone().lock().unwrap().entry(order).or_default() += 1;
                    async move {
                        try_branch(&store, order, "stock", 1, lock, vec![], |_| Failure::OutOfStock).await
                    }
                };
                tokio::time::sleep(Duration::from_millis(10)).await; // the store starts
                assert_eq!(prepare(store.clone(), 1).await, Reply::Done);
                let start = Sim::now_us();
                for order in [2, 3] {
                    let (store, log, prepare) = (store.clone(), log.clone(), prepare.clone());
                    tokio::spawn(async move {
                        let reply = lock_wait(store.endpoint(), lock, || prepare(store.clone(), order)).await;
                        log.lock().unwrap().push((order, Sim::now_us() - start, reply));
                    });
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                assert_eq!(confirm_branch(&store, 1, "stock", lock, |_| vec![]).await, Reply::Done);
                std::future::pending::<()>().await
            }
        });
        world.run(async { tokio::time::sleep(Duration::from_secs(1)).await });
        let seen = seen.lock().unwrap().clone();
        // One waiter took the lock within a round trip or two of the release
        // at 30 ms, well before the 100 ms recheck; the other is still behind
        // it and votes no after the lock wait.
        let done: Vec<_> = seen.iter().filter(|s| s.2 == Reply::Done).collect();
        assert_eq!(done.len(), 1, "{seen:?}");
        assert!(done[0].1 > 30_000 && done[0].1 < 60_000, "{seen:?}");
        let refused: Vec<_> = seen.iter().filter(|s| s.2 == Reply::Failed(Failure::Locked)).collect();
        assert_eq!(refused.len(), 1, "{seen:?}");
        assert!(refused[0].1 >= 400_000, "{seen:?}");
        // Woken once, not polling: the winner asked twice; the other asked
        // once, then at each recheck (or when passed the turn), not every few ms.
        let attempts = attempts.lock().unwrap().clone();
        assert_eq!(attempts[&done[0].0], 2, "{attempts:?}");
        assert!(attempts[&refused[0].0] <= 1 + 400 / 100 + 1, "{attempts:?}");
    }
}
