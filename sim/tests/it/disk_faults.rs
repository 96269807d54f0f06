//! Disk faults: a failed fsync is never reported as success, and a torn write is
//! detected and dropped at recovery, with no acknowledged write lost either way.

use super::world::{at, run_with};
use faultline_sim::{Fault, FaultPlan, WorldConfig};

#[test]
fn disk_failed_fsyncs_restart_the_store_and_lose_no_acknowledged_write() {
    let plan = FaultPlan {
        events: vec![at(
            0,
            Fault::Disk {
                fsync_fail_rate: 0.05,
                torn_write_rate: 0.0,
                extra_latency_ms: (0, 0),
                duration_ms: 3000,
            },
        )],
    };
    let mut failed = 0;
    for seed in 0..10 {
        let out = run_with(seed, WorldConfig::default(), plan.clone());
        failed += out.counts.get("fsync-failed").copied().unwrap_or(0);
        assert!(out.counts.get("restart").copied().unwrap_or(0) > 0, "seed {seed}: the store was restarted");
        assert!(out.durable >= out.acked, "seed {seed}: {} durable < {} acked", out.durable, out.acked);
        assert!(out.acked > 50, "seed {seed}: progress");
    }
    assert!(failed > 10, "fsyncs failed {failed} times");
}

#[test]
fn disk_torn_writes_are_dropped_at_recovery() {
    // Slow fsyncs keep a record in flight most of the time; crashes then tear it.
    let mut events = vec![at(
        0,
        Fault::Disk {
            fsync_fail_rate: 0.0,
            torn_write_rate: 1.0,
            extra_latency_ms: (5, 8),
            duration_ms: 3000,
        },
    )];
    for i in 0..5 {
        events.push(at(300 + i * 500, Fault::Crash { node: "db".into(), restart_after_ms: 100 }));
    }
    let mut torn = 0;
    for seed in 0..10 {
        let out = run_with(seed, WorldConfig::default(), FaultPlan { events: events.clone() });
        let crashed_torn = out
            .events
            .iter()
            .filter(|e| matches!(e.kind, faultline_sim::EventKind::Crash { torn: true, .. }))
            .count();
        let dropped = out.counts.get("torn-write-dropped").copied().unwrap_or(0);
        assert_eq!(crashed_torn as u64, dropped, "seed {seed}: every torn write is found at the next start");
        torn += dropped;
        assert!(out.durable >= out.acked, "seed {seed}: {} durable < {} acked", out.durable, out.acked);
    }
    // Only a crash that lands while a record is being synced can tear it.
    assert!(torn >= 10, "only {torn} torn writes in 50 crashes");
}

#[test]
fn disk_latency_spikes_slow_syncs_until_they_end() {
    let plan = FaultPlan {
        events: vec![at(500, Fault::DiskLatency { min_ms: 100, max_ms: 200, duration_ms: 500 })],
    };
    let out = run_with(1, WorldConfig::default(), plan);
    assert_eq!(out.counts["disk-latency"], 2, "the spike starts and ends");
    // The client waits 50 ms per call: during the spike every sync outlasts it.
    assert!(out.counts.get("timeout").copied().unwrap_or(0) >= 3, "{:?}", out.counts);
    assert!(out.acked > 100, "and after it the store is fast again");
    assert!(out.durable >= out.acked);
}
