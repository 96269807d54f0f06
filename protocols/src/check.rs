//! The invariant checker. It reads ground truth — the durable tables of every
//! store, the gateway's ledger and the history of acknowledged commits — never
//! what a protocol believes about itself, and returns the evidence of every
//! violation as data. Presenting it is the caller's business.

use crate::shop::gateway::Entry;
use crate::shop::{inventory, notification, order, payment, points};
use crate::txlog::LogState;
use crate::workload::Workload;
use crate::Deployment;
use faultline_sim::broker::Contents;
use faultline_sim::store::{self, Table};
use faultline_sim::{ReplicaSet, Sim, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The invariants, by stable name, with what each one states.
pub const INVARIANTS: [(&str, &str); 8] = [
    ("no-double-charge", "per order, gateway charges minus refunds is 0 or the order amount, and equals the amount iff the order completed"),
    ("stock-conservation", "per SKU, initial = available + reserved + sold, and no count is negative"),
    ("money-conservation", "customer balances plus the merchant's account equal the initial total; no balance is negative"),
    ("exactly-once-effects", "stock sold, points and notifications per customer equal the sums over completed orders: nothing applied twice"),
    ("agreement", "every service agrees on each order's fate: completed everywhere or cancelled everywhere"),
    ("eventual-settlement", "after faults heal, every order is terminal and no hold or in-flight step remains by the settle deadline"),
    ("legal-transitions", "orders and payments move only along their state machines' edges, and an acknowledged state is never lost"),
    ("no-phantom-events", "every event the broker holds was committed by its service, and every committed event reached the broker"),
];

/// An acknowledged write to a state row: (time µs, order, new state).
pub type History = (u64, u32, Option<String>);

/// Acknowledged writes to the rows `{prefix}{order:06}` of `set`, in commit order.
fn history(sim: &Sim, set: &ReplicaSet, prefix: &str) -> Vec<History> {
    let mut h: Vec<History> = sim
        .commits()
        .iter()
        .filter(|c| set.members.contains(&c.store))
        .flat_map(|c| {
            c.writes.iter().filter_map(move |(k, v)| {
                let id = k.strip_prefix(prefix)?.parse().ok()?;
                Some((c.at_us, id, v.as_ref().and_then(Value::as_text).map(str::to_string)))
            })
        })
        .collect();
    // Acknowledgements can come out of commit order (semi-sync releases
    // waiting writes together); the history is the commit order. Stable.
    h.sort_by_key(|(at, _, _)| *at);
    h
}

/// One broken invariant, with the subject it broke for and the numbers that disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: String,
    pub subject: String,
    pub detail: String,
}

/// Everything the checker may look at, gathered at the end of a run.
#[derive(Clone, Debug)]
pub struct GroundTruth {
    pub workload: Workload,
    pub orders: Table,
    pub inventory: Table,
    pub payments: Table,
    pub points: Table,
    pub notifications: Table,
    /// The protocol's own durable state (a saga log), if it has a store.
    pub coordinator: Option<Table>,
    /// What the message broker holds, if the protocol talks through one.
    pub broker: Option<Contents>,
    pub balances: Vec<i64>,
    pub merchant: i64,
    /// Customers' funds authorized and not yet captured or voided.
    pub held: i64,
    pub ledger: Vec<Entry>,
    /// Acknowledged writes to order rows in commit order: (time µs, order, new state).
    pub order_history: Vec<History>,
    /// The same for payment rows.
    pub payment_history: Vec<History>,
}

