//! The external payment gateway: it holds customers' money, and its ledger is the
//! ground truth of what each customer was really charged, refunded and held.
//!
//! It behaves like the payment providers shops integrate with:
//! - every operation is keyed by an idempotency key: a repeated request returns
//!   the first outcome, and a refund or void of a key never charged voids the
//!   key, so a late charge with it is declined;
//! - direct charge and refund, and authorize / capture / void (for TCC);
//! - asynchronous charges: the answer is "accepted", and the outcome comes
//!   later as a callback (a webhook) that can be lost, duplicated, delayed and
//!   so reordered — while `Query` always tells the truth.
//!
//! It is outside the shop, so the nemesis never crashes it: its ledger lives in
//! the world, but the network to it suffers every fault.

use super::payment::PaymentReq;
use super::Reply;
use faultline_sim::{Message, NodeCtx, NodeId, Purpose, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Serialize)]
pub enum GatewayReq {
    Charge {
        key: String,
        order: u32,
        customer: u32,
        amount: i64,
    },
    /// Charge now, tell `notify` the outcome later by callback.
    ChargeAsync {
        key: String,
        order: u32,
        customer: u32,
        amount: i64,
        notify: NodeId,
    },
    Refund {
        key: String,
    },
    /// Refunds `amount` of a charge — one part of it, `part` (an order line),
    /// once: the key and the part are the refund's idempotency key. The
    /// charge stays charged; a later full refund returns what is left.
    RefundPart {
        key: String,
        part: u32,
        amount: i64,
    },
    /// A refund request sent without an idempotency key of its own: every call
    /// is a new refund of the charge's amount (only mutants send it).
    RefundUnkeyed {
        key: String,
    },
    Authorize {
        key: String,
        order: u32,
        customer: u32,
        amount: i64,
    },
    Capture {
        key: String,
    },
    Void {
        key: String,
    },
    Query {
        key: String,
    },
    /// The channel's bill: every key's payment and each order's net booked,
    /// as a reconciliation job downloads it.
    Statement,
}

/// What the gateway knows of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Never seen.
    Unknown,
    Charged,
    Declined,
    Refunded,
    /// Refunded or voided before anything was charged: the key is dead.
    Void,
    Authorized,
    Captured,
    Voided,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum GatewayRsp {
    /// The outcome of a charge, refund, authorization, capture or void.
    Done(Status),
    /// An asynchronous charge was taken; its outcome comes by callback.
    Accepted,
    /// The answer to a query.
    Is(Status),
    Statement(Statement),
}

/// The gateway's statement: what a reconciler compares the shop's books with.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Statement {
    /// Every key that moved or holds money: (key, order, amount, status).
    pub keys: Vec<(String, u32, i64, Status)>,
    /// Per order, charges and captures minus refunds.
    pub net: BTreeMap<u32, i64>,
}

impl GatewayReq {
    /// The payment the request is about (`None`: a statement).
    fn key(&self) -> Option<&str> {
        match self {
            GatewayReq::Charge { key, .. }
            | GatewayReq::ChargeAsync { key, .. }
            | GatewayReq::Refund { key }
            | GatewayReq::RefundPart { key, .. }
            | GatewayReq::RefundUnkeyed { key }
            | GatewayReq::Authorize { key, .. }
            | GatewayReq::Capture { key }
            | GatewayReq::Void { key }
            | GatewayReq::Query { key } => Some(key),
            GatewayReq::Statement => None,
        }
    }
}

impl Message for GatewayReq {
    fn label(&self) -> &'static str {
        match self {
            GatewayReq::Charge { .. } => "gw-charge",
            GatewayReq::ChargeAsync { .. } => "gw-charge-async",
            GatewayReq::Refund { .. } => "gw-refund",
            GatewayReq::RefundUnkeyed { .. } => "gw-refund-unkeyed",
            GatewayReq::RefundPart { .. } => "gw-refund-part",
            GatewayReq::Authorize { .. } => "gw-authorize",
            GatewayReq::Capture { .. } => "gw-capture",
            GatewayReq::Void { .. } => "gw-void",
            GatewayReq::Query { .. } => "gw-query",
            GatewayReq::Statement => "gw-statement",
        }
    }
}

impl Message for GatewayRsp {
    fn label(&self) -> &'static str {
        match self {
            GatewayRsp::Done(_) => "gw-done",
            GatewayRsp::Accepted => "gw-accepted",
            GatewayRsp::Is(_) => "gw-status",
            GatewayRsp::Statement(_) => "gw-statement",
        }
    }
}

