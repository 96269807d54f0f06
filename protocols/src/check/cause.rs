//! Why a violation happened, from the run's own evidence. A scenario may
//! excuse a violation only by a cause it declares *and* that this run shows
//! touching that violation's subject — never by the invariant's name alone,
//! which would let a new, unrelated bug hide behind a known one.

use super::{GroundTruth, Violation};
use faultline_sim::broker::Contents;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A cause of violations a scenario may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A failover's new primary lacked writes the old primary had committed —
    /// with async replication, writes it had acknowledged.
    FailoverLostWrites,
}

impl Cause {
    pub const ALL: [Cause; 1] = [Cause::FailoverLostWrites];

    pub fn name(self) -> &'static str {
        match self {
            Cause::FailoverLostWrites => "failover-lost-writes",
        }
    }

    pub fn statement(self) -> &'static str {
        match self {
            Cause::FailoverLostWrites => {
                "a failover lost committed writes to the violation's order, SKU or customer (or, for the gateway, to any order)"
            }
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cause this run shows for one violation, and what shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub cause: Cause,
    pub detail: String,
}

/// What the run's failovers lost, by the business entity the lost rows
/// belong to: the first loss that touched each.
#[derive(Default)]
struct Touched {
    orders: BTreeMap<u32, String>,
    skus: BTreeMap<u32, String>,
    customers: BTreeMap<u32, String>,
    /// Declared quantities' keys (`wallet/0003`).
    quantities: BTreeMap<String, String>,
}

impl Touched {
    fn of(g: &GroundTruth) -> Touched {
        let mut t = Touched::default();
        for lost in &g.lost {
            for (key, value) in &lost.writes {
                // A message every group had consumed, deleted by the broker's
                // retention: losing the deletion changes nothing anyone sees.
                if key.starts_with("msg/") && value.is_none() {
                    continue;
                }
                let what =
                    format!("the {} failover at {:.3}s lost {key}", lost.store, lost.at_us as f64 / 1e6);
                match entity(key).or_else(|| g.broker.as_ref().and_then(|b| message_of(b, key))) {
                    Some(Entity::Order(id)) => {
                        if let Some(o) = g.order(id) {
                            for l in &o.lines {
                                t.skus.entry(l.sku).or_insert_with(|| what.clone());
                            }
                            t.customers.entry(o.customer).or_insert_with(|| what.clone());
                            for k in super::declared::keys_of(g, o) {
                                t.quantities.entry(k).or_insert_with(|| what.clone());
                            }
                        }
                        t.orders.entry(id).or_insert(what);
                    }
                    Some(Entity::Sku(s)) => {
                        t.skus.entry(s).or_insert(what);
                    }
                    Some(Entity::Customer(c)) => {
                        t.customers.entry(c).or_insert(what);
                    }
                    None => {
                        // A declared quantity's own row: `{quantity}/{key}`, or its `/held`.
                        let first = key.split('/').next().unwrap_or_default();
                        if g.workflow.quantity(first).is_some_and(|q| g.declared.contains_key(&q.at)) {
                            let k = key.strip_suffix("/held").unwrap_or(key);
                            t.quantities.entry(k.to_string()).or_insert(what);
                        }
                    }
                }
            }
        }
        t
    }

    /// The loss that touched `subject` ("order 12", "sku 1", "customer 3",
    /// "gateway", "event 000012-order-placed", "saga 000012", …), if any.
    fn touching(&self, subject: &str) -> Option<&String> {
        let (kind, rest) = subject.split_once(' ').unwrap_or((subject, ""));
        let number = || rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>().ok();
        match kind {
            "sku" => self.skus.get(&number()?),
            "customer" => self.customers.get(&number()?),
            // The ledger is not replicated: money is touched through an order.
            "gateway" => self.orders.values().next(),
            "quantity" => self.quantities.get(rest),
            _ => self.orders.get(&number()?),
        }
    }
}

enum Entity {
    Order(u32),
    Sku(u32),
    Customer(u32),
}

/// The business entity a row belongs to, from the key conventions of the
/// participant contract: a 6-digit segment is an order (`order/000012`,
/// `barrier/000012/…`, `msgid/orders/000012-order-placed`), `stock/…` and
/// `lock/sku/…` a SKU, the points and notification counters and
/// `lock/customer/…` a customer. A declared quantity's rows are matched by
/// the workflow's names, in [`Touched::of`].
fn entity(key: &str) -> Option<Entity> {
    let parts: Vec<&str> = key.split('/').collect();
    let num = |s: &str| s.parse::<u32>().ok();
    match parts.as_slice() {
        ["stock", sku, ..] | ["lock", "sku", sku] => return num(sku).map(Entity::Sku),
        ["points" | "points-pending" | "sent", c] | ["lock", "customer", c] => {
            return num(c).map(Entity::Customer)
        }
        _ => {}
    }
    let order = parts.iter().find_map(|p| {
        let digits = p.get(..6).filter(|d| d.chars().all(|c| c.is_ascii_digit()))?;
        (p.len() == 6 || p[6..].starts_with('-')).then(|| num(digits)).flatten()
    });
    order.map(Entity::Order)
}

/// The order of a broker row keyed by sequence number (`msg/{topic}/{seq}`,
/// `ack/{topic}/{seq}/{group}`), through the message id at that sequence.
fn message_of(broker: &Contents, key: &str) -> Option<Entity> {
    let (topic, seq) = faultline_sim::broker::message_at(key)?;
    entity(broker.messages.get(topic)?.get(&seq)?)
}

/// Adds to each violation the evidence of every cause this run shows for it.
pub(super) fn attribute(g: &GroundTruth, violations: &mut [Violation]) {
    if g.lost.is_empty() {
        return;
    }
    let touched = Touched::of(g);
    for v in violations {
        if let Some(what) = touched.touching(&v.subject) {
            v.evidence = Some(Evidence { cause: Cause::FailoverLostWrites, detail: what.clone() });
        }
    }
}
