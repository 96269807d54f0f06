//! A simulated disk: an append-only log of checksummed records per node.
//!
//! Appends are volatile until [`Disk::sync`]; a crash drops every unsynced record
//! (madsim's own `fs` has no crash model, so this is ours). The disk belongs to
//! the world, not to the node, so it survives the node's restarts.

use madsim::rand::Rng;
use serde::{Deserialize, Serialize};
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

#[derive(Debug)]
pub struct Disk {
    config: DiskConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    durable: Vec<Vec<u8>>,
    unsynced: Vec<Vec<u8>>,
}

impl Disk {
    pub fn new(config: DiskConfig) -> Disk {
        Disk { config, inner: Mutex::new(Inner::default()) }
    }

    /// Appends a record to the volatile tail. It is durable only after `sync`.
    pub fn append(&self, payload: &[u8]) {
        let mut framed = Vec::with_capacity(payload.len() + 4);
        framed.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        framed.extend_from_slice(payload);
        self.inner.lock().unwrap().unsynced.push(framed);
    }

    /// Writes a record straight to durable storage: for a world's initial data,
    /// before the run starts (there is no fsync to wait for outside a runtime).
    pub fn preload(&self, payload: &[u8]) {
        self.append(payload);
        let mut inner = self.inner.lock().unwrap();
        let tail = std::mem::take(&mut inner.unsynced);
        inner.durable.extend(tail);
    }

    /// Makes every appended record durable, after the fsync latency. If the node
    /// dies during the wait, the records stay volatile and the crash drops them.
    pub async fn sync(&self) {
        let (lo, hi) = self.config.sync_latency_us;
        if hi > 0 {
            let us = madsim::rand::thread_rng().gen_range(lo..=hi.max(lo));
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
        let mut inner = self.inner.lock().unwrap();
        let tail = std::mem::take(&mut inner.unsynced);
        inner.durable.extend(tail);
    }

    /// The durable records in order, each verified against its checksum. Reading
    /// stops at the first bad record: nothing after a torn write can be trusted.
    pub fn read_durable(&self) -> Vec<Vec<u8>> {
        let inner = self.inner.lock().unwrap();
        let mut out = Vec::with_capacity(inner.durable.len());
        for rec in &inner.durable {
            let (sum, payload) = rec.split_at(4);
            if crc32fast::hash(payload).to_le_bytes() != sum {
                break;
            }
            out.push(payload.to_vec());
        }
        out
    }

    /// Power loss: the volatile tail is gone. Returns how many records were lost.
    pub(crate) fn crash(&self) -> u32 {
        let mut inner = self.inner.lock().unwrap();
        let lost = inner.unsynced.len() as u32;
        inner.unsynced.clear();
        lost
    }

    /// Number of durable records.
    pub fn durable_len(&self) -> usize {
        self.inner.lock().unwrap().durable.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loses_exactly_the_unsynced_tail() {
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        rt.block_on(async {
            let disk = Disk::new(DiskConfig::default());
            disk.append(b"one");
            disk.sync().await;
            disk.append(b"two");
            assert_eq!(disk.crash(), 1, "the unsynced record is lost");
            assert_eq!(disk.read_durable(), vec![b"one".to_vec()]);
            disk.append(b"three");
            disk.sync().await;
            assert_eq!(disk.crash(), 0);
            assert_eq!(disk.read_durable(), vec![b"one".to_vec(), b"three".to_vec()]);
        });
    }

    #[test]
    fn a_corrupt_record_ends_recovery() {
        let disk = Disk::new(DiskConfig { sync_latency_us: (0, 0) });
        disk.append(b"good");
        disk.append(b"bad");
        disk.append(b"after");
        {
            let mut inner = disk.inner.lock().unwrap();
            let tail = std::mem::take(&mut inner.unsynced);
            inner.durable.extend(tail);
            inner.durable[1][5] ^= 0xff;
        }
        assert_eq!(disk.read_durable(), vec![b"good".to_vec()]);
    }
}
