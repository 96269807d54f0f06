//! `repairs-justified`: the reconciler is code too. Every repair it attempted
//! (its journal records each finding before acting on it) assumed a fate for
//! the order — a refund assumes it is cancelled, a notification that it
//! completed — and a repair whose order ended the other way was made to a
//! healthy order: a reconciler that refunds a shipped order is caught here.
//! A completion must also be paid for: a repair that completed an order while
//! the gateway held less than it came to, money that never came after, booked
//! goods nobody paid for.

use super::{Findings, GroundTruth, Invariant::RepairsJustified};
use crate::id::Padded;
use crate::reconcile::{Finding, Journal};
use crate::shop::order;

pub(super) fn justified(g: &GroundTruth, out: &mut Findings) {
    let Some(journal) = &g.journal else { return };
    for ((subject, f), (found_ms, _)) in &journal.entries {
        let (Some(id), Some(completed)) = (Journal::order_of(subject), f.assumes_completed()) else {
            continue;
        };
        let ended = g.order_state(id);
        let wrong = match ended {
            Some(order::COMPLETED) => !completed,
            Some(order::CANCELLED) => completed,
            _ => false, // not settled: eventual-settlement says so
        };
        if f.completes() && ended == Some(order::COMPLETED) {
            unpaid_completion(g, id, *f, out);
        }
        if wrong {
            let d = format!(
                "the reconciler repaired {} at {:.3}s, but the order ended {}",
                f.name(),
                *found_ms as f64 / 1e3,
                ended.unwrap_or("missing")
            );
            out.add(RepairsJustified, format!("order {id}"), d);
        }
    }
}

/// Flags a completing repair of order `id` made without the money: the
/// gateway's net for it, when the order row moved to completed, and at the
/// end, both short of what the order came to.
fn unpaid_completion(g: &GroundTruth, id: u32, f: Finding, out: &mut Findings) {
    let (Some(journal), Some(o)) = (&g.journal, g.order(id)) else {
        return;
    };
    let Some((_, Some(repaired_ms))) = journal.entries.get(&(Padded(id).to_string(), f)) else { return };
    let since_us = repaired_ms * 1000;
    let completed_at = (g.order_history.iter())
        .find(|(at, o, state)| *o == id && *at >= since_us && state.as_deref() == Some(order::COMPLETED))
        .map_or(since_us, |(at, ..)| *at);
    let net = |until: u64| -> i64 {
        g.ledger.iter().filter(|e| e.order == id && e.at_us <= until).map(|e| e.amount).sum()
    };
    let (then, end) = (net(completed_at), net(u64::MAX));
    if then < o.due() && end < o.due() {
        let d = format!(
            "the reconciler completed it ({}) at {:.3}s while the gateway held {then} of the {} it came to, and {end} at the end",
            f.name(),
            completed_at as f64 / 1e6,
            o.due()
        );
        out.add(RepairsJustified, format!("order {id}"), d);
    }
}