impl GroundTruth {
    pub fn collect(dep: &Deployment, sim: &Sim, workload: &Workload) -> GroundTruth {
        let s = &dep.shop;
        // The truth of a replicated store is what its current primary has.
        let table = |set: &ReplicaSet| store::recover(&sim.disk(set.primary()));
        let ledger = s.ledger.lock().unwrap().clone();
        let held = ledger.held();
        GroundTruth {
            workload: workload.clone(),
            orders: table(&s.order_db),
            inventory: table(&s.inventory_db),
            payments: table(&s.payment_db),
            points: table(&s.points_db),
            notifications: table(&s.notification_db),
            coordinator: dep.coordinator_db.as_deref().map(table),
            broker: dep.broker_db.as_deref().map(|db| Contents::read(&table(db))),
            balances: ledger.balances,
            merchant: ledger.merchant,
            held,
            ledger: ledger.entries,
            order_history: history(sim, &s.order_db, "order/"),
            payment_history: history(sim, &s.payment_db, "pay/"),
        }
    }

    fn order_state(&self, id: u32) -> Option<&str> {
        self.orders.get(&order::key(id)).and_then(Value::as_text)
    }

    fn completed(&self, id: u32) -> bool {
        self.order_state(id) == Some(order::COMPLETED)
    }

    fn shop_tables(&self) -> [&Table; 5] {
        [&self.orders, &self.inventory, &self.payments, &self.points, &self.notifications]
    }

    /// The message ids of the events services committed under `prefix`
    /// (`event/`: ever, `outbox/`: not yet sent), from rows `{prefix}{order}/{kind}`.
    fn event_ids(&self, prefix: &str) -> BTreeSet<String> {
        let rows = |t: &'_ Table| {
            let p = prefix.to_string();
            t.range(p.clone()..)
                .take_while(move |(k, _)| k.starts_with(&p))
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        self.shop_tables()
            .into_iter()
            .flat_map(rows)
            .map(|k| k[prefix.len()..].replacen('/', "-", 1))
            .collect()
    }
}

fn int(t: &Table, k: &str) -> i64 {
    t.get(k).and_then(Value::as_int).unwrap_or(0)
}

