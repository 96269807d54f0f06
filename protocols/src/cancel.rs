//! Why an order ended cancelled, as a type: the business said no (the
//! customer, the stock, the funds, the warehouse) or the protocol and the
//! faults did. The checker classifies (`check::cancel_causes`); a protocol
//! may add what only its own records say ([`crate::Protocol::refusal`]).

use serde::{Deserialize, Serialize};
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
    /// A quantity the workflow declares did not have enough: a coupon
    /// already used, a wallet short.
    NotEnough,
    /// 2PC: another transaction held a row lock past the lock-wait timeout.
    LockConflict,
    /// No participant refused it: a timeout or a failure under faults, and
    /// the compensations after it.
    Faults,
}

impl CancelCause {
    pub const ALL: [CancelCause; 7] = [
        CancelCause::Customer,
        CancelCause::OutOfStock,
        CancelCause::InsufficientFunds,
        CancelCause::ShipmentFailed,
        CancelCause::NotEnough,
        CancelCause::LockConflict,
        CancelCause::Faults,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CancelCause::Customer => "customer",
            CancelCause::OutOfStock => "out-of-stock",
            CancelCause::InsufficientFunds => "insufficient-funds",
            CancelCause::ShipmentFailed => "shipment-failed",
            CancelCause::NotEnough => "not-enough",
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
    pub fn of_reply(label: &str) -> Option<CancelCause> {
        match label {
            "cancelled-by-customer" => Some(CancelCause::Customer),
            "out-of-stock" => Some(CancelCause::OutOfStock),
            "declined" => Some(CancelCause::InsufficientFunds),
            "undeliverable" => Some(CancelCause::ShipmentFailed),
            "not-enough" => Some(CancelCause::NotEnough),
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
