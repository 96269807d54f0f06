//! Ground truth: everything the checker may look at, gathered at the end of
//! a run (and at every settle poll) — the durable tables of every store, the
//! gateway's ledger, the history of acknowledged commits. The protocol
//! boundary reads it too: a protocol says what in it is still unsettled.

use crate::reconcile::Journal;
use crate::shop::gateway::Entry;
use crate::shop::{order, payment, shipping, Binding, Service};
use crate::workflow::Workflow;
use crate::workload::{Order, Workload};
use faultline_sim::broker::Contents;
use faultline_sim::store::Table;
use faultline_sim::{LostWrites, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    /// The stores of the participants the workflow declares, by participant.
    pub declared: BTreeMap<String, Table>,
    /// The protocol's own stores (a coordinator's log), by store name.
    pub own: BTreeMap<String, Table>,
    /// What the message broker holds, if the protocol talks through one.
    pub broker: Option<Arc<Contents>>,
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
    /// reply's label: `out-of-stock`, `declined`, …; see [`REFUSALS`](crate::check::REFUSALS)).
    pub refusals: BTreeMap<u32, &'static str>,
    /// Orders with a charge or hold the gateway declined.
    pub declined: BTreeSet<u32>,
    /// Where each of the workload's orders is, by id (see [`GroundTruth::order`]).
    pub(crate) by_id: ById,
}

/// The workload's orders as (id, position), sorted by id: built at the first
/// lookup, as the workload is in submission order, where finding an order by
/// id means looking through them — the checks do for every row they read, so
/// a check of n orders took n² steps.
#[derive(Clone, Debug, Default)]
pub(crate) struct ById(std::sync::OnceLock<Vec<(u32, u32)>>);

impl GroundTruth {
    /// The workload's order `id`, by bisection.
    pub fn order(&self, id: u32) -> Option<&Order> {
        let orders = &self.workload.orders;
        let by_id = self.by_id.0.get_or_init(|| {
            let mut by_id: Vec<_> = orders.iter().enumerate().map(|(at, o)| (o.id, at as u32)).collect();
            by_id.sort_unstable();
            by_id
        });
        let at = by_id.binary_search_by_key(&id, |(id, _)| *id).ok().map(|i| by_id[i].1 as usize);
        // The index is only a shortcut: an order it misses is looked for as before.
        at.and_then(|at| orders.get(at)).filter(|o| o.id == id).or_else(|| self.workload.order(id))
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
    ) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.own.get(store).into_iter().flat_map(move |t| t.rows(prefix))
    }

    /// Whether the workflow has a step at the shop's service `s` (every
    /// workflow has inventory and payment; points, notification and shipping
    /// are optional).
    pub fn runs(&self, s: Service) -> bool {
        crate::shop::bind(&self.workflow).is_ok_and(|b| b.contains(&Binding::Shop(s)))
    }

    pub fn shop_tables(&self) -> [&Table; 6] {
        [&self.orders, &self.inventory, &self.payments, &self.points, &self.notifications, &self.shipments]
    }

    /// The message ids of the events services committed under `prefix`
    /// (`event/`: ever, `outbox/`: not yet sent), from rows `{prefix}{order}/{kind}`
    /// — the shop's services' and the declared participants'.
    pub fn event_ids(&self, prefix: &str) -> BTreeSet<String> {
        self.shop_tables()
            .into_iter()
            .chain(self.declared.values())
            .flat_map(|t| t.rows(prefix))
            .map(|(k, _)| k[prefix.len()..].replacen('/', "-", 1))
            .collect()
    }
}
