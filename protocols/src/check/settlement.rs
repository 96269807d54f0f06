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
    unsettled(g, protocol).collect()
}

/// Whether nothing keeps the run from being settled ([`pending`] is empty),
/// found without spelling out every reason: a settle poll asks this, and a
/// seed that never settles asks it hundreds of times.
pub fn settled(g: &GroundTruth, protocol: &dyn Protocol) -> bool {
    unsettled(g, protocol).next().is_none()
}

/// [`pending`]'s findings, each worked out only when asked for.
fn unsettled<'a>(g: &'a GroundTruth, protocol: &'a dyn Protocol) -> impl Iterator<Item = Unsettled> + 'a {
    let orders = g.workload.orders.iter().filter_map(move |o| match g.order_state(o.id) {
        Some(order::COMPLETED | order::CANCELLED) => None,
        other => {
            let mut reason = format!("order is {}", other.unwrap_or("missing"));
            if let Some(why) = left_for_a_person(g, o.id) {
                reason += &format!(": the reconciler left it for a person ({why})");
            }
            Some(Unsettled::new(format!("order {}", o.id), reason))
        }
    });
    let gateway = std::iter::once(g.held).filter(|held| *held != 0).map(|held| {
        Unsettled::new("gateway", format!("{held} cents still authorized, never captured or voided"))
    });
    let skus = (0..g.workload.stock.len() as u32).filter_map(move |sku| {
        let r = int(&g.inventory, &inventory::reserved(sku));
        (r != 0).then(|| Unsettled::new(format!("sku {sku}"), format!("{r} units still reserved")))
    });
    let payments = g.payments.rows("pay/").filter_map(|(k, v)| {
        let state = v.as_text().and_then(PaymentState::parse).filter(|s| s.in_flight())?;
        Some(Unsettled::new(k.replace("pay/", "payment "), format!("payment still {}", state.name())))
    });
    let points = (0..g.workload.balances.len() as u32).filter_map(move |c| {
        let p = int(&g.points, &points::pending(c));
        (p != 0).then(|| Unsettled::new(format!("customer {c}"), format!("{p} points still pending")))
    });
    // A cache's takes wait for the next sync to reach their store.
    let caches = g.declared.iter().flat_map(|(participant, t)| {
        t.rows("pending/").map(move |(k, v)| {
            let n = v.as_int().unwrap_or(0);
            Unsettled::new(
                format!("{participant} {k}"),
                format!("{n} taken in the cache, not yet synced to the store"),
            )
        })
    });
    let own = std::iter::once(()).flat_map(move |()| protocol.unsettled(g));
    orders.chain(gateway).chain(skus).chain(payments).chain(points).chain(caches).chain(own)
}

/// What the reconciler found and could not repair for order `id`, if anything.
fn left_for_a_person(g: &GroundTruth, id: u32) -> Option<String> {
    let subject = Padded(id).to_string();
    let found = g.journal.as_ref()?.for_a_person().filter(|(s, ..)| *s == subject);
    let said: Vec<_> = found.map(|(_, f, at)| format!("{} at {:.3}s", f.name(), at as f64 / 1e3)).collect();
    (!said.is_empty()).then(|| said.join(", "))
}
