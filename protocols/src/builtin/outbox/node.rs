//! A service node in the choreography: its relay, a consumer per topic it
//! listens to, and its request API (the order service takes new orders, the
//! payment service the gateway's callbacks, shipping the customers'
//! cancellations), all in one incarnation. A declared participant's node
//! runs a relay and, for each of its steps, a consumer group.

use super::{consumer, relay, Choreography, Member, Service};
use crate::shop::cached::Cached;
use crate::shop::order;
use crate::shop::payment::{self, PaymentReq};
use crate::shop::shipping::{self, ShipReq};
use crate::shop::{labels, unknown_or, Reply, STORE_TIMEOUT};
use crate::stats::Stats;
use crate::workflow::Workflow;
use crate::workload::Order;
use faultline_sim::broker::BrokerClient;
use faultline_sim::{Endpoint, NodeCtx, NodeId, Op, ReplicaSet, StoreClient};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const BROKER_TIMEOUT: Duration = Duration::from_millis(300);

/// Where a service's events go, and what it needs to reach.
#[derive(Clone)]
pub struct Wiring {
    pub broker: NodeId,
    pub stats: Arc<Stats>,
    /// Who reacts to what.
    pub choreography: Arc<Choreography>,
    /// The workflow: what a declared step applies.
    pub workflow: Arc<Workflow>,
}

/// What a service's reactions work with.
pub struct Svc {
    pub ctx: NodeCtx,
    /// Whose reactions these are.
    pub member: Member,
    pub store: StoreClient,
    pub ep: Arc<Endpoint>,
    pub gateway: NodeId,
    /// Wakes the relay after a commit that emitted events.
    pub kick: Arc<Notify>,
    pub broker: BrokerClient,
    pub stats: Arc<Stats>,
    pub choreography: Arc<Choreography>,
    pub workflow: Arc<Workflow>,
    /// The participant's cache, if it keeps a quantity in one.
    pub cache: Option<Arc<Cached>>,
}

/// The choreography's entry: create the order and emit `OrderPlaced`, in one
/// local transaction of the order service.
#[derive(Clone, Debug, Serialize)]
pub struct Place(pub Order);

labels!(Place { Place(_) => "order-place" });

async fn place(store: &StoreClient, o: Order) -> Reply {
    let mut ops = vec![Op::InsertIfAbsent(order::key(o.id), order::PENDING.into())];
    ops.extend(super::emit(&super::Event::new(super::Kind::OrderPlaced, &o)));
    match store.txn(ops).await {
        Ok(_) => Reply::Done,
        // Placed by an earlier attempt, whose event went with it.
        Err(e) => unknown_or(e, |_| Reply::Done),
    }
}

/// Starts the relay and, for each of `members`, its consumers: what every
/// node in the choreography runs. Returns the store and the relay's kick.
async fn start(
    ctx: &NodeCtx,
    db: Arc<ReplicaSet>,
    gateway: NodeId,
    wiring: &Wiring,
    (members, cache): (&[Member], Option<Arc<Cached>>),
) -> (Arc<Endpoint>, StoreClient, Arc<Notify>) {
    let ep = ctx.endpoint().await;
    let store = StoreClient::new(ep.clone(), db, STORE_TIMEOUT);
    let broker = BrokerClient::new(ep.clone(), wiring.broker, BROKER_TIMEOUT);
    let kick = Arc::new(Notify::new());
    tokio::spawn(relay::run(ctx.clone(), store.clone(), broker.clone(), kick.clone()));
    if let Some(c) = &cache {
        tokio::spawn(c.clone().sync(store.clone(), ep.clone()));
    }
    for member in members {
        let svc = Arc::new(Svc {
            ctx: ctx.clone(),
            member: *member,
            store: store.clone(),
            ep: ep.clone(),
            gateway,
            kick: kick.clone(),
            broker: broker.clone(),
            stats: wiring.stats.clone(),
            choreography: wiring.choreography.clone(),
            workflow: wiring.workflow.clone(),
            cache: cache.clone(),
        });
        for topic in wiring.choreography.topics(*member) {
            tokio::spawn(consumer::run(svc.clone(), broker.clone(), topic));
        }
    }
    (ep, store, kick)
}

/// A declared participant's node: the consumers of each of its steps.
pub async fn serve_declared(
    ctx: NodeCtx,
    participant: String,
    db: Arc<ReplicaSet>,
    gateway: NodeId,
    wiring: Wiring,
) {
    let w = &wiring.workflow;
    let at = |m: &Member| match m {
        Member::Step(n) => {
            w.operation(&w.steps[usize::from(*n)].operation).is_some_and(|o| o.at == participant)
        }
        Member::Shop(_) => false,
    };
    let members: Vec<Member> = wiring.choreography.members().into_iter().filter(at).collect();
    let cache = Cached::of(w, &participant, ctx.sim());
    start(&ctx, db, gateway, &wiring, (&members, cache)).await;
    std::future::pending::<()>().await
}

pub async fn serve(ctx: NodeCtx, service: Service, db: Arc<ReplicaSet>, gateway: NodeId, wiring: Wiring) {
    let (ep, store, kick) = start(&ctx, db, gateway, &wiring, (&[Member::Shop(service)], None)).await;
    match service {
        Service::Order => ep.serve(move |Place(o): Place, _from| {
            let (store, kick) = (store.clone(), kick.clone());
            async move {
                let reply = place(&store, o).await;
                if reply == Reply::Done {
                    kick.notify_one();
                }
                reply
            }
        }),
        Service::Payment => {
            let ep2 = ep.clone();
            ep.serve(move |req: PaymentReq, _from| payment::handle(store.clone(), ep2.clone(), gateway, req))
        }
        // The customer's cancellation, racing the shipment the consumer makes.
        Service::Shipping => {
            ep.serve(move |req: ShipReq, _from| shipping::handle(store.clone(), gateway, req))
        }
        Service::Inventory | Service::Points | Service::Notification => {}
    }
    std::future::pending::<()>().await
}
