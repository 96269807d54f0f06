//! The protocol boundary: everything the harness needs from a protocol, and the
//! registry the harness looks protocols up in. The four built-ins implement it
//! exactly as a team's own protocol does; nothing in the harness names one.

use crate::mutant::Mutant;
pub use crate::shop::Setup;
use crate::shop::{Body, Reply, Service, Shop};
use crate::stats::Stats;
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{NodeCtx, NodeId, ReplicaSet, Request, Value, World};
use std::fmt;
use std::sync::Arc;

/// A distributed-transaction protocol that drives the shop's order workflow.
///
/// The contract with the checker: business state lives where the checker reads
/// ground truth — the shop's stores under the keys of [`crate::shop`]'s
/// modules, and the payment gateway's ledger, reached only through
/// [`crate::shop::gateway::GatewayReq`]. A protocol may run its own code on the
/// service nodes ([`Shop::deploy_with`]) as long as it keeps that contract; its
/// own bookkeeping (logs, barriers, inboxes) may live anywhere.
pub trait Protocol: Send + Sync + 'static {
    /// The stable name a command line and a scenario's `[expect.NAME]` use.
    fn name(&self) -> &'static str;

    /// One line: what the protocol does.
    fn describe(&self) -> &'static str;

    /// Adds the shop (with [`Shop::deploy`] or [`Shop::deploy_with`]), the
    /// protocol's own nodes and stores, and says where orders enter.
    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed;

    /// What in the protocol's own durable state is not settled yet: an
    /// unfinished transaction in its log, an undelivered message. Read after
    /// faults heal; anything left at the deadline breaks `eventual-settlement`.
    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled>;

    /// The resource a committed write to a service's row holds, and its new
    /// level there (units reserved, 1 for a lock held): how the cost metrics
    /// see what this protocol keeps from other orders. `None` for other rows.
    fn held(&self, service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)>;

    /// Why a cancelled order was refused by the business, where the
    /// protocol's own records say and no participant's reply did (the
    /// outbox's events, say). `None`: nothing to add.
    fn refusal(&self, _truth: &GroundTruth, _order: u32) -> Option<crate::cancel::CancelCause> {
        None
    }

    /// Whether it can drive `workflow`; the error says what it cannot do. A
    /// harness runs a protocol only on the workflows it supports.
    fn supports(&self, _workflow: &crate::workflow::Workflow) -> Result<(), String> {
        Ok(())
    }

    /// Named spots in the protocol's code where a scenario may crash its node.
    fn crash_points(&self) -> &'static [CrashPoint] {
        &[]
    }

    /// The known bugs that can be switched on in this protocol's code.
    fn mutants(&self) -> &'static [Mutant] {
        &[]
    }
}

/// A registered protocol: protocols are values that live for the whole program.
pub type ProtocolRef = &'static dyn Protocol;

impl fmt::Debug for dyn Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for dyn Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for dyn Protocol {}

/// What a protocol deployed.
pub struct Deployed {
    pub shop: Shop,
    /// Where and how the workload's client places orders.
    pub entry: Entry,
    /// The protocol's own stores (a coordinator's log), read by [`Protocol::unsettled`].
    pub stores: Vec<Arc<ReplicaSet>>,
    /// The message broker's store, if the protocol talks through one.
    pub broker: Option<Arc<ReplicaSet>>,
}

/// The door orders come in by: a node and the request that places an order
/// there. The client retries each order until the answer is [`Reply::Done`].
#[derive(Clone)]
pub struct Entry {
    pub(crate) node: NodeId,
    pub(crate) client: Client,
}

/// The client node's life, given the entry node and the shipping service's
/// (where customers cancel), the orders and the stats.
pub(crate) type Client = Arc<dyn Fn(NodeCtx, (NodeId, NodeId), Vec<Order>, Arc<Stats>) -> Body + Send + Sync>;

impl Entry {
    pub fn new<R: Request<Response = Reply> + 'static>(node: NodeId, place: fn(Order) -> R) -> Entry {
        let client = move |ctx, nodes, orders, stats| -> Body {
            Box::pin(crate::client::run(ctx, nodes, orders, stats, place))
        };
        Entry { node, client: Arc::new(client) }
    }
}

/// Something a protocol has left undone: (who, why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    pub subject: String,
    pub reason: String,
}

impl Unsettled {
    pub fn new(subject: impl Into<String>, reason: impl Into<String>) -> Unsettled {
        Unsettled { subject: subject.into(), reason: reason.into() }
    }
}

/// What a protocol holds back from other orders while a transaction is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// Stock set aside and not sold: unit·seconds.
    ReservedStock,
    /// Rows locked against other transactions: lock·seconds.
    RowLock,
}

/// A named spot in code where a scenario may crash the node (`[crash_points]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub name: &'static str,
    /// Where it is and what has happened when it fires.
    pub place: &'static str,
}

