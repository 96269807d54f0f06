//! Shrinking: from a failing seed to the smallest run that still breaks the
//! same invariant. The seed's workload and fault plan are made explicit, then
//! cut down greedily — whole faults and orders by delta debugging (Zeller's
//! ddmin), then each fault's duration, then the fault window, then faults
//! needed only for their timing (one removed while another slides) — keeping
//! every change after which the same invariant still breaks on the same seed.
//! Every step is a deterministic run, so the same input shrinks to the same file.

use crate::runner::{self, Variant};
use crate::scenario::{Expectation, Scenario};
use faultline_protocols::check::{Invariant, Violation};
use faultline_protocols::run::{run, RunSpec};
use faultline_protocols::workload::{Order, Workload};
use faultline_sim::{DropReason, Event, EventKind, Fault, FaultModel, MessageAction, TimedFault};
use serde::Serialize;

/// How big a counterexample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    pub orders: usize,
    pub faults: usize,
    pub sim_ms: u64,
}

/// The outcome of a shrink.
pub struct Shrunk {
    /// The invariant that still breaks.
    pub invariant: Invariant,
    pub before: Size,
    pub after: Size,
    /// The minimal counterexample, with its workload, plan and seed explicit.
    pub scenario: Scenario,
    /// Runs it took.
    pub runs: u32,
}

/// Shrinks the failing run of `seed`. `progress` hears about every accepted step.
pub fn shrink(
    scenario: &Scenario,
    variant: Variant,
    seed: u64,
    progress: impl FnMut(&str, Size),
) -> Result<Shrunk, String> {
    shrink_for(scenario, variant, seed, None, progress)
}

/// As [`shrink`], for a chosen invariant (`None`: the first the run should
/// have kept — for a mutant, the first it is expected to break).
pub fn shrink_for(
    scenario: &Scenario,
    variant: Variant,
    seed: u64,
    invariant: Option<Invariant>,
    mut progress: impl FnMut(&str, Size),
) -> Result<Shrunk, String> {
    let spec = runner::spec(scenario, variant, seed, false);
    let first = run_caught(&spec).ok_or_else(|| format!("seed {seed} panics; nothing to shrink"))?;
    // What the scenario's evidence explains is nobody's bug, a mutant's
    // included: the shrinker keeps a failure nothing in the run excuses.
    let expectation = scenario.expectation(variant.protocol).cloned();
    let unexcused = |v: &&Violation| !expectation.as_ref().is_some_and(|e| e.excuses(v));
    // A mutant's own breaks first; else whatever the seed broke unexcused, so
    // that every failing verdict `run` prints has a shrink that agrees with it.
    let target = match (invariant, variant.mutant) {
        (Some(inv), _) => first.0.iter().filter(unexcused).find(|v| v.invariant == inv),
        (None, Some(m)) => (first.0.iter().filter(unexcused).find(|v| m.breaks.contains(&v.invariant)))
            .or_else(|| first.0.iter().find(unexcused)),
        (None, None) => first.0.iter().find(unexcused),
    };
    let Some(target) = target.map(|v| v.invariant) else {
        return Err(format!("seed {seed} breaks no invariant it should keep: nothing to shrink"));
    };
    let mut s = Shrinker { spec, target, expectation, runs: 1 };
    let before = s.size(first.1);
    progress("start", before);
    loop {
        let was = (s.spec.plan.events.len(), s.spec.workload.orders.len(), s.spec.fault_window_ms);
        let durations = durations(&s.spec.plan.events);
        let shape = s.spec.workload.clone();
        s.explicit_losses();
        s.ddmin_faults();
        progress("fewer faults", s.size(0));
        s.ddmin_orders();
        progress("fewer orders", s.size(0));
        s.shorten_faults();
        s.shorten_window();
        s.simplify_orders();
        s.earlier_orders();
        s.drop_unused();
        progress("shorter faults and window", s.size(0));
        s.retime();
        progress("faults moved for one less", s.size(0));
        let now = (s.spec.plan.events.len(), s.spec.workload.orders.len(), s.spec.fault_window_ms);
        if now == was && durations == self::durations(&s.spec.plan.events) && shape == s.spec.workload {
            break;
        }
    }
    let sim_ms = run_caught(&s.spec).map_or(0, |r| r.1);
    let after = s.size(sim_ms);
    Ok(Shrunk {
        invariant: s.target,
        before,
        after,
        scenario: s.write_back(scenario, variant, seed),
        runs: s.runs,
    })
}

