//! A business operation, declared once as an effect with its precondition;
//! what every engine needs of it — its inverse (a Saga's compensation), its
//! hold (TCC's try), applying the hold (confirm) and releasing it (cancel) —
//! follows from the effect ([`Operation::derived`]).

use serde::Serialize;
use std::fmt;

/// A business operation at one participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Operation {
    pub name: String,
    /// The participant that applies it, in its own store.
    pub at: String,
    /// Applied once per order, or once per order line.
    pub per: Per,
    pub effect: Effect,
    /// Whether it can be undone once applied (an SMS sent cannot). A take, a
    /// give and a charge can by default; a record never can.
    pub reversible: bool,
}

/// How often an operation applies to one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Per {
    Order,
    Line,
}

impl Per {
    pub fn name(self) -> &'static str {
        match self {
            Per::Order => "order",
            Per::Line => "line",
        }
    }
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Takes `amount` of `quantity` if there is enough (refused otherwise).
    Take { quantity: String, amount: Amount },
    /// Adds `amount` to `quantity`; never refused.
    Give { quantity: String, amount: Amount },
    /// Charges `amount` at the external payment party `party` (refused if declined).
    Charge { party: String, amount: Amount },
    /// Records that something happened (a shipment), once; refused for any
    /// of `refusals` (the warehouse cannot ship). Moves no quantity.
    Record { fact: String, refusals: Vec<String> },
}

impl Effect {
    /// The verb a file uses for it.
    pub fn verb(&self) -> &'static str {
        match self {
            Effect::Take { .. } => "take",
            Effect::Give { .. } => "give",
            Effect::Charge { .. } => "charge",
            Effect::Record { .. } => "record",
        }
    }

    /// The quantity it moves, if any.
    pub fn quantity(&self) -> Option<&str> {
        match self {
            Effect::Take { quantity, .. } | Effect::Give { quantity, .. } => Some(quantity),
            Effect::Charge { .. } | Effect::Record { .. } => None,
        }
    }

    /// Whether a participant may refuse it for a business reason.
    pub fn refusable(&self) -> bool {
        match self {
            Effect::Take { .. } | Effect::Charge { .. } => true,
            Effect::Give { .. } => false,
            Effect::Record { refusals, .. } => !refusals.is_empty(),
        }
    }
}

/// How much an operation moves, from the order (or the line) it runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Amount {
    /// The line's units (`units`).
    Units,
    /// The line's share of the order's amount, in cents (`line.amount`).
    LineAmount,
    /// What the order costs, in cents (`order.amount`).
    OrderAmount,
    /// The loyalty points the order earns (`order.points`).
    OrderPoints,
    /// The line's amount less a commission of this many percent, rounded
    /// down (`line.amount - 10%`): what a seller is paid for the line.
    LineAmountLess(u8),
    /// The same number every time.
    Fixed(i64),
}

impl Amount {
    /// The names a file may use, besides a number.
    pub const NAMES: [(&'static str, Amount); 4] = [
        ("units", Amount::Units),
        ("line.amount", Amount::LineAmount),
        ("order.amount", Amount::OrderAmount),
        ("order.points", Amount::OrderPoints),
    ];

    /// A name of [`Amount::NAMES`], or `line.amount - N%` with N from 0 to 100.
    pub fn parse(text: &str) -> Option<Amount> {
        if let Some(pct) = text.strip_prefix("line.amount - ").and_then(|t| t.strip_suffix('%')) {
            return pct.parse().ok().filter(|p| *p <= 100).map(Amount::LineAmountLess);
        }
        Amount::NAMES.iter().find(|(n, _)| *n == text).map(|(_, a)| *a)
    }

    /// Whether only an order line says how much.
    pub fn per_line(self) -> bool {
        matches!(self, Amount::Units | Amount::LineAmount | Amount::LineAmountLess(_))
    }

    /// How much, for `order` (and its line `line`, where the amount is per line).
    pub fn of(self, order: &crate::workload::Order, line: Option<&crate::workload::Line>) -> i64 {
        let line = || line.expect("rules::check: a per-line amount belongs to a per-line operation");
        match self {
            Amount::Units => line().qty,
            Amount::LineAmount => line().amount,
            Amount::LineAmountLess(pct) => line().amount * (100 - i64::from(pct)) / 100,
            Amount::OrderAmount => order.amount,
            Amount::OrderPoints => order.points,
            Amount::Fixed(n) => n,
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Fixed(n) => write!(f, "{n}"),
            Amount::LineAmountLess(pct) => write!(f, "line.amount - {pct}%"),
            other => f.write_str(Amount::NAMES.iter().find(|(_, a)| a == other).map_or("?", |(n, _)| n)),
        }
    }
}

/// What each engine does with an operation, in words: derived, never declared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// Applying it at once (a Saga's action, an outbox reaction).
    pub action: String,
    /// Its inverse (a Saga's compensation); `None` if it cannot be undone.
    pub undo: Option<String>,
    /// TCC's try and 2PC's prepare: set it aside.
    pub hold: String,
    /// TCC's confirm and 2PC's commit: apply what was set aside.
    pub confirm: String,
    /// TCC's cancel and 2PC's abort: give back what was set aside.
    pub release: String,
}

impl Operation {
    /// What every engine makes of this operation.
    pub fn derived(&self) -> Derived {
        let per = match self.per {
            Per::Line => " per line",
            Per::Order => "",
        };
        let (action, undo, hold, confirm, release) = match &self.effect {
            Effect::Take { quantity: q, amount: a } => (
                format!("take {a} of {q}{per} if enough"),
                format!("give the {a} back to {q}"),
                format!("move {a} of {q} to {q}.held if enough"),
                format!("move it from {q}.held to {q}.moved"),
                format!("move it from {q}.held back to {q}"),
            ),
            Effect::Give { quantity: q, amount: a } => (
                format!("add {a} to {q}{per}"),
                format!("take the {a} back from {q}"),
                format!("promise {a} of {q} ({q}.pending)"),
                format!("add the promise to {q}"),
                "drop the promise".to_string(),
            ),
            Effect::Charge { party: p, amount: a } => (
                format!("charge {a} at {p}"),
                format!("refund it at {p}"),
                format!("authorize {a} at {p}"),
                "capture the authorization".to_string(),
                "void the authorization".to_string(),
            ),
            Effect::Record { fact, refusals } => {
                let unless = match refusals.is_empty() {
                    true => String::new(),
                    false => format!(" unless {}", refusals.join(" or ")),
                };
                (
                    format!("record the {fact}{per} once{unless}"),
                    String::new(),
                    format!("check the {fact} can be recorded{unless}"),
                    format!("record the {fact}"),
                    "forget the check".to_string(),
                )
            }
        };
        let undo = (self.reversible && !undo.is_empty()).then_some(undo);
        Derived { action, undo, hold, confirm, release }
    }
}
