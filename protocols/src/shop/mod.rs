//! The shop: the workflow's participants — six services, each a stateless
//! node in front of its own store node — and the external payment gateway.
//! Each participant module owns its keys (the contract the checker reads),
//! its business effects (defined once, as store ops, for every protocol) and
//! its request API: the direct steps and compensations an orchestrator drives,
//! each an idempotent local transaction. A protocol with its own participant
//! code (TCC's branches, the outbox's reactions) builds on the same effects.
//! Beside the six, a workflow's own participants ([`declared`]) apply any
//! take or give it declares, and [`barrier`] guards TCC's and 2PC's phases.

pub mod barrier;
pub mod cached;
pub mod declared;
pub mod gateway;
pub mod inventory;
pub mod notification;
pub mod order;
pub mod payment;
pub mod points;
pub mod shipping;

use crate::workflow::{Effect, Operation, Per, Workflow};
use faultline_sim::store::{self, StoreClient};
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, TxnError, World};
use gateway::Ledger;
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
    /// The warehouse cannot fulfil the order.
    Undeliverable,
    /// The customer cancelled the order before it shipped.
    CancelledByCustomer,
    /// Too late to cancel: the order shipped.
    Shipped,
    /// A declared quantity did not have enough (a coupon used, a wallet short).
    NotEnough,
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
            Reply::Failed(Failure::Undeliverable) => "undeliverable",
            Reply::Failed(Failure::CancelledByCustomer) => "cancelled-by-customer",
            Reply::Failed(Failure::Shipped) => "shipped",
            Reply::Failed(Failure::NotEnough) => "not-enough",
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
pub fn unknown_or(err: TxnError, on_condition: impl FnOnce(usize) -> Reply) -> Reply {
    match err {
        TxnError::Condition { index, .. } => on_condition(index),
        TxnError::Unknown => Reply::Unknown,
    }
}

/// Serves one service: binds its endpoint, connects it to its store, and hands
/// each request to `handle`. A protocol's own participant code serves this way too.
pub async fn run_service<R, F, Fut>(ctx: faultline_sim::NodeCtx, db: Arc<ReplicaSet>, handle: F)
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

/// A node's life, boxed so that a protocol can choose what runs on a service node.
pub type Body = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// A participant of the workflow: a service node in front of its own store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Order,
    Inventory,
    Payment,
    Points,
    Notification,
    Shipping,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Order,
        Service::Inventory,
        Service::Payment,
        Service::Points,
        Service::Notification,
        Service::Shipping,
    ];

    /// The node's name; its store is `{name}-db`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Order => "order",
            Service::Inventory => "inventory",
            Service::Payment => "payment",
            Service::Points => "points",
            Service::Notification => "notification",
            Service::Shipping => "shipping",
        }
    }
}

/// Who runs a workflow step: one of the shop's services, or a participant
/// the workflow declares ([`declared`]), by the step's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Shop(Service),
    Declared(usize),
}

