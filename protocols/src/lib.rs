//! faultline-protocols: the shop domain, the protocol boundary, the protocols
//! faultline ships, and the checker that judges any of them from ground truth.
//!
//! The module list is a map of the code. The workflow model, at the bottom:
//! - [`workflow`] — a team's order flow as data: participants, quantities,
//!   operations, steps, state machines; the shop is one built-in workflow.
//!
//! The harness side:
//! - [`protocol`] — the boundary: the [`Protocol`] trait and the [`Registry`].
//! - [`workload`] — customers, SKUs with limited stock, orders over time.
//! - [`shop`] — the participants (order, inventory, payment, points,
//!   notification, shipping), each in front of its own store, and the payment gateway.
//! - [`check`] — the invariants, computed from ground truth.
//! - [`run`] — one run: world, nemesis, settlement, ground truth, check.
//! - [`reconcile`] — the reconciler: compares the books with the gateway's
//!   statement and repairs what disagrees, with any protocol.
//! - [`mutant`] — known bugs that can be switched on, for the checker to catch.
//! - [`client`] — the workload driver that places orders.
//! - [`retry`], [`stats`] — building blocks for protocols: backoff, and what
//!   protocols report about their own work (metrics only).
//!
//! The protocols, each a user of the boundary like a team's own:
//! - [`builtin`] — the Saga, TCC, the outbox choreography and 2PC.

pub mod builtin;
pub mod check;
pub mod client;
pub mod mutant;
pub mod protocol;
pub mod reconcile;
pub mod retry;
pub mod run;
pub mod shop;
pub mod stats;
pub mod workflow;
pub mod workload;

pub use protocol::{Protocol, ProtocolRef, Registry};

use faultline_sim::{NodeId, ReplicaSet, ReplicationConfig, World};
use protocol::Setup;
use reconcile::ReconcileConfig;
use shop::gateway::GatewayConfig;
use shop::Shop;
use stats::Stats;
use std::sync::Arc;
use workflow::Workflow;
use workload::Workload;

/// A shop with a protocol deployed on it, ready to run.
pub struct Deployment {
    pub protocol: ProtocolRef,
    /// The workflow it runs.
    pub workflow: Arc<Workflow>,
    pub shop: Shop,
    /// The protocol's own stores.
    pub stores: Vec<Arc<ReplicaSet>>,
    /// The message broker's store, if the protocol talks through one.
    pub broker_db: Option<Arc<ReplicaSet>>,
    /// The reconciler's journal, if it runs.
    pub reconcile_db: Option<Arc<ReplicaSet>>,
    pub stats: Arc<Stats>,
}

/// Adds the protocol (with its shop), the workload driver and, if asked, the
/// reconciler to `world` — the reconciler last, so every other node and store
/// has the same id with it or without.
pub fn deploy(
    world: &mut World,
    workload: &Workload,
    protocol: ProtocolRef,
    workflow: &Arc<Workflow>,
    gateway: &GatewayConfig,
    reconcile: Option<&ReconcileConfig>,
) -> Deployment {
    let stats = Arc::new(Stats::default());
    let setup = Setup { workflow, workload, gateway, stats: stats.clone() };
    let d = protocol.deploy(world, &setup);
    let (orders, st, entry, shipping) = (workload.orders.clone(), stats.clone(), d.entry, d.shop.shipping);
    world.node("client", move |ctx| (entry.client)(ctx, (entry.node, shipping), orders.clone(), st.clone()));
    let reconcile_db = reconcile.map(|config| reconcile::deploy(world, &d.shop, &workload.orders, config));
    Deployment {
        protocol,
        workflow: workflow.clone(),
        shop: d.shop,
        stores: d.stores,
        broker_db: d.broker,
        reconcile_db,
        stats,
    }
}

/// The names of every node a deployment of `protocol` has under `replication`,
/// in id order, the names of all its stores, and of those that have a replica —
/// what fault plans and scenario targets may name.
pub fn topology(protocol: ProtocolRef, replication: &ReplicationConfig) -> Topology {
    let config = faultline_sim::WorldConfig { replication: replication.clone(), ..Default::default() };
    let mut world = World::new(0, config);
    let workload = workload::WorkloadSpec { orders: 0, ..Default::default() }.generate(0);
    deploy(&mut world, &workload, protocol, &workflow::builtin::shop(), &GatewayConfig::default(), None);
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

impl Topology {
    /// Every name any of `protocols` deploys, each once: a scenario may name a
    /// node only some protocols have (the coordinator, the broker).
    pub fn union(protocols: &[ProtocolRef], replication: &ReplicationConfig) -> Topology {
        let mut all = Topology { nodes: vec![], stores: vec![], replicated: vec![] };
        for protocol in protocols {
            let t = topology(*protocol, replication);
            for (into, from) in
                [(&mut all.nodes, t.nodes), (&mut all.stores, t.stores), (&mut all.replicated, t.replicated)]
            {
                for name in from {
                    if !into.contains(&name) {
                        into.push(name);
                    }
                }
            }
        }
        all
    }
}
