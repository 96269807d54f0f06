//! The event trace of one run and its stable hash.
//!
//! Every message, drop, timeout and fault is folded into a running FNV-1a hash
//! (`trace_hash`), so determinism can be checked cheaply on every run; the full
//! event list is kept only when asked for (replay), to keep the hot path lean.

use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// Index of a node in its world, in the order the nodes were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodeId(pub u16);

impl NodeId {
    /// Stands for the world itself in the trace: the nemesis, the network.
    pub const WORLD: NodeId = NodeId(u16::MAX);
}

/// Why a message never reached its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// Random packet loss.
    Loss,
    /// The link was cut by a partition (at send or while in flight).
    Partition,
    /// The destination node was crashed.
    NodeDown,
    /// A response that arrived after its caller gave up.
    Late,
}

/// What happened. Message kinds are static labels so hashing stays cheap.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    Send {
        to: NodeId,
        call: u64,
        msg: &'static str,
    },
    Recv {
        from: NodeId,
        call: u64,
        msg: &'static str,
    },
    Reply {
        to: NodeId,
        call: u64,
        msg: &'static str,
    },
    Duplicate {
        to: NodeId,
        call: u64,
        msg: &'static str,
    },
    Drop {
        from: NodeId,
        to: NodeId,
        call: u64,
        msg: &'static str,
        reason: DropReason,
    },
    Timeout {
        to: NodeId,
        call: u64,
        msg: &'static str,
    },
    Crash {
        unsynced_lost: u32,
        /// A prefix of the first lost record reached the disk.
        torn: bool,
    },
    /// The control plane made `to` the primary of `store`; `lost` records
    /// committed on the old primary never reached it (under async replication,
    /// acknowledged ones among them).
    Failover {
        store: String,
        to: NodeId,
        epoch: u64,
        lost: u32,
        lost_keys: Vec<String>,
    },
    /// A failover was due but the replica could not take over.
    FailoverImpossible {
        store: String,
        reason: String,
    },
    FsyncFailed,
    /// Recovery found a torn record and cut the log there.
    TornWriteDropped {
        records: u32,
    },
    /// A replica replaced its table with the primary's snapshot.
    Resynced {
        seq: u64,
    },
    DiskFaults {
        fsync_fail_ppm: u32,
        torn_ppm: u32,
        extra_latency_ms: (u64, u64),
    },
    Restart,
    Pause,
    Resume,
    Partition {
        side: Vec<NodeId>,
    },
    PartitionHealed {
        side: Vec<NodeId>,
    },
    LinkCut {
        a: NodeId,
        b: NodeId,
    },
    LinkHealed {
        a: NodeId,
        b: NodeId,
    },
    Latency {
        min_ms: u64,
        max_ms: u64,
    },
    Loss {
        rate_ppm: u32,
    },
    Duplication {
        rate_ppm: u32,
    },
    HealAll,
    /// Every disk's extra sync latency is now this (a spike, or back to base).
    DiskLatency {
        min_ms: u64,
        max_ms: u64,
    },
    /// This node's clock runs `ppm` parts per million fast (or slow, if negative).
    ClockSkew {
        ppm: i64,
    },
    /// A free-form note from a protocol or the runner, e.g. a saga step.
    /// A fault injected by a component outside the simulator's core (a payment
    /// gateway losing a callback, say); counted under `fault`.
    Injected {
        fault: &'static str,
        detail: String,
    },
    Note {
        text: String,
    },
}

