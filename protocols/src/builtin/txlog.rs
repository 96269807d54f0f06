//! The coordinator's durable log of global transactions, shared by the Saga
//! orchestrator and the TCC coordinator. Per order, two rows written together
//! when the order is placed: its state, rewritten by compare-and-set at every
//! step, and the order itself, deleted by the write that finishes the
//! transaction — recovery reads the order of every unfinished transaction, and
//! the log of a long run holds far more finished ones.

use crate::mutant;
use crate::retry;
use crate::shop::Reply;
use crate::stats::Stats;
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeCtx, Op, ReplicaSet, StoreClient, TxnError, Value};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A protocol's per-transaction state, as its log stores it.
pub trait LogState: Copy + Debug + Send + Sync + 'static {
    fn encode(self) -> Value;
    fn decode(v: &Value) -> Self;
    fn finished(self) -> bool;
}

/// What placing an order found.
pub enum Placed<S> {
    /// Logged now, in the first state.
    New,
    /// Logged before (an attempt whose answer was lost), not finished.
    Running(S),
    Finished,
    /// The log did not answer: the outcome is unknown.
    Unknown,
}

/// The transactions with a driver in this node's incarnation (the set dies
/// with the node): recovery and a retried placement never start a second one.
#[derive(Clone, Default)]
pub struct Drivers(Arc<Mutex<BTreeSet<u32>>>);

impl Drivers {
    /// Runs `drive` for `order` unless the order already has a driver.
    pub fn start(&self, order: u32, drive: impl Future<Output = ()> + Send + 'static) {
        if self.0.lock().unwrap().insert(order) {
            tokio::spawn(faultline_sim::order::scope(Some(order), drive));
        }
    }
}

#[derive(Clone)]
pub struct TxLog {
    store: StoreClient,
    ep: Arc<Endpoint>,
    stats: Arc<Stats>,
    /// `saga` or `tcc`: the rows are `{prefix}/{order}` and `{prefix}-order/{order}`.
    prefix: &'static str,
}

impl TxLog {
    pub fn new(ep: Arc<Endpoint>, db: Arc<ReplicaSet>, stats: Arc<Stats>, prefix: &'static str) -> TxLog {
        let store = StoreClient::new(ep.clone(), db, crate::shop::STORE_TIMEOUT);
        TxLog { store, ep, stats, prefix }
    }

    /// The saga-log-unsynced mutant: log writes are sent and not waited for,
    /// as with `synchronous_commit = off` — the driver moves on regardless.
    fn unsynced(&self) -> bool {
        self.prefix == "saga" && mutant::acts(&self.ep, &mutant::SAGA_LOG_UNSYNCED)
    }

    fn state_key(&self, order: u32) -> String {
        crate::id::key_in(&[self.prefix, "/"], order)
    }

    fn order_key(&self, order: u32) -> String {
        crate::id::key_in(&[self.prefix, "-order/"], order)
    }

    fn order_row(order: &Order) -> Value {
        Value::Text(serde_json::to_string(order).expect("an order encodes"))
    }

    /// Every unfinished transaction in the log, read until the log answers.
    pub async fn recover<S: LogState>(&self, ctx: &NodeCtx) -> Vec<(Order, S)> {
        let (states, orders) = (format!("{}/", self.prefix), format!("{}-order/", self.prefix));
        let rows = loop {
            match self.store.txn(vec![Op::Scan(states.clone()), Op::Scan(orders.clone())]).await {
                Ok(r) => break r,
                Err(_) => retry::pause(&self.ep, 100).await,
            }
        };
        // Both rows are written in one transaction, so each state has its order
        // — unless an async-replicated log lost one of them at a failover. A
        // scan's rows come in key order: an unfinished one's order row is found
        // by bisection (the log holds every transaction ever placed, and a
        // coordinator restarts many times in a long run).
        let order_rows = rows[1].rows();
        let order_of = |id: &str| {
            let key = format!("{orders}{id}");
            let at = order_rows.binary_search_by(|(k, _)| k.as_str().cmp(&key)).ok()?;
            Some(&order_rows[at].1)
        };
        let mut out = Vec::new();
        for (key, state) in rows[0].rows() {
            let state = S::decode(state);
            if state.finished() {
                continue;
            }
            let id = key.strip_prefix(states.as_str()).unwrap_or(key);
            match order_of(id) {
                Some(order) => {
                    let order: Order =
                        serde_json::from_str(order.as_text().expect("text")).expect("a logged order decodes");
                    ctx.note(format!("{} {} recovered at {state:?}", self.prefix, order.id));
                    out.push((order, state));
                }
                None => {
                    ctx.note(format!("{} {id} at {state:?} lost its order row: cannot resume", self.prefix))
                }
            }
        }
        out
    }

