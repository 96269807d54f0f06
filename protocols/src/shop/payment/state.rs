//! A payment's state machine, across protocols: charge (Saga, outbox) or
//! authorize-capture (TCC, 2PC), then maybe a refund or a void. `refunded` and
//! `voided` are final. The checker's `legal-transitions` walks these edges.

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

/// The legal steps; `None` is "no payment row yet".
const EDGES: [(Option<PaymentState>, PaymentState); 16] = [
    (None, Charging),
    (None, Refunding),
    (None, Authorizing),
    (None, Voided),
    (Some(Charging), Charged),
    (Some(Charging), Declined),
    (Some(Charging), Refunding),
    (Some(Charged), Refunding),
    (Some(Declined), Refunding),
    (Some(Declined), Voided),
    (Some(Refunding), Refunded),
    (Some(Authorizing), Authorized),
    (Some(Authorizing), Declined),
    (Some(Authorizing), Voided),
    (Some(Authorized), Charged),
    (Some(Authorized), Voided),
];

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

    /// Whether a payment can go from `from` to `to` in zero or more legal steps.
    pub fn reachable(from: Option<PaymentState>, to: Option<PaymentState>) -> bool {
        let mut seen = vec![from];
        let mut i = 0;
        while i < seen.len() {
            if seen[i] == to {
                return true;
            }
            for (a, b) in EDGES {
                if a == seen[i] && !seen.contains(&Some(b)) {
                    seen.push(Some(b));
                }
            }
            i += 1;
        }
        false
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

    #[test]
    fn names_parse_back_and_final_states_are_final() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.name()), Some(s));
            assert!(PaymentState::reachable(Some(s), Some(s)));
        }
        for done in [Refunded, Voided] {
            let onward = PaymentState::ALL.iter().filter(|s| **s != done);
            assert!(onward.clone().all(|s| !PaymentState::reachable(Some(done), Some(*s))), "{done:?}");
        }
        assert!(PaymentState::reachable(None, Some(Charged)));
        assert!(!PaymentState::reachable(Some(Refunded), Some(Declined)), "a refund undone");
        assert!(!PaymentState::reachable(Some(Charged), Some(Charging)));
    }
}
