//! The world of one run: a seeded madsim runtime, its named nodes, and the state
//! that outlives any node — disks, the network's fault state, the trace, and
//! who is told of each acknowledged commit. Fault actions (crash, partition, …) live here.

use crate::cluster::{ReplicaSet, Replication, ReplicationConfig};
use crate::disk::{Disk, DiskConfig, DiskFaults};
use crate::net::{self, Aim, Cut, NetState};
use crate::rpc::Endpoint;
use crate::store::Commit;
use crate::stream::{Draw, Purpose, Streams};
use crate::trace::{Event, EventKind, NodeId, Trace};
use madsim::runtime::Runtime;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What is told of each acknowledged commit (see [`Sim::on_commit`]).
pub type CommitSink = Box<dyn FnMut(&Commit) + Send>;

/// The trace tally of failovers whose new primary lacks writes the old one
/// had committed (with async replication: acknowledged writes, lost).
pub const FAILOVER_LOST_WRITES: &str = "failover-lost-writes";

#[cfg(not(madsim))]
compile_error!(
    "faultline-sim must be built with `--cfg madsim` (see .cargo/config.toml); \
     a RUSTFLAGS environment variable replaces it and turns the simulation off"
);

/// Settings of a world; plain data so a run's exact settings can be printed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorldConfig {
    /// One-way message latency range in microseconds, drawn per message. Default 1_000..5_000.
    pub latency_us: (u64, u64),
    /// Keep every trace event (for replay), not just the hash. Default off.
    pub record: bool,
    pub disk: DiskConfig,
    pub replication: ReplicationConfig,
    /// How the world's message brokers deliver (visibility timeout, reordering).
    pub broker: crate::broker::BrokerConfig,
    /// Bound on each node's clock drift: a node's timers run at a rate drawn
    /// from `1 ± clock_skew` (0.1: up to 10% fast or slow). Default 0.
    pub clock_skew: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            latency_us: (1_000, 5_000),
            record: false,
            disk: DiskConfig::default(),
            replication: ReplicationConfig::default(),
            clock_skew: 0.0,
            broker: crate::broker::BrokerConfig::default(),
        }
    }
}

/// A deterministic world: build it, add nodes, then [`World::run`] a main future.
pub struct World {
    rt: Runtime,
    sim: Arc<Sim>,
}

/// How far simulated time runs on when a world is dropped: past every timer a
/// run can set (fault durations and delays are bounded well below this).
const DRAIN_S: u64 = 30 * 24 * 3600;

impl Drop for World {
    /// madsim does not cancel a node's tasks when its runtime is dropped
    /// (madsim#242), and every task holds this world's `Sim`: without this,
    /// each seed's whole world stayed in memory. Killing every node drops its
    /// tasks and what they hold. Tasks on the main node cannot be killed, and
    /// one asleep keeps the runtime's memory alive; they hold the world only
    /// weakly and do nothing once the control plane is off, so letting
    /// simulated time run past every timer ends them all.
    fn drop(&mut self) {
        let ids: Vec<_> = self.sim.nodes.lock().unwrap().iter().map(|n| n.madsim_id).collect();
        *self.sim.control.lock().unwrap() = None;
        self.rt.block_on(async move {
            let handle = madsim::runtime::Handle::current();
            for id in ids {
                handle.kill(id);
            }
            tokio::time::sleep(Duration::from_secs(DRAIN_S)).await;
        });
    }
}

impl World {
    pub fn new(seed: u64, config: WorldConfig) -> World {
        let mut mconfig = madsim::Config::default();
        // Latency is drawn by faultline, per order and link (see `crate::stream`),
        // and applied at the receiver; madsim's own would come from its shared RNG.
        mconfig.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
        let rt = Runtime::with_seed_and_config(seed, mconfig);
        let sim = Arc::new(Sim {
            seed,
            config: config.clone(),
            nodes: Mutex::new(Vec::new()),
            net: Mutex::new(NetState::new(0, config.latency_us)),
            trace: Mutex::new(Trace::new(config.record)),
            commit_sinks: Mutex::new(Vec::new()),
            lost: Mutex::new(Vec::new()),
            ports: Mutex::new(Vec::new()),
            next_call: AtomicU64::new(1),
            healed: AtomicBool::new(false),
            sets: Mutex::new(Vec::new()),
            disk_base_latency: Mutex::new((0, 0)),
            streams: Arc::new(Streams::new(seed)),
            control: Mutex::new(None),
            crash_points: Mutex::new(Default::default()),
            commit_triggers: Mutex::new(Vec::new()),
            any_crash_point: AtomicBool::new(false),
            mutant: std::sync::OnceLock::new(),
            clock: std::sync::OnceLock::new(),
        });
        World { rt, sim }
    }

