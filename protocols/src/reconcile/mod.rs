//! Reconciliation and self-healing: a job on its own node (`reconciler`, with
//! its journal in `reconcile-db`) that every `interval_ms` compares the shop's
//! books — orders, stock, payments, points, notifications, shipments — with
//! the payment gateway's statement, and repairs what disagrees through the
//! services' own idempotent operations (refund, capture, void, restock,
//! revoke, re-drive). Any protocol can run with it: it reads only the
//! participant contract, never a protocol's own state.
//!
//! It gives each order `after_ms` from its placement before judging it — the
//! protocol's own recovery goes first — and then decides the order's fate
//! from the books: completed stays completed, cancelled stays cancelled, and
//! an order still pending (or lost) is completed if its goods shipped and the
//! gateway has its money (or holds it, to capture), left for a person if they
//! shipped unpaid, and cancelled otherwise, after it has won the shipment row.
//! Its repairs still race a protocol that recovers late; that race is part of
//! what is tested.
//!
//! - [`finding`] — the discrepancies, and the journal's keys.
//! - `view` — one pass's snapshot of the books and the statement.
//! - `repair` — what each finding does.

pub mod finding;
mod repair;
mod view;

pub use finding::Finding;

use crate::id::Padded;
use crate::shop::{Shop, STORE_TIMEOUT};
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{NodeCtx, ReplicaSet, Sim, StoreClient, Value, World};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The reconciler's node and its journal's store.
pub const NODE: &str = "reconciler";
pub const STORE: &str = "reconcile-db";
/// The journal's row for the last pass that judged every order and found
/// nothing to repair.
pub const CLEAN: &str = "clean";

/// How the reconciler runs: `[reconcile]` in a scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
    /// A pass every this many ms.
    pub interval_ms: u64,
    /// An order is judged once this long has passed since it was placed.
    pub after_ms: u64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig { interval_ms: 1_000, after_ms: 20_000 }
    }
}

/// Adds the reconciler to `world`, over `shop`; it knows the orders as placed
/// (the shop's order intake, which is not faulted). Returns its journal's store.
/// Whether the reconciler can judge `workflow`'s books. It knows the shop's:
/// the shipment decides an order stuck in flight, and it repairs points and
/// notifications — so it needs a step at shipping, points and notification.
/// (A declared participant's books are not reconciled yet.)
pub fn supports(workflow: &crate::workflow::Workflow) -> Result<(), String> {
    use crate::shop::{Binding, Service};
    let bound = crate::shop::bind(workflow)?;
    let missing: Vec<_> = [Service::Shipping, Service::Points, Service::Notification]
        .into_iter()
        .filter(|s| !bound.contains(&Binding::Shop(*s)))
        .map(Service::name)
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "the reconciler judges the shop's books: {} has no step at {}",
            workflow.name,
            missing.join(", ")
        )),
    }
}

pub fn deploy(world: &mut World, shop: &Shop, orders: &[Order], config: &ReconcileConfig) -> Arc<ReplicaSet> {
    let db = world.store(STORE);
    let (d, s, o, c) = (db.clone(), shop.clone(), Arc::new(orders.to_vec()), config.clone());
    world.node(NODE, move |ctx| serve(ctx, d.clone(), s.clone(), o.clone(), c.clone()));
    db
}

async fn serve(
    ctx: NodeCtx,
    db: Arc<ReplicaSet>,
    shop: Shop,
    orders: Arc<Vec<Order>>,
    config: ReconcileConfig,
) {
    let ep = ctx.endpoint().await;
    let r = repair::Reconciler::new(
        ep.clone(),
        StoreClient::new(ep, db, STORE_TIMEOUT),
        shop,
        orders,
        config.clone(),
    );
    loop {
        ctx.sleep(Duration::from_millis(config.interval_ms)).await;
        r.pass(Sim::now_us() / 1000).await;
    }
}

/// What the reconciler found and did in one run, read from its journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Journal {
    /// (subject, finding) → (found at ms, repaired at ms).
    pub entries: BTreeMap<(String, Finding), (u64, Option<u64>)>,
    /// When a pass last judged every order and had nothing to repair.
    pub clean_ms: Option<u64>,
}

