//! A message broker: topics, consumer groups, at-least-once delivery.
//!
//! Publish is acknowledged once the message is durable in the broker's own
//! store (a replica set like any other, so it fails over like one). A consumer
//! group leases messages for a visibility timeout and must ack them; an
//! unacknowledged message is delivered again, so consumers see duplicates.
//! Messages with the same key go out one at a time in publish order; a topic
//! is split into `partitions` by key (as Kafka's are), each with its own
//! floor per group, so a message nobody acknowledges holds back only its own
//! partition. Across keys order is free, and with `reorder` the broker
//! shuffles it. Leases live in the broker's memory: a
//! broker crash forgets them, and everything unacknowledged is redelivered.
//!
//! Built to scale with the work, not the history: publishes that arrive
//! while one is being written are committed together in the next store
//! transaction (group commit), and so are acks; a poll starts from its
//! group's floor — the first message not yet acknowledged — instead of the
//! start of the topic.
//! A broker told its subscriptions (every topic's consumer groups) keeps only
//! the backlog: every [`RETENTION`] it deletes the messages every group of
//! their topic acknowledged, so a restart decodes the backlog, not the
//! history, and reads only the backlog's acks (an ack's key has its
//! message's sequence number before its group, so a load reads each topic's
//! acks from its oldest kept message on). The ids, the acks and each topic's
//! head (its last sequence number) stay as small rows: ids and acks as the
//! ground truth of what was published and consumed, the ids also so that a
//! republished message is still dropped — each publish inserts its id's row
//! only if absent, and a restarted broker, which reads only the backlog's ids,
//! learns an older one when that fails. Every publish batch is conditional
//! on the head it read, so a batch that reaches the store late (its broker
//! timed out and reloaded meanwhile) cannot reuse a sequence number whose
//! message was deleted.

use crate::cluster::ReplicaSet;
use crate::rpc::{Endpoint, Message, Request};
use crate::store::{Op, StoreClient, TxnError, Value};
use crate::stream::Purpose;
use crate::trace::NodeId;
use crate::world::NodeCtx;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Mutex, Notify};

/// Broker behaviour; plain data, printable with the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// How long a delivered message stays invisible before it is redelivered. Default 500.
    pub visibility_ms: u64,
    /// Shuffle deliveries across keys (per-key order is always kept). Default off.
    pub reorder: bool,
    /// Partitions per topic, a key always in the same one. Default 16.
    pub partitions: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig { visibility_ms: 500, reorder: false, partitions: 16 }
    }
}

/// The partition of `key` among `n`: FNV-1a, the same on every machine.
fn partition_of(key: &str, n: u32) -> u32 {
    let h =
        key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (h % u64::from(n.max(1))) as u32
}

/// Every topic's consumer groups, known before anything is published.
pub type Subscriptions = BTreeMap<String, BTreeSet<String>>;

#[derive(Clone, Debug, Serialize)]
pub enum BrokerReq {
    /// `id` deduplicates: publishing an id twice stores it once.
    Publish {
        topic: String,
        id: String,
        key: String,
        payload: String,
    },
    Poll {
        topic: String,
        group: String,
        max: usize,
    },
    Ack {
        topic: String,
        group: String,
        seq: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum BrokerRsp {
    Published,
    Messages(Vec<Delivery>),
    Acked,
    /// The broker's store did not answer; retry.
    Unavailable,
}

/// One delivery of a message to a consumer group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    pub seq: u64,
    pub id: String,
    pub key: String,
    pub payload: String,
    /// 1 for the first delivery to this group, more for redeliveries.
    pub attempt: u32,
}

impl Message for BrokerReq {
    fn label(&self) -> &'static str {
        match self {
            BrokerReq::Publish { .. } => "publish",
            BrokerReq::Poll { .. } => "poll",
            BrokerReq::Ack { .. } => "ack",
        }
    }
}

impl Message for BrokerRsp {
    fn label(&self) -> &'static str {
        match self {
            BrokerRsp::Published => "published",
            BrokerRsp::Messages(m) if m.is_empty() => "no-messages",
            BrokerRsp::Messages(_) => "messages",
            BrokerRsp::Acked => "acked",
            BrokerRsp::Unavailable => "unavailable",
        }
    }
}

impl Request for BrokerReq {
    type Response = BrokerRsp;
}

#[derive(Clone, Debug, PartialEq)]
struct Stored {
    id: String,
    key: String,
    payload: String,
}

impl Stored {
    /// `{id's length}:{key's length}:{id}{key}{payload}`: nothing to escape
    /// or unescape, whatever the three hold (as JSON, the payload — itself an
    /// encoded event — was escaped at every publish and unescaped at every load).
    fn encode(&self) -> String {
        let (id, key) = (self.id.len(), self.key.len());
        let mut text = String::with_capacity(24 + id + key + self.payload.len());
        let mut num = itoa::Buffer::new();
        text.push_str(num.format(id));
        text.push(':');
        text.push_str(num.format(key));
        text.push(':');
        [&self.id, &self.key, &self.payload].into_iter().for_each(|s| text.push_str(s));
        text
    }

    /// The message `text` spells, or `None` if it spells none.
    fn decode(text: &str) -> Option<Stored> {
        let (id, rest) = text.split_once(':')?;
        let (key, rest) = rest.split_once(':')?;
        let (id, key): (usize, usize) = (id.parse().ok()?, key.parse().ok()?);
        let (id, rest) = (rest.get(..id)?, rest.get(id..)?);
        let (key, payload) = (rest.get(..key)?, rest.get(key..)?);
        Some(Stored { id: id.into(), key: key.into(), payload: payload.into() })
    }
}

