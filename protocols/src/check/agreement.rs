//! `agreement`: every service's records tell the same fate for each settled
//! order — completed everywhere (stock kept, charged, shipped, points kept,
//! notified), or cancelled everywhere.

use super::{int, Findings, GroundTruth, Invariant::Agreement};
use crate::shop::payment::PaymentState;
use crate::shop::shipping::Fate;
use crate::shop::{inventory, notification, order, points, Service};

pub(super) fn check(g: &GroundTruth, out: &mut Findings) {
    // Only the services the workflow has a step at hold a view of an order.
    let viewed: Vec<Service> = Service::ALL.into_iter().filter(|s| g.runs(*s)).collect();
    for o in &g.workload.orders {
        let Some(state) = g.order_state(o.id) else {
            continue;
        };
        if state == order::PENDING {
            continue; // not settled: eventual-settlement reports it
        }
        let completed = state == order::COMPLETED;
        // A completed order kept the stock of every line it shipped and none
        // other; a cancelled one kept none.
        let kept = |l: u32| {
            g.inventory.contains_key(&inventory::deducted(o.id, l))
                && int(&g.inventory, &inventory::restocked(o.id, l)) == 0
        };
        let wrong: Vec<u32> = (0u32..)
            .zip(&o.lines)
            .filter(|(n, line)| kept(*n) != (completed && !line.undeliverable))
            .map(|(n, _)| n)
            .collect();
        if !wrong.is_empty() && viewed.contains(&Service::Inventory) {
            let n = (0..o.lines.len() as u32).filter(|l| kept(*l)).count();
            let d = format!(
                "order is {state} but inventory kept the stock of {n} of its {} lines (wrong: lines {wrong:?})",
                o.lines.len()
            );
            out.add(Agreement, format!("order {}", o.id), d);
        }
        let paid = g.payment_state(o.id) == Some(PaymentState::Charged.name());
        let points_kept =
            g.points.contains_key(&points::awarded(o.id)) && !g.points.contains_key(&points::revoked(o.id));
        let views = [
            (Service::Payment, "payment charged", paid),
            (Service::Shipping, "shipped", g.shipment(o.id) == Some(Fate::Shipped.name())),
            (Service::Points, "points awarded", points_kept),
            (
                Service::Notification,
                "customer notified",
                g.notifications.contains_key(&notification::notified(o.id)),
            ),
        ];
        for (_, what, yes) in views.into_iter().filter(|(s, _, _)| viewed.contains(s)) {
            if yes != completed {
                out.add(Agreement, format!("order {}", o.id), format!("order is {state} but {what}: {yes}"));
            }
        }
    }
}
