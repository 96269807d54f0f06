//! faultline-protocols: the workflow model, the shop's participants, the
//! protocol boundary and the protocols faultline ships, and the checker that
//! judges any of them from ground truth.
//!
//! The module list is a map of the code, in layers from the bottom up; a
//! module uses its own layer and those below it, never one above
//! (`tests/it/layers.rs` holds the crate to it).
//!
//! 1. The model — what a run is about:
//!    - [`workflow`] — a team's order flow as data: participants, quantities,
//!      operations, steps, state machines; the shop is one built-in workflow.
//!    - [`workload`] — customers, SKUs with limited stock, orders over time;
//!      [`id`] — an order id as keys spell it.
//!    - [`invariant`], [`cancel`] — the properties a run is judged by, and why
//!      a cancelled order ended so, as types.
//! 2. The participants:
//!    - [`shop`] — the shop's services (order, inventory, payment, points,
//!      notification, shipping), each in front of its own store, the
//!      external payment gateway, and the participants a workflow declares
//!      of its own (`shop::declared`).
//!    - [`mutant`] — known bugs that can be switched on, for the checker to catch.
//!    - [`stats`] — what protocols report about their own work (metrics only).
//! 3. The engines — whatever drives orders through the participants:
//!    - [`protocol`] — the boundary: the [`Protocol`] trait and the [`Registry`].
//!    - [`builtin`] — the Saga, TCC, the outbox choreography and 2PC, each a
//!      user of the boundary like a team's own.
//!    - [`client`], [`retry`] — the workload driver that places orders, and backoff.
//!    - [`reconcile`] — the reconciler: compares the books with the gateway's
//!      statement and repairs what disagrees, beside any protocol.
//!    - [`truth`] — ground truth, gathered from a run for the checker.
//! 4. The checker:
//!    - [`check`] — the invariants, computed from ground truth.
//! 5. The run:
//!    - [`deployment`] — how a workflow, a protocol and a workload become a world;
//!      `looks` — what it remembers between looks at ground truth, so a settle
//!      poll reads what changed, not the run's history; `costs` — what the
//!      protocol's work cost, folded from the stores' commits as they happen.
//!    - [`run`] — one run: world, nemesis, settlement, ground truth, check.

pub mod builtin;
pub mod cancel;
pub mod check;
pub mod client;
mod costs;
pub mod deployment;
pub mod id;
pub mod invariant;
mod looks;
pub mod mutant;
pub mod protocol;
pub mod reconcile;
pub mod retry;
pub mod run;
pub mod shop;
pub mod stats;
pub mod truth;
pub mod workflow;
pub mod workload;

pub use deployment::{deploy, topology, Deployment, Topology};
pub use protocol::{Protocol, ProtocolRef, Registry};
