//! The invariant checker. It reads ground truth — the durable tables of every
//! store, the gateway's ledger and the history of acknowledged commits — never
//! what a protocol believes about itself, and returns the evidence of every
//! violation as data. Presenting it is the caller's business.
//!
//! One module per invariant family; [`Invariant`] names them all.

mod agreement;
mod cancellation;
mod cancelled;
mod cause;
mod coverage;
mod declared;
mod effects;
mod events;
mod money;
mod repairs;
mod settlement;
mod stock;
pub mod team;
mod transitions;

pub use crate::cancel::CancelCause;
pub use crate::invariant::Invariant;
pub use cancelled::{causes as cancel_causes, REFUSALS};
pub use cause::{Cause, Evidence};
pub use coverage::{observed, Coverage};
pub use settlement::{pending, settled};

pub use crate::truth::{GroundTruth, History};

use crate::protocol::Protocol;
use faultline_sim::store::Table;
use faultline_sim::Value;
use serde::{Deserialize, Serialize};

/// One broken invariant, with the subject it broke for and the numbers that disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: Invariant,
    pub subject: String,
    pub detail: String,
    /// What in this run explains it, if anything does (see [`Cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

fn int(t: &Table, k: &str) -> i64 {
    t.get(k).and_then(Value::as_int).unwrap_or(0)
}

/// Where checks put what they found.
struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, invariant: Invariant, subject: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Violation { invariant, subject: subject.into(), detail: detail.into(), evidence: None })
    }
}

/// Checks every invariant; `protocol` says what in its own state is unsettled.
pub fn check(g: &GroundTruth, protocol: &dyn Protocol) -> Vec<Violation> {
    let mut out = Findings(Vec::new());
    money::no_double_charge(g, &mut out);
    stock::conservation(g, &mut out);
    money::conservation(g, &mut out);
    declared::conservation(g, &mut out);
    effects::exactly_once(g, &mut out);
    agreement::check(g, &mut out);
    declared::agreement(g, &mut out);
    events::no_phantoms(g, &mut out);
    settlement::check(g, protocol, &mut out);
    transitions::check(g, &mut out);
    cancellation::honoured(g, &mut out);
    repairs::justified(g, &mut out);
    team::check(g, &mut out);
    cause::attribute(g, &mut out.0);
    out.0
}

#[cfg(test)]
mod tests;
