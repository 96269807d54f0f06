//! The invariant checker. It reads ground truth — the durable tables of every
//! store, the gateway's ledger and the history of acknowledged commits — never
//! what a protocol believes about itself, and returns the evidence of every
//! violation as data. Presenting it is the caller's business.
//!
//! One module per invariant family; [`Invariant`] names them all.

mod agreement;
mod cancellation;
mod cancelled;
mod cause;
mod coverage;
mod effects;
mod events;
mod invariant;
mod money;
mod repairs;
mod settlement;
mod stock;
mod transitions;

pub use cancelled::{causes as cancel_causes, CancelCause, REFUSALS};
pub use cause::{Cause, Evidence};
pub use coverage::{observed, Coverage};
pub use invariant::Invariant;
pub use settlement::pending;

use crate::protocol::Protocol;
use crate::reconcile::Journal;
use crate::shop::gateway::Entry;
use crate::shop::{order, payment, shipping};
use crate::workflow::Workflow;
use crate::workload::Workload;
use crate::Deployment;
use faultline_sim::broker::Contents;
use faultline_sim::store::{self, Table};
use faultline_sim::{LostWrites, ReplicaSet, Sim, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One broken invariant, with the subject it broke for and the numbers that disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: Invariant,
    pub subject: String,
    pub detail: String,
    /// What in this run explains it, if anything does (see [`Cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// An acknowledged write to a state row: (time µs, order, new state).
pub type History = (u64, u32, Option<String>);

/// Everything the checker may look at, gathered at the end of a run.
#[derive(Clone, Debug)]
pub struct GroundTruth {
    /// The workflow the run ran: what the checker derives its rules from.
    pub workflow: Arc<Workflow>,
    pub workload: Workload,
    pub orders: Table,
    pub inventory: Table,
    pub payments: Table,
    pub points: Table,
    pub notifications: Table,
    pub shipments: Table,
    /// The protocol's own stores (a coordinator's log), by store name.
    pub own: BTreeMap<String, Table>,
    /// What the message broker holds, if the protocol talks through one.
    pub broker: Option<Contents>,
    pub balances: Vec<i64>,
    pub merchant: i64,
    /// Customers' funds authorized and not yet captured or voided.
    pub held: i64,
    pub ledger: Vec<Entry>,
    /// What each failover lost (the writes the new primary never got).
    pub lost: Vec<LostWrites>,
    /// Acknowledged writes to order rows in commit order: (time µs, order, new state).
    pub order_history: Vec<History>,
    /// The same for payment rows.
    pub payment_history: Vec<History>,
    /// The same for shipment rows.
    pub ship_history: Vec<History>,
    /// The reconciler's journal, if it ran.
    pub journal: Option<Journal>,
    /// Per order, the first business refusal a participant answered (its
    /// reply's label: `out-of-stock`, `declined`, …; see [`REFUSALS`]).
    pub refusals: BTreeMap<u32, &'static str>,
    /// Orders with a charge or hold the gateway declined.
    pub declined: BTreeSet<u32>,
}

impl GroundTruth {
    pub fn collect(dep: &Deployment, sim: &Sim, workload: &Workload) -> GroundTruth {
        let s = &dep.shop;
        // The truth of a replicated store is what its current primary has.
        let table = |set: &ReplicaSet| store::recover(&sim.disk(set.primary()));
        let ledger = s.ledger.lock().unwrap().clone();
        let (held, declined) = (ledger.held(), ledger.declined());
        GroundTruth {
            workflow: dep.workflow.clone(),
            workload: workload.clone(),
            orders: table(&s.order_db),
            inventory: table(&s.inventory_db),
            payments: table(&s.payment_db),
            points: table(&s.points_db),
            notifications: table(&s.notification_db),
            shipments: table(&s.shipping_db),
            own: dep.stores.iter().map(|set| (set.name.clone(), table(set))).collect(),
            broker: dep.broker_db.as_deref().map(|db| Contents::read(&table(db))),
            balances: ledger.balances,
            merchant: ledger.merchant,
            held,
            ledger: ledger.entries,
            lost: sim.lost_writes().clone(),
            order_history: history(sim, &s.order_db, "order/"),
            payment_history: history(sim, &s.payment_db, "pay/"),
            ship_history: history(sim, &s.shipping_db, "ship/"),
            journal: dep.reconcile_db.as_deref().map(|db| Journal::read(&table(db))),
            refusals: sim.trace().first_replies().clone(),
            declined,
        }
    }

    pub fn order_state(&self, id: u32) -> Option<&str> {
        self.orders.get(&order::key(id)).and_then(Value::as_text)
    }

    pub fn completed(&self, id: u32) -> bool {
        self.order_state(id) == Some(order::COMPLETED)
    }

    pub fn payment_state(&self, id: u32) -> Option<&str> {
        self.payments.get(&payment::key(id)).and_then(Value::as_text)
    }

    /// The order's shipment row, as its text (`shipped`, `failed`, `stopped`).
    pub fn shipment(&self, id: u32) -> Option<&str> {
        self.shipments.get(&shipping::key(id)).and_then(Value::as_text)
    }

    /// The rows of the protocol's own store `store` whose keys start with `prefix`.
    pub fn own_rows<'a>(
        &'a self,
        store: &str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.own.get(store).into_iter().flat_map(move |t| rows(t, prefix))
    }

    pub fn shop_tables(&self) -> [&Table; 6] {
        [&self.orders, &self.inventory, &self.payments, &self.points, &self.notifications, &self.shipments]
    }

    /// The message ids of the events services committed under `prefix`
    /// (`event/`: ever, `outbox/`: not yet sent), from rows `{prefix}{order}/{kind}`.
    pub fn event_ids(&self, prefix: &str) -> BTreeSet<String> {
        self.shop_tables()
            .into_iter()
            .flat_map(|t| rows(t, prefix))
            .map(|(k, _)| k[prefix.len()..].replacen('/', "-", 1))
            .collect()
    }
}