impl Service {
    /// The shop service named `name`, if any.
    pub fn named(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Who implements each of `workflow`'s steps, in step order: a shop
/// service for the shop's operations at its participants, a declared
/// participant for a take or a give at any other, once per order or per
/// line. The error names the first step neither implements.
pub fn bind(workflow: &Workflow) -> Result<Vec<Binding>, String> {
    let shop = |op: &Operation| match (op.at.as_str(), &op.effect) {
        ("inventory", Effect::Take { .. }) if op.per == Per::Line => Some(Service::Inventory),
        ("payment", Effect::Charge { .. }) => Some(Service::Payment),
        ("shipping", Effect::Record { .. }) => Some(Service::Shipping),
        ("points", Effect::Give { .. }) if op.reversible => Some(Service::Points),
        ("notification", Effect::Give { .. }) if !op.reversible => Some(Service::Notification),
        _ => None,
    };
    let bound = |(i, (step, op)): (usize, (&crate::workflow::Step, &Operation))| {
        let (name, verb, at) = (&op.name, op.effect.verb(), &op.at);
        if Service::named(at).is_some() {
            return shop(op).map(Binding::Shop).ok_or_else(|| {
                format!("step {}: no shop service implements {name} ({verb} at {at})", step.name)
            });
        }
        match &op.effect {
            Effect::Take { .. } | Effect::Give { .. } => Ok(Binding::Declared(i)),
            _ => Err(format!(
                "step {}: {name} ({verb} at {at}): a declared participant takes or gives; charges and records are the shop's",
                step.name
            )),
        }
    };
    workflow.step_operations().enumerate().map(bound).collect()
}

/// Whether `workflow` can run on the shop's services and declared
/// participants: every step binds ([`bind`]); payment has exactly one step,
/// inventory, shipping, points and notification at most one —
/// the shop's operations, in any order the rules allow, with any declared
/// steps between; and customers may cancel only until a shipment (the
/// shipping service is where a cancellation meets the order).
pub fn runs_on_the_shop(workflow: &Workflow) -> Result<(), String> {
    let bound = bind(workflow)?;
    for service in Service::ALL.into_iter().filter(|s| *s != Service::Order) {
        let n = bound.iter().filter(|b| **b == Binding::Shop(service)).count();
        let required = service == Service::Payment;
        if n > 1 || (required && n == 0) {
            return Err(format!(
                "{n} steps at {}: a workflow runs on the shop's services — one step at payment, at most one at inventory, shipping, points and notification — and any declared participants beside them",
                service.name()
            ));
        }
    }
    if let Some(q) = workflow.quantities.iter().find(|q| q.cache.is_some() && Service::named(&q.at).is_some())
    {
        return Err(format!(
            "quantity {}: a cache stands in front of a participant the workflow declares, not the shop's {}",
            q.name, q.at
        ));
    }
    let ship = workflow
        .steps
        .iter()
        .position(|s| workflow.operation(&s.operation).is_some_and(|o| o.at == Service::Shipping.name()));
    if let Some(until) = &workflow.cancel_until {
        if ship.is_none_or(|i| workflow.steps[i].name != *until) {
            return Err(format!(
                "cancel_until = {until:?}: customers cancel at the shipping service, so a cancellation window ends at its step"
            ));
        }
    }
    Ok(())
}

/// Whether `workflow` may ship an order short (some lines undeliverable):
/// only with a shipment, and only if every per-line step before the pivot
/// is the shop's inventory, which gives short lines back (a declared
/// participant's per-line take would keep them).
pub fn ships_short(workflow: &Workflow) -> bool {
    let Ok(bound) = bind(workflow) else { return false };
    let pivot = workflow.pivot().unwrap_or(workflow.steps.len());
    let declared_per_line = |(i, b): (usize, &Binding)| {
        matches!(b, Binding::Declared(_))
            && workflow.operation(&workflow.steps[i].operation).is_some_and(|o| o.per == Per::Line)
    };
    bound.contains(&Binding::Shop(Service::Shipping))
        && !bound[..pivot].iter().enumerate().any(declared_per_line)
}

/// What runs on a service node, started again at every restart: given the
/// node, which service it is, its store and the payment gateway's node.
pub type ServiceBody = Arc<dyn Fn(NodeCtx, Service, Arc<ReplicaSet>, NodeId) -> Body + Send + Sync>;

/// What runs on a declared participant's node: given the node, the
/// participant's name, its store and the payment gateway's node.
pub type DeclaredBody = Arc<dyn Fn(NodeCtx, String, Arc<ReplicaSet>, NodeId) -> Body + Send + Sync>;

/// A service's request API: the steps and compensations every orchestrating
/// protocol drives ([`Shop::deploy`] runs it on every service node).
pub fn request_api(ctx: NodeCtx, service: Service, db: Arc<ReplicaSet>, gateway: NodeId) -> Body {
    match service {
        Service::Order => Box::pin(order::serve(ctx, db)),
        Service::Inventory => Box::pin(inventory::serve(ctx, db)),
        Service::Payment => Box::pin(payment::serve(ctx, db, gateway)),
        Service::Points => Box::pin(points::serve(ctx, db)),
        Service::Notification => Box::pin(notification::serve(ctx, db)),
        Service::Shipping => Box::pin(shipping::serve(ctx, db, gateway)),
    }
}

/// What deploying the shop needs, and what a protocol is given to deploy
/// itself ([`crate::Protocol::deploy`]).
pub struct Setup<'a> {
    /// The workflow to run.
    pub workflow: &'a Arc<crate::workflow::Workflow>,
    pub workload: &'a crate::workload::Workload,
    pub gateway: &'a gateway::GatewayConfig,
    /// Where the protocol counts its retries and compensations (metrics only).
    pub stats: Arc<crate::stats::Stats>,
}

/// The nodes and stores of a deployed shop.
#[derive(Clone, Debug)]
pub struct Shop {
    pub order: NodeId,
    pub inventory: NodeId,
    pub payment: NodeId,
    pub points: NodeId,
    pub notification: NodeId,
    pub shipping: NodeId,
    pub gateway: NodeId,
    pub order_db: Arc<ReplicaSet>,
    pub inventory_db: Arc<ReplicaSet>,
    pub payment_db: Arc<ReplicaSet>,
    pub points_db: Arc<ReplicaSet>,
    pub notification_db: Arc<ReplicaSet>,
    pub shipping_db: Arc<ReplicaSet>,
    pub ledger: Arc<Mutex<Ledger>>,
    /// The participants the workflow declares beside the shop's, in declared order.
    pub declared: Vec<DeclaredNode>,
}

/// A declared participant's node and store ([`declared`]).
#[derive(Clone, Debug)]
pub struct DeclaredNode {
    pub name: String,
    pub node: NodeId,
    pub db: Arc<ReplicaSet>,
}

impl Shop {
    /// Adds the shop to `world` with the workload's initial stock and balances,
    /// every service node running its [`request_api`].
    pub fn deploy(world: &mut World, setup: &Setup) -> Shop {
        Shop::deploy_with(world, setup, Arc::new(request_api))
    }

