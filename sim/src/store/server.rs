//! A store node. Every member of a replica set runs this; the control plane
//! ([`ReplicaSet`]) says which one is primary.
//!
//! The primary applies transactions, syncs each commit to its disk, and ships
//! the records to its replica in sequence. The replica applies shipped records
//! in order and resyncs from a snapshot whenever it cannot continue the
//! primary's sequence — after its own restart, or after a failover, when its
//! log may hold writes the new primary never had. So a demoted primary never
//! serves stale writes: it discards its divergent suffix before it follows.
//! A failed fsync stops the node from serving; the control plane restarts it.
//! Every shipment names the primary's shipping *run* (one per incarnation and
//! epoch): messages overtake each other, so a replica installs a snapshot
//! only if it is not older than its own — an earlier run, or the same run's
//! earlier sequence — and applies records of its own run only.

use super::log::{self, Body, Record, Undo};
use super::{apply_undoable, Commit, Key, Op, OpResult, RowKey, Table, TxnError, Value, Writes};
use crate::cluster::{ReplicaSet, Replication};
use crate::disk::Disk;
use crate::rpc::{Endpoint, Message, Request};
use crate::trace::{EventKind, NodeId};
use crate::world::{NodeCtx, Sim};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// The crash point between a transaction's commit (synced) and its reply.
pub const AFTER_COMMIT: &str = "store-after-commit";

/// How long a store that failed an fsync keeps refusing before it is restarted.
const FSYNC_RESTART_MS: u64 = 200;
/// How often the primary retries shipping when its replica does not answer.
const SHIP_TICK: Duration = Duration::from_millis(50);
const SHIP_TIMEOUT: Duration = Duration::from_millis(200);
/// Records per replication message.
const SHIP_BATCH: usize = 64;

/// What a store node serves.
#[derive(Clone, Debug, Serialize)]
pub enum StoreReq {
    /// Shared, so a retry or a duplicated message costs a reference count.
    Txn(Arc<[Op]>),
    /// Records `(seq, writes)` of the primary's `epoch`, in order, from its
    /// shipping `run` (see `Node::ship`).
    Replicate { epoch: u64, run: u64, records: Vec<(u64, Writes)> },
    /// The primary's whole table as of `seq`, from its shipping `run`.
    Snapshot { epoch: u64, run: u64, seq: u64, rows: Vec<(Key, Value)> },
}

#[derive(Clone, Debug, Serialize)]
pub enum StoreRsp {
    Txn(Result<Vec<OpResult>, TxnError>),
    /// Ask the control plane for the primary and retry there.
    NotPrimary,
    /// The node failed an fsync and serves nothing until it restarts.
    Unavailable,
    /// The replica holds everything up to `seq`.
    Acked {
        seq: u64,
    },
    /// The replica cannot continue from these records: send a snapshot.
    NeedSnapshot,
    /// Replication sent to a node that is primary itself.
    NotReplica,
}

impl Message for StoreReq {
    fn label(&self) -> &'static str {
        match self {
            StoreReq::Txn(_) => "txn",
            StoreReq::Replicate { .. } => "replicate",
            StoreReq::Snapshot { .. } => "snapshot",
        }
    }
}

impl Message for StoreRsp {
    fn label(&self) -> &'static str {
        match self {
            StoreRsp::Txn(Ok(_)) => "txn-ok",
            StoreRsp::Txn(Err(_)) => "txn-failed",
            StoreRsp::NotPrimary => "not-primary",
            StoreRsp::Unavailable => "unavailable",
            StoreRsp::Acked { .. } => "acked",
            StoreRsp::NeedSnapshot => "need-snapshot",
            StoreRsp::NotReplica => "not-replica",
        }
    }
}

impl Request for StoreReq {
    type Response = StoreRsp;
}