    /// Adds a node whose `init` runs at start and again after every restart: all
    /// it needs to survive a crash must come from its [`Disk`].
    pub fn node<F, Fut>(&mut self, name: &str, init: F) -> NodeId
    where
        F: Fn(NodeCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let mut nodes = self.sim.nodes.lock().unwrap();
        assert!(nodes.len() < net::MAX_NODES, "too many nodes");
        assert!(nodes.iter().all(|n| n.name != name), "duplicate node name {name:?}");
        let id = NodeId(nodes.len() as u16);
        let ctx = NodeCtx { sim: self.sim.clone(), id };
        let handle =
            self.rt.create_node().name(name).ip(net::addr_of(id)).init(move || init(ctx.clone())).build();
        let rate = clock_rate(self.sim.seed, id, self.sim.config.clock_skew);
        nodes.push(NodeInfo {
            rate,
            name: name.to_string(),
            madsim_id: handle.id(),
            disk: Arc::new(Disk::new(self.sim.config.disk.clone()).drawing(self.sim.streams.clone(), id)),
            paused: false,
        });
        self.sim.net().set_up(id, true);
        id
    }

    /// Adds a store named `name`: one node, or a primary and a `{name}-replica`
    /// node, under the replication mode the world's config gives this store.
    /// Returns its replica set.
    pub fn store(&mut self, name: &str) -> Arc<ReplicaSet> {
        let mode = self.sim.config.replication.mode_of(name);
        let first = self.sim.node_count() as u16;
        let members = match mode {
            Replication::None => vec![NodeId(first)],
            Replication::Async | Replication::SemiSync => vec![NodeId(first), NodeId(first + 1)],
        };
        let set = Arc::new(ReplicaSet::new(name, members.clone(), mode));
        self.sim.sets.lock().unwrap().push(set.clone());
        for (i, id) in members.into_iter().enumerate() {
            let node_name = if i == 0 { name.to_string() } else { format!("{name}-replica") };
            let s = set.clone();
            assert_eq!(self.node(&node_name, move |ctx| crate::store::serve(ctx, s.clone())), id);
        }
        set
    }

    /// Adds a message broker node `name`, backed by a store `{name}-db`, that
    /// delivers as the world's broker config says.
    /// Adds a message broker named `name` and its store `{name}-db`.
    pub fn broker(&mut self, name: &str) -> (NodeId, Arc<ReplicaSet>) {
        self.broker_for(name, crate::broker::Subscriptions::default())
    }

    /// A broker that knows every consumer group of every topic from the start,
    /// so it can delete what all of them acknowledged (see [`crate::broker`]).
    pub fn broker_for(
        &mut self,
        name: &str,
        subscriptions: crate::broker::Subscriptions,
    ) -> (NodeId, Arc<ReplicaSet>) {
        let db = self.store(&format!("{name}-db"));
        let (config, d, subs) = (self.sim.config.broker.clone(), db.clone(), Arc::new(subscriptions));
        let id =
            self.node(name, move |ctx| crate::broker::serve(ctx, d.clone(), config.clone(), subs.clone()));
        (id, db)
    }

    /// Adds a cache node `name` (see [`crate::cache`]): what it holds lives
    /// in memory, and only its append-only log, if `config` keeps one, on disk.
    pub fn cache(&mut self, name: &str, config: crate::cache::CacheConfig) -> NodeId {
        let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        self.node(name, move |ctx| crate::cache::serve(ctx, config, starts.clone()))
    }

    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Runs `main` to completion in simulated time. The control plane (delayed
    /// restarts, failovers) runs beside it on the main node.
    pub fn run<F: Future>(&self, main: F) -> F::Output {
        let sim = self.sim.clone();
        self.rt.block_on(async move {
            let jobs = {
                let mut control = sim.control.lock().unwrap();
                match *control {
                    Some(_) => None,
                    None => {
                        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
                        *control = Some(tx);
                        Some(rx)
                    }
                }
            };
            if let Some(mut jobs) = jobs {
                // First entry into the runtime: say whose clock is off, and by how much.
                for (i, n) in sim.nodes.lock().unwrap().iter().enumerate() {
                    if n.rate != 1.0 {
                        let ppm = ((n.rate - 1.0) * 1e6).round() as i64;
                        sim.trace.lock().unwrap().push(Event {
                            at_us: 0,
                            node: NodeId(i as u16),
                            order: None,
                            kind: EventKind::ClockSkew { ppm },
                        });
                    }
                }
                // Weakly held, like every task on the main node: madsim never
                // cancels them, so one asleep when the run ends must not keep
                // the world alive.
                let s = Arc::downgrade(&sim);
                tokio::spawn(async move {
                    while let Some((delay, job)) = jobs.recv().await {
                        let s = s.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            match s.upgrade() {
                                // Once the world is being dropped, the control plane is off.
                                Some(s) if s.control.lock().unwrap().is_some() => job(&s),
                                _ => {}
                            }
                        });
                    }
                });
            }
            main.await
        })
    }
}

