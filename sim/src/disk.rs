//! A simulated disk: an append-only log of checksummed records per node.
//!
//! Appends are volatile until [`Disk::sync`]; a crash drops every unsynced record
//! (madsim's own `fs` has no crash model, so this is ours), or with a torn write
//! leaves a prefix of the first one behind. An fsync can fail, as real ones do
//! (and then the unsynced records are gone: the kernel drops the dirty pages).
//! The disk belongs to the world, not to the node, so it survives restarts.

use crate::stream::{Purpose, Streams};
use crate::trace::NodeId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Disk behaviour. Default: fsync takes 100..500 µs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiskConfig {
    pub sync_latency_us: (u64, u64),
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig { sync_latency_us: (100, 500) }
    }
}

/// Faults the nemesis switches on for a while, on every disk at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskFaults {
    /// Probability that an fsync fails.
    pub fsync_fail_rate: f64,
    /// Probability that a crash with unsynced records leaves a torn prefix of the first.
    pub torn_write_rate: f64,
    /// Extra fsync latency, in µs, drawn per sync.
    pub extra_latency_us: (u64, u64),
}

/// The fsync failed: nothing appended since the last good sync is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncFailed;

/// What a crash did to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashLoss {
    pub unsynced_lost: u32,
    /// A prefix of the first lost record reached the platter.
    pub torn: bool,
}

#[derive(Debug)]
pub struct Disk {
    config: DiskConfig,
    inner: Mutex<Inner>,
    /// Where its latencies, failures and torn writes are drawn: this node's streams.
    streams: Arc<Streams>,
    node: NodeId,
}

#[derive(Default)]
struct Inner {
    durable: Vec<Vec<u8>>,
    unsynced: Vec<Vec<u8>>,
    faults: DiskFaults,
    /// What a reader derived from the first n durable records (a store's
    /// table), so the next recovery reads only the records after them.
    memo: Option<(usize, Arc<dyn std::any::Any + Send + Sync>)>,
    /// The node serving from this disk, if it left word (a store's state):
    /// what a look may read instead of replaying records (see
    /// [`crate::store::recover`]). Weak, so a crash frees it as before.
    live: Option<std::sync::Weak<dyn std::any::Any + Send + Sync>>,
    /// The first n durable records are known whole: each passed its checksum,
    /// or a sync wrote it whole after whole records. They cannot change (the
    /// log only grows, and recovery only cuts it at a bad record), so no look
    /// checks them again: a failover reads whole logs. Only a crash writes a
    /// record that is not whole (a torn prefix), and every record from it on
    /// is checked — so a torn prefix is still found by its checksum, and no
    /// seed of a long run spends its time checksumming records it synced. (A
    /// fault that changed a durable record would lower it to that record.)
    verified: usize,
}

impl Inner {
    /// Appends records written whole: known whole if every one before them is.
    fn made_durable(&mut self, records: Vec<Vec<u8>>) {
        let whole = self.verified == self.durable.len();
        self.durable.extend(records);
        if whole {
            self.verified = self.durable.len();
        }
    }

    /// The position of the first durable record at or after `from` whose
    /// checksum fails (the length if none does).
    fn first_bad(&mut self, from: usize) -> usize {
        let start = from.max(self.verified).min(self.durable.len());
        let bad = |rec: &Vec<u8>| rec.len() < 4 || crc32fast::hash(&rec[4..]).to_le_bytes() != rec[..4];
        let good = start + self.durable[start..].iter().position(bad).unwrap_or(self.durable.len() - start);
        if self.verified >= from {
            self.verified = good; // everything before `good` is now known good
        }
        good
    }

    /// Cuts the log at its first bad record at or after `from` (a torn
    /// write), dropping it and everything after; returns how many went.
    fn cut(&mut self, from: usize) -> usize {
        let good = self.first_bad(from);
        let dropped = self.durable.len() - good;
        self.durable.truncate(good);
        dropped
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("durable", &self.durable.len())
            .field("unsynced", &self.unsynced.len())
            .finish()
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(payload.len() + 4);
    framed.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    framed.extend_from_slice(payload);
    framed
}

impl Disk {
    pub fn new(config: DiskConfig) -> Disk {
        Disk { config, inner: Mutex::new(Inner::default()), streams: Arc::default(), node: NodeId(0) }
    }

