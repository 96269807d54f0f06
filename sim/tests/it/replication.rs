//! Replicated stores: failover, the writes async replication loses and
//! semi-sync does not, and an old primary that rejoins as a replica.

use super::world::{at, run_with, Outcome};
use faultline_sim::{EventKind, Fault, FaultPlan, Replication, ReplicationConfig, WorldConfig};

fn config(mode: Replication) -> WorldConfig {
    WorldConfig {
        replication: ReplicationConfig { mode, detection_ms: 200, ..ReplicationConfig::default() },
        ..WorldConfig::default()
    }
}

/// The primary loses its replica link, then crashes and stays down past the
/// window: the replica is promoted after the detection delay; the old primary
/// rejoins at heal.
fn crash_primary(seed: u64, mode: Replication) -> Outcome {
    let plan = FaultPlan {
        events: vec![
            // Cut the primary off its replica, so shipping stalls; then crash it.
            at(400, Fault::LinkCut { a: "db".into(), b: "db-replica".into(), duration_ms: 1_000 }),
            at(700 + seed * 37 % 500, Fault::Crash { node: "db".into(), restart_after_ms: 10_000 }),
        ],
    };
    run_with(seed, config(mode), plan)
}

fn failovers(out: &Outcome) -> Vec<(u32, Vec<String>)> {
    out.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Failover { lost, lost_keys, .. } => Some((*lost, lost_keys.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn replication_async_failover_loses_acknowledged_writes_and_says_which() {
    let mut lost_runs = 0;
    for seed in 0..20 {
        let out = crash_primary(seed, Replication::Async);
        let f = failovers(&out);
        assert_eq!(f.len(), 1, "seed {seed}: one failover");
        if out.durable < out.acked {
            lost_runs += 1;
            assert!(f[0].0 > 0, "seed {seed}: the trace names the lost records");
            assert_eq!(f[0].1, vec!["n".to_string()]);
        }
    }
    assert_eq!(lost_runs, 20, "every run acknowledged writes its replica never got");
}

#[test]
fn replication_semi_sync_failover_loses_no_acknowledged_write() {
    for seed in 0..20 {
        let out = crash_primary(seed, Replication::SemiSync);
        assert_eq!(failovers(&out).len(), 1, "seed {seed}: one failover");
        assert!(out.acked > 50, "seed {seed}: progress on the new primary ({} acked)", out.acked);
        assert!(
            out.durable >= out.acked,
            "seed {seed}: lost an acked write: {} < {}",
            out.durable,
            out.acked
        );
    }
}

#[test]
fn replication_old_primary_rejoins_as_a_replica_without_its_stale_writes() {
    for mode in [Replication::Async, Replication::SemiSync] {
        for seed in 0..10 {
            let out = crash_primary(seed, mode);
            assert!(out.counts.get("resynced").copied().unwrap_or(0) > 0, "{mode:?} seed {seed}: resynced");
            assert_eq!(
                out.members[0], out.members[1],
                "{mode:?} seed {seed}: replica converged on the primary"
            );
        }
    }
}

#[test]
fn replication_forced_failover_with_a_live_primary_fences_it() {
    let plan = FaultPlan { events: vec![at(1000, Fault::Failover { store: "db".into() })] };
    for mode in [Replication::Async, Replication::SemiSync] {
        let out = run_with(3, config(mode), plan.clone());
        assert_eq!(failovers(&out).len(), 1);
        // The client kept going on the new primary; the old one stopped taking writes.
        assert!(out.acked > 100, "{mode:?}: {} acked", out.acked);
        assert!(out.counts.get("resynced").copied().unwrap_or(0) > 0, "{mode:?}: the old primary resynced");
        assert_eq!(out.members[0], out.members[1], "{mode:?}: converged");
        if mode == Replication::SemiSync {
            assert!(out.durable >= out.acked);
        }
    }
}

#[test]
fn replication_mode_can_differ_per_store() {
    let mut config = ReplicationConfig::default();
    config.stores.insert("b".into(), Replication::SemiSync);
    let mut world =
        faultline_sim::World::new(1, WorldConfig { replication: config, ..WorldConfig::default() });
    let (a, b) = (world.store("a"), world.store("b"));
    assert_eq!((a.members.len(), a.mode), (1, Replication::None));
    assert_eq!((b.members.len(), b.mode), (2, Replication::SemiSync));
    assert_eq!(world.sim().name(b.members[1]), "b-replica");
}
