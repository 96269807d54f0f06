//! Coverage facts (stateright's `sometimes` properties): things that must
//! happen in a scenario's runs for them to mean anything. A run reports which
//! occurred; a scenario can require some, so a scenario that silently stops
//! exercising its faults — or a protocol that never takes the path a scenario
//! is for — fails instead of passing vacuously.

use super::team::Fact;
use super::{int, GroundTruth};
use crate::shop::payment::PaymentState;
use crate::shop::shipping::Fate;
use crate::shop::{inventory, order};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::RwLock;

/// Something that happened in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Coverage {
    OrderCompleted,
    OrderCancelled,
    /// An order was cancelled after an effect had been applied for it and was
    /// undone: its stock put back, or its payment charged or authorized first.
    OrderCompensated,
    /// The gateway refunded money it had charged.
    ChargeRefunded,
    /// The warehouse could not fulfil a paid order.
    ShipmentFailed,
    /// A customer's cancellation stopped a shipment.
    CancellationAccepted,
    /// A customer's cancellation came after the order had shipped.
    CancellationTooLate,
    /// A completed order shipped without some of its lines, which were refunded.
    PartiallyShipped,
    /// The reconciler repaired a discrepancy.
    Repaired,
    NodeRestarted,
    MessageDropped,
    MessageDuplicated,
    /// A partition or a cut link isolated nodes.
    NodesIsolated,
    CallbackLost,
    CallbackDuplicated,
    StoreFailedOver,
    /// A failover's new primary lacked writes the old primary had committed.
    FailoverLostWrites,
    /// A failed fsync or a torn write.
    DiskFault,
    /// A crash point in protocol or store code fired.
    CrashPointFired,
    /// A cache that lost what it held in a crash was loaded again from its store.
    CacheRebuilt,
    /// A team's own fact, by its registered name ([`register_fact`](crate::check::team::register_fact)).
    Team(&'static str),
}

/// The team facts registered in this process.
static TEAM: RwLock<Vec<&'static Fact>> = RwLock::new(Vec::new());

/// Registers a team's coverage fact: runs of the workflows it names report
/// it when it holds, and scenarios `[require]` it by name. Registering the
/// same name again is a no-op; a malformed or built-in name is refused.
pub fn register(f: &'static Fact) -> Result<Coverage, String> {
    if let Some(rule) = crate::workflow::rules::bad_name(f.name) {
        return Err(format!("coverage fact: {rule}"));
    }
    if Coverage::ALL.iter().any(|c| c.name() == f.name) {
        return Err(format!("coverage fact {:?}: a built-in fact has that name", f.name));
    }
    let mut team = TEAM.write().unwrap_or_else(|e| e.into_inner());
    if !team.iter().any(|t| t.name == f.name) {
        team.push(f);
    }
    Ok(Coverage::Team(f.name))
}