/// A node's clock rate, drawn from the seed and the node's index alone, so it
/// does not depend on anything else the run does with randomness.
fn clock_rate(seed: u64, id: NodeId, skew: f64) -> f64 {
    use rand::{Rng, SeedableRng};
    if skew == 0.0 {
        return 1.0;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x636c_6f63_6b00_0000 ^ u64::from(id.0));
    1.0 + rng.gen_range(-skew..=skew)
}

struct NodeInfo {
    /// How fast this node's clock runs against simulated time (1.0: exact).
    rate: f64,
    name: String,
    madsim_id: madsim::task::NodeId,
    disk: Arc<Disk>,
    paused: bool,
}

/// What a node's code gets: its identity and the world it lives in.
#[derive(Clone)]
pub struct NodeCtx {
    sim: Arc<Sim>,
    id: NodeId,
}

impl NodeCtx {
    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }
    /// Sleeps for `local` on this node's (possibly skewed) clock.
    pub async fn sleep(&self, local: Duration) {
        self.sim.sleep_on(self.id, local).await
    }

    /// Binds this node's endpoint. Call once per incarnation.
    pub async fn endpoint(&self) -> Arc<Endpoint> {
        Endpoint::bind(self.sim.clone(), self.id).await
    }
    pub fn disk(&self) -> Arc<Disk> {
        self.sim.disk(self.id)
    }
    /// Records a fault this node injected itself (e.g. a gateway losing a callback).
    pub fn injected(&self, fault: &'static str, detail: impl Into<String>) {
        self.sim.record(self.id, EventKind::Injected { fault, detail: detail.into() });
    }

    /// A named place in a node's code where a crash is most interesting (between
    /// a publish and its mark-sent, between a commit and its reply). Once armed
    /// with [`Sim::arm_crash_point`], reaching it crashes this node on the spot —
    /// the crash is in the trace — and restarts it after `restart_after`.
    pub async fn crash_point(&self, name: &'static str, restart_after: Duration) {
        self.sim.crash_point(self.id, name, restart_after).await
    }

    /// Records a protocol-level note in the trace.
    pub fn note(&self, text: impl Into<String>) {
        self.sim.record(self.id, EventKind::Note { text: text.into() });
    }
}

/// The writes one failover lost, in commit order.
#[derive(Clone, Debug, PartialEq)]
pub struct LostWrites {
    pub at_us: u64,
    /// The replica set that failed over.
    pub store: String,
    pub writes: crate::store::Writes,
}

/// An armed [`crate::Fault::AfterCommit`].
struct CommitTrigger {
    node: NodeId,
    /// Commits still to let pass, this one included.
    left: u32,
    nth: u32,
    action: crate::CommitAction,
    ms: u64,
}

/// Work for the control plane: run this after that delay.
type Job = (Duration, Box<dyn FnOnce(&Arc<Sim>) + Send>);