#[derive(Default)]
struct Topic {
    /// Messages by partition, then by sequence number (one sequence per topic).
    /// Indexed by partition number (at most 1024, `bounds.rs` holds it): a
    /// poll visits every partition, and a map's lookups were most of its cost.
    partitions: Vec<BTreeMap<u64, Stored>>,
    /// The partition of each kept message, by sequence number: an ack names
    /// only the sequence number.
    place: BTreeMap<u64, u32>,
    /// The last sequence number given.
    last: u64,
    // Ordered, not hashed: a hash set's lookups were cheaper, but a ×64
    // outbox run's peak memory over 3 seeds went from 35 to 62 MB with it.
    ids: BTreeSet<String>,
    groups: BTreeMap<String, Group>,
}

impl Topic {
    fn insert(&mut self, partition: u32, seq: u64, stored: Stored) {
        self.record_id(stored.id.clone(), seq);
        crate::dense::slot(&mut self.partitions, partition as usize, BTreeMap::new).insert(seq, stored);
        self.place.insert(seq, partition);
    }

    /// Forgets message `seq`: every group acknowledged it.
    fn remove(&mut self, seq: u64) {
        if let Some(p) = self.place.remove(&seq) {
            self.partitions.get_mut(p as usize).map(|m| m.remove(&seq));
        }
    }

    /// Group `group` acknowledged message `seq`.
    fn ack(&mut self, group: &str, seq: u64) {
        let partition = self.place.get(&seq).copied();
        entry(&mut self.groups, group).ack(partition, seq);
    }

    /// `id` was given `seq`: it is dropped if published again.
    fn record_id(&mut self, id: String, seq: u64) {
        self.ids.insert(id);
        self.last = self.last.max(seq);
    }

    /// The messages every one of `groups` acknowledged (a group that never
    /// polled since the broker started counts as having acknowledged none).
    fn consumed(&self, groups: &BTreeSet<String>) -> Vec<u64> {
        let mut out = Vec::new();
        // Each group looked up once, not once a partition.
        let members: Vec<Option<&Group>> = groups.iter().map(|g| self.groups.get(g)).collect();
        for (p, messages) in self.partitions.iter().enumerate() {
            let floor = |g: &Option<&Group>| g.map_or(1, |g| g.floor(p));
            let below = members.iter().map(floor).min().unwrap_or(1);
            out.extend(messages.range(..below).map(|(seq, _)| *seq));
        }
        out
    }
}

#[derive(Default)]
struct Group {
    /// Per partition: every message below this sequence number is
    /// acknowledged (absent: from the start).
    floors: Vec<u64>,
    /// Per partition, acknowledged messages at or above its floor.
    acked: BTreeMap<u32, BTreeSet<u64>>,
    /// seq → (visible again at, deliveries so far)
    leases: BTreeMap<u64, (u64, u32)>,
    /// The partition the next poll starts at: each gets its turn first.
    next: u32,
}

impl Group {
    /// Message `seq`, kept in `partition` (`None`: no longer kept), is acknowledged.
    fn ack(&mut self, partition: Option<u32>, seq: u64) {
        if let Some(p) = partition {
            self.acked.entry(p).or_default().insert(seq);
        }
        self.leases.remove(&seq);
    }

    /// Partition `p`'s floor.
    fn floor(&self, p: usize) -> u64 {
        floor_in(&self.floors, p)
    }

    /// Raises the floor of each partition with new acks past the acknowledged
    /// messages at its bottom (a partition without any cannot move).
    fn settle(&mut self, partitions: &[BTreeMap<u64, Stored>]) {
        let floors = &mut self.floors;
        self.acked.retain(|p, acked| {
            let p = *p as usize;
            let Some(messages) = partitions.get(p) else { return false };
            let floor = crate::dense::slot(floors, p, || 1);
            while let Some((&seq, _)) = messages.range(*floor..).next() {
                if !acked.remove(&seq) {
                    break;
                }
                *floor = seq + 1;
            }
            // A repeated ack of a message already below its floor, or of one
            // since deleted, would stay here for good: keep only those above.
            acked.retain(|seq| *seq >= *floor && messages.contains_key(seq));
            !acked.is_empty()
        });
    }
}

/// Partition `p`'s floor in `floors` (none kept yet: the start).
fn floor_in(floors: &[u64], p: usize) -> u64 {
    floors.get(p).copied().unwrap_or(1)
}

/// A publish waiting for the next group commit.
struct Pending {
    topic: String,
    id: String,
    key: String,
    payload: String,
}

/// Requests of one kind waiting for the next group commit: whatever queued
/// up while the last batch was being written goes in one store transaction,
/// and every request of the batch gets its answer.
struct Batches<T> {
    queue: std::sync::Mutex<Vec<(T, oneshot::Sender<BrokerRsp>)>>,
    /// Wakes the writer when the queue was empty.
    wake: Notify,
}

impl<T> Default for Batches<T> {
    fn default() -> Self {
        Batches { queue: std::sync::Mutex::new(Vec::new()), wake: Notify::new() }
    }
}

