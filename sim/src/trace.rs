//! The event trace of one run and its stable hash.
//!
//! Every message, drop, timeout and fault is folded into a running hash
//! (`trace_hash`), so determinism can be checked cheaply on every run; the full
//! event list is kept only when asked for (replay), to keep the hot path lean.

use serde::Serialize;
use std::collections::BTreeMap;

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
    /// A targeted fault chose this very message.
    Targeted,
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
    /// Messages to and from this node now take `min_ms..max_ms` (a gray
    /// failure), or, both 0, the network's latency again.
    SlowNode {
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
            EventKind::Drop { reason: DropReason::Targeted, .. } => "drop-targeted",
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
            EventKind::SlowNode { .. } => "slow-node",
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

/// One entry of the trace: simulated time since the start, the node it
/// happened on, and the order it was for (see [`crate::order`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Event {
    pub at_us: u64,
    pub node: NodeId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hasher: TraceHasher,
    /// Per event name; a short list searched by pointer first, because every
    /// name is one of a few static strings and this runs for every message.
    counts: Vec<(&'static str, u64)>,
    events: Option<Vec<Event>>,
    /// Reply labels to remember per order (see [`Trace::watch_replies`]).
    watched: &'static [&'static str],
    /// Per order, the first watched reply sent for it.
    first_replies: BTreeMap<u32, &'static str>,
}

impl Trace {
    /// `record` keeps every event (for replay); otherwise only the hash and counts.
    pub fn new(record: bool) -> Self {
        Trace {
            hasher: TraceHasher::default(),
            counts: Vec::new(),
            events: record.then(Vec::new),
            watched: &[],
            first_replies: BTreeMap::new(),
        }
    }

    /// Remembers, per order, the first reply sent with one of these labels
    /// (a participant's business refusal, say) — without recording the trace,
    /// and without touching the hash.
    pub fn watch_replies(&mut self, labels: &'static [&'static str]) {
        self.watched = labels;
    }

    /// Per order, the first watched reply sent for it.
    pub fn first_replies(&self) -> &BTreeMap<u32, &'static str> {
        &self.first_replies
    }

    pub fn push(&mut self, event: Event) {
        event.encode(&mut self.hasher);
        if let (EventKind::Reply { msg, .. }, Some(order)) = (&event.kind, event.order) {
            if !self.watched.is_empty() && self.watched.contains(msg) {
                self.first_replies.entry(order).or_insert(msg);
            }
        }
        let name = event.kind.name();
        // By pointer through the whole list first: comparing the text of
        // every name passed on the way was a tenth of this function's cost.
        let at = self.counts.iter().position(|(n, _)| std::ptr::eq(*n, name));
        match at.or_else(|| self.counts.iter().position(|(n, _)| *n == name)) {
            Some(i) => self.counts[i].1 += 1,
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

/// The trace's hash over the canonical encoding of events ([`Event::encode`]),
/// a 64-bit word at a time: each field is one word, a string its length and
/// then its bytes in 8-byte little-endian words (the last zero-padded). Each
/// word is folded in with FxHash's step, `h = (rotl(h, 5) ^ w) * K`, and the
/// result finished with splitmix64's mixer. Both are specified here, not by
/// `std::hash` (whose output Rust does not promise to keep), so a trace hash
/// means the same on every machine and toolchain. (It was FNV-1a a byte at a
/// time: 8 multiplications where this does one.)
#[derive(Debug)]
struct TraceHasher(u64);

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
    fn u8(&mut self, i: u8) {
        self.word(u64::from(i))
    }
    fn u16(&mut self, i: u16) {
        self.word(u64::from(i))
    }
    fn u32(&mut self, i: u32) {
        self.word(u64::from(i))
    }
    fn u64(&mut self, i: u64) {
        self.word(i)
    }
    /// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
    fn str(&mut self, s: &str) {
        self.word(s.len() as u64);
        let mut chunks = s.as_bytes().chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(last));
        }
    }
    fn nodes(&mut self, nodes: &[NodeId]) {
        self.u64(nodes.len() as u64);
        nodes.iter().for_each(|n| self.u16(n.0));
    }
}

