//! Scenario-level tests of the simulator: faults fire and have their effect,
//! acknowledged writes are durable, and a run is a pure function of its seed.

use faultline_sim::store::{self, StoreClient};
use faultline_sim::{EventKind, Fault, FaultPlan, Op, TimedFault, Value, World, WorldConfig};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Outcome {
    pub hash: u64,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    pub acked: i64,
    pub attempted: i64,
    /// The counter on the final primary's disk.
    pub durable: i64,
    /// The counter on every member's disk, primary first.
    pub members: Vec<i64>,
    pub events: Vec<faultline_sim::Event>,
}

pub fn at(at_ms: u64, fault: Fault) -> TimedFault {
    TimedFault { at_ms, fault }
}

fn run(seed: u64, plan: FaultPlan) -> Outcome {
    run_with(seed, WorldConfig::default(), plan)
}

/// A client increments a counter in a store named `db`, once per 10 ms, under
/// `plan` (fault window 3 s; the client stops at 4.5 s; the run at 6 s).
pub fn run_with(seed: u64, config: WorldConfig, plan: FaultPlan) -> Outcome {
    let mut world = World::new(seed, WorldConfig { record: true, ..config });
    let db = world.store("db");
    let acked = Arc::new(AtomicI64::new(0));
    let attempted = Arc::new(AtomicI64::new(0));
    let (a, t, set) = (acked.clone(), attempted.clone(), db.clone());
    world.node("client", move |ctx| {
        let (acked, attempted, db) = (a.clone(), t.clone(), set.clone());
        async move {
            let client = StoreClient::new(ctx.endpoint().await, db, Duration::from_millis(50));
            // Stop early enough for the replicas to converge before the end.
            for _ in 0..200 {
                if faultline_sim::Sim::now_us() > 4_500_000 {
                    break;
                }
                attempted.fetch_add(1, Ordering::Relaxed);
                let incr = Op::Incr { key: "n".into(), by: 1, floor: 0 };
                if client.txn(vec![incr]).await.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            std::future::pending::<()>().await
        }
    });
    let names: Vec<String> =
        (0..world.sim().node_count()).map(|i| world.sim().name(faultline_sim::NodeId(i as u16))).collect();
    plan.validate(&names, &["db".into()]).unwrap();
    let sim = world.sim().clone();
    world.run(async {
        faultline_sim::nemesis::run(sim.clone(), plan, 3_000).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    let counter = |node| store::recover(&sim.disk(node)).get("n").and_then(Value::as_int).unwrap_or(0);
    let durable = counter(db.primary());
    let mut members = vec![durable];
    members.extend(db.peer(db.primary()).map(counter));
    let trace = sim.trace();
    Outcome {
        hash: trace.hash(),
        counts: trace.counts().clone(),
        acked: acked.load(Ordering::Relaxed),
        attempted: attempted.load(Ordering::Relaxed),
        durable,
        members,
        events: trace.events().unwrap_or_default().to_vec(),
    }
}

fn every_fault() -> FaultPlan {
    FaultPlan {
        events: vec![
            at(0, Fault::Loss { rate: 0.05, duration_ms: 3000 }),
            at(0, Fault::Duplication { rate: 0.05, duration_ms: 3000 }),
            at(200, Fault::Crash { node: "db".into(), restart_after_ms: 300 }),
            at(900, Fault::Pause { node: "db".into(), duration_ms: 200 }),
            at(1300, Fault::Partition { side: vec!["db".into()], duration_ms: 300 }),
            at(1700, Fault::LinkCut { a: "db".into(), b: "client".into(), duration_ms: 80 }),
            at(1800, Fault::Latency { min_ms: 40, max_ms: 80, duration_ms: 300 }),
            at(
                2200,
                Fault::SlowNode { node: "db".into(), min_ms: 20, max_ms: 200, duration_ms: 300, spared: 0.0 },
            ),
            // Still down when the window ends: heal_all must bring it back.
            at(2900, Fault::Crash { node: "db".into(), restart_after_ms: 10_000 }),
        ],
    }
}

#[test]
fn world_every_fault_kind_fires_and_is_traced() {
    let out = run(1, every_fault());
    for kind in [
        "crash",
        "restart",
        "pause",
        "resume",
        "partition",
        "partition-healed",
        "drop-partition",
        "link-cut",
        "link-healed",
        "drop-loss",
        "drop-node-down",
        "duplicate",
        "timeout",
        "latency",
        "slow-node",
        "loss",
        "heal-all",
    ] {
        assert!(out.counts.get(kind).copied().unwrap_or(0) > 0, "{kind} never fired: {:?}", out.counts);
    }
    assert_eq!(out.counts["crash"], 2);
    assert_eq!(out.counts["restart"], 2, "the second crash is healed at the window's end");
}

/// A slow node's messages take its latency, drawn per message — so they
/// overtake one another — and nobody else's do.
#[test]
fn world_a_slow_node_answers_late_and_out_of_order() {
    let slow = Fault::SlowNode { node: "db".into(), min_ms: 20, max_ms: 200, duration_ms: 1000, spared: 0.0 };
    let out = run(3, FaultPlan { events: vec![at(500, slow)] });
    let ms = |e: &faultline_sim::Event| e.at_us / 1000;
    let timeouts: Vec<u64> =
        out.events.iter().filter(|e| matches!(e.kind, EventKind::Timeout { .. })).map(ms).collect();
    assert!(!timeouts.is_empty(), "the client's 50 ms timeout never fired");
    // A request sent before the slow window ends may time out up to 50 ms after it.
    assert!(
        timeouts.iter().all(|t| (500..1560).contains(t)),
        "timeouts outside the slow window: {timeouts:?}"
    );
    let sent: std::collections::BTreeMap<u64, u64> = out
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Send { call, .. } => Some((call, e.at_us)),
            _ => None,
        })
        .collect();
    let received: Vec<u64> = out
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Recv { call, .. } => sent.get(&call).copied(),
            _ => None,
        })
        .collect();
    // Requests taken in by the store in another order than they were sent.
    assert!(received.windows(2).any(|w| w[0] > w[1]), "no request overtook another");
}

