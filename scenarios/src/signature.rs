//! Failure signatures: what makes two failures the same failure to a person —
//! the invariant broken, the protocol step the violated order was at when its
//! run first went wrong, and what went wrong first. Counting distinct
//! signatures measures how many different failures a way of testing finds.

use faultline_protocols::check::{Invariant, Violation};
use faultline_sim::{DropReason, Event, EventKind};
use serde::Serialize;
use std::fmt;

/// One failure's signature.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Signature {
    pub invariant: Invariant,
    /// The message the order was at when the first thing went wrong (or its
    /// last message, if nothing visibly did): the protocol step.
    pub step: &'static str,
    /// The first thing that went wrong for the order: a drop (for whatever
    /// reason), a duplicate, a timeout, an injected fault by name, a crash or
    /// failover around it.
    pub first: &'static str,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} after {}", self.invariant, self.step, self.first)
    }
}

/// The label of a store transaction's request.
const STORE_TXN: &str = "txn";

/// The signature of `v` in a run whose recorded trace is `events`. A
/// violation about an order reads that order's events; one about a SKU or a
/// customer reads every order's.
pub fn of(v: &Violation, events: &[Event]) -> Signature {
    let order: Option<u32> = v.subject.strip_prefix("order ").and_then(|n| n.trim().parse().ok());
    let concerns = |e: &Event| match order {
        Some(id) => e.order == Some(id),
        None => e.order.is_some(),
    };
    let mut step = "-";
    let mut life = (u64::MAX, 0);
    for e in events.iter().filter(|e| concerns(e)) {
        life = (life.0.min(e.at_us), life.1.max(e.at_us));
        let first = match &e.kind {
            // A step is a request between services; store round trips are
            // how a step is done, not a step.
            EventKind::Send { msg, .. } if *msg != STORE_TXN => {
                step = msg;
                None
            }
            EventKind::Drop { reason: DropReason::Late, .. } => None,
            EventKind::Drop { .. } => Some("drop"),
            EventKind::Duplicate { .. } | EventKind::Timeout { .. } => Some(e.kind.name()),
            // A mutant's marker says where the bug acted, not what set it off.
            EventKind::Injected { fault: "mutant", .. } => None,
            EventKind::Injected { fault, .. } => Some(*fault),
            EventKind::Crash { .. } | EventKind::Pause => Some(e.kind.name()),
            _ => None,
        };
        if let Some(first) = first {
            return Signature { invariant: v.invariant, step, first };
        }
    }
    // Nothing went wrong in the order's own messages: the first fault of the
    // world during its life (a failover that lost its rows, say), if any.
    let world = |e: &&Event| {
        e.order.is_none()
            && (life.0..=life.1).contains(&e.at_us)
            && matches!(
                e.kind,
                EventKind::Crash { .. }
                    | EventKind::Failover { .. }
                    | EventKind::Pause
                    | EventKind::Partition { .. }
                    | EventKind::LinkCut { .. }
                    | EventKind::FsyncFailed
            )
    };
    let first = events.iter().find(world).map_or("nothing", |e| e.kind.name());
    Signature { invariant: v.invariant, step, first }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::NodeId;

    fn ev(at_us: u64, order: Option<u32>, kind: EventKind) -> Event {
        Event { at_us, node: NodeId(1), order, kind }
    }

    fn violation(subject: &str) -> Violation {
        let (invariant, subject, detail) = (Invariant::NoDoubleCharge, subject.into(), String::new());
        Violation { invariant, subject, detail, evidence: None }
    }

    #[test]
    fn the_first_thing_that_went_wrong_for_the_order_names_it() {
        let send = |at, order, msg| ev(at, order, EventKind::Send { to: NodeId(2), call: at, msg });
        let events = [
            send(1, Some(1), "order-create"),
            ev(2, Some(2), EventKind::Timeout { to: NodeId(2), call: 9, msg: "other-order" }),
            send(3, Some(1), "charge"),
            ev(4, None, EventKind::Crash { unsynced_lost: 0, torn: false }),
            ev(5, Some(1), EventKind::Duplicate { to: NodeId(2), call: 3, msg: "charge" }),
            ev(6, Some(1), EventKind::Timeout { to: NodeId(2), call: 3, msg: "charge" }),
        ];
        let s = of(&violation("order 1"), &events);
        assert_eq!((s.step, s.first), ("charge", "duplicate"));
        assert_eq!(s.to_string(), "no-double-charge at charge after duplicate");
        let lost = ev(
            5,
            Some(1),
            EventKind::Drop {
                from: NodeId(1),
                to: NodeId(2),
                call: 3,
                msg: "done",
                reason: DropReason::Loss,
            },
        );
        let s = of(&violation("order 1"), &[events[0].clone(), send(2, Some(1), "txn"), lost]);
        assert_eq!((s.step, s.first), ("order-create", "drop"), "a store round trip is not a step");
        // Another order's story is another signature.
        assert_eq!(of(&violation("order 2"), &events).first, "timeout");
        // Nothing in the order's own messages: the world's fault during its life.
        let quiet = [send(1, Some(1), "order-create"), events[3].clone(), send(7, Some(1), "charge")];
        let s = of(&violation("order 1"), &quiet);
        assert_eq!((s.step, s.first), ("charge", "crash"));
        assert_eq!(of(&violation("order 1"), &quiet[..1]).first, "nothing");
    }
}
