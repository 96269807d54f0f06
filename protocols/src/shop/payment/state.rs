//! A payment's states, across protocols: charge (Saga, outbox) or
//! authorize-capture (TCC, 2PC), then maybe a refund or a void. The edges are
//! the shop workflow's `payment` machine (`workflows/shop.toml`), which the
//! checker's `legal-transitions` walks.

/// Where a payment is, as the payment service records it in `pay/{order}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PaymentState {
    Charging,
    Charged,
    Declined,
    Refunding,
    Refunded,
    Authorizing,
    Authorized,
    Voided,
}

use PaymentState::*;

impl PaymentState {
    pub const ALL: [PaymentState; 8] =
        [Charging, Charged, Declined, Refunding, Refunded, Authorizing, Authorized, Voided];

    /// The text stored in the payment row.
    pub fn name(self) -> &'static str {
        match self {
            Charging => "charging",
            Charged => "charged",
            Declined => "declined",
            Refunding => "refunding",
            Refunded => "refunded",
            Authorizing => "authorizing",
            Authorized => "authorized",
            Voided => "voided",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|s| s.name() == text)
    }

    /// A step is under way at the gateway: the payment is not settled.
    pub fn in_flight(self) -> bool {
        matches!(self, Charging | Refunding)
    }
}

impl From<PaymentState> for faultline_sim::Value {
    fn from(s: PaymentState) -> Self {
        s.name().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::builtin;

    #[test]
    fn the_shop_declares_exactly_these_states_and_final_states_are_final() {
        let shop = builtin::shop();
        let m = shop.machine("payment").unwrap();
        let names: Vec<_> = PaymentState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(m.states, names);
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.name()), Some(s));
            assert!(m.reachable(Some(s.name()), Some(s.name())));
        }
        for done in [Refunded, Voided] {
            let onward = PaymentState::ALL.iter().filter(|s| **s != done);
            assert!(onward.clone().all(|s| !m.reachable(Some(done.name()), Some(s.name()))), "{done:?}");
        }
        assert!(m.reachable(None, Some("charged")));
        assert!(!m.reachable(Some("refunded"), Some("declined")), "a refund undone");
        assert!(!m.reachable(Some("charged"), Some("charging")));
    }
}