/// An answer that comes after its call gave up, or the second copy of one
/// already taken, is taken in and traced as late on the caller: no call takes
/// two answers, and none is late while its call still waits.
#[test]
fn world_late_answers_and_second_copies_are_traced_late() {
    use faultline_sim::DropReason;
    use std::collections::{BTreeMap, BTreeSet};
    let slow = Fault::SlowNode { node: "db".into(), min_ms: 20, max_ms: 200, duration_ms: 1000, spared: 0.0 };
    let copies = Fault::Duplication { rate: 1.0, duration_ms: 3000 };
    let out = run(3, FaultPlan { events: vec![at(0, copies), at(500, slow)] });
    // Each call's caller: the node that sent its request.
    let caller: BTreeMap<u64, _> = (out.events.iter())
        .filter_map(|e| match e.kind {
            EventKind::Send { call, .. } => Some((call, e.node)),
            _ => None,
        })
        .collect();
    // Per call, the answers its caller took in and kept (a late one is taken
    // in, then dropped).
    let (mut kept, mut timed_out) = (BTreeMap::<u64, i32>::new(), BTreeSet::new());
    let (mut after_answer, mut after_timeout) = (0, 0);
    for e in &out.events {
        match e.kind {
            EventKind::Recv { call, .. } if caller.get(&call) == Some(&e.node) => {
                *kept.entry(call).or_default() += 1;
            }
            EventKind::Timeout { call, .. } => drop(timed_out.insert(call)),
            EventKind::Drop { call, reason: DropReason::Late, .. } => {
                assert_eq!(
                    caller.get(&call),
                    Some(&e.node),
                    "call {call}'s late answer traced off its caller"
                );
                let n = kept.entry(call).or_default();
                *n -= 1;
                match (*n > 0, timed_out.contains(&call)) {
                    (true, _) => after_answer += 1,
                    (false, true) => after_timeout += 1,
                    (false, false) => panic!("call {call}'s answer traced late while the call waited"),
                }
            }
            _ => {}
        }
    }
    assert!(kept.values().all(|n| *n <= 1), "a call kept two answers");
    assert!(timed_out.iter().all(|c| kept.get(c).is_none_or(|n| *n == 0)), "a call answered and timed out");
    assert!(
        after_answer > 0 && after_timeout > 0,
        "late copies {after_answer}, late answers {after_timeout}"
    );
}