/// Checks every invariant.
pub fn check(g: &GroundTruth) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut v = |invariant: &str, subject: String, detail: String| {
        out.push(Violation { invariant: invariant.to_string(), subject, detail })
    };
    let w = &g.workload;

    // no-double-charge
    let mut net: BTreeMap<u32, i64> = BTreeMap::new();
    for e in &g.ledger {
        *net.entry(e.order).or_insert(0) += e.amount;
    }
    for o in &w.orders {
        let n = net.get(&o.id).copied().unwrap_or(0);
        let subject = format!("order {}", o.id);
        if n != 0 && n != o.amount {
            v("no-double-charge", subject, format!("net charged {n}, order amount {}", o.amount));
        } else if g.completed(o.id) != (n == o.amount) {
            let state = g.order_state(o.id).unwrap_or("missing");
            v("no-double-charge", subject, format!("order is {state} but net charged {n} of {}", o.amount));
        }
    }

    // stock-conservation
    for (sku, initial) in w.stock.iter().enumerate() {
        let sku = sku as u32;
        let a = int(&g.inventory, &inventory::available(sku));
        let r = int(&g.inventory, &inventory::reserved(sku));
        let s = int(&g.inventory, &inventory::sold(sku));
        let subject = format!("sku {sku}");
        if a + r + s != *initial {
            let d = format!("initial {initial} != available {a} + reserved {r} + sold {s}");
            v("stock-conservation", subject.clone(), d);
        }
        if a < 0 || r < 0 || s < 0 {
            let d = format!("negative count: available {a}, reserved {r}, sold {s}");
            v("stock-conservation", subject, d);
        }
    }

    // money-conservation
    let initial: i64 = w.balances.iter().sum();
    let balances: i64 = g.balances.iter().sum();
    if balances + g.merchant + g.held != initial {
        let d = format!(
            "initial total {initial} != balances {balances} + merchant {} + held {}",
            g.merchant, g.held
        );
        v("money-conservation", "gateway".into(), d);
    }
    for (c, b) in g.balances.iter().enumerate() {
        if *b < 0 {
            v("money-conservation", format!("customer {c}"), format!("balance {b} is negative"));
        }
    }

    // exactly-once-effects
    let done: Vec<_> = w.orders.iter().filter(|o| g.completed(o.id)).collect();
    for sku in 0..w.stock.len() as u32 {
        let want: i64 = done.iter().filter(|o| o.sku == sku).map(|o| o.qty).sum();
        let sold = int(&g.inventory, &inventory::sold(sku));
        if sold != want {
            let d = format!("sold {sold}, completed orders account for {want}");
            v("exactly-once-effects", format!("sku {sku}"), d);
        }
    }
    for c in 0..w.balances.len() as u32 {
        let mine = || done.iter().filter(|o| o.customer == c);
        let (pts, want_pts) = (int(&g.points, &points::balance(c)), mine().map(|o| o.points).sum::<i64>());
        if pts != want_pts {
            let d = format!("points {pts}, completed orders earn {want_pts}");
            v("exactly-once-effects", format!("customer {c}"), d);
        }
        let (sent, want_sent) = (int(&g.notifications, &notification::sent(c)), mine().count() as i64);
        if sent != want_sent {
            let d = format!("{sent} notifications sent for {want_sent} completed orders");
            v("exactly-once-effects", format!("customer {c}"), d);
        }
    }

    // agreement
    for o in &w.orders {
        let Some(state) = g.order_state(o.id) else {
            continue;
        };
        if state == order::PENDING {
            continue; // not settled: eventual-settlement reports it
        }
        let completed = state == order::COMPLETED;
        let stock_kept = g.inventory.contains_key(&inventory::deducted(o.id))
            && int(&g.inventory, &inventory::restocked(o.id)) == 0;
        let paid = g.payments.get(&payment::key(o.id)).and_then(Value::as_text) == Some("charged");
        let views = [
            ("inventory deducted", stock_kept),
            ("payment charged", paid),
            ("points awarded", g.points.contains_key(&points::awarded(o.id))),
            ("customer notified", g.notifications.contains_key(&notification::notified(o.id))),
        ];
        for (what, yes) in views {
            if yes != completed {
                let d = format!("order is {state} but {what}: {yes}");
                v("agreement", format!("order {}", o.id), d);
            }
        }
    }

    // no-phantom-events
    if let Some(broker) = &g.broker {
        let published: BTreeSet<&String> = broker.messages.values().flat_map(|m| m.values()).collect();
        let committed = g.event_ids("event/");
        let unsent = g.event_ids("outbox/");
        for id in published.iter().filter(|id| !committed.contains(id.as_str())) {
            let d = "published, but no service committed it (a phantom)".to_string();
            v("no-phantom-events", format!("event {id}"), d);
        }
        for id in committed.iter().filter(|id| !published.contains(id) && !unsent.contains(id.as_str())) {
            let d = "committed and gone from the outbox, but never reached the broker (lost)".to_string();
            v("no-phantom-events", format!("event {id}"), d);
        }
    }

    // eventual-settlement
    for reason in pending(g) {
        v("eventual-settlement", reason.0, reason.1);
    }

    // legal-transitions. The history holds acknowledged writes only: a write can
    // become durable unacknowledged (its answer lost, or fenced off by a
    // failover after it reached the replica), so consecutive observations need
    // only be *reachable* from each other, not adjacent.
    let order_now = |id: u32| g.order_state(id).map(str::to_string);
    for (id, d) in transitions(&g.order_history, order_now, reachable) {
        v("legal-transitions", format!("order {id}"), d);
    }
    let payment_now =
        |id: u32| g.payments.get(&payment::key(id)).and_then(Value::as_text).map(str::to_string);
    for (id, d) in transitions(&g.payment_history, payment_now, payment_reachable) {
        v("legal-transitions", format!("payment {id}"), d);
    }
    out
}

