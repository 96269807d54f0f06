//! The shop: five services, each a stateless node in front of its own store
//! node, plus the external payment gateway. Every step a protocol drives is an
//! idempotent local transaction here; protocols differ only in how they drive them.

pub mod barrier;
pub mod gateway;
pub mod inventory;
pub mod notification;
pub mod order;
pub mod payment;
pub mod points;

use crate::outbox::{self, Service};
use crate::workload::Workload;
use faultline_sim::store::{self, StoreClient};
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, TxnError, World};
use gateway::{GatewayConfig, Ledger};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a service waits for its store.
pub const STORE_TIMEOUT: Duration = Duration::from_millis(150);
/// How long a service waits for the gateway.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a protocol waits for a service's step (which calls a store and maybe the gateway).
pub const STEP_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The answer to any step or compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reply {
    Done,
    /// A definitive business refusal: nothing was applied.
    Failed(Failure),
    /// The service could not tell (its store or the gateway did not answer).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Failure {
    OutOfStock,
    Declined,
    /// The order was already compensated; a late step must not apply.
    Compensated,
    /// The order is not pending any more (completed or cancelled).
    NotPending,
    /// The service's own records contradict the request — e.g. a Confirm with
    /// no Try on record, because its store lost writes in a failover.
    Inconsistent,
    /// 2PC: another transaction held the lock past the lock-wait timeout.
    Locked,
}

impl faultline_sim::Message for Reply {
    fn label(&self) -> &'static str {
        match self {
            Reply::Done => "done",
            Reply::Failed(Failure::OutOfStock) => "out-of-stock",
            Reply::Failed(Failure::Declined) => "declined",
            Reply::Failed(Failure::Compensated) => "compensated",
            Reply::Failed(Failure::NotPending) => "not-pending",
            Reply::Failed(Failure::Inconsistent) => "inconsistent",
            Reply::Failed(Failure::Locked) => "locked",
            Reply::Unknown => "unknown",
        }
    }
}

/// Implements [`faultline_sim::Message`] for a request enum from one label per variant.
macro_rules! labels {
    ($ty:ty { $($pat:pat => $label:literal),* $(,)? }) => {
        impl faultline_sim::Message for $ty {
            fn label(&self) -> &'static str {
                match self { $($pat => $label),* }
            }
        }
        impl faultline_sim::Request for $ty {
            type Response = $crate::shop::Reply;
        }
    };
}
pub(crate) use labels;

/// Turns a store error into a step reply: a failed condition is `on_condition`
/// of the op index, no answer is `Unknown`.
pub(crate) fn unknown_or(err: TxnError, on_condition: impl FnOnce(usize) -> Reply) -> Reply {
    match err {
        TxnError::Condition { index, .. } => on_condition(index),
        TxnError::Unknown => Reply::Unknown,
    }
}

/// Serves one service: binds its endpoint, connects it to its store, and hands
/// each request to `handle`.
pub(crate) async fn run_service<R, F, Fut>(ctx: faultline_sim::NodeCtx, db: Arc<ReplicaSet>, handle: F)
where
    R: faultline_sim::Request<Response = Reply>,
    F: Fn(StoreClient, Arc<Endpoint>, R) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    let ep = ctx.endpoint().await;
    let store = StoreClient::new(ep.clone(), db, STORE_TIMEOUT);
    let ep2 = ep.clone();
    ep.serve(move |req: R, _from| handle(store.clone(), ep2.clone(), req));
    std::future::pending::<()>().await
}

/// A service node's life, boxed so that the two wirings can share one node.
type Body = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// The nodes and stores of a deployed shop.
#[derive(Clone, Debug)]
pub struct Shop {
    pub order: NodeId,
    pub inventory: NodeId,
    pub payment: NodeId,
    pub points: NodeId,
    pub notification: NodeId,
    pub gateway: NodeId,
    pub order_db: Arc<ReplicaSet>,
    pub inventory_db: Arc<ReplicaSet>,
    pub payment_db: Arc<ReplicaSet>,
    pub points_db: Arc<ReplicaSet>,
    pub notification_db: Arc<ReplicaSet>,
    pub ledger: Arc<Mutex<Ledger>>,
}

impl Shop {
    /// Adds the shop's nodes to `world` with the workload's initial stock and balances.
    pub fn deploy(world: &mut World, workload: &Workload, gateway: &GatewayConfig) -> Shop {
        Shop::deploy_wired(world, workload, gateway, None)
    }

    /// As [`Shop::deploy`]; with `outbox`, the services also talk through the
    /// broker (outbox relay, inbox consumers) — the choreography's wiring.
    pub fn deploy_wired(
        world: &mut World,
        workload: &Workload,
        gateway: &GatewayConfig,
        outbox: Option<outbox::Wiring>,
    ) -> Shop {
        let ledger = Arc::new(Mutex::new(Ledger::new(workload.balances.clone())));
        let order_db = world.store("order-db");
        let inventory_db = world.store("inventory-db");
        let payment_db = world.store("payment-db");
        let points_db = world.store("points-db");
        let notification_db = world.store("notification-db");
        let (l, config) = (ledger.clone(), gateway.clone());
        let gateway = world.node("gateway", move |ctx| gateway::serve(ctx, l.clone(), config.clone()));
        // A service node runs its request API, or with the outbox wiring, the
        // choreography around that API.
        let mut node =
            |service: Service, db: &Arc<ReplicaSet>, rpc: fn(NodeCtx, Arc<ReplicaSet>, NodeId) -> Body| {
                let (db, outbox) = (db.clone(), outbox.clone());
                world.node(service.name(), move |ctx| match &outbox {
                    None => rpc(ctx, db.clone(), gateway),
                    Some(w) => Box::pin(outbox::serve(ctx, service, db.clone(), gateway, w.clone())) as Body,
                })
            };
        let order = node(Service::Order, &order_db, |c, db, _| Box::pin(order::serve(c, db)));
        let inventory = node(Service::Inventory, &inventory_db, |c, db, _| Box::pin(inventory::serve(c, db)));
        let payment = node(Service::Payment, &payment_db, |c, db, gw| Box::pin(payment::serve(c, db, gw)));
        let points = node(Service::Points, &points_db, |c, db, _| Box::pin(points::serve(c, db)));
        let notification =
            node(Service::Notification, &notification_db, |c, db, _| Box::pin(notification::serve(c, db)));
        let stock: Vec<_> = workload
            .stock
            .iter()
            .enumerate()
            .map(|(sku, n)| (inventory::available(sku as u32), (*n).into()))
            .collect();
        for member in &inventory_db.members {
            store::preload(&world.sim().disk(*member), stock.clone());
        }
        Shop {
            order,
            inventory,
            payment,
            points,
            notification,
            gateway,
            order_db,
            inventory_db,
            payment_db,
            points_db,
            notification_db,
            ledger,
        }
    }
}

/// The entry point of every protocol: the client places an order.
#[derive(Clone, Debug, Serialize)]
pub struct PlaceOrder(pub crate::workload::Order);

labels!(PlaceOrder { PlaceOrder(_) => "place-order" });
