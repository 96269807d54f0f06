//! `cancellation-honoured`: once the shipping service has acknowledged that an
//! order will not ship — the customer's cancellation won the race, or the
//! warehouse could not fulfil it — that stands: the row never changes and the
//! order never completes. Read from the acknowledged writes, so a shipment
//! that overwrote an accepted cancellation is caught even if everything
//! downstream agrees with it.

use super::{Findings, GroundTruth, Invariant::CancellationHonoured};
use crate::shop::shipping::Fate;
use std::collections::BTreeMap;

pub(super) fn honoured(g: &GroundTruth, out: &mut Findings) {
    // Per order, the first acknowledged "will not ship" and when.
    let mut stopped: BTreeMap<u32, (u64, Fate)> = BTreeMap::new();
    let mut reported = std::collections::BTreeSet::new();
    for (at_us, id, to) in &g.ship_history {
        let fate = to.as_deref().and_then(Fate::parse);
        if let Some(&(since, first)) = stopped.get(id) {
            if fate != Some(first) {
                let now = to.as_deref().unwrap_or("absent");
                let d = format!(
                    "shipment acknowledged {} at {:.3}s, then {now} at {:.3}s",
                    first.name(),
                    since as f64 / 1e6,
                    *at_us as f64 / 1e6
                );
                if reported.insert(*id) {
                    out.add(CancellationHonoured, format!("order {id}"), d);
                }
            }
        } else if let Some(f @ (Fate::Stopped | Fate::Failed)) = fate {
            stopped.insert(*id, (*at_us, f));
        }
    }
    for (id, (since, fate)) in stopped {
        if g.completed(id) && !reported.contains(&id) {
            let d = format!(
                "shipment acknowledged {} at {:.3}s, but the order completed",
                fate.name(),
                since as f64 / 1e6
            );
            out.add(CancellationHonoured, format!("order {id}"), d);
        }
    }
}
