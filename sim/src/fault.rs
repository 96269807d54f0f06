//! Faults as data: a [`FaultPlan`] is a list of timed fault events, either written
//! by hand (a scenario's explicit plan, a shrunk counterexample) or drawn from a
//! [`FaultModel`] with the run's seed. Nodes are named, so plans are portable.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};

/// One fault. Every fault that lasts ends by itself; the nemesis heals the rest
/// at the end of the fault window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Kill the node (its unsynced writes are lost) and restart it later.
    Crash { node: String, restart_after_ms: u64 },
    /// Stop scheduling the node's tasks; messages to it queue up.
    Pause { node: String, duration_ms: u64 },
    /// Cut every link between `side` and the other nodes.
    Partition { side: Vec<String>, duration_ms: u64 },
    /// Cut the one link between `a` and `b`, both ways; both stay reachable by others.
    LinkCut { a: String, b: String, duration_ms: u64 },
    /// A jitter spike: one-way latency drawn from `min_ms..max_ms`.
    Latency { min_ms: u64, max_ms: u64, duration_ms: u64 },
    /// A gray failure ("limpware"): the node is up and answers, slowly — every
    /// message to or from it takes `min_ms..max_ms`, drawn per message, so a
    /// request sent early can land after one sent later; a share `spared` of
    /// them (chosen per message) goes at the normal speed.
    SlowNode {
        node: String,
        min_ms: u64,
        max_ms: u64,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "is_zero_share")]
        spared: f64,
    },
    /// Drop each message with probability `rate`.
    Loss { rate: f64, duration_ms: u64 },
    /// Deliver each message twice with probability `rate`.
    Duplication { rate: f64, duration_ms: u64 },
    /// Promote the replica of the store whose primary is named `store`.
    Failover { store: String },
    /// An I/O latency spike on every disk: each sync takes `min_ms..max_ms` longer.
    DiskLatency { min_ms: u64, max_ms: u64, duration_ms: u64 },
    /// Disk faults on every disk: failing fsyncs, torn writes at crashes, slow syncs.
    Disk { fsync_fail_rate: f64, torn_write_rate: f64, extra_latency_ms: (u64, u64), duration_ms: u64 },
    /// One message, chosen: the `nth` (from 1) message labelled `label` that
    /// `from` sends to `to` once the fault is armed — a request or a reply —
    /// is dropped, delivered twice, taken up `ms` late (a request handled,
    /// a reply handed to its caller, that much later: a write that lands after
    /// its caller gave up, say), or finds `to` paused for `ms`, or crashed
    /// (restarted `ms` later). A run says
    /// whether it found its target (a `targeted` event, or `targeted-missed`
    /// when the window ends first).
    Message {
        from: String,
        to: String,
        label: String,
        nth: u32,
        action: MessageAction,
        #[serde(default, skip_serializing_if = "is_zero")]
        ms: u64,
    },
    /// One message of one order, chosen by when it comes, not by where it
    /// goes: the `nth` (from 1) message sent for `order` once armed, on any
    /// link, gets `action` as in [`Fault::Message`]. What a strategy places
    /// (see `pct`) without knowing a protocol's messages.
    OrderMessage {
        order: u32,
        nth: u32,
        action: MessageAction,
        #[serde(default, skip_serializing_if = "is_zero")]
        ms: u64,
    },
    /// The store `node`'s `nth` (from 1) commit once armed, made durable and
    /// not yet acknowledged: `node` crashes there (restarted `ms` later; the
    /// client never hears the commit) or pauses for `ms` (the answer waits).
    AfterCommit { node: String, nth: u32, action: CommitAction, ms: u64 },
}

/// What an [`Fault::AfterCommit`] does to its store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitAction {
    Crash,
    Pause,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_share(x: &f64) -> bool {
    *x == 0.0
}

/// What a targeted [`Fault::Message`] does to its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageAction {
    Drop,
    Duplicate,
    /// Taken up the fault's `ms` after it arrives.
    Delay,
    /// Pause the receiver for the fault's `ms` as the message is sent.
    PauseReceiver,
    /// Crash the receiver as the message is sent (it never gets it), and
    /// restart it the fault's `ms` later: a crash between two steps of a handler.
    CrashReceiver,
}

