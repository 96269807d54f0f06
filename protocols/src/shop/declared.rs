//! A participant the workflow declares and no shop service implements — a
//! coupon book, a wallet, the sellers' accounts: one service that applies any
//! take or give the workflow declares at it to its own store, in every phase
//! an engine needs — apply and undo (a Saga, the outbox, after a commit), and
//! hold, confirm and release behind a [barrier](super::barrier) (TCC; 2PC
//! with a row lock). Its keys are the contract the checker reads.

use super::barrier::{self, lock_wait};
use super::{labels, run_service, unknown_or, Failure, Reply};
use crate::mutant;
use crate::workflow::{Dim, Effect, Initial, Per, Quantity, Workflow};
use crate::workload::{Line, Order, Workload};
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use serde::Serialize;
use std::sync::Arc;

// ---- the keys ----

/// What is on hand of quantity `q` for key `k` (`wallet/0003`).
pub fn on_hand(q: &str, k: &str) -> String {
    format!("{q}/{k}")
}

/// What a hold set aside (a take) or promised (a give) and no confirm or
/// release has settled yet.
pub fn held(q: &str, k: &str) -> String {
    format!("{q}/{k}/held")
}

/// Present once step `step` applied to the order's line (0 for a per-order
/// step); holds how much.
pub fn did(step: &str, order: u32, line: u32) -> String {
    format!("did/{step}/{order:06}/{line}")
}

/// Present once that application was undone; holds how much was put back
/// (0: never applied, and a late application is refused).
pub fn undid(step: &str, order: u32, line: u32) -> String {
    format!("undid/{step}/{order:06}/{line}")
}

/// The row lock 2PC takes on a quantity's key.
pub fn lock(q: &str, k: &str) -> String {
    format!("lock/{q}/{k}")
}

/// The key of `q` an order (and its line) names: each dimension, joined by `/`.
pub fn key_of(q: &Quantity, o: &Order, line: Option<&Line>) -> String {
    let line = || line.expect("rules::check: a per-line key belongs to a per-line operation");
    let part = |d: &Dim| match d {
        Dim::Customer => format!("{:04}", o.customer),
        Dim::Sku => format!("{:03}", line().sku),
        Dim::Seller => format!("{:02}", line().seller()),
    };
    q.key.iter().map(part).collect::<Vec<_>>().join("/")
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
/// line it ships (a per-line declared step comes after the pivot, so only
/// shipped lines count).
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

/// Serves a declared participant under any engine.
pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, workflow: Arc<Workflow>) {
    run_service(ctx, db, move |store, ep, req| handle(workflow.clone(), store, ep, req)).await
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

async fn handle(w: Arc<Workflow>, store: StoreClient, ep: Arc<Endpoint>, req: DeclaredReq) -> Reply {
    match req {
        DeclaredReq::Apply(t) => apply(&w, &store, &ep, &t).await,
        DeclaredReq::Undo(t) => undo(&w, &store, &ep, &t).await,
        DeclaredReq::Hold { target: t, locked } => {
            let (step, q, sign) = moves(&w, usize::from(t.step));
            let lock = locked.then(|| lock(q, &t.key));
            let floor = floor(&ep, sign);
            // A take sets its amount aside out of what is on hand; a give promises it.
            let mut hold = vec![Op::Incr { key: held(q, &t.key), by: t.amount, floor: 0 }];
            if sign < 0 {
                hold.insert(0, Op::Incr { key: on_hand(q, &t.key), by: -t.amount, floor });
            }
            let branch = format!("{step}/{}", t.line);
            let try_ = || {
                barrier::try_branch(&store, t.order, &branch, t.amount, lock.as_deref(), hold.clone(), |_| {
                    Failure::NotEnough
                })
            };
            lock_wait(&ep, try_).await
        }
        DeclaredReq::Confirm { target: t, locked } => {
            let (step, q, sign) = moves(&w, usize::from(t.step));
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
            barrier::confirm_branch(&store, t.order, &format!("{step}/{}", t.line), lock.as_deref(), confirm)
                .await
        }
        DeclaredReq::Release { target: t, locked } => {
            let (step, q, sign) = moves(&w, usize::from(t.step));
            let lock = locked.then(|| lock(q, &t.key));
            let release = |n: i64| {
                let mut ops = vec![Op::Incr { key: held(q, &t.key), by: -n, floor: 0 }];
                if sign < 0 {
                    ops.push(Op::Incr { key: on_hand(q, &t.key), by: n, floor: i64::MIN });
                }
                ops
            };
            barrier::cancel_branch(&store, t.order, &format!("{step}/{}", t.line), lock.as_deref(), release)
                .await
        }
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

/// Applies the target once, in one local transaction with its record.
pub async fn apply(w: &Workflow, store: &StoreClient, ep: &Endpoint, t: &Target) -> Reply {
    let (step, q, sign) = moves(w, usize::from(t.step));
    let ops = vec![
        Op::Expect(undid(step, t.order, t.line), None),
        Op::InsertIfAbsent(did(step, t.order, t.line), t.amount.into()),
        Op::Incr { key: on_hand(q, &t.key), by: sign * t.amount, floor: floor(ep, sign) },
    ];
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        Err(e) => unknown_or(e, |index| match index {
            0 => Reply::Failed(Failure::Compensated),
            1 => Reply::Done,
            _ => Reply::Failed(Failure::NotEnough),
        }),
    }
}

/// Undoes what the target applied, once; a target never applied is recorded
/// as undone with 0, so a late application is refused. Read, then write
/// guarded by what was read; read again if an application raced us.
pub async fn undo(w: &Workflow, store: &StoreClient, ep: &Endpoint, t: &Target) -> Reply {
    let (step, q, sign) = moves(w, usize::from(t.step));
    let (did, undid) = (did(step, t.order, t.line), undid(step, t.order, t.line));
    let repeats = mutant::acts(ep, &mutant::DECLARED_UNDO_NOT_IDEMPOTENT);
    for _ in 0..5 {
        let seen = match store.txn(vec![Op::Get(did.clone()), Op::Get(undid.clone())]).await {
            Ok(r) => r,
            Err(_) => return Reply::Unknown,
        };
        if seen[1].value().is_some() && !repeats {
            return Reply::Done;
        }
        let ops = match seen[0].value().and_then(Value::as_int) {
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
        match store.txn(ops).await {
            Ok(_) => return Reply::Done,
            Err(TxnError::Unknown) => return Reply::Unknown,
            Err(TxnError::Condition { index: 0, .. }) if repeats => return Reply::Done,
            Err(TxnError::Condition { .. }) => continue,
        }
    }
    Reply::Unknown
}