    /// Logs a newly placed order in state `first`.
    pub async fn place<S: LogState>(&self, order: &Order, first: S) -> Placed<S> {
        let id = order.id;
        let ops = vec![
            Op::InsertIfAbsent(self.state_key(id), first.encode()),
            Op::Put(self.order_key(id), Self::order_row(order)),
        ];
        if self.unsynced() {
            let store = self.store.clone();
            faultline_sim::order::spawn(async move { store.txn(ops).await });
            return Placed::New;
        }
        match self.store.txn(ops).await {
            Ok(_) => Placed::New,
            Err(TxnError::Condition { .. }) => {
                match self.store.txn(vec![Op::Get(self.state_key(id))]).await {
                    Ok(r) => match r[0].value().map(S::decode) {
                        Some(state) if !state.finished() => Placed::Running(state),
                        Some(_) => Placed::Finished,
                        // Gone between the two reads (a failover lost it): try again.
                        None => Placed::Unknown,
                    },
                    Err(_) => Placed::Unknown,
                }
            }
            Err(TxnError::Unknown) => Placed::Unknown,
        }
    }

    /// Places `order` and has its driver run from the state the log holds
    /// (`start`), unless it is finished: what the entry point answers.
    pub async fn admit<S: LogState>(&self, order: &Order, first: S, start: impl FnOnce(S)) -> Reply {
        match self.place(order, first).await {
            Placed::New => start(first),
            // Placed by an attempt whose answer was lost, which then started no
            // driver: make sure one runs.
            Placed::Running(state) => start(state),
            Placed::Finished => {}
            Placed::Unknown => return Reply::Unknown,
        }
        Reply::Done
    }

    /// Moves the logged state from `now` to `next`, retried until the log
    /// answers, and returns what the log then holds.
    ///
    /// The write is a compare-and-set on the previous state: a blind put would
    /// let a delayed or duplicated earlier write land after a later one and move
    /// the transaction backwards (faultline found exactly that under message
    /// duplication).
    pub async fn persist<S: LogState>(&self, order: &Order, now: S, next: S) -> S {
        let key = self.state_key(order.id);
        let cas = || {
            let mut ops =
                vec![Op::Expect(key.clone(), Some(now.encode())), Op::Put(key.clone(), next.encode())];
            if next.finished() {
                ops.push(Op::Delete(self.order_key(order.id)));
            }
            ops
        };
        if self.unsynced() {
            let (store, cas) = (self.store.clone(), cas());
            faultline_sim::order::spawn(async move { store.txn(cas).await });
            return next;
        }
        loop {
            match self.store.txn(cas()).await {
                Ok(_) => return next,
                // Our earlier attempt may have landed: the log is the truth…
                Err(TxnError::Condition { .. }) => {
                    if let Ok(r) = self.store.txn(vec![Op::Get(key.clone())]).await {
                        match r[0].value() {
                            Some(v) => return S::decode(v),
                            // …unless the log lost the row: an async-replicated log
                            // forgets acknowledged writes at failover. The driver
                            // still knows the transaction; write it back, go on.
                            None => {
                                let mut restore = vec![Op::InsertIfAbsent(key.clone(), next.encode())];
                                if !next.finished() {
                                    restore.push(Op::Put(self.order_key(order.id), Self::order_row(order)));
                                }
                                if self.store.txn(restore).await.is_ok() {
                                    return next;
                                }
                            }
                        }
                    }
                }
                Err(TxnError::Unknown) => {}
            }
            self.stats.retry();
            retry::pause(&self.ep, 50).await;
        }
    }
}