    /// The disk of `node`, drawing from the world's `streams`.
    pub(crate) fn drawing(self, streams: Arc<Streams>, node: NodeId) -> Disk {
        Disk { streams, node, ..self }
    }

    /// Appends a record to the volatile tail. It is durable only after `sync`.
    pub fn append(&self, payload: &[u8]) {
        self.inner.lock().unwrap().unsynced.push(frame(payload));
    }

    /// Writes a record straight to durable storage: for a world's initial data,
    /// before the run starts (there is no fsync to wait for outside a runtime).
    pub fn preload(&self, payload: &[u8]) {
        self.inner.lock().unwrap().made_durable(vec![frame(payload)]);
    }

    /// Makes every appended record durable, after the fsync latency. If the node
    /// dies during the wait, the records stay volatile and the crash drops them.
    /// On failure the unsynced records are gone, and the caller must not go on
    /// as if anything since the last good sync were durable.
    pub async fn sync(&self) -> Result<(), SyncFailed> {
        let faults = self.inner.lock().unwrap().faults;
        // Three draws whatever the faults: a disk fault more or less moves no other draw.
        let order = crate::order::current();
        let [base, extra, fail] = self.streams.draws(self.node, Purpose::Sync, order);
        let (lo, hi) = self.config.sync_latency_us;
        let (xlo, xhi) = faults.extra_latency_us;
        let us = base.within(lo, hi) + if xhi > 0 { extra.within(xlo, xhi) } else { 0 };
        if us > 0 {
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
        let failed = fail.chance(faults.fsync_fail_rate);
        let mut inner = self.inner.lock().unwrap();
        let tail = std::mem::take(&mut inner.unsynced);
        if failed {
            return Err(SyncFailed);
        }
        inner.made_durable(tail);
        Ok(())
    }

    /// Recovery: the durable records, each not yet known whole checked against
    /// its checksum. The log is cut at the first bad record — a torn write —
    /// which is dropped with everything after it, so new appends follow good
    /// data. Returns the records and how many were dropped.
    pub fn recover(&self) -> (Vec<Vec<u8>>, usize) {
        let mut inner = self.inner.lock().unwrap();
        let dropped = inner.cut(0);
        (inner.durable.iter().map(|r| r[4..].to_vec()).collect(), dropped)
    }

    /// Recovery as [`Disk::recover`], handing `each` the records after the
    /// first `from` in place, uncopied (the prefix never changes: the log
    /// only grows, and recovery only ever cuts a torn tail). Returns how many
    /// records it handed over and how many torn ones it dropped; `None` if
    /// there are not `from`.
    pub fn recover_from(&self, from: usize, mut each: impl FnMut(&[u8])) -> Option<(usize, usize)> {
        let mut inner = self.inner.lock().unwrap();
        if from > inner.durable.len() {
            return None;
        }
        let dropped = inner.cut(from);
        inner.durable[from..].iter().for_each(|r| each(&r[4..]));
        Some((inner.durable.len() - from, dropped))
    }

    /// What a reader memoised of the first n durable records, if still whole,
    /// taken from the disk: the reader owns it until it sets one again.
    pub(crate) fn take_memo(&self) -> Option<(usize, Arc<dyn std::any::Any + Send + Sync>)> {
        let mut inner = self.inner.lock().unwrap();
        let durable = inner.durable.len();
        inner.memo.take().filter(|(n, _)| *n <= durable)
    }

    pub(crate) fn set_memo(&self, records: usize, value: Arc<dyn std::any::Any + Send + Sync>) {
        self.inner.lock().unwrap().memo = Some((records, value));
    }

    /// Leaves word of the node now serving from this disk.
    pub(crate) fn set_live(&self, node: std::sync::Weak<dyn std::any::Any + Send + Sync>) {
        self.inner.lock().unwrap().live = Some(node);
    }

    /// The node serving from this disk, if it is still alive.
    pub(crate) fn live(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.inner.lock().unwrap().live.as_ref()?.upgrade()
    }

    /// How many durable records the disk holds, if every one passes its
    /// checksum (none is torn).
    pub(crate) fn whole_len(&self) -> Option<usize> {
        let mut inner = self.inner.lock().unwrap();
        let good = inner.first_bad(0);
        (good == inner.durable.len()).then_some(good)
    }

    /// Makes what `memo` derives from the disk's good records — those before
    /// the first whose checksum fails, however many that is — their memo, if
    /// it gives one: a store's table at its crash, taken back to what the
    /// crash left durable (a volatile tail is lost, a torn record is cut at
    /// the next recovery; neither is in the good records).
    pub(crate) fn hand_back(&self, memo: impl FnOnce(usize) -> Option<Arc<dyn std::any::Any + Send + Sync>>) {
        let mut inner = self.inner.lock().unwrap();
        let good = inner.first_bad(0);
        // No records, nothing to save a replay of — and a disk released at
        // the end of the run (its records freed) must not keep a table.
        if good == 0 {
            return;
        }
        if let Some(memo) = memo(good) {
            inner.memo = Some((good, memo));
        }
    }

    /// Whether `hit` holds for a durable record before the first bad one,
    /// looked at in place, without recovering: a look at a live disk that
    /// changes nothing.
    pub(crate) fn peek_any(&self, mut hit: impl FnMut(&[u8]) -> bool) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let good = inner.first_bad(0);
        inner.durable[..good].iter().any(|r| hit(&r[4..]))
    }