impl<T> Batches<T> {
    /// Queues `request` and waits for its batch's answer.
    async fn submit(&self, request: T) -> BrokerRsp {
        let (tx, rx) = oneshot::channel();
        self.queue.lock().unwrap().push((request, tx));
        self.wake.notify_one();
        rx.await.unwrap_or(BrokerRsp::Unavailable)
    }

    /// The writer: writes each batch with `write`, one at a time, for ever.
    async fn write<F, Fut>(&self, write: F)
    where
        F: Fn(Vec<T>) -> Fut,
        Fut: std::future::Future<Output = BrokerRsp>,
    {
        loop {
            self.wake.notified().await;
            loop {
                let batch = std::mem::take(&mut *self.queue.lock().unwrap());
                if batch.is_empty() {
                    break;
                }
                let (requests, answers): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                let rsp = write(requests).await;
                for answer in answers {
                    drop(answer.send(rsp.clone())); // a caller gone (timed out) hears nothing
                }
            }
        }
    }
}

struct Broker {
    ep: Arc<Endpoint>,
    store: StoreClient,
    config: BrokerConfig,
    /// The visibility timeout in simulated µs, as this node's clock measures it.
    visibility_us: u64,
    /// `None` until loaded from the store, and again after an unknown outcome.
    topics: Mutex<Option<BTreeMap<String, Topic>>>,
    /// Publishes waiting for the next group commit.
    publishes: Batches<Pending>,
    /// Acks (topic, group, sequence number) waiting for theirs: an ack needs
    /// the index only after its write, so acks do not queue behind publishes
    /// (a broker's acks and appends go to different logs, as Kafka's offsets
    /// and partitions do).
    acks: Batches<(String, String, u64)>,
    /// Every topic's groups: what may be deleted once they all acknowledged it.
    subscriptions: Arc<Subscriptions>,
    /// Per topic, wakes its long polls when a batch of publishes to it is
    /// durable (one for all topics woke every quiet group at every publish).
    published: std::sync::Mutex<BTreeMap<String, Arc<Notify>>>,
    /// Per topic, ids of messages published before the index was loaded,
    /// learnt when a publish of one found its id stored: put back into the
    /// index at every reload, which reads only the backlog's ids.
    learnt: std::sync::Mutex<BTreeMap<String, BTreeSet<String>>>,
}

const STORE_TIMEOUT: Duration = Duration::from_millis(150);
/// How often a broker that knows its subscriptions deletes what all of them
/// acknowledged, and how many messages at most at a time.
pub const RETENTION: Duration = Duration::from_millis(1000);
const RETENTION_BATCH: usize = 256;
/// How long an empty poll waits for a publish, or for a leased message to be
/// visible again, before answering (SQS lets a long poll wait up to 20 s; a
/// shorter one only costs idle requests: one per LONG_POLL per quiet group).
pub const LONG_POLL: Duration = Duration::from_millis(1000);

fn msg_key(topic: &str, seq: u64) -> String {
    seq_key("msg/", topic, seq, "")
}

/// `{prefix}{topic}/{seq:010}{suffix}`, spelt by hand: the formatter pads a
/// number one character at a time, which showed in an outbox run's profile.
fn seq_key(prefix: &str, topic: &str, seq: u64, suffix: &str) -> String {
    let mut num = itoa::Buffer::new();
    let digits = num.format(seq);
    let mut key = String::with_capacity(prefix.len() + topic.len() + 11 + digits.len() + suffix.len());
    key.push_str(prefix);
    key.push_str(topic);
    key.push('/');
    key.extend(std::iter::repeat_n('0', 10usize.saturating_sub(digits.len())));
    key.push_str(digits);
    key.push_str(suffix);
    key
}

/// A topic's last sequence number given.
// Concatenated, not formatted: a publish spells both, and the formatter
// was a fifth of a group commit's own work.
fn head_key(topic: &str) -> String {
    ["head/", topic].concat()
}

fn id_key(topic: &str, id: &str) -> String {
    ["msgid/", topic, "/", id].concat()
}

/// By sequence number, then group: a topic's acks from a message on are one range.
fn ack_key(topic: &str, group: &str, seq: u64) -> String {
    let mut key = seq_key("ack/", topic, seq, "/");
    key.push_str(group);
    key
}

/// `ack/{topic}/{seq}/{group}` → (topic, seq, group).
fn parse_ack_key(key: &str) -> Option<(&str, u64, &str)> {
    let (rest, group) = key.strip_prefix("ack/")?.rsplit_once('/')?;
    let (topic, seq) = rest.rsplit_once('/')?;
    Some((topic, seq.parse().ok()?, group))
}

/// The topic and sequence number of a broker row keyed by a message's place:
/// its message (`msg/{topic}/{seq}`) or an ack of it (`ack/{topic}/{seq}/{group}`).
pub fn message_at(key: &str) -> Option<(&str, u64)> {
    if let Some((topic, seq, _)) = parse_ack_key(key) {
        return Some((topic, seq));
    }
    let (topic, seq) = key.strip_prefix("msg/")?.rsplit_once('/')?;
    Some((topic, seq.parse().ok()?))
}

