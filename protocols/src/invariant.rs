//! The invariants as a type: each one's stable name and what it states. Every
//! other place — mutants, scenario expectations, outcomes, reports — names an
//! invariant through this type, never as a string. A team's own invariants
//! (`check::team`) are registered here by name, beside the built-in ones.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::RwLock;

/// A business invariant the checker verifies from ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    NoPanic,
    /// A team's own invariant, by its registered name ([`register`]).
    Team(&'static str),
}

/// The team invariants registered in this process: (name, statement).
static TEAM: RwLock<Vec<(&'static str, &'static str)>> = RwLock::new(Vec::new());

/// Registers a team's invariant, so that scenarios, records and reports
/// name it like a built-in one. Registering the same name again is a no-op;
/// a malformed name or a built-in one is refused.
pub fn register(name: &'static str, statement: &'static str) -> Result<Invariant, String> {
    if let Some(rule) = crate::workflow::rules::bad_name(name) {
        return Err(format!("invariant: {rule}"));
    }
    if Invariant::ALL.iter().any(|i| i.name() == name) || name == "panic" {
        return Err(format!("invariant {name:?}: a built-in invariant has that name"));
    }
    let mut team = TEAM.write().unwrap_or_else(|e| e.into_inner());
    if !team.iter().any(|(n, _)| *n == name) {
        team.push((name, statement));
    }
    Ok(Invariant::Team(name))
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

    /// Every invariant: the built-in ones, then the team's in registration order.
    pub fn all() -> Vec<Invariant> {
        let team = TEAM.read().unwrap_or_else(|e| e.into_inner());
        Invariant::ALL.into_iter().chain(team.iter().map(|(n, _)| Invariant::Team(n))).collect()
    }

    /// The stable name, as in scenario files and JSON lines.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Team(name) => name,
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
            Invariant::Team(name) => {
                let team = TEAM.read().unwrap_or_else(|e| e.into_inner());
                team.iter().find(|(n, _)| *n == name).map_or("a team's invariant", |(_, s)| s)
            }
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
        let all = Invariant::all();
        all.iter().copied().find(|i| i.name() == name).ok_or_else(|| {
            let valid: Vec<_> = all.iter().map(|i| i.name()).collect();
            format!("unknown invariant {name:?}; invariants: {}", valid.join(", "))
        })
    }
}

impl Serialize for Invariant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Invariant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Invariant, D::Error> {
        let name = String::deserialize(d)?;
        // Records written before the rename still read.
        let name = if name == "panic" { "no-panic" } else { name.as_str() };
        Invariant::parse(name).map_err(serde::de::Error::custom)
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

    #[test]
    fn a_team_invariant_is_named_like_a_built_in_one() {
        assert!(serde_json::from_str::<Invariant>("\"tests-own-rule\"").is_err(), "not registered yet");
        let mine = register("tests-own-rule", "what the test says").unwrap();
        assert_eq!(register("tests-own-rule", "again"), Ok(mine));
        assert_eq!((mine.name(), mine.statement()), ("tests-own-rule", "what the test says"));
        assert_eq!(Invariant::parse("tests-own-rule"), Ok(mine));
        assert_eq!(serde_json::to_string(&mine).unwrap(), "\"tests-own-rule\"");
        assert_eq!(serde_json::from_str::<Invariant>("\"tests-own-rule\"").unwrap(), mine);
        assert!(Invariant::all().contains(&mine));
        assert!(register("agreement", "").unwrap_err().contains("built-in"));
        assert!(register("Bad Name", "").unwrap_err().contains("lowercase"));
    }
}