/// Crash points every protocol has: they are in the shared stores.
pub const HARNESS_CRASH_POINTS: [CrashPoint; 1] = [CrashPoint {
    name: faultline_sim::store::server::AFTER_COMMIT,
    place: "any store: a transaction is committed and synced, its reply not yet sent",
}];

/// A name that is not registered, with the names that are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("unknown protocol {name:?}; valid protocols: {valid}")]
    UnknownProtocol { name: String, valid: String },
    #[error("unknown mutant {name:?}; valid mutants: {valid}")]
    UnknownMutant { name: String, valid: String },
    #[error("mutant {mutant} is a bug in {in_}, not in {protocol}")]
    MutantNotIn { mutant: &'static str, in_: String, protocol: &'static str },
}

/// The protocols a harness knows, in the order they were registered.
#[derive(Clone, Default)]
pub struct Registry {
    protocols: Vec<ProtocolRef>,
}

impl Registry {
    /// No protocols yet.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The four protocols faultline ships.
    pub fn builtin() -> Registry {
        crate::builtin::register(Registry::new())
    }

    /// Adds a protocol. Panics if its name is taken: that is a programming
    /// error in whoever builds the registry, found on the first run.
    pub fn with(mut self, protocol: ProtocolRef) -> Registry {
        assert!(self.get(protocol.name()).is_err(), "protocol {:?} registered twice", protocol.name());
        self.protocols.push(protocol);
        self
    }

    pub fn all(&self) -> &[ProtocolRef] {
        &self.protocols
    }

    /// A protocol by name; the error lists the valid names.
    pub fn get(&self, name: &str) -> Result<ProtocolRef, LookupError> {
        self.protocols.iter().copied().find(|p| p.name() == name).ok_or_else(|| {
            LookupError::UnknownProtocol { name: name.to_string(), valid: self.names().join(", ") }
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.protocols.iter().map(|p| p.name()).collect()
    }

    /// Every mutant once, in registration order, with the protocols it lives
    /// in — the harness's own (the reconciler's) in every one.
    pub fn mutants(&self) -> Vec<(Mutant, Vec<ProtocolRef>)> {
        let mut out: Vec<(Mutant, Vec<ProtocolRef>)> = Vec::new();
        for p in &self.protocols {
            for m in p.mutants().iter().chain(&crate::mutant::HARNESS) {
                match out.iter_mut().find(|(known, _)| known == m) {
                    Some((_, ps)) => ps.push(*p),
                    None => out.push((*m, vec![*p])),
                }
            }
        }
        out
    }

    /// A mutant by name; the error lists the valid names.
    pub fn mutant(&self, name: &str) -> Result<Mutant, LookupError> {
        let all = self.mutants();
        all.iter().map(|(m, _)| *m).find(|m| m.name == name).ok_or_else(|| LookupError::UnknownMutant {
            name: name.to_string(),
            valid: all.iter().map(|(m, _)| m.name).collect::<Vec<_>>().join(", "),
        })
    }

    /// The protocols whose code `m` is in.
    pub fn protocols_with(&self, m: Mutant) -> Vec<ProtocolRef> {
        self.mutants().into_iter().find(|(known, _)| *known == m).map(|(_, ps)| ps).unwrap_or_default()
    }

    /// An error unless `m` is a bug in `protocol`'s code.
    pub fn check_mutant(&self, protocol: ProtocolRef, m: Mutant) -> Result<(), LookupError> {
        if protocol.mutants().contains(&m) || crate::mutant::HARNESS.contains(&m) {
            return Ok(());
        }
        let in_: Vec<_> = self.protocols_with(m).iter().map(|p| p.name()).collect();
        Err(LookupError::MutantNotIn { mutant: m.name, in_: in_.join(", "), protocol: protocol.name() })
    }

    /// Every crash point: the harness's, then each protocol's, each name once.
    pub fn crash_points(&self) -> Vec<CrashPoint> {
        let mut out = HARNESS_CRASH_POINTS.to_vec();
        for p in self.protocols.iter().flat_map(|p| p.crash_points()) {
            if !out.iter().any(|known| known.name == p.name) {
                out.push(*p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn mutant_names_are_unique_and_parse_back() {
        let r = Registry::builtin();
        let all = r.mutants();
        assert_eq!(all.len(), 28);
        for (m, protocols) in &all {
            assert_eq!(r.mutant(m.name), Ok(*m));
            assert!(!protocols.is_empty() && !m.breaks.is_empty());
            assert_eq!(all.iter().filter(|(o, _)| o.name == m.name).count(), 1, "{}", m.name);
        }
        let err = r.mutant("nope").unwrap_err().to_string();
        assert!(err.contains("valid mutants: saga-timeout-is-failure"), "{err}");
    }
}
