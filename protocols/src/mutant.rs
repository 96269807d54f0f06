//! The bug zoo: known, real-world bugs that can be switched on in a protocol's
//! code. A mutant changes as little code as possible at the exact spot of the
//! bug, where `mutant::acts(.., &BUG)` marks it (FoundationDB's BUGGIFY style),
//! and the trace records every time it acts. The checker must catch each one.
//!
//! A protocol lists the mutants its code can take ([`crate::Protocol::mutants`]);
//! a team's protocol defines its own [`Mutant`] values the same way.

use crate::invariant::Invariant::{self, *};
use faultline_sim::{Endpoint, EventKind};

/// A known bug, by stable name.
#[derive(Clone, Copy, Debug)]
pub struct Mutant {
    /// The name `--mutant` takes; unique among the registered protocols.
    pub name: &'static str,
    /// What the bug does, in one sentence.
    pub mechanism: &'static str,
    /// The invariants it is expected to break; catching any one of them counts.
    pub breaks: &'static [Invariant],
    /// Where it is hunted: `cargo test` and `faultline bench detect` look for it there.
    pub hunt: Hunt,
}

/// A mutant's hunting ground: a catalogue scenario, and the most seeds a
/// test may take to catch it there in every protocol it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hunt {
    pub scenario: &'static str,
    pub within: u64,
}

