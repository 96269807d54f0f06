//! The bug zoo: each protocol with one named, real-world bug switched on. A
//! mutant changes as little code as possible at the exact spot of the bug,
//! where `mutant::acts(.., Mutant::X)` marks it (FoundationDB's BUGGIFY style),
//! and the trace records every time it acts. The checker must catch each one.

use crate::Protocol;
use faultline_sim::{Endpoint, EventKind};

/// A known bug, by stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mutant {
    SagaTimeoutIsFailure,
    SagaCompensationNotIdempotent,
    SagaLogUnsynced,
    TccNoEmptyRollback,
    TccNoHangGuard,
    TccConfirmNotIdempotent,
    TccBarrierOutsideTxn,
    OutboxDualWrite,
    OutboxMarkBeforeAck,
    ConsumerNoInbox,
    PaymentNoIdempotencyKey,
    CallbackNotDeduped,
    StockCheckOffByOne,
}

use Mutant::*;
use Protocol::{Outbox, Saga, Tcc, TwoPc};

/// name, protocols it applies to, mechanism, invariants it is expected to break
/// (any one of them counts as caught), the real-world failure it models.
type Entry = (Mutant, &'static str, &'static [Protocol], &'static str, &'static [&'static str]);

#[rustfmt::skip]
const TABLE: [Entry; 13] = [
    (SagaTimeoutIsFailure, "saga-timeout-is-failure", &[Saga],
     "a charge that timed out is treated as failed and never compensated, though the gateway charged it",
     &["no-double-charge", "money-conservation"]),
    (SagaCompensationNotIdempotent, "saga-compensation-not-idempotent", &[Saga],
     "a retried or duplicated compensation is applied again: a refund goes out without an idempotency key, a restock puts the stock back twice",
     &["exactly-once-effects", "stock-conservation", "no-double-charge", "money-conservation"]),
    (SagaLogUnsynced, "saga-log-unsynced", &[Saga],
     "the orchestrator moves on before its saga-log write is durable (fire and forget); lost or reordered writes leave sagas nobody drives",
     &["eventual-settlement", "agreement"]),
    (TccNoEmptyRollback, "tcc-no-empty-rollback", &[Tcc],
     "a Cancel for a Try that never arrived puts back stock that was never reserved",
     &["stock-conservation"]),
    (TccNoHangGuard, "tcc-no-hang-guard", &[Tcc],
     "a Try that arrives after its Cancel still reserves, and nothing ever releases it",
     &["eventual-settlement"]),
    (TccConfirmNotIdempotent, "tcc-confirm-not-idempotent", &[Tcc],
     "a retried or duplicated Confirm sells the reservation (and grants the points) again",
     &["exactly-once-effects", "stock-conservation", "no-double-charge"]),
    (TccBarrierOutsideTxn, "tcc-barrier-outside-txn", &[Tcc],
     "the Try's barrier row is committed in its own transaction before the business change: a lost change is then 'tried before'",
     &["exactly-once-effects", "stock-conservation", "agreement"]),
    (OutboxDualWrite, "outbox-dual-write", &[Outbox],
     "a reaction commits, then publishes its event directly, once, instead of through the outbox",
     &["no-phantom-events", "agreement", "eventual-settlement"]),
    (OutboxMarkBeforeAck, "outbox-mark-before-ack", &[Outbox],
     "the relay marks a row sent before the broker acknowledged it, so a failed publish loses the event",
     &["no-phantom-events", "eventual-settlement"]),
    (ConsumerNoInbox, "consumer-no-inbox", &[Outbox],
     "a consumer applies a redelivered message again: no inbox row guards the effect",
     &["exactly-once-effects", "stock-conservation"]),
    (PaymentNoIdempotencyKey, "payment-no-idempotency-key", &[Saga, Outbox],
     "each charge attempt goes to the gateway under a fresh key, so a retry charges again",
     &["no-double-charge"]),
    (CallbackNotDeduped, "callback-not-deduped", &[Saga],
     "a gateway callback sets the payment's state whatever it is, so a late duplicate undoes a refund",
     &["agreement", "legal-transitions", "exactly-once-effects"]),
    (StockCheckOffByOne, "stock-check-off-by-one", &[Saga, Tcc, Outbox, TwoPc],
     "the stock check lets one unit too many through: the missing `=` of a `>=`",
     &["stock-conservation"]),
];

impl Mutant {
    pub const ALL: [Mutant; 13] = {
        let mut all = [StockCheckOffByOne; 13];
        let mut i = 0;
        while i < 13 {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> &'static Entry {
        TABLE.iter().find(|e| e.0 == self).expect("every mutant is in the table")
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The protocols whose code the bug is in.
    pub fn protocols(self) -> &'static [Protocol] {
        self.entry().2
    }

    pub fn mechanism(self) -> &'static str {
        self.entry().3
    }

    /// The invariants it is expected to break; catching any one of them counts.
    pub fn breaks(self) -> &'static [&'static str] {
        self.entry().4
    }

    /// Parses a mutant name; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Mutant, String> {
        Mutant::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let valid: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
            format!("unknown mutant {name:?}; valid mutants: {}", valid.join(", "))
        })
    }
}

/// True when `m` is this run's mutant: the caller then takes the buggy path.
/// Every time it does, the trace says so, on the node where it acts.
pub fn acts(ep: &Endpoint, m: Mutant) -> bool {
    let on = ep.sim().mutant() == Some(m.name());
    if on {
        let kind = EventKind::Injected { fault: "mutant", detail: m.name().to_string() };
        ep.sim().record(ep.node(), kind);
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for m in Mutant::ALL {
            assert_eq!(Mutant::parse(m.name()), Ok(m));
            assert!(!m.protocols().is_empty() && !m.breaks().is_empty());
            for inv in m.breaks() {
                assert!(crate::check::INVARIANTS.iter().any(|(n, _)| n == inv), "{inv}");
            }
        }
        let err = Mutant::parse("nope").unwrap_err();
        assert!(err.contains("valid mutants: saga-timeout-is-failure"), "{err}");
    }
}
