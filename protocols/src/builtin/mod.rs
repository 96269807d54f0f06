//! The four protocols faultline ships. Each implements [`Protocol`](crate::Protocol) in its own
//! module and is registered by [`register`] exactly as a team's protocol is.
//!
//! - [`saga`] — the orchestrated Saga.
//! - [`tcc`] — Try / Confirm / Cancel with branch barriers.
//! - [`outbox`] — choreography through transactional outboxes and inboxes.
//! - [`twopc`] — two-phase commit with row locks, the baseline.
//!
//! Their building blocks:
//! - [`txlog`] — the coordinators' durable log of global transactions.
//! - [`coordinator`] — the two-phase coordinator TCC and 2PC share.
//! - [`barrier`](crate::shop::barrier), [`branches`] — the participant side of TCC's and 2PC's
//!   branches: barrier rows and the branch phases of each service.

pub mod branches;
pub mod coordinator;
pub mod outbox;
pub mod saga;
pub mod tcc;
pub mod twopc;
pub mod txlog;

use crate::protocol::{Deployed, Entry, Registry, Setup};
use crate::shop::{PlaceOrder, Shop};
use crate::stats::Stats;
use faultline_sim::{NodeCtx, ReplicaSet, World};
use std::future::Future;
use std::sync::Arc;

/// Registers the built-ins, in the order the CLI lists them.
pub fn register(registry: Registry) -> Registry {
    registry.with(&saga::Saga).with(&tcc::Tcc).with(&outbox::Outbox).with(&twopc::TwoPc)
}

/// A coordinator node, with its log store, in front of `shop`; it takes the
/// orders. Every coordinator answers to the same names (`coordinator`,
/// `coordinator-db`), so scenarios can target any of them.
pub fn with_coordinator<F, Fut>(world: &mut World, setup: &Setup, shop: Shop, serve: F) -> Deployed
where
    F: Fn(NodeCtx, Arc<ReplicaSet>, Shop, Arc<Stats>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let db = world.store("coordinator-db");
    let (d, s, st) = (db.clone(), shop.clone(), setup.stats.clone());
    let node = world.node("coordinator", move |ctx| serve(ctx, d.clone(), s.clone(), st.clone()));
    Deployed { shop, entry: Entry::new(node, PlaceOrder), stores: vec![db], broker: None }
}
