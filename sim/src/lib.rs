//! faultline-sim: a deterministic world for distributed protocols, on madsim.
//! Nothing here knows about shops or orders; a run is a pure function of its seed.
//!
//! The module list is a map of the code:
//! - [`world`] — the world of one run: nodes, their lifecycle, fault actions.
//! - [`rpc`] — typed request/response messaging with timeouts, every message traced.
//! - `calls` — the calls a node waits on: their deadlines, and their answers on the way.
//! - `dense` — vectors indexed by small numbers, grown on first use.
//! - `flight` — requests (and answers no call takes) on their way to a node, held till due.
//! - `net` — the network's fault state: nodes up, cut links, loss, duplication.
//! - [`disk`] — a per-node log with fsync; a crash loses the unsynced tail.
//! - [`store`] — a transactional key-value store on a disk, served over the network,
//!   replicated primary → replica.
//! - [`broker`] — topics and consumer groups with at-least-once delivery.
//! - [`cache`] — an in-memory counter cache (Redis-like), lost at a crash
//!   unless an append-only log synced every second keeps part of it.
//! - [`cluster`] — replica sets: who is primary, failover, replication modes.
//! - [`fault`] — fault plans (timed events) and the model they are drawn from.
//! - [`nemesis`] — executes a plan in the fault window, then heals everything.
//! - [`trace`] — the event trace of a run and its stable hash.
//! - [`order`] — the order a task works for, carried by its messages.
//! - [`stream`] — independent random streams, one per purpose, node and order.

pub mod broker;
pub mod cache;
mod calls;
pub mod cluster;
mod dense;
pub mod disk;
pub mod fault;
mod flight;
pub mod nemesis;
pub(crate) mod net;
pub mod order;
pub mod rpc;
pub mod store;
pub mod stream;
pub mod trace;
pub mod world;

pub use cluster::{ReplicaSet, Replication, ReplicationConfig};
pub use fault::{CommitAction, Fault, FaultModel, FaultPlan, MessageAction, TimedFault};
pub use net::Aim;
pub use rpc::{Endpoint, Message, Request, RpcError};
pub use store::{Op, OpResult, StoreClient, TxnError, Value};
pub use stream::{Draw, Purpose};
pub use trace::{DropReason, Event, EventKind, NodeId, Trace};
pub use world::{CommitSink, LostWrites, NodeCtx, Sim, World, WorldConfig, FAILOVER_LOST_WRITES};