struct Shrinker {
    spec: RunSpec,
    target: Invariant,
    /// What may excuse a violation: a shrunk run must still *fail* the target.
    expectation: Option<Expectation>,
    runs: u32,
}

/// A run's violations and simulated ms; `None` if it panicked.
fn run_caught(spec: &RunSpec) -> Option<(Vec<Violation>, u64)> {
    let r = std::thread::scope(|s| s.spawn(|| run(spec)).join()).ok()?;
    Some((r.violations, r.sim_ms))
}

/// Every message a `loss` fault dropped as it was sent, as (its order, which
/// of that order's messages it was, from 1) — what an `order-message` fault
/// counts. Messages for no order are left to the loss fault (none is kept).
fn lost_messages(events: &[Event]) -> Vec<(u32, u32)> {
    let mut sent: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    let mut lost = Vec::new();
    for e in events {
        // One event per message sent: its send or reply, or its drop at the sender.
        let (transmitted, loss) = match &e.kind {
            EventKind::Send { .. } | EventKind::Reply { .. } => (true, false),
            EventKind::Drop { from, reason, .. } if *from == e.node && *reason != DropReason::Late => {
                (true, *reason == DropReason::Loss)
            }
            _ => (false, false),
        };
        let Some(order) = e.order.filter(|_| transmitted) else { continue };
        let n = sent.entry(order).or_insert(0);
        *n += 1;
        if loss {
            lost.push((order, *n));
        }
    }
    lost
}

/// How far [`Shrinker::retime`] tries sliding a fault, nearest first: a
/// message in flight for a few ms meets a spike or a crash only within a
/// narrow window, so fine steps near, coarse ones far.
fn slides() -> impl Iterator<Item = i64> {
    (1..=30).map(|k| k * 10).chain((4..=20).map(|k| k * 100))
}

fn durations(events: &[TimedFault]) -> Vec<u64> {
    events.iter().map(|e| e.fault.duration_ms().unwrap_or(0)).collect()
}

impl Shrinker {
    fn size(&self, sim_ms: u64) -> Size {
        Size { orders: self.spec.workload.orders.len(), faults: self.spec.plan.events.len(), sim_ms }
    }

    /// Whether `spec` still breaks the target invariant.
    fn fails(&mut self, spec: &RunSpec) -> bool {
        self.runs += 1;
        let excused = |v: &Violation| self.expectation.as_ref().is_some_and(|e| e.excuses(v));
        let caught = run_caught(spec);
        caught.is_some_and(|(broken, _)| broken.iter().any(|v| v.invariant == self.target && !excused(v)))
    }

