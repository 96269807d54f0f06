//! `exactly-once-effects`: stock sold, points and notifications equal what the
//! completed orders account for — an effect applied twice (or lost) shows here.

use super::{int, Findings, GroundTruth, Invariant::ExactlyOnceEffects};
use crate::shop::{inventory, notification, points, Service};

pub(super) fn exactly_once(g: &GroundTruth, out: &mut Findings) {
    let w = &g.workload;
    let done: Vec<_> = w.orders.iter().filter(|o| g.completed(o.id)).collect();
    // Without an inventory step the shop's stock is not the workflow's: a
    // declared stock is conserved by `quantity-conservation`.
    let skus = if g.runs(Service::Inventory) { w.stock.len() as u32 } else { 0 };
    for sku in 0..skus {
        let want: i64 = done.iter().map(|o| o.shipped_qty_of(sku)).sum();
        let sold = int(&g.inventory, &inventory::sold(sku));
        if sold != want {
            let d = format!("sold {sold}, completed orders account for {want}");
            out.add(ExactlyOnceEffects, format!("sku {sku}"), d);
        }
    }
    let (points_step, notify_step) = (g.runs(Service::Points), g.runs(Service::Notification));
    for c in 0..w.balances.len() as u32 {
        let mine = || done.iter().filter(|o| o.customer == c);
        let want_pts = if points_step { mine().map(|o| o.points).sum::<i64>() } else { 0 };
        let want_sent = if notify_step { mine().count() as i64 } else { 0 };
        let pts = int(&g.points, &points::balance(c));
        if pts != want_pts {
            let d = format!("points {pts}, completed orders earn {want_pts}");
            out.add(ExactlyOnceEffects, format!("customer {c}"), d);
        }
        let sent = int(&g.notifications, &notification::sent(c));
        if sent != want_sent {
            let d = format!("{sent} notifications sent for {want_sent} completed orders");
            out.add(ExactlyOnceEffects, format!("customer {c}"), d);
        }
    }
}
