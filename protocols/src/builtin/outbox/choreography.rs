//! Who reacts to what, derived from the workflow's steps: each step's service
//! runs its step when the step before it succeeded (the first, when the order
//! was placed); a step that fails is undone by every step before it and the
//! order is cancelled; when the pivot succeeds the order completes, the steps
//! before it settle the lines it went without, and the steps after it run —
//! a reversible one at once, an irreversible one (a message sent) once the
//! order completed. Each operation is bound to the shop service or the
//! declared participant that implements it ([`crate::shop::bind`]); a
//! declared step announces `step-N-done` or `step-N-failed`.

use super::{Kind, Member, Service};
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
    /// (event, member, what it does), in the order derived.
    table: Vec<(Kind, Member, Role)>,
}

/// Who runs a bound step in the choreography.
fn member(b: Binding) -> Member {
    match b {
        Binding::Shop(s) => Member::Shop(s),
        Binding::Declared(i) => Member::Step(i as u8),
    }
}

/// The events a step's member announces: (succeeded, failed).
fn events(m: Member) -> Option<(Kind, Kind)> {
    match m {
        Member::Shop(Service::Inventory) => Some((Kind::StockReserved, Kind::StockRejected)),
        Member::Shop(Service::Payment) => Some((Kind::PaymentSucceeded, Kind::PaymentFailed)),
        Member::Shop(Service::Shipping) => Some((Kind::OrderShipped, Kind::ShipmentFailed)),
        Member::Shop(Service::Order | Service::Points | Service::Notification) => None,
        Member::Step(n) => Some((Kind::Done(n), Kind::Failed(n))),
    }
}

/// Whether a member before the pivot undoes its step when a later one fails.
fn undoes(m: &Member) -> bool {
    matches!(m, Member::Shop(Service::Inventory | Service::Payment) | Member::Step(_))
}

/// Whether a member before the pivot gives back the lines the pivot went
/// without (a declared step before the pivot runs once per order: nothing).
fn settles_short(m: &Member) -> bool {
    matches!(m, Member::Shop(Service::Inventory | Service::Payment))
}

impl Choreography {
    /// The choreography of `workflow`; the error names a step no one
    /// implements, or one up to the pivot whose service announces nothing.
    pub fn of(workflow: &crate::workflow::Workflow) -> Result<Choreography, String> {
        let bound = crate::shop::bind(workflow).map_err(|e| format!("outbox: {e}"))?;
        if bound.len() > usize::from(u8::MAX) {
            return Err(format!("outbox: {} steps; the outbox numbers at most 255", bound.len()));
        }
        let steps: Vec<Member> = bound.into_iter().map(member).collect();
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
            for earlier in steps[..i].iter().filter(|m| undoes(m)) {
                table.push((failed, *earlier, Role::Undo));
            }
            table.push((failed, Member::Shop(Service::Order), Role::Cancel));
        }
        let (done, _) = announced(pivot)?;
        table.push((done, Member::Shop(Service::Order), Role::Complete));
        for earlier in steps[..pivot].iter().filter(|m| settles_short(m)) {
            table.push((done, *earlier, Role::SettleShort));
        }
        let reversible =
            |i: usize| workflow.operation(&workflow.steps[i].operation).is_some_and(|o| o.reversible);
        for (i, m) in steps.iter().enumerate().skip(pivot + 1) {
            let trigger = if reversible(i) { done } else { Kind::OrderCompleted };
            table.push((trigger, *m, Role::After));
        }
        Ok(Choreography { table })
    }

    /// What `member` does with `kind`; `None`: it does not subscribe to it.
    pub fn role(&self, member: Member, kind: Kind) -> Option<Role> {
        self.table.iter().find(|(k, m, _)| *k == kind && *m == member).map(|(_, _, r)| *r)
    }

    /// The events `member` reacts to, in kind order.
    pub fn subscribes(&self, member: Member) -> Vec<Kind> {
        let mut kinds: Vec<Kind> =
            self.table.iter().filter(|(_, m, _)| *m == member).map(|(k, _, _)| *k).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// The topics `member` polls, each once.
    pub fn topics(&self, member: Member) -> Vec<String> {
        let mut topics: Vec<_> = self.subscribes(member).iter().map(|k| k.topic().into_owned()).collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// Every member with a part, each once, in order.
    pub fn members(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.table.iter().map(|(_, m, _)| *m).collect();
        members.sort_unstable();
        members.dedup();
        members
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
        use Member::Shop;
        let want: [(Service, &[Kind]); 6] = [
            (Service::Order, &[StockRejected, PaymentFailed, OrderShipped, ShipmentFailed]),
            (Service::Inventory, &[OrderPlaced, PaymentFailed, OrderShipped, ShipmentFailed]),
            (Service::Payment, &[StockReserved, OrderShipped, ShipmentFailed]),
            (Service::Points, &[OrderShipped]),
            (Service::Notification, &[OrderCompleted]),
            (Service::Shipping, &[PaymentSucceeded]),
        ];
        for (service, kinds) in want {
            assert_eq!(c.subscribes(Shop(service)), kinds, "{service:?}");
        }
        assert_eq!(c.role(Shop(Service::Inventory), PaymentFailed), Some(Role::Undo));
        assert_eq!(c.role(Shop(Service::Inventory), OrderShipped), Some(Role::SettleShort));
        assert_eq!(c.role(Shop(Service::Order), OrderShipped), Some(Role::Complete));
        assert_eq!(c.role(Shop(Service::Points), OrderShipped), Some(Role::After));
        assert_eq!(c.role(Shop(Service::Shipping), StockReserved), None);
        assert_eq!(c.topics(Shop(Service::Order)), ["payments", "shipments", "stock"]);
    }
}
