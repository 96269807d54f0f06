//! `repairs-justified`: the reconciler is code too. Every repair it attempted
//! (its journal records each finding before acting on it) assumed a fate for
//! the order — a refund assumes it is cancelled, a notification that it
//! completed — and a repair whose order ended the other way was made to a
//! healthy order: a reconciler that refunds a shipped order is caught here.

use super::{Findings, GroundTruth, Invariant::RepairsJustified};
use crate::reconcile::Journal;
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