    /// Keeps the smallest subset of `items` (by ddmin) for which `with` still fails.
    fn ddmin<T: Clone>(&mut self, items: Vec<T>, with: impl Fn(&RunSpec, Vec<T>) -> RunSpec) -> Vec<T> {
        let mut items = items;
        let mut n = 2;
        while items.len() >= 2 {
            let chunk = items.len().div_ceil(n);
            // The first chunk whose removal keeps the failure, if any.
            let kept = (0..n).find_map(|i| {
                let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(items.len()));
                if lo >= hi {
                    return None;
                }
                let rest: Vec<T> = items[..lo].iter().chain(&items[hi..]).cloned().collect();
                let candidate = with(&self.spec, rest.clone());
                self.fails(&candidate).then_some((rest, candidate))
            });
            if let Some((rest, candidate)) = kept {
                items = rest;
                self.spec = candidate;
                n = (n - 1).max(2);
            } else {
                if n >= items.len() {
                    break;
                }
                n = (n * 2).min(items.len());
            }
        }
        if items.len() == 1 {
            let candidate = with(&self.spec, vec![]);
            if self.fails(&candidate) {
                self.spec = candidate;
                return vec![];
            }
        }
        items
    }

    fn ddmin_faults(&mut self) {
        let events = self.spec.plan.events.clone();
        self.ddmin(events, |spec, events| {
            let mut s = spec.clone();
            s.plan.events = events;
            s
        });
    }

    fn ddmin_orders(&mut self) {
        let orders = self.spec.workload.orders.clone();
        self.ddmin(orders, |spec, orders: Vec<Order>| {
            let mut s = spec.clone();
            s.workload.orders = orders;
            s
        });
    }

    /// Replaces the random `loss` faults by the drops they caused, each an
    /// `order-message` drop of that order's nth message: the same run, told
    /// explicitly, so that ddmin can keep the one drop that matters (and the
    /// file says which message was lost). Kept only if the failure stays.
    fn explicit_losses(&mut self) {
        if !self.spec.plan.events.iter().any(|e| matches!(e.fault, Fault::Loss { .. })) {
            return;
        }
        let mut traced = self.spec.clone();
        traced.world.record = true;
        let Ok(events) = std::thread::scope(|s| s.spawn(|| run(&traced).events).join()) else { return };
        let drops = lost_messages(&events.unwrap_or_default());
        let mut candidate = self.spec.clone();
        candidate.plan.events.retain(|e| !matches!(e.fault, Fault::Loss { .. }));
        candidate.plan.events.extend(drops.into_iter().map(|(order, nth)| TimedFault {
            at_ms: 0,
            fault: Fault::OrderMessage { order, nth, action: MessageAction::Drop, ms: 0 },
        }));
        candidate.plan.events.sort_by_key(|e| e.at_ms);
        if self.fails(&candidate) {
            self.spec = candidate;
        }
    }

    /// Halves each fault's duration while the failure stays.
    fn shorten_faults(&mut self) {
        for i in 0..self.spec.plan.events.len() {
            while let Some(d) = self.spec.plan.events[i].fault.duration_ms().filter(|d| *d > 1) {
                let mut candidate = self.spec.clone();
                if let Some(len) = candidate.plan.events[i].fault.duration_ms_mut() {
                    *len = d / 2;
                }
                if !self.fails(&candidate) {
                    break;
                }
                self.spec = candidate;
            }
        }
    }

    /// Smaller numbers: each order without its customer's cancellation and
    /// with every line shippable, down to its first line, then to one unit;
    /// each SKU's stock halved.
    fn simplify_orders(&mut self) {
        let priced = |w: &Workload, o: &mut Order| {
            for l in &mut o.lines {
                l.amount = w.prices[l.sku as usize] * l.qty;
            }
            o.amount = o.lines.iter().map(|l| l.amount).sum();
            o.points = o.amount / 100;
        };
        for i in 0..self.spec.workload.orders.len() {
            let plain = |o: &Order| o.cancel_after_ms.is_none() && o.short_lines().next().is_none();
            if !plain(&self.spec.workload.orders[i]) {
                let mut candidate = self.spec.clone();
                let c = &mut candidate.workload.orders[i];
                c.cancel_after_ms = None;
                c.lines.iter_mut().for_each(|l| l.undeliverable = false);
                if self.fails(&candidate) {
                    self.spec = candidate;
                }
            }
            if self.spec.workload.orders[i].lines.len() > 1 {
                let mut candidate = self.spec.clone();
                let mut c = candidate.workload.orders[i].clone();
                c.lines.truncate(1);
                priced(&candidate.workload, &mut c);
                candidate.workload.orders[i] = c;
                if self.fails(&candidate) {
                    self.spec = candidate;
                }
            }
            if self.spec.workload.orders[i].units() > self.spec.workload.orders[i].lines.len() as i64 {
                let mut candidate = self.spec.clone();
                let mut c = candidate.workload.orders[i].clone();
                c.lines.iter_mut().for_each(|l| l.qty = 1);
                priced(&candidate.workload, &mut c);
                candidate.workload.orders[i] = c;
                if self.fails(&candidate) {
                    self.spec = candidate;
                }
            }
        }
        for sku in 0..self.spec.workload.stock.len() {
            while self.spec.workload.stock[sku] > 0 {
                let mut candidate = self.spec.clone();
                candidate.workload.stock[sku] /= 2;
                if !self.fails(&candidate) {
                    break;
                }
                self.spec = candidate;
            }
        }
    }

    /// Ends the fault window when the last fault ends, if the failure stays.
    fn shorten_window(&mut self) {
        let end = self
            .spec
            .plan
            .events
            .iter()
            .map(|e| e.at_ms + e.fault.duration_ms().unwrap_or(0))
            .max()
            .unwrap_or(0);
        if end < self.spec.fault_window_ms {
            let mut candidate = self.spec.clone();
            candidate.fault_window_ms = end;
            if self.fails(&candidate) {
                self.spec = candidate;
            }
        }
    }

    /// Moves each order's submission to the start, or else to the previous
    /// order's, while the failure stays: fewer instants for a reader to track.
    fn earlier_orders(&mut self) {
        for i in 0..self.spec.workload.orders.len() {
            let previous = i.checked_sub(1).map_or(0, |p| self.spec.workload.orders[p].submit_at_ms);
            for at in [0, previous] {
                if self.spec.workload.orders[i].submit_at_ms <= at {
                    break;
                }
                let mut candidate = self.spec.clone();
                candidate.workload.orders[i].submit_at_ms = at;
                // The client submits in list order: keep the list in time order.
                candidate.workload.orders.sort_by_key(|o| (o.submit_at_ms, o.id));
                if self.fails(&candidate) {
                    self.spec = candidate;
                    break;
                }
            }
        }
    }

    /// Removes a fault the failure needs only for its timing: without fault
    /// `i`, slides one other fault's start — nearest first, by 10 ms up to
    /// 300 ms, then by 100 ms up to 2 s, either way — until the failure is back. A race that hinges on when a latency
    /// spike meets a Confirm is a story about that spike, not about the
    /// partition that happened to delay the Confirm into it.
    fn retime(&mut self) {
        let mut i = 0;
        while i < self.spec.plan.events.len() && self.spec.plan.events.len() > 1 {
            let mut without = self.spec.clone();
            without.plan.events.remove(i);
            match self.slid_until_it_fails(without) {
                Some(candidate) => self.spec = candidate,
                None => i += 1,
            }
        }
    }

    /// `spec` with one of its faults started earlier or later so that it
    /// fails, if one of the [`slides`] does it.
    fn slid_until_it_fails(&mut self, spec: RunSpec) -> Option<RunSpec> {
        for j in 0..spec.plan.events.len() {
            for slide in slides() {
                for shift in [slide, -slide] {
                    let mut candidate = spec.clone();
                    let ev = &mut candidate.plan.events[j];
                    match ev.at_ms.checked_add_signed(shift) {
                        Some(at) if at < candidate.fault_window_ms => ev.at_ms = at,
                        _ => continue,
                    }
                    candidate.plan.events.sort_by_key(|e| e.at_ms);
                    if self.fails(&candidate) {
                        return Some(candidate);
                    }
                }
            }
        }
        None
    }

    /// Drops the customers and SKUs no order names, numbering the rest from 0.
    fn drop_unused(&mut self) {
        let w = &self.spec.workload;
        let customers: Vec<u32> =
            (0..w.balances.len() as u32).filter(|c| w.orders.iter().any(|o| o.customer == *c)).collect();
        let skus: Vec<u32> =
            (0..w.stock.len() as u32).filter(|s| w.orders.iter().any(|o| o.qty_of(*s) > 0)).collect();
        if customers.len() == w.balances.len() && skus.len() == w.stock.len() {
            return;
        }
        let new = |ids: &[u32], old: u32| ids.iter().position(|x| *x == old).expect("a used id") as u32;
        let mut candidate = self.spec.clone();
        let cw = &mut candidate.workload;
        cw.balances = customers.iter().map(|c| w.balances[*c as usize]).collect();
        cw.stock = skus.iter().map(|s| w.stock[*s as usize]).collect();
        cw.prices = skus.iter().map(|s| w.prices[*s as usize]).collect();
        for o in &mut cw.orders {
            o.customer = new(&customers, o.customer);
            o.lines.iter_mut().for_each(|l| l.sku = new(&skus, l.sku));
        }
        if self.fails(&candidate) {
            self.spec = candidate;
        }
    }

    /// The counterexample as a scenario file: everything the run used, explicit.
    fn write_back(&self, from: &Scenario, variant: Variant, seed: u64) -> Scenario {
        let mut s = from.clone();
        let mutant = variant.mutant.map(|m| format!(" with mutant {}", m.name)).unwrap_or_default();
        s.name = format!("{}-shrunk", from.name);
        s.description = format!(
            "minimal counterexample: {} breaks {} on seed {seed}{mutant} (shrunk from {})",
            variant.protocol.name(),
            self.target,
            from.name
        );
        s.fault_window_ms = self.spec.fault_window_ms;
        s.explicit_workload = Some(self.spec.workload.clone());
        s.plan = Some(self.spec.plan.events.clone());
        s.faults = FaultModel::default();
        s.seed = Some(seed);
        // A new scenario: it has no file yet, and the original's text is not its text.
        s.origin = None;
        // One seed of one failure: what the full scenario must cover, it need not.
        s.require.clear();
        // With no window left, no crash point fired: they played no part.
        if s.fault_window_ms == 0 {
            s.crash_points.clear();
        }
        s
    }
}

