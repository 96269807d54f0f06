//! The nemesis: executes a fault plan during the fault window, then heals
//! everything so the liveness phase can begin (TigerBeetle's
//! `transition_to_liveness_mode`).

use crate::disk::DiskFaults;
use crate::fault::{Fault, FaultPlan};
use crate::net::Aim;
use crate::trace::NodeId;
use crate::world::Sim;
use std::sync::Arc;
use std::time::Duration;

/// Runs `plan` from now on, and calls [`Sim::heal_all`] at `window_ms`.
/// The plan must have been validated against the world's node names.
pub async fn run(sim: Arc<Sim>, plan: FaultPlan, window_ms: u64) {
    let start = tokio::time::Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    for ev in plan.events.into_iter().filter(|e| e.at_ms < window_ms) {
        tokio::time::sleep_until(at(ev.at_ms)).await;
        let id = |name: &str| sim.node_id(name).unwrap_or_else(|| panic!("unknown node {name}"));
        let end = ev.at_ms;
        match ev.fault {
            Fault::Crash { node, restart_after_ms } => {
                let n = id(&node);
                sim.crash(n);
                later(&sim, at(end + restart_after_ms), move |s| s.restart(n));
            }
            Fault::Pause { node, duration_ms } => {
                let n = id(&node);
                sim.pause(n);
                later(&sim, at(end + duration_ms), move |s| s.resume(n));
            }
            Fault::Partition { side, duration_ms } => {
                let side: Vec<NodeId> = side.iter().map(|n| id(n)).collect();
                let p = sim.partition(&side);
                later(&sim, at(end + duration_ms), move |s| s.heal_partition(p));
            }
            Fault::LinkCut { a, b, duration_ms } => {
                let p = sim.cut_link(id(&a), id(&b));
                later(&sim, at(end + duration_ms), move |s| s.heal_partition(p));
            }
            Fault::Latency { min_ms, max_ms, duration_ms } => {
                sim.set_latency((min_ms * 1000, max_ms * 1000));
                later(&sim, at(end + duration_ms), |s| s.set_latency(s.base_latency_us()));
            }
            Fault::SlowNode { node, min_ms, max_ms, duration_ms, spared } => {
                let n = id(&node);
                sim.set_slow(n, Some(crate::net::Slow { range_us: (min_ms * 1000, max_ms * 1000), spared }));
                later(&sim, at(end + duration_ms), move |s| s.set_slow(n, None));
            }
            Fault::Loss { rate, duration_ms } => {
                sim.set_loss(rate);
                later(&sim, at(end + duration_ms), |s| s.set_loss(0.0));
            }
            Fault::Failover { store } => sim.failover_store(&store),
            Fault::Disk { fsync_fail_rate, torn_write_rate, extra_latency_ms: (lo, hi), duration_ms } => {
                let faults =
                    DiskFaults { fsync_fail_rate, torn_write_rate, extra_latency_us: (lo * 1000, hi * 1000) };
                sim.set_disk_faults(faults);
                later(&sim, at(end + duration_ms), |s| s.set_disk_faults(DiskFaults::default()));
            }
            Fault::DiskLatency { min_ms, max_ms, duration_ms } => {
                sim.set_disk_latency(Some((min_ms * 1000, max_ms * 1000)));
                later(&sim, at(end + duration_ms), |s| s.set_disk_latency(None));
            }
            Fault::Message { from, to, label, nth, action, ms } => {
                let target =
                    Aim { from: Some(id(&from)), to: Some(id(&to)), label: Some(label), order: None };
                sim.aim(target, nth, (action, ms))
            }
            Fault::AfterCommit { node, nth, action, ms } => sim.after_commit(id(&node), nth, (action, ms)),
            Fault::OrderMessage { order, nth, action, ms } => {
                sim.aim(Aim { from: None, to: None, label: None, order: Some(order) }, nth, (action, ms))
            }
            Fault::Duplication { rate, duration_ms } => {
                sim.set_duplication(rate);
                later(&sim, at(end + duration_ms), |s| s.set_duplication(0.0));
            }
        }
    }
    tokio::time::sleep_until(at(window_ms)).await;
    sim.heal_all();
}

/// Ends a fault at `when`, unless the window ended first: after `heal_all` the
/// world is in its liveness phase and no fault may come back.
/// The task holds the world weakly: one still asleep when the run ends (its
/// fault outlasting the run) must not keep the world's memory alive, since
/// madsim never cancels a dropped runtime's tasks on the main node.
fn later(sim: &Arc<Sim>, when: tokio::time::Instant, f: impl FnOnce(&Sim) + Send + 'static) {
    let sim = Arc::downgrade(sim);
    tokio::spawn(async move {
        tokio::time::sleep_until(when).await;
        match sim.upgrade() {
            Some(sim) if !sim.healed() => f(&sim),
            _ => {}
        }
    });
}
