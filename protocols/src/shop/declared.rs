//! A participant the workflow declares and no shop service implements — a
//! coupon book, a wallet, the sellers' accounts: one service that applies any
//! take or give the workflow declares at it to its own store, in every phase
//! an engine needs — apply and undo (a Saga, the outbox, after a commit), and
//! hold, confirm and release behind a [barrier] (TCC; 2PC
//! with a row lock). Its keys are the contract the checker reads.

use super::barrier::{self, lock_wait};
use super::cached::{self, Cached};
use super::{labels, Failure, Reply, STORE_TIMEOUT};
use crate::mutant;
use crate::workflow::{Dim, Effect, Initial, Per, Quantity, Workflow};
use crate::workload::{Line, Order, Workload};
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

// ---- the keys ----

/// What is on hand of quantity `q` for key `k` (`wallet/0003`).
pub fn on_hand(q: &str, k: &str) -> String {
    [q, "/", k].concat()
}

/// What a hold set aside (a take) or promised (a give) and no confirm or
/// release has settled yet.
pub fn held(q: &str, k: &str) -> String {
    [q, "/", k, "/held"].concat()
}

/// Present once step `step` applied to the order's line (0 for a per-order
/// step); holds how much.
pub fn did(step: &str, order: u32, line: u32) -> String {
    crate::id::line_key(&["did/", step, "/"], order, line)
}

/// Present once that application was undone; holds how much was put back
/// (0: never applied, and a late application is refused).
pub fn undid(step: &str, order: u32, line: u32) -> String {
    crate::id::line_key(&["undid/", step, "/"], order, line)
}

/// A declared step's barrier branch: `{step}/{line}`.
fn branch(step: &str, line: u32) -> String {
    let mut branch = [step, "/"].concat();
    crate::id::push_padded(&mut branch, line, 1);
    branch
}

/// The row lock 2PC takes on a quantity's key.
pub fn lock(q: &str, k: &str) -> String {
    ["lock/", q, "/", k].concat()
}

/// The key of `q` an order (and its line) names: each dimension, joined by `/`.
pub fn key_of(q: &Quantity, o: &Order, line: Option<&Line>) -> String {
    let line = || line.expect("rules::check: a per-line key belongs to a per-line operation");
    let mut key = String::with_capacity(16);
    for (i, d) in q.key.iter().enumerate() {
        if i > 0 {
            key.push('/');
        }
        match d {
            Dim::Customer => crate::id::push_padded(&mut key, o.customer, 4),
            Dim::Sku => crate::id::push_padded(&mut key, line().sku, 3),
            Dim::Seller => crate::id::push_padded(&mut key, line().seller(), 2),
        }
    }
    key
}

/// Every key of `q` in `workload`, with its initial value: what a deployment
/// preloads and what the checker conserves against.
pub fn initial(q: &Quantity, workload: &Workload) -> Vec<(String, i64)> {
    let count = |d: &Dim| match d {
        Dim::Customer => workload.balances.len() as u32,
        Dim::Sku => workload.stock.len() as u32,
        Dim::Seller => crate::workflow::SELLERS,
    };
    let width = |d: &Dim| match d {
        Dim::Customer => 4,
        Dim::Sku => 3,
        Dim::Seller => 2,
    };
    let mut keys: Vec<(Vec<String>, i64)> = vec![(Vec::new(), 0)];
    for d in &q.key {
        keys = keys
            .into_iter()
            .flat_map(|(k, _)| {
                (0..count(d)).map(move |n| {
                    let mut k = k.clone();
                    k.push(format!("{n:0w$}", w = width(d)));
                    let v = match q.initial {
                        Initial::Value(v) => v,
                        Initial::Drawn(crate::workflow::Draw::Stock) => workload.stock[n as usize],
                        Initial::Drawn(crate::workflow::Draw::Balance) => workload.balances[n as usize],
                    };
                    (k, v)
                })
            })
            .collect();
    }
    keys.into_iter().map(|(k, v)| (k.join("/"), v)).collect()
}

// ---- what an engine asks ----

