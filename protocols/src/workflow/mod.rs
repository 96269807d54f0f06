//! The workflow model: what a team declares about its order flow — its
//! participants, the quantities they keep, its business operations, the
//! external parties it pays through, the order's steps and its state machines.
//! Plain data, written as a TOML file ([`file`](mod@file)) or with a [`Builder`]; both
//! pass the same [`rules`]. The bottom layer of the crate: it imports nothing
//! else from it, and engines and the checker derive what they need from it.

mod builder;
pub mod builtin;
pub mod file;
mod machine;
mod operation;
pub mod rules;
#[cfg(test)]
mod tests;

pub use builder::Builder;
pub use file::WorkflowError;
pub use machine::Machine;
pub use operation::{Amount, Derived, Effect, Operation, Per};

use serde::Serialize;

/// A team's order workflow. Build one with [`Workflow::builder`] or read one
/// with [`file::parse`]; either way it has passed [`rules::check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workflow {
    /// Its stable name: what `list workflows`, a run's header and a JSON line show.
    pub name: String,
    /// One line: what the workflow is.
    pub about: String,
    /// Services, each a node in front of its own store `{name}-db`.
    pub participants: Vec<Participant>,
    /// What the participants keep, per key.
    pub quantities: Vec<Quantity>,
    /// Parties outside the system the participants call (a payment gateway).
    pub externals: Vec<External>,
    /// The business effects, each declared once.
    pub operations: Vec<Operation>,
    /// The order's steps, in the order an engine runs them.
    pub steps: Vec<Step>,
    /// The step before which a customer's cancellation is honoured (`None`:
    /// customers cannot cancel).
    pub cancel_until: Option<String>,
    /// The order's state machine (named `order`) and any other, such as the
    /// payment's.
    pub machines: Vec<Machine>,
}

/// A participant: a service node in front of its own store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub name: String,
    pub about: String,
}

/// A quantity a participant keeps per key: `stock[sku]`, `points[customer]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quantity {
    pub name: String,
    /// The participant whose store keeps it.
    pub at: String,
    /// What it is kept per; an operation fills each from the order.
    pub key: Vec<Dim>,
    /// No count of it may ever go below zero.
    pub never_negative: bool,
    pub initial: Initial,
    /// Kept in a cache in front of the store, if declared: see [`Cache`].
    pub cache: Option<Cache>,
}

/// A volatile counter in front of a quantity's store, as a flash sale puts
/// its hot stock in Redis: a take is checked and made in the cache first and
/// the store is brought level afterwards, every `sync_ms`. The cache loses
/// what it holds when it crashes and is rebuilt from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// How often the store is synced with the takes the cache made (ms).
    pub sync_ms: u64,
    /// Log every cache write and sync the log this often (ms), which a
    /// restart replays; `None`: memory only.
    pub aof_sync_ms: Option<u64>,
}

/// What a quantity is kept per: an entity the workload draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dim {
    /// An item for sale: it comes from an order line.
    Sku,
    /// Who placed the order.
    Customer,
    /// Who sells an item: it comes from an order line (the workload's SKUs
    /// belong to [`SELLERS`] sellers in turn).
    Seller,
}

/// How many sellers the workload's SKUs belong to: SKU `n` is seller `n % SELLERS`'s.
pub const SELLERS: u32 = 2;

impl Dim {
    pub const ALL: [Dim; 3] = [Dim::Sku, Dim::Customer, Dim::Seller];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Sku => "sku",
            Dim::Customer => "customer",
            Dim::Seller => "seller",
        }
    }

    /// Whether only an order line (not the whole order) says which one.
    pub fn per_line(self) -> bool {
        matches!(self, Dim::Sku | Dim::Seller)
    }
}

/// A quantity's value before the first order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Initial {
    /// The same for every key.
    Value(i64),
    /// Drawn per key from one of the workload's ranges.
    Drawn(Draw),
}

/// The workload ranges initial values are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Draw {
    /// Units per SKU (`stock` in a scenario's workload).
    Stock,
    /// Cents per customer (`balance`).
    Balance,
}

impl Draw {
    pub const ALL: [Draw; 2] = [Draw::Stock, Draw::Balance];

    pub fn name(self) -> &'static str {
        match self {
            Draw::Stock => "stock",
            Draw::Balance => "balance",
        }
    }
}

/// A party outside the system: the network to it suffers every fault, but
/// the nemesis never crashes it, and its books are ground truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct External {
    pub name: String,
    pub kind: ExternalKind,
}

/// What an external party is; each kind comes with its own anomalies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExternalKind {
    /// A payment gateway: customers' balances (drawn from `balance`), charges
    /// with idempotency keys, authorize / capture / void, refunds, asynchronous
    /// callbacks that are lost, duplicated and reordered, queries, and a
    /// statement for reconciliation.
    PaymentGateway,
}

impl ExternalKind {
    pub const ALL: [ExternalKind; 1] = [ExternalKind::PaymentGateway];

    pub fn name(self) -> &'static str {
        match self {
            ExternalKind::PaymentGateway => "payment-gateway",
        }
    }
}

/// One step of the order: an operation, run for the order (or each of its lines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    pub operation: String,
    /// After this step the order only goes forward: the steps that follow
    /// are retried until they are done, never undone.
    pub pivot: bool,
}

impl Workflow {
    /// Starts a workflow in Rust; [`Builder::build`] checks it as a file is checked.
    pub fn builder(name: &str, about: &str) -> Builder {
        Builder::new(name, about)
    }

    pub fn participant(&self, name: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.name == name)
    }

    pub fn quantity(&self, name: &str) -> Option<&Quantity> {
        self.quantities.iter().find(|q| q.name == name)
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }

    pub fn external(&self, name: &str) -> Option<&External> {
        self.externals.iter().find(|e| e.name == name)
    }

    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.name == name)
    }

    /// The order's state machine (the rules make sure there is one).
    pub fn order_machine(&self) -> &Machine {
        self.machine(machine::ORDER).expect("rules::check requires an order machine")
    }

    /// The index of the pivot step, if one is declared.
    pub fn pivot(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.pivot)
    }

    /// Each step with its operation.
    pub fn step_operations(&self) -> impl Iterator<Item = (&Step, &Operation)> {
        self.steps
            .iter()
            .map(|s| (s, self.operation(&s.operation).expect("rules::check: steps name operations")))
    }
}