impl Event {
    /// The canonical encoding, one word per field: time (µs), node, order
    /// (u32::MAX for none), then a tag per kind and its fields in order,
    /// strings and lists length-prefixed. Tags are never reused.
    fn encode(&self, h: &mut TraceHasher) {
        h.u64(self.at_us);
        h.u16(self.node.0);
        h.u32(self.order.unwrap_or(u32::MAX));
        let message = |h: &mut TraceHasher, tag, node: NodeId, call, msg| {
            h.u8(tag);
            h.u16(node.0);
            h.u64(call);
            h.str(msg);
        };
        match &self.kind {
            EventKind::Send { to, call, msg } => message(h, 1, *to, *call, msg),
            EventKind::Recv { from, call, msg } => message(h, 2, *from, *call, msg),
            EventKind::Reply { to, call, msg } => message(h, 3, *to, *call, msg),
            EventKind::Duplicate { to, call, msg } => message(h, 4, *to, *call, msg),
            EventKind::Drop { from, to, call, msg, reason } => {
                message(h, 5, *to, *call, msg);
                h.u16(from.0);
                h.u8(match reason {
                    DropReason::Loss => 0,
                    DropReason::Partition => 1,
                    DropReason::NodeDown => 2,
                    DropReason::Late => 3,
                    DropReason::Targeted => 4,
                });
            }
            EventKind::Timeout { to, call, msg } => message(h, 6, *to, *call, msg),
            EventKind::Crash { unsynced_lost, torn } => {
                h.u8(7);
                h.u32(*unsynced_lost);
                h.u8(u8::from(*torn));
            }
            EventKind::Failover { store, to, epoch, lost, lost_keys } => {
                h.u8(8);
                h.str(store);
                h.u16(to.0);
                h.u64(*epoch);
                h.u32(*lost);
                h.u64(lost_keys.len() as u64);
                lost_keys.iter().for_each(|k| h.str(k));
            }
            EventKind::FailoverImpossible { store, reason } => {
                h.u8(9);
                h.str(store);
                h.str(reason);
            }
            EventKind::FsyncFailed => h.u8(10),
            EventKind::TornWriteDropped { records } => {
                h.u8(11);
                h.u32(*records);
            }
            EventKind::Resynced { seq } => {
                h.u8(12);
                h.u64(*seq);
            }
            EventKind::DiskFaults { fsync_fail_ppm, torn_ppm, extra_latency_ms: (lo, hi) } => {
                h.u8(13);
                h.u32(*fsync_fail_ppm);
                h.u32(*torn_ppm);
                h.u64(*lo);
                h.u64(*hi);
            }
            EventKind::Restart => h.u8(14),
            EventKind::Pause => h.u8(15),
            EventKind::Resume => h.u8(16),
            EventKind::Partition { side } => {
                h.u8(17);
                h.nodes(side);
            }
            EventKind::PartitionHealed { side } => {
                h.u8(18);
                h.nodes(side);
            }
            EventKind::LinkCut { a, b } | EventKind::LinkHealed { a, b } => {
                h.u8(if matches!(self.kind, EventKind::LinkCut { .. }) { 19 } else { 20 });
                h.u16(a.0);
                h.u16(b.0);
            }
            EventKind::Latency { min_ms, max_ms } | EventKind::DiskLatency { min_ms, max_ms } => {
                h.u8(if matches!(self.kind, EventKind::Latency { .. }) { 21 } else { 22 });
                h.u64(*min_ms);
                h.u64(*max_ms);
            }
            EventKind::Loss { rate_ppm } => {
                h.u8(23);
                h.u32(*rate_ppm);
            }
            EventKind::Duplication { rate_ppm } => {
                h.u8(24);
                h.u32(*rate_ppm);
            }
            EventKind::HealAll => h.u8(25),
            EventKind::ClockSkew { ppm } => {
                h.u8(26);
                h.u64(*ppm as u64);
            }
            EventKind::Injected { fault, detail } => {
                h.u8(27);
                h.str(fault);
                h.str(detail);
            }
            EventKind::Note { text } => {
                h.u8(28);
                h.str(text);
            }
            EventKind::SlowNode { min_ms, max_ms } => {
                h.u8(29);
                h.u64(*min_ms);
                h.u64(*max_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_us: u64, kind: EventKind) -> Event {
        Event { at_us, node: NodeId(1), order: None, kind }
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
    fn watched_replies_are_remembered_per_order_without_touching_the_hash() {
        let reply = |order: Option<u32>, msg: &'static str| Event {
            order,
            ..ev(1, EventKind::Reply { to: NodeId(2), call: 1, msg })
        };
        let events =
            [reply(Some(3), "done"), reply(Some(3), "no"), reply(Some(3), "maybe"), reply(None, "no")];
        let (mut plain, mut watching) = (Trace::new(false), Trace::new(false));
        watching.watch_replies(&["no", "maybe"]);
        for e in events {
            plain.push(e.clone());
            watching.push(e);
        }
        assert_eq!(plain.hash(), watching.hash());
        assert_eq!(watching.first_replies().iter().collect::<Vec<_>>(), [(&3, &"no")]);
        assert!(plain.first_replies().is_empty());
    }

    #[test]
    fn the_hasher_is_the_specified_function() {
        // One word from the start value, by the documented step and finish.
        let mut h = TraceHasher::default();
        h.word(1);
        let mut z = (0xcbf2_9ce4_8422_2325_u64.rotate_left(5) ^ 1).wrapping_mul(0x517c_c1b7_2722_0a95);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        assert_eq!(h.finish(), z ^ (z >> 31));
        // A string is its length, then 8-byte little-endian words, the last zero-padded.
        let (mut s, mut w) = (TraceHasher::default(), TraceHasher::default());
        s.str("abcdefghi");
        [9, u64::from_le_bytes(*b"abcdefgh"), u64::from(b'i')].into_iter().for_each(|x| w.word(x));
        assert_eq!(s.finish(), w.finish());
    }

    #[test]
    fn the_encoding_is_pinned() {
        // Changing the encoding changes every trace hash: it must be on purpose.
        let mut t = Trace::new(false);
        t.push(ev(5, EventKind::Send { to: NodeId(2), call: 7, msg: "stock-try" }));
        let drop =
            EventKind::Drop { from: NodeId(1), to: NodeId(2), call: 7, msg: "x", reason: DropReason::Late };
        t.push(ev(6, drop));
        t.push(ev(9, EventKind::Partition { side: vec![NodeId(3), NodeId(4)] }));
        t.push(ev(9, EventKind::ClockSkew { ppm: -200 }));
        t.push(ev(10, EventKind::Note { text: "ab".into() }));
        let mut for_order = ev(11, EventKind::Recv { from: NodeId(2), call: 7, msg: "done" });
        for_order.order = Some(3);
        t.push(for_order);
        assert_eq!(format!("{:016x}", t.hash()), "418322eee9a64f20");
        // The order an event was for is part of what happened.
        let (mut a, mut b) = (Trace::new(false), Trace::new(false));
        let mut e = ev(1, EventKind::Restart);
        a.push(e.clone());
        e.order = Some(0);
        b.push(e);
        assert_ne!(a.hash(), b.hash());
        // Length prefixes keep field boundaries: "ab"+"c" is not "a"+"bc".
        let (mut a, mut b) = (Trace::new(false), Trace::new(false));
        a.push(ev(1, EventKind::FailoverImpossible { store: "ab".into(), reason: "c".into() }));
        b.push(ev(1, EventKind::FailoverImpossible { store: "a".into(), reason: "bc".into() }));
        assert_ne!(a.hash(), b.hash());
    }
}
