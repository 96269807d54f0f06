//! `legal-transitions`: orders and payments move only along their state
//! machines' edges, and an acknowledged state is never lost. The history holds
//! acknowledged writes only: a write can become durable unacknowledged (its
//! answer lost, or fenced off by a failover after it reached the replica), so
//! consecutive observations need only be *reachable* from each other.

use super::{Findings, GroundTruth, History, Invariant::LegalTransitions};
use crate::shop::order;
use crate::shop::payment::PaymentState;
use std::collections::BTreeMap;

pub(super) fn check(g: &GroundTruth, out: &mut Findings) {
    let order_now = |id: u32| g.order_state(id).map(str::to_string);
    for (id, d) in transitions(&g.order_history, order_now, order_reachable) {
        out.add(LegalTransitions, format!("order {id}"), d);
    }
    let payment_now = |id: u32| g.payment_state(id).map(str::to_string);
    for (id, d) in transitions(&g.payment_history, payment_now, payment_reachable) {
        out.add(LegalTransitions, format!("payment {id}"), d);
    }
}

/// The illegal steps in one state machine's history, and acknowledged states
/// the store has lost: (id, what happened).
fn transitions(
    history: &[History],
    durable: impl Fn(u32) -> Option<String>,
    reachable: fn(Option<&str>, Option<&str>) -> bool,
) -> Vec<(u32, String)> {
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

/// A state text the payment machine does not know is reachable from nothing.
fn payment_reachable(from: Option<&str>, to: Option<&str>) -> bool {
    let parse = |s: Option<&str>| s.map(PaymentState::parse);
    match (parse(from), parse(to)) {
        _ if from == to => true,
        (Some(None), _) | (_, Some(None)) => false,
        (from, to) => PaymentState::reachable(from.flatten(), to.flatten()),
    }
}

/// Whether an order can go from `from` to `to` in zero or more legal steps.
fn order_reachable(from: Option<&str>, to: Option<&str>) -> bool {
    from == to
        || matches!(
            (from, to),
            (None, Some(order::PENDING | order::COMPLETED | order::CANCELLED))
                | (Some(order::PENDING), Some(order::COMPLETED | order::CANCELLED))
        )
}

fn show(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("absent")
}