struct Node {
    sim: Arc<Sim>,
    me: NodeId,
    set: Arc<ReplicaSet>,
    disk: Arc<Disk>,
    state: Mutex<State>,
    /// The highest sequence number the replica acknowledged, and in which
    /// epoch, for semi-sync waits: sequence numbers are reused after a
    /// failover (the log continues from the new primary's), so a number alone
    /// could vouch for a record the replica never got. A plain value and a
    /// `Notify`, not a `watch` channel: tokio's `watch` picks a waker shard
    /// with a process-wide RNG, which made semi-sync runs depend on what else
    /// the process ran.
    shipped: std::sync::Mutex<(u64, u64)>,
    shipped_changed: Notify,
    wake_shipper: Notify,
    failed: AtomicBool,
    /// Group commit: records a transaction appended, how many of them a sync
    /// made durable, whether a sync is under way, and its end.
    appended: AtomicU64,
    synced: AtomicU64,
    syncing: AtomicBool,
    synced_changed: Notify,
    /// The sequence number of the last record appended, and of the last one
    /// durable: the shipper sends a replica only what is durable here.
    appended_seq: AtomicU64,
    durable_seq: AtomicU64,
    /// When the last sync ended: the commit time of every record it made
    /// durable (their waiters wake a few scheduler ticks apart).
    synced_at_us: AtomicU64,
}

struct State {
    table: Table,
    /// Sequence of the last applied record.
    seq: u64,
    /// How many records of the disk the table holds the writes of: those
    /// recovered, and each one appended since.
    records: usize,
    /// As a replica: the primary epoch and shipping run this log continues,
    /// once resynced.
    following: Option<(u64, u64)>,
    /// As a primary: committed records the replica has not acknowledged yet.
    backlog: BTreeMap<u64, Writes>,
    /// Each record appended that the disk may not hold durably yet: its
    /// number among the disk's records, the sequence number before it, and
    /// how to take it back out of the table — so a crash or a look can take
    /// the table back to what the disk holds, instead of keeping a copy of
    /// it (a memo shared with the table made each write copy what it touched).
    pending: VecDeque<(usize, u64, Undo)>,
}

impl State {
    /// Counts a record just appended, the sequence number before it, and how
    /// to take it back; lets go of those the disk's first `durable` records hold.
    fn appended(&mut self, undo: Undo, seq_before: u64, durable: usize) {
        while self.pending.front().is_some_and(|(n, ..)| *n <= durable) {
            self.pending.pop_front();
        }
        self.records += 1;
        self.pending.push_back((self.records, seq_before, undo));
    }

    /// Takes `table` — this state's, or a clone of it — back to the disk's
    /// first `d` records, newest record first; returns the sequence number of
    /// record `d`. `None` if a record after it is not pending (it cannot be
    /// taken back), or the table holds fewer than `d`.
    fn back_to(&self, table: &mut Table, d: usize) -> Option<u64> {
        // Pending records are numbered consecutively up to `records`.
        let from = self.pending.len().checked_sub(self.records.checked_sub(d)?)?;
        let seq = self.pending.get(from).map_or(self.seq, |(_, before, _)| *before);
        for (_, _, undo) in self.pending.range(from..).rev() {
            undo.undo(table);
        }
        Some(seq)
    }
}

/// A store node's whole life: recover from disk, then serve and ship forever.
pub async fn serve(ctx: NodeCtx, set: Arc<ReplicaSet>) {
    let disk = ctx.disk();
    let log::Recovered { table, seq, records, torn } = log::recover_table(&disk, false);
    if torn > 0 {
        ctx.sim().record(ctx.id(), EventKind::TornWriteDropped { records: torn as u32 });
    }
    let state =
        State { table, seq, records, following: None, backlog: BTreeMap::new(), pending: VecDeque::new() };
    let ep = ctx.endpoint().await;
    let node = Arc::new(Node {
        sim: ctx.sim().clone(),
        me: ctx.id(),
        set,
        disk,
        state: Mutex::new(state),
        shipped: std::sync::Mutex::new((0, 0)),
        shipped_changed: Notify::new(),
        wake_shipper: Notify::new(),
        failed: AtomicBool::new(false),
        appended: AtomicU64::new(0),
        synced: AtomicU64::new(0),
        syncing: AtomicBool::new(false),
        synced_changed: Notify::new(),
        appended_seq: AtomicU64::new(seq),
        durable_seq: AtomicU64::new(seq),
        synced_at_us: AtomicU64::new(0),
    });
    let live: Arc<dyn std::any::Any + Send + Sync> = node.clone();
    node.disk.set_live(Arc::downgrade(&live));
    let n = node.clone();
    ep.serve(move |req: StoreReq, _from| n.clone().handle(req));
    if node.set.members.len() > 1 {
        node.ship(&ep).await;
    }
    std::future::pending::<()>().await
}