/// One application of a declared step: to an order (line 0) or one of its lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The step's index in the workflow.
    pub step: u16,
    pub order: u32,
    pub line: u32,
    /// The quantity's key ([`key_of`]).
    pub key: String,
    pub amount: i64,
}

/// What step `step` of `w` applies for `o`: once for the order, or once per
/// line it ships (after the pivot only shipped lines count; a workflow with a
/// per-line declared step before the pivot ships every line, see
/// [`super::ships_short`]).
pub fn targets(w: &Workflow, step: usize, o: &Order) -> Vec<Target> {
    let op = w.operation(&w.steps[step].operation).expect("rules::check: steps name operations");
    let (quantity, amount) = match &op.effect {
        Effect::Take { quantity, amount } | Effect::Give { quantity, amount } => (quantity, *amount),
        other => unreachable!("bind: a declared step takes or gives, not {}", other.verb()),
    };
    let q = w.quantity(quantity).expect("rules::check: operations name quantities");
    let target = |line: u32, l: Option<&Line>| Target {
        step: step as u16,
        order: o.id,
        line,
        key: key_of(q, o, l),
        amount: amount.of(o, l),
    };
    match op.per {
        Per::Order => vec![target(0, None)],
        Per::Line => (0u32..)
            .zip(&o.lines)
            .filter(|(_, l)| !l.undeliverable)
            .map(|(i, l)| target(i, Some(l)))
            .collect(),
    }
}

/// What an engine asks a declared participant.
#[derive(Clone, Debug, Serialize)]
pub enum DeclaredReq {
    /// Apply now, once; refused after its undo.
    Apply(Target),
    /// Undo what was applied, if anything, once; bars a later apply.
    Undo(Target),
    /// TCC's try (2PC's prepare with `locked`): set it aside.
    Hold { target: Target, locked: bool },
    /// Apply what the hold set aside.
    Confirm { target: Target, locked: bool },
    /// Give back what the hold set aside, if it ran.
    Release { target: Target, locked: bool },
}

labels!(DeclaredReq {
    DeclaredReq::Apply(_) => "declared-apply",
    DeclaredReq::Undo(_) => "declared-undo",
    DeclaredReq::Hold { .. } => "declared-hold",
    DeclaredReq::Confirm { .. } => "declared-confirm",
    DeclaredReq::Release { .. } => "declared-release",
});

/// Serves declared participant `participant` under any engine; if it keeps
/// a quantity in a cache, syncs the cache's takes to its store too.
pub async fn serve(ctx: NodeCtx, participant: String, db: Arc<ReplicaSet>, workflow: Arc<Workflow>) {
    let ep = ctx.endpoint().await;
    let store = StoreClient::new(ep.clone(), db, STORE_TIMEOUT);
    let cache = Cached::of(&workflow, &participant, ctx.sim());
    if let Some(c) = &cache {
        tokio::spawn(c.clone().sync(store.clone(), ep.clone()));
    }
    let ep2 = ep.clone();
    ep.serve(move |req: DeclaredReq, _from| {
        let at = Here { w: workflow.clone(), store: store.clone(), ep: ep2.clone(), cache: cache.clone() };
        async move { at.handle(req).await }
    });
    std::future::pending::<()>().await
}

/// What a declared participant's handlers work with.
#[derive(Clone)]
struct Here {
    w: Arc<Workflow>,
    store: StoreClient,
    ep: Arc<Endpoint>,
    /// Its cache, if it keeps a quantity in one ([`cached`]).
    cache: Option<Arc<Cached>>,
}

/// Declared step `step`'s name and what it moves: (step, quantity, +1 for a
/// give or -1 for a take) — what every engine and the checker apply.
pub fn moves(w: &Workflow, step: usize) -> (&str, &str, i64) {
    let s = &w.steps[step];
    let op = w.operation(&s.operation).expect("rules::check: steps name operations");
    match &op.effect {
        Effect::Take { quantity, .. } => (&s.name, quantity, -1),
        Effect::Give { quantity, .. } => (&s.name, quantity, 1),
        other => unreachable!("bind: a declared step takes or gives, not {}", other.verb()),
    }
}