/// The shared state of a world, reachable from every node and from the nemesis.
pub struct Sim {
    seed: u64,
    config: WorldConfig,
    nodes: Mutex<Vec<NodeInfo>>,
    net: Mutex<NetState>,
    trace: Mutex<Trace>,
    /// Told of every acknowledged commit as it happens; no history is kept.
    commit_sinks: Mutex<Vec<CommitSink>>,
    /// What each failover lost, in full (the trace keeps a summary).
    lost: Mutex<Vec<LostWrites>>,
    /// Each running node's port, by node index: where messages to it go.
    ports: Mutex<Vec<Option<Arc<crate::rpc::Port>>>>,
    next_call: AtomicU64,
    healed: AtomicBool,
    sets: Mutex<Vec<Arc<ReplicaSet>>>,
    /// The extra sync latency of the current disk faults, restored after a spike.
    disk_base_latency: Mutex<(u64, u64)>,
    /// Every draw a run makes, but the scheduler's (see [`crate::stream`]).
    streams: Arc<Streams>,
    control: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Job>>>,
    /// Armed after-commit faults: (store node, commits still to let pass, nth, action, ms).
    commit_triggers: Mutex<Vec<CommitTrigger>>,
    /// Armed crash points: name → how many more times it fires.
    crash_points: Mutex<std::collections::BTreeMap<String, u32>>,
    /// Whether any crash point or after-commit fault was ever armed: every
    /// commit passes both checks, and most runs arm none, so they skip the locks.
    any_crash_point: AtomicBool,
    /// The one known bug switched on in this run, by name (see [`Sim::mutant`]).
    mutant: std::sync::OnceLock<String>,
    /// The runtime's clock, taken at its first read inside the runtime (the
    /// world is made outside it). `TimeHandle::current()` clones two `Arc`s
    /// at every read, and a message reads the clock several times.
    clock: std::sync::OnceLock<madsim::time::TimeHandle>,
}

impl Sim {
    /// Simulated time since the world started, in microseconds.
    pub fn now_us() -> u64 {
        madsim::time::TimeHandle::current().elapsed().as_micros() as u64
    }

    /// [`Sim::now_us`], read through this world's own handle on the clock.
    pub fn elapsed_us(&self) -> u64 {
        self.clock().elapsed().as_micros() as u64
    }

    /// The simulated time as an instant: the same as `Instant::now()`, without
    /// the C library's clock call that madsim intercepts.
    pub(crate) fn instant(&self) -> tokio::time::Instant {
        self.clock().now_instant()
    }

    fn clock(&self) -> &madsim::time::TimeHandle {
        self.clock.get_or_init(madsim::time::TimeHandle::current)
    }

    /// True once [`Sim::heal_all`] ran: the run is in its liveness phase.
    pub fn healed(&self) -> bool {
        self.healed.load(Ordering::Relaxed)
    }

    /// The world's configured one-way latency range, in microseconds.
    pub fn base_latency_us(&self) -> (u64, u64) {
        self.config.latency_us
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Records what happened on `node`, for the order the running task works for.
    pub fn record(&self, node: NodeId, kind: EventKind) {
        self.record_for(node, kind, crate::order::current())
    }

    /// Records what happened on `node` for `order`.
    pub fn record_for(&self, node: NodeId, kind: EventKind, order: Option<u32>) {
        let event = Event { at_us: self.elapsed_us(), node, order, kind };
        self.trace.lock().unwrap().push(event);
    }

    /// The next draw of `node`'s random stream for `purpose`, for the order
    /// the running task works for (see [`crate::stream`]).
    pub fn draw(&self, node: NodeId, purpose: Purpose) -> Draw {
        self.streams.draw(node, purpose, crate::order::current())
    }

    /// The next `N` draws of that stream, in one step (see [`Sim::draw`]).
    pub fn draws<const N: usize>(&self, node: NodeId, purpose: Purpose) -> [Draw; N] {
        self.streams.draws(node, purpose, crate::order::current())
    }

    pub fn trace(&self) -> MutexGuard<'_, Trace> {
        self.trace.lock().unwrap()
    }

