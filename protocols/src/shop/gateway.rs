//! The external payment gateway: it holds customers' money, and its ledger is the
//! ground truth of what each customer was really charged and refunded.
//!
//! Like a real payment provider it honours idempotency keys: a repeated charge
//! with a known key returns the first outcome, and a refund of a key that was
//! never charged voids the key so that a late charge with it is declined.
//! It is outside the shop, so the nemesis never crashes it: its ledger lives in
//! the world, but the network to it suffers every fault.

use faultline_sim::{Message, NodeCtx, Request};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Serialize)]
pub enum GatewayReq {
    Charge { key: String, order: u32, customer: u32, amount: i64 },
    Refund { key: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum GatewayRsp {
    Charged,
    Declined,
    Refunded,
    /// Nothing was charged under the key; it is now void.
    NothingToRefund,
}

impl Message for GatewayReq {
    fn label(&self) -> &'static str {
        match self {
            GatewayReq::Charge { .. } => "gw-charge",
            GatewayReq::Refund { .. } => "gw-refund",
        }
    }
}

impl Message for GatewayRsp {
    fn label(&self) -> &'static str {
        match self {
            GatewayRsp::Charged => "gw-charged",
            GatewayRsp::Declined => "gw-declined",
            GatewayRsp::Refunded => "gw-refunded",
            GatewayRsp::NothingToRefund => "gw-nothing-to-refund",
        }
    }
}

impl Request for GatewayReq {
    type Response = GatewayRsp;
}

/// One movement of money, as the gateway booked it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub order: u32,
    pub customer: u32,
    /// Positive for a charge, negative for a refund.
    pub amount: i64,
}

#[derive(Clone, Debug, PartialEq)]
enum KeyState {
    Charged { order: u32, customer: u32, amount: i64 },
    Declined,
    Refunded,
    Void,
}

/// The gateway's books.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub balances: Vec<i64>,
    /// The merchant's account: what the shop has been paid.
    pub merchant: i64,
    pub entries: Vec<Entry>,
    keys: BTreeMap<String, KeyState>,
}

impl Ledger {
    pub fn new(balances: Vec<i64>) -> Self {
        Ledger { balances, ..Ledger::default() }
    }

    pub fn handle(&mut self, req: GatewayReq) -> GatewayRsp {
        match req {
            GatewayReq::Charge { key, order, customer, amount } => match self.keys.get(&key) {
                Some(KeyState::Charged { .. } | KeyState::Refunded) => GatewayRsp::Charged,
                Some(KeyState::Declined | KeyState::Void) => GatewayRsp::Declined,
                None => {
                    let balance = &mut self.balances[customer as usize];
                    if *balance < amount {
                        self.keys.insert(key, KeyState::Declined);
                        return GatewayRsp::Declined;
                    }
                    *balance -= amount;
                    self.merchant += amount;
                    self.entries.push(Entry { order, customer, amount });
                    self.keys.insert(key, KeyState::Charged { order, customer, amount });
                    GatewayRsp::Charged
                }
            },
            GatewayReq::Refund { key } => match self.keys.get(&key).cloned() {
                Some(KeyState::Charged { order, customer, amount }) => {
                    self.balances[customer as usize] += amount;
                    self.merchant -= amount;
                    self.entries.push(Entry { order, customer, amount: -amount });
                    self.keys.insert(key, KeyState::Refunded);
                    GatewayRsp::Refunded
                }
                Some(KeyState::Refunded) => GatewayRsp::Refunded,
                Some(KeyState::Declined | KeyState::Void) => GatewayRsp::NothingToRefund,
                None => {
                    self.keys.insert(key, KeyState::Void);
                    GatewayRsp::NothingToRefund
                }
            },
        }
    }
}

pub async fn serve(ctx: NodeCtx, ledger: Arc<Mutex<Ledger>>) {
    let ep = ctx.endpoint().await;
    ep.serve(move |req: GatewayReq, _from| {
        let rsp = ledger.lock().unwrap().handle(req);
        async move { rsp }
    });
    std::future::pending::<()>().await
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
        assert_eq!(l.handle(charge("k", 60)), GatewayRsp::Charged);
        assert_eq!(l.handle(charge("k", 60)), GatewayRsp::Charged, "replayed, not recharged");
        assert_eq!(l.balances[0], 40);
        assert_eq!(l.handle(charge("k2", 60)), GatewayRsp::Declined, "insufficient funds");
        assert_eq!(l.handle(GatewayReq::Refund { key: "k".into() }), GatewayRsp::Refunded);
        assert_eq!(l.handle(GatewayReq::Refund { key: "k".into() }), GatewayRsp::Refunded);
        assert_eq!(l.balances[0], 100, "refunded once");
        assert_eq!(l.merchant, 0);
        assert_eq!(l.handle(GatewayReq::Refund { key: "late".into() }), GatewayRsp::NothingToRefund);
        assert_eq!(l.handle(charge("late", 10)), GatewayRsp::Declined, "a voided key never charges");
        assert_eq!(l.entries.len(), 2);
    }
}