/// A broker node's whole life: serve from the store, rebuilding its index on start.
pub async fn serve(
    ctx: NodeCtx,
    db: Arc<ReplicaSet>,
    config: BrokerConfig,
    subscriptions: Arc<Subscriptions>,
) {
    let ep = ctx.endpoint().await;
    let visibility = Duration::from_millis(config.visibility_ms);
    let broker = Arc::new(Broker {
        ep: ep.clone(),
        visibility_us: ctx.sim().real(ctx.id(), visibility).as_micros() as u64,
        store: StoreClient::new(ep.clone(), db, STORE_TIMEOUT),
        config,
        topics: Mutex::new(None),
        publishes: Batches::default(),
        acks: Batches::default(),
        subscriptions,
        published: std::sync::Mutex::new(BTreeMap::new()),
        learnt: std::sync::Mutex::new(BTreeMap::new()),
    });
    let b = broker.clone();
    tokio::spawn(async move { b.publishes.write(|batch| b.publish(batch)).await });
    let b = broker.clone();
    tokio::spawn(async move { b.acks.write(|batch| b.ack(batch)).await });
    if !broker.subscriptions.is_empty() {
        tokio::spawn(broker.clone().retain());
    }
    ep.serve(move |req: BrokerReq, _from| broker.clone().handle(req));
    std::future::pending::<()>().await
}

impl Broker {
    async fn handle(self: Arc<Self>, req: BrokerReq) -> BrokerRsp {
        let (topic, group, max) = match req {
            BrokerReq::Ack { topic, group, seq } => return self.acks.submit((topic, group, seq)).await,
            BrokerReq::Publish { topic, id, key, payload } => {
                return self.publishes.submit(Pending { topic, id, key, payload }).await
            }
            BrokerReq::Poll { topic, group, max } => (topic, group, max),
        };
        // A long poll: an empty answer waits for the next durable publish, or
        // until a leased message is visible again (at most LONG_POLL), then
        // looks once more — a quiet topic costs one request per LONG_POLL, a
        // new message goes out as soon as it is stored and a redelivery as
        // soon as its lease runs out.
        let on_topic = self.published.lock().unwrap().entry(topic.clone()).or_default().clone();
        let published = on_topic.notified();
        tokio::pin!(published);
        published.as_mut().enable(); // registered now: a publish from here on wakes it
        let (first, visible_at) = self.poll_loaded(&topic, group.clone(), max).await;
        if !matches!(&first, BrokerRsp::Messages(m) if m.is_empty()) {
            return first;
        }
        let now = self.ep.sim().elapsed_us();
        let wait = Duration::from_micros(visible_at.map_or(u64::MAX, |at| at.saturating_sub(now)));
        tokio::select! {
            biased;
            _ = published => {}
            _ = tokio::time::sleep(wait.min(LONG_POLL)) => {}
        }
        self.poll_loaded(&topic, group, max).await.0
    }

    /// A poll's answer, and when the group's next leased message is visible again.
    async fn poll_loaded(&self, topic: &str, group: String, max: usize) -> (BrokerRsp, Option<u64>) {
        let mut guard = self.topics.lock().await;
        if guard.is_none() {
            match self.load().await {
                Some(t) => *guard = Some(t),
                None => return (BrokerRsp::Unavailable, None),
            }
        }
        self.poll(guard.as_mut().expect("loaded"), topic, group, max)
    }

    /// Every RETENTION, deletes the messages all their topic's groups
    /// acknowledged, from the store and then from the index. A deletion whose
    /// outcome is unknown is tried again next time (deleting twice is harmless).
    async fn retain(self: Arc<Self>) {
        loop {
            tokio::time::sleep(RETENTION).await;
            let mut guard = self.topics.lock().await;
            let Some(topics) = guard.as_mut() else { continue };
            let mut gone: Vec<(String, u64)> = Vec::new();
            for (topic, groups) in self.subscriptions.iter() {
                if let Some(t) = topics.get_mut(topic.as_str()) {
                    for g in groups {
                        t.groups.entry(g.clone()).or_default().settle(&t.partitions);
                    }
                    gone.extend(t.consumed(groups).into_iter().map(|seq| (topic.clone(), seq)));
                }
            }
            gone.sort_by_key(|(_, seq)| *seq); // the oldest first, whatever their topic
            gone.truncate(RETENTION_BATCH);
            if gone.is_empty() {
                continue;
            }
            // Each deletion on the condition that the store still holds every
            // group's ack of it: a failover may have lost one this index holds.
            let mut ops = Vec::new();
            for (topic, seq) in &gone {
                let groups = self.subscriptions.get(topic).into_iter().flatten();
                ops.extend(groups.map(|g| Op::Expect(ack_key(topic, g, *seq), Some(1.into()))));
                ops.push(Op::Delete(msg_key(topic, *seq)));
            }
            match self.store.txn(ops).await {
                Ok(_) => {
                    for (topic, seq) in gone {
                        let t = topics.get_mut(&topic).expect("a topic with messages");
                        t.remove(seq);
                    }
                }
                // An ack lost: read the index again, and deliver that message again.
                Err(TxnError::Condition { .. }) => *guard = None,
                Err(TxnError::Unknown) => {} // tried again next time
            }
        }
    }