    pub(crate) fn net(&self) -> MutexGuard<'_, NetState> {
        self.net.lock().unwrap()
    }

    pub(crate) fn next_call(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Hands an acknowledged commit to every sink, then drops it: a run that
    /// kept every commit held a third of its memory in them, and its end
    /// walked them all through cold cache.
    pub(crate) fn push_commit(&self, commit: Commit) {
        for sink in self.commit_sinks.lock().unwrap().iter_mut() {
            sink(&commit);
        }
    }

    /// Tells `sink` of every write a store acknowledges from now on, in
    /// acknowledgement order (a sink must not call back into the simulator).
    pub fn on_commit(&self, sink: CommitSink) {
        self.commit_sinks.lock().unwrap().push(sink);
    }

    /// Frees what a finished run accumulated — every disk's records, the
    /// commit sinks and what they hold, the recorded trace events. madsim keeps the world's
    /// tasks (and their references to this `Sim`) alive after the runtime is
    /// dropped, so without this each seed's state stayed in memory for good.
    /// Call it once the run's results are taken; the hash and counts remain.
    pub fn release(&self) {
        for node in self.nodes.lock().unwrap().iter() {
            node.disk.release();
        }
        *self.commit_sinks.lock().unwrap() = Vec::new();
        *self.lost.lock().unwrap() = Vec::new();
        self.ports.lock().unwrap().clear();
        self.trace.lock().unwrap().release();
        self.streams.clear();
    }

    /// Makes `port` where messages to `node` go (its endpoint binds).
    pub(crate) fn bind_port(&self, node: NodeId, port: Arc<crate::rpc::Port>) {
        *crate::dense::slot(&mut self.ports.lock().unwrap(), usize::from(node.0), || None) = Some(port);
    }

    /// `f` on where messages to `node` go, if its endpoint is bound (under
    /// the ports' lock: `f` must not bind one).
    pub(crate) fn with_port<T>(&self, node: NodeId, f: impl FnOnce(&crate::rpc::Port) -> T) -> Option<T> {
        Some(f(self.ports.lock().unwrap().get(usize::from(node.0))?.as_deref()?))
    }

    /// The writes each failover lost: what the old primary had committed
    /// beyond the replica it was replaced by. Ground truth for attributing a
    /// violation to a failover (with async replication, acknowledged writes).
    pub fn lost_writes(&self) -> MutexGuard<'_, Vec<LostWrites>> {
        self.lost.lock().unwrap()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.lock().unwrap().len()
    }

    pub fn name(&self, id: NodeId) -> String {
        self.nodes.lock().unwrap()[id.0 as usize].name.clone()
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        let nodes = self.nodes.lock().unwrap();
        nodes.iter().position(|n| n.name == name).map(|i| NodeId(i as u16))
    }

    pub fn disk(&self, id: NodeId) -> Arc<Disk> {
        self.nodes.lock().unwrap()[id.0 as usize].disk.clone()
    }

    /// How long `local` on `node`'s (skewed) clock lasts in simulated time: a
    /// fast clock fires its timeouts early, a slow one late.
    pub fn real(&self, node: NodeId, local: Duration) -> Duration {
        local.div_f64(self.nodes.lock().unwrap()[node.0 as usize].rate)
    }

    /// Sleeps for `local` as measured by `node`'s clock.
    pub async fn sleep_on(&self, node: NodeId, local: Duration) {
        let real = self.real(node, local);
        tokio::time::sleep(real).await
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.net().is_up(id)
    }

    fn madsim_id(&self, id: NodeId) -> madsim::task::NodeId {
        self.nodes.lock().unwrap()[id.0 as usize].madsim_id
    }

    /// Runs `job` on the control plane after `delay`, whatever node asks: the
    /// job outlives the asker, as a supervisor outlives the process it restarts.
    pub fn after(&self, delay: Duration, job: impl FnOnce(&Arc<Sim>) + Send + 'static) {
        let control = self.control.lock().unwrap();
        let tx = control.as_ref().expect("the control plane runs only inside World::run");
        // The receiver lives as long as the world's runtime; a send fails only
        // while the world is being torn down, when nothing matters any more.
        let _ = tx.send((delay, Box::new(job)));
    }

    /// Switches on the known bug `name` for this run; set once, before it runs.
    /// The simulator gives it no meaning: protocol code asks [`Sim::mutant`].
    pub fn set_mutant(&self, name: &str) {
        self.mutant.set(name.to_string()).expect("one mutant per run");
    }

    pub fn mutant(&self) -> Option<&str> {
        self.mutant.get().map(String::as_str)
    }

    /// Arms the crash point `name` to fire the next `times` times any node reaches it.
    pub fn arm_crash_point(&self, name: &str, times: u32) {
        self.crash_points.lock().unwrap().insert(name.to_string(), times);
        self.any_crash_point.store(true, Ordering::Relaxed);
    }

    /// Arms a [`crate::Fault::AfterCommit`]: `node`'s `nth` commit from now on.
    pub fn after_commit(&self, node: NodeId, nth: u32, (action, ms): (crate::CommitAction, u64)) {
        self.commit_triggers.lock().unwrap().push(CommitTrigger { node, left: nth, nth, action, ms });
        self.any_crash_point.store(true, Ordering::Relaxed);
    }

    /// A store `node` made a commit durable and is about to acknowledge it: an
    /// armed [`crate::Fault::AfterCommit`] counting its commits may fire here.
    pub(crate) async fn committed(&self, node: NodeId) {
        if !self.any_crash_point.load(Ordering::Relaxed) {
            return;
        }
        let fired = {
            let mut triggers = self.commit_triggers.lock().unwrap();
            triggers.iter_mut().filter(|t| t.node == node).for_each(|t| t.left = t.left.saturating_sub(1));
            let at = triggers.iter().position(|t| t.node == node && t.left == 0);
            at.map(|i| triggers.remove(i))
        };
        let Some(t) = fired else { return };
        let detail = format!("{}'s commit #{}: {:?}", self.name(node), t.nth, t.action);
        self.record(node, EventKind::Injected { fault: "targeted", detail });
        let ms = Duration::from_millis(t.ms);
        match t.action {
            crate::CommitAction::Crash => {
                self.crash(node);
                self.after(ms, move |s| s.restart(node));
                // This task belongs to the dead node: it is never polled again.
                std::future::pending::<()>().await
            }
            crate::CommitAction::Pause => {
                self.pause(node);
                self.after(ms, move |s| s.resume(node));
            }
        }
    }

    /// [`NodeCtx::crash_point`] for code that has the world but no context.
    pub async fn crash_point(&self, node: NodeId, name: &'static str, restart_after: Duration) {
        if !self.take_crash_point(name) {
            return;
        }
        self.record(node, EventKind::Injected { fault: "crash-point", detail: name.into() });
        self.crash(node);
        self.after(restart_after, move |s| s.restart(node));
        // This task belongs to the dead node: it is never polled again.
        std::future::pending::<()>().await
    }

    fn take_crash_point(&self, name: &str) -> bool {
        if !self.any_crash_point.load(Ordering::Relaxed) {
            return false;
        }
        let mut points = self.crash_points.lock().unwrap();
        match points.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// The replica sets of the world's stores.
    pub fn replica_sets(&self) -> Vec<Arc<ReplicaSet>> {
        self.sets.lock().unwrap().clone()
    }

    fn set_named(&self, name: &str) -> Option<Arc<ReplicaSet>> {
        self.sets.lock().unwrap().iter().find(|s| s.name == name).cloned()
    }

    /// Kills every task of the node; its disk loses what was not synced. A
    /// crashed primary is replaced by its replica after the detection delay.
    pub fn crash(&self, id: NodeId) {
        if !self.is_up(id) {
            return;
        }
        madsim::runtime::Handle::current().kill(self.madsim_id(id));
        // What was on its way to it is lost with it; the next life binds anew.
        if let Some(port) = self.ports.lock().unwrap().get_mut(usize::from(id.0)) {
            *port = None;
        }
        self.nodes.lock().unwrap()[id.0 as usize].paused = false;
        self.net().set_up(id, false);
        let loss = self.disk(id).crash();
        self.record(id, EventKind::Crash { unsynced_lost: loss.unsynced_lost, torn: loss.torn });
        let set =
            self.sets.lock().unwrap().iter().find(|s| s.is_primary(id) && s.peer(id).is_some()).cloned();
        if let Some(set) = set {
            let detection = Duration::from_millis(self.config.replication.detection_ms);
            self.after(detection, move |s| {
                if set.is_primary(id) && !s.is_up(id) && !s.healed() {
                    s.failover(&set);
                }
            });
        }
    }

    /// Promotes the replica of the store named `name` (the primary's name).
    pub fn failover_store(&self, name: &str) {
        let set = self.set_named(name).unwrap_or_else(|| panic!("no store named {name}"));
        self.failover(&set);
    }

    /// Makes the replica the primary in a new epoch, whatever the old primary is
    /// doing. Records which acknowledged records the new primary never got.
    pub fn failover(&self, set: &ReplicaSet) {
        let old = set.primary();
        let Some(new) = set.peer(old) else { return };
        // Semi-sync's promise holds only for a replica that has caught up with
        // this primary; a control plane must not promote one that has not.
        let lagging = set.mode == Replication::SemiSync && !set.replica_in_sync();
        if !self.is_up(new) || lagging {
            let reason = if lagging { "replica not in sync" } else { "replica down" };
            let kind = EventKind::FailoverImpossible { store: set.name.clone(), reason: reason.into() };
            self.record(NodeId::WORLD, kind);
            return;
        }
        // What the replica has of this primary's reign (its epoch): records are
        // numbered per epoch, so a sequence number from another epoch says nothing.
        let reign = set.epoch();
        let (_, kept) = crate::store::log::reign(&self.disk(new), reign, u64::MAX);
        let mut lost = 0;
        let mut lost_keys: Vec<String> = Vec::new();
        let mut writes = Vec::new();
        for rec in crate::store::log::reign(&self.disk(old), reign, kept).0 {
            if let crate::store::log::Body::Writes(w) = &rec.body {
                lost += 1;
                for (k, _) in w {
                    if !lost_keys.iter().any(|l| l == k.as_str()) && lost_keys.len() < 8 {
                        lost_keys.push(k.to_string());
                    }
                }
                writes.extend(w.iter().cloned());
            }
        }
        if !writes.is_empty() {
            self.lost_after_failover(&set.name, writes);
        }
        let epoch = set.promote(new);
        let kind = EventKind::Failover { store: set.name.clone(), to: new, epoch, lost, lost_keys };
        self.record(NodeId::WORLD, kind);
    }

    /// Records writes of `store` that a failover lost: what the old primary
    /// had committed beyond its replica, or acknowledged after its demotion.
    pub(crate) fn lost_after_failover(&self, store: &str, writes: crate::store::Writes) {
        let at_us = self.elapsed_us();
        self.lost.lock().unwrap().push(LostWrites { at_us, store: store.to_string(), writes });
        self.trace().tally(FAILOVER_LOST_WRITES);
    }

    /// A latency spike on every disk (`Some` extra µs per sync), or its end
    /// (`None`: back to the latency the current disk faults set).
    pub fn set_disk_latency(&self, spike_us: Option<(u64, u64)>) {
        let extra = spike_us.unwrap_or(*self.disk_base_latency.lock().unwrap());
        for n in self.nodes.lock().unwrap().iter() {
            n.disk.set_extra_latency(extra);
        }
        let kind = EventKind::DiskLatency { min_ms: extra.0 / 1000, max_ms: extra.1 / 1000 };
        self.record(NodeId::WORLD, kind);
    }

    /// Switches disk faults on (or off, with the default) on every disk.
    pub fn set_disk_faults(&self, faults: DiskFaults) {
        *self.disk_base_latency.lock().unwrap() = faults.extra_latency_us;
        for n in self.nodes.lock().unwrap().iter() {
            n.disk.set_faults(faults);
        }
        let (lo, hi) = faults.extra_latency_us;
        self.record(
            NodeId::WORLD,
            EventKind::DiskFaults {
                fsync_fail_ppm: (faults.fsync_fail_rate * 1e6) as u32,
                torn_ppm: (faults.torn_write_rate * 1e6) as u32,
                extra_latency_ms: (lo / 1000, hi / 1000),
            },
        );
    }

    /// Starts a crashed node again from its init function and its durable state.
    pub fn restart(&self, id: NodeId) {
        if self.is_up(id) {
            return;
        }
        self.net().set_up(id, true);
        self.record(id, EventKind::Restart);
        madsim::runtime::Handle::current().restart(self.madsim_id(id));
    }

    pub fn pause(&self, id: NodeId) {
        let mut nodes = self.nodes.lock().unwrap();
        if nodes[id.0 as usize].paused || !self.is_up(id) {
            return;
        }
        nodes[id.0 as usize].paused = true;
        madsim::runtime::Handle::current().pause(nodes[id.0 as usize].madsim_id);
        drop(nodes);
        self.record(id, EventKind::Pause);
    }

    pub fn resume(&self, id: NodeId) {
        let mut nodes = self.nodes.lock().unwrap();
        if !nodes[id.0 as usize].paused {
            return;
        }
        nodes[id.0 as usize].paused = false;
        madsim::runtime::Handle::current().resume(nodes[id.0 as usize].madsim_id);
        drop(nodes);
        self.record(id, EventKind::Resume);
    }

    /// Cuts every link between `side` and the rest of the world; returns the
    /// partition's id for [`Sim::heal_partition`].
    pub fn partition(&self, side: &[NodeId]) -> u64 {
        let id = self.net().add_partition(Cut::Side(net::mask_of(side)));
        self.record(NodeId::WORLD, EventKind::Partition { side: side.to_vec() });
        id
    }

    /// Cuts the one link between `a` and `b`, both ways; returns its id for
    /// [`Sim::heal_partition`].
    pub fn cut_link(&self, a: NodeId, b: NodeId) -> u64 {
        let id = self.net().add_partition(Cut::Link(a, b));
        self.record(NodeId::WORLD, EventKind::LinkCut { a, b });
        id
    }

    /// Ends a partition or link cut; a no-op if it already ended.
    pub fn heal_partition(&self, partition: u64) {
        let cut = self.net().remove_partition(partition);
        if let Some(cut) = cut {
            self.record_healed(cut);
        }
    }

    fn record_healed(&self, cut: Cut) {
        let kind = match cut {
            Cut::Side(side) => EventKind::PartitionHealed { side: net::nodes_of(side) },
            Cut::Link(a, b) => EventKind::LinkHealed { a, b },
        };
        self.record(NodeId::WORLD, kind);
    }

    /// Sets the one-way latency range in microseconds (a jitter spike, or back to base).
    pub fn set_latency(&self, (min, max): (u64, u64)) {
        self.net().latency_us = (min, max);
        self.record(NodeId::WORLD, EventKind::Latency { min_ms: min / 1000, max_ms: max / 1000 });
    }

    /// Makes every message to or from `id` but the share `spared` take
    /// `min..max` µs (a gray failure), or, `None`, ends that.
    pub fn set_slow(&self, id: NodeId, slow: Option<crate::net::Slow>) {
        let (min, max) = {
            let mut net = self.net();
            net.slow.retain(|(n, _)| *n != id);
            net.slow.extend(slow.map(|s| (id, s)));
            slow.map_or((0, 0), |s| s.range_us)
        };
        self.record(id, EventKind::SlowNode { min_ms: min / 1000, max_ms: max / 1000 });
    }

    pub fn set_loss(&self, rate: f64) {
        self.net().loss_rate = rate;
        self.record(NodeId::WORLD, EventKind::Loss { rate_ppm: (rate * 1e6) as u32 });
    }

    pub fn set_duplication(&self, rate: f64) {
        self.net().dup_rate = rate;
        self.record(NodeId::WORLD, EventKind::Duplication { rate_ppm: (rate * 1e6) as u32 });
    }

    /// Arms a targeted message fault: the `nth` message `aim` matches, sent
    /// from now on, gets `action`.
    pub fn aim(&self, aim: Aim, nth: u32, action: (crate::MessageAction, u64)) {
        let (action, ms) = action;
        let target = crate::net::Target { aim, left: nth, nth, action, ms };
        self.net().targets.push(target);
    }

    /// A targeted fault's target, in words: "inventory → inventory-db txn #2",
    /// "order 3's message #12".
    pub(crate) fn aim_text(&self, aim: &Aim, nth: u32) -> String {
        let name = |n: Option<NodeId>| n.map_or("any".to_string(), |n| self.name(n));
        match (aim.order, &aim.label) {
            (Some(o), None) => format!("order {o}'s message #{nth}"),
            (_, label) => {
                let label = label.as_deref().unwrap_or("any");
                format!("{} → {} {label} #{nth}", name(aim.from), name(aim.to))
            }
        }
    }

    /// Ends every fault: restarts crashed nodes, resumes paused ones, reconnects
    /// all links, and puts latency, loss and duplication back to their base.
    pub fn heal_all(&self) {
        self.healed.store(true, Ordering::Relaxed);
        self.record(NodeId::WORLD, EventKind::HealAll);
        // Crash points are faults too: disarmed with the rest, however many
        // firings they had left.
        self.crash_points.lock().unwrap().clear();
        self.any_crash_point.store(false, Ordering::Relaxed);
        for t in std::mem::take(&mut *self.commit_triggers.lock().unwrap()) {
            let detail = format!("{}'s commit #{}: never made", self.name(t.node), t.nth);
            self.record(NodeId::WORLD, EventKind::Injected { fault: "targeted-missed", detail });
        }
        self.set_disk_faults(DiskFaults::default());
        for cut in self.net().clear_partitions() {
            self.record_healed(cut);
        }
        let slow = std::mem::take(&mut self.net().slow);
        for (id, _) in slow {
            self.record(id, EventKind::SlowNode { min_ms: 0, max_ms: 0 });
        }
        let missed = {
            let mut net = self.net();
            net.latency_us = self.config.latency_us;
            net.loss_rate = 0.0;
            net.dup_rate = 0.0;
            std::mem::take(&mut net.targets)
        };
        // A targeted fault whose message never came found nothing: say so.
        for t in missed {
            let detail = format!("{}: never sent", self.aim_text(&t.aim, t.nth));
            self.record(NodeId::WORLD, EventKind::Injected { fault: "targeted-missed", detail });
        }
        for i in 0..self.node_count() {
            let id = NodeId(i as u16);
            self.resume(id);
            self.restart(id);
        }
    }
}
