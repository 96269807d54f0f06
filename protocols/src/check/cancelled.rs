//! Why each cancelled order ended cancelled: the business said no (the
//! customer cancelled, stock ran out, the gateway declined, the warehouse
//! could not ship) or the protocol and the faults did (a lock conflict, or a
//! timeout and the compensations after it). Read from ground truth and from
//! what participants answered, never from what the protocol believes; a
//! completion share means something only beside this split.

use super::GroundTruth;
use crate::cancel::CancelCause;
use crate::protocol::Protocol;
use crate::shop::{order, shipping};
use std::collections::BTreeMap;

/// The replies whose labels name a business refusal, remembered per order by
/// the trace ([`faultline_sim::Trace::watch_replies`]).
pub const REFUSALS: &[&str] =
    &["cancelled-by-customer", "out-of-stock", "declined", "undeliverable", "locked", "not-enough"];

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
