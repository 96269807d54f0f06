//! One run of a protocol on the shop: build the world from the seed, run the
//! fault window (safety phase), heal, wait for settlement or the deadline
//! (liveness phase), then gather ground truth and check it.

use crate::check::{self, Coverage, GroundTruth, Violation};
use crate::costs::{held_over_time, Costs};
use crate::protocol::ProtocolRef;
use crate::shop::gateway::GatewayConfig;
use crate::workflow::Workflow;
use crate::workload::Workload;
use faultline_sim::{nemesis, Event, FaultPlan, Sim, World, WorldConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Everything that determines a run. Same spec → same trace hash.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub seed: u64,
    pub protocol: ProtocolRef,
    /// The workflow the protocol runs.
    pub workflow: Arc<Workflow>,
    pub workload: Workload,
    pub plan: FaultPlan,
    /// Faults act until this time; then everything is healed.
    pub fault_window_ms: u64,
    /// After the window, how long the protocol has to settle every order.
    pub settle_ms: u64,
    pub world: WorldConfig,
    pub gateway: GatewayConfig,
    /// Crash points armed for this run: name → how many times each fires.
    pub crash_points: BTreeMap<String, u32>,
    /// The known bug switched on, if any.
    pub mutant: Option<crate::mutant::Mutant>,
    /// Run the reconciler beside the protocol.
    pub reconcile: Option<crate::reconcile::ReconcileConfig>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub violations: Vec<Violation>,
    pub truth: GroundTruth,
    pub trace_hash: u64,
    /// Trace events per kind (sends, drops, crashes, …).
    pub counts: BTreeMap<&'static str, u64>,
    /// What happened that a scenario may require (faults that fired, paths taken).
    pub coverage: BTreeSet<Coverage>,
    /// The full trace, when the spec's world config asked to record it.
    pub events: Option<Vec<Event>>,
    /// Node names by id, for reading the trace.
    pub nodes: Vec<String>,
    /// Simulated time when the run stopped.
    pub sim_ms: u64,
    /// Per settled order: submission to its terminal state, in ms.
    pub latencies_ms: Vec<f64>,
    /// Every order: when it was submitted and, if it finished (completed or
    /// cancelled), when — µs of simulated time. For a run-over-time chart.
    pub order_times: Vec<(u32, u64, Option<u64>)>,
    /// Per order: submission to the last write any service made to its records —
    /// from then on every service agrees (time to consistency), in ms.
    pub consistency_ms: Vec<f64>,
    /// Per order: first to last write to its records across services — while
    /// it lasts, two services can disagree about the order, in ms.
    pub inconsistency_ms: Vec<f64>,
    /// The same windows in simulated time: (order, first write, last write), µs.
    pub write_spans: Vec<(u32, u64, u64)>,
    /// Stock held in reservations over the run, in unit·seconds.
    pub reserved_unit_s: f64,
    /// Customers' money held by authorizations over the run, in cent·seconds.
    pub authorized_cent_s: f64,
    /// Row locks held over the run (2PC's SKU and account locks), in lock·seconds.
    pub locked_s: f64,
    pub retries: u64,
    pub compensations: u64,
    /// Why each cancelled order ended cancelled.
    pub cancel_causes: BTreeMap<u32, check::CancelCause>,
}

/// How often the liveness phase looks at ground truth to see if all settled:
/// every 250 ms for up to 200 orders, and as much longer as the workload is
/// bigger — a look reads every store's log, so a flash sale of 10,000 orders
/// polled every 250 ms would spend its time reading, not running.
fn settle_poll(orders: usize) -> Duration {
    Duration::from_millis(250) * (orders / 200).max(1) as u32
}

pub fn run(spec: &RunSpec) -> RunResult {
    // Only a workflow that can ship short ships anything short; one without a
    // step until which customers may cancel takes no cancellations.
    let short = crate::shop::ships_short(&spec.workflow);
    let workload = &spec.workload.fitted(short, spec.workflow.cancel_until.is_some());
    let mut world = World::new(spec.seed, spec.world.clone());
    if let Some(m) = spec.mutant {
        world.sim().set_mutant(m.name);
    }
    world.sim().trace().watch_replies(check::REFUSALS);
    for (point, times) in &spec.crash_points {
        world.sim().arm_crash_point(point, *times);
    }
    let dep = crate::deploy(
        &mut world,
        workload,
        spec.protocol,
        &spec.workflow,
        &spec.gateway,
        spec.reconcile.as_ref(),
    );
    let sim = world.sim().clone();
    let deadline_us = (spec.fault_window_ms + spec.settle_ms) * 1000;
    // The run ends at the look that found it settled (or past its deadline),
    // and that look is the ground truth it is judged on.
    let (truth, sim_ms) = world.run(async {
        nemesis::run(sim.clone(), spec.plan.clone(), spec.fault_window_ms).await;
        // Nothing can be settled before the last order was even placed; reading
        // every store's disk is the costliest thing a run does, so wait for it.
        let last_order_us = workload.orders.iter().map(|o| o.submit_at_ms * 1000).max().unwrap_or(0);
        tokio::time::sleep(Duration::from_micros(last_order_us.saturating_sub(Sim::now_us()))).await;
        loop {
            let truth = GroundTruth::collect(&dep, &sim, workload);
            // With the reconciler, settled also means it has judged every order.
            let judged = truth.journal.as_ref().is_none_or(|j| j.clean_ms.is_some());
            if (judged && check::settled(&truth, spec.protocol)) || Sim::now_us() >= deadline_us {
                break (truth, Sim::now_us() / 1000);
            }
            // Its tables share nodes with the stores' own: kept while the
            // stores write on, each write would copy what it touches.
            drop(truth);
            tokio::time::sleep(settle_poll(workload.orders.len())).await;
        }
    });
    let violations = check::check(&truth, spec.protocol);
    let submitted = dep.stats.submit_times();
    let mut done_us: BTreeMap<u32, u64> = BTreeMap::new();
    for (at, id, state) in &truth.order_history {
        if matches!(state.as_deref(), Some("completed" | "cancelled")) {
            done_us.entry(*id).or_insert(*at);
        }
    }
    let latencies_ms =
        done_us.iter().filter_map(|(id, done)| Some((done - submitted.get(id)?) as f64 / 1000.0)).collect();
    let order_times = submitted.iter().map(|(id, at)| (*id, *at, done_us.get(id).copied())).collect();
    let Costs { consistency_ms, inconsistency_ms, write_spans, reserved_unit_s, locked_s } =
        dep.costs.lock().unwrap().costs(&submitted, sim_ms);
    let authorized_cent_s = held_over_time(&dep.shop.ledger.lock().unwrap().held_over_time, sim_ms * 1000);
    let result = {
        let trace = sim.trace();
        let counts = trace.counts();
        RunResult {
            coverage: check::observed(&truth, &counts),
            consistency_ms,
            inconsistency_ms,
            write_spans,
            reserved_unit_s,
            authorized_cent_s,
            locked_s,
            violations,
            trace_hash: trace.hash(),
            counts,
            events: trace.events().map(<[Event]>::to_vec),
            nodes: (0..sim.node_count()).map(|i| sim.name(faultline_sim::NodeId(i as u16))).collect(),
            cancel_causes: check::cancel_causes(&truth, spec.protocol),
            truth,
            sim_ms,
            latencies_ms,
            order_times,
            retries: dep.stats.retries(),
            compensations: dep.stats.compensations(),
        }
    };
    sim.release();
    result
}
