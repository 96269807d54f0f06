//! One pass's snapshot: the rows of the participant contract, read by prefix
//! from each service's store, and the gateway's statement. Reads are not one
//! transaction across stores, so a snapshot can catch an order mid-step; the
//! reconciler only judges orders given time to settle.

use crate::shop::gateway::{GatewayReq, GatewayRsp, Statement, Status};
use crate::shop::payment::PaymentState;
use crate::shop::shipping::{self, Fate};
use crate::shop::{inventory, notification, order, payment, points, GATEWAY_TIMEOUT};
use crate::workload::Order;
use faultline_sim::{Endpoint, NodeId, Op, StoreClient, Value};
use std::collections::BTreeMap;

pub type Rows = BTreeMap<String, Value>;

/// The books, as one pass read them.
pub struct View {
    pub orders: Rows,
    pub inventory: Rows,
    pub payments: Rows,
    pub points: Rows,
    pub notifications: Rows,
    pub shipments: Rows,
    pub statement: Statement,
}

/// Reads the rows under `prefixes` in one transaction; `None` if the store did not answer.
pub async fn scan(store: &StoreClient, prefixes: &[&str]) -> Option<Rows> {
    let ops = prefixes.iter().map(|p| Op::Scan(p.to_string())).collect();
    let results = store.txn(ops).await.ok()?;
    Some(results.iter().flat_map(|r| r.rows().iter().cloned()).collect())
}

impl View {
    /// Reads every store and the statement; `None` if any did not answer (the
    /// pass is skipped: judging from half the books would repair the wrong thing).
    pub async fn read(stores: &[StoreClient; 6], ep: &Endpoint, gateway: NodeId) -> Option<View> {
        let [o, i, p, pt, n, s] = stores;
        let statement = match ep.call(gateway, GatewayReq::Statement, GATEWAY_TIMEOUT).await {
            Ok(GatewayRsp::Statement(s)) => s,
            _ => return None,
        };
        Some(View {
            orders: scan(o, &["order/"]).await?,
            inventory: scan(i, &["deduct/", "restock/", "stock/"]).await?,
            payments: scan(p, &["pay/"]).await?,
            points: scan(pt, &["award/", "revoke/", "points-pending/"]).await?,
            notifications: scan(n, &["notified/"]).await?,
            shipments: scan(s, &["ship/"]).await?,
            statement,
        })
    }

    pub fn order_state(&self, id: u32) -> Option<&str> {
        self.orders.get(&order::key(id)).and_then(Value::as_text)
    }

    pub fn terminal(&self, id: u32) -> bool {
        matches!(self.order_state(id), Some(order::COMPLETED | order::CANCELLED))
    }

    pub fn payment(&self, id: u32) -> Option<PaymentState> {
        self.payments.get(&payment::key(id)).and_then(Value::as_text).and_then(PaymentState::parse)
    }

    pub fn shipment(&self, id: u32) -> Option<Fate> {
        self.shipments.get(&shipping::key(id)).and_then(Value::as_text).and_then(Fate::parse)
    }

    /// The order's net booked at the gateway.
    pub fn net(&self, id: u32) -> i64 {
        self.statement.net.get(&id).copied().unwrap_or(0)
    }

    /// The order's keys at the gateway with status `status`.
    pub fn keys(&self, id: u32, status: &[Status]) -> Vec<String> {
        let keys = self.statement.keys.iter();
        keys.filter(|(_, o, _, s)| *o == id && status.contains(s)).map(|(k, ..)| k.clone()).collect()
    }

    fn int(rows: &Rows, k: &str) -> Option<i64> {
        rows.get(k).and_then(Value::as_int)
    }

    /// Whether line `line` of `o` holds its stock: taken, and not put back.
    pub fn line_kept(&self, o: &Order, line: u32) -> bool {
        self.inventory.contains_key(&inventory::deducted(o.id, line))
            && View::int(&self.inventory, &inventory::restocked(o.id, line)).unwrap_or(0) == 0
    }

    pub fn line_untouched(&self, o: &Order, line: u32) -> bool {
        !self.inventory.contains_key(&inventory::deducted(o.id, line))
            && !self.inventory.contains_key(&inventory::restocked(o.id, line))
    }

    pub fn awarded(&self, id: u32) -> bool {
        self.points.contains_key(&points::awarded(id))
    }

    pub fn revoked(&self, id: u32) -> bool {
        self.points.contains_key(&points::revoked(id))
    }

    pub fn notified(&self, id: u32) -> bool {
        self.notifications.contains_key(&notification::notified(id))
    }

    pub fn reserved(&self, sku: u32) -> i64 {
        View::int(&self.inventory, &inventory::reserved(sku)).unwrap_or(0)
    }

    pub fn points_pending(&self, customer: u32) -> i64 {
        View::int(&self.points, &points::pending(customer)).unwrap_or(0)
    }
}
