//! The invariants derived from what a workflow declares at its own
//! participants (those no shop service implements): every quantity is
//! conserved per key and never negative where declared
//! (`quantity-conservation`), and every declared step agrees with its
//! order's fate (`agreement`): applied once in its declared amount if the
//! order completed, undone or never applied if it was cancelled.

use super::{int, Findings, GroundTruth, Invariant::Agreement, Invariant::QuantityConservation};
use crate::shop::declared::{self, held, on_hand};
use crate::shop::{order, Binding};
use faultline_sim::store::Table;
use std::collections::BTreeMap;

/// Each declared step: (its index, its name, the quantity, +1 for a give or
/// -1 for a take, the participant's table).
fn steps(g: &GroundTruth) -> Vec<(usize, &str, &str, i64, Option<&Table>)> {
    let w = &g.workflow;
    let Ok(bound) = crate::shop::bind(w) else { return Vec::new() };
    let declared = |(i, b): (usize, Binding)| match b {
        Binding::Declared(_) => Some(i),
        Binding::Shop(_) => None,
    };
    bound
        .into_iter()
        .enumerate()
        .filter_map(declared)
        .map(|i| {
            let op = w.operation(&w.steps[i].operation).expect("bound");
            let (name, q, sign) = declared::moves(w, i);
            (i, name, q, sign, g.declared.get(&op.at))
        })
        .collect()
}

/// What step `step`'s records net per (order, line): applied less undone.
/// One scan of each of its two record prefixes, so the checks below look up
/// a number pair instead of spelling and finding two keys per order and line.
fn nets(t: Option<&Table>, step: &str) -> BTreeMap<(u32, u32), i64> {
    let mut nets = BTreeMap::new();
    let Some(t) = t else { return nets };
    for (prefix, sign) in [(format!("did/{step}/"), 1), (format!("undid/{step}/"), -1)] {
        for (k, v) in t.rows(&prefix) {
            if let Some(at) = order_line(k) {
                *nets.entry(at).or_default() += sign * v.as_int().unwrap_or(0);
            }
        }
    }
    nets
}

/// The (order, line) a per-line record's key ends in (`…/{order}/{line}`).
fn order_line(key: &str) -> Option<(u32, u32)> {
    let mut parts = key.rsplit('/');
    let (line, order) = (parts.next()?, parts.next()?);
    Some((order.parse().ok()?, line.parse().ok()?))
}

pub(super) fn conservation(g: &GroundTruth, out: &mut Findings) {
    let steps = steps(g);
    // Per quantity and key, what applied records moved (signed).
    let mut moved: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for (_, name, q, sign, table) in &steps {
        let Some(t) = table else { continue };
        let quantity = g.workflow.quantity(q).expect("rules::check");
        let nets = nets(Some(t), name);
        for (k, _) in t.rows(&format!("did/{name}/")) {
            let Some((id, line)) = order_line(k) else { continue };
            let Some(o) = g.order(id) else { continue };
            let l = o.lines.get(line as usize).filter(|_| quantity.key.iter().any(|d| d.per_line()));
            let key = declared::key_of(quantity, o, l);
            *moved.entry((*q, key)).or_default() += sign * nets[&(id, line)];
        }
    }
    let w = &g.workflow;
    let declared_quantities = w.quantities.iter().filter(|q| g.declared.contains_key(&q.at));
    for q in declared_quantities {
        let t = &g.declared[&q.at];
        let take = steps.iter().any(|(_, _, quantity, sign, _)| *quantity == q.name && *sign < 0);
        for (k, initial) in declared::initial(q, &g.workload) {
            let subject = format!("quantity {}", on_hand(&q.name, &k));
            let (on, set_aside) = (int(t, &on_hand(&q.name, &k)), int(t, &held(&q.name, &k)));
            // A cache's takes the store has not synced yet are gone all the same.
            let unsynced: i64 =
                t.rows(&format!("pending/{}/{k}/", q.name)).map(|(_, v)| v.as_int().unwrap_or(0)).sum();
            let on = on - unsynced;
            let moved = moved.get(&(q.name.as_str(), k.clone())).copied().unwrap_or(0);
            // A give's held is promised, not yet given: it is not on hand.
            let counted = if take { on + set_aside } else { on };
            if counted != initial + moved {
                let d = format!(
                    "on hand {on}{} but the initial {initial} {} what applied steps moved ({moved:+}) is {}",
                    if take { format!(" + held {set_aside}") } else { String::new() },
                    if moved < 0 { "less" } else { "plus" },
                    initial + moved
                );
                out.add(QuantityConservation, subject.clone(), d);
            }
            if (q.never_negative && on < 0) || set_aside < 0 {
                let d = format!("{} may never be negative, and on hand is {on}, held {set_aside}", q.name);
                out.add(QuantityConservation, subject, d);
            }
        }
    }
}

/// The declared quantity keys (`wallet/0003`) `o` moves, under any step.
pub(super) fn keys_of(g: &GroundTruth, o: &crate::workload::Order) -> Vec<String> {
    let mut keys = Vec::new();
    for (i, _, q, _, _) in steps(g) {
        keys.extend(declared::targets(&g.workflow, i, o).into_iter().map(|t| on_hand(q, &t.key)));
    }
    keys
}

pub(super) fn agreement(g: &GroundTruth, out: &mut Findings) {
    let steps = steps(g);
    let nets: Vec<_> = steps.iter().map(|(_, name, _, _, t)| nets(*t, name)).collect();
    for o in &g.workload.orders {
        let Some(state) = g.order_state(o.id) else { continue };
        if state == order::PENDING {
            continue; // not settled: eventual-settlement reports it
        }
        let completed = state == order::COMPLETED;
        for ((i, name, _, _, _), nets) in steps.iter().zip(&nets) {
            let targets = declared::targets(&g.workflow, *i, o);
            for line in 0..o.lines.len().max(1) as u32 {
                let want = match targets.iter().find(|t| t.line == line) {
                    Some(target) if completed => target.amount,
                    _ => 0,
                };
                let got = nets.get(&(o.id, line)).copied().unwrap_or(0);
                if got != want {
                    let d =
                        format!("order is {state} but step {name} (line {line}) stands at {got}, not {want}");
                    out.add(Agreement, format!("order {}", o.id), d);
                }
            }
        }
    }
}