/// The illegal steps in one state machine's history, and acknowledged states
/// the store has lost: (id, what happened).
fn transitions(
    history: &[History],
    durable: impl Fn(u32) -> Option<String>,
    reachable: fn(Option<&str>, Option<&str>) -> bool,
) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut last: BTreeMap<u32, Option<String>> = BTreeMap::new();
    for (at_us, id, to) in history {
        let from = last.get(id).cloned().flatten();
        if !reachable(from.as_deref(), to.as_deref()) {
            let d = format!("{} → {} at {:.3}s", show(&from), show(to), *at_us as f64 / 1e6);
            out.push((*id, d));
        }
        last.insert(*id, to.clone());
    }
    for (id, acked) in last {
        let durable = durable(id);
        if !reachable(acked.as_deref(), durable.as_deref()) {
            let d = format!("acknowledged {} but the store has {}", show(&acked), show(&durable));
            out.push((id, d));
        }
    }
    out
}

/// A payment's state machine, across protocols: charge (saga, outbox) or
/// authorize-capture (TCC, 2PC), then maybe a refund or a void. `refunded` and
/// `voided` are final.
const PAYMENT_EDGES: [(&str, &str); 16] = [
    ("", "charging"),
    ("", "refunding"),
    ("", "authorizing"),
    ("", "voided"),
    ("charging", "charged"),
    ("charging", "declined"),
    ("charging", "refunding"),
    ("charged", "refunding"),
    ("declined", "refunding"),
    ("declined", "voided"),
    ("refunding", "refunded"),
    ("authorizing", "authorized"),
    ("authorizing", "declined"),
    ("authorizing", "voided"),
    ("authorized", "charged"),
    ("authorized", "voided"),
];

/// Whether a payment can go from `from` to `to` in zero or more legal steps.
fn payment_reachable(from: Option<&str>, to: Option<&str>) -> bool {
    let (from, to) = (from.unwrap_or(""), to.unwrap_or(""));
    let mut seen = vec![from];
    let mut i = 0;
    while i < seen.len() {
        if seen[i] == to {
            return true;
        }
        for (a, b) in PAYMENT_EDGES {
            if a == seen[i] && !seen.contains(&b) {
                seen.push(b);
            }
        }
        i += 1;
    }
    false
}

/// Whether an order can go from `from` to `to` in zero or more legal steps.
fn reachable(from: Option<&str>, to: Option<&str>) -> bool {
    from == to
        || matches!(
            (from, to),
            (None, Some(order::PENDING | order::COMPLETED | order::CANCELLED))
                | (Some(order::PENDING), Some(order::COMPLETED | order::CANCELLED))
        )
}

fn show(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("absent")
}