impl Here {
    async fn handle(&self, req: DeclaredReq) -> Reply {
        match req {
            DeclaredReq::Apply(t) => self.apply(&t).await,
            DeclaredReq::Undo(t) => self.undo(&t).await,
            DeclaredReq::Hold { target: t, locked } => self.hold(&t, locked).await,
            DeclaredReq::Confirm { target: t, locked } => {
                let (step, q, sign) = moves(&self.w, usize::from(t.step));
                let lock = locked.then(|| lock(q, &t.key));
                let confirm = |n: i64| {
                    let mut ops = vec![
                        Op::Incr { key: held(q, &t.key), by: -n, floor: 0 },
                        Op::Put(did(step, t.order, t.line), n.into()),
                    ];
                    if sign > 0 {
                        ops.push(Op::Incr { key: on_hand(q, &t.key), by: n, floor: i64::MIN });
                    }
                    ops
                };
                let branch = branch(step, t.line);
                barrier::confirm_branch(&self.store, t.order, &branch, lock.as_deref(), confirm).await
            }
            DeclaredReq::Release { target: t, locked } => {
                let (step, q, sign) = moves(&self.w, usize::from(t.step));
                let lock = locked.then(|| lock(q, &t.key));
                let cache = self.cache_for(q, sign);
                let release = |n: i64| {
                    let mut ops = vec![Op::Incr { key: held(q, &t.key), by: -n, floor: 0 }];
                    if sign < 0 {
                        ops.push(Op::Incr { key: on_hand(q, &t.key), by: n, floor: i64::MIN });
                    }
                    if cache.is_some() {
                        ops.push(Op::Delete(cached::intent(q, &t)));
                    }
                    ops
                };
                let branch = branch(step, t.line);
                let reply =
                    barrier::cancel_branch(&self.store, t.order, &branch, lock.as_deref(), release).await;
                if let (Some(c), Reply::Done) = (cache, reply) {
                    c.give_back(&self.ep, &t).await;
                }
                reply
            }
        }
    }

    /// The cache takes of `q` go through, if this is a take of a cached quantity.
    fn cache_for(&self, q: &str, sign: i64) -> Option<&Cached> {
        self.cache.as_deref().filter(|c| c.takes(q, sign))
    }

    /// Takes `t` of `q`: through the cache if `q` is cached, then its ops in
    /// the store; otherwise the ops take it from what is on hand, no lower
    /// than the floor.
    async fn take_ops(&self, q: &str, sign: i64, t: &Target) -> Result<Vec<Op>, Reply> {
        match self.cache_for(q, sign) {
            Some(c) => c.take(&self.store, &self.ep, t).await,
            None => Ok(vec![Op::Incr {
                key: on_hand(q, &t.key),
                by: sign * t.amount,
                floor: floor(&self.ep, sign),
            }]),
        }
    }

    /// TCC's try (2PC's prepare): sets `t` aside behind the barrier.
    async fn hold(&self, t: &Target, locked: bool) -> Reply {
        let (step, q, sign) = moves(&self.w, usize::from(t.step));
        let lock = locked.then(|| lock(q, &t.key));
        // A take sets its amount aside out of what is on hand; a give promises it.
        let mut hold = vec![Op::Incr { key: held(q, &t.key), by: t.amount, floor: 0 }];
        if sign < 0 {
            match self.take_ops(q, sign, t).await {
                Ok(take) => drop(hold.splice(0..0, take)),
                Err(reply) => return reply,
            }
        }
        let branch = branch(step, t.line);
        let try_ = || {
            barrier::try_branch(
                &self.store,
                t.order,
                &branch,
                t.amount,
                lock.as_deref(),
                hold.clone(),
                |_| Failure::NotEnough,
            )
        };
        let reply = lock_wait(&self.ep, lock.as_deref(), try_).await;
        // Cancelled first: no try can hold what the cache took any more. (A
        // try recorded earlier answers done and keeps it; one locked out
        // keeps it too, as a retry with the same token may yet hold it.)
        if let (Some(c), Reply::Failed(Failure::Compensated)) = (self.cache_for(q, sign), reply) {
            c.give_back(&self.ep, t).await;
        }
        reply
    }

