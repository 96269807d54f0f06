//! What a reconciliation pass can find wrong with an order (or a SKU's or a
//! customer's counters), and which of it can be repaired.

use serde::{Deserialize, Serialize};

/// One kind of discrepancy between the shop's books and the gateway's statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// Pending (or missing) long past its time, the goods not shipped: cancelled.
    Stuck,
    /// Pending (or missing) long past its time, the goods shipped and paid
    /// for (or an authorization held, captured once it completes): completed.
    StuckShipped,
    /// The gateway holds money for an order that did not complete: refunded.
    ChargedButCancelled,
    /// The gateway still holds an authorization for a settled order: voided or captured.
    HeldAfterSettle,
    /// A completed order charged under more than one key: the extra refunded.
    ChargedTwice,
    /// The payment row disagrees with the statement: re-recorded from it.
    PaymentRowWrong,
    /// A completed order's line without its stock taken: taken again.
    StockNotTaken,
    /// A completed order shipped without a line whose refund or restock is
    /// missing: refunded (that line's amount) and restocked.
    ShortNotSettled,
    /// A cancelled order's line whose stock was never put back: restocked.
    StockNotReturned,
    /// A completed order without its points: awarded.
    PointsMissing,
    /// A cancelled order whose points were kept: revoked.
    PointsKept,
    /// A completed order the customer was never told of: notified.
    NotNotified,
    /// A completed order with no shipment record: recorded shipped.
    ShipmentUnrecorded,
    /// Stock still reserved once every order of the SKU settled: released.
    StockStillReserved,
    /// Points still promised once every order of the customer settled: withdrawn.
    PointsStillPending,
    // What cannot be repaired, only reported:
    /// A completed order the gateway never charged.
    CompletedUnpaid,
    /// More refunded than charged.
    RefundedTwice,
    /// A cancelled order whose goods shipped, or whose customer was told it completed.
    CancelledButDelivered,
    /// A line of a completed order that cannot be taken again (out of stock, or restocked).
    StockUnrecoverable,
    /// Pending (or missing) long past its time, the goods shipped, and the
    /// gateway holding less than the order came to (refunded, or never
    /// charged): completing it would book goods nobody paid for, cancelling it
    /// would deny a delivery. Left pending for a person.
    ShippedUnpaid,
}

impl Finding {
    pub fn name(self) -> &'static str {
        match self {
            Finding::Stuck => "stuck",
            Finding::StuckShipped => "stuck-shipped",
            Finding::ChargedButCancelled => "charged-but-cancelled",
            Finding::HeldAfterSettle => "held-after-settle",
            Finding::ChargedTwice => "charged-twice",
            Finding::PaymentRowWrong => "payment-row-wrong",
            Finding::StockNotTaken => "stock-not-taken",
            Finding::ShortNotSettled => "short-not-settled",
            Finding::StockNotReturned => "stock-not-returned",
            Finding::PointsMissing => "points-missing",
            Finding::PointsKept => "points-kept",
            Finding::NotNotified => "not-notified",
            Finding::ShipmentUnrecorded => "shipment-unrecorded",
            Finding::StockStillReserved => "stock-still-reserved",
            Finding::PointsStillPending => "points-still-pending",
            Finding::CompletedUnpaid => "completed-unpaid",
            Finding::RefundedTwice => "refunded-twice",
            Finding::CancelledButDelivered => "cancelled-but-delivered",
            Finding::StockUnrecoverable => "stock-unrecoverable",
            Finding::ShippedUnpaid => "shipped-unpaid",
        }
    }

    pub fn parse(name: &str) -> Option<Finding> {
        Finding::ALL.into_iter().find(|f| f.name() == name)
    }

    pub const ALL: [Finding; 20] = [
        Finding::Stuck,
        Finding::StuckShipped,
        Finding::ChargedButCancelled,
        Finding::HeldAfterSettle,
        Finding::ChargedTwice,
        Finding::PaymentRowWrong,
        Finding::StockNotTaken,
        Finding::ShortNotSettled,
        Finding::StockNotReturned,
        Finding::PointsMissing,
        Finding::PointsKept,
        Finding::NotNotified,
        Finding::ShipmentUnrecorded,
        Finding::StockStillReserved,
        Finding::PointsStillPending,
        Finding::CompletedUnpaid,
        Finding::RefundedTwice,
        Finding::CancelledButDelivered,
        Finding::StockUnrecoverable,
        Finding::ShippedUnpaid,
    ];

    /// The order's fate a repair of this kind assumes: `Some(true)` completed,
    /// `Some(false)` cancelled, `None` either (or not an order's). A repair
    /// that disagrees with how the order really ended was made to the wrong order.
    pub fn assumes_completed(self) -> Option<bool> {
        match self {
            // `Stuck` decides the fate itself: completed if the goods shipped.
            Finding::StuckShipped
            | Finding::ChargedTwice
            | Finding::StockNotTaken
            | Finding::ShortNotSettled
            | Finding::PointsMissing
            | Finding::NotNotified
            | Finding::ShipmentUnrecorded => Some(true),
            Finding::ChargedButCancelled | Finding::StockNotReturned | Finding::PointsKept => Some(false),
            _ => None,
        }
    }

    /// Money was wrong while this lasted.
    pub fn is_money(self) -> bool {
        matches!(
            self,
            Finding::ChargedButCancelled
                | Finding::ShortNotSettled
                | Finding::HeldAfterSettle
                | Finding::ChargedTwice
                | Finding::CompletedUnpaid
                | Finding::RefundedTwice
                | Finding::ShippedUnpaid
        )
    }

    /// The repair of this kind completes the order.
    pub fn completes(self) -> bool {
        self == Finding::StuckShipped
    }

    /// Cannot be repaired, only reported: left for a person.
    pub fn for_a_person(self) -> bool {
        matches!(
            self,
            Finding::CompletedUnpaid
                | Finding::RefundedTwice
                | Finding::CancelledButDelivered
                | Finding::StockUnrecoverable
                | Finding::ShippedUnpaid
        )
    }
}

/// The row keys of the reconciler's own journal, in `reconcile-db`:
/// `found/{subject}/{finding}` and `repaired/{subject}/{finding}`, each holding
/// the simulated ms when it first happened. A subject is `{order:06}`,
/// `sku-{sku:03}` or `customer-{customer:04}`.
pub fn found_key(subject: &str, f: Finding) -> String {
    format!("found/{subject}/{}", f.name())
}

pub fn repaired_key(subject: &str, f: Finding) -> String {
    format!("repaired/{subject}/{}", f.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for f in Finding::ALL {
            assert_eq!(Finding::parse(f.name()), Some(f));
        }
    }
}