/// What keeps the run from being settled: (subject, reason). Empty when settled.
pub fn pending(g: &GroundTruth) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in &g.workload.orders {
        match g.order_state(o.id) {
            Some(order::COMPLETED | order::CANCELLED) => {}
            other => {
                out.push((format!("order {}", o.id), format!("order is {}", other.unwrap_or("missing"))))
            }
        }
    }
    if g.held != 0 {
        out.push(("gateway".into(), format!("{} cents still authorized, never captured or voided", g.held)));
    }
    for sku in 0..g.workload.stock.len() as u32 {
        let r = int(&g.inventory, &inventory::reserved(sku));
        if r != 0 {
            out.push((format!("sku {sku}"), format!("{r} units still reserved")));
        }
    }
    for (k, v) in g.payments.range("pay/".to_string()..).take_while(|(k, _)| k.starts_with("pay/")) {
        let state = v.as_text().unwrap_or("?");
        if matches!(state, "charging" | "refunding") {
            out.push((k.replace("pay/", "payment "), format!("payment still {state}")));
        }
    }
    for c in 0..g.workload.balances.len() as u32 {
        let p = int(&g.points, &points::pending(c));
        if p != 0 {
            out.push((format!("customer {c}"), format!("{p} points still pending")));
        }
    }
    for id in g.event_ids("outbox/") {
        out.push((format!("event {id}"), "still in an outbox, not yet published".into()));
    }
    if let Some(broker) = &g.broker {
        for service in crate::outbox::Service::ALL {
            for topic in service.topics() {
                let Some(messages) = broker.messages.get(topic) else { continue };
                for (seq, id) in messages {
                    let key = (topic.to_string(), service.name().to_string(), *seq);
                    if !broker.acked.contains(&key) {
                        out.push((format!("event {id}"), format!("not yet consumed by {}", service.name())));
                    }
                }
            }
        }
    }
    if let Some(log) = &g.coordinator {
        let rows = |prefix: &'static str| {
            log.range(prefix.to_string()..).take_while(move |(k, _)| k.starts_with(prefix))
        };
        for (k, v) in rows("saga/") {
            let phase = crate::saga::Phase::decode(v);
            if !phase.finished() {
                out.push((k.replace("saga/", "saga "), format!("saga stuck at {phase:?}")));
            }
        }
        for prefix in ["tcc/", "2pc/"] {
            for (k, v) in rows(prefix) {
                let status = crate::tcc::Status::decode(v);
                if !status.finished() {
                    let subject = k.replace('/', " ");
                    out.push((subject, format!("global transaction stuck {status:?}")));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Order;

    fn table(rows: &[(&str, Value)]) -> Table {
        rows.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// Two orders: 0 completed (1 unit, 1000), 1 cancelled for lack of stock.
    fn consistent() -> GroundTruth {
        let order = |id, qty, amount| Order {
            id,
            customer: 0,
            sku: 0,
            qty,
            amount,
            points: amount / 100,
            submit_at_ms: 0,
        };
        let t = |s: &str| Value::from(s);
        GroundTruth {
            workload: Workload {
                balances: vec![10_000],
                stock: vec![5],
                prices: vec![1_000],
                orders: vec![order(0, 1, 1_000), order(1, 9, 9_000)],
            },
            orders: table(&[("order/000000", t("completed")), ("order/000001", t("cancelled"))]),
            inventory: table(&[
                ("stock/000/available", 4.into()),
                ("stock/000/sold", 1.into()),
                ("deduct/000000", 1.into()),
                ("restock/000001", 0.into()),
            ]),
            payments: table(&[("pay/000000", t("charged"))]),
            points: table(&[("points/0000", 10.into()), ("award/000000", 10.into())]),
            notifications: table(&[("sent/0000", 1.into()), ("notified/000000", 1.into())]),
            coordinator: None,
            broker: None,
            balances: vec![9_000],
            merchant: 1_000,
            held: 0,
            ledger: vec![Entry { order: 0, customer: 0, amount: 1_000 }],
            order_history: vec![
                (1, 0, Some("pending".into())),
                (2, 1, Some("pending".into())),
                (3, 0, Some("completed".into())),
                (4, 1, Some("cancelled".into())),
            ],
            payment_history: vec![(2, 0, Some("charging".into())), (3, 0, Some("charged".into()))],
        }
    }

    fn broken(g: &GroundTruth) -> BTreeSet<String> {
        check(g).into_iter().map(|v| v.invariant).collect()
    }

    fn only(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_consistent_state_passes() {
        assert_eq!(check(&consistent()), vec![]);
    }

    #[test]
    fn every_invariant_fires_on_a_crafted_bad_state() {
        let mut g = consistent();
        g.ledger.push(Entry { order: 0, customer: 0, amount: 1_000 });
        g.balances[0] -= 1_000;
        g.merchant += 1_000;
        assert_eq!(broken(&g), only(&["no-double-charge"]), "charged twice");

        let mut g = consistent();
        g.inventory.insert("stock/000/available".into(), 5.into());
        assert_eq!(broken(&g), only(&["stock-conservation"]), "a unit from nowhere");

        let mut g = consistent();
        g.inventory.insert("stock/000/available".into(), (-1).into());
        g.inventory.insert("stock/000/sold".into(), 6.into());
        let v = check(&g);
        assert!(v.iter().any(|v| v.detail.contains("negative")), "oversell: {v:?}");

        let mut g = consistent();
        g.merchant += 1;
        assert_eq!(broken(&g), only(&["money-conservation"]), "a cent from nowhere");

        let mut g = consistent();
        g.points.insert("points/0000".into(), 20.into());
        assert_eq!(broken(&g), only(&["exactly-once-effects"]), "points twice");

        let mut g = consistent();
        g.notifications.remove("notified/000000");
        assert_eq!(broken(&g), only(&["agreement"]), "completed but never notified");

        let mut g = consistent();
        g.inventory.insert("stock/000/available".into(), 3.into());
        g.inventory.insert("stock/000/reserved".into(), 1.into());
        assert_eq!(broken(&g), only(&["eventual-settlement"]), "a reservation left behind");

        let mut g = consistent();
        g.order_history.push((5, 0, Some("pending".into())));
        assert_eq!(broken(&g), only(&["legal-transitions"]), "completed → pending");

        let mut g = consistent();
        g.order_history.push((5, 1, Some("completed".into())));
        assert_eq!(broken(&g), only(&["legal-transitions"]), "cancelled → completed, and that was lost");

        // The outbox: the broker and the services' event records must match.
        let mut g = consistent();
        let mut contents = Contents::default();
        contents.messages.entry("orders".into()).or_default().insert(1, "000000-order-placed".into());
        g.orders.insert("event/000000/order-placed".into(), Value::from("{}"));
        g.broker = Some(contents.clone());
        let unconsumed = check(&g);
        assert!(unconsumed.iter().all(|v| v.invariant == "eventual-settlement"), "{unconsumed:?}");
        assert_eq!(unconsumed.len(), 2, "inventory and notification listen to orders: {unconsumed:?}");
        for group in ["inventory", "notification"] {
            contents.acked.insert(("orders".into(), group.into(), 1));
        }
        g.orders.insert("event/000000/order-placed".into(), Value::from("{}"));
        g.broker = Some(contents.clone());
        assert_eq!(check(&g), vec![], "published what was committed");
        g.orders.insert("event/000001/order-placed".into(), Value::from("{}"));
        assert_eq!(broken(&g), only(&["no-phantom-events"]), "committed, left the outbox, never published");
        g.orders.insert("outbox/000001/order-placed".into(), Value::from("{}"));
        assert_eq!(broken(&g), only(&["eventual-settlement"]), "still in the outbox: unsettled, not lost");
        let mut g = consistent();
        g.broker = Some(contents);
        assert_eq!(broken(&g), only(&["no-phantom-events"]), "published, never committed");

        let mut g = consistent();
        g.payment_history.push((6, 0, Some("charging".into())));
        assert_eq!(broken(&g), only(&["legal-transitions"]), "a payment back to charging");
        let mut g = consistent();
        g.payment_history.push((6, 0, Some("refunding".into())));
        g.payment_history.push((7, 0, Some("refunded".into())));
        g.payment_history.push((8, 0, Some("declined".into())));
        let v = check(&g);
        assert!(v.iter().any(|v| v.detail.contains("refunded → declined")), "a refund undone: {v:?}");

        // Reachable is legal: a pending write whose acknowledgement was lost.
        let mut g = consistent();
        g.order_history.retain(|(_, id, s)| !(*id == 1 && s.as_deref() == Some("pending")));
        assert_eq!(check(&g), vec![], "absent → cancelled is pending → cancelled unobserved");
    }

    #[test]
    fn violations_carry_the_numbers() {
        let mut g = consistent();
        g.points.insert("points/0000".into(), 20.into());
        let v = check(&g);
        assert_eq!(v[0].subject, "customer 0");
        assert_eq!(v[0].detail, "points 20, completed orders earn 10");
    }
}