    /// Rebuilds the index from the store; leases start empty, so every
    /// unacknowledged message is deliverable again. It reads the backlog —
    /// the messages still kept, their acks, each topic's head — not the
    /// history: an older id is learnt when a publish of it finds its row.
    async fn load(&self) -> Option<BTreeMap<String, Topic>> {
        let scans = ["msg/", "head/"].map(|p| Op::Scan(p.into())).to_vec();
        let r = self.store.txn(scans).await.ok()?;
        let mut topics: BTreeMap<String, Topic> = BTreeMap::new();
        for (k, v) in r[1].rows() {
            let last = v.as_int().expect("a topic's head") as u64;
            topics.entry(k["head/".len()..].to_string()).or_default().last = last;
        }
        for (k, v) in r[0].rows() {
            let (topic, seq) = message_at(k).expect("msg/{topic}/{seq}");
            let stored = Stored::decode(v.as_text().expect("text")).expect("a stored message");
            let p = partition_of(&stored.key, self.config.partitions);
            topics.entry(topic.to_string()).or_default().insert(p, seq, stored);
        }
        for (topic, ids) in self.learnt.lock().unwrap().iter() {
            topics.entry(topic.clone()).or_default().ids.extend(ids.iter().cloned());
        }
        // Each topic's acks from its oldest kept message on: the older ones
        // are of messages every group acknowledged and retention deleted.
        let acks = topics.iter().filter_map(|(topic, t)| {
            let oldest = t.partitions.iter().filter_map(|m| m.keys().next()).min()?;
            Some(Op::ScanFrom { prefix: format!("ack/{topic}/"), from: ack_key(topic, "", *oldest) })
        });
        let acks: Vec<Op> = acks.collect();
        if !acks.is_empty() {
            for result in self.store.txn(acks).await.ok()? {
                for (k, _) in result.rows() {
                    let (topic, seq, group) = parse_ack_key(k).unwrap_or_else(|| panic!("bad ack row {k}"));
                    let t = topics.get_mut(topic).expect("acks of a topic with messages");
                    t.ack(group, seq);
                }
            }
        }
        Some(topics)
    }

    /// Stores a batch of publishes durably, all or none: ids already stored
    /// are answered at once, the others get the next sequence numbers.
    async fn publish(&self, batch: Vec<Pending>) -> BrokerRsp {
        let mut guard = self.topics.lock().await;
        if guard.is_none() {
            match self.load().await {
                Some(t) => *guard = Some(t),
                None => return BrokerRsp::Unavailable,
            }
        }
        let topics = guard.as_mut().expect("loaded");
        let mut ops = Vec::new();
        let mut fresh: Vec<(String, u64, Stored)> = Vec::new();
        // Each topic's last sequence number as this index knows it: the batch
        // commits only if the store still has it — so a batch that arrives late
        // (its sender timed out and reloaded) cannot give a sequence number
        // again, even one whose message retention has deleted since.
        let mut heads: BTreeMap<String, u64> = BTreeMap::new();
        for p in &batch {
            heads.entry(p.topic.clone()).or_insert_with(|| topics.get(&p.topic).map_or(0, |t| t.last));
        }
        for Pending { topic, id, key, payload } in batch {
            let t = topics.entry(topic.clone()).or_default();
            let queued = |f: &(String, u64, Stored)| f.0 == topic && f.2.id == id;
            if t.ids.contains(&id) || fresh.iter().any(queued) {
                continue;
            }
            let last = fresh.iter().filter(|f| f.0 == topic).map(|f| f.1).max();
            let seq = last.unwrap_or(t.last) + 1;
            let stored = Stored { id: id.clone(), key, payload };
            let row = Value::Text(stored.encode());
            ops.push(Op::InsertIfAbsent(id_key(&topic, &id), Value::Int(seq as i64)));
            ops.push(Op::InsertIfAbsent(msg_key(&topic, seq), row));
            fresh.push((topic, seq, stored));
        }
        if ops.is_empty() {
            return BrokerRsp::Published;
        }
        for (topic, last) in &heads {
            let Some(new) = fresh.iter().filter(|f| &f.0 == topic).map(|f| f.1).max() else { continue };
            let was = (*last > 0).then_some(Value::Int(*last as i64));
            ops.push(Op::Expect(head_key(topic), was));
            ops.push(Op::Put(head_key(topic), Value::Int(new as i64)));
        }
        match self.store.txn(ops).await {
            Ok(_) => {}
            // An id already stored: published before this index was loaded,
            // or by a batch that reached the store after its broker gave up on
            // it. Drop the id from now on, even once its message is gone; the
            // batch's publishers try again.
            Err(TxnError::Condition { index, .. }) if index % 2 == 0 && index < 2 * fresh.len() => {
                let (topic, _, stored) = &fresh[index / 2];
                self.learnt.lock().unwrap().entry(topic.clone()).or_default().insert(stored.id.clone());
                // Its message, if still kept, is in the backlog a reload reads.
                *guard = None;
                return BrokerRsp::Unavailable;
            }
            // Another failed condition or no answer: our index is stale or the
            // outcome unknown — reload before the next request.
            Err(_) => {
                *guard = None;
                return BrokerRsp::Unavailable;
            }
        }
        let mut woken = BTreeSet::new();
        for (topic, seq, stored) in fresh {
            let p = partition_of(&stored.key, self.config.partitions);
            topics.entry(topic.clone()).or_default().insert(p, seq, stored);
            woken.insert(topic);
        }
        let published = self.published.lock().unwrap();
        woken.iter().filter_map(|t| published.get(t)).for_each(|n| n.notify_waiters());
        BrokerRsp::Published
    }

