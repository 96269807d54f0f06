//! Who reacts to what, derived from the workflow's steps: each step's service
//! runs its step when the step before it succeeded (the first, when the order
//! was placed); a step that fails is undone by every step before it and the
//! order is cancelled; when the pivot succeeds the order completes, the steps
//! before it settle the lines it went without, and the steps after it run —
//! a reversible one at once, an irreversible one (a message sent) once the
//! order completed. Each operation is bound to the shop service that
//! implements it ([`crate::shop::bind`]).

use super::{Kind, Service};
use crate::shop::Binding;

/// What a service does with an event it subscribes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Run its own step.
    Act,
    /// A later step failed: undo its own step.
    Undo,
    /// The pivot succeeded without some lines: give those back.
    SettleShort,
    /// The order service: a step failed — cancel the order.
    Cancel,
    /// The order service: the pivot succeeded — complete the order.
    Complete,
    /// A step after the pivot: run it.
    After,
}

/// The choreography of one workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choreography {
    /// (event, service, what it does), in the order derived.
    table: Vec<(Kind, Service, Role)>,
}

/// The events a step's service announces: (succeeded, failed).
fn events(service: Service) -> Option<(Kind, Kind)> {
    match service {
        Service::Inventory => Some((Kind::StockReserved, Kind::StockRejected)),
        Service::Payment => Some((Kind::PaymentSucceeded, Kind::PaymentFailed)),
        Service::Shipping => Some((Kind::OrderShipped, Kind::ShipmentFailed)),
        Service::Order | Service::Points | Service::Notification => None,
    }
}

impl Choreography {
    /// The choreography of `workflow`; the error names a step no shop service
    /// implements, or one up to the pivot whose service announces nothing.
    pub fn of(workflow: &crate::workflow::Workflow) -> Result<Choreography, String> {
        let bound = crate::shop::bind(workflow).map_err(|e| format!("outbox: {e}"))?;
        let shop_only = |(i, b): (usize, Binding)| match b {
            Binding::Shop(s) => Ok(s),
            Binding::Declared(_) => Err(format!(
                "outbox: step {}: the outbox does not drive a declared participant ({}) yet",
                workflow.steps[i].name, workflow.steps[i].operation
            )),
        };
        let steps = bound.into_iter().enumerate().map(shop_only).collect::<Result<Vec<_>, _>>()?;
        let pivot = workflow.pivot().unwrap_or(steps.len() - 1);
        let announced = |i: usize| {
            events(steps[i]).ok_or_else(|| {
                format!(
                    "outbox: step {}: {} announces no event, so nothing can follow it",
                    workflow.steps[i].name,
                    steps[i].name()
                )
            })
        };
        let mut table = Vec::new();
        for i in 0..=pivot {
            let trigger = match i {
                0 => Kind::OrderPlaced,
                _ => announced(i - 1)?.0,
            };
            table.push((trigger, steps[i], Role::Act));
            let (_, failed) = announced(i)?;
            for earlier in steps[..i].iter().filter(|s| matches!(s, Service::Inventory | Service::Payment)) {
                table.push((failed, *earlier, Role::Undo));
            }
            table.push((failed, Service::Order, Role::Cancel));
        }
        let (done, _) = announced(pivot)?;
        table.push((done, Service::Order, Role::Complete));
        for earlier in steps[..pivot].iter().filter(|s| matches!(s, Service::Inventory | Service::Payment)) {
            table.push((done, *earlier, Role::SettleShort));
        }
        let reversible =
            |i: usize| workflow.operation(&workflow.steps[i].operation).is_some_and(|o| o.reversible);
        for (i, service) in steps.iter().enumerate().skip(pivot + 1) {
            let trigger = if reversible(i) { done } else { Kind::OrderCompleted };
            table.push((trigger, *service, Role::After));
        }
        Ok(Choreography { table })
    }

    /// What `service` does with `kind`; `None`: it does not subscribe to it.
    pub fn role(&self, service: Service, kind: Kind) -> Option<Role> {
        self.table.iter().find(|(k, s, _)| *k == kind && *s == service).map(|(_, _, r)| *r)
    }

    /// The events `service` reacts to.
    pub fn subscribes(&self, service: Service) -> Vec<Kind> {
        Kind::ALL.into_iter().filter(|k| self.role(service, *k).is_some()).collect()
    }

    /// The topics `service` polls, each once.
    pub fn topics(&self, service: Service) -> Vec<&'static str> {
        let mut topics: Vec<_> = self.subscribes(service).iter().map(|k| k.producer().topic()).collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::builtin;
    use Kind::*;

    #[test]
    fn the_shops_choreography_is_the_shops_subscriptions() {
        let c = Choreography::of(&builtin::shop()).unwrap();
        let want: [(Service, &[Kind]); 6] = [
            (Service::Order, &[StockRejected, PaymentFailed, OrderShipped, ShipmentFailed]),
            (Service::Inventory, &[OrderPlaced, PaymentFailed, OrderShipped, ShipmentFailed]),
            (Service::Payment, &[StockReserved, OrderShipped, ShipmentFailed]),
            (Service::Points, &[OrderShipped]),
            (Service::Notification, &[OrderCompleted]),
            (Service::Shipping, &[PaymentSucceeded]),
        ];
        for (service, kinds) in want {
            assert_eq!(c.subscribes(service), kinds, "{service:?}");
        }
        assert_eq!(c.role(Service::Inventory, PaymentFailed), Some(Role::Undo));
        assert_eq!(c.role(Service::Inventory, OrderShipped), Some(Role::SettleShort));
        assert_eq!(c.role(Service::Order, OrderShipped), Some(Role::Complete));
        assert_eq!(c.role(Service::Points, OrderShipped), Some(Role::After));
        assert_eq!(c.role(Service::Shipping, StockReserved), None);
        assert_eq!(c.topics(Service::Order), ["payments", "shipments", "stock"]);
    }
}
