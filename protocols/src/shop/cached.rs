//! A declared quantity kept in a cache in front of its participant's store,
//! as a flash sale keeps its hot stock in Redis: a take is checked and made in
//! the cache, recorded in the store as pending, and the store's count is
//! brought level every `sync_ms`. A cache that lost what it held is rebuilt
//! from the store before anyone takes from it again.
//!
//! Why it cannot oversell: every take is announced in the store (an intent)
//! before the cache takes it, and a take names the cache life it was rebuilt
//! for; a rebuild counts what is on hand less every intent and pending take,
//! and loads once per life. So whatever a cache holds is at most what the
//! store can still give.

use super::declared::{on_hand, Target};
use super::{Failure, Reply};
use crate::mutant;
use crate::workflow::{Quantity, Workflow};
use faultline_sim::cache::{CacheOutcome, CacheReq};
use faultline_sim::{Endpoint, NodeId, Op, Sim, StoreClient, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a participant waits for its cache.
const CACHE_TIMEOUT: Duration = Duration::from_millis(100);

/// The cache node in front of participant `p`'s store.
pub fn node_name(participant: &str) -> String {
    format!("{participant}-cache")
}

/// Who took: step, order and line — one take each, whichever engine asks.
pub fn token(t: &Target) -> String {
    crate::id::line_key(&[itoa::Buffer::new().format(t.step), "/"], t.order, t.line)
}

/// A take announced before the cache is asked: counted by a rebuild, never synced.
pub fn intent(q: &str, t: &Target) -> String {
    ["intent/", q, "/", &t.key, "/", &token(t)].concat()
}

/// A take the cache made and the store's on-hand count does not show yet.
pub fn pending(q: &str, t: &Target) -> String {
    ["pending/", q, "/", &t.key, "/", &token(t)].concat()
}

/// The quantity's key a pending or announced take's row names:
/// `pending/{q}/{key}/{token}` — the `depth` parts after the quantity.
fn key_of_row(row: &str, depth: usize) -> String {
    row.split('/').skip(2).take(depth).collect::<Vec<_>>().join("/")
}

/// A participant's cache, and which life of it this participant rebuilt.
pub struct Cached {
    node: NodeId,
    quantity: Quantity,
    /// The cache life takes are made in (0: none rebuilt yet); held alone
    /// while rebuilding, so one rebuild runs at a time.
    life: tokio::sync::Mutex<u64>,
}

impl Cached {
    /// The cache of `participant`'s cached quantity, if it keeps one.
    pub fn of(w: &Workflow, participant: &str, sim: &Sim) -> Option<Arc<Cached>> {
        let q = w.quantities.iter().find(|q| q.at == participant && q.cache.is_some())?;
        let node = sim.node_id(&node_name(participant)).expect("deploy_declared adds the cache");
        Some(Arc::new(Cached { node, quantity: q.clone(), life: tokio::sync::Mutex::new(0) }))
    }

    /// Whether a move of `q` by `sign` (a take: -1) goes through this cache.
    pub fn takes(&self, q: &str, sign: i64) -> bool {
        sign < 0 && self.quantity.name == q
    }

    /// Takes `t` in the cache: announce it in the store, take it in the cache
    /// (rebuilding the cache first if it is not the life this participant
    /// loaded). Returns the ops that record the take, for the same
    /// transaction as the engine's own; the refusal is the step's reply.
    ///
    /// If that transaction finds the step recorded already, what the cache
    /// took stays taken: another call with the same token may have recorded
    /// it. If it finds the step undone, the caller gives it back.
    pub async fn take(&self, store: &StoreClient, ep: &Endpoint, t: &Target) -> Result<Vec<Op>, Reply> {
        let q = &self.quantity.name;
        let intent = intent(q, t);
        if store.txn(vec![Op::Put(intent.clone(), t.amount.into())]).await.is_err() {
            return Err(Reply::Unknown);
        }
        for _ in 0..3 {
            let life = *self.life.lock().await;
            if life == 0 {
                self.rebuild(store, ep, life).await;
                continue;
            }
            let req = CacheReq::Take {
                key: on_hand(q, &t.key),
                by: t.amount,
                token: Some(token(t)),
                run_id: Some(life),
            };
            match ep.call(self.node, req, CACHE_TIMEOUT).await.map(|r| r.outcome) {
                Ok(CacheOutcome::Taken { .. } | CacheOutcome::Already) => {}
                Ok(CacheOutcome::Stale) => {
                    self.rebuild(store, ep, life).await;
                    continue;
                }
                Ok(CacheOutcome::NotEnough { .. }) => {
                    let _ = store.txn(vec![Op::Delete(intent)]).await;
                    return Err(Reply::Failed(Failure::NotEnough));
                }
                _ => return Err(Reply::Unknown),
            }
            return Ok(vec![Op::Delete(intent), Op::Put(pending(q, t), t.amount.into())]);
        }
        Err(Reply::Unknown)
    }

    /// Gives back what the take for `t` took in the cache, if it remembers it
    /// (a rebuild forgets every take: what it loaded did not count them).
    pub async fn give_back(&self, ep: &Endpoint, t: &Target) {
        let _ = ep.call(self.node, CacheReq::Return { token: token(t) }, CACHE_TIMEOUT).await;
    }

    /// Loads the cache from the store, unless another rebuild already loaded
    /// a life after `stale`: on hand, less every pending and announced take.
    async fn rebuild(&self, store: &StoreClient, ep: &Endpoint, stale: u64) {
        let mut life = self.life.lock().await;
        if *life != stale {
            return;
        }
        let q = &self.quantity.name;
        let scans = vec![
            Op::Scan(format!("{q}/")),
            Op::Scan(format!("pending/{q}/")),
            Op::Scan(format!("intent/{q}/")),
        ];
        let Ok(read) = store.txn(scans).await else { return };
        let depth = self.quantity.key.len();
        let mut left: BTreeMap<String, i64> = BTreeMap::new();
        for (k, v) in read[0].rows() {
            // `{q}/{key}` only: not `{q}/{key}/held`.
            if k.split('/').count() == depth + 1 {
                *left.entry(k.clone()).or_default() += v.as_int().unwrap_or(0);
            }
        }
        let wary = !mutant::acts(ep, &mutant::CACHE_REBUILT_FROM_STORE_ALONE);
        for (k, v) in read[1].rows().iter().chain(read[2].rows()).filter(|_| wary) {
            *left.entry(on_hand(q, &key_of_row(k, depth))).or_default() -= v.as_int().unwrap_or(0);
        }
        let load = CacheReq::Load { entries: left.into_iter().collect() };
        // Loaded (by this call or an earlier one): the life it answers from is the one to take in.
        if let Ok(rsp) = ep.call(self.node, load, CACHE_TIMEOUT).await {
            *life = rsp.run_id;
        }
    }

    /// Brings the store level with the cache, every `sync_ms`, forever: each
    /// pending take leaves on hand in one transaction with its record.
    pub async fn sync(self: Arc<Self>, store: StoreClient, ep: Arc<Endpoint>) {
        let every = Duration::from_millis(self.quantity.cache.map_or(1_000, |c| c.sync_ms));
        let q = self.quantity.name.clone();
        let depth = self.quantity.key.len();
        loop {
            tokio::time::sleep(every).await;
            let Ok(read) = store.txn(vec![Op::Scan(format!("pending/{q}/"))]).await else { continue };
            for (k, v) in read[0].rows() {
                let Some(n) = v.as_int() else { continue };
                let take = Op::Incr { key: on_hand(&q, &key_of_row(k, depth)), by: -n, floor: i64::MIN };
                let settle = vec![Op::Expect(k.clone(), Some(Value::from(n))), Op::Delete(k.clone())];
                if mutant::acts(&ep, &mutant::CACHE_SYNC_NOT_IDEMPOTENT) {
                    // The bug: takes from the store, then forgets the record in a
                    // second transaction; a lost answer or a crash between the two
                    // takes it again at the next sync.
                    if store.txn(vec![take]).await.is_ok() {
                        let _ = store.txn(settle).await;
                    }
                    continue;
                }
                let _ = store.txn([settle, vec![take]].concat()).await;
            }
        }
    }
}

/// How long a sale waits in memory before the store hears of it, under
/// [`mutant::CACHE_SALE_WRITTEN_BEHIND`].
pub const WRITE_BEHIND: Duration = Duration::from_millis(200);
