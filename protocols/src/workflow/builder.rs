//! The Rust form of a workflow: a builder whose value is the one a file
//! declaring the same things reads to, checked by the same rules.

use super::rules::{self, Problem};
use super::{
    Amount, Dim, Effect, External, ExternalKind, Initial, Machine, Operation, Participant, Per, Quantity,
    Step, Workflow,
};

/// Builds a [`Workflow`]; see [`Workflow::builder`].
#[derive(Clone, Debug)]
pub struct Builder(Workflow);

impl Builder {
    pub(super) fn new(name: &str, about: &str) -> Builder {
        Builder(Workflow {
            name: name.into(),
            about: about.into(),
            participants: vec![],
            quantities: vec![],
            externals: vec![],
            operations: vec![],
            steps: vec![],
            cancel_until: None,
            machines: vec![],
        })
    }

    /// A participant: a service node `name` in front of its store `{name}-db`.
    pub fn participant(mut self, name: &str, about: &str) -> Builder {
        self.0.participants.push(Participant { name: name.into(), about: about.into() });
        self
    }

    /// A quantity participant `at` keeps per `key`.
    pub fn quantity(
        mut self,
        name: &str,
        at: &str,
        key: &[Dim],
        never_negative: bool,
        initial: Initial,
    ) -> Builder {
        let q = Quantity {
            name: name.into(),
            at: at.into(),
            key: key.to_vec(),
            never_negative,
            initial,
            cache: None,
        };
        self.0.quantities.push(q);
        self
    }

    /// Keeps the last quantity declared in a cache in front of its store.
    pub fn cached(mut self, cache: crate::workflow::Cache) -> Builder {
        if let Some(q) = self.0.quantities.last_mut() {
            q.cache = Some(cache);
        }
        self
    }

    /// An external payment gateway.
    pub fn gateway(mut self, name: &str) -> Builder {
        self.0.externals.push(External { name: name.into(), kind: ExternalKind::PaymentGateway });
        self
    }

    fn operation(mut self, name: &str, at: &str, per: Per, effect: Effect) -> Builder {
        let reversible = !matches!(effect, Effect::Record { .. });
        self.0.operations.push(Operation { name: name.into(), at: at.into(), per, effect, reversible });
        self
    }

    /// Takes `amount` of `quantity` if there is enough.
    pub fn take(self, name: &str, at: &str, per: Per, quantity: &str, amount: Amount) -> Builder {
        self.operation(name, at, per, Effect::Take { quantity: quantity.into(), amount })
    }

    /// Adds `amount` to `quantity`.
    pub fn give(self, name: &str, at: &str, per: Per, quantity: &str, amount: Amount) -> Builder {
        self.operation(name, at, per, Effect::Give { quantity: quantity.into(), amount })
    }

    /// Charges `amount` at the payment party `party`.
    pub fn charge(self, name: &str, at: &str, party: &str, amount: Amount) -> Builder {
        self.operation(name, at, Per::Order, Effect::Charge { party: party.into(), amount })
    }

    /// Records `fact` once, unless refused for one of `refusals`.
    pub fn record(self, name: &str, at: &str, fact: &str, refusals: &[&str]) -> Builder {
        let refusals = refusals.iter().map(|r| r.to_string()).collect();
        self.operation(name, at, Per::Order, Effect::Record { fact: fact.into(), refusals })
    }

    /// The operation declared last cannot be undone (an SMS sent).
    pub fn irreversible(mut self) -> Builder {
        if let Some(o) = self.0.operations.last_mut() {
            o.reversible = false;
        }
        self
    }

    /// The next step of the order.
    pub fn step(mut self, name: &str, operation: &str) -> Builder {
        self.0.steps.push(Step { name: name.into(), operation: operation.into(), pivot: false });
        self
    }

    /// The next step, after which the order only goes forward.
    pub fn pivot(mut self, name: &str, operation: &str) -> Builder {
        self.0.steps.push(Step { name: name.into(), operation: operation.into(), pivot: true });
        self
    }

    /// Customers may cancel until the step `step` starts.
    pub fn cancel_until(mut self, step: &str) -> Builder {
        self.0.cancel_until = Some(step.into());
        self
    }

    /// A state machine over one record per order at participant `at`.
    pub fn machine(
        mut self,
        name: &str,
        at: &str,
        states: &[&str],
        start: &[&str],
        edges: &[(&str, &str)],
        finals: &[&str],
    ) -> Builder {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let edges = edges.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let m = Machine {
            name: name.into(),
            at: at.into(),
            states: s(states),
            start: s(start),
            edges,
            finals: s(finals),
        };
        self.0.machines.push(m);
        self
    }

    /// The workflow, if it passes every rule.
    pub fn build(self) -> Result<Workflow, Problem> {
        rules::check(&self.0)?;
        Ok(self.0)
    }
}
