//! Replica sets: which node of a store is its primary, in which epoch, and how
//! it replicates. This is the control plane a real deployment gets from a
//! failure detector and a coordination service (Orchestrator, Patroni): here it
//! is world state, so clients resolve the primary and a demoted primary learns
//! of its demotion instantly — the fencing a real system buys with leases.

use crate::trace::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How a primary replicates to its replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Replication {
    /// One node, no replica.
    #[default]
    None,
    /// Acknowledge after the local commit; ship to the replica afterwards. A
    /// failover loses what was acknowledged but not yet shipped.
    Async,
    /// Acknowledge only once the replica has the write durably.
    SemiSync,
}

/// Replication settings of a world's stores. Plain data, printable with the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// The mode of every store not named in `stores`. Default none.
    pub mode: Replication,
    /// How long after the primary's crash the replica is promoted. Default 1000.
    pub detection_ms: u64,
    /// Per-store modes, by store name, overriding `mode`.
    pub stores: BTreeMap<String, Replication>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig { mode: Replication::None, detection_ms: 1_000, stores: BTreeMap::new() }
    }
}

impl ReplicationConfig {
    /// The mode of the store named `store`.
    pub fn mode_of(&self, store: &str) -> Replication {
        self.stores.get(store).copied().unwrap_or(self.mode)
    }
}

/// One store's nodes and who leads them.
#[derive(Debug)]
pub struct ReplicaSet {
    pub name: String,
    pub members: Vec<NodeId>,
    pub mode: Replication,
    state: Mutex<Leader>,
}

#[derive(Clone, Copy, Debug)]
struct Leader {
    primary: NodeId,
    epoch: u64,
    /// The epoch whose primary the replica has fully resynced with, if any.
    replica_follows: Option<u64>,
}

impl ReplicaSet {
    pub(crate) fn new(name: &str, members: Vec<NodeId>, mode: Replication) -> ReplicaSet {
        assert!(!members.is_empty() && members.len() <= 2, "a replica set has one or two members");
        // Both members start from the same preloaded disk: the replica follows.
        let state = Mutex::new(Leader { primary: members[0], epoch: 1, replica_follows: Some(1) });
        ReplicaSet { name: name.to_string(), members, mode, state }
    }

    pub fn primary(&self) -> NodeId {
        self.state.lock().unwrap().primary
    }

    pub fn epoch(&self) -> u64 {
        self.state.lock().unwrap().epoch
    }

    pub fn is_primary(&self, node: NodeId) -> bool {
        self.primary() == node
    }

    /// The member that is not `node`, if the set has two.
    pub fn peer(&self, node: NodeId) -> Option<NodeId> {
        self.members.iter().copied().find(|m| *m != node)
    }

    /// The replica reports that it resynced with the primary of `epoch`.
    pub(crate) fn replica_resynced(&self, epoch: u64) {
        let mut s = self.state.lock().unwrap();
        if s.epoch == epoch {
            s.replica_follows = Some(epoch);
        }
    }

    /// Whether the replica has every write the primary acknowledged — true under
    /// semi-sync once it has resynced with the current primary. Under async it
    /// may always lag: promotion is allowed anyway, and loses the lag.
    pub fn replica_in_sync(&self) -> bool {
        let s = self.state.lock().unwrap();
        s.replica_follows == Some(s.epoch)
    }

    /// Makes `to` the primary in a new epoch; returns the new epoch. The old
    /// primary becomes a replica that has not resynced yet.
    pub(crate) fn promote(&self, to: NodeId) -> u64 {
        assert!(self.members.contains(&to), "{:?} is not a member of {}", to, self.name);
        let mut s = self.state.lock().unwrap();
        assert_ne!(s.primary, to, "promoting the primary itself");
        s.primary = to;
        s.epoch += 1;
        s.replica_follows = None;
        s.epoch
    }
}