impl MessageAction {
    /// Whether the action lasts the fault's `ms`.
    pub fn timed(self) -> bool {
        matches!(self, MessageAction::Delay | MessageAction::PauseReceiver | MessageAction::CrashReceiver)
    }
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Pause { .. } => "pause",
            Fault::Partition { .. } => "partition",
            Fault::LinkCut { .. } => "link-cut",
            Fault::Latency { .. } => "latency",
            Fault::SlowNode { .. } => "slow-node",
            Fault::Loss { .. } => "loss",
            Fault::Duplication { .. } => "duplication",
            Fault::Failover { .. } => "failover",
            Fault::Disk { .. } => "disk",
            Fault::DiskLatency { .. } => "disk-latency",
            Fault::Message { .. } => "message",
            Fault::OrderMessage { .. } => "order-message",
            Fault::AfterCommit { .. } => "after-commit",
        }
    }

    /// How long the fault lasts, in ms, for a fault that has a length.
    pub fn duration_ms(&self) -> Option<u64> {
        self.clone().duration_ms_mut().copied()
    }

    /// The fault's length, to change it (a shrinker shortening a fault).
    pub fn duration_ms_mut(&mut self) -> Option<&mut u64> {
        match self {
            Fault::Crash { restart_after_ms: d, .. }
            | Fault::Pause { duration_ms: d, .. }
            | Fault::Partition { duration_ms: d, .. }
            | Fault::LinkCut { duration_ms: d, .. }
            | Fault::Latency { duration_ms: d, .. }
            | Fault::SlowNode { duration_ms: d, .. }
            | Fault::Loss { duration_ms: d, .. }
            | Fault::Duplication { duration_ms: d, .. }
            | Fault::DiskLatency { duration_ms: d, .. }
            | Fault::Disk { duration_ms: d, .. } => Some(d),
            Fault::Message { action, ms: d, .. } | Fault::OrderMessage { action, ms: d, .. }
                if action.timed() =>
            {
                Some(d)
            }
            Fault::AfterCommit { ms: d, .. } => Some(d),
            Fault::Failover { .. } | Fault::Message { .. } | Fault::OrderMessage { .. } => None,
        }
    }

    /// The nodes this fault names.
    pub fn nodes(&self) -> Vec<&str> {
        match self {
            Fault::Crash { node, .. }
            | Fault::Pause { node, .. }
            | Fault::SlowNode { node, .. }
            | Fault::AfterCommit { node, .. } => {
                vec![node]
            }
            Fault::Partition { side, .. } => side.iter().map(String::as_str).collect(),
            Fault::LinkCut { a, b, .. } | Fault::Message { from: a, to: b, .. } => vec![a, b],
            _ => vec![],
        }
    }
}

/// Unknown fields are refused by [`Fault`]: `deny_unknown_fields` does not work
/// through `flatten`, so it is on the inner type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    /// When the fault starts, in ms after the run starts.
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

/// A run's faults, in start order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub events: Vec<TimedFault>,
}