    /// Applies the target once, in one local transaction with its record.
    async fn apply(&self, t: &Target) -> Reply {
        let (step, q, sign) = moves(&self.w, usize::from(t.step));
        let take = match self.take_ops(q, sign, t).await {
            Ok(take) => take,
            Err(reply) => return reply,
        };
        let mut ops = vec![
            Op::Expect(undid(step, t.order, t.line), None),
            Op::InsertIfAbsent(did(step, t.order, t.line), t.amount.into()),
        ];
        ops.extend(take);
        let cache = self.cache_for(q, sign);
        if cache.is_some() && mutant::acts(&self.ep, &mutant::CACHE_SALE_WRITTEN_BEHIND) {
            // The bug: the sale is confirmed now and written from memory later,
            // once; a crash before then, or a write with no answer, loses it.
            let store = self.store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(cached::WRITE_BEHIND).await;
                let _ = store.txn(ops).await;
            });
            return Reply::Done;
        }
        match self.store.txn(ops).await {
            Ok(_) => Reply::Done,
            Err(TxnError::Unknown) => Reply::Unknown,
            // Undone first: what the cache took goes back (once per token,
            // whoever asks).
            Err(TxnError::Condition { index: 0, .. }) => {
                if let Some(c) = cache {
                    c.give_back(&self.ep, t).await;
                }
                Reply::Failed(Failure::Compensated)
            }
            // Recorded by an earlier call, which made this take.
            Err(TxnError::Condition { index: 1, .. }) => Reply::Done,
            Err(TxnError::Condition { .. }) => Reply::Failed(Failure::NotEnough),
        }
    }

    /// Undoes what the target applied, once; a target never applied is
    /// recorded as undone with 0, so a late application is refused. Read,
    /// then write guarded by what was read; read again if an application raced us.
    async fn undo(&self, t: &Target) -> Reply {
        let (step, q, sign) = moves(&self.w, usize::from(t.step));
        let (did, undid) = (did(step, t.order, t.line), undid(step, t.order, t.line));
        let repeats = mutant::acts(&self.ep, &mutant::DECLARED_UNDO_NOT_IDEMPOTENT);
        let cache = self.cache_for(q, sign);
        let forget = || cache.map(|_| Op::Delete(cached::intent(q, t)));
        for _ in 0..5 {
            let seen = match self.store.txn(vec![Op::Get(did.clone()), Op::Get(undid.clone())]).await {
                Ok(r) => r,
                Err(_) => return Reply::Unknown,
            };
            if seen[1].value().is_some() && !repeats {
                return Reply::Done;
            }
            let mut ops = match seen[0].value().and_then(Value::as_int) {
                // The bug: puts back whatever was applied each time it is asked,
                // without asking whether it already did.
                Some(n) if repeats => vec![
                    Op::Put(undid.clone(), n.into()),
                    Op::Incr { key: on_hand(q, &t.key), by: -sign * n, floor: i64::MIN },
                ],
                Some(n) => vec![
                    Op::InsertIfAbsent(undid.clone(), n.into()),
                    Op::Expect(did.clone(), Some(n.into())),
                    Op::Incr { key: on_hand(q, &t.key), by: -sign * n, floor: i64::MIN },
                ],
                None => vec![Op::InsertIfAbsent(undid.clone(), 0.into()), Op::Expect(did.clone(), None)],
            };
            ops.extend(forget());
            match self.store.txn(ops).await {
                Ok(_) => {
                    if let Some(c) = cache {
                        c.give_back(&self.ep, t).await;
                    }
                    return Reply::Done;
                }
                Err(TxnError::Unknown) => return Reply::Unknown,
                Err(TxnError::Condition { index: 0, .. }) if repeats => return Reply::Done,
                Err(TxnError::Condition { .. }) => continue,
            }
        }
        Reply::Unknown
    }
}

/// The lowest a take may leave on hand: 0, unless the take is unchecked
/// (mutant) — a give has no floor.
pub fn floor(ep: &Endpoint, sign: i64) -> i64 {
    match sign < 0 && !mutant::acts(ep, &mutant::DECLARED_TAKE_UNCHECKED) {
        true => 0,
        false => i64::MIN,
    }
}