impl EventKind {
    /// A stable short name, used for counting and in timelines.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Send { .. } => "send",
            EventKind::Recv { .. } => "recv",
            EventKind::Reply { .. } => "reply",
            EventKind::Duplicate { .. } => "duplicate",
            EventKind::Drop { reason: DropReason::Loss, .. } => "drop-loss",
            EventKind::Drop { reason: DropReason::Partition, .. } => "drop-partition",
            EventKind::Drop { reason: DropReason::NodeDown, .. } => "drop-node-down",
            EventKind::Drop { reason: DropReason::Late, .. } => "drop-late",
            EventKind::Timeout { .. } => "timeout",
            EventKind::Crash { .. } => "crash",
            EventKind::Failover { .. } => "failover",
            EventKind::FailoverImpossible { .. } => "failover-impossible",
            EventKind::FsyncFailed => "fsync-failed",
            EventKind::TornWriteDropped { .. } => "torn-write-dropped",
            EventKind::Resynced { .. } => "resynced",
            EventKind::DiskFaults { .. } => "disk-faults",
            EventKind::Restart => "restart",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Partition { .. } => "partition",
            EventKind::PartitionHealed { .. } => "partition-healed",
            EventKind::LinkCut { .. } => "link-cut",
            EventKind::LinkHealed { .. } => "link-healed",
            EventKind::Latency { .. } => "latency",
            EventKind::Loss { .. } => "loss",
            EventKind::Duplication { .. } => "duplication",
            EventKind::HealAll => "heal-all",
            EventKind::Note { .. } => "note",
            EventKind::ClockSkew { .. } => "clock-skew",
            EventKind::DiskLatency { .. } => "disk-latency",
            EventKind::Injected { fault, .. } => fault,
        }
    }
}

/// One entry of the trace: simulated time since the start, the node it happened on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Event {
    pub at_us: u64,
    pub node: NodeId,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hasher: Fnv64,
    /// Per event name; a short list searched by pointer first, because every
    /// name is one of a few static strings and this runs for every message.
    counts: Vec<(&'static str, u64)>,
    events: Option<Vec<Event>>,
}

impl Trace {
    /// `record` keeps every event (for replay); otherwise only the hash and counts.
    pub fn new(record: bool) -> Self {
        Trace { hasher: Fnv64::default(), counts: Vec::new(), events: record.then(Vec::new) }
    }

    pub fn push(&mut self, event: Event) {
        event.hash(&mut self.hasher);
        let name = event.kind.name();
        match self.counts.iter_mut().find(|(n, _)| std::ptr::eq(*n, name) || *n == name) {
            Some((_, c)) => *c += 1,
            None => self.counts.push((name, 1)),
        }
        if let Some(events) = &mut self.events {
            events.push(event);
        }
    }

    /// Counts something derived from events (a failover that lost writes, say)
    /// without adding an event: the hash stays a hash of what happened.
    pub fn tally(&mut self, name: &'static str) {
        match self.counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.counts.push((name, 1)),
        }
    }

    /// Hash over every event so far, in order. Stable across machines and `--jobs`.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// How many events of each kind (by [`EventKind::name`]) happened.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts.iter().copied().collect()
    }

    pub fn count(&self, name: &str) -> u64 {
        self.counts.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
    }

    /// Drops the recorded events (the hash and counts stay).
    pub fn release(&mut self) {
        if let Some(events) = &mut self.events {
            *events = Vec::new();
        }
    }

    /// The recorded events, if recording was on.
    pub fn events(&self) -> Option<&[Event]> {
        self.events.as_deref()
    }
}

/// FNV-1a over little-endian encodings: unlike `DefaultHasher`, its output is
/// specified, so a trace hash means the same thing on every machine and toolchain.
#[derive(Debug)]
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // Integers are written little-endian and at fixed width, whatever the platform.
    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes())
    }
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes())
    }
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes())
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_us: u64, kind: EventKind) -> Event {
        Event { at_us, node: NodeId(1), kind }
    }

    #[test]
    fn hash_depends_on_content_and_order() {
        let a = ev(1, EventKind::Restart);
        let b = ev(2, EventKind::Pause);
        let mut t1 = Trace::new(false);
        t1.push(a.clone());
        t1.push(b.clone());
        let mut t2 = Trace::new(true);
        t2.push(a.clone());
        t2.push(b.clone());
        let mut t3 = Trace::new(false);
        t3.push(b);
        t3.push(a);
        assert_eq!(t1.hash(), t2.hash(), "recording must not change the hash");
        assert_ne!(t1.hash(), t3.hash(), "order must change the hash");
        assert_eq!(t2.events().unwrap().len(), 2);
        assert!(t1.events().is_none());
        assert_eq!(t1.count("restart"), 1);
    }

    #[test]
    fn fnv_is_the_specified_function() {
        // Reference value of FNV-1a 64 for "a".
        let mut h = Fnv64::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