impl FaultPlan {
    /// Checks that every named node exists, every failover names a replicated
    /// store, and every rate is a probability.
    pub fn validate(&self, nodes: &[String], replicated_stores: &[String]) -> Result<(), String> {
        for (i, ev) in self.events.iter().enumerate() {
            for n in ev.fault.nodes() {
                if !nodes.iter().any(|x| x == n) {
                    return Err(format!(
                        "fault #{i} ({}) names unknown node {n:?}; nodes are: {}",
                        ev.fault.name(),
                        nodes.join(", ")
                    ));
                }
            }
            match &ev.fault {
                Fault::Loss { rate, .. }
                | Fault::Duplication { rate, .. }
                | Fault::Disk { fsync_fail_rate: rate, .. }
                    if !(0.0..=1.0).contains(rate) =>
                {
                    return Err(format!("fault #{i}: rate {rate} is not in 0..=1"));
                }
                Fault::SlowNode { spared: rate, .. } if !(0.0..=1.0).contains(rate) => {
                    return Err(format!("fault #{i}: rate {rate} is not in 0..=1"));
                }
                Fault::Disk { torn_write_rate, .. } if !(0.0..=1.0).contains(torn_write_rate) => {
                    return Err(format!("fault #{i}: rate {torn_write_rate} is not in 0..=1"));
                }
                Fault::Failover { store } if !replicated_stores.contains(store) => {
                    let stores = match replicated_stores {
                        [] => "none (replication is off)".to_string(),
                        s => s.join(", "),
                    };
                    return Err(format!(
                        "fault #{i}: failover of {store:?}, which is not a replicated store; replicated stores: {stores}"
                    ));
                }
                Fault::Latency { min_ms, max_ms, .. }
                | Fault::SlowNode { min_ms, max_ms, .. }
                | Fault::DiskLatency { min_ms, max_ms, .. }
                    if min_ms > max_ms =>
                {
                    return Err(format!("fault #{i}: min_ms {min_ms} > max_ms {max_ms}"));
                }
                Fault::Message { nth: 0, .. }
                | Fault::OrderMessage { nth: 0, .. }
                | Fault::AfterCommit { nth: 0, .. } => {
                    return Err(format!("fault #{i}: nth counts from 1"));
                }
                Fault::Message { action, ms, .. } | Fault::OrderMessage { action, ms, .. }
                    if action.timed() != (*ms > 0) =>
                {
                    let rule = "ms goes with action \"delay\", \"pause-receiver\" or \"crash-receiver\", and only with them";
                    return Err(format!("fault #{i}: {rule}"));
                }
                Fault::Message { label, .. } if label.is_empty() || label.len() > 64 => {
                    return Err(format!("fault #{i}: a message label is 1 to 64 characters"));
                }
                Fault::Partition { side, .. } if side.is_empty() => {
                    return Err(format!("fault #{i}: a partition needs a non-empty side"));
                }
                Fault::LinkCut { a, b, .. } if a == b => {
                    return Err(format!("fault #{i}: a link cut needs two different nodes, got {a:?} twice"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Rates and ranges from which a plan is drawn. Faults of each kind arrive as a
/// Poisson process over the fault window; durations are uniform in their range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultModel {
    /// Message loss probability for the whole fault window.
    pub loss_rate: f64,
    /// Message duplication probability for the whole fault window.
    pub duplicate_rate: f64,
    pub spike_rate_per_min: f64,
    pub spike_latency_ms: (u64, u64),
    pub spike_ms: (u64, u64),
    pub partition_rate_per_min: f64,
    pub partition_ms: (u64, u64),
    pub link_cut_rate_per_min: f64,
    pub link_cut_ms: (u64, u64),
    pub crash_rate_per_min: f64,
    pub restart_after_ms: (u64, u64),
    pub pause_rate_per_min: f64,
    pub pause_ms: (u64, u64),
    /// Gray failures: a target slow for `slow_node_ms`, each message to or
    /// from it taking `slow_node_latency_ms` — but the share `slow_node_spared`.
    pub slow_node_rate_per_min: f64,
    pub slow_node_latency_ms: (u64, u64),
    pub slow_node_ms: (u64, u64),
    pub slow_node_spared: f64,
    /// Nodes that crashes, pauses and partitions may hit.
    pub targets: Vec<String>,
    /// Forced failovers of replicated stores (named by their primary).
    pub failover_rate_per_min: f64,
    pub failover_targets: Vec<String>,
    /// Disk faults for the whole window: fsync failure and torn-write rates.
    pub fsync_fail_rate: f64,
    pub torn_write_rate: f64,
    /// Extra fsync latency for the whole window, in ms.
    pub disk_latency_ms: (u64, u64),
    /// I/O latency spikes: how often, how slow each sync gets, for how long.
    pub disk_spike_rate_per_min: f64,
    pub disk_spike_latency_ms: (u64, u64),
    pub disk_spike_ms: (u64, u64),
}

impl FaultModel {
    /// Draws a plan for a fault window of `window_ms`. Pure: same seed, same plan.
    pub fn generate(&self, seed: u64, window_ms: u64) -> FaultPlan {
        // A stream of its own, so the plan does not shift when the run's use of the
        // madsim RNG changes.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_746c_696e);
        let mut events = Vec::new();
        let whole = |fault| TimedFault { at_ms: 0, fault };
        if self.loss_rate > 0.0 {
            events.push(whole(Fault::Loss { rate: self.loss_rate, duration_ms: window_ms }));
        }
        let disk = self.fsync_fail_rate > 0.0 || self.torn_write_rate > 0.0 || self.disk_latency_ms.1 > 0;
        if disk {
            events.push(whole(Fault::Disk {
                fsync_fail_rate: self.fsync_fail_rate,
                torn_write_rate: self.torn_write_rate,
                extra_latency_ms: self.disk_latency_ms,
                duration_ms: window_ms,
            }));
        }
        if self.duplicate_rate > 0.0 {
            let rate = self.duplicate_rate;
            events.push(whole(Fault::Duplication { rate, duration_ms: window_ms }));
        }
        let targets = &self.targets;
        let stores = &self.failover_targets;
        let kinds: [(f64, &DrawFault); 8] = [
            (self.disk_spike_rate_per_min, &|r| {
                let (lo, hi) = self.disk_spike_latency_ms;
                let min_ms = r.gen_range(lo..=hi.max(lo));
                let max_ms = r.gen_range(min_ms..=hi.max(min_ms));
                Some(Fault::DiskLatency { min_ms, max_ms, duration_ms: draw(r, self.disk_spike_ms) })
            }),
            (self.spike_rate_per_min, &|r| {
                let (lo, hi) = self.spike_latency_ms;
                let min_ms = r.gen_range(lo..=hi);
                let max_ms = r.gen_range(min_ms..=hi);
                Some(Fault::Latency { min_ms, max_ms, duration_ms: draw(r, self.spike_ms) })
            }),
            (self.partition_rate_per_min, &|r| {
                let size = if targets.len() > 2 && r.gen_bool(0.3) { 2 } else { 1 };
                let side = pick_distinct(r, targets, size)?;
                Some(Fault::Partition { side, duration_ms: draw(r, self.partition_ms) })
            }),
            (self.link_cut_rate_per_min, &|r| {
                let mut ends = pick_distinct(r, targets, 2).filter(|e| e.len() == 2)?;
                let (b, a) = (ends.remove(1), ends.remove(0));
                Some(Fault::LinkCut { a, b, duration_ms: draw(r, self.link_cut_ms) })
            }),
            (self.crash_rate_per_min, &|r| {
                let node = pick_distinct(r, targets, 1)?.remove(0);
                Some(Fault::Crash { node, restart_after_ms: draw(r, self.restart_after_ms) })
            }),
            (self.failover_rate_per_min, &|r| {
                let store = pick_distinct(r, stores, 1)?.remove(0);
                Some(Fault::Failover { store })
            }),
            (self.pause_rate_per_min, &|r| {
                let node = pick_distinct(r, targets, 1)?.remove(0);
                Some(Fault::Pause { node, duration_ms: draw(r, self.pause_ms) })
            }),
            (self.slow_node_rate_per_min, &|r| {
                let node = pick_distinct(r, targets, 1)?.remove(0);
                let (lo, hi) = self.slow_node_latency_ms;
                let min_ms = r.gen_range(lo..=hi.max(lo));
                let max_ms = r.gen_range(min_ms..=hi.max(min_ms));
                let (duration_ms, spared) = (draw(r, self.slow_node_ms), self.slow_node_spared);
                Some(Fault::SlowNode { node, min_ms, max_ms, duration_ms, spared })
            }),
        ];
        for (rate_per_min, make) in kinds {
            if rate_per_min <= 0.0 {
                continue;
            }
            let gap = Exp::new(rate_per_min / 60_000.0).expect("positive rate");
            let mut t = 0.0;
            loop {
                t += gap.sample(&mut rng);
                if t >= window_ms as f64 {
                    break;
                }
                if let Some(fault) = make(&mut rng) {
                    events.push(TimedFault { at_ms: t as u64, fault });
                }
            }
        }
        // Stable: ties keep the kind order above.
        events.sort_by_key(|e| e.at_ms);
        FaultPlan { events }
    }
}

impl FaultModel {
    /// The same model with every rate scaled by `factor` (probabilities capped
    /// at 1): a sweep's fault intensity. Durations and targets stay.
    pub fn scaled(&self, factor: f64) -> FaultModel {
        let mut m = self.clone();
        let p = |x: f64| (x * factor).min(1.0);
        m.loss_rate = p(m.loss_rate);
        m.duplicate_rate = p(m.duplicate_rate);
        m.fsync_fail_rate = p(m.fsync_fail_rate);
        m.torn_write_rate = p(m.torn_write_rate);
        for rate in [
            &mut m.spike_rate_per_min,
            &mut m.partition_rate_per_min,
            &mut m.link_cut_rate_per_min,
            &mut m.crash_rate_per_min,
            &mut m.pause_rate_per_min,
            &mut m.failover_rate_per_min,
            &mut m.disk_spike_rate_per_min,
            &mut m.slow_node_rate_per_min,
        ] {
            *rate *= factor;
        }
        m
    }

    /// Swarm testing (Groce et al., ISSTA 2012; FoundationDB, TigerBeetle's
    /// VOPR): a model of its own for one seed, drawn from this one. Each fault
    /// kind is on or off with even odds; one that is on gets its rate scaled by
    /// 0.25..2, a sub-range of each duration range, and a non-empty subset of
    /// the targets. Pure: same seed, same model.
    pub fn swarm(&self, seed: u64) -> FaultModel {
        let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x7377_6172_6d21_0000);
        let mut m = self.clone();
        let rate = |r: &mut ChaCha8Rng, x: &mut f64, cap: f64| {
            *x = if r.gen_bool(0.5) { (*x * r.gen_range(0.25..2.0)).min(cap) } else { 0.0 };
        };
        rate(&mut r, &mut m.loss_rate, 1.0);
        rate(&mut r, &mut m.duplicate_rate, 1.0);
        rate(&mut r, &mut m.spike_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.partition_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.link_cut_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.crash_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.pause_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.failover_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.fsync_fail_rate, 1.0);
        rate(&mut r, &mut m.torn_write_rate, 1.0);
        rate(&mut r, &mut m.disk_spike_rate_per_min, f64::MAX);
        rate(&mut r, &mut m.slow_node_rate_per_min, f64::MAX);
        for range in [
            &mut m.spike_latency_ms,
            &mut m.spike_ms,
            &mut m.partition_ms,
            &mut m.link_cut_ms,
            &mut m.restart_after_ms,
            &mut m.pause_ms,
            &mut m.disk_latency_ms,
            &mut m.disk_spike_latency_ms,
            &mut m.disk_spike_ms,
            &mut m.slow_node_latency_ms,
            &mut m.slow_node_ms,
        ] {
            let lo = draw(&mut r, *range);
            *range = (lo, draw(&mut r, (lo, range.1)));
        }
        for targets in [&mut m.targets, &mut m.failover_targets] {
            if targets.len() > 1 {
                let keep: Vec<bool> = targets.iter().map(|_| r.gen_bool(0.5)).collect();
                let pick = r.gen_range(0..targets.len());
                let mut i = 0;
                targets.retain(|_| {
                    i += 1;
                    keep[i - 1] || i - 1 == pick
                });
            }
        }
        m
    }
}

/// Draws one fault of a kind; `None` when there is nothing to hit.
type DrawFault<'a> = dyn Fn(&mut ChaCha8Rng) -> Option<Fault> + 'a;

fn draw(rng: &mut ChaCha8Rng, (lo, hi): (u64, u64)) -> u64 {
    rng.gen_range(lo..=hi.max(lo))
}

fn pick_distinct(rng: &mut ChaCha8Rng, from: &[String], n: usize) -> Option<Vec<String>> {
    if from.is_empty() {
        return None;
    }
    Some(
        rand::seq::index::sample(rng, from.len(), n.min(from.len()))
            .into_iter()
            .map(|i| from[i].clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> FaultModel {
        FaultModel {
            loss_rate: 0.01,
            spike_rate_per_min: 6.0,
            spike_latency_ms: (20, 200),
            spike_ms: (100, 1000),
            partition_rate_per_min: 6.0,
            partition_ms: (100, 2000),
            link_cut_rate_per_min: 6.0,
            link_cut_ms: (100, 2000),
            crash_rate_per_min: 6.0,
            restart_after_ms: (100, 3000),
            pause_rate_per_min: 6.0,
            pause_ms: (100, 1000),
            slow_node_rate_per_min: 6.0,
            slow_node_latency_ms: (100, 2000),
            slow_node_ms: (500, 3000),
            targets: vec!["a".into(), "b".into(), "c".into()],
            ..FaultModel::default()
        }
    }

    #[test]
    fn generation_is_a_pure_function_of_the_seed() {
        let m = model();
        assert_eq!(m.generate(7, 60_000), m.generate(7, 60_000));
        assert_ne!(m.generate(7, 60_000), m.generate(8, 60_000));
    }

    #[test]
    fn every_kind_is_drawn_within_bounds() {
        let plan = model().generate(1, 600_000);
        for kind in ["crash", "pause", "partition", "link-cut", "latency", "slow-node", "loss"] {
            assert!(plan.events.iter().any(|e| e.fault.name() == kind), "no {kind} drawn");
        }
        assert!(plan.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "sorted");
        assert!(plan.events.iter().all(|e| e.at_ms < 600_000));
        let names = vec!["a".into(), "b".into(), "c".into()];
        plan.validate(&names, &[]).unwrap();
        // ~6 per minute per kind over 10 minutes: Poisson(60) is far from 20 and 120.
        let crashes = plan.events.iter().filter(|e| e.fault.name() == "crash").count();
        assert!((20..120).contains(&crashes), "{crashes} crashes");
    }

    #[test]
    fn validation_names_the_bad_fault() {
        let plan = FaultPlan {
            events: vec![TimedFault {
                at_ms: 5,
                fault: Fault::Crash { node: "nope".into(), restart_after_ms: 1 },
            }],
        };
        let err = plan.validate(&["a".into()], &[]).unwrap_err();
        assert!(err.contains("unknown node \"nope\""), "{err}");
        let plan =
            FaultPlan { events: vec![TimedFault { at_ms: 5, fault: Fault::Failover { store: "a".into() } }] };
        let err = plan.validate(&["a".into()], &[]).unwrap_err();
        assert!(err.contains("not a replicated store"), "{err}");
        plan.validate(&["a".into()], &["a".into()]).unwrap();
    }

    #[test]
    fn scaling_a_model_scales_its_rates_and_caps_probabilities() {
        let base = FaultModel {
            loss_rate: 0.4,
            crash_rate_per_min: 10.0,
            restart_after_ms: (100, 3000),
            targets: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(base.scaled(0.0).generate(1, 10_000), FaultPlan::default(), "intensity 0 is calm");
        let double = base.scaled(3.0);
        assert_eq!((double.loss_rate, double.crash_rate_per_min), (1.0, 30.0), "a probability stops at 1");
        assert_eq!(double.restart_after_ms, base.restart_after_ms, "durations stay");
        let crashes = |m: &FaultModel| m.generate(1, 60_000).events.len();
        assert!(crashes(&double) > crashes(&base), "more faults drawn");
    }

    #[test]
    fn swarm_draws_a_model_of_its_own_per_seed_within_the_scenario() {
        let base = FaultModel {
            loss_rate: 0.1,
            crash_rate_per_min: 10.0,
            restart_after_ms: (100, 3000),
            partition_rate_per_min: 5.0,
            partition_ms: (100, 1000),
            targets: vec!["a".into(), "b".into(), "c".into()],
            ..Default::default()
        };
        assert_eq!(base.swarm(7), base.swarm(7), "pure");
        let models: Vec<_> = (0..64).map(|s| base.swarm(s)).collect();
        assert!(models.iter().any(|m| m.crash_rate_per_min == 0.0), "kinds get switched off");
        assert!(models.iter().any(|m| m.crash_rate_per_min > 10.0), "and rates scaled up");
        assert!(models.iter().any(|m| m.targets.len() < 3), "targets subsetted");
        for m in &models {
            assert!(!m.targets.is_empty());
            assert!(m.loss_rate <= 0.2 && m.crash_rate_per_min <= 20.0);
            let (lo, hi) = m.restart_after_ms;
            assert!(100 <= lo && lo <= hi && hi <= 3000, "{lo}..{hi} within 100..3000");
            assert_eq!(m.duplicate_rate, 0.0, "a kind the scenario has off stays off");
        }
    }
}