    /// The next deliveries for `group`, and when its next message leased to
    /// someone else is visible again.
    fn poll(
        &self,
        topics: &mut BTreeMap<String, Topic>,
        topic: &str,
        group: String,
        max: usize,
    ) -> (BrokerRsp, Option<u64>) {
        let Some(t) = topics.get_mut(topic) else { return (BrokerRsp::Messages(vec![]), None) };
        let g = t.groups.entry(group).or_default();
        g.settle(&t.partitions);
        let now = self.ep.sim().elapsed_us();
        let visibility = self.visibility_us;
        // A key is blocked behind its oldest unacknowledged message.
        let mut blocked: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        let mut visible_next: Option<u64> = None;
        // Each partition from its floor, starting at this poll's turn.
        let Group { floors, acked, leases, next } = g;
        let turn = (*next as usize).min(t.partitions.len());
        *next = next.wrapping_add(1) % self.config.partitions.max(1);
        let (first, later) = t.partitions.split_at(turn);
        let walk = (later.iter().enumerate().map(|(i, m)| (turn + i, m)))
            .chain(first.iter().enumerate())
            .filter(|(_, messages)| !messages.is_empty())
            .flat_map(|(p, messages)| {
                let acked = acked.get(&(p as u32));
                let unacked = move |(seq, _): &(&u64, &Stored)| !acked.is_some_and(|a| a.contains(seq));
                messages.range(floor_in(floors, p)..).filter(unacked)
            });
        for (seq, m) in walk {
            if !blocked.insert(m.key.as_str()) {
                continue;
            }
            let (visible_at, attempts) = leases.get(seq).copied().unwrap_or((0, 0));
            if visible_at > now {
                visible_next = Some(visible_next.map_or(visible_at, |v| v.min(visible_at)));
                continue; // leased to a consumer that may still ack it
            }
            leases.insert(*seq, (now + visibility, attempts + 1));
            let d = Delivery {
                seq: *seq,
                id: m.id.clone(),
                key: m.key.clone(),
                payload: m.payload.clone(),
                attempt: attempts + 1,
            };
            out.push(d);
            if out.len() == max {
                break;
            }
        }
        if self.config.reorder {
            let draw = self.ep.sim().draw(self.ep.node(), Purpose::Delivery);
            out.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(draw.0));
        }
        (BrokerRsp::Messages(out), visible_next)
    }

    /// Stores a batch of acks durably, all or none, then marks them in the
    /// index (not loaded: the load will read their rows).
    async fn ack(&self, batch: Vec<(String, String, u64)>) -> BrokerRsp {
        let ops = batch.iter().map(|(topic, group, seq)| Op::Put(ack_key(topic, group, *seq), 1.into()));
        if self.store.txn(ops.collect()).await.is_err() {
            return BrokerRsp::Unavailable;
        }
        if let Some(topics) = self.topics.lock().await.as_mut() {
            for (topic, group, seq) in batch {
                topics.entry(topic).or_default().ack(&group, seq);
            }
        }
        BrokerRsp::Acked
    }
}

/// What a broker's store holds — the ground truth of what was published and
/// what each consumer group acknowledged — read from its table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contents {
    /// Per topic, the ids of its durable messages by sequence number.
    pub messages: BTreeMap<String, BTreeMap<u64, String>>,
    /// Per topic, per group, the sequence numbers of its acknowledged deliveries.
    pub acked: BTreeMap<String, BTreeMap<String, BTreeSet<u64>>>,
    /// Ids `read` found at a sequence number a later id took: `update` cannot
    /// tell when one comes back into view, so it declines to run.
    hidden: usize,
}

impl Contents {
    /// Read at every look at ground truth, so a row costs only its own id:
    /// topic and group names are spelt once each.
    pub fn read(table: &crate::store::Table) -> Contents {
        let mut c = Contents::default();
        for (k, v) in table.rows("msgid/") {
            let (topic, id) = k["msgid/".len()..].split_once('/').expect("msgid/{topic}/{id}");
            let seq = v.as_int().expect("a message's seq") as u64;
            if entry(&mut c.messages, topic).insert(seq, id.to_string()).is_some() {
                c.hidden += 1;
            }
        }
        for (k, _) in table.rows("ack/") {
            if let Some((topic, seq, group)) = parse_ack_key(k) {
                entry(entry(&mut c.acked, topic), group).insert(seq);
            }
        }
        c
    }

    /// Brings `self`, read from `before`, up to `after` by the rows in which
    /// the two differ — what [`Contents::read`] of `after` gives, at the cost
    /// of the change: a settle poll looks again and again at a broker whose
    /// history only grows. `false` if a change does not apply by itself (two
    /// message ids at one sequence number, which `read` settles by key order,
    /// now or in `before`); `self` is then half-updated, to be read afresh.
    pub fn update(&mut self, before: &crate::store::Table, after: &crate::store::Table) -> bool {
        if self.hidden > 0 {
            return false;
        }
        let seq = |v: &Value| v.as_int().expect("a message's seq") as u64;
        for (k, was, now) in before.changes(after) {
            if let Some(rest) = k.strip_prefix("msgid/") {
                let (topic, id) = rest.split_once('/').expect("msgid/{topic}/{id}");
                if was.is_some_and(|v| !self.forget_message(topic, seq(v), id))
                    || now.is_some_and(|v| !self.note_message(topic, seq(v), id))
                {
                    return false;
                }
            } else if let Some((topic, seq, group)) = parse_ack_key(k) {
                match (was, now) {
                    (None, Some(_)) => {
                        entry(entry(&mut self.acked, topic), group).insert(seq);
                    }
                    (Some(_), None) => self.forget_ack(topic, group, seq),
                    _ => {}
                }
            }
        }
        true
    }

