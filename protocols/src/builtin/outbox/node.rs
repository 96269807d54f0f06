//! A service node in the choreography: its relay, a consumer per topic it
//! listens to, and its request API (the order service takes new orders, the
//! payment service the gateway's callbacks, shipping the customers'
//! cancellations), all in one incarnation.

use super::{consumer, relay, Choreography, Service};
use crate::shop::order;
use crate::shop::payment::{self, PaymentReq};
use crate::shop::shipping::{self, ShipReq};
use crate::shop::{labels, unknown_or, Reply, STORE_TIMEOUT};
use crate::stats::Stats;
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
}

/// What a service's reactions work with.
pub struct Svc {
    pub ctx: NodeCtx,
    pub service: Service,
    pub store: StoreClient,
    pub ep: Arc<Endpoint>,
    pub gateway: NodeId,
    /// Wakes the relay after a commit that emitted events.
    pub kick: Arc<Notify>,
    pub broker: BrokerClient,
    pub stats: Arc<Stats>,
    pub choreography: Arc<Choreography>,
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

pub async fn serve(ctx: NodeCtx, service: Service, db: Arc<ReplicaSet>, gateway: NodeId, wiring: Wiring) {
    let ep = ctx.endpoint().await;
    let store = StoreClient::new(ep.clone(), db, STORE_TIMEOUT);
    let broker = BrokerClient::new(ep.clone(), wiring.broker, BROKER_TIMEOUT);
    let kick = Arc::new(Notify::new());
    tokio::spawn(relay::run(ctx.clone(), service, store.clone(), broker.clone(), kick.clone()));
    let svc = Arc::new(Svc {
        ctx,
        service,
        store: store.clone(),
        ep: ep.clone(),
        gateway,
        kick: kick.clone(),
        broker: broker.clone(),
        stats: wiring.stats,
        choreography: wiring.choreography.clone(),
    });
    for topic in wiring.choreography.topics(service) {
        tokio::spawn(consumer::run(svc.clone(), broker.clone(), topic));
    }
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
