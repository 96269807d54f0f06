//! `no-phantom-events`: for a protocol that talks through the broker, what the
//! broker holds and what the services committed (`event/` rows) match.

use super::{Findings, GroundTruth, Invariant::NoPhantomEvents};
use std::collections::BTreeSet;

pub(super) fn no_phantoms(g: &GroundTruth, out: &mut Findings) {
    let Some(broker) = &g.broker else { return };
    let published: BTreeSet<&String> = broker.messages.values().flat_map(|m| m.values()).collect();
    let committed = g.event_ids("event/");
    let unsent = g.event_ids("outbox/");
    for id in published.iter().filter(|id| !committed.contains(id.as_str())) {
        out.add(NoPhantomEvents, format!("event {id}"), "published, but no service committed it (a phantom)");
    }
    for id in committed.iter().filter(|id| !published.contains(id) && !unsent.contains(id.as_str())) {
        let d = "committed and gone from the outbox, but never reached the broker (lost)";
        out.add(NoPhantomEvents, format!("event {id}"), d);
    }
}
