//! How a workflow becomes a deployment: the protocol's deployment of the
//! participants, the workload's client and, if asked, the reconciler, added
//! to a world; and how ground truth is gathered from one when it has run.

use crate::costs::CostFold;
use crate::looks::Looks;
use crate::protocol::{ProtocolRef, Setup};
use crate::reconcile::{self, Journal, ReconcileConfig};
use crate::shop::gateway::GatewayConfig;
use crate::shop::Shop;
use crate::stats::Stats;
use crate::truth::GroundTruth;
use crate::workflow::{builtin, Workflow};
use crate::workload::{self, Workload};
use faultline_sim::store;
use faultline_sim::{NodeId, ReplicaSet, ReplicationConfig, Sim, World};
use std::sync::{Arc, Mutex};

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
    /// What the last look at ground truth read, for the next, and the
    /// histories the stores' commits add to as they happen.
    pub(crate) looks: Arc<Mutex<Looks>>,
    /// What the protocol's work cost so far, from the same commits.
    pub(crate) costs: Arc<Mutex<CostFold>>,
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
    let looks = Arc::new(Mutex::new(Looks::new(&d.shop)));
    let costs = Arc::new(Mutex::new(CostFold::new(protocol, &d.shop)));
    let (l, c) = (looks.clone(), costs.clone());
    world.sim().on_commit(Box::new(move |commit| {
        l.lock().unwrap().commit(commit);
        c.lock().unwrap().commit(commit);
    }));
    Deployment {
        protocol,
        workflow: workflow.clone(),
        shop: d.shop,
        stores: d.stores,
        broker_db: d.broker,
        reconcile_db,
        stats,
        looks,
        costs,
    }
}

/// The names of every node a deployment of `protocol` on `workflow` (on the
/// shop, if it cannot run that workflow) has under `replication`, in id
/// order, the names of all its stores, and of those that have a replica —
/// what fault plans and scenario targets may name.
pub fn topology(
    protocol: ProtocolRef,
    workflow: &Arc<Workflow>,
    replication: &ReplicationConfig,
) -> Topology {
    // Building a world to read its names costs as much as a small run's
    // start, and every seed's fault plan asks: remembered, for the same
    // protocol (by name: a registry's names are unique, and unit structs
    // share an address), the same workflow (one Arc: kept here, so never
    // another's address) and equal replication settings. A few entries.
    type Seen = Vec<(ProtocolRef, Arc<Workflow>, ReplicationConfig, Topology)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    let same = |(p, w, r, _): &&(ProtocolRef, Arc<Workflow>, ReplicationConfig, Topology)| {
        p.name() == protocol.name() && Arc::ptr_eq(w, workflow) && r == replication
    };
    if let Some((.., t)) = SEEN.lock().unwrap().iter().find(same) {
        return t.clone();
    }
    let t = build_topology(protocol, workflow, replication);
    let mut seen = SEEN.lock().unwrap();
    if seen.len() >= 64 {
        seen.clear(); // many scenario files parsed in one process: start over
    }
    seen.push((protocol, workflow.clone(), replication.clone(), t.clone()));
    t
}

fn build_topology(
    protocol: ProtocolRef,
    workflow: &Arc<Workflow>,
    replication: &ReplicationConfig,
) -> Topology {
    let workflow = match protocol.supports(workflow) {
        Ok(()) => workflow.clone(),
        Err(_) => builtin::shop(),
    };
    let config = faultline_sim::WorldConfig { replication: replication.clone(), ..Default::default() };
    let mut world = World::new(0, config);
    let workload = workload::WorkloadSpec { orders: 0, ..Default::default() }.generate(0);
    deploy(&mut world, &workload, protocol, &workflow, &GatewayConfig::default(), None);
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
#[derive(Clone)]
pub struct Topology {
    pub nodes: Vec<String>,
    pub stores: Vec<String>,
    pub replicated: Vec<String>,
}

impl Topology {
    /// Every name any of `protocols` deploys, each once: a scenario may name a
    /// node only some protocols have (the coordinator, the broker).
    pub fn union(
        protocols: &[ProtocolRef],
        workflow: &Arc<Workflow>,
        replication: &ReplicationConfig,
    ) -> Topology {
        let mut all = Topology { nodes: vec![], stores: vec![], replicated: vec![] };
        for protocol in protocols {
            let t = topology(*protocol, workflow, replication);
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

impl GroundTruth {
    /// Gathers ground truth from `dep` as it stands in `sim` now.
    pub fn collect(dep: &Deployment, sim: &Sim, workload: &Workload) -> GroundTruth {
        let s = &dep.shop;
        // The truth of a replicated store is what its current primary has.
        let table = |set: &ReplicaSet| store::recover(&sim.disk(set.primary()));
        let ledger = s.ledger.lock().unwrap().clone();
        let (held, declined) = (ledger.held(), ledger.declined());
        let looks = &mut *dep.looks.lock().unwrap();
        GroundTruth {
            workflow: dep.workflow.clone(),
            workload: workload.clone(),
            orders: table(&s.order_db),
            inventory: table(&s.inventory_db),
            payments: table(&s.payment_db),
            points: table(&s.points_db),
            notifications: table(&s.notification_db),
            shipments: table(&s.shipping_db),
            declared: s.declared.iter().map(|d| (d.name.clone(), table(&d.db))).collect(),
            own: dep.stores.iter().map(|set| (set.name.clone(), table(set))).collect(),
            broker: dep.broker_db.as_deref().map(|db| looks.broker.read(table(db))),
            balances: ledger.balances,
            merchant: ledger.merchant,
            held,
            ledger: ledger.entries,
            lost: sim.lost_writes().clone(),
            order_history: looks.orders.read(),
            payment_history: looks.payments.read(),
            ship_history: looks.shipments.read(),
            journal: dep.reconcile_db.as_deref().map(|db| Journal::read(&table(db))),
            refusals: sim.trace().first_replies().clone(),
            declined,
            by_id: Default::default(),
        }
    }
}