    /// Frees every record: the run is over and its state was read.
    pub(crate) fn release(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.durable = Vec::new();
        inner.verified = 0;
        inner.unsynced = Vec::new();
        inner.memo = None;
        inner.live = None;
    }

    /// Power loss: the volatile tail is gone, maybe leaving a torn prefix.
    pub(crate) fn crash(&self) -> CrashLoss {
        let mut inner = self.inner.lock().unwrap();
        let unsynced = std::mem::take(&mut inner.unsynced);
        let mut loss = CrashLoss { unsynced_lost: unsynced.len() as u32, torn: false };
        let rate = inner.faults.torn_write_rate;
        let [torn, at] = self.streams.draws(self.node, Purpose::Crash, None);
        if let Some(first) = unsynced.first() {
            if torn.chance(rate) {
                let cut = at.within(1, first.len() as u64 - 1) as usize;
                inner.durable.push(first[..cut].to_vec());
                loss.torn = true;
            }
        }
        loss
    }

    pub(crate) fn set_faults(&self, faults: DiskFaults) {
        self.inner.lock().unwrap().faults = faults;
    }

    /// Changes only the extra sync latency: a spike, or the end of one.
    pub(crate) fn set_extra_latency(&self, extra_latency_us: (u64, u64)) {
        self.inner.lock().unwrap().faults.extra_latency_us = extra_latency_us;
    }