impl Journal {
    /// Reads the journal's rows (`found/…`, `repaired/…`) from its table.
    pub fn read(table: &faultline_sim::store::Table) -> Journal {
        let mut entries: BTreeMap<(String, Finding), (u64, Option<u64>)> = BTreeMap::new();
        for (k, v) in table.iter() {
            let mut parts = k.splitn(3, '/');
            let (Some(kind), Some(subject), Some(f)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let (Some(f), Some(at)) = (Finding::parse(f), v.as_int()) else { continue };
            let e = entries.entry((subject.to_string(), f)).or_insert((at as u64, None));
            match kind {
                "found" => e.0 = at as u64,
                "repaired" => e.1 = Some(at as u64),
                _ => {}
            }
        }
        let clean_ms = table.get(CLEAN).and_then(Value::as_int).map(|ms| ms as u64);
        Journal { entries, clean_ms }
    }

    /// The order a subject names, if it is an order's.
    pub fn order_of(subject: &str) -> Option<u32> {
        (subject.len() == 6).then(|| subject.parse().ok()).flatten()
    }

    pub fn found(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn repaired(&self) -> u64 {
        self.entries.values().filter(|(_, r)| r.is_some()).count() as u64
    }

    /// What it found and could not repair: left for a person.
    pub fn for_a_person(&self) -> impl Iterator<Item = (&str, Finding, u64)> {
        let entries = self.entries.iter().filter(|((_, f), _)| f.for_a_person());
        entries.map(|((subject, f), (found, _))| (subject.as_str(), *f, *found))
    }

    /// Time to heal, per repaired discrepancy, in ms: from when its subject
    /// could first have gone wrong — the first failover loss that touched the
    /// order after it was placed, else its placement — to the repair.
    pub fn heal_ms(&self, g: &GroundTruth) -> Vec<f64> {
        let since = Since::of(g);
        let heal = self.entries.iter().filter_map(|((subject, _), (_, r))| Some(((*r)?, subject)));
        heal.map(|(r, subject)| r.saturating_sub(since.subject(subject)) as f64).collect()
    }

    /// Money found wrong, times how long it stayed wrong (from when it could
    /// first have gone wrong to its repair, or to `end_ms`), in dollar·seconds:
    /// a money finding, or an order left unsettled while the gateway held its money.
    pub fn at_risk_dollar_s(&self, g: &GroundTruth, end_ms: u64) -> f64 {
        let since = Since::of(g);
        let charged = |id: u32| g.ledger.iter().filter(|e| e.order == id).map(|e| e.amount).sum::<i64>() != 0;
        let mut cent_ms = 0.0;
        for ((subject, f), (_, repaired)) in &self.entries {
            let Some(id) = Journal::order_of(subject) else { continue };
            let unsettled_paid = matches!(f, Finding::Stuck | Finding::StuckShipped) && charged(id);
            let Some(o) = since.order(id).filter(|_| f.is_money() || unsettled_paid) else { continue };
            let wrong_ms = repaired.unwrap_or(end_ms).saturating_sub(since.subject(subject));
            cent_ms += o.amount as f64 * wrong_ms as f64;
        }
        cent_ms / 100.0 / 1000.0
    }
}

/// When each order could first have gone wrong, from the ground truth.
struct Since<'a> {
    g: &'a GroundTruth,
}

impl<'a> Since<'a> {
    fn of(g: &'a GroundTruth) -> Since<'a> {
        Since { g }
    }

    fn order(&self, id: u32) -> Option<&'a Order> {
        self.g.order(id)
    }

    fn placed(&self, id: u32) -> u64 {
        self.order(id).map_or(0, |o| o.submit_at_ms)
    }

    /// An order's: the first loss of one of its rows after it was placed.
    fn order_ms(&self, id: u32) -> u64 {
        let (placed, tag) = (self.placed(id), Padded(id).to_string());
        let touched = self.g.lost.iter().filter(|l| l.at_us / 1000 >= placed);
        let first =
            touched.filter(|l| l.writes.iter().any(|(k, _)| k.contains(&tag))).map(|l| l.at_us / 1000).min();
        first.unwrap_or(placed)
    }

    /// A SKU's or a customer's counters: from the last of their orders' placement.
    fn subject(&self, subject: &str) -> u64 {
        if let Some(id) = Journal::order_of(subject) {
            return self.order_ms(id);
        }
        let orders = self.g.workload.orders.iter();
        let of = |o: &&Order| match subject.split_once('-') {
            Some(("sku", n)) => n.parse().is_ok_and(|sku| o.qty_of(sku) > 0),
            Some(("customer", n)) => n.parse().is_ok_and(|c: u32| o.customer == c),
            _ => false,
        };
        orders.filter(of).map(|o| o.submit_at_ms).max().unwrap_or(0)
    }
}
