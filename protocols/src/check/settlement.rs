//! `eventual-settlement`: once faults heal, every order reaches a final state
//! and nothing stays held — in the shop's stores, at the gateway, or in the
//! protocol's own state (which only the protocol can read: [`Protocol::unsettled`]).

use super::{int, Findings, GroundTruth, Invariant::EventualSettlement};
use crate::id::Padded;
use crate::protocol::{Protocol, Unsettled};
use crate::shop::payment::PaymentState;
use crate::shop::{inventory, order, points};

pub(super) fn check(g: &GroundTruth, protocol: &dyn Protocol, out: &mut Findings) {
    for u in pending(g, protocol) {
        out.add(EventualSettlement, u.subject, u.reason);
    }
}

/// What keeps the run from being settled. Empty when settled.
pub fn pending(g: &GroundTruth, protocol: &dyn Protocol) -> Vec<Unsettled> {
    let mut out = Vec::new();
    for o in &g.workload.orders {
        match g.order_state(o.id) {
            Some(order::COMPLETED | order::CANCELLED) => {}
            other => {
                let mut reason = format!("order is {}", other.unwrap_or("missing"));
                if let Some(why) = left_for_a_person(g, o.id) {
                    reason += &format!(": the reconciler left it for a person ({why})");
                }
                out.push(Unsettled::new(format!("order {}", o.id), reason))
            }
        }
    }
    if g.held != 0 {
        out.push(Unsettled::new(
            "gateway",
            format!("{} cents still authorized, never captured or voided", g.held),
        ));
    }
    for sku in 0..g.workload.stock.len() as u32 {
        let r = int(&g.inventory, &inventory::reserved(sku));
        if r != 0 {
            out.push(Unsettled::new(format!("sku {sku}"), format!("{r} units still reserved")));
        }
    }
    for (k, v) in g.payments.rows("pay/") {
        let state = v.as_text().and_then(PaymentState::parse);
        if state.is_some_and(PaymentState::in_flight) {
            let state = state.map_or("?", PaymentState::name);
            out.push(Unsettled::new(k.replace("pay/", "payment "), format!("payment still {state}")));
        }
    }
    for c in 0..g.workload.balances.len() as u32 {
        let p = int(&g.points, &points::pending(c));
        if p != 0 {
            out.push(Unsettled::new(format!("customer {c}"), format!("{p} points still pending")));
        }
    }
    // A cache's takes wait for the next sync to reach their store.
    for (participant, t) in &g.declared {
        for (k, v) in t.rows("pending/") {
            let n = v.as_int().unwrap_or(0);
            out.push(Unsettled::new(
                format!("{participant} {k}"),
                format!("{n} taken in the cache, not yet synced to the store"),
            ));
        }
    }
    out.extend(protocol.unsettled(g));
    out
}

/// What the reconciler found and could not repair for order `id`, if anything.
fn left_for_a_person(g: &GroundTruth, id: u32) -> Option<String> {
    let subject = Padded(id).to_string();
    let found = g.journal.as_ref()?.for_a_person().filter(|(s, ..)| *s == subject);
    let said: Vec<_> = found.map(|(_, f, at)| format!("{} at {:.3}s", f.name(), at as f64 / 1e3)).collect();
    (!said.is_empty()).then(|| said.join(", "))
}
