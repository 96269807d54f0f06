//! faultline-protocols: the shop domain, the distributed-transaction protocols
//! that drive it, and the checker that judges them from ground truth.
//!
//! The module list is a map of the code:
//! - [`workload`] — customers, SKUs with limited stock, orders over time.
//! - [`shop`] — the services (order, inventory, payment, points, notification),
//!   each in front of its own store, and the external payment gateway.
//! - [`saga`] — the orchestrated Saga.
//! - [`tcc`] — Try / Confirm / Cancel with branch barriers.
//! - [`outbox`] — choreography through transactional outboxes and inboxes.
//! - [`twopc`] — two-phase commit with row locks, the baseline.
//! - [`txlog`] — the coordinators' durable log of global transactions.
//! - [`client`] — the workload driver that places orders.
//! - [`check`] — the invariants, computed from ground truth.
//! - [`mutant`] — known bugs that can be switched on, for the checker to catch.
//! - [`run`] — one run: world, nemesis, settlement, ground truth, check.
//! - [`retry`] — backoff for steps whose outcome is unknown.
//! - [`stats`] — what protocols report about their own work (metrics only).

pub mod check;
pub mod client;
pub mod mutant;
pub mod outbox;
pub mod retry;
pub mod run;
pub mod saga;
pub mod shop;
pub mod stats;
pub mod tcc;
pub mod twopc;
pub mod txlog;
pub mod workload;

use faultline_sim::{NodeId, ReplicaSet, ReplicationConfig, World};
use serde::{Deserialize, Serialize};
use shop::gateway::GatewayConfig;
use shop::order::OrderReq;
use shop::{PlaceOrder, Shop};
use stats::Stats;
use std::sync::Arc;
use workload::Workload;

/// The crash points in protocol code, with where they are.
pub const CRASH_POINTS: [(&str, &str); 3] = [
    (
        faultline_sim::store::server::AFTER_COMMIT,
        "any store: a transaction is committed and synced, its reply not yet sent",
    ),
    (
        outbox::relay::AFTER_PUBLISH,
        "outbox relay: the broker acknowledged a publish, the row is not yet marked sent",
    ),
    (tcc::BEFORE_DECISION, "TCC / 2PC coordinator: every vote is in, the decision is not yet logged"),
];

/// A protocol that can drive the shop's workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Saga,
    Tcc,
    Outbox,
    #[serde(rename = "2pc")]
    TwoPc,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [Protocol::Saga, Protocol::Tcc, Protocol::Outbox, Protocol::TwoPc];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Saga => "saga",
            Protocol::Tcc => "tcc",
            Protocol::Outbox => "outbox",
            Protocol::TwoPc => "2pc",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Saga => "orchestrated Saga: logged steps, compensations in reverse on failure",
            Protocol::Tcc => "TCC: try every branch, then confirm all or cancel all, guarded by barriers",
            Protocol::Outbox => "choreography: services react to events sent through outboxes, applied once through inboxes",
            Protocol::TwoPc => "two-phase commit: prepare every participant under row locks, then commit or abort all (baseline)",
        }
    }

    /// Parses a protocol name; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Protocol, String> {
        Protocol::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
            let valid: Vec<_> = Protocol::ALL.iter().map(|p| p.name()).collect();
            format!("unknown protocol {name:?}; valid protocols: {}", valid.join(", "))
        })
    }
}

/// A shop with a protocol deployed on it, ready to run.
pub struct Deployment {
    pub protocol: Protocol,
    pub shop: Shop,
    /// The protocol's own store (the saga log), if it has one.
    pub coordinator_db: Option<Arc<ReplicaSet>>,
    /// The message broker's store, if the protocol talks through one.
    pub broker_db: Option<Arc<ReplicaSet>>,
    pub stats: Arc<Stats>,
}

/// Adds the shop, the protocol's nodes and the workload driver to `world`.
pub fn deploy(
    world: &mut World,
    workload: &Workload,
    protocol: Protocol,
    gateway: &GatewayConfig,
) -> Deployment {
    let stats = Arc::new(Stats::default());
    let orders = workload.orders.clone();
    if protocol == Protocol::Outbox {
        let (broker, broker_db) = world.broker("broker");
        let wiring = outbox::Wiring { broker, stats: stats.clone() };
        let shop = Shop::deploy_wired(world, workload, gateway, Some(wiring));
        let (entry, st) = (shop.order, stats.clone());
        world.node("client", move |ctx| client::run(ctx, entry, orders.clone(), st.clone(), OrderReq::Place));
        return Deployment { protocol, shop, coordinator_db: None, broker_db: Some(broker_db), stats };
    }
    let shop = Shop::deploy(world, workload, gateway);
    // Every coordinator answers to the same names, so scenarios can target them.
    let db = world.store("coordinator-db");
    let (d, s, st) = (db.clone(), shop.clone(), stats.clone());
    let entry = match protocol {
        Protocol::Saga => {
            world.node("coordinator", move |ctx| saga::serve(ctx, d.clone(), s.clone(), st.clone()))
        }
        Protocol::Tcc => {
            world.node("coordinator", move |ctx| tcc::serve(ctx, d.clone(), s.clone(), st.clone()))
        }
        Protocol::TwoPc => {
            world.node("coordinator", move |ctx| twopc::serve(ctx, d.clone(), s.clone(), st.clone()))
        }
        Protocol::Outbox => unreachable!("deployed above"),
    };
    let st = stats.clone();
    world.node("client", move |ctx| client::run(ctx, entry, orders.clone(), st.clone(), PlaceOrder));
    Deployment { protocol, shop, coordinator_db: Some(db), broker_db: None, stats }
}

/// The names of every node a deployment of `protocol` has under `replication`,
/// in id order, the names of all its stores, and of those that have a replica —
/// what fault plans and scenario targets may name.
pub fn topology(protocol: Protocol, replication: &ReplicationConfig) -> Topology {
    let config = faultline_sim::WorldConfig { replication: replication.clone(), ..Default::default() };
    let mut world = World::new(0, config);
    let workload = workload::WorkloadSpec { orders: 0, ..Default::default() }.generate(0);
    deploy(&mut world, &workload, protocol, &GatewayConfig::default());
    let sim = world.sim();
    let nodes = (0..sim.node_count()).map(|i| sim.name(NodeId(i as u16))).collect();
    let sets = sim.replica_sets();
    Topology {
        nodes,
        stores: sets.iter().map(|s| s.name.clone()).collect(),
        replicated: sets.iter().filter(|s| s.members.len() > 1).map(|s| s.name.clone()).collect(),
    }
}

/// The names a deployment answers to.
pub struct Topology {
    pub nodes: Vec<String>,
    pub stores: Vec<String>,
    pub replicated: Vec<String>,
}