/// A counterexample as scenario-file text: with its workload and plan
/// explicit, the generator settings and the fault model say nothing, so they
/// are left out.
pub fn to_toml(s: &Scenario) -> Result<String, String> {
    let mut doc = toml::Value::try_from(s).map_err(|e| e.to_string())?;
    if let Some(table) = doc.as_table_mut() {
        if s.plan.is_some() {
            table.remove("faults");
        }
        if s.explicit_workload.is_some() {
            table.remove("workload");
        }
        if s.expect.is_empty() {
            table.remove("expect");
        }
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::lost_messages;
    use faultline_sim::{DropReason, Event, EventKind, NodeId};

    fn at(node: u16, order: Option<u32>, kind: EventKind) -> Event {
        Event { at_us: 0, node: NodeId(node), order, kind }
    }

    /// A loss at the sender is counted as that order's nth message; a loss on
    /// arrival, or a message for no order, is not an `order-message` drop.
    #[test]
    fn losses_become_the_order_messages_they_dropped() {
        let (a, b) = (NodeId(0), NodeId(1));
        let lost = |reason| EventKind::Drop { from: a, to: b, call: 2, msg: "txn", reason };
        let events = [
            at(0, Some(7), EventKind::Send { to: b, call: 1, msg: "txn" }),
            at(1, Some(7), EventKind::Reply { to: a, call: 1, msg: "txn-ok" }),
            at(0, Some(7), lost(DropReason::Loss)),
            at(1, Some(7), lost(DropReason::Partition)), // on arrival, at the receiver
            at(0, None, lost(DropReason::Loss)),
            at(0, Some(8), lost(DropReason::Loss)),
        ];
        assert_eq!(lost_messages(&events), vec![(7, 3), (8, 1)]);
    }
}
