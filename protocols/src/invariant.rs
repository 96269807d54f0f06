//! The invariants as a type: each one's stable name and what it states. Every
//! other place — mutants, scenario expectations, outcomes, reports — names an
//! invariant through this type, never as a string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A business invariant the checker verifies from ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    NoDoubleCharge,
    StockConservation,
    MoneyConservation,
    QuantityConservation,
    ExactlyOnceEffects,
    Agreement,
    EventualSettlement,
    LegalTransitions,
    NoPhantomEvents,
    CancellationHonoured,
    RepairsJustified,
    /// Not a business invariant: the run itself stopped on a failed assertion
    /// in a protocol or the simulator. Reported in place of one.
    #[serde(alias = "panic")]
    NoPanic,
}

impl Invariant {
    pub const ALL: [Invariant; 12] = [
        Invariant::NoDoubleCharge,
        Invariant::StockConservation,
        Invariant::MoneyConservation,
        Invariant::QuantityConservation,
        Invariant::ExactlyOnceEffects,
        Invariant::Agreement,
        Invariant::EventualSettlement,
        Invariant::LegalTransitions,
        Invariant::NoPhantomEvents,
        Invariant::CancellationHonoured,
        Invariant::RepairsJustified,
        Invariant::NoPanic,
    ];

    /// The stable name, as in scenario files and JSON lines.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoDoubleCharge => "no-double-charge",
            Invariant::StockConservation => "stock-conservation",
            Invariant::MoneyConservation => "money-conservation",
            Invariant::QuantityConservation => "quantity-conservation",
            Invariant::ExactlyOnceEffects => "exactly-once-effects",
            Invariant::Agreement => "agreement",
            Invariant::EventualSettlement => "eventual-settlement",
            Invariant::LegalTransitions => "legal-transitions",
            Invariant::NoPhantomEvents => "no-phantom-events",
            Invariant::CancellationHonoured => "cancellation-honoured",
            Invariant::RepairsJustified => "repairs-justified",
            Invariant::NoPanic => "no-panic",
        }
    }

    /// What it states.
    pub fn statement(self) -> &'static str {
        match self {
            Invariant::NoDoubleCharge => "per order, gateway charges minus refunds is what the order came to if it completed (its amount, less the lines it shipped without) and 0 otherwise; refunds never exceed what was charged, at any point of the ledger",
            Invariant::StockConservation => "per SKU, initial = available + reserved + sold, and no count is negative",
            Invariant::MoneyConservation => "customer balances plus the merchant's account equal the initial total; no balance is negative",
            Invariant::QuantityConservation => "per quantity a declared participant keeps, and per key: what is on hand and held equals its initial value less what applied takes moved out, plus what applied gives moved in — each application counted once by its record — and none is negative where the workflow says so",
            Invariant::ExactlyOnceEffects => "stock sold (of the lines shipped), points and notifications per customer equal the sums over completed orders: nothing applied twice",
            Invariant::Agreement => "every service agrees on each order's fate: completed (stock kept, charged, shipped, points, notified, and every declared step applied once, in its declared amount) everywhere or cancelled everywhere (every declared step undone or never applied)",
            Invariant::EventualSettlement => "after faults heal, every order is terminal and no hold, in-flight step or unfinished protocol state remains by the settle deadline",
            Invariant::LegalTransitions => "orders and payments move only along their state machines' edges, and an acknowledged state is never lost",
            Invariant::NoPhantomEvents => "every event the broker holds was committed by its service, and every committed event reached the broker",
            Invariant::CancellationHonoured => "a cancellation the customer was told succeeded ends with the order cancelled, its stock back and its money refunded: nothing ships after it",
            Invariant::RepairsJustified => "every repair the reconciler made agrees with how the order ended: it never refunds or restocks an order that completes, nor completes, awards or notifies one that is cancelled",
            Invariant::NoPanic => "no assertion in a protocol or the simulator fails during the run",
        }
    }

    /// Parses a name; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Invariant, String> {
        Invariant::ALL.into_iter().find(|i| i.name() == name).ok_or_else(|| {
            let valid: Vec<_> = Invariant::ALL.iter().map(|i| i.name()).collect();
            format!("unknown invariant {name:?}; invariants: {}", valid.join(", "))
        })
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_match_the_json_form() {
        for i in Invariant::ALL {
            assert_eq!(Invariant::parse(i.name()), Ok(i));
            assert_eq!(serde_json::to_string(&i).unwrap(), format!("\"{}\"", i.name()));
            assert!(!i.statement().is_empty());
        }
        // Records written before the rename still read.
        assert_eq!(serde_json::from_str::<Invariant>("\"panic\"").unwrap(), Invariant::NoPanic);
        assert!(Invariant::parse("nope").unwrap_err().contains("invariants: no-double-charge"));
    }
}