impl Request for GatewayReq {
    type Response = GatewayRsp;
}

/// How the gateway's callbacks misbehave. Plain data, set by the scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Probability that a callback is never sent.
    pub callback_loss_rate: f64,
    /// Probability that a callback is sent twice.
    pub callback_dup_rate: f64,
    /// Delay before a callback is sent, in ms (independent per callback, so they reorder).
    pub callback_delay_ms: (u64, u64),
}

/// One movement of money to or from the merchant, as the gateway booked it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub order: u32,
    pub customer: u32,
    /// Positive for a charge or capture, negative for a refund.
    pub amount: i64,
    /// When the gateway booked it, in µs of simulated time.
    pub at_us: u64,
}

impl Entry {
    /// An entry booked now; [`serve`] stamps its time once the request is handled.
    fn new(order: u32, customer: u32, amount: i64) -> Entry {
        Entry { order, customer, amount, at_us: 0 }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Payment {
    order: u32,
    customer: u32,
    amount: i64,
    status: Status,
    /// Refunded so far by parts.
    refunded: i64,
}

/// The gateway's books.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub balances: Vec<i64>,
    /// The merchant's account: what the shop has been paid.
    pub merchant: i64,
    pub entries: Vec<Entry>,
    /// `(µs, cents on hold)` each time the held total changed.
    pub held_over_time: Vec<(u64, i64)>,
    keys: BTreeMap<String, Payment>,
    /// The parts refunded, by (key, part).
    parts: BTreeMap<(String, u32), i64>,
}

impl Ledger {
    pub fn new(balances: Vec<i64>) -> Self {
        Ledger { balances, ..Ledger::default() }
    }

    /// Money authorized but neither captured nor voided: customers' funds on hold.
    pub fn held(&self) -> i64 {
        self.keys.values().filter(|p| p.status == Status::Authorized).map(|p| p.amount).sum()
    }

    /// What the payment under `key` holds of the customer's funds.
    fn held_by(&self, key: &str) -> i64 {
        self.keys.get(key).filter(|p| p.status == Status::Authorized).map_or(0, |p| p.amount)
    }

    /// The orders with a charge or hold the gateway declined.
    pub fn declined(&self) -> std::collections::BTreeSet<u32> {
        self.keys.values().filter(|p| p.status == Status::Declined).map(|p| p.order).collect()
    }

    pub fn status(&self, key: &str) -> Status {
        self.keys.get(key).map_or(Status::Unknown, |p| p.status)
    }

    /// Applies one request; the gateway's whole business logic.
    pub fn handle(&mut self, req: &GatewayReq) -> Status {
        match req {
            GatewayReq::Charge { key, order, customer, amount }
            | GatewayReq::ChargeAsync { key, order, customer, amount, .. } => {
                self.take(key, *order, *customer, *amount, Status::Charged)
            }
            GatewayReq::Authorize { key, order, customer, amount } => {
                self.take(key, *order, *customer, *amount, Status::Authorized)
            }
            GatewayReq::RefundUnkeyed { key } if self.status(key) == Status::Refunded => {
                let p = self.keys.get(key).expect("known");
                self.balances[p.customer as usize] += p.amount;
                self.merchant -= p.amount;
                self.entries.push(Entry::new(p.order, p.customer, -p.amount));
                Status::Refunded
            }
            GatewayReq::Refund { key } | GatewayReq::RefundUnkeyed { key } => match self.status(key) {
                Status::Charged | Status::Captured => {
                    let p = self.keys.get_mut(key).expect("known");
                    let rest = p.amount - p.refunded;
                    self.balances[p.customer as usize] += rest;
                    self.merchant -= rest;
                    self.entries.push(Entry::new(p.order, p.customer, -rest));
                    p.status = Status::Refunded;
                    Status::Refunded
                }
                Status::Unknown => self.kill(key),
                other => other,
            },
            GatewayReq::RefundPart { key, part, amount } => {
                let status = self.status(key);
                if self.parts.contains_key(&(key.clone(), *part)) {
                    return Status::Refunded;
                }
                let Some(p) =
                    self.keys.get_mut(key).filter(|_| matches!(status, Status::Charged | Status::Captured))
                else {
                    return status; // nothing charged to take a part of
                };
                if *amount < 0 || p.refunded + amount > p.amount {
                    return status; // more than is left: refused
                }
                p.refunded += amount;
                self.balances[p.customer as usize] += amount;
                self.merchant -= amount;
                self.entries.push(Entry::new(p.order, p.customer, -amount));
                self.parts.insert((key.clone(), *part), *amount);
                Status::Refunded
            }
            GatewayReq::Capture { key } => match self.status(key) {
                Status::Authorized => {
                    let p = self.keys.get_mut(key).expect("known");
                    self.merchant += p.amount;
                    self.entries.push(Entry::new(p.order, p.customer, p.amount));
                    p.status = Status::Captured;
                    Status::Captured
                }
                other => other,
            },
            GatewayReq::Void { key } => match self.status(key) {
                Status::Authorized => {
                    let p = self.keys.get_mut(key).expect("known");
                    self.balances[p.customer as usize] += p.amount;
                    p.status = Status::Voided;
                    Status::Voided
                }
                Status::Unknown => self.kill(key),
                other => other,
            },
            GatewayReq::Query { key } => self.status(key),
            GatewayReq::Statement => Status::Unknown,
        }
    }