    /// As [`Shop::deploy`], with `body` running on every service node: how a
    /// protocol brings its own participant-side code (the outbox's relay and
    /// consumers, say). The stores, their keys and the gateway stay the shop's.
    pub fn deploy_with(world: &mut World, setup: &Setup, body: ServiceBody) -> Shop {
        let wf = setup.workflow.clone();
        let declared: DeclaredBody =
            Arc::new(move |ctx, name, db, _| Box::pin(declared::serve(ctx, name, db, wf.clone())) as Body);
        Shop::deploy_with_declared(world, setup, body, declared)
    }

    /// As [`Shop::deploy_with`], with `declared` running on every declared
    /// participant's node (the outbox's consumers, say) instead of
    /// [`declared::serve`].
    pub fn deploy_with_declared(
        world: &mut World,
        setup: &Setup,
        body: ServiceBody,
        declared: DeclaredBody,
    ) -> Shop {
        let ledger = Arc::new(Mutex::new(Ledger::new(setup.workload.balances.clone())));
        let order_db = world.store("order-db");
        let inventory_db = world.store("inventory-db");
        let payment_db = world.store("payment-db");
        let points_db = world.store("points-db");
        let notification_db = world.store("notification-db");
        let shipping_db = world.store("shipping-db");
        let (l, config) = (ledger.clone(), setup.gateway.clone());
        let gateway = world.node("gateway", move |ctx| gateway::serve(ctx, l.clone(), config.clone()));
        let mut node = |service: Service, db: &Arc<ReplicaSet>| {
            let (db, body) = (db.clone(), body.clone());
            world.node(service.name(), move |ctx| body(ctx, service, db.clone(), gateway))
        };
        let order = node(Service::Order, &order_db);
        let inventory = node(Service::Inventory, &inventory_db);
        let payment = node(Service::Payment, &payment_db);
        let points = node(Service::Points, &points_db);
        let notification = node(Service::Notification, &notification_db);
        let shipping = node(Service::Shipping, &shipping_db);
        let stock: Vec<_> = setup
            .workload
            .stock
            .iter()
            .enumerate()
            .map(|(sku, n)| (inventory::available(sku as u32), (*n).into()))
            .collect();
        for member in &inventory_db.members {
            store::preload(&world.sim().disk(*member), stock.clone());
        }
        let declared = Shop::deploy_declared(world, setup, declared, gateway);
        Shop {
            order,
            inventory,
            payment,
            points,
            notification,
            shipping,
            gateway,
            order_db,
            inventory_db,
            payment_db,
            points_db,
            notification_db,
            shipping_db,
            ledger,
            declared,
        }
    }

