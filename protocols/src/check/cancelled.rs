//! Why each cancelled order ended cancelled: the business said no (the
//! customer cancelled, stock ran out, the gateway declined, the warehouse
//! could not ship) or the protocol and the faults did (a lock conflict, or a
//! timeout and the compensations after it). Read from ground truth and from
//! what participants answered, never from what the protocol believes; a
//! completion share means something only beside this split.

use super::GroundTruth;
use crate::protocol::Protocol;
use crate::shop::{order, shipping};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why an order ended cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelCause {
    /// The customer cancelled it before it shipped.
    Customer,
    /// A line's SKU did not have the units.
    OutOfStock,
    /// The gateway declined the charge: the customer's balance was short.
    InsufficientFunds,
    /// The warehouse could not fulfil it.
    ShipmentFailed,
    /// 2PC: another transaction held a row lock past the lock-wait timeout.
    LockConflict,
    /// No participant refused it: a timeout or a failure under faults, and
    /// the compensations after it.
    Faults,
}

impl CancelCause {
    pub const ALL: [CancelCause; 6] = [
        CancelCause::Customer,
        CancelCause::OutOfStock,
        CancelCause::InsufficientFunds,
        CancelCause::ShipmentFailed,
        CancelCause::LockConflict,
        CancelCause::Faults,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CancelCause::Customer => "customer",
            CancelCause::OutOfStock => "out-of-stock",
            CancelCause::InsufficientFunds => "insufficient-funds",
            CancelCause::ShipmentFailed => "shipment-failed",
            CancelCause::LockConflict => "lock-conflict",
            CancelCause::Faults => "faults",
        }
    }

    /// The business said no: the same seed without faults would cancel it too
    /// (as far as one order can tell: stock another order freed may differ).
    pub fn business(self) -> bool {
        !matches!(self, CancelCause::LockConflict | CancelCause::Faults)
    }

    /// A participant's refusal, by the label of its reply.
    fn of_reply(label: &str) -> Option<CancelCause> {
        match label {
            "cancelled-by-customer" => Some(CancelCause::Customer),
            "out-of-stock" => Some(CancelCause::OutOfStock),
            "declined" => Some(CancelCause::InsufficientFunds),
            "undeliverable" => Some(CancelCause::ShipmentFailed),
            "locked" => Some(CancelCause::LockConflict),
            _ => None,
        }
    }
}

impl fmt::Display for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The replies whose labels name a business refusal, remembered per order by
/// the trace ([`faultline_sim::Trace::watch_replies`]).
pub const REFUSALS: &[&str] =
    &["cancelled-by-customer", "out-of-stock", "declined", "undeliverable", "locked"];

/// Every cancelled order's cause.
pub fn causes(g: &GroundTruth, protocol: &dyn Protocol) -> BTreeMap<u32, CancelCause> {
    let cancelled = g.workload.orders.iter().filter(|o| g.order_state(o.id) == Some(order::CANCELLED));
    cancelled.map(|o| (o.id, cause(g, protocol, o))).collect()
}

fn cause(g: &GroundTruth, protocol: &dyn Protocol, o: &crate::workload::Order) -> CancelCause {
    // The first refusal a participant answered decides; then what the books
    // say: the gateway's declines, the shipment row, the protocol's own records.
    let replied = g.refusals.get(&o.id).and_then(|label| CancelCause::of_reply(label));
    let shipment = match g.shipment(o.id).and_then(shipping::Fate::parse) {
        Some(shipping::Fate::Failed) => Some(CancelCause::ShipmentFailed),
        // Stopped for the customer; the reconciler stops stuck orders too.
        Some(shipping::Fate::Stopped) if o.cancel_after_ms.is_some() => Some(CancelCause::Customer),
        _ => None,
    };
    let declined = g.declined.contains(&o.id).then_some(CancelCause::InsufficientFunds);
    (replied.or_else(|| protocol.refusal(g, o.id))).or(declined).or(shipment).unwrap_or(CancelCause::Faults)
}