fn team() -> Vec<&'static Fact> {
    TEAM.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Coverage {
    pub const ALL: [Coverage; 20] = [
        Coverage::OrderCompleted,
        Coverage::OrderCancelled,
        Coverage::OrderCompensated,
        Coverage::ChargeRefunded,
        Coverage::ShipmentFailed,
        Coverage::CancellationAccepted,
        Coverage::CancellationTooLate,
        Coverage::PartiallyShipped,
        Coverage::Repaired,
        Coverage::NodeRestarted,
        Coverage::MessageDropped,
        Coverage::MessageDuplicated,
        Coverage::NodesIsolated,
        Coverage::CallbackLost,
        Coverage::CallbackDuplicated,
        Coverage::StoreFailedOver,
        Coverage::FailoverLostWrites,
        Coverage::DiskFault,
        Coverage::CrashPointFired,
        Coverage::CacheRebuilt,
    ];

    /// Every fact: the built-in ones, then the team's in registration order.
    pub fn all() -> Vec<Coverage> {
        Coverage::ALL.into_iter().chain(team().into_iter().map(|f| Coverage::Team(f.name))).collect()
    }

    /// Parses a name; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Coverage, String> {
        let all = Coverage::all();
        all.iter().copied().find(|c| c.name() == name).ok_or_else(|| {
            let valid: Vec<_> = all.iter().map(|c| c.name()).collect();
            format!("unknown coverage fact {name:?}; facts: {}", valid.join(", "))
        })
    }

    /// The stable name, as in scenario files and JSON lines.
    pub fn name(self) -> &'static str {
        match self {
            Coverage::Team(name) => name,
            Coverage::OrderCompleted => "order-completed",
            Coverage::OrderCancelled => "order-cancelled",
            Coverage::OrderCompensated => "order-compensated",
            Coverage::ChargeRefunded => "charge-refunded",
            Coverage::ShipmentFailed => "shipment-failed",
            Coverage::CancellationAccepted => "cancellation-accepted",
            Coverage::CancellationTooLate => "cancellation-too-late",
            Coverage::PartiallyShipped => "partially-shipped",
            Coverage::Repaired => "repaired",
            Coverage::NodeRestarted => "node-restarted",
            Coverage::MessageDropped => "message-dropped",
            Coverage::MessageDuplicated => "message-duplicated",
            Coverage::NodesIsolated => "nodes-isolated",
            Coverage::CallbackLost => "callback-lost",
            Coverage::CallbackDuplicated => "callback-duplicated",
            Coverage::StoreFailedOver => "store-failed-over",
            Coverage::FailoverLostWrites => "failover-lost-writes",
            Coverage::DiskFault => "disk-fault",
            Coverage::CrashPointFired => "crash-point-fired",
            Coverage::CacheRebuilt => "cache-rebuilt",
        }
    }

    /// What it means.
    pub fn statement(self) -> &'static str {
        match self {
            Coverage::Team(name) => team().iter().find(|f| f.name == name).map_or("a team's fact", |f| f.statement),
            Coverage::OrderCompleted => "some order completed",
            Coverage::OrderCancelled => "some order was cancelled",
            Coverage::OrderCompensated => "a cancelled order had an effect undone: its stock put back, or its payment charged or authorized first",
            Coverage::ChargeRefunded => "the gateway refunded money it had charged",
            Coverage::ShipmentFailed => "the warehouse could not fulfil a paid order",
            Coverage::CancellationAccepted => "a customer's cancellation stopped a shipment",
            Coverage::CancellationTooLate => "a customer's cancellation came after the order had shipped",
            Coverage::PartiallyShipped => "a completed order shipped without some of its lines, which were refunded",
            Coverage::Repaired => "the reconciler repaired a discrepancy between the books and the gateway's statement",
            Coverage::NodeRestarted => "a crashed node came back",
            Coverage::MessageDropped => "the network lost a message (loss or partition)",
            Coverage::MessageDuplicated => "the network delivered a message twice",
            Coverage::NodesIsolated => "a partition or a cut link isolated nodes",
            Coverage::CallbackLost => "the gateway lost a payment callback",
            Coverage::CallbackDuplicated => "the gateway sent a payment callback twice",
            Coverage::StoreFailedOver => "a store's replica was promoted",
            Coverage::FailoverLostWrites => "a failover's new primary lacked writes the old primary had committed",
            Coverage::DiskFault => "an fsync failed or a crash tore a write",
            Coverage::CrashPointFired => "a crash point in protocol or store code fired",
            Coverage::CacheRebuilt => "a cache that came back from a crash was loaded again from its store",
        }
    }

    /// The trace event names (or tallies) whose count shows this fact.
    pub(crate) fn events(self) -> &'static [&'static str] {
        match self {
            Coverage::NodeRestarted => &["restart"],
            Coverage::MessageDropped => &["drop-loss", "drop-partition", "drop-targeted"],
            Coverage::MessageDuplicated => &["duplicate"],
            Coverage::NodesIsolated => &["partition", "link-cut"],
            Coverage::CallbackLost => &["callback-lost"],
            Coverage::CallbackDuplicated => &["callback-duplicated"],
            Coverage::StoreFailedOver => &["failover"],
            Coverage::FailoverLostWrites => &[faultline_sim::FAILOVER_LOST_WRITES],
            Coverage::DiskFault => &["fsync-failed", "torn-write-dropped"],
            Coverage::CrashPointFired => &["crash-point"],
            Coverage::CacheRebuilt => &[faultline_sim::cache::CACHE_REBUILT],
            _ => &[],
        }
    }
}

impl Serialize for Coverage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Coverage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Coverage, D::Error> {
        Coverage::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The facts a run shows, from ground truth and the trace's event counts.
pub fn observed(g: &GroundTruth, counts: &BTreeMap<&'static str, u64>) -> BTreeSet<Coverage> {
    let mut out = BTreeSet::new();
    let cancelled: Vec<u32> = g
        .workload
        .orders
        .iter()
        .map(|o| o.id)
        .filter(|id| g.order_state(*id) == Some(order::CANCELLED))
        .collect();
    if g.workload.orders.iter().any(|o| g.completed(o.id)) {
        out.insert(Coverage::OrderCompleted);
    }
    if !cancelled.is_empty() {
        out.insert(Coverage::OrderCancelled);
    }
    let paid = |to: &Option<String>| {
        let state = to.as_deref().and_then(PaymentState::parse);
        matches!(state, Some(PaymentState::Charged | PaymentState::Authorized))
    };
    let held: BTreeSet<u32> = g.payment_history.iter().filter(|(_, _, to)| paid(to)).map(|h| h.1).collect();
    let lines = |id: u32| g.order(id).map_or(0, |o| o.lines.len() as u32);
    let restocked = |id: u32| (0..lines(id)).any(|l| int(&g.inventory, &inventory::restocked(id, l)) > 0);
    if cancelled.iter().any(|id| restocked(*id) || held.contains(id)) {
        out.insert(Coverage::OrderCompensated);
    }
    if g.ledger.iter().any(|e| e.amount < 0) {
        out.insert(Coverage::ChargeRefunded);
    }
    if g.journal.as_ref().is_some_and(|j| j.repaired() > 0) {
        out.insert(Coverage::Repaired);
    }
    if g.workload.orders.iter().any(|o| g.completed(o.id) && o.short_lines().next().is_some()) {
        out.insert(Coverage::PartiallyShipped);
    }
    for o in &g.workload.orders {
        match g.shipment(o.id).and_then(Fate::parse) {
            Some(Fate::Failed) => out.insert(Coverage::ShipmentFailed),
            Some(Fate::Stopped) => out.insert(Coverage::CancellationAccepted),
            Some(Fate::Shipped) if o.cancel_after_ms.is_some() => out.insert(Coverage::CancellationTooLate),
            _ => false,
        };
    }
    for fact in Coverage::ALL {
        if fact.events().iter().any(|e| counts.get(e).copied().unwrap_or(0) > 0) {
            out.insert(fact);
        }
    }
    let judged = |f: &&Fact| f.workflows.is_empty() || f.workflows.contains(&g.workflow.name.as_str());
    for f in team().into_iter().filter(judged) {
        if (f.seen)(g) {
            out.insert(Coverage::Team(f.name));
        }
    }
    out
}