    /// Records `id` at `seq`; `false` if another id holds `seq`.
    fn note_message(&mut self, topic: &str, seq: u64, id: &str) -> bool {
        let messages = entry(&mut self.messages, topic);
        if messages.contains_key(&seq) {
            return false;
        }
        messages.insert(seq, id.to_string());
        true
    }

    /// Drops `id` at `seq` (and its topic, if that leaves it empty, as `read`
    /// would never have made it); `false` if `seq` does not hold `id`.
    fn forget_message(&mut self, topic: &str, seq: u64, id: &str) -> bool {
        let Some(messages) = self.messages.get_mut(topic) else { return false };
        if messages.get(&seq).map(String::as_str) != Some(id) {
            return false;
        }
        messages.remove(&seq);
        if messages.is_empty() {
            self.messages.remove(topic);
        }
        true
    }

    /// Drops an ack, and the group and topic it leaves empty.
    fn forget_ack(&mut self, topic: &str, group: &str, seq: u64) {
        let Some(groups) = self.acked.get_mut(topic) else { return };
        if let Some(seqs) = groups.get_mut(group) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                groups.remove(group);
            }
        }
        if groups.is_empty() {
            self.acked.remove(topic);
        }
    }
}

/// `map`'s entry for `name`, spelling the name only if it is new.
fn entry<'a, V: Default>(map: &'a mut BTreeMap<String, V>, name: &str) -> &'a mut V {
    if !map.contains_key(name) {
        map.insert(name.to_string(), V::default());
    }
    map.get_mut(name).expect("just inserted")
}

/// A client of the broker: publish, poll, ack, each with a timeout. Topic and
/// group names must not contain `/` (the broker's store keys use it).
#[derive(Clone)]
pub struct BrokerClient {
    ep: Arc<Endpoint>,
    broker: NodeId,
    timeout: Duration,
}

impl BrokerClient {
    pub fn new(ep: Arc<Endpoint>, broker: NodeId, timeout: Duration) -> Self {
        BrokerClient { ep, broker, timeout }
    }

    /// True once the message is durable at the broker.
    pub async fn publish(&self, topic: &str, id: &str, key: &str, payload: &str) -> bool {
        assert!(!topic.contains('/'), "topic {topic:?} contains '/'");
        let req = BrokerReq::Publish {
            topic: topic.into(),
            id: id.into(),
            key: key.into(),
            payload: payload.into(),
        };
        self.ep.call(self.broker, req, self.timeout).await == Ok(BrokerRsp::Published)
    }

    /// The next deliveries for `group`, waiting up to [`LONG_POLL`] for one
    /// if there is none; `None` if the broker did not answer (or could not).
    pub async fn poll(&self, topic: &str, group: &str, max: usize) -> Option<Vec<Delivery>> {
        assert!(
            !topic.contains('/') && !group.contains('/'),
            "topic {topic:?} / group {group:?} contains '/'"
        );
        let req = BrokerReq::Poll { topic: topic.into(), group: group.into(), max };
        // A long poll's answer may take LONG_POLL on top of the round trip.
        match self.ep.call(self.broker, req, self.timeout + LONG_POLL).await {
            Ok(BrokerRsp::Messages(m)) => Some(m),
            _ => None,
        }
    }