    /// Adds every participant the workflow declares beside the shop's: a
    /// node serving [`declared::DeclaredReq`] in front of its store, preloaded
    /// with the initial value of every key of every quantity it keeps.
    fn deploy_declared(
        world: &mut World,
        setup: &Setup,
        body: DeclaredBody,
        gateway: NodeId,
    ) -> Vec<DeclaredNode> {
        let w = setup.workflow;
        let others = w.participants.iter().filter(|p| Service::named(&p.name).is_none());
        let mut out = Vec::new();
        for p in others {
            let db = world.store(&format!("{}-db", p.name));
            if let Some(c) = w.quantities.iter().filter(|q| q.at == p.name).find_map(|q| q.cache) {
                let config = faultline_sim::cache::CacheConfig { aof_sync_ms: c.aof_sync_ms };
                world.cache(&cached::node_name(&p.name), config);
            }
            let (d, body, name) = (db.clone(), body.clone(), p.name.clone());
            let node = world.node(&p.name, move |ctx| body(ctx, name.clone(), d.clone(), gateway));
            let rows: Vec<_> = w
                .quantities
                .iter()
                .filter(|q| q.at == p.name)
                .flat_map(|q| declared::initial(q, setup.workload).into_iter().map(move |(k, v)| (q, k, v)))
                .filter(|(_, _, v)| *v != 0)
                .map(|(q, k, v)| (declared::on_hand(&q.name, &k), v.into()))
                .collect();
            for member in &db.members {
                store::preload(&world.sim().disk(*member), rows.clone());
            }
            out.push(DeclaredNode { name: p.name.clone(), node, db });
        }
        out
    }

    /// Asks declared step `step` of `w` for each of `o`'s targets in turn
    /// ([`declared::targets`]); the first answer that is not done answers
    /// for the step.
    pub async fn declared_step(
        &self,
        ep: &Endpoint,
        (w, step): (&Workflow, usize),
        o: &crate::workload::Order,
        req: impl Fn(declared::Target) -> declared::DeclaredReq,
    ) -> Reply {
        let node = self.declared_node(&w.operation(&w.steps[step].operation).expect("bound").at);
        for t in declared::targets(w, step, o) {
            match ep.call(node, req(t), STEP_TIMEOUT).await.unwrap_or(Reply::Unknown) {
                Reply::Done => {}
                other => return other,
            }
        }
        Reply::Done
    }

    /// The node of the declared participant `name`.
    pub fn declared_node(&self, name: &str) -> NodeId {
        self.declared
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.node)
            .expect("bind: a declared step's participant is deployed")
    }

    /// The store of `service`.
    pub fn db(&self, service: Service) -> &Arc<ReplicaSet> {
        match service {
            Service::Order => &self.order_db,
            Service::Inventory => &self.inventory_db,
            Service::Payment => &self.payment_db,
            Service::Points => &self.points_db,
            Service::Notification => &self.notification_db,
            Service::Shipping => &self.shipping_db,
        }
    }
}

/// The entry point of every protocol: the client places an order.
#[derive(Clone, Debug, Serialize)]
pub struct PlaceOrder(pub crate::workload::Order);

labels!(PlaceOrder { PlaceOrder(_) => "place-order" });
