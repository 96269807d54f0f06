//! The team's own invariant, in Rust: loyalty points are earned only by
//! orders the customer actually paid for. faultline does not know this rule;
//! registering it ([`registry`](crate::registry)) makes every run of the shop
//! judge it, `list invariants` show it, and scenarios `[expect]` it by name.
//! And a coverage fact of its own: a scenario about returns `[require]`s
//! that some order's points were taken back, or it tests nothing.

use faultline_protocols::check::team::{Fact, Property};
use faultline_protocols::check::GroundTruth;
use faultline_protocols::shop::points;
use std::collections::BTreeMap;

/// Per customer: points held ≤ the points of the orders the gateway shows
/// paid (charged more than it refunded).
pub static POINTS_ONLY_FOR_PAID_ORDERS: Property = Property {
    name: "points-only-for-paid-orders",
    statement: "a customer holds no more loyalty points than the orders the gateway shows paid (charged more than refunded) earn",
    workflows: &["shop"],
    check: points_only_for_paid_orders,
};

fn points_only_for_paid_orders(g: &GroundTruth) -> Vec<(String, String)> {
    let mut net: BTreeMap<u32, i64> = BTreeMap::new();
    for e in &g.ledger {
        *net.entry(e.order).or_default() += e.amount;
    }
    let mut out = Vec::new();
    for c in 0..g.workload.balances.len() as u32 {
        let paid =
            g.workload.orders.iter().filter(|o| o.customer == c && net.get(&o.id).is_some_and(|n| *n > 0));
        let earned: i64 = paid.map(|o| o.points).sum();
        let held = g.points.get(&points::balance(c)).and_then(|v| v.as_int()).unwrap_or(0);
        if held > earned {
            out.push((format!("customer {c}"), format!("holds {held} points; paid orders earn {earned}")));
        }
    }
    out
}

/// Some order that did not complete had its points taken back.
pub static POINTS_TAKEN_BACK: Fact = Fact {
    name: "points-taken-back",
    statement: "an order that did not complete had its loyalty points taken back",
    workflows: &["shop"],
    seen: |g| g.workload.orders.iter().any(|o| g.points.contains_key(&points::revoked(o.id))),
};