    pub async fn ack(&self, topic: &str, group: &str, seq: u64) -> bool {
        let req = BrokerReq::Ack { topic: topic.into(), group: group.into(), seq };
        self.ep.call(self.broker, req, self.timeout).await == Ok(BrokerRsp::Acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: &str) -> Stored {
        Stored { id: key.into(), key: key.into(), payload: String::new() }
    }

    proptest::proptest! {
        #[test]
        fn a_stored_message_reads_back_whatever_it_holds(id in ".*", key in ".*", payload in ".*") {
            let m = Stored { id, key, payload };
            proptest::prop_assert_eq!(Stored::decode(&m.encode()), Some(m));
        }

        #[test]
        fn any_row_reads_as_a_message_or_none_without_panicking(text in "[0-9:é]{0,12}.{0,8}") {
            if let Some(m) = Stored::decode(&text) {
                proptest::prop_assert_eq!(Stored::decode(&m.encode()), Some(m));
            }
        }

        /// A broker table, then the same table changed (so the two share
        /// nodes, as a recovered table shares them with the one before):
        /// whenever `update` says it applied, it reads as `read` of the later.
        #[test]
        fn contents_brought_up_to_date_read_as_the_later_table(
            rows in proptest::collection::vec(broker_row(), 0..300),
            edits in proptest::collection::vec((broker_row(), proptest::bool::ANY), 0..40),
        ) {
            let before: crate::store::Table = rows.into_iter().collect();
            let mut after = before.clone();
            for ((k, v), delete) in edits {
                if delete { after.remove(&k) } else { after.insert(k, v) };
            }
            let mut contents = Contents::read(&before);
            if contents.update(&before, &after) {
                proptest::prop_assert_eq!(contents, Contents::read(&after));
            }
        }
    }

    /// A message id's row (few ids and sequence numbers, so edits collide) or
    /// an ack's.
    fn broker_row() -> impl proptest::strategy::Strategy<Value = (String, Value)> {
        use proptest::prelude::*;
        let topic = prop_oneof![Just("orders"), Just("stock")];
        prop_oneof![
            (topic.clone(), 0..40u32, 0..60i64)
                .prop_map(|(t, id, seq)| (id_key(t, &format!("{id:06}-placed")), Value::Int(seq))),
            (topic, 0..60u64, prop_oneof![Just("inventory"), Just("payment")])
                .prop_map(|(t, seq, g)| (ack_key(t, g, seq), Value::Int(1))),
        ]
    }

    #[test]
    fn contents_take_what_changed_and_refuse_two_ids_at_one_sequence_number() {
        let table = |rows: &[(&str, &str, i64)]| -> crate::store::Table {
            rows.iter().map(|(t, id, seq)| (id_key(t, id), Value::Int(*seq))).collect()
        };
        let before = table(&[("orders", "a", 1), ("orders", "b", 2)]);
        let mut acked = before.clone();
        acked.insert(ack_key("orders", "payment", 1), Value::Int(1));
        acked.remove(&id_key("orders", "b"));
        let mut contents = Contents::read(&before);
        assert!(contents.update(&before, &acked), "an ack and a lost id apply by themselves");
        assert_eq!(contents, Contents::read(&acked));
        let mut gone = acked.clone();
        gone.remove(&id_key("orders", "a"));
        gone.remove(&ack_key("orders", "payment", 1));
        assert!(contents.update(&acked, &gone), "the topic's last id and ack go");
        assert_eq!(contents, Contents::read(&gone), "and their topic and group with them");
        let mut contents = Contents::read(&before);
        let clash = table(&[("orders", "a", 1), ("orders", "b", 2), ("orders", "c", 2)]);
        assert!(!contents.update(&before, &clash), "c at b's sequence number: read afresh");
        let mut contents = Contents::read(&clash);
        assert!(!contents.update(&clash, &before), "b hid behind c: read afresh");
    }

    #[test]
    fn a_row_that_spells_no_message_is_refused() {
        assert_eq!(
            Stored::decode("1:1:ab{}"),
            Some(Stored { id: "a".into(), key: "b".into(), payload: "{}".into() })
        );
        for bad in ["", "1:1", "1:ab", "x:1:ab", "3:1:ab", "1:3:ab", "1:0:é", "-1:1:ab"] {
            assert_eq!(Stored::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_spell_sequence_numbers_as_the_formatter_pads_them() {
        for seq in [0, 7, 12, 9_999_999_999, 10_000_000_000, u64::MAX] {
            assert_eq!(msg_key("orders", seq), format!("msg/orders/{seq:010}"));
            assert_eq!(ack_key("orders", "inventory", seq), format!("ack/orders/{seq:010}/inventory"));
        }
    }

    #[test]
    fn a_row_keyed_by_a_message_tells_its_place() {
        assert_eq!(message_at(&msg_key("orders", 12)), Some(("orders", 12)));
        assert_eq!(message_at(&ack_key("orders", "inventory", 12)), Some(("orders", 12)));
        assert_eq!(message_at(&head_key("orders")), None);
        assert_eq!(message_at(&id_key("orders", "000012-order-placed")), None);
    }

    #[test]
    fn a_key_has_one_partition_and_keys_spread_over_all() {
        assert_eq!(partition_of("order-7", 16), partition_of("order-7", 16));
        let mut seen = BTreeSet::new();
        for k in 0..1000 {
            seen.insert(partition_of(&format!("order-{k}"), 16));
        }
        assert_eq!(seen.len(), 16, "{seen:?}");
        assert_eq!(partition_of("anything", 1), 0);
    }

    /// A message nobody acknowledges holds back its own partition's floor
    /// only: the others' floors pass their acknowledged messages.
    #[test]
    fn an_unacknowledged_message_holds_back_only_its_partition() {
        let mut t = Topic::default();
        let (a, b) = (
            "order-1",
            (0..)
                .map(|k| format!("order-{k}"))
                .find(|k| partition_of(k, 16) != partition_of("order-1", 16))
                .unwrap(),
        );
        let (pa, pb) = (partition_of(a, 16), partition_of(&b, 16));
        t.insert(pa, 1, stored(a));
        for seq in 2..=5 {
            t.insert(pb, seq, stored(&b));
        }
        let mut g = Group::default();
        for seq in 2..=5 {
            g.ack(Some(pb), seq);
        }
        g.settle(&t.partitions);
        let floor = |g: &Group, p: u32| g.floor(p as usize);
        assert_eq!(floor(&g, pa), 1, "seq 1 is not acknowledged: the floor is still the start");
        assert_eq!(floor(&g, pb), 6, "the other partition moved past its acknowledged messages");
        assert!(g.acked.is_empty(), "settled acks are forgotten");
        // A repeated ack of a settled message is forgotten too, once every floor is past it.
        g.ack(Some(pb), 3);
        g.ack(Some(pa), 1);
        g.settle(&t.partitions);
        assert_eq!(floor(&g, pa), 2);
        assert!(g.acked.is_empty(), "{:?}", g.acked);
        // An ack out of order waits above its floor until the floor reaches it.
        t.insert(pa, 6, stored(a));
        t.insert(pa, 7, stored(a));
        g.ack(Some(pa), 7);
        g.settle(&t.partitions);
        assert_eq!((floor(&g, pa), g.acked[&pa].iter().copied().collect::<Vec<_>>()), (2, vec![7]));
        // An ack of a message no longer kept is forgotten at once.
        g.ack(None, 8);
        assert_eq!(g.acked.values().flatten().collect::<Vec<_>>(), [&7]);
    }
}