/// The table of the store serving from `disk`, taken back to the records
/// the disk durably holds — none waiting for a sync, none lost to a failed
/// one — if the store is up and not in the middle of a transaction. A clone,
/// which shares every node with the store's table but those taken back.
pub(crate) fn durable_table(disk: &Disk) -> Option<Table> {
    let node = disk.live()?.downcast::<Node>().ok()?;
    if node.failed.load(Ordering::Relaxed) {
        return None;
    }
    let st = node.state.try_lock().ok()?;
    let mut table = st.table.clone();
    st.back_to(&mut table, disk.whole_len()?)?;
    Some(table)
}

/// A node's state outlives its last task only at a crash (or the end of the
/// run): its table, taken back to what the disk durably holds, goes to the
/// disk as its memo — so the next start replays nothing.
impl Drop for Node {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        let table = std::mem::take(&mut st.table);
        log::hand_back(&self.disk, table, |table, good| st.back_to(table, good));
    }
}

impl Node {
    async fn handle(self: Arc<Self>, req: StoreReq) -> StoreRsp {
        if self.failed.load(Ordering::Relaxed) {
            return StoreRsp::Unavailable;
        }
        match req {
            StoreReq::Txn(ops) => self.txn(ops).await,
            StoreReq::Replicate { epoch, run, records } => self.replicate((epoch, run), records).await,
            StoreReq::Snapshot { epoch, run, seq, rows } => self.install((epoch, run), seq, rows).await,
        }
    }

    async fn txn(&self, ops: Arc<[Op]>) -> StoreRsp {
        let mut st = self.state.lock().await;
        // Checked under the lock: a demotion that happened while we waited for it
        // fences this node off.
        if !self.set.is_primary(self.me) {
            return StoreRsp::NotPrimary;
        }
        if self.failed.load(Ordering::Relaxed) {
            return StoreRsp::Unavailable;
        }
        let epoch = self.set.epoch();
        let (results, writes, undo) = match apply_undoable(&mut st.table, &ops) {
            Ok(applied) => applied,
            Err(e) => {
                // A failed condition is a read: it may reveal a write that is
                // not durable yet, or not yet on the replica under semi-sync.
                let (must_ship, must_sync) = (st.seq, self.appended.load(Ordering::Relaxed));
                drop(st);
                if self.durable(must_sync).await.is_none() {
                    return StoreRsp::Unavailable;
                }
                return match self.shipped_or_fenced(epoch, must_ship).await {
                    true => StoreRsp::Txn(Err(e)),
                    false => StoreRsp::NotPrimary,
                };
            }
        };
        let (mut committed_at, mut seq) = (0, 0);
        if !writes.is_empty() {
            st.seq += 1;
            seq = st.seq;
            self.disk.append(&log::encode_writes(epoch, seq, &writes));
            st.appended(Undo::Writes(undo), seq - 1, self.disk.durable_len());
            self.appended.fetch_add(1, Ordering::Relaxed);
            self.appended_seq.store(seq, Ordering::Relaxed);
            if self.set.members.len() > 1 {
                st.backlog.insert(seq, writes.clone());
            }
        }
        // Transactions apply one at a time, in order, but wait for durability
        // together: those appended while one sync runs share the next (group
        // commit), instead of a sync each behind the lock. A read waits too: it
        // may have seen a write that is not durable yet.
        let (must_ship, must_sync) = (st.seq, self.appended.load(Ordering::Relaxed));
        drop(st);
        let Some(synced_at) = self.durable(must_sync).await else {
            return StoreRsp::Unavailable;
        };
        if !writes.is_empty() {
            committed_at = synced_at;
        }
        // Under semi-sync even a read waits: it may have seen a write that is
        // not yet on the replica, and must not be answered before it is.
        if !self.shipped_or_fenced(epoch, must_ship).await {
            return StoreRsp::NotPrimary;
        }
        if !writes.is_empty() && self.set.epoch() != epoch {
            // Deposed while this write was syncing (async replication does not
            // fence an acknowledgement): if the new primary never got it, it is
            // an acknowledged write the failover lost.
            if !log::holds(&self.sim.disk(self.set.primary()), epoch, seq) {
                self.sim.lost_after_failover(&self.set.name, writes.clone());
            }
        }
        if !writes.is_empty() {
            // Durable, not acknowledged: the client will not know it committed.
            self.sim.crash_point(self.me, AFTER_COMMIT, Duration::from_millis(300)).await;
            self.sim.committed(self.me).await;
            // Stamped with the commit time, not the acknowledgement's: under
            // semi-sync, waiting writes are acknowledged together, out of order.
            self.sim.push_commit(Commit { at_us: committed_at, seq, store: self.me, writes });
        }
        StoreRsp::Txn(Ok(results))
    }

