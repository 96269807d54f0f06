//! `legal-transitions`: orders and payments move only along their state
//! machines' edges, and an acknowledged state is never lost. The history holds
//! acknowledged writes only: a write can become durable unacknowledged (its
//! answer lost, or fenced off by a failover after it reached the replica), so
//! consecutive observations need only be *reachable* from each other.

use super::{Findings, GroundTruth, History, Invariant::LegalTransitions};
use crate::workflow::Machine;
use std::collections::BTreeMap;

/// Walks the workflow's declared machines: the order's and the payment's.
pub(super) fn check(g: &GroundTruth, out: &mut Findings) {
    let order_now = |id: u32| g.order_state(id).map(str::to_string);
    for (id, d) in transitions(&g.order_history, order_now, g.workflow.order_machine()) {
        out.add(LegalTransitions, format!("order {id}"), d);
    }
    if let Some(payment) = g.workflow.machine("payment") {
        let payment_now = |id: u32| g.payment_state(id).map(str::to_string);
        for (id, d) in transitions(&g.payment_history, payment_now, payment) {
            out.add(LegalTransitions, format!("payment {id}"), d);
        }
    }
}

/// The illegal steps in one state machine's history, and acknowledged states
/// the store has lost: (id, what happened).
fn transitions(
    history: &[History],
    durable: impl Fn(u32) -> Option<String>,
    machine: &Machine,
) -> Vec<(u32, String)> {
    let reachable = |from: Option<&str>, to: Option<&str>| machine.reachable(from, to);
    let mut out = Vec::new();
    let mut last: BTreeMap<u32, Option<String>> = BTreeMap::new();
    for (at_us, id, to) in history {
        let from = last.get(id).cloned().flatten();
        if !reachable(from.as_deref(), to.as_deref()) {
            let d = format!("{} → {} at {:.3}s", show(&from), show(to), *at_us as f64 / 1e6);
            out.push((*id, d));
        }
        last.insert(*id, to.clone());
    }
    for (id, acked) in last {
        let durable = durable(id);
        if !reachable(acked.as_deref(), durable.as_deref()) {
            let d = format!("acknowledged {} but the store has {}", show(&acked), show(&durable));
            out.push((id, d));
        }
    }
    out
}

fn show(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("absent")
}
