//! Money: `no-double-charge` (per order, from the gateway's ledger) and
//! `money-conservation` (across every account at the gateway).

use super::{Findings, GroundTruth, Invariant::*};
use std::collections::BTreeMap;

pub(super) fn no_double_charge(g: &GroundTruth, out: &mut Findings) {
    // Per payment, in the gateway's booking order: refunds never exceed what was
    // charged so far — not even for a moment that a later charge evens out.
    let mut net: BTreeMap<u32, i64> = BTreeMap::new();
    let mut over: BTreeMap<u32, i64> = BTreeMap::new();
    for e in &g.ledger {
        let n = net.entry(e.order).or_insert(0);
        *n += e.amount;
        if *n < 0 {
            over.entry(e.order).or_insert(-*n);
        }
    }
    for (order, by) in over {
        let d = format!("refunded {by} more than was charged at one point of the gateway's ledger");
        out.add(NoDoubleCharge, format!("order {order}"), d);
    }
    for o in &g.workload.orders {
        let n = net.get(&o.id).copied().unwrap_or(0);
        // A completed order pays what it shipped; any other, nothing.
        let due = if g.completed(o.id) { o.due() } else { 0 };
        if n != due {
            let state = g.order_state(o.id).unwrap_or("missing");
            let d = match o.due() == o.amount {
                true => format!("order is {state} but net charged {n} of {}", o.amount),
                false => format!(
                    "order is {state} but net charged {n}; shipped, it comes to {} of {}",
                    o.due(),
                    o.amount
                ),
            };
            out.add(NoDoubleCharge, format!("order {}", o.id), d);
        }
    }
}

pub(super) fn conservation(g: &GroundTruth, out: &mut Findings) {
    let initial: i64 = g.workload.balances.iter().sum();
    let balances: i64 = g.balances.iter().sum();
    if balances + g.merchant + g.held != initial {
        let d = format!(
            "initial total {initial} != balances {balances} + merchant {} + held {}",
            g.merchant, g.held
        );
        out.add(MoneyConservation, "gateway", d);
    }
    for (c, b) in g.balances.iter().enumerate() {
        if *b < 0 {
            out.add(MoneyConservation, format!("customer {c}"), format!("balance {b} is negative"));
        }
    }
}