    /// After a replica's own sync: everything in its log, through `seq`, is durable.
    fn all_durable(&self, seq: u64) {
        self.appended_seq.store(seq, Ordering::Relaxed);
        self.durable_seq.store(seq, Ordering::Relaxed);
        self.synced.store(self.appended.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Waits until the first `appended` records of the transaction path are
    /// durable: syncs if no sync is under way, else waits for it (and, if
    /// that one started too early, syncs again). The time the sync that made
    /// them durable ended, or `None` if a sync failed.
    async fn durable(&self, appended: u64) -> Option<u64> {
        loop {
            // Registered before the check, so a sync ending in between still wakes us.
            let changed = self.synced_changed.notified();
            if self.failed.load(Ordering::Relaxed) {
                return None;
            }
            if self.synced.load(Ordering::Relaxed) >= appended {
                return Some(self.synced_at_us.load(Ordering::Relaxed));
            }
            if self.syncing.swap(true, Ordering::Relaxed) {
                changed.await;
                continue;
            }
            let ok = self.disk.sync().await.is_ok();
            // The sync took every record appended until it ended.
            let covered = self.appended.load(Ordering::Relaxed);
            self.syncing.store(false, Ordering::Relaxed);
            match ok {
                true => {
                    self.synced_at_us.store(self.sim.elapsed_us(), Ordering::Relaxed);
                    self.synced.fetch_max(covered, Ordering::Relaxed);
                    self.durable_seq.store(self.appended_seq.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                false => self.fail(),
            }
            self.synced_changed.notify_waiters();
        }
    }

    /// Under semi-sync, waits until the replica has everything up to `seq` of
    /// `epoch`; false if this node stopped being that epoch's primary meanwhile
    /// (deposed, even if promoted again since: the write may be gone). Under
    /// async, returns at once.
    async fn shipped_or_fenced(&self, epoch: u64, seq: u64) -> bool {
        if self.set.members.len() < 2 {
            return true;
        }
        self.wake_shipper.notify_one();
        self.set.mode != Replication::SemiSync || self.wait_shipped(epoch, seq).await
    }

    /// Waits until the replica has `seq` of `epoch`; false if this node is no
    /// longer that epoch's primary.
    async fn wait_shipped(&self, epoch: u64, seq: u64) -> bool {
        loop {
            // Registered before the check, so an update in between still wakes us.
            let changed = self.shipped_changed.notified();
            if self.set.epoch() != epoch
                || !self.set.is_primary(self.me)
                || self.failed.load(Ordering::Relaxed)
            {
                return false;
            }
            let (shipped_epoch, shipped) = *self.shipped.lock().unwrap();
            if shipped_epoch == epoch && shipped >= seq {
                return true;
            }
            tokio::select! {
                biased;
                _ = changed => {}
                _ = tokio::time::sleep(SHIP_TICK) => {}
            }
        }
    }

    async fn replicate(&self, (epoch, run): (u64, u64), records: Vec<(u64, Writes)>) -> StoreRsp {
        let mut st = self.state.lock().await;
        // Checked again under the lock: a request that waited for it behind one
        // whose fsync failed must not ack what that failure dropped (the table
        // and `seq` ran ahead of the disk).
        if self.failed.load(Ordering::Relaxed) {
            return StoreRsp::Unavailable;
        }
        if self.set.is_primary(self.me) {
            return StoreRsp::NotReplica;
        }
        // Records continue one shipping run's sequence only: a restarted
        // primary numbers anew what it lost, so another run's are not ours.
        if st.following != Some((epoch, run)) {
            return StoreRsp::NeedSnapshot;
        }
        let mut wrote = false;
        for (seq, writes) in records {
            if seq <= st.seq {
                continue; // a duplicate of what we have
            }
            if seq != st.seq + 1 {
                return StoreRsp::NeedSnapshot;
            }
            let record = Record { epoch, seq, body: Body::Writes(writes) };
            self.disk.append(&record.encode());
            let undo = log::apply_undoable(&mut st.table, record.body);
            let before = st.seq;
            st.appended(undo, before, self.disk.durable_len());
            st.seq = seq;
            wrote = true;
        }
        if wrote && self.disk.sync().await.is_err() {
            self.fail();
            return StoreRsp::Unavailable;
        }
        self.all_durable(st.seq);
        StoreRsp::Acked { seq: st.seq }
    }

    async fn install(&self, (epoch, run): (u64, u64), seq: u64, rows: Vec<(Key, Value)>) -> StoreRsp {
        let mut st = self.state.lock().await;
        if self.failed.load(Ordering::Relaxed) {
            return StoreRsp::Unavailable;
        }
        if self.set.is_primary(self.me) {
            return StoreRsp::NotReplica;
        }
        // A snapshot older than the one this replica has — a slow copy
        // overtaken by a newer one while the replica was paused, say — must
        // not roll it back: it would forget writes the primary acknowledged
        // since. Older means an earlier run, or the same run's earlier seq. (A
        // primary restarted after a failed fsync starts a new run: its
        // snapshot does roll back what it shipped but never made durable.)
        if st.following.is_some_and(|(e, r)| (epoch, run, seq) < (e, r, st.seq)) {
            return StoreRsp::Acked { seq: st.seq };
        }
        let rows = rows.into_iter().map(|(k, v)| (RowKey::from(k), v)).collect();
        let record = Record { epoch, seq, body: Body::Snapshot(rows) };
        // What this node shipped as a primary is history: the snapshot replaces
        // it, and the numbers of those records will be reused.
        st.backlog.clear();
        self.disk.append(&record.encode());
        let undo = log::apply_undoable(&mut st.table, record.body);
        let before = st.seq;
        st.appended(undo, before, self.disk.durable_len());
        if self.disk.sync().await.is_err() {
            self.fail();
            return StoreRsp::Unavailable;
        }
        st.seq = seq;
        self.all_durable(seq);
        st.following = Some((epoch, run));
        self.set.replica_resynced(epoch);
        self.sim.record(self.me, EventKind::Resynced { seq });
        StoreRsp::Acked { seq }
    }

    /// The primary's shipping loop: sends the replica what it lacks, by records
    /// while it can continue the sequence, by snapshot when it cannot.
    async fn ship(&self, ep: &Endpoint) {
        // What the replica acknowledged in the current epoch; unknown at first.
        let mut acked: Option<u64> = None;
        let mut epoch = 0;
        // This loop's run: unique and increasing over the world, so a replica
        // tells this incarnation's shipments from an earlier one's.
        let mut run = self.sim.next_call();
        loop {
            tokio::select! {
                biased;
                _ = self.wake_shipper.notified() => {}
                _ = tokio::time::sleep(SHIP_TICK) => {}
            }
            if !self.set.is_primary(self.me) || self.failed.load(Ordering::Relaxed) {
                continue;
            }
            if self.set.epoch() != epoch {
                (acked, epoch, run) = (None, self.set.epoch(), self.sim.next_call());
            }
            let Some(peer) = self.set.peer(self.me) else { continue };
            let req = {
                let mut st = self.state.lock().await;
                // Only what is durable here goes to the replica.
                let durable = self.durable_seq.load(Ordering::Relaxed).min(st.seq);
                match acked {
                    Some(a) if a >= durable => continue,
                    Some(a) if st.backlog.contains_key(&(a + 1)) => {
                        st.backlog = st.backlog.split_off(&(a + 1));
                        let records = st
                            .backlog
                            .range(..=durable)
                            .take(SHIP_BATCH)
                            .map(|(s, w)| (*s, w.clone()))
                            .collect();
                        StoreReq::Replicate { epoch, run, records }
                    }
                    // The table holds writes not durable yet: snapshot it once they are.
                    _ if durable < st.seq => continue,
                    _ => {
                        let rows = st.table.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                        StoreReq::Snapshot { epoch, run, seq: st.seq, rows }
                    }
                }
            };
            match ep.call(peer, req, SHIP_TIMEOUT).await {
                Ok(StoreRsp::Acked { seq }) => {
                    acked = Some(seq);
                    *self.shipped.lock().unwrap() = (epoch, seq);
                    self.shipped_changed.notify_waiters();
                    // More may be waiting: go again without the tick.
                    self.wake_shipper.notify_one();
                }
                Ok(StoreRsp::NeedSnapshot) => acked = None,
                _ => {}
            }
        }
    }

    /// A failed fsync: nothing since the last good sync may be trusted, not even
    /// the in-memory table. Stop serving; the control plane restarts the node,
    /// which recovers from what is really on disk (PostgreSQL's answer to
    /// "fsyncgate": crash and recover rather than retry).
    fn fail(&self) {
        if self.failed.swap(true, Ordering::Relaxed) {
            return;
        }
        self.sim.record(self.me, EventKind::FsyncFailed);
        let me = self.me;
        self.sim.after(Duration::from_millis(FSYNC_RESTART_MS), move |s| {
            s.crash(me);
            s.after(Duration::from_millis(FSYNC_RESTART_MS), move |s| s.restart(me));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ReplicationConfig;
    use crate::disk::DiskFaults;
    use crate::store::StoreClient;
    use crate::world::{World, WorldConfig};

    /// The table a disk's first `n` good records replay to, read from scratch.
    fn replayed(disk: &Disk, n: usize) -> Table {
        let (mut table, mut read) = (Table::new(), 0);
        disk.recover_from(0, |bytes| {
            if read < n {
                log::apply_record(&mut table, super::super::codec::decode(bytes).unwrap().body);
            }
            read += 1;
        });
        table
    }

    /// A world with a store `db` (with a replica under `mode`) and a client
    /// writing to it every 2 ms, as fast as it answers.
    fn busy_store(seed: u64, mode: Replication) -> (World, Arc<ReplicaSet>) {
        let replication = ReplicationConfig { mode, ..ReplicationConfig::default() };
        let mut world = World::new(seed, WorldConfig { replication, ..WorldConfig::default() });
        let db = world.store("db");
        let set = db.clone();
        world.node("client", move |ctx| {
            let db = set.clone();
            async move {
                let client = StoreClient::new(ctx.endpoint().await, db, Duration::from_millis(50));
                for i in 0.. {
                    let ops =
                        vec![Op::Put(format!("k{:03}", i % 300), Value::Int(i)), Op::Get("k000".into())];
                    let _ = client.txn(ops).await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        (world, db)
    }

    /// Runs `body` in a [`busy_store`] world for each (seed, mode), under torn
    /// writes, failed fsyncs and syncs up to 4 ms slow from the start, and
    /// sums the counts each run returns.
    fn tally<const N: usize, F: std::future::Future<Output = [usize; N]>>(
        runs: &[(u64, Replication)],
        body: impl Fn(u64, Arc<Sim>, Arc<ReplicaSet>) -> F,
    ) -> [usize; N] {
        runs.iter().fold([0; N], |sum, &(seed, mode)| {
            let (world, db) = busy_store(seed, mode);
            let sim = world.sim().clone();
            let run = body(seed, sim.clone(), db);
            let counts = world.run(async move {
                sim.set_disk_faults(DiskFaults {
                    fsync_fail_rate: 0.01,
                    torn_write_rate: 0.5,
                    extra_latency_us: (0, 4_000),
                });
                run.await
            });
            std::array::from_fn(|i| sum[i] + counts[i])
        })
    }

    /// How many records the store serving from `disk` holds, durable or
    /// not; `None` if it is down or busy.
    fn held(disk: &Disk) -> Option<usize> {
        let node = disk.live()?.downcast::<Node>().ok()?;
        let records = node.state.try_lock().ok()?.records;
        Some(records)
    }

    /// Stores crash every 30–120 ms, with and without a replica. Every crash
    /// leaves the store's table on its disk, taken back to what the crash
    /// left durable: right after it, the memo is what the disk's records
    /// replay to — also when the crash lost records the store had applied.
    #[test]
    fn a_crashed_store_leaves_its_table_on_disk_taken_back_to_its_durable_records() {
        let runs = [(1, Replication::None), (2, Replication::Async), (3, Replication::None)];
        let [handed, taken_back] = tally(&runs, |seed, sim, db| async move {
            let (mut handed, mut taken_back) = (0, 0);
            for i in 0..60u64 {
                tokio::time::sleep(Duration::from_millis(30 + i * 37 % 90)).await;
                let node = db.members[(i % db.members.len() as u64) as usize];
                let disk = sim.disk(node);
                let before = held(&disk);
                sim.crash(node);
                // The killed node's tasks are dropped as the scheduler reaches them.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let Some((n, memo)) = disk.take_memo() else {
                    // Nothing durable yet, so no replay to save.
                    let good = disk.recover_from(0, |_| {}).map(|(n, _)| n);
                    assert_eq!(good, Some(0), "seed {seed}, crash {i}: no memo");
                    sim.restart(node);
                    continue;
                };
                let (table, _) = memo.downcast_ref::<(Table, u64)>().unwrap();
                assert_eq!(*table, replayed(&disk, n), "seed {seed}, crash {i}: a memo is its records");
                handed += 1;
                taken_back += usize::from(before.is_some_and(|b| b > n));
                disk.set_memo(n, memo);
                sim.restart(node);
            }
            [handed, taken_back]
        });
        // Two of the 180 here come before their store's first sync.
        assert!(handed > 170, "every crash after the first sync leaves a memo ({handed} of 180)");
        // Without the undo, only the crashes that lost nothing could leave a
        // memo as long as the disk (132 of 180 here).
        assert!(taken_back > 10, "some crashes lost records the table held ({taken_back})");
    }

    /// A look at a live store, every 3 ms while it crashes now and then,
    /// reads the store's own table taken back to what its disk durably holds
    /// — what the disk's records replay to — unless the store is down or busy.
    #[test]
    fn a_look_at_a_live_store_reads_its_table_taken_back_to_its_durable_records() {
        let runs = [(4, Replication::None), (5, Replication::Async)];
        let [live, replays, taken_back] = tally(&runs, |seed, sim, db| async move {
            let (mut live, mut replays, mut taken_back) = (0, 0, 0);
            for i in 0..1000u64 {
                tokio::time::sleep(Duration::from_millis(3)).await;
                for node in db.members.clone() {
                    let disk = sim.disk(node);
                    let before = held(&disk);
                    match durable_table(&disk) {
                        Some(table) => {
                            let durable = disk.durable_len();
                            assert_eq!(table, replayed(&disk, usize::MAX), "seed {seed}, look {i}");
                            live += 1;
                            taken_back += usize::from(before.is_some_and(|b| b > durable));
                        }
                        None => replays += 1,
                    }
                }
                if i % 40 == 39 {
                    let node = db.members[(i / 40) as usize % db.members.len()];
                    sim.crash(node);
                    sim.after(Duration::from_millis(20), move |s| s.restart(node));
                }
            }
            [live, replays, taken_back]
        });
        assert!(live > 4 * replays, "most looks read the live table ({live} did, {replays} replayed)");
        assert!(replays > 0, "some find the store down or busy");
        assert!(taken_back > 10, "some took back records not yet durable ({taken_back})");
    }
}