/// The rows of `table` whose keys start with `prefix`, in key order.
pub fn rows<'a>(table: &'a Table, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    table.range(prefix.to_string()..).take_while(move |(k, _)| k.starts_with(prefix))
}

/// Acknowledged writes to the rows `{prefix}{order:06}` of `set`, in commit order.
fn history(sim: &Sim, set: &ReplicaSet, prefix: &str) -> Vec<History> {
    let mut h: Vec<((u64, u64), u32, Option<String>)> = sim
        .commits()
        .iter()
        .filter(|c| set.members.contains(&c.store))
        .flat_map(|c| {
            c.writes.iter().filter_map(move |(k, v)| {
                let id = k.strip_prefix(prefix)?.parse().ok()?;
                Some(((c.at_us, c.seq), id, v.as_ref().and_then(Value::as_text).map(str::to_string)))
            })
        })
        .collect();
    // Acknowledgements can come out of commit order (semi-sync releases
    // waiting writes together, one sync makes a group durable at once); the
    // history is the commit order: by time, then by place in the log. Stable.
    h.sort_by_key(|(at, _, _)| *at);
    h.into_iter().map(|((at, _), id, state)| (at, id, state)).collect()
}

fn int(t: &Table, k: &str) -> i64 {
    t.get(k).and_then(Value::as_int).unwrap_or(0)
}

/// Where checks put what they found.
struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, invariant: Invariant, subject: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Violation { invariant, subject: subject.into(), detail: detail.into(), evidence: None })
    }
}

/// Checks every invariant; `protocol` says what in its own state is unsettled.
pub fn check(g: &GroundTruth, protocol: &dyn Protocol) -> Vec<Violation> {
    let mut out = Findings(Vec::new());
    money::no_double_charge(g, &mut out);
    stock::conservation(g, &mut out);
    money::conservation(g, &mut out);
    effects::exactly_once(g, &mut out);
    agreement::check(g, &mut out);
    events::no_phantoms(g, &mut out);
    settlement::check(g, protocol, &mut out);
    transitions::check(g, &mut out);
    cancellation::honoured(g, &mut out);
    repairs::justified(g, &mut out);
    cause::attribute(g, &mut out.0);
    out.0
}

#[cfg(test)]
mod tests;