impl PartialEq for Mutant {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Mutant {}

/// True when `m` is this run's mutant: the caller then takes the buggy path.
/// Every time it does, the trace says so, on the node where it acts.
pub fn acts(ep: &Endpoint, m: &Mutant) -> bool {
    let on = ep.sim().mutant() == Some(m.name);
    if on {
        let kind = EventKind::Injected { fault: "mutant", detail: m.name.to_string() };
        ep.sim().record(ep.node(), kind);
    }
    on
}

/// Whether `m` is this run's mutant, without recording that it acted: for a
/// bug that changes what code looks at. Call [`acts`] where it changes what is done.
pub fn on(ep: &Endpoint, m: &Mutant) -> bool {
    ep.sim().mutant() == Some(m.name)
}

// The built-in protocols' bugs. They are defined here, not with each protocol,
// because several act in the shop's shared participant code.

pub const SAGA_TIMEOUT_IS_FAILURE: Mutant = Mutant {
    name: "saga-timeout-is-failure",
    mechanism:
        "a charge that timed out is treated as failed and never compensated, though the gateway charged it",
    breaks: &[NoDoubleCharge, MoneyConservation],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const SAGA_COMPENSATION_NOT_IDEMPOTENT: Mutant = Mutant {
    name: "saga-compensation-not-idempotent",
    mechanism: "a retried or duplicated compensation is applied again: a refund goes out without an idempotency key, a restock puts the stock back twice",
    breaks: &[ExactlyOnceEffects, StockConservation, NoDoubleCharge, MoneyConservation],
    hunt: Hunt { scenario: "flaky-network", within: 60 },
};
pub const SAGA_LOG_UNSYNCED: Mutant = Mutant {
    name: "saga-log-unsynced",
    mechanism: "the orchestrator moves on before its saga-log write is durable (fire and forget); lost or reordered writes leave sagas nobody drives",
    breaks: &[EventualSettlement, Agreement],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const TCC_NO_EMPTY_ROLLBACK: Mutant = Mutant {
    name: "tcc-no-empty-rollback",
    mechanism: "a Cancel for a Try that never arrived puts back stock that was never reserved",
    breaks: &[StockConservation],
    hunt: Hunt { scenario: "scarce-stock", within: 10 },
};
pub const TCC_NO_HANG_GUARD: Mutant = Mutant {
    name: "tcc-no-hang-guard",
    mechanism: "a Try that arrives after its Cancel still reserves, and nothing ever releases it",
    breaks: &[EventualSettlement],
    hunt: Hunt { scenario: "slow-network", within: 400 },
};
pub const TCC_TRY_CHECK_THEN_ACT: Mutant = Mutant {
    name: "tcc-try-check-then-act",
    mechanism: "a Try checks for its Cancel in one store round trip and reserves in a second; a Cancel that lands between them is missed, and the reservation hangs",
    breaks: &[EventualSettlement],
    hunt: Hunt { scenario: "check-then-act", within: 5 },
};
pub const TCC_CONFIRM_NOT_IDEMPOTENT: Mutant = Mutant {
    name: "tcc-confirm-not-idempotent",
    mechanism: "a retried or duplicated Confirm sells the reservation (and grants the points) again",
    breaks: &[ExactlyOnceEffects, StockConservation, NoDoubleCharge],
    hunt: Hunt { scenario: "flaky-network", within: 40 },
};
pub const TCC_BARRIER_OUTSIDE_TXN: Mutant = Mutant {
    name: "tcc-barrier-outside-txn",
    mechanism: "the Try's barrier row is committed in its own transaction before the business change: a lost change is then 'tried before'",
    breaks: &[ExactlyOnceEffects, StockConservation, Agreement],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const BARRIER_WITHOUT_LINE: Mutant = Mutant {
    name: "barrier-without-line",
    mechanism: "an inventory branch's barrier row is keyed by order alone, not by order line: an order's second line finds the first line's rows and is taken for a repeat, so its stock is never held or sold though the order completes",
    breaks: &[ExactlyOnceEffects, Agreement],
    hunt: Hunt { scenario: "calm", within: 5 },
};
pub const OUTBOX_DUAL_WRITE: Mutant = Mutant {
    name: "outbox-dual-write",
    mechanism: "a reaction commits, then publishes its event directly, once, instead of through the outbox",
    breaks: &[NoPhantomEvents, Agreement, EventualSettlement],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const OUTBOX_MARK_BEFORE_ACK: Mutant = Mutant {
    name: "outbox-mark-before-ack",
    mechanism:
        "the relay marks a row sent before the broker acknowledged it, so a failed publish loses the event",
    breaks: &[NoPhantomEvents, EventualSettlement],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const CONSUMER_NO_INBOX: Mutant = Mutant {
    name: "consumer-no-inbox",
    mechanism: "a consumer applies a redelivered message again: no inbox row guards the effect",
    breaks: &[ExactlyOnceEffects, StockConservation],
    hunt: Hunt { scenario: "flaky-network", within: 20 },
};
pub const PAYMENT_NO_IDEMPOTENCY_KEY: Mutant = Mutant {
    name: "payment-no-idempotency-key",
    mechanism: "each charge attempt goes to the gateway under a fresh key, so a retry charges again",
    breaks: &[NoDoubleCharge],
    hunt: Hunt { scenario: "callback-chaos", within: 60 },
};
pub const CALLBACK_NOT_DEDUPED: Mutant = Mutant {
    name: "callback-not-deduped",
    mechanism:
        "a gateway callback sets the payment's state whatever it is, so a late duplicate undoes a refund",
    breaks: &[Agreement, LegalTransitions, ExactlyOnceEffects],
    hunt: Hunt { scenario: "callback-chaos", within: 20 },
};
pub const STOCK_CHECK_OFF_BY_ONE: Mutant = Mutant {
    name: "stock-check-off-by-one",
    mechanism: "the stock check lets one unit too many through: the missing `=` of a `>=`",
    breaks: &[StockConservation],
    hunt: Hunt { scenario: "flash-sale", within: 10 },
};
pub const SHIP_IGNORES_CANCEL: Mutant = Mutant {
    name: "ship-ignores-cancel",
    mechanism: "the warehouse ships without looking for the customer's cancellation: one already accepted is overwritten, and the order ships and completes",
    breaks: &[CancellationHonoured],
    hunt: Hunt { scenario: "refund-race", within: 10 },
};
pub const RETURN_KEEPS_POINTS: Mutant = Mutant {
    name: "return-keeps-points",
    mechanism: "the return after a failed or cancelled shipment refunds and restocks but forgets the points the order was granted",
    breaks: &[ExactlyOnceEffects, Agreement],
    hunt: Hunt { scenario: "refund-race", within: 10 },
};
pub const CANCEL_REFUNDS_EACH_REQUEST: Mutant = Mutant {
    name: "cancel-refunds-each-request",
    mechanism: "shipping refunds the charge as soon as it accepts a customer's cancellation, with no key of its own: a duplicated or retried cancellation refunds again",
    breaks: &[NoDoubleCharge, MoneyConservation],
    hunt: Hunt { scenario: "refund-race", within: 20 },
};
pub const PARTIAL_REFUND_ROUNDING: Mutant = Mutant {
    name: "partial-refund-rounding",
    mechanism: "a line the order ships without is refunded in whole dollars: the cents of its price are kept",
    breaks: &[NoDoubleCharge],
    hunt: Hunt { scenario: "refund-race", within: 10 },
};

// The reconciler's bugs: it runs beside any protocol, so the registry gives
// them to every protocol it holds (a team's too).

/// The harness's own bugs, in every registered protocol's list.
pub const HARNESS: [Mutant; 2] = [RECONCILE_TRUSTS_PAYMENT_ROW, RECONCILE_REFUNDS_IN_FLIGHT];

// Bugs in the declared participants' code ([`crate::shop::declared`]):
// hunted on a workflow that declares participants, in each protocol that
// runs the buggy code (the outbox applies declared steps through its own
// reactions, whose inbox makes an undo happen once: only the take is in it).
// Bugs a team writes when payment comes first (the payment-first workflow),
// hunted where a stock-out follows the capture.
pub const REFUND_SKIPPED_AFTER_CAPTURE: Mutant = Mutant {
    name: "refund-skipped-after-capture",
    mechanism: "the compensation of the charge does nothing: written when the stock came first, it assumes an order that failed was never charged — so a stock-out after the capture keeps the customer's money",
    breaks: &[NoDoubleCharge],
    hunt: Hunt { scenario: "pay-then-stock", within: 200 },
};
pub const TEXT_BEFORE_DECISION: Mutant = Mutant {
    name: "text-before-decision",
    mechanism: "the confirmation text goes out as soon as the order is paid for (the Saga) or placed (TCC, 2PC), not once it completes: a customer whose stock then runs out was told the order is confirmed, and a text cannot be unsent",
    breaks: &[Agreement],
    hunt: Hunt { scenario: "pay-then-stock", within: 200 },
};

pub const DECLARED_TAKE_UNCHECKED: Mutant = Mutant {
    name: "declared-take-unchecked",
    mechanism: "a declared take checks nothing in its update (`balance = balance - ?` with the check left to the caller): a coupon is redeemed twice, a wallet goes below zero",
    breaks: &[QuantityConservation],
    hunt: Hunt { scenario: "marketplace-rush", within: 200 },
};
pub const DECLARED_UNDO_NOT_IDEMPOTENT: Mutant = Mutant {
    name: "declared-undo-not-idempotent",
    mechanism: "a declared participant's undo gives back what was applied every time it is asked, never looking for its own earlier undo: a retried compensation returns a coupon or refunds a wallet twice",
    breaks: &[QuantityConservation, Agreement],
    hunt: Hunt { scenario: "marketplace-rush", within: 200 },
};

pub const CACHE_REBUILT_FROM_STORE_ALONE: Mutant = Mutant {
    name: "cache-rebuilt-from-store-alone",
    mechanism: "a flash sale's cache, come back empty after a crash, is reloaded with what the store has on hand, forgetting the sales the store has not synced yet: it sells them again (oversell)",
    breaks: &[QuantityConservation],
    hunt: Hunt { scenario: "cached-flash-sale", within: 200 },
};
pub const CACHE_SYNC_NOT_IDEMPOTENT: Mutant = Mutant {
    name: "cache-sync-not-idempotent",
    mechanism: "the sync that brings the store level with the cache takes a sale from the store, then deletes its pending record in a second transaction: a lost answer or a crash between the two takes it twice",
    breaks: &[QuantityConservation],
    hunt: Hunt { scenario: "cached-flash-sale", within: 200 },
};
pub const CACHE_SALE_WRITTEN_BEHIND: Mutant = Mutant {
    name: "cache-sale-written-behind",
    mechanism: "a sale is confirmed as soon as the cache took it and written to the store later from a queue in memory: a crash of the service, or a write that gets no answer, loses the sale the customer was told about",
    breaks: &[Agreement],
    hunt: Hunt { scenario: "cached-flash-sale", within: 200 },
};

pub const RECONCILE_TRUSTS_PAYMENT_ROW: Mutant = Mutant {
    name: "reconcile-trusts-payment-row",
    mechanism: "the reconciler reads a cancelled order's payment row instead of the gateway's statement, takes `refunded` for money still held, and refunds again without a key of its own",
    breaks: &[NoDoubleCharge, MoneyConservation],
    hunt: Hunt { scenario: "self-healing", within: 10 },
};
pub const RECONCILE_REFUNDS_IN_FLIGHT: Mutant = Mutant {
    name: "reconcile-refunds-in-flight",
    mechanism: "the reconciler does not give the protocol time: it refunds a paid order still in flight, which then ships and completes unpaid",
    breaks: &[NoDoubleCharge, RepairsJustified],
    // 2PC opens the window on about one seed in eight (7 of seeds 0..60).
    hunt: Hunt { scenario: "self-healing", within: 40 },
};