/// A limping node spares its share of messages: all spared, nothing times
/// out; half spared, fewer calls time out than with none spared, but some do.
#[test]
fn world_a_slow_node_spares_its_share() {
    let timeouts = |spared: f64| {
        let slow = Fault::SlowNode { node: "db".into(), min_ms: 100, max_ms: 200, duration_ms: 1500, spared };
        let out = run(5, FaultPlan { events: vec![at(500, slow)] });
        out.events.iter().filter(|e| matches!(e.kind, EventKind::Timeout { .. })).count()
    };
    let (none, half, all) = (timeouts(0.0), timeouts(0.5), timeouts(1.0));
    assert_eq!(all, 0, "every message spared");
    assert!(0 < half && half < none, "half spared: {half} timeouts, none spared: {none}");
}

/// A slow window still open when the fault window ends is healed with the
/// rest, and its own end, due later, does not fire after the heal: one end.
#[test]
fn world_a_slow_node_healed_at_the_window_ends_once() {
    let slow = Fault::SlowNode { node: "db".into(), min_ms: 20, max_ms: 200, duration_ms: 2000, spared: 0.0 };
    let out = run(4, FaultPlan { events: vec![at(2500, slow)] });
    let ends: Vec<u64> = (out.events.iter())
        .filter(|e| matches!(e.kind, EventKind::SlowNode { min_ms: 0, max_ms: 0 }))
        .map(|e| e.at_us / 1000)
        .collect();
    assert_eq!(ends, vec![3000], "ended by the heal at 3 s, once");
}

#[test]
fn world_acknowledged_writes_survive_crashes() {
    for seed in 0..20 {
        let out = run(seed, every_fault());
        assert!(out.acked > 50, "seed {seed}: the client made progress ({} acked)", out.acked);
        // Each acked increment is durable; unacknowledged ones may or may not be.
        assert!(
            out.durable >= out.acked,
            "seed {seed}: lost an acked write: {} < {}",
            out.durable,
            out.acked
        );
        // Duplicated requests apply twice, so the bound is loose on that side.
        assert!(out.durable <= 2 * out.attempted, "seed {seed}");
    }
}

#[test]
fn world_same_seed_same_trace_hash() {
    let a = run(42, every_fault());
    let b = run(42, every_fault());
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.counts, b.counts);
    let c = run(43, every_fault());
    assert_ne!(a.hash, c.hash, "different seeds must give different traces");
    // Also from another thread, as a parallel sweep runs it.
    let d = std::thread::spawn(|| run(42, every_fault()).hash).join().unwrap();
    assert_eq!(a.hash, d);
}

#[test]
fn world_no_faults_no_drops() {
    let out = run(5, FaultPlan::default());
    assert_eq!(out.acked, 200);
    assert_eq!(out.durable, 200);
    assert_eq!(out.counts.get("timeout"), None);
}

#[test]
fn crash_points_stop_firing_when_the_fault_window_heals() {
    let mut world = World::new(3, WorldConfig { record: true, ..WorldConfig::default() });
    world.sim().arm_crash_point("spot", 1_000);
    let fired = Arc::new(AtomicU32::new(0));
    let f = fired.clone();
    world.node("n", move |ctx| {
        let f = f.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                f.fetch_add(1, Ordering::Relaxed);
                ctx.crash_point("spot", Duration::from_millis(50)).await;
            }
        }
    });
    let sim = world.sim().clone();
    world.run(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sim.heal_all();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let trace = world.sim().trace();
    let events = trace.events().map(<[_]>::to_vec).unwrap_or_default();
    assert!(trace.count("crash-point") > 0, "it fired in the window");
    let healed_at = events.iter().find(|e| matches!(e.kind, EventKind::HealAll)).map(|e| e.at_us);
    assert!(healed_at.is_some());
    let late = events.iter().filter(|e| {
        matches!(&e.kind, EventKind::Injected { fault: "crash-point", .. }) && Some(e.at_us) > healed_at
    });
    assert_eq!(late.count(), 0, "no firing after the heal, with 1,000 armed");
    assert!(fired.load(Ordering::Relaxed) > 40, "the node kept running past the spot");
}