    /// The statement as of now.
    pub fn statement(&self) -> Statement {
        let mut net = BTreeMap::new();
        for e in &self.entries {
            *net.entry(e.order).or_insert(0) += e.amount;
        }
        let keys = self
            .keys
            .iter()
            .filter(|(_, p)| !matches!(p.status, Status::Void | Status::Declined))
            .map(|(k, p)| (k.clone(), p.order, p.amount, p.status))
            .collect();
        Statement { keys, net }
    }

    /// Charges or holds `amount` under a new key; a known key answers as before.
    fn take(&mut self, key: &str, order: u32, customer: u32, amount: i64, to: Status) -> Status {
        if let Some(p) = self.keys.get(key) {
            return p.status;
        }
        let balance = &mut self.balances[customer as usize];
        let status = if *balance < amount { Status::Declined } else { to };
        if status == to {
            *balance -= amount;
            if to == Status::Charged {
                self.merchant += amount;
                self.entries.push(Entry::new(order, customer, amount));
            }
        }
        self.keys.insert(key.to_string(), Payment { order, customer, amount, status, refunded: 0 });
        status
    }

    fn kill(&mut self, key: &str) -> Status {
        let dead = Payment { order: 0, customer: 0, amount: 0, status: Status::Void, refunded: 0 };
        self.keys.insert(key.to_string(), dead);
        Status::Void
    }
}

const CALLBACK_TIMEOUT: Duration = Duration::from_millis(200);
const CALLBACK_TRIES: u32 = 3;

pub async fn serve(ctx: NodeCtx, ledger: Arc<Mutex<Ledger>>, config: GatewayConfig) {
    let ep = ctx.endpoint().await;
    let (ep2, ctx2) = (ep.clone(), ctx.clone());
    ep.serve(move |req: GatewayReq, _from| {
        let status = {
            let mut l = ledger.lock().unwrap();
            // A request moves one payment's money: the total on hold changes
            // by that payment's hold alone (summing every payment per request
            // made a flash sale quadratic).
            let before = req.key().map_or(0, |k| l.held_by(k));
            let booked = l.entries.len();
            let status = l.handle(&req);
            let now = faultline_sim::Sim::now_us();
            l.entries[booked..].iter_mut().for_each(|e| e.at_us = now);
            let after = req.key().map_or(0, |k| l.held_by(k));
            if after != before {
                let total = l.held_over_time.last().map_or(0, |(_, h)| *h) + after - before;
                l.held_over_time.push((faultline_sim::Sim::now_us(), total));
            }
            status
        };
        let rsp = match (&req, status) {
            (GatewayReq::Statement, _) => GatewayRsp::Statement(ledger.lock().unwrap().statement()),
            (GatewayReq::Query { .. }, s) => GatewayRsp::Is(s),
            (GatewayReq::ChargeAsync { key, notify, .. }, s) => {
                callback(&ctx2, &ep2, &config, *notify, key.clone(), s);
                GatewayRsp::Accepted
            }
            (_, s) => GatewayRsp::Done(s),
        };
        async move { rsp }
    });
    std::future::pending::<()>().await
}

/// Sends the outcome of an asynchronous charge to `notify`, misbehaving as
/// configured; each copy is retried a few times until acknowledged, as webhooks are.
fn callback(
    ctx: &NodeCtx,
    ep: &Arc<faultline_sim::Endpoint>,
    config: &GatewayConfig,
    notify: NodeId,
    key: String,
    status: Status,
) {
    // Four draws from the order's stream whatever happens: one callback's
    // chaos more or less moves no other draw.
    let [lost, dup, first, second] = ep.sim().draws(ep.node(), Purpose::Callback);
    // Callback chaos is a fault like any other: it stops when the window heals.
    let chaos = !ep.sim().healed();
    if chaos && lost.chance(config.callback_loss_rate) {
        ctx.injected("callback-lost", format!("callback for {key} ({status:?}) never sent"));
        return;
    }
    let copies = if chaos && dup.chance(config.callback_dup_rate) {
        ctx.injected("callback-duplicated", format!("callback for {key} sent twice"));
        2
    } else {
        1
    };
    let (lo, hi) = if chaos { config.callback_delay_ms } else { (0, 0) };
    for draw in [first, second].into_iter().take(copies) {
        let delay = Duration::from_millis(if hi > 0 { draw.within(lo, hi) } else { 0 });
        let (ep, key) = (ep.clone(), key.clone());
        faultline_sim::order::spawn(async move {
            tokio::time::sleep(delay).await;
            for _ in 0..CALLBACK_TRIES {
                let req = PaymentReq::Callback { key: key.clone(), status };
                if ep.call(notify, req, CALLBACK_TIMEOUT).await == Ok(Reply::Done) {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(key: &str, amount: i64) -> GatewayReq {
        GatewayReq::Charge { key: key.into(), order: 1, customer: 0, amount }
    }

    #[test]
    fn idempotency_keys() {
        let mut l = Ledger::new(vec![100]);
        assert_eq!(l.handle(&charge("k", 60)), Status::Charged);
        assert_eq!(l.handle(&charge("k", 60)), Status::Charged, "replayed, not recharged");
        assert_eq!(l.balances[0], 40);
        assert_eq!(l.handle(&charge("k2", 60)), Status::Declined, "insufficient funds");
        assert_eq!(l.handle(&GatewayReq::Refund { key: "k".into() }), Status::Refunded);
        assert_eq!(l.handle(&GatewayReq::Refund { key: "k".into() }), Status::Refunded);
        assert_eq!(l.balances[0], 100, "refunded once");
        assert_eq!(l.merchant, 0);
        assert_eq!(l.handle(&GatewayReq::Refund { key: "late".into() }), Status::Void);
        assert_eq!(l.handle(&charge("late", 10)), Status::Void, "a voided key never charges");
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.handle(&GatewayReq::Query { key: "k".into() }), Status::Refunded);
        assert_eq!(l.handle(&GatewayReq::Query { key: "never".into() }), Status::Unknown);
    }

    #[test]
    fn authorize_capture_void() {
        let mut l = Ledger::new(vec![100]);
        let auth = |k: &str, a| GatewayReq::Authorize { key: k.into(), order: 1, customer: 0, amount: a };
        assert_eq!(l.handle(&auth("a", 30)), Status::Authorized);
        assert_eq!(l.handle(&auth("a", 30)), Status::Authorized, "idempotent");
        assert_eq!((l.balances[0], l.held(), l.merchant), (70, 30, 0), "held, not paid");
        assert_eq!(l.handle(&GatewayReq::Capture { key: "a".into() }), Status::Captured);
        assert_eq!(l.handle(&GatewayReq::Capture { key: "a".into() }), Status::Captured, "captured once");
        assert_eq!((l.balances[0], l.held(), l.merchant), (70, 0, 30));
        assert_eq!(l.handle(&auth("b", 50)), Status::Authorized);
        assert_eq!(l.handle(&GatewayReq::Void { key: "b".into() }), Status::Voided);
        assert_eq!(l.handle(&GatewayReq::Void { key: "b".into() }), Status::Voided);
        assert_eq!((l.balances[0], l.held()), (70, 0), "voided back");
        assert_eq!(
            l.handle(&GatewayReq::Capture { key: "b".into() }),
            Status::Voided,
            "no capture after void"
        );
        assert_eq!(l.handle(&GatewayReq::Void { key: "c".into() }), Status::Void, "empty void kills the key");
        assert_eq!(l.handle(&auth("c", 10)), Status::Void, "so a late authorize is refused");
        assert_eq!(l.handle(&auth("d", 1000)), Status::Declined);
    }
}