    /// Number of durable records (a torn one included, until recovery drops it).
    pub fn durable_len(&self) -> usize {
        self.inner.lock().unwrap().durable.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_sim(f: impl std::future::Future<Output = ()>) {
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        rt.block_on(f);
    }

    #[test]
    fn crash_loses_exactly_the_unsynced_tail() {
        in_sim(async {
            let disk = Disk::new(DiskConfig::default());
            disk.append(b"one");
            disk.sync().await.unwrap();
            disk.append(b"two");
            assert_eq!(disk.crash(), CrashLoss { unsynced_lost: 1, torn: false });
            assert_eq!(disk.recover(), (vec![b"one".to_vec()], 0));
            disk.append(b"three");
            disk.sync().await.unwrap();
            assert_eq!(disk.crash().unsynced_lost, 0);
            assert_eq!(disk.recover().0, vec![b"one".to_vec(), b"three".to_vec()]);
        });
    }

    #[test]
    fn a_torn_write_is_detected_and_dropped_at_recovery() {
        in_sim(async {
            let disk = Disk::new(DiskConfig::default());
            disk.append(b"good");
            disk.sync().await.unwrap();
            disk.set_faults(DiskFaults { torn_write_rate: 1.0, ..DiskFaults::default() });
            disk.append(b"half-written record");
            assert!(disk.crash().torn);
            assert_eq!(disk.durable_len(), 2, "the torn prefix is on the platter");
            assert_eq!(disk.recover(), (vec![b"good".to_vec()], 1), "and recovery drops it");
            assert_eq!(disk.durable_len(), 1, "truncated, so new records follow good data");
            disk.append(b"after");
            disk.sync().await.unwrap();
            assert_eq!(disk.recover().0, vec![b"good".to_vec(), b"after".to_vec()]);
            // Torn again where the first torn record was: recovery checked the
            // records before it once, and must still check whatever took its place.
            disk.append(b"torn again");
            assert!(disk.crash().torn);
            let mut seen = Vec::new();
            assert!(!disk.peek_any(|r| {
                seen.push(r.to_vec());
                false
            }));
            assert_eq!(seen, vec![b"good".to_vec(), b"after".to_vec()], "a look stops at it");
            assert_eq!(disk.recover_from(1, |_| {}), Some((1, 1)), "and recovery drops it");
            disk.append(b"last");
            assert!(disk.crash().torn);
            assert_eq!(disk.recover().0, vec![b"good".to_vec(), b"after".to_vec()]);
        });
    }

    #[test]
    fn a_disk_counts_only_its_whole_durable_records_and_memoises_only_those() {
        in_sim(async {
            let disk = Disk::new(DiskConfig::default());
            let memo = || Some(Arc::new(()) as Arc<dyn std::any::Any + Send + Sync>);
            disk.append(b"one");
            assert_eq!(disk.whole_len(), Some(0), "not durable yet");
            disk.sync().await.unwrap();
            assert_eq!(disk.whole_len(), Some(1));
            disk.set_faults(DiskFaults { torn_write_rate: 1.0, ..DiskFaults::default() });
            disk.append(b"two");
            let mut offered = None;
            disk.hand_back(|good| {
                offered = Some(good);
                None
            });
            assert_eq!(offered, Some(1), "a record waiting for a sync is not the memo's");
            assert!(disk.take_memo().is_none(), "and no memo is kept when none is given");
            assert!(disk.crash().torn);
            assert_eq!(disk.durable_len(), 2);
            assert_eq!(disk.whole_len(), None, "the second record is torn");
            disk.hand_back(|good| {
                offered = Some(good);
                memo()
            });
            assert_eq!(offered, Some(1), "a memo covers the records before the torn one");
            assert_eq!(disk.take_memo().map(|(n, _)| n), Some(1));
            assert_eq!(disk.recover_from(1, |_| {}), Some((0, 1)), "recovery after it cuts the torn record");
            assert_eq!(disk.whole_len(), Some(1));
        });
    }

    #[test]
    fn a_failed_fsync_is_never_reported_as_success() {
        in_sim(async {
            let disk = Disk::new(DiskConfig::default());
            disk.set_faults(DiskFaults { fsync_fail_rate: 1.0, ..DiskFaults::default() });
            disk.append(b"doomed");
            assert_eq!(disk.sync().await, Err(SyncFailed));
            assert_eq!(disk.recover().0, Vec::<Vec<u8>>::new(), "nothing became durable");
            disk.set_faults(DiskFaults::default());
            disk.append(b"fine");
            assert_eq!(disk.sync().await, Ok(()));
            assert_eq!(disk.recover().0, vec![b"fine".to_vec()]);
        });
    }

    #[test]
    fn a_corrupt_record_ends_recovery() {
        let disk = Disk::new(DiskConfig::default());
        disk.preload(b"good");
        disk.preload(b"bad");
        disk.preload(b"after");
        {
            // Bit rot, as a fault that changes a durable record must do it:
            // the record is no longer known whole.
            let mut inner = disk.inner.lock().unwrap();
            inner.durable[1][5] ^= 0xff;
            inner.verified = inner.verified.min(1);
        }
        assert_eq!(disk.recover(), (vec![b"good".to_vec()], 2));
    }
}
